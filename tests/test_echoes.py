"""Zalo's echoes confirm sends whose answer was lost: the reply is recorded as sent, never sent twice."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from bot.replies import Reply
from tests.test_delivery import LATER, queue, row, run_due, sent_texts
from webhooks.outbox import delivery
from webhooks.outbox.delivery import deliver_next
from webhooks.storage.models import Outbox, utcnow
from webhooks.zalo import echoes
from webhooks.zalo.events import parse_event


@pytest.mark.parametrize("sent, echoed, same", [
    ("Chào anh/chị", "Chào anh/chị", True),
    ("Chào anh/chị", "Cha\u0300o anh/chi\u0323", True),  # NFD from the other side
    ("Bước 1:\n- CCCD", "Bước 1:\r\n- CCCD ", True),  # line endings and trailing space
    ("phí 50.000 đồng", "phí 50.000 đồng.", False),
    ("khai sinh", "khai tử", False),
])
def test_text_key(sent, echoed, same):
    assert (echoes.text_key(sent) == echoes.text_key(echoed)) is same


class Killed(BaseException):
    """The sender's process died."""


def _die_after_zalo_accepted(services, outbox_id: int, fake_zalo, monkeypatch):
    """A sender that claimed the next row (`outbox_id`) and got it to Zalo, then died before recording anything."""
    def attempt(services_, found, now):
        assert found.id == outbox_id
        services_.client.send(found.zalo_id, Reply.from_dict(found.body))
        raise Killed()

    monkeypatch.setattr(delivery, "_attempt", attempt)
    try:
        deliver_next(services)
    except Killed:
        pass
    monkeypatch.undo()
    return fake_zalo.delivered()[-1]


def _after_lease(services) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=services.settings.lease_seconds + 1)


def test_killed_sender_whose_send_reached_zalo_is_not_sent_again(services, fake_zalo, post_event, monkeypatch):
    [outbox_id] = queue(services, ["Làm khai sinh cần tờ khai và giấy chứng sinh."])
    record = _die_after_zalo_accepted(services, outbox_id, fake_zalo, monkeypatch)
    assert post_event(fake_zalo.echo_payload(record)).get_json()["result"] == "confirmed"
    assert run_due(services, _after_lease(services)) == ["sent"]
    stored = row(services, outbox_id)
    assert (stored.status, stored.zalo_message_id, stored.echo_msg_id) == ("sent", record.message_id, record.message_id)
    assert len(fake_zalo.delivered()) == 1


def test_killed_sender_without_an_echo_is_resent_once(services, fake_zalo, monkeypatch):
    # The limit of the echo: when none comes (lost, or a type whose echo has no text), the row goes again.
    [outbox_id] = queue(services, ["không có tiếng vọng"])
    _die_after_zalo_accepted(services, outbox_id, fake_zalo, monkeypatch)
    assert run_due(services, _after_lease(services)) == ["sent"]
    assert sent_texts(fake_zalo) == ["không có tiếng vọng"] * 2


def test_lost_answer_then_echo_is_recorded_as_sent(services, fake_zalo, post_event):
    [outbox_id] = queue(services, ["trả lời bị mất"])
    fake_zalo.lose_answer_next(1)
    assert deliver_next(services) == "retry"  # the client only saw a dropped connection
    [record] = fake_zalo.delivered()
    assert post_event(fake_zalo.echo_payload(record)).get_json()["result"] == "confirmed"
    assert run_due(services, utcnow() + LATER) == ["sent"]
    assert len(fake_zalo.delivered()) == 1 and row(services, outbox_id).zalo_message_id == record.message_id


def test_echo_of_a_recorded_send_changes_nothing(services, fake_zalo, post_event, db):
    [outbox_id] = queue(services, ["đã ghi nhận"])
    assert deliver_next(services) == "sent"
    assert post_event(fake_zalo.echo_payload(fake_zalo.delivered()[0])).get_json()["result"] == "ignored"
    assert row(services, outbox_id).echo_msg_id is None


