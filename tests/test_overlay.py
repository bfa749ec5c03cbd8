"""A commune's layer over the province catalog: facts, overrides, extra and disabled entries, errors at their line."""
from __future__ import annotations

import pytest

from bot.catalog import CatalogError, load_catalog
from bot.overlay import load_overlay
from bot.settings import Settings
from tests.commune_layers import layer_text, write_layer

EXTRA = """entries:
  - id: cho-phien-dong
    kind: faq
    title: Lịch chợ phiên thôn Đông
    questions: [chợ phiên thôn đông họp ngày nào, lịch chợ phiên, chợ đông họp hôm nào,
                cho phien thon dong, khi nào họp chợ phiên, chợ phiên mấy giờ]
    keywords: [chợ phiên]
    summary: Chợ phiên thôn Đông họp sáng mùng 1 và 15 âm lịch.
    answer: Chợ phiên thôn Đông họp sáng mùng 1 và 15 âm lịch.
    legal_basis: [Thông báo của UBND xã]
    sources: [UBND xã]
    reviewed: 2026-01-01
"""


@pytest.fixture(scope="module")
def base():
    settings = Settings.from_env({})
    return load_catalog(settings.catalog_path, settings.intents_dir)


def test_facts_and_overrides_replace_only_what_they_name(tmp_path, base):
    path = write_layer(tmp_path, "an-phu", layer_text("Xã An Phú", 1, fee="Miễn phí (tỉnh quy định)"))
    layered = load_overlay(path, base)
    assert layered.commune.name == "Xã An Phú" and layered.commune.phone == "0200 000 001"
    assert layered.entries["khai-sinh"].fee == "Miễn phí (tỉnh quy định)"
    assert layered.entries["khai-sinh"].where == "Bộ phận một cửa Xã An Phú"
    assert layered.entries["khai-sinh"].questions == base.entries["khai-sinh"].questions
    assert layered.entries["ket-hon"] is base.entries["ket-hon"]  # shared, not copied
    assert base.entries["khai-sinh"].fee != "Miễn phí (tỉnh quy định)"  # the province's catalog is untouched
    assert list(layered.entries) == list(base.entries) and layered.version != base.version


def test_extra_and_disabled_entries(tmp_path, base):
    path = write_layer(tmp_path, "an-phu", layer_text("Xã An Phú", 1, disabled=("ket-hon",), extra=EXTRA))
    layered = load_overlay(path, base)
    assert "ket-hon" not in layered.entries and "cho-phien-dong" in layered.entries
    assert all("ket-hon" not in option.entries for option in layered.menu)


@pytest.mark.parametrize("extra, line, message", [
    ("overrides:\n  khai-sinh:\n    questions: [a]\n", 14, "Additional properties are not allowed"),
    ("overrides:\n  khong-co:\n    fee: x\n", 14, "unknown or disabled entry"),
    ("disabled:\n  - khong-co\n", 14, "unknown entry 'khong-co'"),
    ("disabled:\n  - khan-cap\n", 14, "cannot be disabled"),
    ("entries:\n  - id: khai-sinh\n    kind: faq\n", 14, "entries/0"),
    ("commune:\n  name: x\n", 13, "duplicate key"),
    ("  phone: [\n", 14, "YAML syntax error"),
])
def test_a_broken_layer_names_its_file_and_line(tmp_path, base, extra, line, message):
    path = write_layer(tmp_path, "an-phu", layer_text("Xã An Phú", 1) + extra)
    with pytest.raises(CatalogError) as caught:
        load_overlay(path, base)
    text = str(caught.value)
    assert message in text and str(path) in text
    assert any(p.line == line for p in caught.value.problems), text


def test_a_missing_layer_is_an_error(tmp_path, base):
    with pytest.raises(CatalogError, match="cannot read file"):
        load_overlay(tmp_path / "khong-co" / "commune.yaml", base)
