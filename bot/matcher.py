"""Rank catalog entries for a citizen's text: TF-IDF centroid + nearest phrasing + keyword evidence."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize as l2_normalize

from bot.catalog import Entry
from bot.features import Featurizer
from bot.normalize import Normalizer
from bot.settings import Thresholds

# Weights of the signals, chosen by measured accuracy on tests/data/eval.yaml (see README).
WEIGHTS = {"classifier": 0.30, "centroid": 0.30, "nearest": 0.35, "keyword": 0.05}
# Multinomial logistic regression costs O(classes x features) to train: ~10 min at 2,000 entries.
# Larger catalogs use the centroid in its place (see README, "Matching").
CLASSIFIER_MAX_ENTRIES = 300
CLASSIFIER_C = 10.0
SHORTLIST = 64  # entries whose phrasings are compared one by one, in catalogs with more phrasings than below
ALL_PHRASINGS = 20_000  # up to this many phrasings, every one is compared (a gather over the query's features)


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
    off_topic: float = 0.0  # similarity to the clearly out-of-scope phrasings (weather, football…)

    @property
    def top(self) -> Candidate | None:
        """The best candidate, if any."""
        return self.candidates[0] if self.candidates else None


class Matcher:
    """An index over entries' phrasings, built once when the catalog loads."""

    def __init__(self, entries: Sequence[Entry], normalizer: Normalizer, terms: dict[str, str] | None = None,
                 negatives: Iterable[str] = (), weights: dict[str, float] | None = None,
                 off_topic: Iterable[str] = (), withheld: Iterable[str] = ()):
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
        # Phrasings of an entry another judge answers (emergencies): a class of their own for the
        # classifier, so such texts do not lend their weight to a procedure, but never a candidate.
        withheld_docs = [d for d in (normalizer(t) for t in withheld) if d]
        # A phrasing a reviewer taught is answered as taught, whatever the other signals say.
        owners_of: dict[str, set[int]] = {}
        for doc, owner in zip(docs, owners):
            owners_of.setdefault(doc, set()).add(owner)
        self._exact = {doc: next(iter(o)) for doc, o in owners_of.items() if len(o) == 1}
        self.features = Featurizer(docs + neg_docs + withheld_docs)
        x = self.features.matrix(docs)
        owners_arr = np.asarray(owners, dtype=np.intp)
        order = np.argsort(owners_arr, kind="stable")
        self._docs = x[order].tocsr()
        self._docs_t = self._docs.T.tocsr()  # feature-major: a query reads only its own features' rows
        self._bounds = np.searchsorted(owners_arr[order], np.arange(len(self.ids) + 1))
        onehot = sparse.csr_matrix((np.ones(len(owners)), (owners_arr, np.arange(len(owners)))),
                                   shape=(len(self.ids), len(owners)))
        # Stored feature-major so a query touches only the rows of its own features.
        self._centroids_t = l2_normalize(onehot @ x).T.tocsr()
        neg = self.features.matrix(neg_docs) if neg_docs else None
        self._neg_t = neg.T.tocsr() if neg is not None else None
        # The clearly out-of-scope part of the negatives (a subset): told apart from near-domain questions.
        off_docs = [d for d in (normalizer(t) for t in off_topic) if d]
        self._off_t = self.features.matrix(off_docs).T.tocsr() if off_docs else None
        self._keywords = self._keyword_index(entries, terms or {})
        self._coef: np.ndarray | None = None
        if 1 < len(self.ids) <= CLASSIFIER_MAX_ENTRIES:
            # Out-of-scope phrasings form one extra class, so "gia vang" has somewhere to go.
            labels = np.r_[owners_arr, np.full(len(neg_docs), len(self.ids)),
                           np.full(len(withheld_docs), len(self.ids) + 1)]
            extra = [m for m in (neg, self.features.matrix(withheld_docs) if withheld_docs else None)
                     if m is not None]
            train = sparse.vstack([x, *extra]) if extra else x
            # saga at a loose tolerance: 0.6 s instead of 15 s for lbfgs, same accuracy on the eval sets.
            clf = LogisticRegression(C=CLASSIFIER_C, solver="saga", tol=1e-3, max_iter=200, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(train, labels)
            self._coef, self._intercept = clf.coef_, clf.intercept_

    def nbytes(self) -> int:
        """Memory held by the index's arrays (sparse matrices, classifier weights)."""
        mats = [self._docs, self._docs_t, self._centroids_t] + [m for m in (self._neg_t, self._off_t) if m is not None]
        total = sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in mats)
        return total + (self._coef.nbytes if self._coef is not None else 0)

    def _keyword_index(self, entries: Sequence[Entry], terms: dict[str, str]) -> dict[str, np.ndarray]:
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
        self._kw_max_words = max((k.count(" ") + 1 for k in index), default=0)
        return {k: np.fromiter(sorted(v), dtype=np.intp) for k, v in index.items()}

    def _keyword_scores(self, norm: str) -> np.ndarray:
        # Exact phrase lookup over the query's word n-grams: O(words x longest keyword), any catalog size.
        scores = np.zeros(len(self.ids))
        words = norm.split()
        for n in range(1, min(self._kw_max_words, len(words)) + 1):
            for j in range(len(words) - n + 1):
                owners = self._keywords.get(" ".join(words[j:j + n]))
                if owners is not None:
                    weight = min(1.0, 0.6 + 0.1 * n)  # longer keywords are stronger evidence
                    scores[owners] = np.maximum(scores[owners], weight)
        return scores

    def _nearest(self, idx: np.ndarray, val: np.ndarray, shortlist: np.ndarray | None) -> np.ndarray:
        """Best cosine to any phrasing: every entry's, or the shortlisted entries' (0 elsewhere)."""
        if shortlist is None:  # every phrasing at once, reading only the query's features
            sims = _rows_dot(self._docs_t, idx, val, self._docs.shape[0])
            return np.maximum.reduceat(sims, self._bounds[:-1]) if len(sims) else np.zeros(len(self.ids))
        out = np.zeros(len(self.ids))
        starts, ends = self._bounds[shortlist], self._bounds[shortlist + 1]
        rows = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)]) if len(shortlist) else []
        if len(rows):
            q = np.zeros(self.features.dim)
            q[idx] = val
            offsets = np.r_[0, np.cumsum(ends - starts)[:-1]]
            out[shortlist] = np.maximum.reduceat(self._docs[rows] @ q, offsets)
        return out

    @staticmethod
    def _best(matrix_t: sparse.csr_matrix | None, idx: np.ndarray, val: np.ndarray) -> float:
        """The highest cosine between the query and the rows of a feature-major matrix (0 without one)."""
        if matrix_t is None:
            return 0.0
        sims = _rows_dot(matrix_t, idx, val, matrix_t.shape[1])
        return float(sims.max()) if len(sims) else 0.0

    def components(self, norm: str) -> dict[str, np.ndarray | float]:
        """Each signal for normalised text: per-entry arrays, plus similarity to out-of-scope phrasings."""
        idx, val = self.features.vector(norm)
        centroid = _rows_dot(self._centroids_t, idx, val, len(self.ids))
        if self._coef is not None:
            logits = self._coef[:, idx] @ val + self._intercept
            probs = np.exp(logits - logits.max())
            classifier = (probs / probs.sum())[: len(self.ids)]
        else:
            classifier = centroid
        # In very large catalogs, nearest-phrasing similarity only where it can matter: the best entries
        # by the cheaper signals.
        shortlist = None
        if self._docs.shape[0] > ALL_PHRASINGS and len(self.ids) > SHORTLIST:
            shortlist = np.sort(np.argpartition(-(centroid + classifier), SHORTLIST)[:SHORTLIST])
        return {
            "centroid": centroid,
            "nearest": self._nearest(idx, val, shortlist),
            "classifier": classifier,
            "keyword": self._keyword_scores(norm),
            "negative": self._best(self._neg_t, idx, val),
            "off_topic": self._best(self._off_t, idx, val),
        }

    def scores(self, text: str) -> tuple[str, np.ndarray, float, float]:
        """Normalised text, per-entry scores, and similarity to the out-of-scope and clearly off-topic phrasings."""
        norm = self.normalizer(text)
        if not norm or not self.ids:
            return norm, np.zeros(len(self.ids)), 0.0, 0.0
        parts = self.components(norm)
        total = np.asarray(sum(w * parts[name] for name, w in self.weights.items()))
        exact = self._exact.get(norm)
        if exact is not None:
            total[exact] = 1.0
        return norm, total, float(parts["negative"]), float(parts["off_topic"])

    def rank(self, text: str, limit: int = 5) -> list[Candidate]:
        """Best entries for `text`, best first."""
        _, scores, neg, _ = self.scores(text)
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
        norm, scores, neg, off = self.scores(text)
        cands = self._top(scores, neg, limit)
        return Match(decide(cands, thresholds), tuple(cands), norm, off)


