"""Plain text folding shared by every part of the engine: no catalog, no lexicon."""
from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_SPLIT_DIGITS = re.compile(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])")  # "cccd2024" -> "cccd 2024"


def fold(text: str) -> str:
    """Lower-case, NFC, and strip Vietnamese diacritics (đ -> d)."""
    text = unicodedata.normalize("NFC", text).lower().replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def clean(text: str) -> str:
    """Folded text with control characters, punctuation and emoji reduced to plain words."""
    text = _CONTROL.sub(" ", text)
    text = fold(text)
    text = _NON_WORD.sub(" ", text)
    text = _SPLIT_DIGITS.sub(" ", text)
    return " ".join(text.split())
