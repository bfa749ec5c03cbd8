"""Safe edits of the catalog files: validated first, comments kept, atomic write, history kept."""
from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from bot.catalog import LEXICON_FILE, CatalogError, load_catalog
from bot.lint import findings
from bot.yaml_source import read_yaml, yaml_loader
from bot.normalize import Normalizer

PRIVATE_FILE = 0o600  # what the service writes is readable by its own user only
# One writer at a time inside this process; the lock file covers other processes (gunicorn).
_LOCK = threading.Lock()


_GONE = "Các câu này không còn trong mục"
_NO_ENTRY = "Không có mục {entry_id!r} trong danh mục"


class CatalogEditError(Exception):
    """The edit was refused; the files on disk are unchanged."""

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = problems or []
        super().__init__(message)


@dataclass(frozen=True)
class EditResult:
    """What an edit changed: the file written, the phrasings added (or removed) and the backup kept."""

    path: Path
    added: tuple[str, ...]
    skipped: tuple[str, ...]
    backup: Path
    removed: tuple[str, ...] = ()


def history_dir_for(catalog_path: Path) -> Path:
    """Where previous versions go: instance/catalog-history next to the catalog."""
    return Path(catalog_path).resolve().parent / "instance" / "catalog-history"


@contextmanager
def _locked(history_dir: Path) -> Iterator[None]:
    history_dir.mkdir(parents=True, exist_ok=True)
    with _LOCK, open(history_dir / ".lock", "w") as handle:
        try:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows: the thread lock alone
            pass
        yield


def _locate(catalog_path: Path, intents_dir: Path, entry_id: str) -> tuple[Path, Any, Any]:
    """(file, whole tree, entry node) of the entry with this id."""
    tree, problems = read_yaml(catalog_path)
    if tree is None:
        raise CatalogEditError("Không đọc được danh mục", [str(p) for p in problems])
    for node in tree.get("entries") or []:
        if node.get("id") == entry_id:
            return catalog_path, tree, node
    for path in sorted(Path(intents_dir).glob("*.yaml")):
        if path.name == LEXICON_FILE:
            continue
        node, _ = read_yaml(path)
        if node is not None and node.get("id") == entry_id:
            return path, node, node
    raise CatalogEditError(_NO_ENTRY.format(entry_id=entry_id))


def _dump(tree: Any) -> str:
    buffer = io.StringIO()
    yaml_loader().dump(tree, buffer)
    return buffer.getvalue()


def _validate_copy(catalog_path: Path, intents_dir: Path, target: Path, new_text: str,
                   today: dt.date | None = None) -> list[Any]:
    """Load the would-be catalog from temporary copies; raise CatalogEditError if it fails.

    With `today`, also return lint's findings on it (bot.lint.findings), paths shown as the real files'.
    """
    with tempfile.TemporaryDirectory(prefix="catalog-check-") as tmp:
        tmp_catalog = Path(tmp) / catalog_path.name
        tmp_intents = Path(tmp) / "intents"
        shutil.copy2(catalog_path, tmp_catalog)
        shutil.copytree(intents_dir, tmp_intents) if Path(intents_dir).is_dir() else tmp_intents.mkdir()
        dest = tmp_catalog if target == catalog_path else tmp_intents / target.name
        dest.write_text(new_text, encoding="utf-8")
        def real(problem: Any) -> str:
            return str(problem).replace(str(tmp_intents), str(intents_dir)).replace(str(tmp_catalog), str(catalog_path))

        try:
            catalog = load_catalog(tmp_catalog, tmp_intents)
        except CatalogError as exc:
            raise CatalogEditError("Danh mục sau khi sửa không hợp lệ", [real(p) for p in exc.problems]) from exc
        if today is None:
            return []
        return [(p, real(p)) for p in findings(catalog, today, exact=False)]


