"""`lint`: errors with positions and exit 1; warnings for shared phrasings, missing sources, stale reviews."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest

from bot.catalog import load_catalog
from bot.cli import main
from bot.lint import lint

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "procedures.yaml", tmp_path / "procedures.yaml")
    shutil.copytree(ROOT / "intents", tmp_path / "intents")
    return tmp_path / "procedures.yaml"


def test_shipped_catalog_is_clean_as_a_demo():
    assert [p for p in lint(ROOT / "procedures.yaml", ROOT / "intents", demo=True) if p.severity == "error"] == []


def test_cli_exit_codes(copy, capsys):
    assert main(["lint", str(copy), "--demo"]) == 0
    copy.write_text(copy.read_text(encoding="utf-8").replace("kind: procedure", "kind: procedur", 1),
                    encoding="utf-8")
    assert main(["lint", str(copy), "--demo"]) == 1
    out = capsys.readouterr().out
    assert f"{copy}:" in out and "kind" in out


def test_example_commune_is_an_error_outside_demo(copy, capsys):
    problems = [p for p in lint(copy, copy.parent / "intents") if p.severity == "error"]
    fields = {p.message.split(":")[0] for p in problems}
    assert {"commune/example", "commune/phone", "commune/police_phone", "commune/name"} <= fields
    example = next(p for p in problems if p.message.startswith("commune/example"))
    lines = copy.read_text(encoding="utf-8").splitlines()
    assert "example:" in lines[example.line - 1]  # pointed at its own line
    assert main(["lint", str(copy)]) == 1


def test_real_commune_data_passes(copy):
    text = copy.read_text(encoding="utf-8").replace("example: true", "example: false")
    text = re.sub(r"0123 456 (\d{3})", lambda m: f"0912 345 {m.group(1)}", text)
    text = re.sub(r" ?\(?VÍ DỤ[^\"\n)]*\)?", "", text)
    copy.write_text(text, encoding="utf-8")
    assert [p for p in lint(copy, copy.parent / "intents") if p.severity == "error"] == []


@pytest.mark.parametrize("phone, ok", [
    ("0912 345 678", True), ("0912.345.678", True), ("+84 912 345 678", True), ("0203 3821 456", True),
    ("1900 1234", True), ("113", True), ("0912 345 678, 0203 3821 456", True),
    ("0123 456 789", False), ("123", False), ("chưa có", False), ("0912 345 67", False),
])
def test_phone_numbers(phone, ok):
    from bot.lint import phone_ok

    assert phone_ok(phone) is ok


def test_shared_phrasing_is_a_warning_at_its_line(copy):
    phrasing = load_catalog(copy, copy.parent / "intents").get("khai-sinh").questions[0]
    # put the same phrasing under ket-hon too
    lines = copy.read_text(encoding="utf-8").splitlines()
    i = next(i for i, l in enumerate(lines) if l.strip().endswith("id: ket-hon"))
    q = next(j for j in range(i, len(lines)) if lines[j].strip() == "questions:")
    indent = lines[q + 1][: len(lines[q + 1]) - len(lines[q + 1].lstrip())]
    lines.insert(q + 1, f"{indent}- {json.dumps(phrasing, ensure_ascii=False)}")
    copy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    warnings = [p for p in lint(copy, copy.parent / "intents") if "also under" in p.message]
    assert warnings and warnings[0].severity == "warning" and warnings[0].line == q + 2


def test_stale_review_and_missing_source(copy):
    problems = lint(copy, copy.parent / "intents", today=dt.date(2030, 1, 1))
    assert any("over 12 months" in p.message for p in problems)
    text = copy.read_text(encoding="utf-8")
    lines = text.splitlines()
    i = next(i for i, l in enumerate(lines) if l.strip() == "sources:")
    indent = len(lines[i]) - len(lines[i].lstrip())
    j = i + 1
    while j < len(lines) and lines[j].strip().startswith("- ") and len(lines[j]) - len(lines[j].lstrip()) > indent:
        j += 1
    lines[i:j] = [lines[i].rstrip() + " []"]
    copy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert any("no source" in p.message for p in lint(copy, copy.parent / "intents"))
