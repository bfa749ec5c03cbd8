"""Keep-alive connections spread evenly over gunicorn's worker processes (webhooks/balance.py)."""
from __future__ import annotations

import http.client
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from webhooks.balance import BalancedWorker, ConnectionLedger, hooks
from webhooks.bench_servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def test_a_worker_is_ahead_only_of_a_live_sibling_holding_fewer():
    ledger = ConnectionLedger(slots=4)
    a, b = ledger.claim(), ledger.claim()
    assert (a, b) == (0, 1)
    ledger.record(a, 3)
    ledger.record(b, 2)
    assert ledger.ahead(a, 3) and not ledger.ahead(b, 2)
    ledger.record(b, 3)
    assert not ledger.ahead(a, 3)  # level: both accept
    ledger.record(b, 0)
    ledger.beats[b] = time.monotonic() - ConnectionLedger.STALE - 1  # a sibling whose loop stopped turning
    assert not ledger.ahead(a, 3)
    ledger.beats[b] = time.monotonic()
    ledger.release(b)  # exited: its slot no longer counts, and is free again
    assert not ledger.ahead(a, 3) and ledger.claim() == b


def test_a_full_ledger_hands_out_no_slot():
    ledger = ConnectionLedger(slots=1)
    assert ledger.claim() == 0 and ledger.claim() == -1
    ledger.record(-1, 5)  # a worker without a slot records nothing
    assert list(ledger.counts) == [0]


def _worker(ledger: ConnectionLedger | None, cap: int = 1000) -> BalancedWorker:
    # The properties only; gunicorn's own __init__ needs a whole arbiter.
    worker = object.__new__(BalancedWorker)
    worker.worker_connections = cap
    worker.nr_conns = 0
    if ledger is not None:
        hooks(ledger)["pre_fork"](None, worker)  # what the master does before forking it
    return worker


def test_the_worker_stops_accepting_while_ahead_and_resumes_when_level():
    ledger = ConnectionLedger(slots=4)
    mine, sibling = _worker(ledger), _worker(ledger)
    mine.nr_conns = 2
    sibling.nr_conns = 1
    assert list(ledger.counts[:2]) == [2, 1]
    # gthread accepts while nr_conns < worker_connections
    assert not mine.nr_conns < mine.worker_connections
    assert sibling.nr_conns < sibling.worker_connections
    sibling.nr_conns = 2
    assert mine.nr_conns < mine.worker_connections == 1000
    hooks(ledger)["child_exit"](None, sibling)
    mine.nr_conns = 7
    assert mine.worker_connections == 1000  # alone now


def test_without_a_ledger_the_cap_is_gunicorns():
    worker = _worker(None, cap=50)
    worker.nr_conns = 10
    assert worker.worker_connections == 50


_SERVER = textwrap.dedent("""
    import os, sys
    from flask import Flask
    from webhooks.cli import BotServer

    app = Flask("balance")
    app.get("/pid")(lambda: str(os.getpid()))
    def noop(server, worker):
        pass

    BotServer(app, {"bind": f"127.0.0.1:{sys.argv[1]}", "workers": 2, "threads": 2, "accesslog": None,
                    "post_fork": noop, "worker_exit": noop}).run()
""")


def _pid(conn: http.client.HTTPConnection) -> str:
    conn.request("GET", "/pid")
    response = conn.getresponse()
    assert response.status == 200
    return response.read().decode()


@pytest.fixture
def two_workers():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", _SERVER, str(port)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    pids: set[str] = set()
    while len(pids) < 2:  # both workers booted and answering
        assert time.monotonic() < deadline and process.poll() is None, "the test server did not start"
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            pids.add(_pid(probe))
            probe.close()
        except OSError:
            time.sleep(0.1)
    time.sleep(0.5)  # the workers see the probes' connections closed: both start from none
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_keep_alive_connections_split_evenly_and_refill_the_emptier_worker(two_workers):
    port = two_workers
    open_conns = []
    for _ in range(10):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        open_conns.append((conn, _pid(conn)))
        time.sleep(0.02)  # let the worker that took it see its new count
    by_pid: dict[str, list[http.client.HTTPConnection]] = {}
    for conn, pid in open_conns:
        by_pid.setdefault(pid, []).append(conn)
    assert sorted(len(c) for c in by_pid.values()) == [5, 5]
    # A client drops all its connections to one worker: the new ones go to that worker.
    emptied, kept = sorted(by_pid)
    for conn in by_pid[emptied]:
        conn.close()
    time.sleep(1.3)  # the emptied worker sees the closes, its idle sibling its own lead (gthread wakes each second)
    fresh = []
    for _ in range(5):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        fresh.append(_pid(conn))
        open_conns.append((conn, fresh[-1]))
        time.sleep(0.02)
    assert fresh == [emptied] * 5
    for conn, _pid_ in open_conns:
        conn.close()
