"""`lint`: errors with positions and exit 1; warnings for shared phrasings, missing sources, stale reviews."""
from __future__ import annotations

import datetime as dt
import json
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


def test_shipped_catalog_is_clean():
    assert [p for p in lint(ROOT / "procedures.yaml", ROOT / "intents") if p.severity == "error"] == []


def test_cli_exit_codes(copy, capsys):
    assert main(["lint", str(copy)]) == 0
    copy.write_text(copy.read_text(encoding="utf-8").replace("kind: procedure", "kind: procedur", 1),
                    encoding="utf-8")
    assert main(["lint", str(copy)]) == 1
    out = capsys.readouterr().out
    assert f"{copy}:" in out and "kind" in out


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
