"""Answering: engine turns on stored state, claims in per-citizen order, hand-over silence, withdrawal mid-turn."""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.replies import Reply
from bot.state import ConversationState, MemoryStateStore
from tests.conftest import run_in_threads
from webhooks.inbox import answering
from webhooks.inbox.answering import answer_next
from webhooks.inbox.intake import accept
from webhooks.outbox.writing import within_window, write_replies
from webhooks.storage.models import Citizen, ConversationRow, Handoff, Message, Outbox, utcnow
from webhooks.storage.state import SqlStateStore
from webhooks.zalo.events import parse_event

LATER = dt.timedelta(days=1)


def text_event(text: str, msg_id: str, user: str = "u1") -> dict:
    return {"app_id": "a", "event_name": "user_send_text", "sender": {"id": user}, "recipient": {"id": "oa"},
            "message": {"text": text, "msg_id": msg_id}, "timestamp": "1763769600000"}


def store(services, payload: dict) -> int | None:
    return accept(services.database, parse_event(payload), payload).message_id


def message(services, message_id: int) -> Message:
    with services.database.session() as s:
        return s.get(Message, message_id)


def replies_to(services, message_id: int) -> list[str]:
    with services.database.session() as s:
        rows = s.scalars(select(Outbox).where(Outbox.source_id == message_id).order_by(Outbox.seq))
        return [r.body["text"] for r in rows]


def test_multi_turn_state_lives_in_the_database(services, engines):
    memory = MemoryStateStore()
    for n, text in enumerate(["lam giay khai sinh cho con", "phí bao nhiêu"]):
        expected = [r.text for r in engines.get().respond("u1", text, memory).replies]
        message_id = store(services, text_event(text, f"m{n}"))
        assert answer_next(services) == message_id
        assert replies_to(services, message_id) == expected
    second = message(services, message_id)
    assert (second.outcome, second.intent, second.status) == ("answered", "khai-sinh", "processed")


def test_each_message_is_answered_once_even_by_concurrent_workers(services):
    ids = [store(services, text_event("phí làm căn cước", f"m{n}", user=f"u{n}")) for n in range(4)]
    answered: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        while (found := answer_next(services)) is not None:
            with lock:
                answered.append(found)

    assert run_in_threads(work, 4) == []
    assert sorted(answered) == sorted(ids)
    assert all(len(replies_to(services, i)) == 1 for i in ids)
    assert answer_next(services) is None


def test_a_citizens_later_message_waits_for_the_earlier_one(services, monkeypatch):
    first = store(services, text_event("lam giay khai sinh", "m1"))
    second = store(services, text_event("phí bao nhiêu", "m2"))
    other = store(services, text_event("xin chào", "m3", user="u2"))
    thinking, release, order = threading.Event(), threading.Event(), []
    real = answering.plan_reply

    def slow_plan(engine, event, zalo_id, *args):
        order.append(event.msg_id)
        if event.msg_id == "m1":
            thinking.set()
            release.wait(10)
        return real(engine, event, zalo_id, *args)

    monkeypatch.setattr(answering, "plan_reply", slow_plan)
    worker = threading.Thread(target=answer_next, args=(services,))
    worker.start()
    assert thinking.wait(10)
    assert answer_next(services) == other  # u1's second message is not claimable while m1 is answered
    assert answer_next(services) is None
    release.set()
    worker.join(10)
    assert answer_next(services) == second
    assert order == ["m1", "m3", "m2"]
    assert message(services, second).intent == "khai-sinh"  # the follow-up saw the first turn's state


def test_a_dead_workers_claim_runs_out_and_its_late_write_is_refused(services, monkeypatch):
    message_id = store(services, text_event("lam giay khai sinh", "m1"))
    real_write, late = answering._write, []

    def die_before_writing(*args, **kwargs):
        late.append(args)  # what the dead worker would have written

    monkeypatch.setattr(answering, "_write", die_before_writing)
    assert answer_next(services) == message_id
    monkeypatch.setattr(answering, "_write", real_write)
    assert answer_next(services) is None  # claimed, lease running
    assert message(services, message_id).status == "answering"
    after = utcnow() + dt.timedelta(seconds=services.settings.lease_seconds + 1)
    assert answer_next(services, now=after) == message_id
    assert real_write(*late[0]) == []  # the first claim's lease is no longer the row's
    assert len(replies_to(services, message_id)) == 1


def test_a_withdrawal_while_the_engine_thinks_leaves_nothing_behind(services, post_event, monkeypatch):
    message_id = store(services, text_event("lam giay khai sinh", "m1"))
    real = answering.plan_reply

    def withdraw_meanwhile(*args):
        withdraw = {"app_id": "a", "event_name": "user_withdraw", "sender": {"id": "u1"}, "timestamp": "2"}
        assert post_event(withdraw).get_json()["result"] == "deleted"
        return real(*args)

    monkeypatch.setattr(answering, "plan_reply", withdraw_meanwhile)
    assert answer_next(services) == message_id
    with services.database.session() as s:
        for model in (Citizen, Message, Outbox, ConversationRow):
            assert s.scalar(select(func.count()).select_from(model)) == 0, model.__name__


