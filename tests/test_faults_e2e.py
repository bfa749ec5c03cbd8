"""Faults through the real server: kill -9 of a web process or a worker mid-stream, the database gone for
10 s, a withdrawal racing its citizen's message, slow clients. Every message that got a 200 is answered."""
from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Iterator

import pytest
import requests
from sqlalchemy import func, select

from bot.state import MemoryStateStore
from tests.conftest import wait_for
from tests.fake_zalo import FakeZalo
from tests.live import (NGINX, OA_SECRET, Processes, TcpProxy, free_port, nginx_config, pg_schema, service_env,
                        signed, text_event, wait_healthy)
from webhooks.storage.engine import Database
from webhooks.storage.models import Citizen, Message, Outbox

TEST_PG = os.environ.get("TEST_DATABASE_URL", "")
NEEDS_PG = pytest.mark.skipif(not TEST_PG, reason="TEST_DATABASE_URL not set: workers and outages run on PostgreSQL")
TEXT = "phí làm căn cước"
FAST_RECLAIM = {"BOT_LEASE_SECONDS": "8"}  # a dead process's claims come back in seconds, not a minute


class Service:
    """`serve` (and `worker`s) on one database, restartable on the same port; FakeZalo echoing to it."""

    def __init__(self, stack: ExitStack, tmp: Path, database_url: str, workers: int = 0):
        self.fake = stack.enter_context(FakeZalo())
        self.port, self.database_url = free_port(), database_url
        self.base = f"http://127.0.0.1:{self.port}"
        self.fake.echo_to(self.base + "/webhooks/zalo", OA_SECRET)
        extra = dict(FAST_RECLAIM, **({"BOT_ANSWER_THREADS": "0"} if workers else {}))
        self.env = service_env(self.fake, self.port, database_url, **extra)
        self.procs = Processes(tmp)
        stack.callback(self.procs.stop_all)
        self.web = self.start_web()
        self.workers = [self.start_worker() for _ in range(workers)]

    def start_web(self):
        process = self.procs.start("serve", ["-m", "bot", "serve", "--host", "127.0.0.1", "--workers", "2"], self.env)
        assert wait_healthy(self.base, process), self.procs.output(process)
        return process

    def start_worker(self):
        return self.procs.start("worker", ["-m", "bot", "worker", "--threads", "2"], self.env)

    def count(self, model, *where) -> int:
        database = Database(self.database_url)
        try:
            with database.session() as s:
                return s.scalar(select(func.count()).select_from(model).where(*where))
        finally:
            database.dispose()


class Stream:
    """One message per new citizen at `rate`/s; each posted again until it gets a 200, as Zalo retries."""

    def __init__(self, service: Service, count: int, rate: float, tag: str):
        self.service, self.count, self.rate, self.tag = service, count, rate, tag
        self.acknowledged: list[str] = []
        self.refused = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _post_until_acknowledged(self, n: int) -> None:
        user = f"{self.tag}-{n}"
        body, headers = signed(self.service.fake.app_id, text_event(self.service.fake.app_id, user, f"{user}-m", TEXT))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.post(self.service.base + "/webhooks/zalo", data=body, headers=headers,
                                 timeout=2).status_code == 200:
                    self.acknowledged.append(user)
                    return
            except requests.RequestException:
                pass
            self.refused += 1
            time.sleep(0.2)

    def _run(self) -> None:
        senders = []
        for n in range(self.count):
            sender = threading.Thread(target=self._post_until_acknowledged, args=(n,), daemon=True)
            sender.start()
            senders.append(sender)
            time.sleep(1 / self.rate)
        for sender in senders:
            sender.join()

    def __enter__(self) -> "Stream":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(120)


def assert_each_answered_once(service: Service, stream: Stream, replies: int) -> None:
    """Every acknowledged message got its replies; none more than twice (a lost answer with no echo)."""
    assert len(stream.acknowledged) == stream.count
    wanted = set(stream.acknowledged)

    def counts() -> Counter:
        return Counter(r.user_id for r in service.fake.delivered() if r.user_id in wanted)

    assert wait_for(lambda: all(counts()[user] >= replies for user in wanted), timeout=90), \
        f"unanswered: {sorted(u for u in wanted if counts()[u] < replies)[:10]}"
    assert max(counts().values()) <= 2 * replies
    assert service.count(Message, Message.direction == "in") == stream.count


@pytest.fixture
def replies(engines) -> int:
    return len(engines.get().respond("new", TEXT, MemoryStateStore()).replies)


@pytest.mark.timeout(240)
def test_a_killed_web_process_loses_no_acknowledged_message(tmp_path, replies):
    with ExitStack() as stack:
        service = Service(stack, tmp_path, f"sqlite:///{tmp_path / 'crash.db'}")
        with Stream(service, 120, 20, "web") as stream:
            time.sleep(2)
            service.procs.kill(service.web)  # master and both server processes, mid-stream
            service.web = service.start_web()
        assert stream.refused > 0  # the stream did run into the dead server
        assert_each_answered_once(service, stream, replies)


