"""What the statistics report, counted as their names say: hand-over requests (not the messages sent while
staff hold a conversation), questions the bot answered without staff, wrong-answer reports, emergencies and the
median time to a staff reply; in total, per week and per catalog entry."""
from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from bot.settings import Thresholds
from webhooks.admin.scoping import Scope, within
from webhooks.admin.clusters import KEY_LENGTH, unanswered_condition
from webhooks.admin.stats import day_index, grouped, utc_bounds
from webhooks.outbox.writing import as_utc
from webhooks.storage.models import ClusterMark, Handoff, Message

_HANDOFFS, _MESSAGES, _MARKS = Handoff.__table__, Message.__table__, ClusterMark.__table__
# A hand-over's first staff reply: the first message staff sent that citizen after it opened (and before it
# closed, when it did).
_FIRST_REPLY = (select(func.min(_MESSAGES.c.created_at))
                .where(_MESSAGES.c.citizen_id == _HANDOFFS.c.citizen_id, _MESSAGES.c.direction == "out",
                       _MESSAGES.c.sent_by.is_not(None), _MESSAGES.c.created_at >= _HANDOFFS.c.opened_at,
                       (_HANDOFFS.c.closed_at.is_(None)) | (_MESSAGES.c.created_at <= _HANDOFFS.c.closed_at))
                .correlate(_HANDOFFS).scalar_subquery())


@dataclass
class Figures:
    """Counts over some period."""

    questions: int = 0  # citizens' questions (not system events)
    answered: int = 0  # answered by the bot, and not reported wrong
    handoffs: int = 0  # hand-over requests (each opened hand-over once)
    wrong: int = 0  # answers a citizen said were wrong
    emergencies: int = 0
    waits: list[float] = field(default_factory=list)  # seconds from a hand-over to staff's first reply

    @property
    def replied(self) -> int:
        """Hand-overs that got a staff reply."""
        return len(self.waits)

    @property
    def median_wait(self) -> dt.timedelta | None:
        """Median time to a staff reply (None when no hand-over got one)."""
        return dt.timedelta(seconds=statistics.median(self.waits)) if self.waits else None

    def share(self, count: int) -> float:
        """`count` as a percentage of the questions."""
        return 100.0 * count / self.questions if self.questions else 0.0


@dataclass(frozen=True)
class Week:
    """A Monday-to-Sunday week (cut to the period) and its figures."""

    start: dt.date
    end: dt.date
    figures: Figures


@dataclass(frozen=True)
class Summary:
    """The period's figures, its weeks, and per entry (answered, reported wrong), most asked first."""

    start: dt.date
    end: dt.date
    total: Figures
    weeks: list[Week]
    entries: list[tuple[str, int, int]]


def monday(day: dt.date) -> dt.date:
    """The Monday of `day`'s week."""
    return day - dt.timedelta(days=day.weekday())


def summarize(session: Session, start: dt.date, end: dt.date, rows: list | None = None,
              scope: Scope | None = None) -> Summary:
    """Count the local days start..end (inclusive); the database groups the questions by day (`rows`:
    stats.grouped() already read for the same days)."""
    lo, hi = utc_bounds(start, end)
    total = Figures()
    weeks: dict[dt.date, Figures] = defaultdict(Figures)
    answered: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    for day, outcome, intent, review, count in grouped(session, start, end, scope) if rows is None else rows:
        week = weeks[monday(start + dt.timedelta(days=day))]
        reported = review == "wrong_answer"
        for figures in (total, week):
            figures.questions += count
            figures.emergencies += count if outcome == "emergency" else 0
            if outcome == "answered":
                figures.wrong += count if reported else 0
                figures.answered += 0 if reported else count
        if outcome == "answered" and intent:
            answered[intent] += count
            wrong[intent] += count if reported else 0
    opened = session.execute(select(day_index(_HANDOFFS.c.opened_at, start, end), _HANDOFFS.c.opened_at,
                                    _FIRST_REPLY.label("reply"))
                             .where(_HANDOFFS.c.opened_at >= lo, _HANDOFFS.c.opened_at < hi,
                                    within(_HANDOFFS.c.citizen_id, scope)))
    for day, opened_at, reply in opened:
        week = weeks[monday(start + dt.timedelta(days=day))]
        wait = (as_utc(reply) - as_utc(opened_at)).total_seconds() if reply is not None else None
        for figures in (total, week):
            figures.handoffs += 1
            if wait is not None:
                figures.waits.append(wait)
    spans = []
    first = monday(start)
    while first <= end:
        spans.append(Week(max(first, start), min(first + dt.timedelta(days=6), end), weeks.get(first, Figures())))
        first += dt.timedelta(days=7)
    per_entry = sorted(((i, answered[i], wrong[i]) for i in answered), key=lambda t: (-t[1], -t[2], t[0]))
    return Summary(start, end, total, spans, per_entry)


def most_unanswered(session: Session, thresholds: Thresholds, start: dt.date, end: dt.date,
                    top: int, scope: Scope | None = None) -> list[tuple[str, int]]:
    """The phrasings (as normalised) most often left unanswered in the period, with the latest wording and
    how often; counted by the database. Marked clusters are left out as on the unanswered-questions page,
    by their exact key (that page also merges near-identical phrasings, which costs too much here)."""
    lo, hi = utc_bounds(start, end)
    key = func.substr(func.coalesce(_MESSAGES.c.normalized, ""), 1, KEY_LENGTH)
    hidden = exists().where(_MARKS.c.key == key, (_MARKS.c.status == "ignored") | (_MESSAGES.c.created_at <= _MARKS.c.at))
    inner = (select(key.label("key"), _MESSAGES.c.id)
             .where(_MESSAGES.c.direction == "in", unanswered_condition(thresholds), ~hidden,
                    _MESSAGES.c.created_at >= lo, _MESSAGES.c.created_at < hi,
                    within(_MESSAGES.c.citizen_id, scope)).subquery())
    counted = (select(inner.c.key, func.count().label("n"), func.max(inner.c.id).label("latest"))
               .group_by(inner.c.key).order_by(func.count().desc(), func.max(inner.c.id).desc()).limit(top))
    rows = session.execute(counted).all()
    texts = dict(session.execute(select(_MESSAGES.c.id, _MESSAGES.c.text)
                                 .where(_MESSAGES.c.id.in_([r.latest for r in rows]))).all())
    return [(texts.get(r.latest) or r.key or "(không có chữ)", r.n) for r in rows]


def duration(value: dt.timedelta | None) -> str:
    """A wait as staff read it: “—”, “45 phút”, “3 giờ 20 phút”, “2 ngày 4 giờ”."""
    if value is None:
        return "—"
    minutes = round(value.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} ngày {hours} giờ" if hours else f"{days} ngày"
    if hours:
        return f"{hours} giờ {minutes} phút" if minutes else f"{hours} giờ"
    return f"{max(minutes, 1) if value.total_seconds() > 0 else 0} phút"
