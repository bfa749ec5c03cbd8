"""Outbox delivery against FakeZalo: leases, retries, night rule, permanent errors, concurrency."""
from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from sqlalchemy import select

from bot.replies import Reply
from tests.conftest import run_in_threads
from webhooks import delivery
from webhooks.models import Message, Outbox, utcnow
from webhooks.outbound import as_utc, queue_replies
from webhooks.citizens import upsert_citizen
from webhooks.zalo_api import VIETNAM

LATER = dt.timedelta(hours=1)  # far past any backoff used here: the rows are due again


def queue(services, texts: list[str], user: str = "citizen-1", msg_id: str | None = None) -> list[int]:
    """An inbound message of `user` and bot replies `texts` to it in the outbox; their ids."""
    with services.database.session() as s:
        citizen = upsert_citizen(s, user, interacted=True)
        inbound = Message(citizen_id=citizen.id, direction="in", msg_id=msg_id or f"m-{user}-{texts[0]}",
                          text="?", status="processed")
        s.add(inbound)
        s.flush()
        return [row.id for row in queue_replies(s, citizen=citizen, source=inbound, replies=[Reply(t) for t in texts])]


def row(services, outbox_id: int) -> Outbox:
    with services.database.session() as s:
        return s.get(Outbox, outbox_id)


def sent_texts(fake_zalo) -> list[str]:
    return [r.body["message"]["text"] for r in fake_zalo.delivered()]


def test_sent_row_records_zalo_message_id(services, fake_zalo):
    [outbox_id] = queue(services, ["xin chào"])
    assert delivery.deliver(services, outbox_id) == "sent"
    stored = row(services, outbox_id)
    assert (stored.status, stored.lease_until, stored.last_error) == ("sent", None, None)
    assert stored.zalo_message_id and stored.sent_at is not None
    assert delivery.deliver(services, outbox_id) == "done"
    assert sent_texts(fake_zalo) == ["xin chào"]


def test_killed_sender_row_is_resent_exactly_once_after_lease(services, fake_zalo):
    [outbox_id] = queue(services, ["trả lời"])
    assert delivery.claim(services, outbox_id) is not None  # a worker claims, then "dies"
    assert delivery.deliver(services, outbox_id) == "busy"  # its lease still holds
    assert delivery.due_outbox_ids(services) == []
    after_lease = utcnow() + delivery.LEASE + dt.timedelta(seconds=1)
    assert delivery.due_outbox_ids(services, now=after_lease) == [outbox_id]
    assert delivery.deliver(services, outbox_id, now=after_lease) == "sent"
    assert delivery.deliver(services, outbox_id, now=after_lease + LATER) == "done"
    assert sent_texts(fake_zalo) == ["trả lời"]


def test_api_down_then_back_delivers_everything_exactly_once(services, fake_zalo):
    ids = [i for n in range(4) for i in queue(services, [f"câu {n}a", f"câu {n}b"], user=f"u{n}")]
    fake_zalo.down()
    for outbox_id in ids:
        delivery.deliver(services, outbox_id)
    assert fake_zalo.delivered() == []
    assert {row(services, i).status for i in ids} == {"pending"}
    assert all(row(services, i).last_error for i in ids if row(services, i).attempts)
    fake_zalo.up()
    now = utcnow()
    for _ in range(3):  # sweeps, as the sweeper thread would run them
        now += LATER
        for outbox_id in delivery.due_outbox_ids(services, now=now):
            delivery.deliver(services, outbox_id, now=now)
    texts = sent_texts(fake_zalo)
    assert Counter(texts) == Counter(f"câu {n}{s}" for n in range(4) for s in "ab")
    for n in range(4):  # and in order within each answer
        assert texts.index(f"câu {n}a") < texts.index(f"câu {n}b")
    assert {row(services, i).status for i in ids} == {"sent"}


