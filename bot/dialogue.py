"""The dialogue engine: text + state (+ whether staff hold the conversation) turned into a Turn."""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from pathlib import Path

from bot import compose, handlers
from bot.arbiter import Arbiter, TierPolicy
from bot.catalog import Catalog, CatalogError, load_catalog
from bot.hours import VIETNAM
from bot.layer_matcher import LayeredMatcher
from bot.matcher import Candidate, Matcher
from bot.national import NationalIndex, load_national
from bot.national.tier import NationalTier
from bot.normalize import Normalizer
from bot.phrases import PhraseSet
from bot.replies import Reply
from bot.safety import EmergencyDetector
from bot.settings import Settings, Thresholds
from bot.state import StateStore
from bot.turn import Context, Turn

log = logging.getLogger(__name__)

EMERGENCY = "khan-cap"
__all__ = ["Context", "Engine", "EngineHolder", "Turn"]  # Turn and Context are part of the engine's face


class Engine:
    """Answers citizens from a catalog; knows nothing of channels or storage."""

    def __init__(self, catalog: Catalog, thresholds: Thresholds | None = None,
                 national: NationalIndex | None = None, policy: TierPolicy | None = None, *,
                 shared: "Engine | None" = None):
        """`shared`: the province's engine when `catalog` is a commune's layer over its catalog (bot.communes)."""
        self.catalog = catalog
        self.thresholds = thresholds or Thresholds()
        if shared is not None:
            self._share(shared, policy)
            return
        self.normalizer = Normalizer(catalog.lexicon)
        self.matcher = self._matcher()
        emergency = catalog.entries.get(EMERGENCY)
        self.safety = EmergencyDetector(catalog.emergency.get("signals", {}), catalog.lexicon.abbreviations,
                                        emergency.questions if emergency else (), self.normalizer,
                                        numbers=catalog.emergency.get("numbers", {}))
        # The second tier: national records, where the curated catalog has no entry that fits.
        self.national = NationalTier(national, self.normalizer, catalog.out_of_scope + catalog.near_domain,
                                     catalog.out_of_scope) if national is not None else None
        self.arbiter = Arbiter(catalog, self.national, self.thresholds, policy)
        self.lookup, self.title_of = self.arbiter.lookup, self.arbiter.title_of
        words = catalog.dialogue
        self.acknowledgements = PhraseSet(words.get("acknowledgements", ()), self.normalizer)
        self.corrections = PhraseSet(words.get("corrections", ()), self.normalizer)
        self.leave_handoff = PhraseSet(words.get("leave_handoff", ()), self.normalizer)
        self.handlers = handlers.CHAIN

    def _matcher(self) -> Matcher:
        catalog = self.catalog
        # Emergencies are judged by the detector from evidence, never by a similarity score.
        entries = [e for e in catalog.entries.values() if e.id != EMERGENCY]
        emergency = catalog.entries.get(EMERGENCY)
        return Matcher(entries, self.normalizer, terms=catalog.lexicon.terms,
                       negatives=catalog.out_of_scope + catalog.near_domain, off_topic=catalog.out_of_scope,
                       withheld=emergency.questions if emergency else ())

    def _share(self, base: "Engine", policy: TierPolicy | None) -> None:
        # A commune's layer keeps the province's lexicon, intents and national index: their normaliser,
        # detector and tier are the same objects, and so is the matcher's index (overrides never touch
        # what is matched: bot.schema.OVERRIDE; added and disabled entries go through LayeredMatcher).
        self.normalizer, self.safety, self.national = base.normalizer, base.safety, base.national
        self.acknowledgements, self.corrections = base.acknowledgements, base.corrections
        self.leave_handoff, self.handlers = base.leave_handoff, base.handlers
        ids, base_ids = list(self.catalog.entries), list(base.catalog.entries)
        if ids == base_ids:
            self.matcher = base.matcher
        else:  # the shared index seen through the layer (bot.layer_matcher), never a second one
            kept = set(ids)
            extra = [self.catalog.entries[i] for i in ids if i not in set(base_ids) and i != EMERGENCY]
            self.matcher = LayeredMatcher(base.matcher, extra, [i for i in base_ids if i not in kept])
        self.arbiter = Arbiter(self.catalog, self.national, self.thresholds, policy or base.arbiter.policy)
        self.lookup, self.title_of = self.arbiter.lookup, self.arbiter.title_of

    @classmethod
    def from_settings(cls, settings: Settings) -> "Engine":
        """Load the catalog (and the national index, when its file exists) named by settings and build the engine."""
        national = None
        if Path(settings.national_index).exists():
            national = load_national(settings.national_index, settings.national_aliases)
        return cls(load_catalog(settings.catalog_path, settings.intents_dir), settings.thresholds, national)

    def normalize(self, text: str) -> str:
        """The engine's normalisation of `text`."""
        return self.normalizer(text)

    def rank(self, text: str, limit: int = 3) -> list[Candidate]:
        """Best guesses for `text`."""
        return self.matcher.rank(text, limit)

    def respond(self, user_id: str, text: str, store: StateStore, *, handoff_open: bool = False,
                now: dt.datetime | None = None) -> Turn:
        """Answer one message from `user_id`, reading and updating its state in `store`.

        `handoff_open`: staff hold the conversation; the bot then answers emergencies and a wish to
        come back to it, and stays silent otherwise.
        """
        text = text if isinstance(text, str) else ""
        ctx = Context(self, text, self.normalizer(text), store.load(user_id), handoff_open,
                      now or dt.datetime.now(VIETNAM))
        for check, handle in self.handlers:
            if check(ctx):
                turn = handle(ctx)
                store.save(user_id, ctx.state)
                return turn
        raise AssertionError("the last handler always matches")

    def greet(self, user_id: str, store: StateStore) -> Turn:
        """The welcome for a follow or a first chat, remembering the menu so "1" picks its first line."""
        state = store.load(user_id)
        state.options = handlers.menu_options(self.catalog)
        store.save(user_id, state)
        return Turn((self.welcome(),), "system", "welcome")

    def welcome(self) -> Reply:
        """Welcome message with the numbered menu."""
        return compose.welcome(self.catalog.commune, self.catalog.menu)

    def handoff_expired(self) -> Reply:
        """Sent when a hand-over closes itself because no staff member answered in time."""
        return compose.handoff_expired(self.catalog.commune)

    def media_reply(self) -> Reply:
        """Polite reply to images, stickers, audio, files…"""
        return compose.media_reply()

    def location_reply(self, latitude: float, longitude: float) -> Reply:
        """The nearest public-service point to a shared location."""
        return compose.nearest_point(self.catalog.commune, latitude, longitude)


