"""Statistics over a period and the geometry of their inline SVG bar charts."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from webhooks.admin.scoping import Scope, within
from webhooks.storage.models import Message

# Outcomes of citizens' questions (system notices, media and ignored events are not questions).
OUTCOMES = ("answered", "clarified", "fallback", "out_of_scope", "wrong_answer", "smalltalk", "handoff", "waiting",
            "emergency")
VN = dt.timezone(dt.timedelta(hours=7))


@dataclass(frozen=True)
class Bar:
    """One bar of a chart, already laid out (SVG units)."""

    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    css: str = ""


@dataclass(frozen=True)
class Stats:
    """Counts over a period."""

    start: dt.date
    end: dt.date
    per_day: list[tuple[dt.date, int]]
    outcomes: dict[str, int]
    top_entries: list[tuple[str, int]]

    @property
    def total(self) -> int:
        """Questions in the period."""
        return sum(n for _, n in self.per_day)

    def share(self, outcome: str) -> float:
        """Share of questions with this outcome, in percent."""
        return 100.0 * self.outcomes.get(outcome, 0) / self.total if self.total else 0.0


def utc_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants bounding local days start..end (inclusive)."""
    lo = dt.datetime.combine(start, dt.time(), VN).astimezone(dt.timezone.utc)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), VN).astimezone(dt.timezone.utc)
    return lo, hi


def day_index(column: Any, start: dt.date, end: dt.date) -> Any:
    """SQL: which local day of start..end (0, 1, …) a stored UTC moment falls on, by comparing it with each
    day's end; the same SQL on SQLite and PostgreSQL (no date functions, which differ between them)."""
    span = (end - start).days + 1
    ends = [utc_bounds(start, start + dt.timedelta(days=i))[1] for i in range(span)]
    return case(*[(column < moment, i) for i, moment in enumerate(ends)], else_=span)


def grouped(session: Session, start: dt.date, end: dt.date,
            scope: Scope | None = None) -> list[tuple[int, str, str | None, str | None, int]]:
    """(day index, outcome, intent, review, count) of citizens' questions on the local days start..end,
    counted by the database."""
    lo, hi = utc_bounds(start, end)
    inner = (select(day_index(Message.created_at, start, end).label("day"), Message.outcome, Message.intent,
                    Message.review)
             .where(Message.direction == "in", Message.outcome.in_(OUTCOMES), Message.created_at >= lo,
                    Message.created_at < hi, within(Message.citizen_id, scope)).subquery())
    # Grouped outside: PostgreSQL would not see the CASE (with its own parameters) in GROUP BY as the same.
    query = (select(inner.c.day, inner.c.outcome, inner.c.intent, inner.c.review, func.count())
             .group_by(inner.c.day, inner.c.outcome, inner.c.intent, inner.c.review))
    return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]


def collect(session: Session, start: dt.date, end: dt.date, top: int = 10, rows: list | None = None) -> Stats:
    """Questions per local day, outcome counts and the most answered entries (`rows`: grouped() already read)."""
    days: Counter[int] = Counter()
    outcomes: Counter[str] = Counter()
    entries: Counter[str] = Counter()
    for day, outcome, intent, _review, count in grouped(session, start, end) if rows is None else rows:
        days[day] += count
        outcomes[outcome] += count
        if outcome == "answered" and intent:
            entries[intent] += count
    span = (end - start).days + 1
    per_day = [(start + dt.timedelta(days=i), days.get(i, 0)) for i in range(span)]
    return Stats(start, end, per_day, dict(outcomes), entries.most_common(top))


def column_chart(points: list[tuple[str, int]], width: float = 600, height: float = 160) -> list[Bar]:
    """Vertical bars filling width × height (labels drawn by the template)."""
    if not points:
        return []
    peak = max(v for _, v in points) or 1
    slot = width / len(points)
    gap = min(2.0, slot * 0.2)
    return [Bar(label, value, i * slot + gap / 2, height - height * value / peak, slot - gap,
                height * value / peak) for i, (label, value) in enumerate(points)]


def row_chart(points: list[tuple[str, int]], width: float = 400, row: float = 28,
              css: dict[str, str] | None = None) -> list[Bar]:
    """Horizontal bars, one row each, longest = full width."""
    peak = max((v for _, v in points), default=0) or 1
    return [Bar(label, value, 0, i * row, max(1.0, width * value / peak) if value else 0, row - 8,
                (css or {}).get(label, "")) for i, (label, value) in enumerate(points)]