def _write_atomically(path: Path, text: str, history_dir: Path) -> Path:
    """Keep a timestamped copy of the old file, then replace it in one step."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    backup = history_dir / f"{path.stem}.{stamp}{path.suffix}"
    shutil.copy2(path, backup)
    os.chmod(backup, PRIVATE_FILE)  # taught phrasings are citizens' words
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, PRIVATE_FILE)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return backup


def add_phrasings(catalog_path: Path, intents_dir: Path, entry_id: str, phrasings: list[str],
                  history_dir: Path | None = None) -> EditResult:
    """Append citizen phrasings to an entry's questions: validated, round-trip, atomic, backed up."""
    catalog_path, intents_dir = Path(catalog_path), Path(intents_dir)
    history_dir = Path(history_dir) if history_dir else history_dir_for(catalog_path)
    wanted = [" ".join(p.split()) for p in phrasings if p and p.strip()]
    if not wanted:
        raise CatalogEditError("Chưa có câu hỏi nào để thêm")
    with _locked(history_dir):
        try:
            catalog = load_catalog(catalog_path, intents_dir)
        except CatalogError as exc:  # broken by hand: say where, change nothing
            raise CatalogEditError("Danh mục hiện không đọc được; hãy sửa lỗi này trước",
                                   [str(p) for p in exc.problems]) from exc
        # The matcher's own normalisation: phrasings equal after it are the same question to the bot.
        normalize = Normalizer(catalog.lexicon)
        owner_of = {normalize(q): e.id for e in catalog.entries.values() for q in e.questions}
        path, tree, node = _locate(catalog_path, intents_dir, entry_id)
        added: list[str] = []
        skipped: list[str] = []
        for text in wanted:
            key = normalize(text)
            owner = owner_of.get(key)
            if owner == entry_id or not key:
                skipped.append(text)
            elif owner is not None:
                raise CatalogEditError(f"Câu “{text}” đã thuộc mục {owner!r}; không thể gắn vào hai mục")
            else:
                owner_of[key] = entry_id
                added.append(text)
        if not added:
            raise CatalogEditError("Các câu này đã có trong mục; không có gì để thêm")
        node["questions"].extend(added)
        new_text = _dump(tree)
        _validate_copy(catalog_path, intents_dir, path, new_text)
        backup = _write_atomically(path, new_text, history_dir)
    return EditResult(path=path, added=tuple(added), skipped=tuple(skipped), backup=backup)


def remove_phrasings(catalog_path: Path, intents_dir: Path, entry_id: str, phrasings: list[str],
                     history_dir: Path | None = None) -> EditResult:
    """Take phrasings out of an entry's questions: validated (an entry keeps its minimum), atomic, backed up."""
    catalog_path, intents_dir = Path(catalog_path), Path(intents_dir)
    history_dir = Path(history_dir) if history_dir else history_dir_for(catalog_path)
    wanted = {" ".join(p.split()) for p in phrasings if p and p.strip()}
    if not wanted:
        raise CatalogEditError("Chưa chọn câu nào để xoá")
    with _locked(history_dir):
        path, tree, node = _locate(catalog_path, intents_dir, entry_id)
        questions = node["questions"]
        gone = [q for q in questions if " ".join(str(q).split()) in wanted]
        if not gone:
            raise CatalogEditError(_GONE)
        for question in gone:
            questions.remove(question)
        new_text = _dump(tree)
        _validate_copy(catalog_path, intents_dir, path, new_text)  # e.g. fewer than the minimum of phrasings
        backup = _write_atomically(path, new_text, history_dir)
    return EditResult(path=path, added=(), skipped=(), backup=backup, removed=tuple(str(q) for q in gone))


def purge_phrasing(catalog_path: Path, intents_dir: Path, entry_id: str, phrasing: str,
                   history_dir: Path | None = None) -> int:
    """Take a withdrawn citizen's phrasing out of the entry and out of every history copy; copies rewritten.

    Idempotent (a phrasing already gone is no error); raises CatalogEditError when the live file cannot be
    edited (it does not load, or the entry would fall below its minimum of phrasings).
    """
    catalog_path = Path(catalog_path)
    history_dir = Path(history_dir) if history_dir else history_dir_for(catalog_path)
    try:
        remove_phrasings(catalog_path, intents_dir, entry_id, [phrasing], history_dir)
    except CatalogEditError as exc:
        if str(exc) not in (_GONE, _NO_ENTRY.format(entry_id=entry_id)):
            raise
    with _locked(history_dir):
        return sum(_scrub_copy(copy, phrasing) for copy in sorted(history_dir.glob("*.yaml")))


def _scrub_copy(path: Path, phrasing: str) -> bool:
    """Remove `phrasing` from the questions of every entry in one history copy; whether it changed."""
    wanted = " ".join(phrasing.split())
    tree, _ = read_yaml(path)
    if tree is not None:
        nodes = tree.get("entries") or [] if isinstance(tree, dict) and "entries" in tree else [tree]
        changed = False
        for node in nodes:
            questions = node.get("questions") if isinstance(node, dict) else None
            for question in [q for q in questions or [] if " ".join(str(q).split()) == wanted]:
                questions.remove(question)
                changed = True
        new_text = _dump(tree) if changed else None
    else:  # a copy that does not parse (a broken version kept as it was): its lines, one by one
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if " ".join(line.strip().lstrip("-").strip().strip("\"'").split()) != wanted]
        new_text = "".join(kept) if len(kept) != len(lines) else None
    if new_text is None:
        return False
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(new_text)
    os.replace(tmp_name, path)
    return True
