"""Whole-entry catalog edits (fields, a new entry, retiring one) and restoring a kept version.

Each change is applied to the round-trip YAML tree (comments and layout kept), sets `reviewed`, is loaded
and linted on a copy before anything is written, and is written atomically with the old file kept.
"""
from __future__ import annotations

import datetime as dt
import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import ScalarString

from bot.catalog import Entry
from bot.catalog_edit import (CatalogEditError, _dump, _locate, _locked, _validate_copy, _write_atomically,
                              history_dir_for)
from bot.yaml_source import plain, read_yaml

TEXT_FIELDS = ("title", "summary", "answer", "authority", "where", "fee", "processing_time", "online", "link")
LIST_FIELDS = ("questions", "documents", "steps", "sources")
FIELDS = TEXT_FIELDS + LIST_FIELDS
ACTIONS = ("edit", "add", "retire")
# Key order of a new entry, as the shipped file writes them.
_ORDER = ("id", "kind", "title", "questions", "keywords", "summary", "answer", "authority", "where", "documents",
          "steps", "fee", "processing_time", "online", "link", "legal_basis", "sources", "reviewed")


@dataclass(frozen=True)
class Change:
    """What a draft asks: `edit` fields of an entry, `add` a new one (fields include kind), or `retire` it."""

    action: str
    entry_id: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Preview:
    """A change applied in memory: the file it touches, its text before and after, lint's warnings on it."""

    path: Path
    before: str
    after: str
    warnings: tuple[str, ...] = ()

    def diff(self) -> list[str]:
        """Unified diff lines of the file (what an admin reviews)."""
        return list(difflib.unified_diff(self.before.splitlines(), self.after.splitlines(), self.path.name,
                                         self.path.name, n=2, lineterm=""))


@dataclass(frozen=True)
class Written:
    """A change on disk: the file, the copy of its previous text, and the diff."""

    path: Path
    backup: Path
    diff: tuple[str, ...]
    sha: str


