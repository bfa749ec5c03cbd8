"""The webhook's write: batches store exactly what one-by-one storing would, and one bad event fails alone."""
from __future__ import annotations

import dataclasses
import threading

import pytest
from sqlalchemy import func, select

from bot.masking import mask_sensitive
from tests.conftest import run_in_threads
from webhooks import intake
from webhooks.intake import Accepted, Intake, accept_event, accept_events
from webhooks.models import Citizen, Message
from webhooks.zalo import parse_event


def event(name: str, user: str, msg_id: str | None = None, text: str = "lam giay khai sinh",
          stamp: str = "1763769600000") -> tuple:
    payload: dict = {"app_id": "a", "event_name": name, "sender": {"id": user}, "recipient": {"id": "oa"},
                     "timestamp": stamp}
    if name.startswith("user_send") or name.startswith("oa_send"):
        payload["message"] = {"text": text, "msg_id": msg_id or f"m-{user}-{text}"}
    if name.startswith("oa_send"):  # an echo: the citizen is the recipient
        payload["sender"], payload["recipient"] = {"id": "oa"}, {"id": user}
    if name in ("follow", "unfollow"):
        payload["follower"] = {"id": user}
    return parse_event(payload), payload


MIXED = [
    event("user_send_text", "u1", "m1"),
    event("user_send_text", "u1", "m1"),  # Zalo's retry inside the same batch
    event("unfollow", "u2", stamp="1"),
    event("user_send_text", "u2", "m2", text="CCCD 012345678901 của tôi"),
    event("follow", "u3", stamp="2"),
    event("user_received_message", "u1", stamp="3"),  # a receipt: ignored
    event("oa_send_text", "u1", "echo-1"),  # our own echo: ignored
    event("user_send_text", "u4", "m4"),
]


def stored_rows(db) -> list[tuple]:
    with db.session() as s:
        citizens = {c.id: c for c in s.scalars(select(Citizen))}
        return sorted((citizens[m.citizen_id].zalo_id, m.msg_id, m.text, m.status, m.outcome,
                       citizens[m.citizen_id].following, m.event_name)
                      for m in s.scalars(select(Message)))


def test_a_batch_stores_what_one_by_one_would(db, tmp_path):
    with db.session() as s:
        together = accept_events(s.connection(), MIXED)
    batch_rows = stored_rows(db)
    with db.session() as s:  # the same events again, one at a time: all duplicates now
        assert [accept_event(s.connection(), e, p).note for e, p in MIXED if e.kind == "text"] == ["duplicate"] * 4
    assert [a.note for a in together] == ["stored", "duplicate", "recorded", "stored", "stored", "ignored",
                                          "ignored", "stored"]
    assert len({a.message_id for a in together if a.message_id}) == 4
    assert ("u2", "m2", "CCCD *********901 của tôi", "received", None, False, "user_send_text") in batch_rows
    assert [r for r in batch_rows if r[0] == "u3"][0][5] is True  # follow recorded, citizen following


def test_a_batch_with_a_withdrawal_keeps_the_order(db):
    events = [event("user_send_text", "u1", "m1"), event("user_withdraw", "u1", stamp="9"),
              event("user_send_text", "u1", "m2")]
    with db.session() as s:
        notes = [a.note for a in accept_events(s.connection(), events)]
    assert notes == ["stored", "deleted", "stored"]
    assert [r[1] for r in stored_rows(db)] == ["m2"]  # only what came after the withdrawal


def test_concurrent_requests_are_all_stored_and_handed_over_once(services, app_dispatcher, db):
    store = Intake(services)
    results: list[Accepted] = []
    lock = threading.Lock()
    counter = iter(range(10_000))

    def post() -> None:
        n = next(counter)
        accepted = store.accept(*event("user_send_text", f"u{n % 7}", f"m{n % 40}"))
        with lock:
            results.append(accepted)

    assert run_in_threads(lambda: [post() for _ in range(10)], 8) == []
    assert len(results) == 80
    assert sum(a.note == "stored" for a in results) == 40  # 40 distinct msg_ids, each stored once
    stored = sorted(a.message_id for a in results if a.note == "stored")
    assert sorted(job for kind, job in app_dispatcher.submitted if kind == "inbound") == stored
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 40
        assert s.scalar(select(func.count()).select_from(Citizen)) == 7
    assert not store._writing and store._queue == []  # the lead given back


