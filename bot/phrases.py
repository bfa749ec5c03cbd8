"""Short conversational phrases ("ok", "sai rồi", "quay lại") recognised after normalisation."""
from __future__ import annotations

import re
import unicodedata
from typing import Callable, Iterable

# Politeness and address words that do not change what a short message means ("sai rồi ạ", "ok bot").
FILLERS = frozenset("a ah ak oi nhe nha nhen nhi ha bot ad admin em anh chi ban minh toi chau bac co chu".split())


def _key(normalized: str) -> str:
    return " ".join(w for w in normalized.split() if w not in FILLERS)


def _symbols(text: str) -> str:
    """The non-letter, non-space characters of `text` (emoji), variation selectors dropped."""
    return "".join(ch for ch in unicodedata.normalize("NFC", text)
                   if not ch.isspace() and not ch.isalnum() and unicodedata.category(ch) not in ("Mn", "Cf"))


class PhraseSet:
    """Phrases compared with a message after the engine's normalisation and without filler words."""

    def __init__(self, phrases: Iterable[str], normalize: Callable[[str], str]):
        self.normalize = normalize
        self.keys: set[str] = set()
        self.emoji: set[str] = set()
        for phrase in phrases:
            key = _key(normalize(str(phrase)))
            if key:
                self.keys.add(key)
            elif _symbols(str(phrase)):
                self.emoji.add(_symbols(str(phrase)))

    def matches(self, text: str, normalized: str) -> bool:
        """The whole message is one of the phrases (emoji-only messages compare their emoji)."""
        key = _key(normalized)
        if key:
            return key in self.keys
        symbols = _symbols(text)
        return bool(symbols) and all(ch in "".join(self.emoji) for ch in symbols)

    def strip_leading(self, text: str, normalized: str) -> str | None:
        """The rest of the message after a leading phrase, or None without one.

        With more words after it, the phrase must be set off by punctuation: "không phải, tôi hỏi …" is
        the phrase and a new question; "không phải nộp phí à" is one question ("need not pay?").
        """
        key = _key(normalized)
        if key in self.keys:
            return ""
        head, sep, rest = _split(text)
        if sep and _key(self.normalize(head)) in self.keys:
            return _key(self.normalize(rest))
        return None


_PUNCTUATION = re.compile(r"[,.;:!?…\n–—-]")


def _split(text: str) -> tuple[str, str, str]:
    found = _PUNCTUATION.search(text)
    if found is None:
        return text, "", ""
    return text[:found.start()], found.group(), text[found.end():]