def test_the_engine_thinks_outside_any_transaction(services, post_event, monkeypatch):
    store(services, text_event("lam giay khai sinh", "m1"))
    real, stored = answering.plan_reply, []

    def webhook_meanwhile(*args):
        began = time.monotonic()
        stored.append(post_event(text_event("xin chào", "m2", user="u2")).get_json()["result"])
        stored.append(time.monotonic() - began)
        return real(*args)

    monkeypatch.setattr(answering, "plan_reply", webhook_meanwhile)
    answer_next(services)
    assert stored[0] == "stored" and stored[1] < 2  # the webhook never waited for the engine


def test_engine_failure_marks_message_failed(services):
    class Broken:
        def get(self):
            raise RuntimeError("catalog exploded")

    message_id = store(services, text_event("xin chào", "m1"))
    services.engines, real = Broken(), services.engines
    try:
        assert answer_next(services) == message_id
    finally:
        services.engines = real
    assert (message(services, message_id).status, replies_to(services, message_id)) == ("failed", [])


def _open_handoffs(services) -> int:
    with services.database.session() as s:
        return s.scalar(select(func.count()).select_from(Handoff).where(Handoff.closed_at.is_(None)))


def test_handoff_opens_then_the_bot_waits_answers_emergencies_and_comes_back(services, engines):
    assert engines.get().respond("probe", "tôi muốn gặp cán bộ", MemoryStateStore()).outcome == "handoff"
    first = store(services, text_event("tôi muốn gặp cán bộ", "m1"))
    answer_next(services)
    assert replies_to(services, first) and _open_handoffs(services) == 1
    later = store(services, text_event("lam giay khai sinh", "m2"))
    answer_next(services)
    assert replies_to(services, later) == [] and message(services, later).outcome == "waiting"
    fire = store(services, text_event("cứu với nhà tôi đang cháy", "m3"))
    answer_next(services)
    assert message(services, fire).outcome == "emergency" and "114" in replies_to(services, fire)[0]
    assert _open_handoffs(services) == 1  # staff still see the conversation
    back = store(services, text_event("quay lại", "m4"))
    answer_next(services)
    assert replies_to(services, back) and _open_handoffs(services) == 0
    with services.database.session() as s:
        assert s.scalars(select(Handoff)).one().closed_by == "citizen"
    again = store(services, text_event("lam giay khai sinh", "m5"))
    answer_next(services)
    assert message(services, again).outcome == "answered"


def test_a_wrong_answer_is_stored_for_review(services):
    question = store(services, text_event("làm giấy khai sinh cho con", "m1"))
    answer_next(services)
    said = store(services, text_event("không phải", "m2"))
    answer_next(services)
    assert message(services, said).outcome == "wrong_answer"
    asked = message(services, question)  # the question is what goes to the review queue, with the exchange
    assert (asked.outcome, asked.review) == ("answered", "wrong_answer")
    assert asked.report == {"question": "làm giấy khai sinh cho con", "answered": "khai-sinh", "said": "không phải"}


def test_an_idle_handoff_closes_itself_and_says_so(services):
    from webhooks.inbox.handoffs import close_idle

    store(services, text_event("gặp cán bộ", "m1"))
    answer_next(services)
    assert close_idle(services) == 0 and _open_handoffs(services) == 1  # not idle yet
    later = utcnow() + dt.timedelta(hours=services.settings.handoff_idle_hours, minutes=1)
    assert close_idle(services, later) == 1 and _open_handoffs(services) == 0
    with services.database.session() as s:
        handoff = s.scalars(select(Handoff)).one()
        notice = s.scalars(select(Message).where(Message.outcome == "system")).one()
    assert handoff.closed_by == "idle" and "tự đóng" in notice.text
    assert close_idle(services, later) == 0  # closed once


def test_staff_activity_keeps_a_handoff_open(services):
    from webhooks.inbox.handoffs import close_idle
    from webhooks.outbox.writing import write_replies

    store(services, text_event("gặp cán bộ", "m1"))
    answer_next(services)
    soon = utcnow() + dt.timedelta(hours=services.settings.handoff_idle_hours - 1)
    with services.database.transaction() as conn:
        citizen = conn.execute(select(Citizen.id, Citizen.zalo_id)).one()
        write_replies(conn, citizen_id=citizen.id, zalo_id=citizen.zalo_id, source_id=None,
                      replies=[Reply("Cán bộ đây ạ")], expires_at=soon, sent_by="canbo")
    with services.database.session() as s:
        s.scalars(select(Message).where(Message.sent_by == "canbo")).one().created_at = soon
    assert close_idle(services, soon + dt.timedelta(hours=2)) == 0  # staff answered an hour ago


