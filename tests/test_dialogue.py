"""Dialogue: follow-ups, picks, buttons, emergencies, hand-overs, corrections, small talk — plain calls."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.hours import VIETNAM

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


MONDAY_10 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=VIETNAM)  # inside the example commune's hours
SUNDAY_20 = dt.datetime(2026, 12, 13, 20, 0, tzinfo=VIETNAM)  # outside


def test_procedure_answer_is_short_summary_with_buttons(engine, store):
    turn = engine.respond("u", "lam giay khai sinh cho con", store)
    assert (turn.outcome, turn.intent) == ("answered", "khai-sinh")
    reply = turn.replies[0]
    assert "khai sinh" in reply.text.lower()
    assert 1 <= len(reply.buttons) <= 4
    assert any(b.kind == "url" and b.value.startswith("https://") for b in reply.buttons)
    assert store.load("u").last_entry == "khai-sinh"
    assert store.load("u").last_question == "lam giay khai sinh cho con"


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


def test_digit_without_options_shows_the_menu(engine, store):
    turn = engine.respond("u", "2", store)
    assert turn.intent == "menu" and "1. " in turn.replies[0].text
    assert store.load("u").options[0] == "@1"


def test_one_after_the_welcome_menu_picks_its_first_line(engine, store):
    welcome = engine.greet("u", store)
    first = engine.catalog.menu[0]
    assert f"1. {first.title}" in welcome.replies[0].text
    turn = engine.respond("u", "1", store)
    assert turn.outcome == "clarified" and turn.clarify == first.entries
    picked = engine.respond("u", "2", store)
    assert (picked.outcome, picked.intent) == ("answered", first.entries[1])


def test_menu_words_show_the_numbered_menu(engine, store):
    turn = engine.respond("u", "menu", store)
    assert turn.intent == "menu" and turn.handoff is None
    assert engine.respond("u", "2", store).clarify == engine.catalog.menu[1].entries


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


@pytest.mark.parametrize("text, first", [
    ("nha toi dang bi chay", "114"), ("tai nạn xe máy có người bất tỉnh", "115"), ("cuop giat dien thoai", "113"),
    ("sos", "113"),
])
def test_emergency_names_the_number_that_fits_first(engine, store, text, first):
    turn = engine.respond("u", text, store)
    assert turn.outcome == "emergency"
    head = turn.replies[0].text.splitlines()[0]
    assert f"gọi ngay {first}" in head
    assert all(n in turn.replies[0].text for n in ("113", "114", "115"))
    assert engine.catalog.commune.police_phone in turn.replies[0].text


@pytest.mark.parametrize("text", ["bà tôi mất ở bệnh viện, giờ làm khai tử", "cháy túi rồi", "nhờ người đi thay",
                                  "điện thoại bị cháy màn hình", "lên thổ cư", "khó đọc"])
def test_no_false_alarm(engine, store, text):
    assert engine.respond("u", text, store).outcome != "emergency"


def test_emergency_during_a_pending_clarification_is_answered(engine, store):
    store.save("u", ConversationState(options=["khai-sinh", "ket-hon"]))
    turn = engine.respond("u", "cứu với nhà tôi đang cháy", store)
    assert turn.outcome == "emergency" and store.load("u").options == []


def test_handoff_opens_and_says_how_to_come_back(engine, store):
    turn = engine.respond("u", "cho tôi gặp cán bộ", store, now=MONDAY_10)
    assert (turn.outcome, turn.handoff) == ("handoff", "open")
    assert "ngoài giờ" not in turn.replies[0].text
    assert any(b.value == "#bot" for b in turn.replies[0].buttons)


def test_handoff_outside_office_hours_says_when_staff_will_see_it(engine, store):
    turn = engine.respond("u", "gặp cán bộ", store, now=SUNDAY_20)
    assert "ngoài giờ làm việc" in turn.replies[0].text and "7 giờ 30 sáng mai (Thứ Hai, 14/12)" in turn.replies[0].text


def test_during_a_handoff_ordinary_messages_wait_for_staff(engine, store):
    turn = engine.respond("u", "làm khai sinh cần gì", store, handoff_open=True)
    assert (turn.outcome, turn.replies, turn.handoff) == ("waiting", (), None)


def test_during_a_handoff_an_emergency_is_answered_at_once(engine, store):
    turn = engine.respond("u", "cứu với nhà tôi đang cháy", store, handoff_open=True)
    assert turn.outcome == "emergency" and "114" in turn.replies[0].text.splitlines()[0]
    assert turn.handoff is None  # staff still see the conversation


@pytest.mark.parametrize("text", ["menu", "quay lại", "hỏi bot", "Quay lại ạ", "#bot"])
def test_menu_or_back_leaves_a_handoff(engine, store, text):
    turn = engine.respond("u", text, store, handoff_open=True)
    assert turn.handoff == "close" and turn.intent == "menu" and turn.replies


def test_a_button_during_a_handoff_brings_the_bot_back(engine, store):
    turn = engine.respond("u", "#giayto khai-sinh", store, handoff_open=True)
    assert (turn.intent, turn.handoff) == ("khai-sinh", "close")


@pytest.mark.parametrize("text", ["giá vàng hôm nay", "kết quả bóng đá tối qua", "thời tiết ngày mai thế nào"])
def test_clearly_out_of_scope_gets_one_polite_line(engine, store, text):
    turn = engine.respond("u", text, store)
    assert turn.outcome == "out_of_scope" and turn.intent is None
    assert "menu" in turn.replies[0].text and not turn.replies[0].buttons


def test_near_domain_question_falls_back_for_staff(engine, store):
    turn = engine.respond("u", "đóng thuế đất hằng năm bao nhiêu", store)
    assert turn.outcome == "fallback"
    assert "cán bộ" in turn.replies[0].text and engine.catalog.commune.phone in turn.replies[0].text


@pytest.mark.parametrize("text", ["ok", "vâng", "dạ", "👍", "ok bot"])
def test_acknowledgement_gets_a_short_reply_once(engine, store, text):
    first = engine.respond("u", text, store)
    assert first.outcome == "smalltalk" and len(first.replies) == 1 and len(first.replies[0].text) < 120
    second = engine.respond("u", text, store)
    assert second.outcome == "smalltalk" and second.replies == ()


def test_correction_after_an_answer_offers_next_guesses_and_queues_the_exchange(engine, store):
    engine.respond("u", "làm giấy khai sinh cho con", store)
    turn = engine.respond("u", "không phải", store)
    assert turn.outcome == "wrong_answer" and turn.review is None
    assert turn.report == {"question": "làm giấy khai sinh cho con", "answered": "khai-sinh", "said": "không phải"}
    assert "khai-sinh" not in turn.clarify
    assert any(b.value == "#canbo" for b in turn.replies[0].buttons)
    assert store.load("u").options == list(turn.clarify)


def test_wrong_answer_button_reports_too(engine, store):
    engine.respond("u", "đăng ký thường trú", store)
    turn = engine.respond("u", "#sai thuong-tru", store)
    assert turn.outcome == "wrong_answer" and turn.report["answered"] == "thuong-tru"


def test_correction_with_a_new_question_answers_it_and_reports(engine, store):
    engine.respond("u", "đăng ký thường trú", store)
    turn = engine.respond("u", "sai rồi, tôi hỏi làm căn cước", store)
    assert (turn.outcome, turn.intent) == ("answered", "the-can-cuoc")
    assert turn.report["answered"] == "thuong-tru"


def test_correction_words_without_an_answer_before_are_just_text(engine, store):
    assert engine.respond("u", "không phải", store).outcome != "wrong_answer"


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀", "\x00\x01\x02", "a" * 5000, "khai sinh " * 600,
                                  "Привет как дела", "你好", "<script>alert(1)</script>", "\ud800"])
def test_bad_input_never_crashes(engine, store, text):
    turn = engine.respond("u", text, store)
    assert turn.replies and all(nfc_len(r.text) <= MAX_TEXT for r in turn.replies)
    assert turn.outcome in ("answered", "clarified", "fallback", "out_of_scope", "handoff", "emergency")


def test_every_entry_reply_fits_the_channel(engine, store):
    for entry in engine.catalog.entries.values():
        for text in (entry.title, f"#giayto {entry.id}", f"#cacbuoc {entry.id}", f"#cancu {entry.id}"):
            for reply in engine.respond("u", text, MemoryStateStore()).replies:
                assert nfc_len(reply.text) <= MAX_TEXT and len(reply.buttons) <= 4


def test_location_reply_names_nearest_point(engine):
    point = engine.catalog.commune.service_points[0]
    reply = engine.location_reply(point.latitude, point.longitude)
    assert point.name in reply.text
