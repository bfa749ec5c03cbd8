"""The index on disk: national/index.jsonl (one record a line, sorted by code) and its sidecar of figures.

Both files are written to a temporary file beside them and renamed into place, so a failed import
leaves the previous index whole. The sidecar carries the index's hash: a pair written by two different
imports is detected when loaded.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from bot.national.records import NationalRecord


def meta_path(index_path: Path) -> Path:
    """The sidecar beside an index: index.jsonl -> index.meta.json."""
    return index_path.with_name(index_path.stem + ".meta.json")


def record_line(record: NationalRecord) -> str:
    """One index line: fixed key order, UTF-8 kept readable in diffs."""
    return json.dumps(record.to_json(), ensure_ascii=False, separators=(", ", ": "))


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # a file of the repository, not a secret (mkstemp makes it 0600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_index(index_path: Path, records: Iterable[NationalRecord], meta: dict[str, Any]) -> str:
    """Write the index sorted by code and its sidecar (with the index's sha256); return that hash."""
    lines = [record_line(r) for r in sorted(records, key=lambda r: tuple(int(p) for p in r.code.split(".")))]
    text = "".join(line + "\n" for line in lines)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    _write_atomically(index_path, text)
    _write_atomically(meta_path(index_path),
                      json.dumps({**meta, "index_sha256": digest}, ensure_ascii=False, indent=2) + "\n")
    return digest
