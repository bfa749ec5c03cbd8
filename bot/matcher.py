"""Rank catalog entries for a citizen's text: TF-IDF centroid + nearest phrasing + keyword evidence."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from rapidfuzz import fuzz, process
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize as l2_normalize

from bot.catalog import Entry
from bot.normalize import Normalizer
from bot.settings import Thresholds

# Weights of the signals, chosen by measured accuracy on tests/data/eval.yaml (see README).
WEIGHTS = {"classifier": 0.30, "centroid": 0.30, "nearest": 0.35, "keyword": 0.05}
# Multinomial logistic regression costs O(classes x features) to train: ~10 min at 2,000 entries.
# Larger catalogs use the centroid in its place (see README, "Matching").
CLASSIFIER_MAX_ENTRIES = 300
CLASSIFIER_C = 10.0
# A keyword typed with a typo still counts when this similar (rapidfuzz ratio, 0..100).
KEYWORD_FUZZ = 90
MIN_FUZZY_KEYWORD_LEN = 8  # shorter keywords must match exactly ("trom" is not "trong")


@dataclass(frozen=True)
class Candidate:
    """An entry id with its score (0..1)."""

    id: str
    score: float


@dataclass(frozen=True)
class Match:
    """What the matcher decided for one text."""

    decision: str  # answer | clarify | fallback
    candidates: tuple[Candidate, ...]
    normalized: str

    @property
    def top(self) -> Candidate | None:
        """The best candidate, if any."""
        return self.candidates[0] if self.candidates else None


class Matcher:
    """An index over entries' phrasings, built once when the catalog loads."""

    def __init__(self, entries: Sequence[Entry], normalizer: Normalizer, terms: dict[str, str] | None = None,
                 negatives: Iterable[str] = (), weights: dict[str, float] | None = None):
        self.normalizer = normalizer
        self.weights = dict(weights or WEIGHTS)
        self.ids = [e.id for e in entries]
        docs, owners = [], []
        for i, entry in enumerate(entries):
            for text in (entry.title, *entry.questions, *entry.keywords):
                norm = normalizer(text)
                if norm:
                    docs.append(norm)
                    owners.append(i)
        neg_docs = [d for d in (normalizer(t) for t in negatives) if d]
        self._char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1)
        self._word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                     token_pattern=r"\S+")
        fit_docs = docs + neg_docs
        self._char.fit(fit_docs)
        self._word.fit(fit_docs)
        x = self._vectorize(docs)
        owners_arr = np.asarray(owners)
        order = np.argsort(owners_arr, kind="stable")
        self._docs = x[order].tocsr()
        self._doc_owner = owners_arr[order]
        self._starts = np.searchsorted(self._doc_owner, np.arange(len(self.ids)))
        onehot = sparse.csr_matrix((np.ones(len(owners)), (owners_arr, np.arange(len(owners)))),
                                   shape=(len(self.ids), len(owners)))
        self._centroids = l2_normalize(onehot @ x).tocsr()
        self._neg = self._vectorize(neg_docs) if neg_docs else None
        self._keywords = self._keyword_index(entries, terms or {})
        self._clf: LogisticRegression | None = None
        if 1 < len(self.ids) <= CLASSIFIER_MAX_ENTRIES:
            # Out-of-scope phrasings form one extra class, so "gia vang" has somewhere to go.
            labels = np.r_[owners_arr, np.full(len(neg_docs), len(self.ids))]
            train = sparse.vstack([x, self._neg]) if self._neg is not None else x
            self._clf = LogisticRegression(C=CLASSIFIER_C, max_iter=3000).fit(train, labels)

    def _vectorize(self, docs: list[str]) -> sparse.csr_matrix:
        return l2_normalize(sparse.hstack([self._char.transform(docs), self._word.transform(docs)]).tocsr())

    def _keyword_index(self, entries: Sequence[Entry], terms: dict[str, str]) -> dict[str, set[int]]:
        index: dict[str, set[int]] = {}
        pos = {eid: i for i, eid in enumerate(self.ids)}
        for i, entry in enumerate(entries):
            for kw in entry.keywords:
                norm = self.normalizer(kw)
                if norm:
                    index.setdefault(norm, set()).add(i)
        for term, eid in terms.items():
            norm = self.normalizer(term)
            if norm and eid in pos:
                index.setdefault(norm, set()).add(pos[eid])
        return index

    def _keyword_scores(self, norm: str) -> np.ndarray:
        scores = np.zeros(len(self.ids))
        padded = f" {norm} "
        words = norm.split()
        for kw, owners in self._keywords.items():
            if f" {kw} " in padded:
                hit = 1.0
            elif len(kw) >= MIN_FUZZY_KEYWORD_LEN:
                # typo-tolerant: best window of the same number of words
                n = kw.count(" ") + 1
                windows = [" ".join(words[j:j + n]) for j in range(max(1, len(words) - n + 1))]
                best = process.extractOne(kw, windows, scorer=fuzz.ratio, processor=None)
                hit = (best[1] / 100.0) if best and best[1] >= KEYWORD_FUZZ else 0.0
            else:
                continue
            if hit:
                # longer keywords are stronger evidence
                weight = min(1.0, 0.6 + 0.1 * (kw.count(" ") + 1)) * hit
                for i in owners:
                    scores[i] = max(scores[i], weight)
        return scores

    def components(self, norm: str) -> dict[str, np.ndarray | float]:
        """Each signal for normalised text: per-entry arrays, plus similarity to out-of-scope phrasings."""
        q = self._vectorize([norm])
        centroid = (self._centroids @ q.T).toarray().ravel()
        sims = (self._docs @ q.T).toarray().ravel()
        return {
            "centroid": centroid,
            "nearest": np.maximum.reduceat(sims, self._starts),
            "classifier": self._clf.predict_proba(q)[0, : len(self.ids)] if self._clf is not None else centroid,
            "keyword": self._keyword_scores(norm),
            "negative": float((self._neg @ q.T).max()) if self._neg is not None else 0.0,
        }

    def scores(self, text: str) -> tuple[str, np.ndarray, float]:
        """Normalised text, per-entry scores, and similarity to known out-of-scope phrasings."""
        norm = self.normalizer(text)
        if not norm or not self.ids:
            return norm, np.zeros(len(self.ids)), 0.0
        parts = self.components(norm)
        total = sum(w * parts[name] for name, w in self.weights.items())
        return norm, np.asarray(total), float(parts["negative"])

    def rank(self, text: str, limit: int = 5) -> list[Candidate]:
        """Best entries for `text`, best first."""
        _, scores, neg = self.scores(text)
        return self._top(scores, neg, limit)

    def _top(self, scores: np.ndarray, neg: float, limit: int) -> list[Candidate]:
        if not len(scores):
            return []
        k = min(limit, len(scores))
        idx = np.argpartition(-scores, k - 1)[:k]
        idx = idx[np.argsort(-scores[idx])]
        # closer to a known out-of-scope phrasing than to the best entry: lower confidence
        penalty = max(0.0, neg - float(scores[idx[0]]))
        return [Candidate(self.ids[i], round(max(0.0, float(scores[i]) - penalty), 4)) for i in idx if scores[i] > 0]

    def match(self, text: str, thresholds: Thresholds, limit: int = 3) -> Match:
        """Rank, then decide: answer, ask back (clarify) or fall back."""
        norm, scores, neg = self.scores(text)
        cands = self._top(scores, neg, limit)
        return Match(decide(cands, thresholds), tuple(cands), norm)


def decide(cands: Sequence[Candidate], t: Thresholds) -> str:
    """Answer above the confident threshold with a clear margin; ask back when unsure; else fall back."""
    if not cands or cands[0].score < t.clarify:
        return "fallback"
    second = cands[1].score if len(cands) > 1 else 0.0
    if cands[0].score >= t.answer and cands[0].score - second >= t.margin:
        return "answer"
    return "clarify"

