"""load_national: the index with admins' aliases; every problem reported with its position."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from bot.catalog import CatalogError
from bot.national import NationalIndexError, load_national
from bot.national.importer import run_import
from bot.national.index_file import meta_path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "tthc" / "records.jsonl"

GOOD = """\
# chú thích của cán bộ quản trị
version: 1
entries:
  - code: "1.010038"
    aliases:
      - tách hộ khẩu
      - tach khau
  - code: "1.001193"
    aliases: [làm giấy khai sinh]
  - code: "2.000815"
    disabled: true
    reason: đã có mục chung-thuc-ban-sao trong procedures.yaml
"""


@pytest.fixture
def index(tmp_path: Path) -> Path:
    path = tmp_path / "index.jsonl"
    run_import([FIXTURE], path, dt.date(2026, 7, 1))
    return path


def aliases(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "aliases.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(index: Path, aliases_path: Path) -> list[str]:
    with pytest.raises(NationalIndexError) as err:
        load_national(index, aliases_path)
    return [str(p) for p in err.value.problems]


def test_good_files(index, tmp_path):
    national = load_national(index, aliases(tmp_path, GOOD))
    assert list(national.records) == ["1.001193", "1.001613", "1.010038", "1.012575", "1.013831", "1.014063"]
    assert national.disabled == {"2.000815": "đã có mục chung-thuc-ban-sao trong procedures.yaml"}
    assert national.get("2.000815") is None
    record = national.get("1.010038")
    assert record.aliases == ("tách hộ khẩu", "tach khau") and record.authority == "Công an xã"
    assert record.channels[0].kind == "Trực tiếp" and record.channels[0].fee == "10.000 đồng"
    assert record.source_date == national.source_date == dt.date(2026, 7, 1)
    assert national.source == "records.jsonl"
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.name = "khác"  # type: ignore[misc]


def test_search_over_codes_names_and_aliases(index, tmp_path):
    national = load_national(index, aliases(tmp_path, GOOD))
    assert [r.code for r in national.search("tach ho khau")] == ["1.010038"]  # an alias, without diacritics
    assert [r.code for r in national.search("1.014063")] == ["1.014063"]
    assert [r.code for r in national.search("THẺ CĂN CƯỚC")] == ["1.014063"]
    assert national.search("chứng thực") == []  # disabled
    assert national.search("  ") == []


def test_version_follows_both_files(index, tmp_path):
    one = load_national(index, aliases(tmp_path, GOOD)).version
    two = load_national(index, aliases(tmp_path, GOOD.replace("tach khau", "tach khau rieng"))).version
    assert one != two and len(one) == 12
    assert load_national(index, None).version not in (one, two)


@pytest.mark.parametrize("text, expected", [
    ("entries:\n  - code: \"1.010038\"\n    aliases:\n      - [tách hộ\n", ":5:"),  # YAML syntax error, with its line
    ("entries:\n  - code: 1.010038\n", ':2:5: entries/0/code: write the code in quotes'),
    ("entries:\n  - code: \"1.010038\"\n    alias: [tách hộ]\n", ":2:5: entries/0: Additional properties"),
    ("entries:\n  - code: \"1.010038\"\n    disabled: true\n", "'reason' is a required property"),
    ("entries:\n  - code: \"9.999999\"\n    aliases: [không có]\n", ":2:5: code 9.999999 is not in the national index"),
    ("entries:\n  - code: \"1.010038\"\n  - code: \"1.010038\"\n", ":3:5: code 1.010038 is listed twice (first at line 2)"),
    ("entries:\n  - code: \"1.010038\"\n    aliases: [tách hộ]\n  - code: \"1.001193\"\n    aliases: [Tách Hộ]\n",
     ":5:15: alias 'Tách Hộ' is also under 1.010038"),
    ("entries:\n  - code: \"1.010038\"\n    aliases: [x]\n", "is too short"),
])
def test_broken_aliases_file(index, tmp_path, text, expected):
    found = problems(index, aliases(tmp_path, text))
    assert any(expected in p for p in found), found
    assert all(p.startswith(str(tmp_path / "aliases.yaml")) for p in found)


def test_broken_index_lines_and_sidecar(index, tmp_path):
    lines = index.read_text(encoding="utf-8").splitlines()
    data = json.loads(lines[1])
    data["online"] = "có"
    lines[1] = json.dumps(data, ensure_ascii=False)
    lines[3] = lines[3][:40]  # a line cut off
    index.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = problems(index, aliases(tmp_path, GOOD))
    assert any(p.startswith(f"{index}:2:1: online must be one of") for p in found)
    assert any(p.startswith(f"{index}:4:") and "not JSON" in p for p in found)
    assert any(p.startswith(f"{meta_path(index)}:1:1: does not belong to index.jsonl") for p in found)


def test_missing_files(tmp_path):
    found = problems(tmp_path / "index.jsonl", tmp_path / "aliases.yaml")
    assert any("index.jsonl:1:1: cannot read file" in p for p in found)
    assert any("aliases.yaml:1:1: cannot read file" in p for p in found)


def test_error_is_a_catalog_error(index, tmp_path):
    # The engine already treats CatalogError as "keep the running version": the national tier fails the same way.
    with pytest.raises(CatalogError):
        load_national(index, aliases(tmp_path, "entries: nope\n"))


def test_shipped_aliases_name_the_issues_examples():
    national = load_national(ROOT / "national" / "index.jsonl", ROOT / "national" / "aliases.yaml")
    owner = {alias: r.code for r in national.records.values() for alias in r.aliases}
    for alias, words in [("sang tên sổ đỏ", "đăng ký biến động"), ("tách hộ khẩu", "tách hộ"),
                         ("sửa tên khai sinh", "cải chính"), ("xin xác nhận cư trú", "xác nhận thông tin về cư trú")]:
        assert words in national.records[owner[alias]].name.lower(), alias
