"""Outbox delivery against FakeZalo: leases, per-citizen order, retries through outages, failures with reasons."""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import Counter

import pytest
from sqlalchemy import insert, select

from bot.replies import Reply
from tests.conftest import run_in_threads
from webhooks.outbox import delivery
from webhooks.outbox.delivery import deliver_next
from webhooks.outbox.writing import as_utc, write_replies
from webhooks.storage.citizens import upsert_citizen_id
from webhooks.storage.models import Message, Outbox, utcnow
from webhooks.zalo.api import VIETNAM

LATER = dt.timedelta(hours=1)  # far past any backoff used here: the rows are due again
DAY = dt.timedelta(days=1)


def queue(services, texts: list[str], user: str = "citizen-1", msg_id: str | None = None,
          expires_at: dt.datetime | None = None) -> list[int]:
    """An inbound message of `user` and bot replies `texts` to it in the outbox; their ids."""
    with services.database.transaction() as conn:
        citizen_id = upsert_citizen_id(conn, user, interacted=True)
        inbound = conn.execute(insert(Message).values(citizen_id=citizen_id, direction="in", text="?",
                                                      msg_id=msg_id or f"m-{user}-{texts[0]}", status="processed")
                               .returning(Message.id)).scalar_one()
        return write_replies(conn, citizen_id=citizen_id, zalo_id=user, source_id=inbound,
                             replies=[Reply(t) for t in texts], expires_at=expires_at or utcnow() + DAY)


def row(services, outbox_id: int) -> Outbox:
    with services.database.session() as s:
        return s.get(Outbox, outbox_id)


def sent_texts(fake_zalo) -> list[str]:
    return [r.body["message"]["text"] for r in fake_zalo.delivered()]


def run_due(services, now: dt.datetime) -> list[str]:
    """Every send due at `now`, as the claim loop would run them."""
    outcomes = []
    while (outcome := deliver_next(services, now)) is not None:
        outcomes.append(outcome)
    return outcomes


def test_sent_row_records_zalo_message_id(services, fake_zalo):
    [outbox_id] = queue(services, ["xin chào"])
    assert deliver_next(services) == "sent"
    stored = row(services, outbox_id)
    assert (stored.status, stored.lease_until, stored.last_error) == ("sent", None, None)
    assert stored.zalo_message_id and stored.sent_at is not None
    assert deliver_next(services, utcnow() + LATER) is None
    assert sent_texts(fake_zalo) == ["xin chào"]


def test_killed_sender_row_is_resent_exactly_once_after_lease(services, fake_zalo, monkeypatch):
    [outbox_id] = queue(services, ["trả lời"])
    monkeypatch.setattr(delivery, "_attempt", lambda *_: (_ for _ in ()).throw(SystemExit("killed")))
    with pytest.raises(SystemExit):  # the sender claims, then its process dies
        deliver_next(services)
    monkeypatch.undo()
    assert deliver_next(services) is None  # its lease still holds
    after_lease = utcnow() + dt.timedelta(seconds=services.settings.lease_seconds + 1)
    assert run_due(services, after_lease) == ["sent"]
    assert run_due(services, after_lease + LATER) == []
    assert sent_texts(fake_zalo) == ["trả lời"] and row(services, outbox_id).status == "sent"


def test_a_citizens_replies_leave_in_order_across_messages(services, fake_zalo):
    first = queue(services, ["một", "hai"], msg_id="q1")
    later = queue(services, ["ba"], msg_id="q2")
    other = queue(services, ["khác"], user="citizen-2")
    fake_zalo.fail_next(1, -32)  # "một" must wait for a retry: nothing of this citizen overtakes it
    now = utcnow()
    assert run_due(services, now) == ["retry", "sent"]  # "một" retried, the other citizen's reply sent
    assert sent_texts(fake_zalo) == ["khác"]
    assert run_due(services, now + LATER) == ["sent", "sent", "sent"]
    assert sent_texts(fake_zalo) == ["khác", "một", "hai", "ba"]
    assert {row(services, i).status for i in first + later + other} == {"sent"}


