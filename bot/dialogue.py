"""The dialogue: a chain of handlers (first match wins) turning text + state into a Turn."""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from bot import compose
from bot.catalog import Catalog, CatalogError, Entry, load_catalog
from bot.matcher import Candidate, Match, Matcher
from bot.normalize import Normalizer
from bot.parts import detect_part, is_bare_followup
from bot.replies import Reply
from bot.settings import Settings, Thresholds
from bot.state import ConversationState, StateStore

log = logging.getLogger(__name__)

EMERGENCY, HANDOFF, MENU, GREETING = "khan-cap", "handoff", "menu", "greeting"
_BUTTON = re.compile(r"^#([a-z]+) ([a-z0-9-]+)$")
_PICK = re.compile(r"^(?:so |cau |cai |muc |chon |thu )?([1-9])$")


@dataclass(frozen=True)
class Turn:
    """The engine's answer to one message."""

    replies: tuple[Reply, ...]
    outcome: str  # answered | clarified | fallback | handoff | emergency
    intent: str | None = None
    score: float | None = None
    candidates: tuple[Candidate, ...] = ()
    clarify: tuple[str, ...] = ()
    normalized: str = ""


@dataclass
class Context:
    """One message being handled: text, state, and the match computed at most once."""

    engine: "Engine"
    text: str
    normalized: str
    state: ConversationState
    _match: Match | None = field(default=None, repr=False)

    @property
    def match(self) -> Match:
        """The matcher's decision for this text (computed lazily)."""
        if self._match is None:
            self._match = self.engine.matcher.match(self.text, self.engine.thresholds)
        return self._match


Handler = tuple[Callable[[Context], bool], Callable[[Context], Turn]]


