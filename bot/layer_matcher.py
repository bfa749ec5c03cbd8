"""The province's matcher seen through one commune's layer, without a second index.

A commune's disabled entries are never candidates (their scores are zeroed), and its own entries are
scored in the province's feature space: nearest phrasing, centroid (also in the classifier's place,
as the matcher does for catalogs too large for a classifier), keywords and taught phrasings. The
index of the shared catalog (features, phrasings, classifier) stays one object for every commune.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
from sklearn.preprocessing import normalize as l2_normalize

from bot.catalog import Entry
from bot.matcher import Candidate, Match, Matcher, decide
from bot.settings import Thresholds


class LayeredMatcher:
    """Matcher-like (`ids`, `scores`, `rank`, `match`) over a shared Matcher plus a layer's changes."""

    def __init__(self, base: Matcher, extra: Sequence[Entry], disabled: Iterable[str]):
        self.base, self.normalizer, self.weights = base, base.normalizer, base.weights
        position = {eid: i for i, eid in enumerate(base.ids)}
        self._hidden = np.fromiter(sorted(position[d] for d in disabled if d in position), dtype=np.intp)
        self.ids = list(base.ids) + [e.id for e in extra]
        docs, owners = [], []
        for i, entry in enumerate(extra):
            for text in (entry.title, *entry.questions, *entry.keywords):
                if norm := self.normalizer(text):
                    docs.append(norm)
                    owners.append(i)
        self._count = len(extra)
        self._exact = {doc: owner for doc, owner in zip(docs, owners)}
        self._owners = np.asarray(owners, dtype=np.intp)
        self._docs = base.features.matrix(docs) if docs else None
        centroids = np.zeros((len(extra), base.features.dim)) if docs else None
        if self._docs is not None and centroids is not None:
            for i in range(len(extra)):
                centroids[i] = np.asarray(self._docs[self._owners == i].sum(axis=0)).ravel()
            self._centroids = l2_normalize(centroids)
        self._keywords: dict[str, list[int]] = {}
        for i, entry in enumerate(extra):
            for keyword in entry.keywords:
                if norm := self.normalizer(keyword):
                    self._keywords.setdefault(norm, []).append(i)

    def _extra_scores(self, norm: str) -> np.ndarray:
        if self._docs is None:
            return np.zeros(self._count)
        idx, val = self.base.features.vector(norm)
        query = np.zeros(self.base.features.dim)
        query[idx] = val
        sims = self._docs @ query
        nearest = np.full(self._count, 0.0)
        np.maximum.at(nearest, self._owners, sims)
        centroid = self._centroids @ query
        keyword = np.zeros(self._count)
        words = norm.split()
        for n in range(1, len(words) + 1):
            for j in range(len(words) - n + 1):
                for owner in self._keywords.get(" ".join(words[j:j + n]), ()):
                    keyword[owner] = max(keyword[owner], min(1.0, 0.6 + 0.1 * n))
        w = self.weights
        total = (w["classifier"] + w["centroid"]) * centroid + w["nearest"] * nearest + w["keyword"] * keyword
        if (exact := self._exact.get(norm)) is not None:
            total[exact] = 1.0
        return total

    def scores(self, text: str) -> tuple[str, np.ndarray, float, float]:
        """As Matcher.scores, over the province's entries (the disabled at 0) then the commune's own."""
        norm, scores, neg, off = self.base.scores(text)
        if len(self._hidden):
            scores = scores.copy()
            scores[self._hidden] = 0.0
        if self._count:
            scores = np.r_[scores, self._extra_scores(norm) if norm else np.zeros(self._count)]
        return norm, scores, neg, off

    def rank(self, text: str, limit: int = 5) -> list[Candidate]:
        """Best entries for `text`, best first."""
        _, scores, neg, _ = self.scores(text)
        return Matcher._top(self, scores, neg, limit)  # type: ignore[arg-type]  (reads only .ids)

    def match(self, text: str, thresholds: Thresholds, limit: int = 3) -> Match:
        """Rank, then decide: answer, ask back (clarify) or fall back."""
        norm, scores, neg, off = self.scores(text)
        cands = Matcher._top(self, scores, neg, limit)  # type: ignore[arg-type]
        return Match(decide(cands, thresholds), tuple(cands), norm, off)
