"""Staff alerts: a hand-over, an emergency and a wrong-answer report reach members by e-mail and Zalo."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any, Iterator

import pytest
from sqlalchemy import select

from tests.conftest import manual_app
from tests.smtp_server import smtp_overrides, smtp_sink  # noqa: F401
from tests.test_admin_support import engine_holder
from tests.test_admin_support import (admin_settings, catalog_copy, send_webhook,  # noqa: F401
                                      users)
from webhooks.inbox.alerts import deliver_alert_next, queue_alert
from webhooks.inbox.staff_link import new_code
from webhooks.storage.models import Citizen, Message, StaffAlert, StaffContact, User
from webhooks.workers import run_until_idle

STAFF_ZALO = "staff-zalo-hoa"


@pytest.fixture
def staff_app(admin_settings, db, smtp_sink) -> Iterator[Any]:  # noqa: F811
    """The app with alerts going to the local SMTP server; the claim loop run by the tests."""
    settings = replace(admin_settings, **smtp_overrides(smtp_sink))
    with manual_app(settings, db, engine_holder(settings.engine)) as app:
        yield app


def _contact(db, username: str, **values: Any) -> None:
    with db.session() as s:
        user_id = s.scalar(select(User.id).where(User.username == username))
        s.add(StaffContact(user_id=user_id, **{"by_email": True, "by_zalo": True, **values}))


def _staff_citizen(db, zalo_id: str, days_ago: float = 0) -> None:
    # A member's own Zalo account, as the OA knows it (they messaged it when linking).
    with db.session() as s:
        s.add(Citizen(zalo_id=zalo_id, last_interaction=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days_ago)))


def _texts_to(fake_zalo, user_id: str) -> list[str]:
    return [r.body["message"]["text"] for r in fake_zalo.delivered() if r.user_id == user_id]


def _run(app) -> None:
    run_until_idle(app.extensions["bot.services"])


def test_handoff_alert_by_email_and_zalo_names_the_citizen(staff_app, db, users, smtp_sink, fake_zalo):
    _contact(db, "hoa", email="hoa@xa.example", zalo_id=STAFF_ZALO)
    _contact(db, "lan", email="lan@xa.example", by_zalo=False)
    _staff_citizen(db, STAFF_ZALO)
    fake_zalo.profiles["dan-1"] = {"display_name": "Nguyễn Thị Mai", "avatars": {"240": "https://a.example/m.jpg"}}
    client = staff_app.test_client()
    assert send_webhook(client, staff_app.config["SETTINGS"], "dan-1", "cho tôi gặp cán bộ").status_code == 200
    _run(staff_app)

    assert len(smtp_sink.received) == 1
    mail = smtp_sink.received[0]
    assert sorted(mail.recipients) == ["hoa@xa.example", "lan@xa.example"]
    assert "Nguyễn Thị Mai" in mail.message["Subject"]
    assert "muốn gặp cán bộ" in mail.body and "https://xa.example/admin/gap-can-bo/" in mail.body
    assert "dan-1" not in mail.body  # never the raw Zalo id
    alerts = _texts_to(fake_zalo, STAFF_ZALO)
    assert len(alerts) == 1 and "Nguyễn Thị Mai" in alerts[0]
    assert _texts_to(fake_zalo, "dan-1")  # the citizen got the bot's acknowledgement as before
    with db.session() as s:
        assert [a.status for a in s.scalars(select(StaffAlert))] == ["sent"]


def test_outside_the_window_zalo_is_skipped_and_email_still_goes(staff_app, db, users, smtp_sink, fake_zalo):
    _contact(db, "hoa", email="hoa@xa.example", zalo_id=STAFF_ZALO)
    _staff_citizen(db, STAFF_ZALO, days_ago=8)
    send_webhook(staff_app.test_client(), staff_app.config["SETTINGS"], "dan-2", "cho tôi gặp cán bộ")
    _run(staff_app)
    assert _texts_to(fake_zalo, STAFF_ZALO) == []
    assert [m.recipients for m in smtp_sink.received] == [["hoa@xa.example"]]


def test_a_refused_email_is_retried_and_zalo_is_not_sent_twice(staff_app, db, users, smtp_sink, fake_zalo):
    _contact(db, "hoa", email="hoa@xa.example", zalo_id=STAFF_ZALO)
    _staff_citizen(db, STAFF_ZALO)
    smtp_sink.refusing = True
    send_webhook(staff_app.test_client(), staff_app.config["SETTINGS"], "dan-3", "cho tôi gặp cán bộ")
    _run(staff_app)
    with db.session() as s:
        alert = s.scalars(select(StaffAlert)).one()
        assert (alert.status, alert.zalo_done) == ("pending", True) and alert.attempts >= 1
        assert "451" in alert.last_error
    smtp_sink.refusing = False
    services = staff_app.extensions["bot.services"]
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    assert deliver_alert_next(services, now=later) == "sent"
    _run(staff_app)
    assert len(smtp_sink.received) == 1
    assert len(_texts_to(fake_zalo, STAFF_ZALO)) == 1


@pytest.mark.parametrize("kinds, expected", [(None, 1), (["handoff", "emergency"], 1), (["wrong_answer"], 0)])
def test_each_member_chooses_what_to_receive(staff_app, db, users, smtp_sink, kinds, expected):
    _contact(db, "hoa", email="hoa@xa.example", kinds=kinds)
    send_webhook(staff_app.test_client(), staff_app.config["SETTINGS"], "dan-4", "cứu với nhà tôi đang cháy")
    _run(staff_app)
    with db.session() as s:
        assert [a.kind for a in s.scalars(select(StaffAlert))] == ["emergency"]
    assert len(smtp_sink.received) == expected
    if expected:
        assert "KHẨN CẤP" in smtp_sink.received[0].message["Subject"]


def test_a_wrong_answer_report_alerts(staff_app, db, users, smtp_sink):
    _contact(db, "lan", email="lan@xa.example")
    client, settings = staff_app.test_client(), staff_app.config["SETTINGS"]
    send_webhook(client, settings, "dan-5", "làm giấy khai sinh cho con cần gì")
    _run(staff_app)
    send_webhook(client, settings, "dan-5", "sai rồi")
    _run(staff_app)
    with db.session() as s:
        assert [a.kind for a in s.scalars(select(StaffAlert))] == ["wrong_answer"]
    assert "trả lời sai" in smtp_sink.received[0].body and "/admin/cau-hoi" in smtp_sink.received[0].body


def test_no_smtp_configured_zalo_only(admin_settings, db, users, fake_zalo):  # noqa: F811
    with manual_app(admin_settings, db, engine_holder(admin_settings.engine)) as app:
        _contact(db, "hoa", email="hoa@xa.example", zalo_id=STAFF_ZALO)
        _staff_citizen(db, STAFF_ZALO)
        send_webhook(app.test_client(), admin_settings, "dan-6", "cho tôi gặp cán bộ")
        _run(app)
    assert len(_texts_to(fake_zalo, STAFF_ZALO)) == 1
    with db.session() as s:
        assert s.scalars(select(StaffAlert.status)).one() == "sent"


def test_an_alert_for_a_citizen_who_withdrew_is_dropped(staff_app, db, users, smtp_sink):
    _contact(db, "hoa", email="hoa@xa.example")
    with db.session() as s:
        citizen = Citizen(zalo_id="dan-7")
        s.add(citizen)
        s.flush()
        queue_alert(s.connection(), "handoff", citizen.id, None)
    with db.session() as s:
        s.delete(s.scalars(select(Citizen)).one())  # deleted rows cascade on PostgreSQL; SQLite keeps the alert
    services = staff_app.extensions["bot.services"]
    assert deliver_alert_next(services) in ("gone", None)
    assert smtp_sink.received == []


def test_unknown_alert_kind_is_refused(db):
    with db.session() as s, pytest.raises(ValueError):
        queue_alert(s.connection(), "weather", 1, None)


def test_linking_a_members_zalo_with_the_code(staff_app, db, users, fake_zalo):
    with db.session() as s:
        user_id = s.scalar(select(User.id).where(User.username == "hoa"))
        code = new_code(s.connection(), user_id)
    client, settings = staff_app.test_client(), staff_app.config["SETTINGS"]
    send_webhook(client, settings, STAFF_ZALO, code.lower().replace("-", " "))
    _run(staff_app)
    assert "Đã liên kết" in _texts_to(fake_zalo, STAFF_ZALO)[-1]
    with db.session() as s:
        contact = s.get(StaffContact, user_id)
        assert (contact.zalo_id, contact.link_code) == (STAFF_ZALO, None)
        stored = s.scalars(select(Message).where(Message.direction == "in")).one()
        assert (stored.outcome, stored.intent) == ("system", "staff-link")  # never a question for review
    send_webhook(client, settings, "someone", code)  # used once: now a wrong code
    _run(staff_app)
    assert "không đúng hoặc đã hết hạn" in _texts_to(fake_zalo, "someone")[-1]


def test_an_expired_code_does_not_link(staff_app, db, users, fake_zalo):
    with db.session() as s:
        user_id = s.scalar(select(User.id).where(User.username == "hoa"))
        code = new_code(s.connection(), user_id, now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    send_webhook(staff_app.test_client(), staff_app.config["SETTINGS"], STAFF_ZALO, code)
    _run(staff_app)
    assert "hết hạn" in _texts_to(fake_zalo, STAFF_ZALO)[-1]
    with db.session() as s:
        assert s.get(StaffContact, user_id).zalo_id is None
