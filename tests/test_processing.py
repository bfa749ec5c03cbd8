"""Inbound processing: engine turns on SQL state, idempotence, handoff, failures, outbox writing."""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from bot.replies import Reply
from bot.state import ConversationState, MemoryStateStore
from webhooks import intake, processing
from webhooks.models import Citizen, ConversationRow, Handoff, Message, Outbox, utcnow
from webhooks.outbound import queue_replies, within_window
from webhooks.state_store import SqlStateStore
from webhooks.zalo import parse_event


def text_event(text: str, msg_id: str, user: str = "u1") -> dict:
    return {"app_id": "a", "event_name": "user_send_text", "sender": {"id": user}, "recipient": {"id": "oa"},
            "message": {"text": text, "msg_id": msg_id}, "timestamp": "1763769600000"}


def store(services, payload: dict) -> int | None:
    with services.database.session() as s:
        return intake.accept_event(s.connection(), parse_event(payload), payload).message_id


def outcome(services, message_id: int) -> Message:
    with services.database.session() as s:
        return s.get(Message, message_id)


def replies_to(services, message_id: int) -> list[str]:
    with services.database.session() as s:
        rows = s.scalars(select(Outbox).where(Outbox.source_id == message_id).order_by(Outbox.seq))
        return [r.body["text"] for r in rows]


def test_multi_turn_state_lives_in_the_database(services, engines):
    memory, expected = MemoryStateStore(), []
    for n, text in enumerate(["lam giay khai sinh cho con", "phí bao nhiêu"]):
        expected.append([r.text for r in engines.get().respond("u1", text, memory).replies])
        message_id = store(services, text_event(text, f"m{n}"))
        processing.process_inbound(services, message_id)
        assert replies_to(services, message_id) == expected[-1]
    second = outcome(services, message_id)
    assert (second.outcome, second.intent) == ("answered", "khai-sinh")


def test_processing_twice_queues_once(services):
    message_id = store(services, text_event("lam giay khai sinh", "m1"))
    first = processing.process_inbound(services, message_id)
    assert len(first) >= 1
    assert processing.process_inbound(services, message_id) == []
    assert len(replies_to(services, message_id)) == len(first)


def test_concurrent_processing_of_one_message_queues_once(services):
    message_id = store(services, text_event("phí làm căn cước", "m1"))
    results: list[list[int]] = []
    threads = [threading.Thread(target=lambda: results.append(processing.process_inbound(services, message_id)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) > 0 for r in results) == [False, False, False, True]
    assert len(replies_to(services, message_id)) == len([r for r in results if r][0])


def test_engine_failure_marks_message_failed(services):
    class Broken:
        def get(self):
            raise RuntimeError("catalog exploded")

    message_id = store(services, text_event("xin chào", "m1"))
    services.engines, real = Broken(), services.engines
    try:
        assert processing.process_inbound(services, message_id) == []
    finally:
        services.engines = real
    assert outcome(services, message_id).status == "failed"
    assert replies_to(services, message_id) == []


def test_handoff_outcome_opens_handoff_then_bot_is_silent(services, engines):
    turn = engines.get().respond("probe", "tôi muốn gặp cán bộ", MemoryStateStore())
    assert turn.outcome == "handoff"
    first = store(services, text_event("tôi muốn gặp cán bộ", "m1"))
    assert processing.process_inbound(services, first)
    with services.database.session() as s:
        assert s.scalar(select(func.count()).select_from(Handoff).where(Handoff.closed_at.is_(None))) == 1
    later = store(services, text_event("lam giay khai sinh", "m2"))
    assert processing.process_inbound(services, later) == []
    assert outcome(services, later).outcome == "handoff"
    with services.database.session() as s:  # staff close it: the bot answers again
        s.scalars(select(Handoff)).one().closed_at = utcnow()
    third = store(services, text_event("lam giay khai sinh", "m3"))
    assert processing.process_inbound(services, third)


def test_citizen_interaction_moves_on_citizen_events_only(services):
    store(services, text_event("xin chào", "m1"))
    with services.database.session() as s:
        citizen = s.scalars(select(Citizen)).one()
        citizen.last_interaction = utcnow() - dt.timedelta(days=8)
    receipt = {"event_name": "user_seen_message", "sender": {"id": "oa"}, "recipient": {"id": "u1"},
               "message": {"msg_ids": ["x"]}, "timestamp": "1"}
    store(services, receipt)
    with services.database.session() as s:
        assert not within_window(s.scalars(select(Citizen)).one())
    store(services, text_event("còn đó không", "m2"))
    with services.database.session() as s:
        citizen = s.scalars(select(Citizen)).one()
        assert within_window(citizen)
        assert citizen.first_seen <= citizen.last_interaction


def test_within_window_handles_naive_and_aware():
    now = dt.datetime(2026, 1, 10, tzinfo=dt.timezone.utc)
    assert within_window(Citizen(last_interaction=dt.datetime(2026, 1, 4)), now)
    assert not within_window(Citizen(last_interaction=dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)), now)