def test_retries_back_off_then_fail_visibly(services, fake_zalo, client):
    [outbox_id] = queue(services, ["thử lại"])
    fake_zalo.fail_next(100, -32)
    now = utcnow()
    assert delivery.deliver(services, outbox_id, now=now) == "retry"
    first = row(services, outbox_id)
    assert first.attempts == 1 and "-32" in first.last_error
    assert as_utc(first.next_attempt_at) > now
    for _ in range(services.settings.delivery_max_attempts * 2):
        now += LATER
        delivery.deliver(services, outbox_id, now=now)
    final = row(services, outbox_id)
    assert (final.status, final.attempts) == ("failed", services.settings.delivery_max_attempts)
    assert client.get("/healthz").get_json()["outbox_failed"] == 1


def test_backoff_doubles(services):
    base = services.settings.delivery_base_delay
    assert [delivery.backoff(services, n).total_seconds() for n in range(3)] == [base, base * 2, base * 4]


def test_permanent_error_fails_at_once_with_reason(services, fake_zalo, db):
    [outbox_id] = queue(services, ["không tới được"])
    fake_zalo.fail_next(1, -213)
    assert delivery.deliver(services, outbox_id) == "failed"
    stored = row(services, outbox_id)
    assert stored.status == "failed" and "-213" in stored.last_error and stored.attempts == 0
    with db.session() as s:
        assert s.get(Message, stored.message_id).status == "failed"
    assert delivery.due_outbox_ids(services, now=utcnow() + LATER) == []


def test_night_rule_waits_for_six_in_the_morning(services, fake_zalo):
    [outbox_id] = queue(services, ["ban đêm"])
    fake_zalo.fail_next(1, -234)
    before = utcnow()
    assert delivery.deliver(services, outbox_id) == "night"
    stored = row(services, outbox_id)
    due = as_utc(stored.next_attempt_at)
    local = due.astimezone(VIETNAM)
    assert stored.status == "pending" and (local.hour, local.minute) == (6, 0)
    assert before < due <= before + dt.timedelta(days=1)
    assert delivery.deliver(services, outbox_id, now=due - dt.timedelta(seconds=1)) == "busy"
    assert delivery.deliver(services, outbox_id, now=due) == "sent"


def test_later_reply_waits_for_earlier_one(services, fake_zalo):
    first, second = queue(services, ["một", "hai"])
    assert delivery.deliver(services, second) == "waiting"
    assert fake_zalo.sends == []
    assert delivery.deliver(services, first) == "sent"
    assert sent_texts(fake_zalo) == ["một", "hai"]


def test_lost_lease_does_not_overwrite_the_new_owner(services, fake_zalo):
    [outbox_id] = queue(services, ["lease"])
    lease = delivery.claim(services, outbox_id)
    stolen = delivery.claim(services, outbox_id, now=lease + dt.timedelta(seconds=1))
    assert stolen is not None
    assert delivery._record(services, row(services, outbox_id), lease, "sent", message_id="x") == "lost"
    assert row(services, outbox_id).status == "sending"


@pytest.mark.timeout(60)
def test_five_concurrent_senders_never_send_twice(services, fake_zalo):
    ids = [i for n in range(6) for i in queue(services, [f"r{n}-0", f"r{n}-1"], user=f"c{n}")]
    fake_zalo.fail_next(3, -32)  # a few retries in the mix
    start = threading.Barrier(5)

    def unfinished() -> bool:
        with services.database.session() as s:
            return s.scalar(select(Outbox.id).where(Outbox.status != "sent").limit(1)) is not None

    def sender() -> None:
        # The real clock for everyone: a shifted clock would (rightly) treat live leases as expired.
        start.wait()
        for _ in range(500):
            if not unfinished():
                return
            for outbox_id in ids:
                delivery.deliver(services, outbox_id)

    errors = run_in_threads(sender, 5)
    assert errors == []
    counts = Counter(sent_texts(fake_zalo))
    assert counts == Counter(f"r{n}-{k}" for n in range(6) for k in (0, 1))
    with services.database.session() as s:
        assert set(s.scalars(select(Outbox.status))) == {"sent"}
