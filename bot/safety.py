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
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from bot.text import fold

GAP = "*"  # in a phrase: up to MAX_GAP words of anything
EXACT = "="  # before a phrase: it counts only where the citizen typed it with its diacritics
MAX_GAP = 3
URGENT_REACH = 3  # an urgent word this many words before a danger makes it current ("đang cháy"),
# and an intense one as many words after it ("cháy ngùn ngụt")
ALL_NUMBERS = ("113", "114", "115")  # when the catalog lists none
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_RUN = re.compile(r"(\w)\1{2,}", re.UNICODE)  # "cuuu" -> "cu" or "cuu": letters typed three times or more


@dataclass(frozen=True)
class Token:
    """One word of the message: as typed (lower-case, NFC) and folded, and whether it carried accents."""

    marked: str
    folded: str
    other: "Token | None" = None  # another reading of a word typed with a letter held down ("cứuuu")

    @property
    def accented(self) -> bool:
        """True when the citizen typed diacritics (or đ) in this word."""
        return self.marked != self.folded


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")  # huyền, sắc, ngã, hỏi, nặng


def tone_key(word: str) -> str:
    """A word with its tone set apart from its letters: "cưú" (tone on the wrong vowel) reads as "cứu".

    Phones often place the tone mark on the neighbouring vowel ("hoà"/"hòa", "cưú"); the letters and the
    tone are what tell "cháy" from "chạy", not where the mark sits.
    """
    decomposed = unicodedata.normalize("NFD", word)
    letters = "".join(ch for ch in decomposed if ch not in _TONES)
    tones = "".join(sorted(ch for ch in decomposed if ch in _TONES))
    return unicodedata.normalize("NFC", letters) + tones


def squeeze(word: str) -> tuple[str, str | None]:
    """A letter typed three or more times read as once, and (for "u" and "o", the letters Vietnamese
    doubles) also as twice: "cuuuu" is "cu" or "cuu"; "voiiii" is "voi"; "khongggg" is "khong"."""
    if not _RUN.search(word):
        return word, None
    once = _RUN.sub(r"\1", word)
    twice = _RUN.sub(lambda m: m.group(1) * (2 if m.group(1) in "uo" else 1), word)
    return once, (twice if twice != once else None)


@dataclass(frozen=True)
class Phrase:
    """A sequence of pattern words (accented as written in the catalog), with optional gaps."""

    text: str
    words: tuple[str, ...]
    exact: bool = False  # only as typed with diacritics ("=xỉu": bare "xiu" is also "xíu", a little)
    folded: tuple[str, ...] = ()  # the words without diacritics, computed once

    @classmethod
    def parse(cls, text: str) -> "Phrase":
        """A phrase in the catalog's notation: words, `*` for a gap of up to three words, `=` first for exact."""
        exact = text.startswith(EXACT)
        words = [w if w == GAP else tone_key(unicodedata.normalize("NFC", w).lower())
                 for w in (text[1:] if exact else text).split()]
        while words and words[0] == GAP:  # a gap only ever sits between words
            words.pop(0)
        while words and words[-1] == GAP:
            words.pop()
        return cls(text, tuple(words), exact, tuple(w if w == GAP else fold(w) for w in words))

    def spans(self, tokens: list[Token], free: list[bool]) -> list[tuple[int, int]]:
        """(start, end) of every place the phrase occurs among the free tokens."""
        found = []
        for start in range(len(tokens)):
            end = self.match_at(tokens, free, start)
            if end is not None:
                found.append((start, end))
        return found

    def match_at(self, tokens: list[Token], free: list[bool], start: int) -> int | None:
        """The end of the phrase when it occurs at `start`, else None."""
        return self._match(tokens, free, start, 0) if self.words else None

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
        if at < len(tokens) and free[at] and same_word(tokens[at], word, exact=self.exact, folded=self.folded[k]):
            return self._match(tokens, free, at + 1, k + 1)
        return None


def same_word(token: Token, pattern: str, *, exact: bool = False, folded: str | None = None) -> bool:
    """A typed word equals a pattern word; without diacritics it equals every accented reading.

    "chay" (typed bare) is "cháy", "chạy" or "chay"; "chạy" (typed with its accents) is only "chạy".
    With `exact`, a bare word equals only a bare pattern word. `folded`: the pattern's folded form, if known.
    """
    if token.marked == pattern:
        return True
    if not exact and not token.accented and token.folded == (folded if folded is not None else fold(pattern)):
        return True
    return token.other is not None and same_word(token.other, pattern, exact=exact, folded=folded)