def digest(text: str) -> str:
    """Short content hash of a file's text (tells whether it changed since a version)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def entry_values(catalog_path: Path, intents_dir: Path, entry_id: str) -> dict[str, Any]:
    """The editable fields of an entry as written in its file (plain strings and lists; missing = "" / [])."""
    _, _, node = _locate(Path(catalog_path), Path(intents_dir), entry_id)
    values = plain(node)
    out: dict[str, Any] = {"kind": values.get("kind", "")}
    for name in FIELDS:
        default: Any = [] if name in LIST_FIELDS else ""
        out[name] = values.get(name, default)
    return out


def values_of(entry: Entry) -> dict[str, Any]:
    """The editable fields of a loaded entry, as entry_values gives them (without reading the file again)."""
    out: dict[str, Any] = {"kind": entry.kind}
    for name in FIELDS:
        value = getattr(entry, name)
        out[name] = list(value) if name in LIST_FIELDS else value
    return out


def _clean(name: str, value: Any) -> Any:
    if name in LIST_FIELDS:
        return [" ".join(str(v).split()) for v in value or [] if str(v).strip()]
    return str(value or "").strip()


def _set_text(node: CommentedMap, name: str, value: str) -> None:
    old = node.get(name)
    if not value:
        node.pop(name, None)  # an empty optional field is left out; a required one fails validation
    elif isinstance(old, ScalarString):
        node[name] = type(old)(value)  # keep the quoting style the file used
    elif name in node:
        node[name] = value
    else:
        node.insert(_slot(node, name), name, value)


def _set_list(node: CommentedMap, name: str, items: list[str]) -> None:
    seq = node.get(name)
    if not isinstance(seq, CommentedSeq):
        seq = CommentedSeq()
        node.insert(_slot(node, name), name, seq)
    if [str(v) for v in seq] == items:
        return
    for i, item in enumerate(items):  # items kept in place keep their end-of-line comments
        if i < len(seq):
            if str(seq[i]) != item:
                seq[i] = item
        else:
            seq.append(item)
    while len(seq) > len(items):
        seq.pop()
    for index in [k for k in seq.ca.items if isinstance(k, int) and k >= len(items)]:
        del seq.ca.items[index]


def _slot(node: CommentedMap, name: str) -> int:
    """Where a missing key goes: after the last present key that comes before it in the usual order."""
    before = _ORDER[:_ORDER.index(name)] if name in _ORDER else _ORDER
    keys = list(node.keys())
    present = [keys.index(k) for k in before if k in node]
    return max(present) + 1 if present else len(keys)


def _apply(node: CommentedMap, fields: Mapping[str, Any], today: dt.date) -> None:
    for name, value in fields.items():
        if name not in FIELDS:
            raise CatalogEditError(f"Không sửa được trường {name!r} từ trang quản trị")
        value = _clean(name, value)
        _set_list(node, name, value) if name in LIST_FIELDS else _set_text(node, name, value)
    node["reviewed"] = today


def _new_entry(change: Change, today: dt.date) -> CommentedMap:
    kind = str(change.fields.get("kind") or "")
    if kind not in ("procedure", "faq"):
        raise CatalogEditError("Mục mới phải là thủ tục hoặc hỏi đáp")
    node = CommentedMap()
    node["id"], node["kind"] = change.entry_id, kind
    for name in ("keywords", "legal_basis", "sources"):  # required lists the form does not ask for may be empty
        node[name] = CommentedSeq()
    _apply(node, {k: v for k, v in change.fields.items() if k != "kind"}, today)
    return CommentedMap((k, node[k]) for k in sorted(node, key=lambda k: _ORDER.index(k) if k in _ORDER else 99))


def _tree_for(catalog_path: Path, intents_dir: Path, change: Change, today: dt.date) -> tuple[Path, Any]:
    """(file, its tree with the change applied)."""
    if change.action == "add":
        tree, problems = read_yaml(catalog_path)
        if tree is None:
            raise CatalogEditError("Không đọc được danh mục", [str(p) for p in problems])
        try:
            _locate(catalog_path, intents_dir, change.entry_id)
        except CatalogEditError:
            tree["entries"].append(_new_entry(change, today))
            return catalog_path, tree
        raise CatalogEditError(f"Mã {change.entry_id!r} đã có trong danh mục; chọn mã khác")
    path, tree, node = _locate(catalog_path, intents_dir, change.entry_id)
    if change.action == "edit":
        _apply(node, change.fields, today)
    elif change.action == "retire":
        if path != catalog_path:
            raise CatalogEditError("Chỉ thủ tục và hỏi đáp mới ngừng dùng được; mục giao tiếp thì sửa câu trả lời")
        tree["entries"].remove(node)
    else:
        raise CatalogEditError(f"Thao tác không hợp lệ: {change.action!r}")
    return path, tree


def preview(catalog_path: Path, intents_dir: Path, change: Change, today: dt.date) -> Preview:
    """The change applied in memory and checked like lint; CatalogEditError (with problems) when it fails."""
    catalog_path, intents_dir = Path(catalog_path), Path(intents_dir)
    path, tree = _tree_for(catalog_path, intents_dir, change, today)
    before = path.read_text(encoding="utf-8")
    after = _dump(tree)
    found = _validate_copy(catalog_path, intents_dir, path, after, today=today)
    # Lint's errors about this entry (e.g. valid_until passed) refuse it; its warnings are shown.
    mine = [(p, shown) for p, shown in found if p.message.startswith(f"{change.entry_id}:")]
    errors = [shown for p, shown in mine if p.severity == "error"]
    if errors:
        raise CatalogEditError("Danh mục sau khi sửa không hợp lệ", errors)
    return Preview(path, before, after, tuple(shown for p, shown in mine if p.severity != "error"))


def apply(catalog_path: Path, intents_dir: Path, change: Change, today: dt.date,
          history_dir: Path | None = None) -> Written:
    """Write the change (validated again under the lock, so two publishes cannot interleave)."""
    history_dir = Path(history_dir) if history_dir else history_dir_for(Path(catalog_path))
    with _locked(history_dir):
        shown = preview(catalog_path, intents_dir, change, today)
        backup = _write_atomically(shown.path, shown.after, history_dir)
    return Written(shown.path, backup, tuple(shown.diff()), digest(shown.after))


def file_for(catalog_path: Path, intents_dir: Path, name: str) -> Path:
    """The catalog file a version names ("procedures.yaml" or an intents/ file name)."""
    catalog_path = Path(catalog_path)
    path = catalog_path if name == catalog_path.name else Path(intents_dir) / Path(name).name
    if not path.exists():
        raise CatalogEditError(f"Không còn tệp {name!r}")
    return path


def restore(catalog_path: Path, intents_dir: Path, name: str, backup_name: str,
            history_dir: Path | None = None) -> Written:
    """Put a kept copy back in place of file `name` (validated first; the replaced text is kept in turn)."""
    catalog_path, intents_dir = Path(catalog_path), Path(intents_dir)
    history_dir = Path(history_dir) if history_dir else history_dir_for(catalog_path)
    source = history_dir / Path(backup_name).name
    if not source.is_file():
        raise CatalogEditError(f"Không còn bản lưu {backup_name!r} trong lịch sử")
    with _locked(history_dir):
        path = file_for(catalog_path, intents_dir, name)
        before, text = path.read_text(encoding="utf-8"), source.read_text(encoding="utf-8")
        _validate_copy(catalog_path, intents_dir, path, text)
        backup = _write_atomically(path, text, history_dir)
    diff = difflib.unified_diff(before.splitlines(), text.splitlines(), path.name, path.name, n=2, lineterm="")
    return Written(path, backup, tuple(diff), digest(text))
