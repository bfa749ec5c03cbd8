"""TF-IDF features of normalised text: character n-grams (typo-tolerant) plus words and word pairs."""
from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize as l2_normalize


class Featurizer:
    """Fitted once on the catalog; `vector` is a fast path for one text, equal to `matrix([text])`."""

    def __init__(self, docs: Sequence[str]):
        self._char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
        self._word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"\S+")
        self._char.fit(docs)
        self._word.fit(docs)
        # sklearn's transform() costs ~1 ms of Python set-up per call; a query needs ~0.1 ms of real work.
        self._parts = []
        offset = 0
        for vec in (self._char, self._word):
            self._parts.append((vec.build_analyzer(), vec.vocabulary_, vec.idf_, offset))
            offset += len(vec.vocabulary_)
        self.dim = offset

    def matrix(self, docs: Sequence[str]) -> sparse.csr_matrix:
        """Rows of L2-normalised features for many texts."""
        return l2_normalize(sparse.hstack([self._char.transform(docs), self._word.transform(docs)]).tocsr())

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(feature indices, weights) of one text: the same numbers as one row of `matrix`."""
        indices: list[int] = []
        values: list[float] = []
        for analyze, vocab, idf, offset in self._parts:
            counts = Counter(j for j in (vocab.get(g) for g in analyze(text)) if j is not None)
            if not counts:
                continue
            weights = [(1.0 + math.log(c)) * idf[j] for j, c in counts.items()]
            norm = math.sqrt(sum(w * w for w in weights))
            indices.extend(offset + j for j in counts)
            values.extend(w / norm for w in weights)
        idx = np.asarray(indices, dtype=np.intp)
        val = np.asarray(values, dtype=float)
        total = float(np.sqrt((val * val).sum()))
        return idx, (val / total if total else val)
