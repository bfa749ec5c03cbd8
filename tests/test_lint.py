"""`lint`: errors with positions and exit 1 (schema, passed valid_until, national aliases); warnings admins act on."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from bot.catalog import load_catalog
from bot.cli import main
from bot.lint import lint
from tests.live import real_commune

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
    copy.write_text(real_commune(copy.read_text(encoding="utf-8")), encoding="utf-8")
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


def _set_in_entry(path: Path, entry_id: str, key: str, value: str) -> None:
    """Set (or add) `key: value` in the block of `entry_id`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, l in enumerate(lines) if l.strip().endswith(f"id: {entry_id}"))
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())] + "  "
    end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith(indent[:-2] + "- ")), len(lines))
    found = next((j for j in range(start, end) if lines[j].strip().startswith(f"{key}:")), None)
    if found is None:
        lines.insert(start + 1, f"{indent}{key}: {value}")
    else:
        lines[found] = f"{indent}{key}: {value}"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_passed_valid_until_is_an_error(copy, capsys):
    _set_in_entry(copy, "khai-sinh", "valid_until", "2026-01-31")
    found = [p for p in lint(copy, copy.parent / "intents", today=dt.date(2026, 2, 1)) if "valid_until" in p.message]
    assert [(p.severity, p.message) for p in found] == [("error", "khai-sinh: valid_until 2026-01-31 has passed")]
    assert not [p for p in lint(copy, copy.parent / "intents", today=dt.date(2026, 1, 31)) if "valid_until" in p.message]
    assert main(["lint", str(copy)]) == 1


@pytest.mark.parametrize("code, link, expected", [
    ('"1.001193"', "https://dichvucong.gov.vn/thu-tuc-hanh-chinh/019d2bfd-3fe0-70ac-b9d6-5e9e20d6eef7", []),
    ('"1.001193"', "https://dichvucong.gov.vn", ["link https://dichvucong.gov.vn is a home page"]),
    ('"1.001193"', "https://dichvucong.gov.vn/", ["link https://dichvucong.gov.vn/ is a home page"]),
    ('"1.001193"', "https://dichvucong.gov.vn/p/home/dvc-trang-chu.html", ["is not a procedure page"]),
    ('"1.001193"', "https://dichvucong.bocongan.gov.vn/", ["is a home page"]),
    (None, "https://dichvucong.gov.vn/thu-tuc-hanh-chinh/019d2bfd-3fe0-70ac-b9d6-5e9e20d6eef7", ["no procedure code"]),
])
def test_procedure_needs_code_and_page_address(copy, code, link, expected):
    if code is None:
        lines = [l for l in copy.read_text(encoding="utf-8").splitlines() if l.strip() != 'code: "1.001193"']
        copy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        _set_in_entry(copy, "khai-sinh", "code", code)
    _set_in_entry(copy, "khai-sinh", "link", link)
    found = [p for p in lint(copy, copy.parent / "intents") if p.message.startswith("khai-sinh:")
             and ("code" in p.message or "link" in p.message)]
    assert len(found) == len(expected) and all(p.severity == "warning" for p in found)
    assert all(e in p.message for e, p in zip(expected, found))


NATIONAL = ROOT / "national" / "index.jsonl"


@pytest.mark.parametrize("text, severity, message, line", [
    ('entries:\n  - code: "1.010038"\n    aliases: [tách hộ khẩu]\n', None, None, None),
    ('entries:\n  - code: 1.010038\n', "error", "write the code in quotes", 2),
    ('entries:\n  - code: "9.999999"\n', "error", "is not in the national index", 2),
    ('entries:\n  - code: "1.013831"\n    aliases:\n      - sang tên xe đất\n      - "{phrase}"\n', "warning",
     "is a phrasing of curated 'khai-sinh'", 5),
])
def test_national_aliases(copy, tmp_path, text, severity, message, line):
    phrase = load_catalog(copy, copy.parent / "intents").get("khai-sinh").questions[0]
    aliases = tmp_path / "aliases.yaml"
    aliases.write_text(text.replace("{phrase}", phrase), encoding="utf-8")
    found = [p for p in lint(copy, copy.parent / "intents", national_index=NATIONAL, national_aliases=aliases)
             if p.path == str(aliases)]
    if severity is None:
        assert found == []
    else:
        assert [(p.severity, p.line) for p in found] == [(severity, line)] and message in found[0].message


def test_cli_lints_the_configured_aliases(copy, tmp_path, capsys, monkeypatch):
    aliases = tmp_path / "aliases.yaml"
    aliases.write_text('entries:\n  - code: "1.001193"\n    aliases: [x]\n  - code: "9.999999"\n', encoding="utf-8")
    monkeypatch.setenv("BOT_NATIONAL_ALIASES", str(aliases))
    assert main(["lint", str(copy), "--demo"]) == 1  # an unknown code is an error, listed beside the catalog's
    assert f"{aliases}:" in capsys.readouterr().out
