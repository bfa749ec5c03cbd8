"""National records' replies: a first card that fits a phone, parts, and the record's own page."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog import load_catalog
from bot.national import card, load_national
from bot.replies import nfc_len
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = Settings.from_env({})
INDEX = load_national(SETTINGS.national_index, SETTINGS.national_aliases)
COMMUNE = load_catalog(ROOT / "procedures.yaml", ROOT / "intents").commune


def test_every_first_card_fits_and_names_the_facts():
    for record in INDEX.records.values():
        reply = card.first_card(record, COMMUNE)
        assert nfc_len(reply.text) <= 600, record.code
        assert record.authority in reply.text and record.fee in reply.text
        where = reply.text.splitlines()[1].lower()
        assert where.startswith("• nơi giải quyết") and "huyện" not in where, record.code  # never the old district
        assert reply.buttons[-1].value == f"#sai {record.code}"
        links = [b for b in reply.buttons if b.kind == "url"]
        assert all(b.value.startswith("https://dichvucong.gov.vn/thu-tuc-hanh-chinh/") for b in links)


def test_online_filing_is_offered_only_where_possible():
    for record in INDEX.records.values():
        page = card.page_button(record)
        if page is not None:
            assert ("nộp trực tuyến" in page.title) is (record.online != "không")


@pytest.mark.parametrize("part", ["documents", "fee", "processing_time", "where", "online", "legal_basis", "steps"])
def test_parts(part):
    record = INDEX.get("2.002036")
    reply = card.part(record, part, COMMUNE)
    assert record.name in reply.text and len(reply.buttons) <= 4
