"""The claim loop: threads woken by the webhook, polling for what nobody woke them for, surviving failures."""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json

import pytest
from sqlalchemy import select, update

from tests.conftest import signed_headers, wait_for
from tests.zalo_fixtures import load_payload
from webhooks import create_app, workers
from webhooks.inbox.answering import answer_next
from webhooks.inbox.intake import accept
from webhooks.storage.models import Message, Outbox, utcnow
from webhooks.zalo.events import parse_event


def outbox_statuses(db) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(Outbox.status).order_by(Outbox.id)))


@pytest.fixture
def threaded(settings, db, engines):
    """An app whose claim loop runs two threads that poll only every 30 s: what they do quickly, a wake-up did."""
    app = create_app({"SETTINGS": dataclasses.replace(settings, poll_seconds=30.0), "DATABASE": db,
                      "ENGINES": engines, "TESTING": True})
    yield app
    app.extensions["bot.workers"].stop()


def post(app, settings, payload):
    raw = json.dumps(payload, ensure_ascii=False).encode()
    return app.test_client().post("/webhooks/zalo", data=raw, headers=signed_headers(settings, raw, payload["timestamp"]))


@pytest.mark.timeout(60)
def test_the_webhook_wakes_the_threads_after_its_commit(threaded, settings, fake_zalo):
    threaded.extensions["bot.workers"].start()
    assert post(threaded, settings, load_payload("user_send_text")).status_code == 200
    assert wait_for(lambda: len(fake_zalo.delivered()) == 1, timeout=10)  # well before the 30 s poll


@pytest.mark.timeout(60)
def test_work_left_by_a_dead_process_is_picked_up_after_its_lease(settings, db, engines, fake_zalo, services):
    payload = load_payload("user_send_text")
    message_id = accept(db, parse_event(payload), payload).message_id
    other = dict(payload, message={"text": "phí bao nhiêu", "msg_id": "m-2"}, sender={"id": "someone-else"})
    accept(db, parse_event(other), other)
    long_ago = utcnow() - dt.timedelta(minutes=5)
    with db.transaction() as conn:  # a dead process claimed the first message...
        conn.execute(update(Message).where(Message.id == message_id).values(status="answering", lease_until=long_ago))
    assert answer_next(services) is not None  # ...and answered the second, then died sending its reply
    with db.transaction() as conn:
        conn.execute(update(Outbox).values(status="sending", lease_until=long_ago))
    app = create_app({"SETTINGS": dataclasses.replace(settings, poll_seconds=0.05), "DATABASE": db,
                      "ENGINES": engines, "TESTING": True})
    app.extensions["bot.workers"].start()
    try:
        assert wait_for(lambda: len(fake_zalo.delivered()) == 2)  # the message answered, the reply sent
    finally:
        app.extensions["bot.workers"].stop()
    with db.session() as s:
        assert s.get(Message, message_id).status == "processed"
    assert outbox_statuses(db) == ["sent"] * 2


@pytest.mark.timeout(60)
def test_an_outage_of_zalo_recovers_without_a_restart(settings, db, engines, fake_zalo):
    app = create_app({"SETTINGS": dataclasses.replace(settings, poll_seconds=0.05), "DATABASE": db,
                      "ENGINES": engines, "TESTING": True})
    fake_zalo.down()
    app.extensions["bot.workers"].start()
    try:
        post(app, settings, load_payload("user_send_text"))
        assert wait_for(lambda: len(fake_zalo.sends) >= 2)  # tried and retried while down
        fake_zalo.up()
        assert wait_for(lambda: outbox_statuses(db) == ["sent"])
    finally:
        app.extensions["bot.workers"].stop()
    assert len(fake_zalo.delivered()) == 1


@pytest.mark.timeout(60)
def test_a_failing_job_does_not_stop_the_loop(threaded, settings, fake_zalo, monkeypatch):
    real, calls = workers.answer_next, []

    def flaky(services, now=None):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return real(services, now)

    monkeypatch.setattr(workers, "answer_next", flaky)
    pool = threaded.extensions["bot.workers"]
    pool.poll = 0.05
    pool.start()
    post(threaded, settings, load_payload("user_send_text"))
    assert wait_for(lambda: len(fake_zalo.delivered()) == 1)


def test_stopped_threads_end(threaded):
    pool = threaded.extensions["bot.workers"]
    pool.start()
    threads = list(pool._threads)
    pool.stop()
    assert threads and not any(t.is_alive() for t in threads) and pool._threads == []


def test_worker_burst_runs_what_is_due_and_stops(settings, db, fake_zalo, capsys, post_event):
    from webhooks.cli import cmd_worker

    post_event(load_payload("user_send_text"))
    assert cmd_worker(argparse.Namespace(burst=True, threads=2), settings) == 0
    assert capsys.readouterr().out.strip() == "ran 2 job(s)"  # answered, then sent
    assert len(fake_zalo.delivered()) == 1
