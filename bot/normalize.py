"""Vietnamese text normalisation: NFC, case, diacritic folding, teencode, synonyms, noise."""
from __future__ import annotations

import re
from functools import lru_cache

from bot.catalog import Lexicon
from bot.text import clean

_REPEAT = re.compile(r"([a-z])\1{2,}")  # "khongggg" -> "khong"; real words never triple a letter


class Normalizer:
    """Turns what a citizen typed into the canonical folded form the matcher indexes."""

    def __init__(self, lexicon: Lexicon, max_chars: int = 1000):
        self.lexicon = lexicon
        self.max_chars = max_chars
        variants = {v: canon for canon, vs in lexicon.synonyms.items() for v in vs if v and v != canon}
        # Longest variant first so "giay chung nhan quyen su dung dat" wins over "giay chung nhan".
        self._synonyms = re.compile(
            r"\b(" + "|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True)) + r")\b"
        ) if variants else None
        self._variants = variants
        self._cached = lru_cache(maxsize=4096)(self._normalize)

    def __call__(self, text: str) -> str:
        """Canonical form of `text` (cached: the same phrasings recur)."""
        return self._cached(text[: self.max_chars * 2])

    def _normalize(self, text: str) -> str:
        words = clean(text)[: self.max_chars].split()
        abbr = self.lexicon.abbreviations
        text = " ".join(filter(None, (abbr.get(w) or self._word(w) for w in words)))
        if self._synonyms is not None:
            text = self._synonyms.sub(lambda m: self._variants[m.group(1)], text)
        return text

    def _word(self, word: str) -> str:
        # Letter runs are squeezed only after the abbreviation lookup, so "cccd" survives.
        squeezed = _REPEAT.sub(r"\1", word)
        if len(squeezed) == 1 and len(word) > 2:
            return ""  # "kkkk", "jjjjjj": laughter or a key held down, not the teencode "k" or "j"
        return self.lexicon.abbreviations.get(squeezed, squeezed)

    def content_words(self, normalized: str) -> list[str]:
        """Tokens of normalised text without stopwords."""
        stop = self.lexicon.stopwords
        return [w for w in normalized.split() if w not in stop]
