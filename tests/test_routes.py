"""POST /webhooks/zalo and GET /healthz: signatures, every recorded event type, duplicates, bad bodies."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from bot.state import MemoryStateStore
from tests.conftest import signed_headers
from tests.zalo_fixtures import FIXTURES, load_payload
from webhooks.storage.models import Citizen, ConversationRow, Handoff, Message, Outbox

CITIZEN = "246845883529197922"

# fixture name -> (HTTP status, result note, replies expected after processing)
EVENTS = {
    "user_send_text": (200, "stored", 1),
    "ids_as_numbers": (200, "stored", 1),
    "text_control_chars": (200, "stored", 1),
    "text_lone_surrogates": (200, "stored", 1),  # JSON escapes no database text can hold
    "follow": (200, "stored", 1),
    "user_click_chatnow": (200, "stored", 1),
    "unfollow": (200, "recorded", 0),
    "user_send_image": (200, "stored", 1),
    "user_send_gif": (200, "stored", 1),
    "user_send_link": (200, "stored", 1),
    "user_send_audio": (200, "stored", 1),
    "user_send_video": (200, "stored", 1),
    "user_send_sticker": (200, "stored", 1),
    "user_send_file": (200, "stored", 1),
    "user_send_business_card": (200, "stored", 1),
    "user_send_location": (200, "stored", 1),
    "location_numbers": (200, "stored", 1),
    "oa_send_text": (200, "ignored", 0),
    "user_received_message": (200, "ignored", 0),
    "user_seen_message": (200, "ignored", 0),
    "user_reacted_message": (200, "ignored", 0),
    "user_submit_info": (200, "recorded", 0),  # kept in the citizen's profile, not as a message
    "shop_has_order": (200, "ignored", 0),
    "unknown_event": (200, "ignored", 0),
    "user_withdraw": (200, "deleted", 0),
}
BAD = sorted(p.stem for p in FIXTURES.glob("bad_*.json"))


def count(db, model, *where) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_every_recorded_fixture_is_covered():
    names = {p.stem for p in FIXTURES.glob("*.json")}
    assert names - set(EVENTS) - set(BAD) == set()


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_recorded_event(name, post_event, drain, fake_zalo, db):
    status, note, replies = EVENTS[name]
    response = post_event(load_payload(name))
    assert response.status_code == status
    assert response.get_json()["result"] == note
    drain()
    sent = fake_zalo.delivered()
    assert len(sent) == replies
    if replies:
        assert sent[0].user_id == CITIZEN
        assert sent[0].body["message"]["text"].strip()
        with db.session() as s:
            inbound = s.scalars(select(Message).where(Message.direction == "in")).one()
            assert inbound.status == "processed" and inbound.outcome is not None


def test_text_answered_after_response_with_engine_fields(post_event, drain, fake_zalo, db, engines):
    payload = load_payload("user_send_text")
    expected = engines.get().respond(CITIZEN, payload["message"]["text"], MemoryStateStore())
    response = post_event(payload)
    assert response.status_code == 200
    assert fake_zalo.sends == []  # nothing answered inside the request
    with db.session() as s:
        inbound = s.scalars(select(Message)).one()
        assert (inbound.direction, inbound.status) == ("in", "received")
    drain()
    with db.session() as s:
        inbound = s.scalars(select(Message).where(Message.direction == "in")).one()
        assert (inbound.status, inbound.outcome, inbound.intent) == ("processed", "answered", "khai-sinh")
        assert inbound.score and inbound.candidates[0]["id"] == "khai-sinh" and inbound.normalized
        out = s.scalars(select(Outbox)).one()
        assert (out.status, out.source_id, out.seq) == ("sent", inbound.id, 0)
        assert s.get(Message, out.message_id).status == "sent"
        assert s.get(ConversationRow, CITIZEN).data["last_entry"] == "khai-sinh"
    assert [r.body["message"]["text"] for r in fake_zalo.delivered()] == [r.text for r in expected.replies]


def test_follow_gets_welcome_with_menu_buttons(post_event, drain, fake_zalo, engines):
    post_event(load_payload("follow"))
    drain()
    message = fake_zalo.delivered()[0].body["message"]
    welcome = engines.get().welcome()
    assert message["text"] == welcome.text
    buttons = message["attachment"]["payload"]["buttons"]
    assert [b["title"] for b in buttons] == [b.title for b in welcome.buttons] and buttons


def test_location_and_media_use_engine_replies(post_event, drain, fake_zalo, engines):
    post_event(load_payload("user_send_location"))
    post_event(load_payload("user_send_image"))
    drain()
    texts = [r.body["message"]["text"] for r in fake_zalo.delivered()]
    assert texts == [engines.get().location_reply(21.0285, 105.8542).text, engines.get().media_reply().text]


def test_unfollow_marks_citizen(post_event, db):
    post_event(load_payload("follow"))
    post_event(load_payload("unfollow"))
    with db.session() as s:
        assert s.scalars(select(Citizen.following).where(Citizen.zalo_id == CITIZEN)).one() is False


def test_bad_signature_is_rejected_counted_and_stores_nothing(client, settings, post_event, db, caplog):
    payload = load_payload("user_send_text")
    assert post_event(payload, signed=False).status_code == 401
    assert post_event(payload, headers={"X-ZEvent-Signature": "mac=" + "0" * 64}).status_code == 401
    raw = json.dumps(payload, ensure_ascii=False).encode()
    headers = signed_headers(settings, raw, payload["timestamp"])
    tampered = client.post("/webhooks/zalo", data=raw.replace(b"khai sinh", b"khai tu"), headers=headers)
    assert tampered.status_code == 401
    assert count(db, Message) == 0 and count(db, Citizen) == 0
    assert "ZALO_OA_SECRET_KEY" in caplog.text
    assert client.get("/healthz").get_json()["signature_rejections"] == 3


def test_signature_over_raw_bytes_not_reserialised_json(client, settings, db):
    raw = (FIXTURES / "user_send_text.json").read_bytes()  # pretty-printed: re-serialising would differ
    response = client.post("/webhooks/zalo", data=raw, headers=signed_headers(settings, raw, "1763769600000"))
    assert response.status_code == 200
    wrong_key = signed_headers(settings, raw + b" ", "1763769600000")
    assert client.post("/webhooks/zalo", data=raw, headers=wrong_key).status_code == 401


def test_unsigned_probe_is_ok(client, db):
    response = client.post("/webhooks/zalo", data=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert count(db, Message) == 0


def test_duplicate_msg_id_gives_one_reply(post_event, drain, fake_zalo, db):
    payload = load_payload("user_send_text")
    assert post_event(payload).get_json()["result"] == "stored"
    assert post_event(payload).get_json()["result"] == "duplicate"
    drain()
    assert post_event(payload).get_json()["result"] == "duplicate"
    drain()
    assert len(fake_zalo.delivered()) == 1
    assert count(db, Message, Message.direction == "in") == 1


def test_events_without_msg_id_dedupe_on_synthetic_key(post_event, drain, fake_zalo):
    follow = load_payload("follow")
    post_event(follow)
    post_event(follow)
    later = dict(follow, timestamp="1763769700000")
    post_event(later)
    drain()
    assert len(fake_zalo.delivered()) == 2  # the retry was dropped, the later follow answered


def test_echo_is_never_answered(post_event, drain, fake_zalo, db):
    assert post_event(load_payload("oa_send_text")).status_code == 200
    drain()
    assert fake_zalo.sends == [] and count(db, Message) == 0


@pytest.mark.parametrize("name", BAD)
def test_malformed_events_get_4xx_not_500(name, post_event, db):
    raw = (FIXTURES / f"{name}.json").read_bytes()
    payload = json.loads(raw)
    response = post_event(payload if isinstance(payload, dict) else raw)
    assert response.status_code in (400, 401)
    assert response.get_json()["error"]
    assert count(db, Message) == 0


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe", b"null", b'"text"', b"[" * 100_000])
def test_garbage_bodies_get_400(raw, client):
    response = client.post("/webhooks/zalo", data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 413)


def test_oversized_body_gets_413(post_event, settings):
    payload = load_payload("user_send_text")
    payload["message"]["text"] = "a" * (settings.max_body_bytes + 1)
    assert post_event(payload).status_code == 413


def test_sensitive_numbers_are_masked_in_storage(post_event, db):
    payload = load_payload("user_send_text")
    payload["message"]["text"] = "CCCD của tôi là 001203004567, mã OTP 482913"
    post_event(payload)
    with db.session() as s:
        stored = s.scalars(select(Message)).one()
    assert "001203004567" not in stored.text and "482913" not in stored.text
    assert "001203004567" not in json.dumps(stored.payload)


def test_withdraw_deletes_everything_about_the_citizen(post_event, drain, db, fake_zalo):
    post_event(load_payload("user_send_text"))
    drain()
    other = load_payload("user_send_text")
    other["sender"]["id"], other["message"]["msg_id"] = "999", "other-1"
    post_event(other)
    drain()
    with db.session() as s:
        citizen = s.scalars(select(Citizen).where(Citizen.zalo_id == CITIZEN)).one()
        s.add(Handoff(citizen_id=citizen.id))
    assert post_event(load_payload("user_withdraw")).get_json()["result"] == "deleted"
    assert count(db, Citizen, Citizen.zalo_id == CITIZEN) == 0
    assert count(db, Outbox, Outbox.zalo_id == CITIZEN) == 0
    assert count(db, Handoff) == 0
    assert count(db, ConversationRow, ConversationRow.zalo_id == CITIZEN) == 0
    assert count(db, Message) == 2  # only the other citizen's question and its reply remain
    assert count(db, Citizen) == 1


def test_open_handoff_keeps_bot_silent(post_event, drain, fake_zalo, db):
    post_event(load_payload("follow"))
    drain()
    with db.session() as s:
        s.add(Handoff(citizen_id=s.scalars(select(Citizen.id)).one()))
    post_event(load_payload("user_send_text"))
    drain()
    assert len(fake_zalo.delivered()) == 1  # only the welcome
    with db.session() as s:
        inbound = s.scalars(select(Message).where(Message.event_name == "user_send_text")).one()
        assert (inbound.status, inbound.outcome) == ("processed", "waiting")


def test_healthz_reports_backlog_and_catalog(client, post_event, engines):
    post_event(load_payload("user_send_text"))
    report = client.get("/healthz").get_json()
    assert report["database"] == "ok" and report["status"] == "ok"
    assert report["catalog_version"] == engines.get().catalog.version
    assert (report["inbound_backlog"], report["outbox_backlog"], report["signature_rejections"]) == (1, 0, 0)


def test_citizen_upsert_keeps_one_row_and_moves_only_what_the_event_says(db):
    import datetime as dt

    from sqlalchemy import update

    from webhooks.storage.citizens import upsert_citizen_id

    with db.session() as s:
        first = upsert_citizen_id(s.connection(), "c-up", interacted=False, following=False)  # unfollow before anything
        s.execute(update(Citizen).where(Citizen.id == first)
                  .values(last_interaction=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)))
    with db.session() as s:
        assert upsert_citizen_id(s.connection(), "c-up", interacted=False) == first  # nothing to change, same id
        row = s.scalars(select(Citizen).where(Citizen.id == first)).one()
        assert (row.following, row.last_interaction.year) == (False, 2020)
    with db.session() as s:
        assert upsert_citizen_id(s.connection(), "c-up", interacted=True, following=True) == first
        row = s.scalars(select(Citizen).where(Citizen.id == first)).one()
        assert row.following is True and row.last_interaction.year > 2020
        assert s.scalar(select(func.count()).select_from(Citizen).where(Citizen.zalo_id == "c-up")) == 1


def test_a_database_outage_answers_503_and_stores_nothing_until_zalo_retries(post_event, db, monkeypatch, drain,
                                                                               fake_zalo):
    from sqlalchemy.exc import OperationalError

    from webhooks.inbox import intake

    real = intake.upsert_citizen_id

    def down(*_args, **_kwargs):
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(intake, "upsert_citizen_id", down)
    payload = load_payload("user_send_text")
    response = post_event(payload)
    assert (response.status_code, response.get_json()["error"]) == (503, "database unavailable")
    assert count(db, Message) == 0
    monkeypatch.setattr(intake, "upsert_citizen_id", real)
    assert post_event(payload).get_json()["result"] == "stored"  # Zalo's retry, the database back
    drain()
    assert len(fake_zalo.delivered()) == 1
