"""Emergency detection from evidence: danger happening now, calls for help, and what argues against them.

The vocabulary lives in the catalog (`signals:` of intents/khan-cap.yaml), so commune admins can add a
local word without touching code. A message is an emergency when it names a danger or calls for help,
and nothing says the danger is figurative ("cháy túi"), past or hearsay ("năm ngoái", "nghe nói") or
the subject of a paperwork question ("làm lại giấy tờ") — unless the citizen says it is happening right
now ("đang cháy"). Scam questions ("có phải lừa đảo") are never emergencies. No fuzzy similarity score
is involved: a weak guess never raises an alarm, and a near-miss never hides one.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from bot.normalize import fold

GAP = "*"  # in a phrase: up to MAX_GAP words of anything
EXACT = "="  # before a phrase: it counts only where the citizen typed it with its diacritics
MAX_GAP = 3
URGENT_REACH = 3  # an urgent word this many words before a danger makes it current ("đang cháy")
ALL_NUMBERS = ("113", "114", "115")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_RUN = re.compile(r"(\w)\1{2,}", re.UNICODE)  # "cuuu" -> "cu" or "cuu": letters typed three times or more


@dataclass(frozen=True)
class Token:
    """One word of the message: as typed (lower-case, NFC) and folded, and whether it carried accents."""

    marked: str
    folded: str

    @property
    def accented(self) -> bool:
        """True when the citizen typed diacritics (or đ) in this word."""
        return self.marked != self.folded


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


def _spellings(word: str) -> list[str]:
    """The word, plus its spellings with a letter typed three or more times squeezed to one and to two."""
    if not _RUN.search(word):
        return [word]
    return [_RUN.sub(r"\1", word), _RUN.sub(r"\1\1", word)]


@dataclass(frozen=True)
class Phrase:
    """A sequence of pattern words (accented as written in the catalog), with optional gaps."""

    text: str
    words: tuple[str, ...]
    exact: bool = False  # only as typed with diacritics ("=xỉu": bare "xiu" is also "xíu", a little)

    @classmethod
    def parse(cls, text: str) -> "Phrase":
        """A phrase in the catalog's notation: words, `*` for a gap of up to three words, `=` first for exact."""
        exact = text.startswith(EXACT)
        body = text[1:] if exact else text
        words = tuple(w if w == GAP else unicodedata.normalize("NFC", w).lower() for w in body.split())
        return cls(text, words, exact)

    def spans(self, tokens: list[Token], free: list[bool]) -> list[tuple[int, int]]:
        """(start, end) of every place the phrase occurs among the free tokens."""
        found = []
        for start in range(len(tokens)):
            end = self._match(tokens, free, start, 0)
            if end is not None:
                found.append((start, end))
        return found

    def _match(self, tokens: list[Token], free: list[bool], at: int, k: int) -> int | None:
        if k == len(self.words):
            return at
        word = self.words[k]
        if word == GAP:
            for skip in range(MAX_GAP + 1):
                end = self._match(tokens, free, at + skip, k + 1)
                if end is not None:
                    return end
                if at + skip >= len(tokens):
                    break
            return None
        if at < len(tokens) and free[at] and same_word(tokens[at], word, self.exact):
            return self._match(tokens, free, at + 1, k + 1)
        return None


def same_word(token: Token, pattern: str, exact: bool = False) -> bool:
    """A typed word equals a pattern word; without diacritics it equals every accented reading.

    "chay" (typed bare) is "cháy", "chạy" or "chay"; "chạy" (typed with its accents) is only "chạy".
    With `exact`, a bare word equals only a bare pattern word.
    """
    if token.marked == pattern:
        return True
    return not exact and not token.accented and token.folded == fold(pattern)


@dataclass(frozen=True)
class Danger:
    """A kind of danger, the number that fits it, and the phrases that name it."""

    name: str
    call: str
    phrases: tuple[Phrase, ...]


@dataclass(frozen=True)
class Verdict:
    """The detector's judgement of one message."""

    emergency: bool
    calls: tuple[str, ...] = ()  # the numbers that fit, best first (all three when none is specific)
    dangers: tuple[str, ...] = ()  # names of the dangers found
    reason: str = ""


def _phrases(items: Iterable[str]) -> tuple[Phrase, ...]:
    return tuple(Phrase.parse(str(item)) for item in items or ())


