"""The webhook's write: one transaction per event, duplicates by msg_id, withdrawal ordered by the citizen's row."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, insert, select

from tests.conftest import run_in_threads
from webhooks.inbox.intake import Accepted, accept
from webhooks.storage.citizens import upsert_citizen_id
from webhooks.storage.models import Citizen, Message, Outbox
from webhooks.zalo.events import parse_event


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


def stored_rows(db) -> list[tuple]:
    with db.session() as s:
        citizens = {c.id: c for c in s.scalars(select(Citizen))}
        return sorted((citizens[m.citizen_id].zalo_id, m.msg_id, m.text, m.status, m.outcome,
                       citizens[m.citizen_id].following) for m in s.scalars(select(Message)))


SEQUENCE = [  # (event, what the webhook answers)
    (event("user_send_text", "u1", "m1"), "stored"),
    (event("user_send_text", "u1", "m1"), "duplicate"),  # Zalo's retry
    (event("unfollow", "u2", stamp="1"), "recorded"),
    (event("user_send_text", "u2", "m2", text="CCCD 012345678901 của tôi"), "stored"),
    (event("follow", "u3", stamp="2"), "stored"),
    (event("follow", "u3", stamp="2"), "duplicate"),  # no msg_id: the synthetic key dedupes it
    (event("user_received_message", "u1", stamp="3"), "ignored"),  # a receipt
    (event("oa_send_text", "u1", "echo-1"), "ignored"),  # our own echo, matching no reply
    (event("user_send_text", "u4", "m4"), "stored"),
    (event("user_withdraw", "u4", stamp="5"), "deleted"),
    (event("user_withdraw", "nobody", stamp="6"), "deleted"),  # nothing stored: nothing to delete, still fine
]


def test_each_event_is_stored_or_acted_on_as_it_says(db):
    notes = [accept(db, *e) for e, _ in SEQUENCE]
    assert [a.note for a in notes] == [note for _, note in SEQUENCE]
    assert all((a.message_id is not None) == (a.note == "stored") for a in notes)
    rows = stored_rows(db)
    assert ("u2", "m2", "CCCD *********901 của tôi", "received", None, False) in rows  # masked; unfollowed
    assert [r for r in rows if r[0] == "u3"][0][5] is True  # follow recorded, citizen following
    assert [r for r in rows if r[0] == "u4"] == []  # withdrawn
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Citizen).where(Citizen.zalo_id == "nobody")) == 0


def test_a_withdrawal_between_messages_keeps_only_what_came_after(db):
    for e, payload in [event("user_send_text", "u1", "m1"), event("user_withdraw", "u1", stamp="9"),
                       event("user_send_text", "u1", "m2")]:
        accept(db, e, payload)
    assert [r[1] for r in stored_rows(db)] == ["m2"]


def test_concurrent_requests_store_each_msg_id_once(db):
    results: list[Accepted] = []
    lock = threading.Lock()
    counter = iter(range(10_000))

    def post() -> None:
        n = next(counter)
        accepted = accept(db, *event("user_send_text", f"u{n % 7}", f"m{n % 40}"))
        with lock:
            results.append(accepted)

    assert run_in_threads(lambda: [post() for _ in range(10)], 8) == []
    assert len(results) == 80 and sum(a.note == "stored" for a in results) == 40
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 40
        assert s.scalar(select(func.count()).select_from(Citizen)) == 7


@pytest.mark.timeout(30)
def test_a_withdrawal_waits_for_a_message_being_stored_then_deletes_it(db):
    withdrew = threading.Event()

    def withdraw() -> None:
        accept(db, *event("user_withdraw", "u1", stamp="9"))
        withdrew.set()

    with db.transaction() as conn:  # a message of the citizen half-stored on another request thread
        citizen_id = upsert_citizen_id(conn, "u1", interacted=True)
        conn.execute(insert(Message).values(citizen_id=citizen_id, direction="in", msg_id="m1", text="x"))
        thread = threading.Thread(target=withdraw)
        thread.start()
        time.sleep(0.3)
        assert not withdrew.is_set()  # it waits for the citizen's row
    thread.join(10)
    assert withdrew.is_set() and stored_rows(db) == []


def test_withdrawal_right_after_a_message_leaves_nothing_to_answer(post_event, drain, fake_zalo, db):
    text, payload = event("user_send_text", "u1", "m1")
    assert post_event(payload).get_json()["result"] == "stored"
    assert post_event(event("user_withdraw", "u1", stamp="9")[1]).get_json()["result"] == "deleted"
    assert drain() == 0 and fake_zalo.sends == []
    with db.session() as s:
        assert [s.scalar(select(func.count()).select_from(m)) for m in (Citizen, Message, Outbox)] == [0, 0, 0]


@pytest.mark.parametrize("text", ["NUL \x00 giữa", "nửa \ud83d cặp", "emoji 🙂 và \u0301 dấu rời",
                                  "'; DROP TABLE messages; --", "x" * 10_000])
def test_awkward_events_are_stored_on_either_database(db, text):
    awkward = event("user_send_text", "u1", "m1", text=text)
    awkward[1]["sender"]["big"] = 2 ** 70  # a number past 64 bits somewhere in the raw event
    accepted = accept(db, *awkward)
    assert accepted.note == "stored"
    with db.session() as s:
        row = s.get(Message, accepted.message_id)
        assert row.text == awkward[0].text  # control characters and lone surrogates cleaned by parsing
        assert row.payload["sender"]["big"] == 2 ** 70 and row.payload["message"]["text"] == row.text