class Engine:
    """Answers citizens from a catalog; knows nothing of channels or storage."""

    def __init__(self, catalog: Catalog, thresholds: Thresholds | None = None):
        self.catalog = catalog
        self.thresholds = thresholds or Thresholds()
        self.normalizer = Normalizer(catalog.lexicon)
        self.matcher = Matcher(list(catalog.entries.values()), self.normalizer, terms=catalog.lexicon.terms,
                              negatives=catalog.out_of_scope)
        self.handlers: list[Handler] = [
            (self._is_empty, self._empty),
            (self._is_button, self._button),
            (self._is_pick, self._pick),
            (self._is_emergency, self._emergency),
            (self._is_followup, self._followup),
            (lambda ctx: True, self._matched),
        ]

    @classmethod
    def from_settings(cls, settings: Settings) -> "Engine":
        """Load the catalog named by settings and build the engine."""
        return cls(load_catalog(settings.catalog_path, settings.intents_dir), settings.thresholds)

    def normalize(self, text: str) -> str:
        """The engine's normalisation of `text`."""
        return self.normalizer(text)

    def rank(self, text: str, limit: int = 3) -> list[Candidate]:
        """Best guesses for `text`."""
        return self.matcher.rank(text, limit)

    def respond(self, user_id: str, text: str, store: StateStore) -> Turn:
        """Answer one message from `user_id`, reading and updating its state in `store`."""
        text = text if isinstance(text, str) else ""
        ctx = Context(self, text, self.normalizer(text), store.load(user_id))
        for check, handle in self.handlers:
            if check(ctx):
                turn = handle(ctx)
                store.save(user_id, ctx.state)
                return turn
        raise AssertionError("the last handler always matches")

    def welcome(self) -> Reply:
        """Welcome message with the menu as buttons."""
        return compose.welcome(self.catalog.commune)

    def media_reply(self) -> Reply:
        """Polite reply to images, stickers, audio, files…"""
        return compose.media_reply()

    def location_reply(self, latitude: float, longitude: float) -> Reply:
        """The nearest public-service point to a shared location."""
        return compose.nearest_point(self.catalog.commune, latitude, longitude)

    # --- handlers: each a check and a handle -------------------------------------------------
    def _is_empty(self, ctx: Context) -> bool:
        return not ctx.normalized

    def _empty(self, ctx: Context) -> Turn:
        return Turn((compose.empty_text(),), "fallback", normalized="")

    def _is_button(self, ctx: Context) -> bool:
        m = _BUTTON.match(ctx.text.strip())
        return bool(m and m.group(1) in compose.CODE_PARTS and m.group(2) in self.catalog.entries)

    def _button(self, ctx: Context) -> Turn:
        code, entry_id = _BUTTON.match(ctx.text.strip()).groups()  # type: ignore[union-attr]
        return self._answer(ctx, self.catalog.entries[entry_id], compose.CODE_PARTS[code], 1.0)

    def _is_pick(self, ctx: Context) -> bool:
        return bool(_PICK.match(ctx.normalized))

    def _pick(self, ctx: Context) -> Turn:
        index = int(_PICK.match(ctx.normalized).group(1)) - 1  # type: ignore[union-attr]
        options = ctx.state.options
        entry = self.catalog.entries.get(options[index]) if index < len(options) else None
        if entry is None:  # nothing offered (or catalog reloaded without it): a bare number means nothing
            return self._fallback(ctx, with_match=False)
        return self._answer(ctx, entry, ctx.state.pending_part, 1.0)

    def _is_emergency(self, ctx: Context) -> bool:
        # Safety first: an emergency among the best guesses wins over asking back.
        return any(c.id == EMERGENCY and c.score >= self.thresholds.clarify for c in ctx.match.candidates[:2])

    def _emergency(self, ctx: Context) -> Turn:
        entry = self.catalog.entries[EMERGENCY]
        score = next(c.score for c in ctx.match.candidates if c.id == EMERGENCY)
        return Turn((compose.faq_answer(entry, self.catalog.commune),), "emergency", EMERGENCY, score,
                    ctx.match.candidates, normalized=ctx.normalized)

    def _is_followup(self, ctx: Context) -> bool:
        if not is_bare_followup(ctx.normalized, self.normalizer):
            return False
        last = self.catalog.entries.get(ctx.state.last_entry or "")
        # With no procedure discussed, "nop ho so truc tuyen the nao" may still be an FAQ.
        return (last is not None and last.kind == "procedure") or ctx.match.decision != "answer"

    def _followup(self, ctx: Context) -> Turn:
        part = detect_part(ctx.normalized)
        entry = self.catalog.entries.get(ctx.state.last_entry or "")
        if entry is not None and entry.kind == "procedure" and part:
            return self._answer(ctx, entry, part, 1.0)
        ctx.state.pending_part = part
        return Turn((compose.ask_which_procedure(part or "steps"),), "clarified", normalized=ctx.normalized)

    def _matched(self, ctx: Context) -> Turn:
        match = ctx.match
        if match.decision == "answer" and match.top is not None:
            entry = self.catalog.entries[match.top.id]
            return self._answer(ctx, entry, detect_part(ctx.normalized), match.top.score, match.candidates)
        if match.decision == "clarify":
            options = [self.catalog.entries[c.id] for c in match.candidates[:3]]
            ctx.state.options = [e.id for e in options]
            ctx.state.pending_part = detect_part(ctx.normalized)
            return Turn((compose.clarify(options, ctx.state.pending_part),), "clarified", None,
                        match.top.score if match.top else None, match.candidates,
                        tuple(ctx.state.options), ctx.normalized)
        return self._fallback(ctx)

    # --- shared answers ------------------------------------------------------------------------
    def _answer(self, ctx: Context, entry: Entry, part: str | None, score: float,
                candidates: Sequence[Candidate] = ()) -> Turn:
        commune = self.catalog.commune
        ctx.state.options, ctx.state.pending_part = [], None
        outcome = "answered"
        if entry.kind == "procedure":
            reply = compose.procedure_part(entry, part, commune) if part else compose.procedure_summary(entry, commune)
            ctx.state.last_entry = entry.id
        elif entry.kind == "faq":
            reply = compose.faq_answer(entry, commune)
            ctx.state.last_entry = entry.id
        elif entry.id in (MENU, GREETING):
            reply = Reply(compose.fill(entry.answer, commune), compose.menu_buttons())
        else:
            reply = compose.faq_answer(entry, commune)
            outcome = {HANDOFF: "handoff", EMERGENCY: "emergency"}.get(entry.id, "answered")
        return Turn((reply,), outcome, entry.id, round(score, 4), tuple(candidates), normalized=ctx.normalized)

    def _fallback(self, ctx: Context, with_match: bool = True) -> Turn:
        ctx.state.options, ctx.state.pending_part = [], None
        cands = ctx.match.candidates if with_match else ()
        return Turn((compose.fallback(self.catalog.commune),), "fallback", None, cands[0].score if cands else None,
                    tuple(cands), normalized=ctx.normalized)


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
        paths = [self.settings.catalog_path, *sorted(Path(self.settings.intents_dir).glob("*.yaml"))]
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
