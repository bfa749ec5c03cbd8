"""bot.catalog_entries: field edits, new and retired entries, restoring a kept copy, on COPIES of the catalog."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.catalog import load_catalog
from bot.catalog_edit import CatalogEditError
from bot.catalog_entries import Change, apply, entry_values, preview, restore
from tests.test_catalog_edit import catalog_copy  # noqa: F401  (shared fixture)

TODAY = dt.date(2026, 12, 5)
NEW_FAQ = {"kind": "faq", "title": "Trợ cấp lũ lụt", "summary": "Hỗ trợ hộ bị thiệt hại do lũ.",
           "answer": "Báo trưởng thôn để được lập danh sách hỗ trợ.",
           "questions": [f"trợ cấp lũ lụt nhận ở đâu {n}" for n in range(6)]}


def _comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


def test_field_edit_keeps_comments_sets_reviewed_and_backs_up(catalog_copy, tmp_path: Path) -> None:
    catalog, intents = catalog_copy
    before = catalog.read_text(encoding="utf-8")
    written = apply(catalog, intents, Change("edit", "khai-sinh", {"fee": "Lệ phí 5.000đ một lần"}), TODAY,
                    tmp_path / "h")
    after = catalog.read_text(encoding="utf-8")
    entry = load_catalog(catalog, intents).entries["khai-sinh"]
    assert (entry.fee, entry.reviewed) == ("Lệ phí 5.000đ một lần", TODAY)
    assert _comments(after) == _comments(before)
    assert len(after.splitlines()) == len(before.splitlines())  # two lines changed, nothing reformatted
    assert sum(line.startswith("+") and not line.startswith("+++") for line in written.diff) == 2
    assert '    fee: "Lệ phí 5.000đ một lần"' in after.splitlines()  # the file's quoting kept
    assert written.backup.read_text(encoding="utf-8") == before


@pytest.mark.parametrize("fields, message", [
    ({"fee": ""}, "'fee' is a required property"),
    ({"processing_time": ""}, "'processing_time' is a required property"),
    ({"online": "có"}, "is not one of"),
    ({"link": "dichvucong.gov.vn"}, "does not match"),
    ({"questions": ["một câu", "hai câu"]}, "is too short"),
    ({"documents": []}, "should be non-empty"),
    ({"colour": "đỏ"}, None),
])
def test_an_edit_that_would_not_load_is_refused_and_nothing_is_written(catalog_copy, tmp_path, fields, message):
    catalog, intents = catalog_copy
    before = catalog.read_bytes()
    with pytest.raises(CatalogEditError) as refused:
        apply(catalog, intents, Change("edit", "khai-sinh", fields), TODAY, tmp_path / "h")
    if message:
        assert any(message in p and str(catalog) in p for p in refused.value.problems), refused.value.problems
    assert catalog.read_bytes() == before
    assert not list((tmp_path / "h").glob("procedures.*.yaml"))


def test_lint_errors_about_the_entry_refuse_it(catalog_copy, tmp_path) -> None:
    catalog, intents = catalog_copy
    # valid_until already passed: lint calls it an error, so publishing must refuse it too.
    with pytest.raises(CatalogEditError) as refused:
        preview(catalog, intents, Change("edit", "khai-sinh", {"fee": "Miễn phí"}), dt.date(2030, 1, 1))
    assert any("valid_until" in p for p in refused.value.problems)


def test_add_then_retire_then_restore(catalog_copy, tmp_path) -> None:
    catalog, intents = catalog_copy
    history = tmp_path / "h"
    apply(catalog, intents, Change("add", "tro-cap-lu-lut", NEW_FAQ), TODAY, history)
    entry = load_catalog(catalog, intents).entries["tro-cap-lu-lut"]
    assert (entry.kind, entry.answer, entry.reviewed) == ("faq", NEW_FAQ["answer"], TODAY)
    assert entry_values(catalog, intents, "tro-cap-lu-lut")["questions"] == NEW_FAQ["questions"]
    with pytest.raises(CatalogEditError, match="đã có"):
        apply(catalog, intents, Change("add", "tro-cap-lu-lut", NEW_FAQ), TODAY, history)
    retired = apply(catalog, intents, Change("retire", "tro-cap-lu-lut"), TODAY, history)
    assert "tro-cap-lu-lut" not in load_catalog(catalog, intents).entries
    restore(catalog, intents, "procedures.yaml", retired.backup.name, history)
    assert "tro-cap-lu-lut" in load_catalog(catalog, intents).entries


def test_retiring_an_entry_other_files_name_is_refused(catalog_copy, tmp_path) -> None:
    catalog, intents = catalog_copy
    with pytest.raises(CatalogEditError) as refused:
        apply(catalog, intents, Change("retire", "khai-sinh"), TODAY, tmp_path / "h")
    assert any("menu.yaml" in p for p in refused.value.problems)
    assert "khai-sinh" in load_catalog(catalog, intents).entries


def test_restore_refuses_a_copy_that_does_not_load(catalog_copy, tmp_path) -> None:
    catalog, intents = catalog_copy
    history = tmp_path / "h"
    history.mkdir()
    (history / "procedures.broken.yaml").write_text("entries: [\n", encoding="utf-8")
    before = catalog.read_bytes()
    with pytest.raises(CatalogEditError):
        restore(catalog, intents, "procedures.yaml", "procedures.broken.yaml", history)
    with pytest.raises(CatalogEditError, match="Không còn bản lưu"):
        restore(catalog, intents, "procedures.yaml", "missing.yaml", history)
    assert catalog.read_bytes() == before