class EmergencyDetector:
    """Judges whether a message reports an emergency; built once per catalog load."""

    def __init__(self, signals: Mapping[str, Any], abbreviations: Mapping[str, str] | None = None,
                 examples: Iterable[str] = (), normalize: Any = None):
        self.dangers = tuple(Danger(str(d["name"]), str(d["call"]), _phrases(d["phrases"]))
                             for d in signals.get("dangers", ()))
        self.help = _phrases(signals.get("help", ()))
        self.urgent = _phrases(signals.get("urgent", ()))
        self.not_now = _phrases(signals.get("not_now", ()))
        self.paperwork = _phrases(signals.get("paperwork", ()))
        self.figurative = _phrases(signals.get("figurative", ()))
        self.vetoes = _phrases(signals.get("vetoes", ()))
        # Teencode ("ko", "ng", "ae") is read only where the citizen typed no diacritics.
        self.abbreviations = {fold(k): fold(v) for k, v in (abbreviations or {}).items()}
        self.abbreviations.update({fold(k): fold(v) for k, v in (signals.get("abbreviations") or {}).items()})
        # Phrasings an admin taught as emergencies count as such word for word (after normalisation).
        self.normalize = normalize
        self.examples = frozenset(normalize(e) for e in examples) if normalize else frozenset()

    def tokens(self, text: str) -> list[Token]:
        """The message's words, teencode expanded where typed without diacritics."""
        out: list[Token] = []
        for word in _words(text):
            spelled = _spellings(word)
            if word == fold(word):  # typed bare: teencode is read here only
                word = next((s for s in spelled if s in self.abbreviations), spelled[-1])
                expansion = self.abbreviations.get(word)
                if expansion:
                    out.extend(Token(w, w) for w in expansion.split())
                    continue
            else:  # "cứuuuu": a letter typed over and over, read as once
                word = spelled[0]
            out.append(Token(word, fold(word)))
        return out

    def assess(self, text: str) -> Verdict:
        """Emergency or not, with the numbers that fit and the evidence found."""
        if self.normalize is not None and self.examples and self.normalize(text) in self.examples:
            return Verdict(True, ALL_NUMBERS, reason="taught phrasing")
        tokens = self.tokens(text)
        if not tokens:
            return Verdict(False)
        free = [True] * len(tokens)
        if _any(self.vetoes, tokens, free):
            return Verdict(False, reason="a question about a scam")
        _consume(self.figurative, tokens, free)  # "cháy túi", "tra cứu": their words name nothing else
        found: list[tuple[int, Danger]] = []
        for danger in self.dangers:
            for phrase in danger.phrases:
                found += [(start, danger) for start, _ in phrase.spans(tokens, free)]
        helped = _consume(self.help, tokens, free)  # "làm thế nào bây giờ" is a cry, not a paperwork question
        if not found and not helped:
            return Verdict(False)
        found.sort(key=lambda item: item[0])
        names = tuple(dict.fromkeys(d.name for _, d in found))
        urgent_at = [s for p in self.urgent for s, _ in p.spans(tokens, free)]
        current = any(0 <= start - u <= URGENT_REACH for start, _ in found for u in urgent_at)
        if _any(self.not_now, tokens, free):
            if not current:
                return Verdict(False, dangers=names, reason="past, hearsay or hypothetical")
        elif _any(self.paperwork, tokens, free) and not current:
            return Verdict(False, dangers=names, reason="a paperwork question")
        calls = _ordered(d.call for _, d in found)
        return Verdict(True, _complete(calls) if calls else ALL_NUMBERS, names,
                       "danger" if found else "call for help")


def _any(phrases: Iterable[Phrase], tokens: list[Token], free: list[bool]) -> bool:
    return any(p.spans(tokens, free) for p in phrases)


def _consume(phrases: Iterable[Phrase], tokens: list[Token], free: list[bool]) -> bool:
    """Mark the words of every occurrence as used; True when any phrase occurred."""
    hit = False
    for phrase in phrases:
        for start, end in phrase.spans(tokens, free):
            hit = True
            for i in range(start, end):
                free[i] = False
    return hit


def _ordered(calls: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(calls))


def _complete(calls: tuple[str, ...]) -> tuple[str, ...]:
    """The fitting numbers first, then the other emergency numbers."""
    return calls + tuple(n for n in ALL_NUMBERS if n not in calls)
