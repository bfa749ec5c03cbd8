"""Two knowledge tiers, one decision: the curated catalog first, the national records where they fit better.

A curated entry carries the commune's own facts and phrasings, so it wins where it fits. A national
record answers when the curated tier is unsure and the record is a clear match, or when it beats a
curated answer by a wide margin (the question is about a procedure the catalog does not cover).
A national record that a curated entry carries (by its code) is answered by that entry. Neither tier
may answer against the question's object (bot.agreement).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from bot.agreement import agrees
from bot.catalog import Catalog, Entry
from bot.matcher import Candidate, Match, decide
from bot.national.records import NationalRecord
from bot.national.tier import NationalTier
from bot.settings import Thresholds

_CODE = re.compile(r"\b\d\.\d{6}\b")


@dataclass(frozen=True)
class TierPolicy:
    """When the national tier speaks; chosen by accuracy on the tuning halves (README, "Matching")."""

    strong: float = 0.60  # a record at least this good, and better than the curated answer, replaces it
    answer: float = 0.50  # a record this good answers when the curated tier is unsure
    margin: float = 0.0  # ... if it leads the next record by this much
    clarify: float = 0.50  # records this good are offered as choices when nothing else is


@dataclass(frozen=True)
class Choice:
    """What to do with one question: answer a target, ask back among options, or fall back."""

    decision: str  # answer | clarify | fallback
    target: str | None = None  # a curated id or a national code
    options: tuple[str, ...] = ()
    score: float | None = None
    candidates: tuple[Candidate, ...] = ()  # both tiers' best guesses, best first
    off_topic: float = 0.0


class Arbiter:
    """Both tiers' content (curated entries by id, national records by code) and the decision between them."""

    def __init__(self, catalog: Catalog, national: NationalTier | None, thresholds: Thresholds,
                 policy: TierPolicy | None = None):
        self.catalog, self.national, self.thresholds = catalog, national, thresholds
        self.policy = policy or TierPolicy()
        # National code -> the curated entry that carries it (its `code` field) and answers for it.
        self.carried: dict[str, str] = {}
        for entry in catalog.entries.values():
            for code in _CODE.findall(entry.code):
                self.carried.setdefault(code, entry.id)

    def lookup(self, target: str) -> Entry | NationalRecord | None:
        """A curated entry by id, or a national record by code."""
        entry = self.catalog.entries.get(target)
        if entry is not None or self.national is None:
            return entry
        return self.national.get(target)

    def title_of(self, target: str) -> str:
        """The title of an entry or the name of a record ("" when unknown)."""
        found = self.lookup(target)
        return "" if found is None else found.title if isinstance(found, Entry) else found.name

    def choose(self, text: str, normalized: str, curated: Match) -> Choice:
        """The decision over both tiers for one question, given the curated tier's match."""
        return _choose(self, text, normalized, curated)


def _choose(arbiter: Arbiter, text: str, normalized: str, curated: Match) -> Choice:
    thresholds, policy = arbiter.thresholds, arbiter.policy

    def fits(candidate: Candidate) -> bool:
        return agrees(normalized, arbiter.title_of(candidate.id))

    mine = [c for c in curated.candidates if fits(c)]
    decision = curated.decision if len(mine) == len(curated.candidates) else decide(mine, thresholds)
    theirs = _national(arbiter, text, fits)
    merged = tuple(sorted(mine + [c for c in theirs if c.id not in {m.id for m in mine}],
                          key=lambda c: -c.score))[:5]
    top_n = theirs[0] if theirs else None
    second_n = theirs[1].score if len(theirs) > 1 else 0.0
    if decision == "answer" and mine:
        top_c = mine[0]
        # Only a record the catalog does not carry can overrule it: between two curated entries, the curated
        # tier (trained on their phrasings) has already decided.
        uncovered = top_n is not None and top_n.id not in arbiter.catalog.entries
        if uncovered and top_n.id != top_c.id and top_n.score >= max(policy.strong, top_c.score):
            return Choice("answer", top_n.id, (), top_n.score, merged, curated.off_topic)
        return Choice("answer", top_c.id, (), top_c.score, merged, curated.off_topic)
    if top_n is not None and top_n.score >= policy.answer and top_n.score - second_n >= policy.margin:
        return Choice("answer", top_n.id, (), top_n.score, merged, curated.off_topic)
    if decision == "clarify" and mine and top_n is not None and top_n.id == mine[0].id:
        # Unsure between curated entries, but the national tier's best record is the first one's: answer it.
        return Choice("answer", mine[0].id, (), mine[0].score, merged, curated.off_topic)
    if decision == "clarify" and mine:
        return Choice("clarify", None, tuple(c.id for c in mine[:3]), mine[0].score, merged, curated.off_topic)
    if top_n is not None and top_n.score >= policy.clarify:
        options = tuple(c.id for c in theirs[:3] if c.score >= policy.clarify)
        return Choice("clarify", None, options, top_n.score, merged, curated.off_topic)
    top = merged[0].score if merged else None
    return Choice("fallback", None, (), top, merged, curated.off_topic)


def _national(arbiter: Arbiter, text: str, fits: Callable[[Candidate], bool]) -> list[Candidate]:
    """The national tier's candidates that fit, each named by the curated entry carrying it if any."""
    if arbiter.national is None:
        return []
    out: dict[str, float] = {}
    for candidate in arbiter.national.match(text, arbiter.thresholds).candidates:
        if not fits(candidate):
            continue
        name = arbiter.carried.get(candidate.id, candidate.id)
        out[name] = max(out.get(name, 0.0), candidate.score)
    return [Candidate(i, s) for i, s in sorted(out.items(), key=lambda kv: -kv[1])]
