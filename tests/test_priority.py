"""RequestGauge: background jobs wait while the server is busy acknowledging, never longer than max_wait."""
from __future__ import annotations

import threading
import time

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


def test_the_count_is_shared_with_forked_processes():
    import multiprocessing

    gauge = RequestGauge(max_wait=1)
    child = multiprocessing.get_context("fork").Process(target=gauge.started)
    child.start()
    child.join(10)
    assert gauge.active == 1  # a request in another server process counts here too
