"""Catalog loading: valid files load; broken ones are reported with their line and never half-loaded."""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from bot.catalog import CatalogError, load_catalog

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def catalog_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the shipped catalog that tests may break."""
    shutil.copy(ROOT / "procedures.yaml", tmp_path / "procedures.yaml")
    shutil.copytree(ROOT / "intents", tmp_path / "intents")
    return tmp_path / "procedures.yaml", tmp_path / "intents"


def test_shipped_catalog_loads():
    catalog = load_catalog(ROOT / "procedures.yaml", ROOT / "intents")
    assert catalog.get("khai-sinh").kind == "procedure"
    assert catalog.get("tai-khoan-dvc").kind == "faq"
    assert catalog.get("khan-cap").kind == "intent"
    assert catalog.commune.example is True
    assert catalog.commune.service_points


def test_shipped_content_never_sends_people_to_the_district():
    text = (ROOT / "procedures.yaml").read_text(encoding="utf-8").lower()
    for path in (ROOT / "intents").glob("*.yaml"):
        text += path.read_text(encoding="utf-8").lower()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for phrase in ("ubnd huyện", "ubnd cấp huyện", "ủy ban nhân dân huyện", "ubnd quận"):
        assert phrase not in body


def _errors(catalog: Path, intents: Path) -> list[str]:
    with pytest.raises(CatalogError) as info:
        load_catalog(catalog, intents)
    return [str(p) for p in info.value.problems]


def test_yaml_syntax_error_has_line(catalog_copy):
    catalog, intents = catalog_copy
    lines = catalog.read_text(encoding="utf-8").splitlines()
    idx = next(i for i, l in enumerate(lines) if l.strip().startswith("title:"))
    lines[idx] = lines[idx] + ' "unclosed: [oops'
    catalog.write_text("\n".join(lines), encoding="utf-8")
    errors = _errors(catalog, intents)
    assert errors and "YAML" in errors[0]
    assert errors[0].startswith(f"{catalog}:")
    line = int(errors[0].split(":")[1])
    assert abs(line - (idx + 1)) <= 2


def test_missing_field_reported_at_its_entry(catalog_copy):
    catalog, intents = catalog_copy
    lines = catalog.read_text(encoding="utf-8").splitlines()
    idx = next(i for i, l in enumerate(lines) if l.strip().startswith("fee:"))
    # drop the fee line (and its continuation lines, if the value is a block)
    indent = len(lines[idx]) - len(lines[idx].lstrip())
    end = idx + 1
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
        end += 1
    del lines[idx:end]
    catalog.write_text("\n".join(lines) + "\n", encoding="utf-8")
    errors = _errors(catalog, intents)
    assert any("'fee' is a required property" in e for e in errors)


def test_duplicate_id(catalog_copy):
    catalog, intents = catalog_copy
    text = catalog.read_text(encoding="utf-8")
    text = text.replace("id: ket-hon", "id: khai-sinh", 1)
    catalog.write_text(text, encoding="utf-8")
    errors = _errors(catalog, intents)
    assert any("duplicate id 'khai-sinh'" in e for e in errors)
    line = next(e for e in errors if "duplicate" in e).split(":")[1]
    assert text.splitlines()[int(line) - 1].strip().endswith("id: khai-sinh")


def test_unknown_intent_in_lexicon(catalog_copy):
    catalog, intents = catalog_copy
    lex = intents / "lexicon.yaml"
    lex.write_text(lex.read_text(encoding="utf-8").replace("\nterms:\n", "\nterms:\n  xin visa: visa-du-lich\n", 1),
                   encoding="utf-8")
    errors = _errors(catalog, intents)
    assert any("unknown intent 'visa-du-lich'" in e and "lexicon.yaml:" in e for e in errors)


@pytest.mark.parametrize("call, message", [
    ('["114", "111"]', "111 is not listed under numbers"),
    ('"911"', "does not match"),
])
def test_an_emergency_call_must_be_a_listed_number(catalog_copy, call, message):
    catalog, intents = catalog_copy
    path = intents / "khan-cap.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace('call: ["114", "112"]', f"call: {call}", 1),
                    encoding="utf-8")
    errors = _errors(catalog, intents)
    assert any(message in e and "khan-cap.yaml:" in e for e in errors), errors


def test_too_few_phrasings_in_intent(catalog_copy):
    catalog, intents = catalog_copy
    (intents / "bad.yaml").write_text(textwrap.dedent("""\
        id: bad
        kind: intent
        title: Thử
        questions: [một, hai]
        answer: x
        reviewed: 2026-01-01
        """), encoding="utf-8")
    errors = _errors(catalog, intents)
    assert any("bad.yaml:4:" in e and "questions" in e for e in errors)


def test_not_utf8(catalog_copy):
    catalog, intents = catalog_copy
    catalog.write_bytes(b"\xff\xfe garbage")
    assert "cannot read" in _errors(catalog, intents)[0]
