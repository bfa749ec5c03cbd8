"""webhooks.admin.stats_summary on a seeded history: each figure counts what its name says."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.test_admin_support import (add_citizen, admin, admin_app, admin_client, admin_settings,  # noqa: F401
                                      catalog_copy, reviewer, users)
from webhooks.admin.stats_summary import duration, monday, summarize
from webhooks.storage.models import Handoff, Message

VN = dt.timezone(dt.timedelta(hours=7))
MONDAY = dt.date(2026, 11, 23)  # weeks of 23/11 and 30/11/2026


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """A local (Vietnam) moment, stored as UTC."""
    return dt.datetime.combine(day, dt.time(hour, minute), VN).astimezone(dt.timezone.utc)


def _message(s, citizen: int, when: dt.datetime, outcome: str | None, intent: str | None = None,
             review: str | None = None, direction: str = "in", sent_by: str | None = None) -> None:
    s.add(Message(citizen_id=citizen, direction=direction, text="…", outcome=outcome, intent=intent, review=review,
                  status="processed" if direction == "in" else "sent", sent_by=sent_by, created_at=when))


def _seed(db) -> None:
    """Two weeks: answered questions (one reported wrong), a hand-over with many messages while waiting, an
    emergency, a hand-over staff never answered, system events that are not questions."""
    a, b, c = (add_citizen(db, f"thong-ke-{n}") for n in range(3))
    day1, day2 = MONDAY + dt.timedelta(days=1), MONDAY + dt.timedelta(days=8)
    with db.session() as s:
        _message(s, a, at(day1, 8), "answered", "khai-sinh")
        _message(s, a, at(day1, 9), "answered", "khai-sinh", review="wrong_answer")
        _message(s, a, at(day1, 9, 1), "wrong_answer")
        _message(s, a, at(day1, 10), "answered", "ket-hon")
        _message(s, b, at(day1, 14), "handoff", "handoff")  # the request itself
        s.add(Handoff(citizen_id=b, opened_at=at(day1, 14), closed_at=at(day1, 16), closed_by="lan"))
        for minute in range(1, 8):  # seven messages while waiting: still one request
            _message(s, b, at(day1, 14, minute), "waiting")
        _message(s, b, at(day1, 14, 30), "staff", direction="out", sent_by="lan")  # 30 minutes
        _message(s, b, at(day1, 15), "staff", direction="out", sent_by="lan")  # later replies do not count
        _message(s, b, at(day1, 14, 20), None, direction="out")  # the bot's acknowledgement: not staff
        _message(s, c, at(day2, 7), "emergency", "khan-cap")
        _message(s, c, at(day2, 8), "handoff", "handoff")
        s.add(Handoff(citizen_id=c, opened_at=at(day2, 8)))  # nobody replied yet
        _message(s, c, at(day2, 9), "answered", "khai-sinh")
        _message(s, c, at(day2, 9, 5), "system")
        s.add(Handoff(citizen_id=a, opened_at=at(day2, 10), closed_at=at(day2, 11), closed_by="citizen"))
        _message(s, a, at(day2, 13), "staff", direction="out", sent_by="lan")  # after it closed: not its reply
        s.add(Handoff(citizen_id=b, opened_at=at(day2, 20)))
        _message(s, b, at(day2 + dt.timedelta(days=1), 8), "staff", direction="out", sent_by="hoa")  # 12 hours


def test_summary_counts_requests_not_messages(admin_app, db):
    _seed(db)
    with db.session() as s:
        summary = summarize(s, MONDAY, MONDAY + dt.timedelta(days=13))
    t = summary.total
    assert t.questions == 15  # 4 answered + 1 report + 2 requests + 7 waiting + 1 emergency (system not)
    assert (t.answered, t.wrong, t.emergencies, t.handoffs) == (3, 1, 1, 4)
    assert sorted(t.waits) == [30 * 60, 12 * 3600] and t.replied == 2
    assert t.median_wait == dt.timedelta(hours=6, minutes=15)
    first, second = summary.weeks
    assert (first.start, first.end, second.start, second.end) == (MONDAY, MONDAY + dt.timedelta(days=6),
                                                                  MONDAY + dt.timedelta(days=7),
                                                                  MONDAY + dt.timedelta(days=13))
    assert (first.figures.handoffs, first.figures.answered, first.figures.wrong, first.figures.emergencies) == (1, 2, 1, 0)
    assert first.figures.median_wait == dt.timedelta(minutes=30)
    assert (second.figures.handoffs, second.figures.answered, second.figures.emergencies) == (3, 1, 1)
    assert summary.entries == [("khai-sinh", 3, 1), ("ket-hon", 1, 0)]


def test_summary_respects_local_day_bounds(admin_app, db):
    _seed(db)
    with db.session() as s:
        only_second_week = summarize(s, MONDAY + dt.timedelta(days=7), MONDAY + dt.timedelta(days=13))
        partial = summarize(s, MONDAY + dt.timedelta(days=1), MONDAY + dt.timedelta(days=1))
    assert only_second_week.total.handoffs == 3 and only_second_week.total.questions == 3
    assert [(w.start, w.end) for w in partial.weeks] == [(MONDAY + dt.timedelta(days=1),) * 2]
    assert partial.total.handoffs == 1


def test_stats_page_and_weekly_summary_show_the_figures(reviewer, db):
    _seed(db)
    html = reviewer.get("/admin/thong-ke?start=23/11/2026&end=06/12/2026").get_data(as_text=True)
    assert "Yêu cầu gặp cán bộ</th><td class=\"num\">4</td>" in html
    assert "6 giờ 15 phút" in html and "23/11/2026 – 29/11/2026" in html
    week = reviewer.get("/admin/thong-ke/tuan?day=26/11/2026")
    text = week.get_data(as_text=True)
    assert week.status_code == 200 and "tuần từ 23/11/2026 đến 29/11/2026" in text
    assert "30 phút" in text and "Đăng ký khai sinh: 2 lần (1 lần báo sai)" in text
    assert reviewer.get("/admin/thong-ke/tuan?day=32/13/2026").status_code == 400


@pytest.mark.parametrize("seconds, shown", [(None, "—"), (0, "0 phút"), (20, "1 phút"), (45 * 60, "45 phút"),
                                            (3 * 3600, "3 giờ"), (3 * 3600 + 20 * 60, "3 giờ 20 phút"),
                                            (2 * 86400 + 4 * 3600, "2 ngày 4 giờ"), (86400, "1 ngày")])
def test_duration(seconds, shown):
    assert duration(None if seconds is None else dt.timedelta(seconds=seconds)) == shown


def test_monday():
    assert monday(dt.date(2026, 12, 6)) == dt.date(2026, 11, 30) == monday(dt.date(2026, 11, 30))
