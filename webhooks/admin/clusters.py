"""Unanswered questions grouped into clusters of similar phrasings, with reviewers' marks applied."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from bot.settings import Thresholds
from webhooks.admin.scoping import Scope, within
from webhooks.storage.models import ClusterMark, Message

SIMILARITY = 85  # token_set_ratio at or above which two phrasings are one question
MERGE_LIMIT = 400  # fuzzy merging among the biggest groups only; the long tail stays exact
LOW_CONFIDENCE_MARGIN = 0.05  # "answered" this close to the answer threshold is worth a look
KEY_LENGTH = 255  # ClusterMark.key column size


@dataclass
class Cluster:
    """Similar unanswered questions: exact groups of normalised text merged when near-identical."""

    key: str  # normalised text of the biggest group: the cluster's name in URLs and marks
    keys: list[str] = field(default_factory=list)
    rows: list[tuple[int, dt.datetime, int, str | None]] = field(default_factory=list)  # id, at, citizen, outcome

    @property
    def count(self) -> int:
        """How many times it was asked."""
        return len(self.rows)

    @property
    def first_seen(self) -> dt.datetime:
        """When it was first asked."""
        return min(r[1] for r in self.rows)

    @property
    def last_seen(self) -> dt.datetime:
        """When it was last asked."""
        return max(r[1] for r in self.rows)

    @property
    def citizen_ids(self) -> list[int]:
        """Citizens who asked, most recent first."""
        seen: dict[int, None] = {}
        for row in sorted(self.rows, key=lambda r: r[1], reverse=True):
            seen.setdefault(row[2], None)
        return list(seen)

    @property
    def outcomes(self) -> dict[str, int]:
        """How the bot handled it (fallback / clarified / answered)."""
        counts: dict[str, int] = defaultdict(int)
        for row in self.rows:
            counts[row[3] or "?"] += 1
        return dict(counts)

    def latest_ids(self, limit: int) -> list[int]:
        """Ids of the most recent messages."""
        return [r[0] for r in sorted(self.rows, key=lambda r: r[1], reverse=True)[:limit]]


def mark_key(normalized: str) -> str:
    """The ClusterMark key of a normalised text."""
    return normalized[:KEY_LENGTH]


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; the models store UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def unanswered_condition(thresholds: Thresholds):
    """SQL filter: fallbacks, answers marked for review (the citizen said it was wrong, or the engine was
    unsure), low-confidence answers, and clarifications the citizen never took up.

    Clearly out-of-scope questions, small talk and messages waiting for staff are not queued.
    """
    later, nxt = aliased(Message), aliased(Message)
    next_id = (select(func.min(nxt.id))
               .where(nxt.citizen_id == Message.citizen_id, nxt.direction == "in", nxt.id > Message.id,
                      or_(nxt.outcome.is_(None), nxt.outcome != "ignored"))
               .correlate(Message).scalar_subquery())
    picked = exists().where(later.id == next_id, later.outcome == "answered")
    return or_(
        Message.outcome == "fallback",
        Message.review.is_not(None),
        and_(Message.outcome == "answered", Message.score.is_not(None),
             Message.score < thresholds.answer + LOW_CONFIDENCE_MARGIN),
        and_(Message.outcome == "clarified", ~picked),
    )


def _load_rows(session: Session, thresholds: Thresholds, since: dt.datetime | None, until: dt.datetime | None,
               scope: Scope | None):
    query = (select(Message.id, Message.normalized, Message.created_at, Message.citizen_id, Message.outcome)
             .where(Message.direction == "in", unanswered_condition(thresholds), within(Message.citizen_id, scope)))
    if since is not None:
        query = query.where(Message.created_at >= since)
    if until is not None:
        query = query.where(Message.created_at < until)
    return session.execute(query).all()


def _marks(session: Session) -> dict[str, tuple[str, dt.datetime]]:
    return {key: (status, _aware(at)) for key, status, at in
            session.execute(select(ClusterMark.key, ClusterMark.status, ClusterMark.at))}


def _hidden(status: str, marked_at: dt.datetime, asked_at: dt.datetime) -> bool:
    # Ignored sticks forever; resolved/attached hide what was asked up to the decision only.
    return status == "ignored" or asked_at <= marked_at


def build_clusters(session: Session, thresholds: Thresholds, since: dt.datetime | None = None,
                   until: dt.datetime | None = None, scope: Scope | None = None) -> list[Cluster]:
    """Clusters of unanswered questions asked in [since, until) by citizens in `scope`, biggest first."""
    marks = _marks(session)
    groups: dict[str, list[tuple[int, dt.datetime, int, str | None]]] = defaultdict(list)
    for msg_id, normalized, created_at, citizen_id, outcome in _load_rows(session, thresholds, since, until, scope):
        key = mark_key(normalized or "")
        at = _aware(created_at)
        mark = marks.get(key)
        if mark is not None and _hidden(mark[0], mark[1], at):
            continue
        groups[key].append((msg_id, at, citizen_id, outcome))
    ordered = sorted(groups.items(), key=lambda kv: (len(kv[1]), max(r[1] for r in kv[1])), reverse=True)
    head, tail = ordered[:MERGE_LIMIT], ordered[MERGE_LIMIT:]
    mark_keys = [k for k in marks if k]
    clusters: list[Cluster] = []
    for key, rows in head:
        if key and mark_keys and key not in marks:
            near = process.extractOne(key, mark_keys, scorer=fuzz.token_set_ratio, score_cutoff=SIMILARITY)
            if near is not None:
                status, marked_at = marks[near[0]]
                rows = [r for r in rows if not _hidden(status, marked_at, r[1])]
                if not rows:
                    continue
        target = None
        if key and clusters:
            names = [c.key for c in clusters]
            best = process.extractOne(key, names, scorer=fuzz.token_set_ratio, score_cutoff=SIMILARITY)
            target = clusters[best[2]] if best is not None else None
        if target is None:
            target = Cluster(key=key)
            clusters.append(target)
        target.keys.append(key)
        target.rows.extend(rows)
    clusters.extend(Cluster(key=key, keys=[key], rows=rows) for key, rows in tail)
    clusters.sort(key=lambda c: (c.count, c.last_seen), reverse=True)
    return clusters


def find_cluster(clusters: list[Cluster], key: str) -> Cluster | None:
    """The cluster named `key`, or the one that now contains that phrasing."""
    for cluster in clusters:
        if cluster.key == key:
            return cluster
    return next((c for c in clusters if key in c.keys), None)


def mark_cluster(session: Session, cluster: Cluster, status: str, by: str, entry_id: str | None = None) -> None:
    """Record a decision on every phrasing of the cluster (new near-duplicates match fuzzily)."""
    now = dt.datetime.now(dt.timezone.utc)
    existing = {m.key: m for m in session.scalars(select(ClusterMark).where(ClusterMark.key.in_(cluster.keys)))}
    for key in cluster.keys:
        mark = existing.get(key) or ClusterMark(key=key)
        mark.status, mark.entry_id, mark.by, mark.at = status, entry_id, by, now
        session.add(mark)


@dataclass(frozen=True)
class IgnoredDecision:
    """One "Bỏ qua" click: the phrasings it hid, who and when (undoable)."""

    mark_id: int  # any one of its marks: names the decision in the undo form
    by: str
    at: dt.datetime
    keys: list[str]


def recent_ignored(session: Session, limit: int = 10) -> list[IgnoredDecision]:
    """The latest "Bỏ qua" decisions, newest first (the marks one click wrote share their time and author)."""
    decisions: dict[tuple[str, dt.datetime], IgnoredDecision] = {}
    rows = session.scalars(select(ClusterMark).where(ClusterMark.status == "ignored")
                           .order_by(ClusterMark.at.desc(), ClusterMark.id).limit(limit * 20))
    for mark in rows:
        group = (mark.by, _aware(mark.at))
        if group not in decisions:
            if len(decisions) == limit:
                break
            decisions[group] = IgnoredDecision(mark.id, mark.by, group[1], [])
        decisions[group].keys.append(mark.key)
    return list(decisions.values())


def unignore(session: Session, mark_id: int) -> list[str]:
    """Undo the "Bỏ qua" decision `mark_id` belongs to: its questions show again. The keys freed ([] if none)."""
    mark = session.get(ClusterMark, mark_id)
    if mark is None or mark.status != "ignored":
        return []
    same = list(session.scalars(select(ClusterMark).where(ClusterMark.status == "ignored", ClusterMark.by == mark.by,
                                                          ClusterMark.at == mark.at)))
    for row in same:
        session.delete(row)
    return [row.key for row in same]
