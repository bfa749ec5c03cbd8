"""Two tiers, one decision: curated entries where they fit, national records where they fit better."""
from __future__ import annotations

import pytest

from bot.dialogue import Engine
from bot.settings import Settings
from bot.state import MemoryStateStore


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_settings(Settings.from_env({}))


@pytest.fixture(scope="module")
def curated_only(engine) -> Engine:
    return Engine(engine.catalog, engine.thresholds)


def ask(engine: Engine, text: str):
    return engine.respond("u", text, MemoryStateStore())


@pytest.mark.parametrize("text, expected", [
    ("làm giấy khai sinh cho con", "khai-sinh"),           # curated wins where it fits (it carries 1.001193)
    ("sửa tên trong giấy khai sinh", "cai-chinh-ho-tich"),
    ("làm lại thẻ căn cước bị mất", "the-can-cuoc"),       # a record the curated entry carries: the entry answers
    ("thủ tục thôi quốc tịch việt nam", "2.002036"),       # no curated entry: the national record, by its code
    ("mất cà vẹt xe làm lại thế nào", "1.013082"),
    ("kết hôn với người nước ngoài thủ tục thế nào", "2.000806"),
])
def test_answers(engine, text, expected):
    turn = ask(engine, text)
    assert (turn.outcome, turn.intent) == ("answered", expected)


def test_never_registers_a_paper_the_citizen_asks_to_replace(engine):
    for text in ("giấy đăng ký kết hôn bị mất", "sửa ngày sinh sai trong giấy khai sinh", "xin bản sao giấy khai sinh"):
        assert ask(engine, text).intent not in ("ket-hon", "khai-sinh", "1.000894", "1.001193")


def test_a_national_answer_is_a_short_card_with_its_own_page(engine):
    turn = ask(engine, "thủ tục thôi quốc tịch việt nam")
    record = engine.national.get("2.002036")
    card = turn.replies[0]
    assert record.name in card.text and record.authority in card.text
    assert engine.catalog.commune.phone in card.text and len(card.text) <= 600
    assert any(b.kind == "url" and b.value == record.url for b in card.buttons)


def test_follow_up_on_a_national_answer(engine):
    store = MemoryStateStore()
    engine.respond("u", "thủ tục thôi quốc tịch việt nam", store)
    turn = engine.respond("u", "phí bao nhiêu", store)
    assert turn.intent == "2.002036" and "Lệ phí" in turn.replies[0].text


def test_without_the_national_tier_procedures_outside_the_catalog_are_not_answered(curated_only):
    turn = ask(curated_only, "thủ tục thôi quốc tịch việt nam")
    assert turn.outcome != "answered" or not turn.intent[0].isdigit()


def test_nothing_fits_falls_back_with_the_portal_and_a_person(engine):
    turn = ask(engine, "đóng thuế đất hằng năm bao nhiêu")
    assert turn.outcome == "fallback"
    reply = turn.replies[0]
    assert engine.catalog.commune.portal in reply.text and engine.catalog.commune.phone in reply.text
    assert any(b.value == "#canbo" for b in reply.buttons)
