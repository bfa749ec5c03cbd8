"""Load the national index and its aliases into a NationalIndex, or say every reason it cannot be loaded."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from bot.catalog import CatalogError
from bot.national.aliases import AliasEntry, read_aliases
from bot.national.index_file import meta_path
from bot.national.records import CHANNEL_KINDS, ONLINE_LEVELS, RECORD_KEYS, NationalIndex, NationalRecord
from bot.yaml_source import Problem

_STR, _LIST, _INT = "text", "list of texts", "whole number"
_TYPES = {"code": _STR, "name": _STR, "levels": _LIST, "field": _STR, "applicants": _LIST, "authority": _STR,
          "online": _STR, "channels": "list", "time": _STR, "fee": _STR, "documents": _LIST,
          "documents_more": _INT, "legal_basis": _LIST, "url": _STR}


class NationalIndexError(CatalogError):
    """The national index or its aliases cannot be loaded; nothing of them is used."""


def _type_ok(value: Any, kind: str) -> bool:
    if kind == _STR:
        return isinstance(value, str)
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _LIST:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, list) and all(
        isinstance(c, dict) and c.get("kind") in CHANNEL_KINDS and isinstance(c.get("time"), str)
        and isinstance(c.get("fee"), str) for c in value)


def _check(data: Any) -> str:
    """What is wrong with one index line ("" when nothing)."""
    if not isinstance(data, dict):
        return "a line must be a JSON object"
    missing = [k for k in RECORD_KEYS if k not in data]
    if missing:
        return "missing " + ", ".join(missing)
    wrong = [f"{k} must be a {kind}" for k, kind in _TYPES.items() if not _type_ok(data[k], kind)]
    if wrong:
        return "; ".join(wrong)
    if data["online"] not in ONLINE_LEVELS:
        return f"online must be one of {', '.join(ONLINE_LEVELS)}"
    return ""


def _read_meta(index_path: Path, text: bytes, problems: list[Problem]) -> dict[str, Any]:
    path = meta_path(index_path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(Problem(str(path), 1, 1, f"cannot read the index's sidecar: {exc}"))
        return {}
    if not isinstance(meta, dict):
        problems.append(Problem(str(path), 1, 1, "the sidecar must be a JSON object"))
        return {}
    if meta.get("index_sha256") != hashlib.sha256(text).hexdigest():
        problems.append(Problem(str(path), 1, 1, f"does not belong to {index_path.name} (hashes differ): "
                                                 "run `python -m bot import-tthc` again"))
    return meta


def _read_index(index_path: Path, problems: list[Problem]) -> tuple[list[dict], bytes]:
    try:
        raw = index_path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(index_path), 1, 1, f"cannot read file: {exc}"))
        return [], b""
    rows: list[dict] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        try:
            data = json.loads(line)
        except ValueError as exc:
            problems.append(Problem(str(index_path), number, getattr(exc, "colno", 1), f"not JSON: {exc}"))
            continue
        wrong = _check(data)
        if wrong:
            problems.append(Problem(str(index_path), number, 1, wrong))
        elif data["code"] in seen:
            problems.append(Problem(str(index_path), number, 1,
                                    f"code {data['code']} is listed twice (first at line {seen[data['code']]})"))
        else:
            seen[data["code"]] = number
            rows.append(data)
    return rows, raw


def load_national(index_path: Path, aliases_path: Path | None) -> NationalIndex:
    """The index with admins' aliases merged in and disabled records left out; NationalIndexError otherwise."""
    index_path = Path(index_path)
    problems: list[Problem] = []
    rows, raw = _read_index(index_path, problems)
    meta = _read_meta(index_path, raw, problems) if raw else {}
    entries: list[AliasEntry] = []
    alias_bytes = b""
    if aliases_path is not None:
        entries, alias_problems = read_aliases(Path(aliases_path))
        problems += alias_problems
        alias_bytes = Path(aliases_path).read_bytes() if not alias_problems else b""
    codes = {r["code"] for r in rows}
    for entry in entries:
        if entry.code not in codes and rows:
            problems.append(Problem(str(aliases_path), entry.line, entry.column,
                                    f"code {entry.code} is not in the national index {index_path.name}"))
    if problems:
        raise NationalIndexError(problems)
    try:
        source_date = dt.date.fromisoformat(meta["source_date"]) if meta.get("source_date") else None
    except (TypeError, ValueError):
        raise NationalIndexError([Problem(str(meta_path(index_path)), 1, 1, "source_date must be YYYY-MM-DD")])
    by_code = {e.code: e for e in entries}
    records: dict[str, NationalRecord] = {}
    for data in rows:
        entry = by_code.get(data["code"])
        if entry is not None and entry.disabled:
            continue
        records[data["code"]] = NationalRecord.from_json(data, source_date, entry.aliases if entry else ())
    version = hashlib.sha256(raw + b"\0" + alias_bytes).hexdigest()[:12]
    return NationalIndex(records=records, source_date=source_date, version=version,
                         source=", ".join(meta.get("source") or []),
                         disabled={e.code: e.reason for e in entries if e.disabled})