@pytest.mark.parametrize("state, handed_off, kind, replies, outcome", [
    (None, True, "text", 0, "waiting"),
    (None, False, "text", 1, "answered"),
    (None, False, "follow", 1, "system"),
    (None, True, "follow", 0, "waiting"),
    (None, False, "unfollow", 0, "ignored"),
])
def test_plan_reply_is_the_one_place_deciding_whether_the_bot_answers(engines, state, handed_off, kind, replies,
                                                                      outcome):
    payloads = {"text": text_event("lam giay khai sinh", "m"),
                "follow": {"event_name": "follow", "follower": {"id": "u1"}, "timestamp": "1"},
                "unfollow": {"event_name": "unfollow", "follower": {"id": "u1"}, "timestamp": "1"}}
    plan = answering.plan_reply(engines.get(), parse_event(payloads[kind]), "u1", "lam giay khai sinh", state,
                                handed_off)
    assert (len(plan.replies), plan.fields["outcome"]) == (replies, outcome)


def test_one_after_the_welcome_picks_the_first_menu_line(engines):
    follow = parse_event({"event_name": "follow", "follower": {"id": "u1"}, "timestamp": "1"})
    plan = answering.plan_reply(engines.get(), follow, "u1", "", None, False)
    assert plan.state_changed and plan.state["options"][0] == "@1"
    pick = answering.plan_reply(engines.get(), parse_event(text_event("1", "m")), "u1", "1", plan.state, False)
    assert pick.fields["outcome"] == "clarified"


def test_citizen_interaction_moves_on_citizen_events_only(services):
    store(services, text_event("xin chào", "m1"))
    with services.database.session() as s:
        s.scalars(select(Citizen)).one().last_interaction = utcnow() - dt.timedelta(days=8)
    receipt = {"event_name": "user_seen_message", "sender": {"id": "oa"}, "recipient": {"id": "u1"},
               "message": {"msg_ids": ["x"]}, "timestamp": "1"}
    store(services, receipt)
    with services.database.session() as s:
        assert not within_window(s.scalars(select(Citizen)).one())
    store(services, text_event("còn đó không", "m2"))
    with services.database.session() as s:
        citizen = s.scalars(select(Citizen)).one()
        assert within_window(citizen) and citizen.first_seen <= citizen.last_interaction


def test_within_window_handles_naive_and_aware():
    now = dt.datetime(2026, 1, 10, tzinfo=dt.timezone.utc)
    assert within_window(Citizen(last_interaction=dt.datetime(2026, 1, 4)), now)
    assert not within_window(Citizen(last_interaction=dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)), now)


def test_sql_state_store_round_trip(services):
    with services.database.transaction() as conn:
        SqlStateStore(conn).save("u1", ConversationState(last_entry="khai-sinh", options=["a", "b"]))
    with services.database.transaction() as conn:
        store_ = SqlStateStore(conn)
        assert store_.load("u1") == ConversationState(last_entry="khai-sinh", options=["a", "b"])
        store_.save("u1", ConversationState(last_entry="ket-hon"))
    with services.database.transaction() as conn:
        assert SqlStateStore(conn).load("u1").last_entry == "ket-hon"
        SqlStateStore(conn).delete("u1")
    with services.database.transaction() as conn:
        assert SqlStateStore(conn).load("u1") == ConversationState()


def _write(services, source_id, texts, sent_by=None):
    with services.database.transaction() as conn:
        citizen_id, zalo_id = conn.execute(select(Citizen.id, Citizen.zalo_id)).one()
        return write_replies(conn, citizen_id=citizen_id, zalo_id=zalo_id, source_id=source_id, sent_by=sent_by,
                             replies=[Reply(t) for t in texts], expires_at=utcnow() + LATER)


def test_staff_replies_never_collide_with_bot_replies(services):
    message_id = store(services, text_event("lam giay khai sinh", "m1"))
    answer_next(services)
    first, again = _write(services, message_id, ["Cán bộ trả lời"], "canbo"), _write(services, message_id, ["Thêm"], "canbo")
    with services.database.session() as s:
        row = s.get(Outbox, first[0])
        out = s.get(Message, row.message_id)
        assert (out.direction, out.sent_by, out.outcome, out.reply_to_id) == ("out", "canbo", "staff", message_id)
        assert first != again and row.status == "pending"


def test_several_bot_replies_keep_their_order_each_with_its_own_message(services):
    message_id = store(services, text_event("lam giay khai sinh", "m1"))
    ids = _write(services, message_id, ["Một", "Hai: CCCD 012345678901", "Ba"])
    with services.database.session() as s:
        rows = [s.get(Outbox, i) for i in ids]
        assert [r.seq for r in rows] == [0, 1, 2] and [r.body["text"] for r in rows][0] == "Một"
        assert [s.get(Message, r.message_id).text for r in rows] == ["Một", "Hai: CCCD *********901", "Ba"]
    with pytest.raises(IntegrityError):  # the same message's replies cannot be queued twice
        _write(services, message_id, ["copy"])
