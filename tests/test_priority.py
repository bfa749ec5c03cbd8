"""RequestGauge: background jobs wait while the server is busy acknowledging, never longer than max_wait."""
from __future__ import annotations

import multiprocessing
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from webhooks.priority import RequestGauge


def test_no_wait_when_idle_at_a_steady_rate_or_disabled():
    assert RequestGauge(max_wait=5).wait_quiet() == 0.0
    steady = RequestGauge(max_wait=5, busy_at=3)
    steady.started()
    steady.started()
    assert steady.wait_quiet() == 0.0 and steady.waits == 0  # two requests in progress: not a burst
    gauge = RequestGauge(max_wait=0, busy_at=1)
    gauge.started()
    assert gauge.wait_quiet() == 0.0  # 0 turns yielding off


def test_a_job_waits_until_the_request_is_answered():
    gauge = RequestGauge(max_wait=30, busy_at=2)
    gauge.started()
    gauge.started()
    threading.Timer(0.2, gauge.finished).start()
    waited = gauge.wait_quiet()
    assert gauge.active == 1 and waited >= 0.15  # it returned because the request ended, well before 30 s
    assert gauge.waits == 1


def _drive(gauge: RequestGauge, steps: list[tuple[int, float]]) -> threading.Thread:
    """Set the gauge's count to each value for its seconds, in a thread; 0 at the end."""
    def run() -> None:
        for count, seconds in steps + [(0, 0.0)]:
            while gauge.active < count:
                gauge.started()
            while gauge.active > count:
                gauge.finished()
            time.sleep(seconds)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_momentary_dips_in_a_burst_do_not_let_the_job_through():
    gauge = RequestGauge(max_wait=30, busy_at=4, settle=0.1)
    for _ in range(8):
        gauge.started()
    # 16 clients: 8 requests in progress, dropping to none for an instant between responses; 0.6 s
    _drive(gauge, [(8, 0.08), (0, 0.02)] * 6)
    waited = gauge.wait_quiet()
    assert 0.55 <= waited < 5  # went ahead after the burst, not at the first dip


def test_a_steady_rate_that_touches_the_threshold_now_and_then_does_not_hold_the_job():
    gauge = RequestGauge(max_wait=30, busy_at=4, settle=0.1)
    for _ in range(5):
        gauge.started()
    # one request in progress on average, a pile-up of five for 10 ms every 50 ms; for 3 s
    driver = _drive(gauge, [(5, 0.01), (1, 0.04)] * 60)
    waited = gauge.wait_quiet()
    assert waited < 0.5  # the mean over the window is low: not a burst
    driver.join(5)


def test_the_wait_is_bounded_under_a_sustained_burst():
    gauge = RequestGauge(max_wait=0.2, busy_at=1)
    gauge.started()  # never finishes: a burst that does not stop
    began = time.monotonic()
    gauge.wait_quiet()
    assert 0.15 <= time.monotonic() - began < 5  # gave up waiting: the job goes ahead


def test_middleware_counts_until_the_response_is_closed():
    gauge = RequestGauge(max_wait=1)
    seen = []

    def app(environ, start_response):
        seen.append(gauge.active)
        start_response("200 OK", [])
        return [b"ok"]

    body = gauge.middleware(app)({}, lambda *a: None)
    assert seen == [1] and gauge.active == 1  # still sending the body
    assert list(body) == [b"ok"]
    body.close()
    assert gauge.active == 0
    body.close()  # a second close changes nothing
    assert gauge.active == 0


def test_middleware_counts_a_failed_request_as_finished():
    gauge = RequestGauge(max_wait=1)

    def broken(environ, start_response):
        raise RuntimeError("boom")

    try:
        gauge.middleware(broken)({}, lambda *a: None)
    except RuntimeError:
        pass
    assert gauge.active == 0


@contextmanager
def child_serving(gauge: RequestGauge, requests: int) -> Iterator[None]:
    """A forked server process with `requests` in progress until the block ends; then it exits."""
    context = multiprocessing.get_context("fork")
    counted, leave = context.Event(), context.Event()

    def serve() -> None:
        for _ in range(requests):
            gauge.started()
        counted.set()
        leave.wait(10)

    child = context.Process(target=serve)
    child.start()
    try:
        assert counted.wait(10)
        yield
    finally:
        leave.set()
        child.join(10)


def test_the_count_is_shared_with_forked_processes_while_they_live():
    gauge = RequestGauge(max_wait=1)
    gauge.started()
    with child_serving(gauge, 2):
        assert gauge.active == 3  # the child's two count here; it did not inherit its parent's request
    assert gauge.active == 1  # a process that died mid-request no longer holds jobs back
    gauge.finished()
    assert gauge.active == 0