GATHER_MAX = 20_000  # stored values past which _rows_dot leaves the gather to scipy (measured: 36 vs 2,000 entries)


def _rows_dot(matrix: sparse.csr_matrix, rows: np.ndarray, weights: np.ndarray, width: int) -> np.ndarray:
    """weights @ matrix[rows], straight from the CSR arrays.

    scipy's fancy row indexing validated and copied a sub-matrix on every call: about a tenth of
    answering a message with the shipped catalog (measured in a worker at 100 msg/s; 272 → 53 µs).
    """
    starts = matrix.indptr[rows]
    lengths = matrix.indptr[rows + 1] - starts
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    if not total:
        return np.zeros(width)
    if total > GATHER_MAX:  # a big catalog: scipy's compiled row copy beats numpy's repeat over this many values
        return np.asarray(matrix[rows].T @ weights).ravel()
    # positions of every stored value of the chosen rows, row after row
    positions = np.arange(total) + np.repeat(starts - (ends - lengths), lengths)
    return np.bincount(matrix.indices[positions], weights=matrix.data[positions] * np.repeat(weights, lengths),
                       minlength=width)


def decide(cands: Sequence[Candidate], t: Thresholds) -> str:
    """Answer above the confident threshold with a clear margin; ask back when unsure; else fall back."""
    if not cands or cands[0].score < t.clarify:
        return "fallback"
    second = cands[1].score if len(cands) > 1 else 0.0
    if cands[0].score >= t.answer and cands[0].score - second >= t.margin:
        return "answer"
    return "clarify"