class PhraseBook:
    """Phrases filed by their first word, so a message is read once, not once per phrase."""

    def __init__(self, phrases: Iterable[Phrase]):
        self._by_first: dict[str, list[Phrase]] = defaultdict(list)
        for phrase in phrases:
            if phrase.words:
                self._by_first[phrase.folded[0]].append(phrase)

    def find(self, tokens: list[Token], free: list[bool]) -> list[tuple[Phrase, int, int]]:
        """(phrase, start, end) of every occurrence among the free tokens."""
        found = []
        for start, token in enumerate(tokens):
            if not free[start]:
                continue
            firsts = (token.folded,) if token.other is None else (token.folded, token.other.folded)
            for first in dict.fromkeys(firsts):
                for phrase in self._by_first.get(first, ()):
                    end = phrase.match_at(tokens, free, start)
                    if end is not None:
                        found.append((phrase, start, end))
        return found

    def any(self, tokens: list[Token], free: list[bool]) -> bool:
        """True when any phrase occurs."""
        return bool(self.find(tokens, free))

    def consume(self, tokens: list[Token], free: list[bool]) -> bool:
        """Mark the words of every occurrence as used; True when any phrase occurred."""
        found = self.find(tokens, free)
        for _, start, end in found:
            for i in range(start, end):
                free[i] = False
        return bool(found)


@dataclass(frozen=True)
class Danger:
    """A kind of danger, the numbers that fit it (best first), and the phrases that name it."""

    name: str
    calls: tuple[str, ...]
    phrases: tuple[Phrase, ...]


@dataclass(frozen=True)
class Verdict:
    """The detector's judgement of one message."""

    emergency: bool
    calls: tuple[str, ...] = ()  # the numbers that fit best first, then the other listed numbers
    dangers: tuple[str, ...] = ()  # names of the dangers found
    reason: str = ""


def _phrases(items: Iterable[str]) -> tuple[Phrase, ...]:
    return tuple(Phrase.parse(str(item)) for item in items or ())


class EmergencyDetector:
    """Judges whether a message reports an emergency; built once per catalog load."""

    def __init__(self, signals: Mapping[str, Any], abbreviations: Mapping[str, str] | None = None,
                 examples: Iterable[str] = (), normalize: Any = None, numbers: Iterable[str] = ALL_NUMBERS):
        # Every number the catalog lists, in its order: those that fit a danger come first in a reply.
        self.numbers = tuple(str(n) for n in numbers) or ALL_NUMBERS
        self.dangers = tuple(Danger(str(d["name"]), _calls(d["call"]), _phrases(d["phrases"]))
                             for d in signals.get("dangers", ()))
        self._danger_of = {id(p): d for d in self.dangers for p in d.phrases}
        self._dangers = PhraseBook(p for d in self.dangers for p in d.phrases)
        self.help, self.urgent, self.intense, self.not_now, self.paperwork, self.figurative, self.vetoes = (
            PhraseBook(_phrases(signals.get(name, ())))
            for name in ("help", "urgent", "intense", "not_now", "paperwork", "figurative", "vetoes"))
        # A laughing face makes "cứu tui với" a joke.
        self.jokes = frozenset(str(j) for j in signals.get("jokes", ()))
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
            word, other = squeeze(word)
            if word == fold(word) and other is None:  # typed bare: teencode is read here only
                expansion = self.abbreviations.get(word)
                if expansion:
                    out.extend(Token(w, w) for w in expansion.split())
                    continue
            alternative = Token(tone_key(other), fold(other)) if other else None
            out.append(Token(tone_key(word), fold(word), alternative))
        return out

    def assess(self, text: str) -> Verdict:
        """Emergency or not, with the numbers that fit and the evidence found."""
        verdict = self._evidence(text)
        if not verdict.emergency and self.normalize is not None and self.normalize(text) in self.examples:
            return Verdict(True, self.numbers, verdict.dangers, reason="taught phrasing")
        return verdict

    def _evidence(self, text: str) -> Verdict:
        tokens = self.tokens(text)
        if not tokens:
            return Verdict(False)
        if any(joke in text for joke in self.jokes):
            return Verdict(False, reason="a joke")
        free = [True] * len(tokens)
        if self.vetoes.any(tokens, free):
            return Verdict(False, reason="a question about a scam")
        self.figurative.consume(tokens, free)  # "cháy túi", "tra cứu": their words name nothing else
        found = [(start, self._danger_of[id(p)]) for p, start, _ in self._dangers.find(tokens, free)]  # by start
        helped = self.help.consume(tokens, free)  # "làm thế nào bây giờ" is a cry, not a paperwork question
        if not found and not helped:
            return Verdict(False)
        names = tuple(dict.fromkeys(d.name for _, d in found))
        urgent_at = [start for _, start, _ in self.urgent.find(tokens, free)]
        intense_at = [start for _, start, _ in self.intense.find(tokens, free)]
        current = any(0 <= start - u <= URGENT_REACH for start, _ in found for u in urgent_at) or any(
            0 < i - start <= URGENT_REACH + 2 for start, _ in found for i in intense_at)
        if self.not_now.any(tokens, free):
            if not current:
                return Verdict(False, dangers=names, reason="past, hearsay or hypothetical")
        elif self.paperwork.any(tokens, free) and not current:
            return Verdict(False, dangers=names, reason="a paperwork question")
        calls = tuple(dict.fromkeys(n for _, d in found for n in d.calls))
        return Verdict(True, calls + tuple(n for n in self.numbers if n not in calls), names,
                       "danger" if found else "call for help")


def _calls(call: Any) -> tuple[str, ...]:
    """A danger's `call`: one number or several, best first."""
    return (str(call),) if isinstance(call, (str, int)) else tuple(str(n) for n in call)