def test_one_bad_event_fails_alone(services, db, monkeypatch):
    store = Intake(services)
    real = intake.accept_events

    def picky(conn, events, planned=None):
        if any(ev.msg_id == "bad" for ev, _ in events):
            raise ValueError("cannot store this one")
        return real(conn, events, planned)

    monkeypatch.setattr(intake, "accept_events", picky)  # accept_event (one by one) goes through it too
    # Two requests in one batch: the batch fails, each is then stored on its own.
    batch = [intake.Waiting(*event("user_send_text", "u1", "good")), intake.Waiting(*event("user_send_text", "u2", "bad"))]
    store._store(batch)
    assert batch[0].result is not None and batch[0].result.note == "stored"
    assert isinstance(batch[1].error, ValueError)
    with pytest.raises(ValueError):
        store.accept(*event("user_send_text", "u3", "bad"))
    assert store.accept(*event("user_send_text", "u3", "fine")).note == "stored"  # the lead was handed back


def test_a_lost_connection_is_replaced_and_the_event_still_stored(services, db):
    store = Intake(services)
    assert store.accept(*event("user_send_text", "u1", "before")).note == "stored"
    assert store._held is not None
    store._held.connection.dbapi_connection.close()  # the server went away between two batches
    assert store.accept(*event("user_send_text", "u1", "after")).note == "stored"  # retried on a fresh one
    assert [r[1] for r in stored_rows(db)] == ["after", "before"]


def test_driver_errors_come_out_as_sqlalchemy_errors(db):
    from sqlalchemy.exc import DBAPIError

    from webhooks.bulk_sql import Bound

    with db.engine.connect() as conn:
        with pytest.raises(DBAPIError) as caught:
            Bound("INSERT INTO no_such_table (x) VALUES (1)", ()).run(conn)
    assert not caught.value.connection_invalidated  # a bad statement is not a lost connection


def test_on_postgresql_a_batch_is_one_statement_and_on_sqlite_it_runs_in_the_write_turn(db):
    from webhooks.inbound_rows import plan_events

    planned = plan_events(db.engine.dialect, MIXED)
    assert planned is not None
    if db.engine.dialect.name == "postgresql":
        assert len(planned.statements) == 1 and planned.statements[0].sql.lstrip().startswith("WITH")
    else:
        assert len(planned.statements) == 3  # follow/unfollow citizens, the others, then the messages


def test_a_batch_numbers_its_messages_in_arrival_order(db):
    # A citizen's later message must be answered after the earlier one: ids follow arrival.
    events = [event("user_send_text", f"u{(n * 5) % 3}", f"order-{n}", text=f"câu {n}") for n in range(12)]
    with db.session() as s:
        ids = [a.message_id for a in accept_events(s.connection(), events)]
    assert None not in ids and ids == sorted(ids)


def test_on_postgresql_the_batch_statement_is_one_text_for_any_size(db):
    from webhooks.inbound_rows import plan_events

    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one multi-row INSERT per row count, in-process: no server to prepare it")
    sizes = [1, 2, 7, 30]
    texts = {plan_events(db.engine.dialect, [event("user_send_text", f"u{n}", f"s{size}-{n}") for n in range(size)])
             .statements[0].sql for size in sizes}
    assert len(texts) == 1


def _overlapping_posts(store: Intake, prefix: str, rounds: int, threads: int) -> None:
    counter = iter(range(10_000))

    def post() -> None:
        n = next(counter)
        assert store.accept(*event("user_send_text", f"g{n % 5}", f"{prefix}{n}")).note == "stored"

    assert run_in_threads(lambda: [post() for _ in range(rounds)], threads) == []


def test_overlapping_requests_wait_to_share_a_batch_and_a_lone_one_does_not(services, db, monkeypatch):
    waits: list[float] = []
    real_sleep = intake.time.sleep
    monkeypatch.setattr(intake.time, "sleep", lambda s: (waits.append(s), real_sleep(s)))
    gathering, eager = Intake(services, gather=0.02), Intake(services, gather=0)
    _overlapping_posts(gathering, "a", 5, 8)
    _overlapping_posts(eager, "b", 5, 8)
    assert gathering.batches < eager.batches  # 40 events each: the gathering writer waited for company
    assert waits and set(waits) == {0.02}
    waits.clear()
    alone = Intake(services, gather=0.02)
    for n in range(3):
        assert alone.accept(*event("user_send_text", "solo", f"solo{n}")).note == "stored"
    assert waits == [] and alone.batches == 3  # one request at a time: nobody to wait for


