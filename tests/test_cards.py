"""Entry cards fit a phone: first card ≤ 600 characters, details and legal bases behind buttons."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot import cards
from bot.catalog import load_catalog
from bot.replies import nfc_len

ROOT = Path(__file__).resolve().parent.parent
CATALOG = load_catalog(ROOT / "procedures.yaml", ROOT / "intents")
PROCEDURES = [e for e in CATALOG.entries.values() if e.kind == "procedure"]
FAQS = [e for e in CATALOG.entries.values() if e.kind == "faq"]


def first_card(entry):
    return cards.procedure_summary(entry, CATALOG.commune) if entry.kind == "procedure" \
        else cards.faq_answer(entry, CATALOG.commune)


@pytest.mark.parametrize("entry", PROCEDURES + FAQS, ids=lambda e: e.id)
def test_first_card_fits_a_phone_screen(entry):
    card = first_card(entry)
    assert nfc_len(card.text) <= cards.FIRST_CARD
    assert len(card.buttons) <= 4
    for basis in entry.legal_basis:
        assert basis not in card.text  # legal bases sit behind their own button


@pytest.mark.parametrize("entry", PROCEDURES, ids=lambda e: e.id)
def test_first_card_states_the_facts_and_offers_a_correction(entry):
    card = first_card(entry)
    for fact in (entry.authority, entry.fee, entry.processing_time):
        assert fact in card.text
    assert card.buttons[-1] == cards.wrong_button(entry.id)


def test_online_button_only_where_the_procedure_can_be_done_online():
    entry = next(e for e in PROCEDURES if e.link)
    online = cards.procedure_summary(replace(entry, online="toàn trình"), CATALOG.commune)
    offline = cards.procedure_summary(replace(entry, online="không"), CATALOG.commune)
    assert any(b.kind == "url" and "trực tuyến" in b.title for b in online.buttons)
    assert not any("trực tuyến" in b.title for b in offline.buttons)
    part = cards.procedure_part(replace(entry, online="không"), "fee", CATALOG.commune)
    assert not any("trực tuyến" in b.title for b in part.buttons)


def test_legal_basis_behind_a_button():
    entry = next(e for e in PROCEDURES if e.legal_basis)
    part = cards.procedure_part(entry, "documents", CATALOG.commune)
    assert cards.part_button("legal_basis", entry.id) in part.buttons
    basis = cards.procedure_part(entry, "legal_basis", CATALOG.commune)
    assert all(b in basis.text for b in entry.legal_basis)


def test_long_faq_shows_its_summary_first_and_the_whole_answer_behind_a_button():
    entry = next(e for e in FAQS if nfc_len(cards.fill(e.answer, CATALOG.commune)) > cards.FIRST_CARD)
    card = cards.faq_answer(entry, CATALOG.commune)
    assert cards.part_button("details", entry.id) in card.buttons
    whole = cards.faq_answer(entry, CATALOG.commune, whole=True)
    assert whole.text.startswith(cards.fill(entry.answer, CATALOG.commune)[:100])


def test_button_payloads_are_codes_the_dialogue_reads():
    assert cards.part_button("fee", "khai-sinh").value == "#lephi khai-sinh"
    assert cards.wrong_button("khai-sinh").value == "#sai khai-sinh"
