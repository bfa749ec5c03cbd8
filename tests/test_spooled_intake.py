"""The spooled intake: 200 after the spool line, stored once by the drainer, through outages and crashes."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from tests.conftest import wait_for
from tests.test_intake import event
from webhooks import spool
from webhooks.intake import Intake
from webhooks.priority import RequestGauge
from webhooks.models import Citizen, Message
from webhooks.spooled_intake import SpooledIntake, create_intake

ROOT = Path(__file__).resolve().parent.parent

# Accepts the events on stdin with a drainer that never gets to store them, then is killed.
_CRASHING = """
import json, os, signal, sys
from pathlib import Path
from types import SimpleNamespace
from bot.settings import Settings
from webhooks.db import Database
from webhooks.intake import Intake
from webhooks.priority import RequestGauge
from webhooks.spooled_intake import SpooledIntake
from webhooks.zalo import parse_event
url, directory = sys.argv[1], Path(sys.argv[2])
services = SimpleNamespace(settings=Settings(database_url=url), database=Database(url), dispatcher=None)
spooled = SpooledIntake(Intake(services), directory, gather=3600)
for payload in json.loads(sys.stdin.read()):
    assert spooled.accept(parse_event(payload), payload).note == "accepted"
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture
def spooled(services, tmp_path):
    intake = SpooledIntake(Intake(services), tmp_path / "spool", gather=0.005)
    yield intake
    intake.close(timeout=5)


def messages(db) -> list[tuple[str, str]]:
    with db.session() as s:
        return sorted(s.execute(select(Message.msg_id, Message.text)).all())


def inbound_jobs(app_dispatcher) -> list[int]:
    return [job for kind, job in app_dispatcher.submitted if kind == "inbound"]


def test_events_are_acknowledged_then_stored_once_and_handed_over(spooled, db, app_dispatcher):
    first = event("user_send_text", "u1", "m1", text="CCCD 012345678901 của tôi")
    notes = [spooled.accept(*e).note for e in [first, first, event("user_send_text", "u2", "m2")]]
    assert notes == ["accepted"] * 3  # Zalo's retry too: it is found a duplicate when stored
    assert spooled.flush(timeout=10)
    assert messages(db) == [("m1", "CCCD *********901 của tôi"), ("m2", "lam giay khai sinh")]
    assert len(inbound_jobs(app_dispatcher)) == 2  # one answer per message, none for the retry
    assert spooled.backlog == 0 and spooled.stored == 3


def test_the_spool_holds_the_masked_text_only(services, tmp_path):
    waiting = SpooledIntake(Intake(services), tmp_path, gather=3600)  # the drainer never gets to store
    waiting.accept(*event("user_send_text", "u1", "m1", text="mã OTP 483920, CCCD 012345678901"))
    [path] = tmp_path.glob("*.spool")
    data = path.read_bytes()
    assert b"012345678901" not in data and b"483920" not in data
    assert spool.decode(data, path)[0]["message"]["msg_id"] == "m1"


def test_a_database_outage_holds_the_queue_and_loses_nothing(spooled, db, app_dispatcher, monkeypatch):
    real, failures = spooled.intake.write, iter(range(3))

    def flaky(batch):
        if next(failures, None) is not None:
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return real(batch)

    monkeypatch.setattr(spooled.intake, "write", flaky)
    monkeypatch.setattr("webhooks.spooled_intake.MAX_BACKOFF", 0.2)
    for n in range(5):
        assert spooled.accept(*event("user_send_text", f"u{n}", f"m{n}")).note == "accepted"
    assert spooled.flush(timeout=20)
    assert [m for m, _ in messages(db)] == [f"m{n}" for n in range(5)]
    assert sorted(inbound_jobs(app_dispatcher)) == sorted(set(inbound_jobs(app_dispatcher)))
    assert len(inbound_jobs(app_dispatcher)) == 5
    [segment] = spooled.spool._segments
    assert segment.appended == 5 and segment.settled()  # its thread may empty it before its next line


def test_an_event_refused_for_good_is_set_aside_and_the_rest_stored(spooled, db, monkeypatch):
    real = spooled.intake.write

    def picky(batch):
        if any(item.event.msg_id == "bad" for item in batch):
            raise IntegrityError("INSERT", {}, Exception("violates a check constraint"))
        return real(batch)

    monkeypatch.setattr(spooled.intake, "write", picky)
    for msg_id in ("a", "bad", "b"):
        spooled.accept(*event("user_send_text", "u1", msg_id))
    assert spooled.flush(timeout=10)
    assert [m for m, _ in messages(db)] == ["a", "b"]
    [refused] = spool.decode((spooled.directory / spool.REJECTED).read_bytes(), spooled.directory)
    assert refused["payload"]["message"]["msg_id"] == "bad" and "IntegrityError" in refused["reason"]


def test_a_killed_process_is_replayed_by_the_next_one_once(services, db, database_url, tmp_path, app_dispatcher):
    directory = tmp_path / "spool"
    payloads = [event("user_send_text", "u1", f"k{n}", text=f"câu {n}")[1] for n in range(3)]
    payloads.append(event("follow", "u2", stamp="7")[1])
    crashed = subprocess.run([sys.executable, "-c", _CRASHING, database_url, str(directory)], cwd=ROOT,
                             input=json.dumps(payloads), text=True, capture_output=True, timeout=60)
    assert crashed.returncode == -9, crashed.stderr
    assert messages(db) == []  # acknowledged, not stored: only the spool has them
    assert len(list(directory.glob("*.spool"))) == 1
    survivor = SpooledIntake(Intake(services), directory, gather=0)
    survivor.start()  # replays what the dead process left before draining its own
    try:
        assert wait_for(lambda: len(messages(db)) == 4, timeout=20)
        assert wait_for(lambda: not list(directory.glob("*.spool")), timeout=10)
        assert len(inbound_jobs(app_dispatcher)) == 4  # text ×3 and the follow's welcome, once each
    finally:
        survivor.close(timeout=5)