def test_the_gather_comes_from_the_settings_on_either_database(services):
    import dataclasses

    from bot.settings import Settings

    assert Settings.from_env({}).intake_gather == 0.001
    assert Settings.from_env({"BOT_INTAKE_GATHER": "0"}).intake_gather == 0.0
    told = dataclasses.replace(services, settings=dataclasses.replace(services.settings, intake_gather=0.005))
    assert Intake(told).gather == 0.005
    assert Intake(told, gather=0).gather == 0


@pytest.mark.parametrize("text", ["CCCD\x00 012345678901", "cấp lại \ud83d CCCD", "làm căn cước"])
def test_awkward_payloads_are_stored_in_a_batch_on_either_database(db, text):
    payload_event = event("user_send_text", "u9", "awk-1", text=text)
    payload_event[1]["sender"]["big"] = 2 ** 70  # a number past 64 bits somewhere in the raw event
    with db.session() as s:
        notes = [a.note for a in accept_events(s.connection(), [event("user_send_text", "u8", "awk-0"), payload_event])]
    assert notes == ["stored", "stored"]
    with db.session() as s:
        row = s.scalars(select(Message).where(Message.msg_id == "awk-1")).one()
        assert row.text == mask_sensitive(payload_event[0].text)
        assert row.payload["sender"]["big"] == 2 ** 70
        if db.engine.dialect.name == "postgresql":  # no PostgreSQL text holds NUL: dropped (SQLite keeps it)
            assert "\x00" not in row.payload["message"]["text"]


def test_each_request_builds_its_own_row_so_the_batch_writer_does_not(services, db, monkeypatch):
    from webhooks import inbound_rows

    built: dict[str, int] = {}  # msg_id → the thread that built its row
    accepted: dict[str, int] = {}  # msg_id → the thread whose request it was
    real = inbound_rows.message_row

    def recording(ev, payload):
        built[ev.msg_id] = threading.get_ident()
        return real(ev, payload)

    def refused(ev, payload):
        raise AssertionError("the batch's writer built a row the request had built already")

    monkeypatch.setattr(intake, "message_row", recording)
    monkeypatch.setattr(inbound_rows, "message_row", refused)  # plan_events' own fallback
    store, counter = Intake(services, gather=0.01), iter(range(10_000))

    def post() -> None:
        for _ in range(5):
            msg_id = f"own-{next(counter)}"
            accepted[msg_id] = threading.get_ident()
            assert store.accept(*event("user_send_text", f"u{len(accepted) % 3}", msg_id)).note == "stored"

    assert run_in_threads(post, 6) == []
    assert store.batches < 30 and built == accepted  # batches were shared, yet each row came from its own request


def test_the_next_batch_does_not_wait_for_the_last_ones_hand_over(services, db):
    handing, release = threading.Event(), threading.Event()
    handed: list[list[int]] = []

    class SlowQueue:  # the first hand-over hangs, as a queue round trip on a slow network would
        def submit_inbound_many(self, ids: list[int]) -> None:
            handed.append(list(ids))
            if len(handed) == 1:
                handing.set()
                release.wait(10)

    store = Intake(dataclasses.replace(services, dispatcher=SlowQueue()), gather=0)
    first = threading.Thread(target=store.accept, args=event("user_send_text", "u1", "first"))
    first.start()
    assert handing.wait(5)  # the first request is stored and is handing its message over
    done = threading.Event()
    second = threading.Thread(target=lambda: (store.accept(*event("user_send_text", "u2", "second")), done.set()))
    second.start()
    try:
        assert done.wait(5), "the second request waited for the first one's hand-over"
    finally:
        release.set()
        first.join(5)
        second.join(5)
    assert len(handed) == 2 and not store._writing
    assert sorted(r[1] for r in stored_rows(db)) == ["first", "second"]