@pytest.mark.parametrize("attempts, seconds", [(0, 1), (1, 2), (4, 16), (8, 256), (9, 300), (40, 300)])
def test_backoff_doubles_up_to_the_cap(attempts, seconds):
    from webhooks.outbox.retries import backoff

    assert backoff(attempts, base=1.0, cap=300.0) == dt.timedelta(seconds=seconds)


def _slow_retries(services):
    return dataclasses.replace(services, settings=dataclasses.replace(services.settings, retry_base=1.0, retry_cap=300.0))


@pytest.mark.parametrize("fault", ["down", "refresh"])
@pytest.mark.timeout(120)
def test_zalo_away_for_five_minutes_then_every_reply_goes_once(services, fake_zalo, fault):
    services = _slow_retries(services)
    ids = [i for n in range(3) for i in queue(services, [f"câu {n}a", f"câu {n}b"], user=f"u{n}")]
    if fault == "down":
        fake_zalo.down()
    else:  # the access token is refused, and refreshing it fails
        fake_zalo.expire_access_token()
        fake_zalo.down(oauth_only=True)
    start = now = utcnow()
    while now < start + dt.timedelta(minutes=5):
        assert set(run_due(services, now)) <= {"retry"}
        now += dt.timedelta(seconds=5)
    assert fake_zalo.delivered() == [] and {row(services, i).status for i in ids} == {"pending"}
    assert all(row(services, i).last_error for i in ids if row(services, i).attempts)
    fake_zalo.up()
    for _ in range(70):  # the capped backoff brings every row back within five minutes
        now += dt.timedelta(seconds=5)
        run_due(services, now)
    texts = sent_texts(fake_zalo)
    assert Counter(texts) == Counter(f"câu {n}{s}" for n in range(3) for s in "ab")
    assert all(texts.index(f"câu {n}a") < texts.index(f"câu {n}b") for n in range(3))
    assert {row(services, i).status for i in ids} == {"sent"}


STATUS_FAULTS = [(status, body) for status in (500, 502, 503)
                 for body in (b'{"error": 500}', b'{"error": -1, "message": "busy"}', b"<html>bad gateway</html>", b"")]


@pytest.mark.parametrize("fault", [
    *[lambda z, s=s, b=b: z.http_status_next(1, s, body=b) for s, b in STATUS_FAULTS],
    lambda z: z.http_status_next(1, 408), lambda z: z.http_status_next(1, 429, body=b'{"error": -32}'),
    lambda z: z.delay_next(1, 5.0), lambda z: z.drop_next(1), lambda z: z.fail_next(1, -32),
    lambda z: z.fail_next(1, -211), lambda z: z.fail_next(2, -216),
], ids=[*(f"{s}-{b[:12].decode()}" for s, b in STATUS_FAULTS), "408", "429", "timeout", "dropped", "rate", "quota",
        "token"])
def test_transient_faults_are_retried_whatever_the_body_says(services, fake_zalo, fault):
    [outbox_id] = queue(services, ["thử lại"])
    fault(fake_zalo)
    now = utcnow()
    assert run_due(services, now) == ["retry"]
    stored = row(services, outbox_id)
    assert (stored.status, stored.attempts) == ("pending", 1) and stored.last_error
    assert as_utc(stored.next_attempt_at) > now
    assert run_due(services, now + LATER) == ["sent"]
    assert sent_texts(fake_zalo) == ["thử lại"]


def test_an_unknown_code_is_tried_a_few_times_then_fails_with_its_reason(services, fake_zalo, client):
    from webhooks.outbox.retries import UNKNOWN_TRIES

    [outbox_id] = queue(services, ["mã lạ"])
    fake_zalo.fail_next(100, -999)
    now, outcomes = utcnow(), []
    for _ in range(UNKNOWN_TRIES + 2):
        outcomes += run_due(services, now)
        now += LATER
    assert outcomes == ["unknown"] * (UNKNOWN_TRIES - 1) + ["failed"]
    final = row(services, outbox_id)
    assert (final.status, final.attempts) == ("failed", UNKNOWN_TRIES) and "-999" in final.last_error
    assert client.get("/healthz").get_json()["outbox_failed"] == 1


