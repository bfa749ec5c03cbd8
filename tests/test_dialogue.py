"""Dialogue: follow-ups, option picks, buttons, emergencies, fallbacks, bad input — plain function calls."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog import load_catalog
from bot.dialogue import Engine
from bot.replies import MAX_TEXT, nfc_len
from bot.settings import Thresholds
from bot.state import ConversationState, MemoryStateStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_catalog(ROOT / "procedures.yaml", ROOT / "intents"))


@pytest.fixture
def store() -> MemoryStateStore:
    return MemoryStateStore()


def test_procedure_answer_is_short_summary_with_buttons(engine, store):
    turn = engine.respond("u", "lam giay khai sinh cho con", store)
    assert (turn.outcome, turn.intent) == ("answered", "khai-sinh")
    reply = turn.replies[0]
    assert "khai sinh" in reply.text.lower()
    assert 1 <= len(reply.buttons) <= 4
    assert any(b.kind == "url" and b.value.startswith("https://") for b in reply.buttons)
    assert store.load("u").last_entry == "khai-sinh"


@pytest.mark.parametrize("question, part_word", [
    ("phí bao nhiêu", "Lệ phí"),
    ("can giay to gi", "Giấy tờ"),
    ("mất bao lâu", "Thời gian"),
    ("nộp ở đâu", "Nơi giải quyết"),
    ("lam online duoc khong", "trực tuyến"),
])
def test_follow_up_answers_that_part_of_the_last_procedure(engine, store, question, part_word):
    engine.respond("u", "đăng ký thường trú", store)
    turn = engine.respond("u", question, store)
    assert turn.intent == "thuong-tru"
    assert part_word.lower() in turn.replies[0].text.lower()
    entry = engine.catalog.get("thuong-tru")
    if part_word == "Lệ phí":
        assert entry.fee in turn.replies[0].text


def test_procedure_and_part_in_one_message(engine, store):
    turn = engine.respond("u", "khai sinh phí bao nhiêu", store)
    assert turn.intent == "khai-sinh"
    assert engine.catalog.get("khai-sinh").fee in turn.replies[0].text


def test_follow_up_without_context_asks_which_procedure(engine, store):
    turn = engine.respond("u", "phí bao nhiêu", store)
    assert turn.outcome == "clarified" and turn.intent is None
    assert "thủ tục nào" in turn.replies[0].text


def test_pick_an_offered_option(engine, store):
    store.save("u", ConversationState(options=["khai-sinh", "ket-hon", "khai-tu"]))
    turn = engine.respond("u", "2", store)
    assert (turn.outcome, turn.intent) == ("answered", "ket-hon")
    assert store.load("u").options == []


def test_pick_keeps_the_part_asked(engine, store):
    store.save("u", ConversationState(options=["khai-sinh", "ket-hon"], pending_part="fee"))
    turn = engine.respond("u", "1", store)
    assert engine.catalog.get("khai-sinh").fee in turn.replies[0].text


def test_digit_without_options_is_not_a_pick(engine, store):
    turn = engine.respond("u", "2", store)
    assert turn.outcome == "fallback"


def test_unsure_asks_back_with_at_most_three_numbered_options(engine, store):
    unsure = Engine(engine.catalog, Thresholds(answer=0.99, clarify=0.05, margin=0.0))
    turn = unsure.respond("u", "đăng ký khai sinh cho con", store)
    assert turn.outcome == "clarified" and 2 <= len(turn.clarify) <= 3
    assert turn.clarify[0] == "khai-sinh"
    assert "1. " in turn.replies[0].text and len(turn.replies[0].buttons) == len(turn.clarify)
    assert store.load("u").options == list(turn.clarify)


def test_close_top_two_ask_back(engine, store):
    close = Engine(engine.catalog, Thresholds(answer=0.0, clarify=0.0, margin=1.0))
    turn = close.respond("u", "thường trú", store)
    assert turn.outcome == "clarified" and "thuong-tru" in turn.clarify


def test_button_payload_answers_part(engine, store):
    turn = engine.respond("u", "#giayto khai-sinh", store)
    assert turn.intent == "khai-sinh"
    for doc in engine.catalog.get("khai-sinh").documents:
        assert doc in turn.replies[0].text


@pytest.mark.parametrize("text", ["nha toi dang bi chay", "tai nạn xe máy có người bất tỉnh", "cuop giat dien thoai"])
def test_emergency_answers_at_once_with_numbers(engine, store, text):
    turn = engine.respond("u", text, store)
    assert turn.outcome == "emergency"
    assert all(n in turn.replies[0].text for n in ("113", "114", "115"))


def test_handoff(engine, store):
    turn = engine.respond("u", "cho tôi gặp cán bộ", store)
    assert turn.outcome == "handoff"


@pytest.mark.parametrize("text", ["giá vàng hôm nay", "kết quả bóng đá tối qua", "cách nấu phở bò ngon"])
def test_out_of_scope_falls_back_politely(engine, store, text):
    turn = engine.respond("u", text, store)
    assert turn.outcome == "fallback" and turn.intent is None
    assert "gặp cán bộ" in turn.replies[0].text


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀", "\x00\x01\x02", "a" * 5000, "khai sinh " * 600,
                                  "Привет как дела", "你好", "<script>alert(1)</script>", "\ud800"])
def test_bad_input_never_crashes(engine, store, text):
    turn = engine.respond("u", text, store)
    assert turn.replies and all(nfc_len(r.text) <= MAX_TEXT for r in turn.replies)
    assert turn.outcome in ("answered", "clarified", "fallback", "handoff", "emergency")


def test_every_entry_reply_fits_the_channel(engine, store):
    for entry in engine.catalog.entries.values():
        for text in (entry.title, f"#giayto {entry.id}", f"#cacbuoc {entry.id}"):
            for reply in engine.respond("u", text, MemoryStateStore()).replies:
                assert nfc_len(reply.text) <= MAX_TEXT and len(reply.buttons) <= 4


def test_location_reply_names_nearest_point(engine):
    point = engine.catalog.commune.service_points[0]
    reply = engine.location_reply(point.latitude, point.longitude)
    assert point.name in reply.text