def test_a_dead_process_slot_is_taken_by_the_next():
    gauge = RequestGauge(max_wait=1, slots=1)
    first = multiprocessing.get_context("fork").Process(target=gauge.started)  # takes the only slot, dies mid-request
    first.start()
    first.join(10)
    assert gauge.active == 0
    with child_serving(gauge, 2):
        assert gauge.active == 2  # visible here: the dead process's slot was taken over, not lost


class FakeRedis:
    """The commands the beacon and the workers use; expiry in real time."""

    def __init__(self, broken: bool = False):
        self.broken, self.expires, self.sets, self.looks = broken, {}, 0, 0

    def set(self, key, value, px):
        if self.broken:
            raise ConnectionError("redis down")
        self.sets += 1
        self.expires[key] = time.monotonic() + px / 1000

    def exists(self, key):
        if self.broken:
            raise ConnectionError("redis down")
        return int(self.expires.get(key, 0) > time.monotonic())

    def pttl(self, key):
        self.looks += 1
        left = self.expires.get(key, 0) - time.monotonic() if self.exists(key) else None
        return -2 if left is None else max(1, int(left * 1000))


def test_beacon_marks_busy_only_while_busy_and_the_mark_expires():
    from webhooks.priority import BUSY_KEY, BusyBeacon, wait_web_quiet

    gauge, redis = RequestGauge(max_wait=5, busy_at=2), FakeRedis()
    beacon = BusyBeacon(gauge, redis)
    gauge.started()
    assert beacon.beat() is False and redis.sets == 0  # one request: quiet, nothing written
    gauge.started()
    assert beacon.beat() is False and redis.sets == 0  # busy for one look only: a blip, nothing written
    gauge.finished()
    assert beacon.beat() is False  # quiet again in between: the next busy look starts over
    gauge.started()
    assert beacon.beat() is False and redis.sets == 0
    assert beacon.beat() is True and redis.exists(BUSY_KEY)  # busy two looks in a row: marked
    began = time.monotonic()
    waited = wait_web_quiet(redis, max_wait=5)
    assert 0.15 <= waited < 2 and time.monotonic() - began < 2  # the mark expired (no more beats): it went on
    assert wait_web_quiet(redis, max_wait=5) < 0.05  # quiet: no wait


def test_worker_waits_while_the_beacon_runs_but_never_longer_than_max_wait():
    from webhooks.priority import BusyBeacon, wait_web_quiet

    gauge, redis = RequestGauge(max_wait=5, busy_at=1), FakeRedis()
    beacon = BusyBeacon(gauge, redis)
    gauge.started()
    beacon.start()
    try:
        time.sleep(3 * BusyBeacon.EVERY)  # two busy looks in a row
        redis.looks = 0
        assert 0.45 <= wait_web_quiet(redis, max_wait=0.5) < 1.5  # busy the whole time: bounded by max_wait
        assert redis.looks <= 8  # it sleeps until the mark would expire: a look per renewal, not a busy poll
        gauge.finished()
        time.sleep(BusyBeacon.TTL_MS / 1000 + 0.1)
        assert wait_web_quiet(redis, max_wait=5) < 0.05
    finally:
        beacon.stop()


def test_redis_away_means_no_wait_and_no_crash():
    from webhooks.priority import BusyBeacon, wait_web_quiet

    gauge, redis = RequestGauge(max_wait=5, busy_at=1), FakeRedis(broken=True)
    gauge.started()
    beacon = BusyBeacon(gauge, redis)
    beacon.start()
    time.sleep(0.15)  # the beacon thread survives failing beats
    assert beacon._thread is not None and beacon._thread.is_alive()
    beacon.stop()
    assert wait_web_quiet(redis, max_wait=5) < 0.05


def test_a_workers_threads_take_turns_waiting_out_a_burst():
    from webhooks.priority import BUSY_KEY, QuietTurns
    from tests.conftest import run_in_threads

    redis = FakeRedis()
    redis.set(BUSY_KEY, b"1", px=10_000)  # a burst outlasting the test
    turns, ended = QuietTurns(redis, max_wait=0.2), []
    began = time.monotonic()

    def job() -> None:
        turns()
        ended.append(time.monotonic() - began)

    assert run_in_threads(job, 3) == []
    # One message per max_wait for the whole process: the threads went through one after another.
    assert sorted(ended)[0] >= 0.18 and sorted(ended)[1] >= 0.38 and sorted(ended)[2] >= 0.58
    redis.expires.clear()  # the burst is over: a turn is one look
    assert turns() < 0.05