class EngineHolder:
    """Holds the current Engine and swaps in a new one when catalog files change on disk."""

    def __init__(self, settings: Settings, engine: Engine | None = None, check_every: float = 1.0):
        self.settings = settings
        self._lock = threading.Lock()
        self._engine = engine or Engine.from_settings(settings)
        self._stamp = self._files_stamp()
        self.last_error: CatalogError | None = None
        # Listing and stat-ing the catalog files on every message cost more than matching it;
        # an edit is seen within `check_every` seconds (the dashboard asks for `fresh`).
        self.check_every = check_every
        self._checked_at = time.monotonic()

    def _files_stamp(self) -> tuple:
        paths = [self.settings.catalog_path, *sorted(Path(self.settings.intents_dir).glob("*.yaml")),
                 self.settings.national_index, self.settings.national_aliases]
        out = []
        for p in paths:
            try:
                st = p.stat()
                out.append((str(p), st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((str(p), 0, 0))
        return tuple(out)

    def get(self, *, fresh: bool = False) -> Engine:
        """The current engine, reloaded first if the catalog changed (a broken edit keeps the old one).

        The files are looked at once per `check_every` seconds, or now with `fresh` (the dashboard:
        an admin who just saved a file sees it on the next page).
        """
        now = time.monotonic()
        if not fresh and now - self._checked_at < self.check_every:
            return self._engine
        self._checked_at = now
        stamp = self._files_stamp()
        if stamp != self._stamp:
            self.reload(stamp)
        return self._engine

    def reload(self, stamp: tuple | None = None) -> Engine:
        """Load the catalog again now; on error keep serving the previous version."""
        with self._lock:
            stamp = stamp or self._files_stamp()
            try:
                self._engine = Engine.from_settings(self.settings)
                self.last_error = None
                log.info("catalog reloaded: version %s", self._engine.catalog.version)
            except CatalogError as exc:
                self.last_error = exc
                log.error("catalog edit rejected, still serving version %s:\n%s", self._engine.catalog.version, exc)
            self._stamp = stamp
            return self._engine