def test_a_withdrawal_waits_for_the_citizens_spooled_messages(spooled, db):
    spooled.accept(*event("user_send_text", "u9", "w1"))
    assert spooled.accept(*event("user_withdraw", "u9", stamp="9")).note == "deleted"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 0
        assert s.scalar(select(func.count()).select_from(Citizen).where(Citizen.zalo_id == "u9")) == 0


def test_concurrent_requests_all_get_stored(spooled, db):
    counter, lock = iter(range(10_000)), threading.Lock()

    def post_ten():
        for _ in range(10):
            with lock:
                n = next(counter)
            spooled.accept(*event("user_send_text", f"u{n % 7}", f"c{n}"))

    threads = [threading.Thread(target=post_ten) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert spooled.flush(timeout=20)
    assert len(messages(db)) == 80


def test_close_stores_the_queue_and_removes_the_spool(services, db, tmp_path):
    intake = SpooledIntake(Intake(services), tmp_path, gather=0.2)
    intake.accept(*event("user_send_text", "u1", "z1"))
    intake.close(timeout=10)
    assert [m for m, _ in messages(db)] == ["z1"]
    assert list(tmp_path.glob("*.spool")) == []


def test_settings_choose_the_intake(services, tmp_path):
    import dataclasses

    assert type(create_intake(services)) is Intake  # spool_dir=None: 200 after the commit
    on = dataclasses.replace(services, settings=dataclasses.replace(services.settings, spool_dir=tmp_path))
    chosen = create_intake(on)
    assert isinstance(chosen, SpooledIntake) and chosen.directory.parent == tmp_path


# --- yielding to requests under a burst ---------------------------------------------------------

@pytest.fixture
def burst():
    """A request gauge that is busy from the first request on (one request held open meanwhile)."""
    gauge = RequestGauge(max_wait=0.5, busy_at=1, settle=0.02)
    gauge.started()
    yield gauge
    if gauge.active:
        gauge.finished()


def holding(services, tmp_path, gauge, **options) -> SpooledIntake:
    options.setdefault("hold", 60.0)
    return SpooledIntake(Intake(services), tmp_path / "spool", gather=0.001, pause=gauge.wait_quiet, **options)


def accept_many(intake: SpooledIntake, count: int) -> None:
    for n in range(count):
        intake.accept(*event("user_send_text", f"u{n % 3}", f"h{n}"))


def test_storing_waits_while_requests_crowd_and_goes_on_once_they_end(services, db, tmp_path):
    gauge = RequestGauge(max_wait=30.0, busy_at=1, settle=0.02)
    gauge.started()
    intake = holding(services, tmp_path, gauge)
    try:
        intake.accept(*event("user_send_text", "u1", "b1"))
        assert not wait_for(lambda: messages(db), timeout=0.5)  # the one request in progress counts as busy
        assert intake.backlog == 1 and gauge.waits == 1
        gauge.finished()
        assert wait_for(lambda: [m for m, _ in messages(db)] == ["b1"], timeout=10)
        assert intake.backlog == 0
    finally:
        if gauge.active:
            gauge.finished()
        intake.close(timeout=10)


def test_at_a_steady_rate_nothing_is_held(services, db, tmp_path):
    gauge = RequestGauge(max_wait=30.0, busy_at=4)
    gauge.started()  # one request in progress: below busy_at
    intake = holding(services, tmp_path, gauge)
    try:
        accept_many(intake, 5)
        assert wait_for(lambda: len(messages(db)) == 5, timeout=10)
        assert gauge.waits == 0
    finally:
        gauge.finished()
        intake.close(timeout=10)


# Twenty one-event batches each held for max_wait (0.5 s) would take ten seconds; each bound below
# must let them all through in a fraction of that while the gauge stays busy.
@pytest.mark.parametrize("options", [{"hold": 0.2}, {"max_held": 2}], ids=["oldest-waited-hold", "max-held"])
def test_holding_is_bounded(services, db, tmp_path, burst, options):
    intake = holding(services, tmp_path, burst, max_batch=1, **options)
    try:
        accept_many(intake, 20)
        assert wait_for(lambda: len(messages(db)) == 20, timeout=4)
    finally:
        intake.close(timeout=10)


def test_a_flush_is_not_held(services, db, tmp_path, burst):
    intake = holding(services, tmp_path, burst, max_batch=1)
    try:
        accept_many(intake, 20)
        assert intake.flush(timeout=4)  # a withdrawal or shutdown: stored now, busy or not
        assert len(messages(db)) == 20
    finally:
        intake.close(timeout=10)


def test_the_intake_yields_to_the_dispatchers_gauge(services, tmp_path):
    import dataclasses
    from types import SimpleNamespace

    gauge = RequestGauge(max_wait=1.0)
    settings = dataclasses.replace(services.settings, spool_dir=tmp_path, spool_hold=7.0)
    chosen = create_intake(SimpleNamespace(settings=settings, database=services.database,
                                           dispatcher=SimpleNamespace(gauge=gauge)))
    assert chosen.pause == gauge.wait_quiet and chosen.hold == 7.0