def test_sql_state_store_round_trip_across_sessions(services):
    with services.database.session() as s:
        SqlStateStore(s).save("u1", ConversationState(last_entry="khai-sinh", options=["a", "b"]))
    with services.database.session() as s:
        store_ = SqlStateStore(s)
        assert store_.load("u1") == ConversationState(last_entry="khai-sinh", options=["a", "b"])
        store_.save("u1", ConversationState(last_entry="ket-hon"))
    with services.database.session() as s:
        assert SqlStateStore(s).load("u1").last_entry == "ket-hon"
        SqlStateStore(s).delete("u1")
    with services.database.session() as s:
        assert SqlStateStore(s).load("u1") == ConversationState()
        assert s.get(ConversationRow, "u1") is None


def test_staff_replies_never_collide_with_bot_replies(services):
    message_id = store(services, text_event("lam giay khai sinh", "m1"))
    processing.process_inbound(services, message_id)
    with services.database.session() as s:
        citizen, source = s.scalars(select(Citizen)).one(), s.get(Message, message_id)
        rows = queue_replies(s, citizen=citizen, source=source, replies=[Reply("Cán bộ trả lời")], sent_by="canbo")
        again = queue_replies(s, citizen=citizen, source=source, replies=[Reply("Thêm nữa")], sent_by="canbo")
        out = s.get(Message, rows[0].message_id)
        assert (out.direction, out.sent_by, out.outcome, out.reply_to_id) == ("out", "canbo", "staff", message_id)
        assert rows[0].id != again[0].id and rows[0].status == "pending"


def test_several_bot_replies_keep_their_order_each_with_its_own_message(services):
    message_id = store(services, text_event("lam giay khai sinh", "m1"))
    processing.process_inbound(services, message_id)
    texts = ["Một", "Hai: CCCD 012345678901", "Ba"]
    with services.database.session() as s:
        citizen = s.scalars(select(Citizen)).one()
        fresh = Message(citizen_id=citizen.id, direction="in", msg_id="m2", text="?", status="processed")
        s.add(fresh)
        s.flush()
        rows = queue_replies(s, citizen=citizen, source=fresh, replies=[Reply(t) for t in texts])
        assert [r.seq for r in rows] == [0, 1, 2] and [r.body["text"] for r in rows] == texts
        outgoing = [s.get(Message, r.message_id) for r in rows]
        assert [m.text for m in outgoing] == ["Một", "Hai: CCCD *********901", "Ba"]  # masked, each its own
        assert {(m.direction, m.status, m.reply_to_id, m.citizen_id) for m in outgoing} == {
            ("out", "queued", fresh.id, citizen.id)}
        assert {(r.status, r.source_id, r.zalo_id, r.attempts) for r in rows} == {("pending", fresh.id, "u1", 0)}


