"""What the statistics report, counted as their names say: hand-over requests (not the messages sent while
staff hold a conversation), questions the bot answered without staff, wrong-answer reports, emergencies and the
median time to a staff reply; in total, per week and per catalog entry."""
from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webhooks.admin.stats import OUTCOMES, VN, utc_bounds
from webhooks.outbox.writing import as_utc
from webhooks.storage.models import Handoff, Message

_HANDOFFS, _MESSAGES = Handoff.__table__, Message.__table__
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


def summarize(session: Session, start: dt.date, end: dt.date) -> Summary:
    """Count the local days start..end (inclusive)."""
    lo, hi = utc_bounds(start, end)
    total = Figures()
    weeks: dict[dt.date, Figures] = defaultdict(Figures)
    answered: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    rows = session.execute(select(_MESSAGES.c.created_at, _MESSAGES.c.outcome, _MESSAGES.c.intent,
                                  _MESSAGES.c.review)
                           .where(_MESSAGES.c.direction == "in", _MESSAGES.c.outcome.in_(OUTCOMES),
                                  _MESSAGES.c.created_at >= lo, _MESSAGES.c.created_at < hi))
    for created_at, outcome, intent, review in rows:
        week = weeks[monday(_local_day(created_at))]
        for figures in (total, week):
            figures.questions += 1
            figures.emergencies += outcome == "emergency"
            if outcome == "answered":
                figures.wrong += review == "wrong_answer"
                figures.answered += review != "wrong_answer"
        if outcome == "answered" and intent:
            answered[intent] += 1
            wrong[intent] += review == "wrong_answer"
    opened = session.execute(select(_HANDOFFS.c.opened_at, _FIRST_REPLY.label("reply"))
                             .where(_HANDOFFS.c.opened_at >= lo, _HANDOFFS.c.opened_at < hi))
    for opened_at, reply in opened:
        week = weeks[monday(_local_day(opened_at))]
        wait = (as_utc(reply) - as_utc(opened_at)).total_seconds() if reply is not None else None
        for figures in (total, week):
            figures.handoffs += 1
            if wait is not None:
                figures.waits.append(wait)
    spans = []
    day = monday(start)
    while day <= end:
        spans.append(Week(max(day, start), min(day + dt.timedelta(days=6), end), weeks.get(day, Figures())))
        day += dt.timedelta(days=7)
    per_entry = sorted(((i, answered[i], wrong[i]) for i in answered), key=lambda t: (-t[1], -t[2], t[0]))
    return Summary(start, end, total, spans, per_entry)


def _local_day(moment: dt.datetime) -> dt.date:
    utc = as_utc(moment)
    assert utc is not None
    return utc.astimezone(VN).date()


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
