"""bot.catalog_edit: validated, comment-keeping, atomic edits of COPIES of the catalog."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.catalog import load_catalog
from bot.catalog_edit import CatalogEditError, add_phrasings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def catalog_copy(tmp_path: Path) -> tuple[Path, Path]:
    """procedures.yaml and intents/ copied into tmp_path (the repository's files are never edited)."""
    shutil.copy2(ROOT / "procedures.yaml", tmp_path / "procedures.yaml")
    shutil.copytree(ROOT / "intents", tmp_path / "intents")
    return tmp_path / "procedures.yaml", tmp_path / "intents"


def _intent_id(intents_dir: Path) -> str:
    from bot.catalog import LEXICON_FILE
    from bot.yaml_source import read_yaml

    trees = (read_yaml(p)[0] for p in sorted(intents_dir.glob("*.yaml")) if p.name != LEXICON_FILE)
    return next(tree["id"] for tree in trees if "id" in tree)


def test_adds_phrasing_keeps_comments_and_keeps_backup(catalog_copy: tuple[Path, Path], tmp_path: Path) -> None:
    catalog, intents = catalog_copy
    before = catalog.read_text(encoding="utf-8")
    comments_before = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    history = tmp_path / "history"
    result = add_phrasings(catalog, intents, "khai-sinh", ["làm giấy khai sanh cho bé ở đâu dzậy"], history_dir=history)
    after = catalog.read_text(encoding="utf-8")
    assert result.added == ("làm giấy khai sanh cho bé ở đâu dzậy",)
    assert "làm giấy khai sanh cho bé ở đâu dzậy" in load_catalog(catalog, intents).entries["khai-sinh"].questions
    assert [line for line in after.splitlines() if line.lstrip().startswith("#")] == comments_before
    assert result.backup.read_text(encoding="utf-8") == before
    assert result.backup.parent == history
    # Nothing else moved: the diff is only the added line.
    assert len(after.splitlines()) == len(before.splitlines()) + 1
    assert not list(catalog.parent.glob(".procedures.yaml.*"))  # no temp file left behind


def test_adds_to_an_intent_file(catalog_copy: tuple[Path, Path], tmp_path: Path) -> None:
    catalog, intents = catalog_copy
    intent_id = _intent_id(intents)
    result = add_phrasings(catalog, intents, intent_id, ["câu hỏi thử nghiệm rất riêng số 4711"],
                           history_dir=tmp_path / "h")
    assert result.path.parent == intents
    assert "câu hỏi thử nghiệm rất riêng số 4711" in load_catalog(catalog, intents).entries[intent_id].questions


def test_duplicate_in_the_same_entry_is_skipped_and_nothing_new_is_refused(catalog_copy, tmp_path) -> None:
    catalog, intents = catalog_copy
    existing = load_catalog(catalog, intents).entries["khai-sinh"].questions[0]
    before = catalog.read_bytes()
    with pytest.raises(CatalogEditError, match="đã có"):
        add_phrasings(catalog, intents, "khai-sinh", [existing.upper()], history_dir=tmp_path / "h")
    assert catalog.read_bytes() == before


def test_phrasing_of_another_entry_is_refused(catalog_copy, tmp_path) -> None:
    catalog, intents = catalog_copy
    entries = load_catalog(catalog, intents).entries
    other = next(e for e in entries.values() if e.id != "khai-sinh" and e.kind == "procedure")
    before = catalog.read_bytes()
    with pytest.raises(CatalogEditError, match=other.id):
        add_phrasings(catalog, intents, "khai-sinh", [other.questions[0]], history_dir=tmp_path / "h")
    assert catalog.read_bytes() == before


def test_unknown_entry_and_empty_input_are_refused(catalog_copy, tmp_path) -> None:
    catalog, intents = catalog_copy
    with pytest.raises(CatalogEditError, match="khong-co-muc-nay"):
        add_phrasings(catalog, intents, "khong-co-muc-nay", ["xin chào"], history_dir=tmp_path / "h")
    with pytest.raises(CatalogEditError):
        add_phrasings(catalog, intents, "khai-sinh", ["   ", ""], history_dir=tmp_path / "h")


def test_invalid_result_is_not_written(catalog_copy, tmp_path, monkeypatch) -> None:
    catalog, intents = catalog_copy
    before = catalog.read_bytes()
    import bot.catalog_edit as edit

    # A dump that breaks the schema stands in for any edit that would produce an invalid catalog.
    monkeypatch.setattr(edit, "_dump", lambda tree: "commune: {}\nentries: []\n")
    with pytest.raises(CatalogEditError) as info:
        add_phrasings(catalog, intents, "khai-sinh", ["một câu mới hoàn toàn"], history_dir=tmp_path / "h")
    assert info.value.problems
    assert catalog.read_bytes() == before
    assert not list((tmp_path / "h").glob("procedures.*"))