@NEEDS_PG
@pytest.mark.timeout(240)
def test_a_killed_worker_loses_nothing(tmp_path, replies):
    with ExitStack() as stack:
        service = Service(stack, tmp_path, stack.enter_context(pg_schema(TEST_PG)), workers=1)
        with Stream(service, 120, 20, "worker") as stream:
            time.sleep(2)
            service.procs.kill(service.workers[0])  # mid-answer or mid-send, whatever it held
            time.sleep(1)
            service.workers = [service.start_worker()]
        assert_each_answered_once(service, stream, replies)


@NEEDS_PG
@pytest.mark.timeout(240)
def test_the_database_gone_for_ten_seconds_loses_nothing(tmp_path, replies):
    host, port = "127.0.0.1", 5432
    proxy = TcpProxy((host, port))
    with ExitStack() as stack:
        stack.callback(proxy.close)
        service = Service(stack, tmp_path, stack.enter_context(pg_schema(TEST_PG, port=proxy.port)))
        with Stream(service, 200, 10, "outage") as stream:
            time.sleep(3)
            proxy.cut()
            time.sleep(10)
            proxy.resume()
        assert stream.refused > 0  # Zalo's retries carried the events through the outage
        assert_each_answered_once(service, stream, replies)


def _withdraw(service: Service, user: str) -> float:
    payload = {"app_id": service.fake.app_id, "event_name": "user_withdraw", "sender": {"id": user},
               "timestamp": str(int(time.time() * 1000))}
    body, headers = signed(service.fake.app_id, payload)
    response = requests.post(service.base + "/webhooks/zalo", data=body, headers=headers, timeout=5)
    assert response.json()["result"] == "deleted"
    return time.time()


@pytest.mark.timeout(180)
def test_a_withdrawal_right_after_a_message_leaves_nothing_on_any_server_process(tmp_path):
    with ExitStack() as stack:
        service = Service(stack, tmp_path, f"sqlite:///{tmp_path / 'withdraw.db'}")
        withdrawn_at = {}
        for n in range(30):
            user = f"gone-{n}"
            body, headers = signed(service.fake.app_id, text_event(service.fake.app_id, user, f"{user}-m", TEXT))
            with requests.Session() as first, requests.Session() as second:  # two connections: two processes
                assert first.post(service.base + "/webhooks/zalo", data=body, headers=headers).status_code == 200
                withdrawn_at[user] = _withdraw(service, user)
                second.close()
        time.sleep(3)  # anything still in flight lands now
        assert service.count(Citizen, Citizen.zalo_id.like("gone-%")) == 0
        assert service.count(Outbox, Outbox.zalo_id.like("gone-%")) == 0
        late = [r for r in service.fake.sends if r.user_id in withdrawn_at and r.time > withdrawn_at[r.user_id] + 1]
        assert late == []  # nothing answered after the withdrawal was acknowledged


@pytest.mark.timeout(180)
def test_a_crash_after_a_withdrawal_brings_nothing_back(tmp_path):
    with ExitStack() as stack:
        service = Service(stack, tmp_path, f"sqlite:///{tmp_path / 'crash-withdraw.db'}")
        user = "crash-gone"
        for n in range(3):
            body, headers = signed(service.fake.app_id, text_event(service.fake.app_id, user, f"{user}-{n}", TEXT))
            assert requests.post(service.base + "/webhooks/zalo", data=body, headers=headers).status_code == 200
        withdrawn = _withdraw(service, user)
        service.procs.kill(service.web)
        service.web = service.start_web()
        time.sleep(10)  # longer than a dead process's claims last
        assert service.count(Citizen, Citizen.zalo_id == user) == 0 and service.count(Message) == 0
        assert [r for r in service.fake.sends if r.user_id == user and r.time > withdrawn + 1] == []


def _slow_client(port: int, stop: threading.Event) -> None:
    """Headers, then a trickle of body: one byte a second, never finishing."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /webhooks/zalo HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 4000\r\n\r\n{")
        while not stop.wait(1):
            try:
                s.sendall(b" ")
            except OSError:
                return


@pytest.mark.skipif(not NGINX.exists(), reason="nginx not installed (make test installs Debian's nginx as root)")
@pytest.mark.timeout(120)
def test_sixteen_slow_clients_do_not_hold_the_webhook_behind_nginx(tmp_path):
    with ExitStack() as stack:
        service = Service(stack, tmp_path, f"sqlite:///{tmp_path / 'slow.db'}")
        front = free_port()
        nginx = service.procs.start("nginx", [str(NGINX), "-c", str(nginx_config(tmp_path, front, service.port)),
                                              "-g", "daemon off;"])
        assert wait_healthy(f"http://127.0.0.1:{front}", nginx), service.procs.output(nginx)
        stop = threading.Event()
        stack.callback(stop.set)
        slow = [threading.Thread(target=_slow_client, args=(front, stop), daemon=True) for _ in range(16)]
        for thread in slow:
            thread.start()
        time.sleep(2)  # all sixteen past their headers, trickling
        took = []
        for n in range(20):
            body, headers = signed(service.fake.app_id, text_event(service.fake.app_id, f"fast-{n}", f"fast-{n}", TEXT))
            began = time.monotonic()
            assert requests.post(f"http://127.0.0.1:{front}/webhooks/zalo", data=body, headers=headers,
                                 timeout=10).status_code == 200
            took.append(time.monotonic() - began)
        assert max(took) < 2.0, took
        assert all(thread.is_alive() for thread in slow)  # the slow ones were still open throughout