def test_echo_of_one_reply_does_not_stand_for_another_with_the_same_text(services, fake_zalo, post_event):
    queue(services, ["Dạ, anh/chị hỏi bộ phận một cửa."], msg_id="q1")
    queue(services, ["Dạ, anh/chị hỏi bộ phận một cửa."], msg_id="q2")
    assert deliver_next(services) == "sent"
    fake_zalo.fail_next(1, -32)
    assert deliver_next(services) == "retry"  # unconfirmed-looking: pending after an attempt
    assert post_event(fake_zalo.echo_payload(fake_zalo.delivered()[0])).get_json()["result"] == "ignored"
    assert run_due(services, utcnow() + LATER) == ["sent"]
    assert len(fake_zalo.delivered()) == 2


def test_a_retried_echo_is_noted_once(services, fake_zalo, post_event, monkeypatch):
    a = queue(services, ["giống nhau"], msg_id="qa", user="ca")[0]
    b = queue(services, ["giống nhau"], msg_id="qb", user="ca")[0]
    record = _die_after_zalo_accepted(services, a, fake_zalo, monkeypatch)
    with services.database.transaction() as conn:  # the other copy is in flight too, unsent
        conn.execute(update(Outbox).where(Outbox.id == b).values(status="sending", lease_until=utcnow()))
    results = [post_event(fake_zalo.echo_payload(record)).get_json()["result"] for _ in range(2)]
    assert results == ["confirmed", "ignored"]
    assert [row(services, i).echo_msg_id for i in (a, b)] == [record.message_id, None]
    assert run_due(services, _after_lease(services)) == ["sent", "sent"]
    assert sent_texts(fake_zalo) == ["giống nhau"] * 2  # a's once (before it died), b's once


@pytest.mark.parametrize("change", ["other citizen", "other text", "no text", "no msg_id"])
def test_echo_that_matches_nothing_is_ignored(services, fake_zalo, post_event, change, monkeypatch):
    [outbox_id] = queue(services, ["câu trả lời"])
    payload = fake_zalo.echo_payload(_die_after_zalo_accepted(services, outbox_id, fake_zalo, monkeypatch))
    if change == "other citizen":
        payload["recipient"]["id"] = "someone-else"
    elif change == "other text":
        payload["message"]["text"] = "một câu khác"
    else:
        del payload["message"]["text" if change == "no text" else "msg_id"]
    assert post_event(payload).get_json()["result"] == "ignored"
    assert row(services, outbox_id).echo_msg_id is None


def test_noted_echo_another_row_recorded_as_its_own_is_not_trusted(services, fake_zalo, db):
    [mine] = queue(services, ["cùng lời"], msg_id="m1")
    [theirs] = queue(services, ["cùng lời"], msg_id="m2")
    with db.session() as s:
        s.get(Outbox, mine).echo_msg_id = "zalo-77"
        s.get(Outbox, theirs).status, s.get(Outbox, theirs).zalo_message_id = "sent", "zalo-77"
    assert not echoes.confirms(services.database, mine, "citizen-1", "zalo-77")
    assert deliver_next(services) == "sent"
    assert sent_texts(fake_zalo) == ["cùng lời"]  # sent for real, under its own Zalo id
    assert row(services, mine).zalo_message_id.startswith("fake-msg-")


def test_a_failing_comparison_still_gets_zalo_its_200(post_event, monkeypatch, fake_zalo):
    def broken(*_args):
        raise RuntimeError("database away")

    monkeypatch.setattr("webhooks.inbox.intake.note_echo", broken)
    payload = {"app_id": fake_zalo.app_id, "event_name": "oa_send_text", "sender": {"id": "oa"},
               "recipient": {"id": "u"}, "message": {"msg_id": "e1", "text": "x"}, "timestamp": "1"}
    response = post_event(payload)
    assert (response.status_code, response.get_json()["result"]) == (200, "ignored")


def test_only_echoes_are_compared(services):
    text = parse_event({"event_name": "user_send_text", "sender": {"id": "u"}, "message": {"msg_id": "m", "text": "x"}})
    assert echoes.note_echo(services.database, text) is None