def test_bot_reply_cannot_be_queued_twice(services):
    message_id = store(services, text_event("lam giay khai sinh", "m1"))
    processing.process_inbound(services, message_id)
    with pytest.raises(IntegrityError):
        with services.database.session() as s:
            citizen, source = s.scalars(select(Citizen)).one(), s.get(Message, message_id)
            queue_replies(s, citizen=citizen, source=source, replies=[Reply("copy")])


def test_reading_a_message_never_waits_for_the_sqlite_write_turn(services):
    writers = services.database.writers
    if writers is None:
        pytest.skip("PostgreSQL has no process-wide write turn")
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with writers.hold():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert held.wait(5)
        began = time.monotonic()
        with services.reader() as conn:  # what answering reads first (processing._plan)
            assert conn.execute(text("SELECT 1")).scalar() == 1
        assert time.monotonic() - began < 2  # the webhook may hold the turn meanwhile: reads go on
    finally:
        release.set()
        thread.join()


def set_state(services, zalo_id: str, data: dict | None) -> None:
    with services.database.session() as s:
        row = s.get(ConversationRow, zalo_id)
        if data is None and row is not None:
            s.delete(row)
        elif data is not None and row is None:
            s.add(ConversationRow(zalo_id=zalo_id, data=data, updated_at=utcnow()))
        elif data is not None:
            row.data = data


def stored_state(services, zalo_id: str) -> dict | None:
    with services.database.session() as s:
        row = s.get(ConversationRow, zalo_id)
        return dict(row.data) if row is not None else None


A, B, NEW = {"last_entry": "khai-sinh"}, {"last_entry": "ket-hon"}, {"last_entry": "tam-tru", "options": ["x"]}


@pytest.mark.parametrize("stored, before, after, swapped", [
    (None, None, NEW, True),   # first state
    (A, None, NEW, False),     # another turn created one meanwhile
    (A, A, NEW, True),         # update
    (B, A, NEW, False),        # another turn changed it meanwhile
    (None, A, NEW, False),     # … or deleted it
    (A, A, None, True),        # forget
    (B, A, None, False),
    (None, None, None, True),  # nothing before, nothing after
    (A, None, None, False),
])
def test_the_state_is_written_only_over_the_state_the_engine_saw(services, stored, before, after, swapped):
    message_id = store(services, text_event("phí bao nhiêu", "m1"))
    set_state(services, "u1", stored)
    recording = processing._RecordingStore(before)
    recording.after, recording.touched = after, True
    plan = processing._Plan(fields={"outcome": "answered"}, replies=[Reply("ok")], store=recording, zalo_id="u1")
    if swapped:
        with services.connection() as conn:
            assert len(processing._write(conn, message_id, plan, claim_first=False).outbox_ids) == 1
        assert stored_state(services, "u1") == after and outcome(services, message_id).status == "processed"
    else:
        with pytest.raises(processing._StateMoved), services.connection() as conn:
            processing._write(conn, message_id, plan, claim_first=False)
        # the claim went back with the swap: the message waits to be thought about again
        assert stored_state(services, "u1") == stored and outcome(services, message_id).status == "received"
        assert replies_to(services, message_id) == []


def test_a_turn_whose_state_moved_meanwhile_is_thought_again(services, monkeypatch):
    message_id = store(services, text_event("phí bao nhiêu", "m1"))
    real, calls = processing._answer, []

    def answer_while_another_turn_lands(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # another worker answers "khai sinh" for this citizen while we think
            set_state(services, "u1", ConversationState(last_entry="khai-sinh").to_dict())
        return real(*args, **kwargs)

    monkeypatch.setattr(processing, "_answer", answer_while_another_turn_lands)
    assert processing.process_inbound(services, message_id)
    assert len(calls) == 2  # the first plan saw no state; the second follows up on khai sinh
    assert (outcome(services, message_id).outcome, outcome(services, message_id).intent) == ("answered", "khai-sinh")