def test_retries_stop_at_the_replys_deadline_with_the_reason(services, fake_zalo, db):
    now = utcnow()
    [outbox_id] = queue(services, ["muộn"], expires_at=now + dt.timedelta(minutes=10))
    fake_zalo.down()
    outcomes = []
    for step in range(0, 3600, 30):
        outcomes += run_due(_slow_retries(services), now + dt.timedelta(seconds=step))
    assert outcomes[-1] == "failed" and set(outcomes[:-1]) == {"retry"}
    stored = row(services, outbox_id)
    assert stored.status == "failed" and stored.last_error.startswith("Hết hạn gửi")
    with db.session() as s:
        assert s.get(Message, stored.message_id).status == "failed"


def test_a_reply_past_its_deadline_is_failed_without_sending(services, fake_zalo):
    [outbox_id] = queue(services, ["quá hạn"], expires_at=utcnow() - dt.timedelta(seconds=1))
    assert deliver_next(services) == "failed"
    assert fake_zalo.sends == [] and row(services, outbox_id).last_error.startswith("Hết hạn gửi")


def test_permanent_error_fails_at_once_with_reason(services, fake_zalo, db):
    [outbox_id] = queue(services, ["không tới được"])
    fake_zalo.fail_next(1, -213)
    assert deliver_next(services) == "failed"
    stored = row(services, outbox_id)
    assert stored.status == "failed" and "-213" in stored.last_error and stored.attempts == 0
    with db.session() as s:
        assert s.get(Message, stored.message_id).status == "failed"
    assert run_due(services, utcnow() + LATER) == []


def test_night_rule_waits_for_six_in_the_morning(services, fake_zalo):
    [outbox_id] = queue(services, ["ban đêm"], expires_at=utcnow() + 2 * DAY)
    fake_zalo.fail_next(1, -234)
    before = utcnow()
    assert deliver_next(services) == "night"
    stored = row(services, outbox_id)
    due = as_utc(stored.next_attempt_at)
    assert stored.status == "pending" and (due.astimezone(VIETNAM).hour, due.minute) == (6, 0)
    assert before < due <= before + DAY and stored.attempts == 0
    assert run_due(services, due - dt.timedelta(seconds=1)) == []
    assert run_due(services, due) == ["sent"]


def test_lost_lease_does_not_overwrite_the_new_owner(services, fake_zalo, monkeypatch):
    [outbox_id] = queue(services, ["lease"])
    real, stolen = delivery._attempt, []

    def slow_attempt(services_, found, now):
        # While this sender waits on Zalo past its lease, another takes the row over.
        monkeypatch.setattr(delivery, "_attempt", real)
        stolen.append(deliver_next(services, now + dt.timedelta(seconds=services.settings.lease_seconds + 1)))
        return real(services_, found, now)

    monkeypatch.setattr(delivery, "_attempt", slow_attempt)
    outcome = deliver_next(services)
    monkeypatch.undo()
    assert (outcome, stolen) == ("lost", ["sent"])
    assert row(services, outbox_id).status == "sent"


@pytest.mark.timeout(60)
def test_five_concurrent_senders_never_send_twice(services, fake_zalo):
    ids = [i for n in range(6) for i in queue(services, [f"r{n}-0", f"r{n}-1"], user=f"c{n}")]
    fake_zalo.fail_next(3, -32)  # a few retries in the mix
    start = threading.Barrier(5)

    def unfinished() -> bool:
        with services.database.session() as s:
            return s.scalar(select(Outbox.id).where(Outbox.status != "sent").limit(1)) is not None

    def sender() -> None:
        start.wait()
        for _ in range(500):
            if not unfinished():
                return
            run_due(services, utcnow() + LATER)  # every retry due: they race for the same rows

    assert run_in_threads(sender, 5) == []
    assert Counter(sent_texts(fake_zalo)) == Counter(f"r{n}-{k}" for n in range(6) for k in (0, 1))
    assert {row(services, i).status for i in ids} == {"sent"}
