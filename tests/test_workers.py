"""Dispatch modes: in-process threads with the sweeper, and the Huey queue on a real Redis (TEST_REDIS_URL)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import threading
import time
import uuid

import pytest
from sqlalchemy import select, update

from tests.conftest import wait_for
from tests.zalo_fixtures import load_payload
from webhooks import create_app, dispatch, jobs
from webhooks.models import Message, Outbox, utcnow
from webhooks.intake import accept_event
from webhooks.zalo import parse_event

TEST_REDIS = os.environ.get("TEST_REDIS_URL", "")


def outbox_statuses(db) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(Outbox.status).order_by(Outbox.id)))


@pytest.fixture
def threaded_app(settings, db, engines):
    app = create_app({"SETTINGS": settings, "DATABASE": db, "ENGINES": engines, "DISPATCH_MODE": "threads",
                      "TESTING": True})
    yield app
    dispatch.get_dispatcher(app).stop()


def test_create_dispatcher_picks_mode(services, settings):
    assert isinstance(dispatch.create_dispatcher(services, "threads"), dispatch.ThreadDispatcher)
    assert isinstance(dispatch.create_dispatcher(services, "manual"), dispatch.ManualDispatcher)
    redis_services = dataclasses.replace(services, settings=dataclasses.replace(settings, redis_url="redis://x"))
    assert isinstance(dispatch.create_dispatcher(redis_services), dispatch.RedisDispatcher)
    with pytest.raises(ValueError):
        dispatch.create_dispatcher(services, "carrier-pigeon")


@pytest.mark.timeout(60)
def test_threads_answer_after_the_response(threaded_app, post_event_to, fake_zalo):
    dispatch.get_dispatcher(threaded_app).start()
    assert post_event_to(threaded_app, load_payload("user_send_text")).status_code == 200
    assert wait_for(lambda: len(fake_zalo.delivered()) == 1)


@pytest.mark.timeout(60)
def test_sweeper_recovers_work_left_by_a_dead_process(threaded_app, db, fake_zalo):
    services = dispatch.get_services(threaded_app)
    payload = load_payload("user_send_text")
    with db.session() as s:  # stored by a web process that died before handing it over
        message_id = accept_event(s.connection(), parse_event(payload), payload).message_id
        s.execute(update(Message).where(Message.id == message_id)
                  .values(created_at=utcnow() - dt.timedelta(minutes=5)))
    other = dict(payload, message={"text": "phí bao nhiêu", "msg_id": "m-2"})
    with db.session() as s:  # answered, claimed by a sender that died mid-send
        other_id = accept_event(s.connection(), parse_event(other), other).message_id
    [outbox_id] = jobs.process_inbound(other_id, dataclasses.replace(services, dispatcher=None))
    with db.session() as s:
        s.execute(update(Outbox).where(Outbox.id == outbox_id)
                  .values(status="sending", lease_until=utcnow() - dt.timedelta(seconds=1)))
    dispatch.get_dispatcher(threaded_app).start()  # the startup sweep picks both up
    assert wait_for(lambda: outbox_statuses(db) == ["sent", "sent"])
    assert len(fake_zalo.delivered()) == 2
    with db.session() as s:
        assert s.get(Message, message_id).status == "processed"


@pytest.mark.timeout(60)
def test_api_outage_recovers_without_restart(threaded_app, post_event_to, fake_zalo, db):
    fake_zalo.down()
    dispatch.get_dispatcher(threaded_app).start()
    post_event_to(threaded_app, load_payload("user_send_text"))
    assert wait_for(lambda: len(fake_zalo.sends) >= 2)  # tried and retried while down
    fake_zalo.up()
    assert wait_for(lambda: outbox_statuses(db) == ["sent"])
    assert len(fake_zalo.delivered()) == 1


def test_thread_dispatcher_drops_duplicate_submissions(services):
    dispatcher = dispatch.ThreadDispatcher(services, workers=1)
    dispatcher.submit_delivery(7)
    dispatcher.submit_delivery(7)
    dispatcher.submit_inbound(7)
    assert dispatcher._queue.qsize() == 2


@pytest.mark.skipif(not TEST_REDIS, reason="TEST_REDIS_URL not set: no Redis to run the queue against")
@pytest.mark.timeout(60)
def test_redis_mode_enqueues_and_a_worker_answers(settings, db, engines, fake_zalo, post_event_to):
    from webhooks.task_queue import build_queue

    redis_settings = dataclasses.replace(settings, redis_url=TEST_REDIS)
    app = create_app({"SETTINGS": redis_settings, "DATABASE": db, "ENGINES": engines, "TESTING": True})
    dispatcher = dispatch.get_dispatcher(app)
    assert isinstance(dispatcher, dispatch.RedisDispatcher)
    dispatcher.queue = build_queue(TEST_REDIS, name=f"zalo-bot-test-{uuid.uuid4().hex[:8]}", blocking=False)
    try:
        post_event_to(app, load_payload("user_send_text"))
        assert dispatcher.queue.pending() == 1 and fake_zalo.sends == []
        jobs.configure(dispatch.get_services(app))
        assert dispatcher.queue.run_until_empty() == 1
        assert len(fake_zalo.delivered()) == 1
        with db.session() as s:
            assert s.scalars(select(Outbox.status)).one() == "sent"
    finally:
        jobs.configure(None)
        dispatcher.queue.flush()


@pytest.fixture
def post_event_to(settings):
    """post_event_to(app, payload): a signed webhook POST to another app than the default one."""
    import json

    from tests.conftest import signed_headers

    def post(app, payload):
        raw = json.dumps(payload, ensure_ascii=False).encode()
        return app.test_client().post("/webhooks/zalo", data=raw,
                                      headers=signed_headers(settings, raw, payload["timestamp"]))

    return post


def test_sweeper_thread_stops(services):
    calls = threading.Event()
    sweeper = dispatch.Sweeper(services, lambda i: calls.set(), lambda i: calls.set(), interval=0.01)
    sweeper.start()
    sweeper.stop()
    assert sweeper._thread is None


def test_inbound_job_sends_its_replies_itself(post_event, app_dispatcher, fake_zalo, db):
    post_event(load_payload("user_send_text"))
    app_dispatcher.drain()
    assert [kind for kind, _ in app_dispatcher.submitted] == ["inbound"]  # no second job per reply
    assert len(fake_zalo.delivered()) >= 1
    assert set(outbox_statuses(db)) == {"sent"}


def test_inbound_job_queues_its_replies_when_direct_delivery_breaks(post_event, app_dispatcher, services, fake_zalo,
                                                                    db, monkeypatch):
    real_send, calls = jobs.delivery.send_claimed, []

    def flaky(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return real_send(*args, **kwargs)

    monkeypatch.setattr(jobs.delivery, "send_claimed", flaky)
    post_event(load_payload("user_send_text"))
    app_dispatcher.drain()
    assert [kind for kind, _ in app_dispatcher.submitted][:2] == ["inbound", "delivery"]  # handed to the queue
    # The first reply was written leased to the broken job: nobody sends it until that lease runs out.
    assert outbox_statuses(db)[0] == "sending" and fake_zalo.delivered() == []
    after_lease = utcnow() + jobs.delivery.LEASE + dt.timedelta(seconds=1)
    for outbox_id in jobs.delivery.due_outbox_ids(services, now=after_lease):
        jobs.delivery.deliver(services, outbox_id, now=after_lease)
    assert set(outbox_statuses(db)) == {"sent"}
    assert len(fake_zalo.delivered()) == len(outbox_statuses(db))  # once each


def test_coalescer_passes_ids_on_at_once_when_idle_and_gathers_them_within_a_window():
    flushed: list[list[int]] = []
    done = threading.Event()

    def flush(ids: list[int]) -> None:
        flushed.append(ids)
        if sum(map(len, flushed)) == 4:
            done.set()

    coalescer = dispatch.Coalescer(flush, window=0.3)
    coalescer.add([1])  # idle: straight through
    assert flushed == [[1]]
    coalescer.add([2])
    coalescer.add([3, 4])  # within the window: gathered into one later job
    assert flushed == [[1]]
    assert done.wait(10)
    assert flushed == [[1], [2, 3, 4]]


def test_batch_job_pauses_before_each_message(services, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(jobs, "process_inbound", lambda message_id, _services=None: calls.append(f"answer {message_id}"))
    paused = dataclasses.replace(services, pause=lambda: calls.append("pause"))
    jobs.process_inbound_many([7, 8], paused)
    assert calls == ["pause", "answer 7", "pause", "answer 8"]  # a busy web tier is looked at between messages


def test_queued_jobs_carry_a_bounded_number_of_messages(services):
    enqueued: list[tuple[str, object]] = []
    fake = dispatch.RedisDispatcher.__new__(dispatch.RedisDispatcher)
    fake._enqueue = lambda func, ids: enqueued.append((func, ids))  # type: ignore[method-assign]
    fake.submit_inbound = lambda message_id: enqueued.append(("one", message_id))  # type: ignore[method-assign]
    size = dispatch.RedisDispatcher.JOB_MESSAGES
    fake._enqueue_inbound(list(range(2 * size + 1)))
    assert [len(ids) if isinstance(ids, list) else 1 for _, ids in enqueued] == [size, size, 1]
    assert [i for _, ids in enqueued for i in (ids if isinstance(ids, list) else [ids])] == list(range(2 * size + 1))


def test_coalescer_holds_ids_while_jobs_wait_for_a_worker_then_passes_them_on_together():
    flushed: list[list[int]] = []
    waiting = [1]  # one job still queued
    done = threading.Event()

    def flush(ids: list[int]) -> None:
        flushed.append(ids)
        done.set()

    coalescer = dispatch.Coalescer(flush, window=0.02, backlog=lambda: waiting[0], hold_max=30)
    coalescer._last = time.monotonic()  # a flush just happened: the next ids are gathered
    coalescer.add([1])
    time.sleep(0.2)  # many windows, but the queued job is still waiting
    coalescer.add([2, 3])
    assert flushed == [] and coalescer.held > 1
    waiting[0] = 0  # a worker took it
    assert done.wait(10)
    assert flushed == [[1, 2, 3]]


@pytest.mark.parametrize("backlog, limit", [
    (lambda: 1, {"hold_max": 0.05}),                # held too long: passed on anyway
    (lambda: 1, {"max_ids": 3, "hold_max": 30}),    # a full job's worth: passed on
    (lambda: 1 / 0, {"hold_max": 30}),              # the queue cannot be read: not held
])
def test_coalescer_never_holds_ids_for_ever(backlog, limit):
    done = threading.Event()
    flushed: list[list[int]] = []
    coalescer = dispatch.Coalescer(lambda ids: (flushed.append(ids), done.set()), window=0.02, backlog=backlog, **limit)
    coalescer._last = time.monotonic()
    coalescer.add([1, 2, 3])
    assert done.wait(10)
    assert flushed == [[1, 2, 3]]


def test_redis_away_at_enqueue_loses_nothing_the_worker_sweeper_answers_it(settings, db, engines, fake_zalo,
                                                                          post_event_to, caplog):
    dead = dataclasses.replace(settings, redis_url="redis://127.0.0.1:1/0", enqueue_window=0)  # nothing listens
    app = create_app({"SETTINGS": dead, "DATABASE": db, "ENGINES": engines, "TESTING": True})
    assert set(dispatch.get_dispatcher(app).queue.tasks) == {"process_inbound", "process_inbound_many", "deliver"}
    assert post_event_to(app, load_payload("user_send_text")).status_code == 200  # stored: Zalo need not retry
    assert "could not enqueue process_inbound" in caplog.text
    with db.session() as s:
        message_id = s.scalars(select(Message.id).where(Message.direction == "in")).one()
        s.execute(update(Message).where(Message.id == message_id).values(created_at=utcnow() - dt.timedelta(minutes=5)))
    services = dataclasses.replace(dispatch.get_services(app), dispatcher=dispatch.ManualDispatcher(
        dispatch.get_services(app)))
    sweeper = dispatch.Sweeper(services, lambda i: jobs.process_inbound(i, services),
                               lambda i: jobs.deliver(i, services))
    assert sweeper.sweep_once() == 1  # what `python -m bot worker` runs next to the queue
    assert len(fake_zalo.delivered()) == 1
