"""The privacy check: a database, log files and a folder scanned for unmasked personal numbers and for a
withdrawn citizen's traces (`python -m bot privacy-check`)."""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from sqlalchemy import select

from bot.masking import unmasked
from webhooks.inbox.intake import KEPT_KEYS
from webhooks.storage.engine import Database
from webhooks.storage.models import Base

# Columns that hold what citizens wrote (as stored: masked); the rest is scanned for withdrawn traces only.
CITIZEN_TEXT = {("messages", "text"), ("messages", "normalized"), ("messages", "payload"), ("messages", "report"),
                ("audit_log", "detail"), ("cluster_marks", "key"), ("conversation_state", "data"),
                ("taught_phrasings", "phrasing"), ("catalog_purges", "phrasing")}
# A log line's own time stamp is no citizen's number.
_STAMP = re.compile(r"^\S+ \d\d:\d\d:\d\d[,.]\d+ |^\[[^\]]*\] ")


@dataclass(frozen=True)
class Finding:
    """Where something personal was found, and what (shortened)."""

    where: str
    what: str


def _leaves(value: Any, key: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v, key)
    elif isinstance(value, str) and key not in KEPT_KEYS:
        yield value


def scan_database(database: Database, withdrawn: Iterable[str] = ()) -> list[Finding]:
    """Unmasked numbers in citizens' text columns (inbound rows), and any withdrawn term in any column."""
    terms = [t for t in withdrawn if t]
    found: list[Finding] = []
    with database.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is None:
                        continue
                    where = f"{table.name}.{column} (id {row.get('id', '?')})"
                    text = str(value)
                    found += [Finding(where, t) for t in terms if t in text]
                    inbound = table.name != "messages" or row.get("direction") == "in"
                    if (table.name, column) in CITIZEN_TEXT and inbound:
                        found += [Finding(where, hit) for leaf in _leaves(value) for hit in unmasked(leaf)]
    return found


def scan_files(paths: Iterable[Path], withdrawn: Iterable[str] = (), numbers: bool = False) -> list[Finding]:
    """Withdrawn terms in every file under `paths` (bytes, so databases count too); with `numbers`, unmasked
    personal numbers in their text lines (logs)."""
    terms = [t.encode() for t in withdrawn if t]
    found: list[Finding] = []
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            data = path.read_bytes()
            found += [Finding(str(path), t.decode()) for t in terms if t in data]
            if numbers:
                for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
                    found += [Finding(f"{path}:{number}", hit) for hit in unmasked(_STAMP.sub("", line))]
    return found


def cmd_privacy_check(args: argparse.Namespace) -> int:
    """Print every finding; exit 1 when there is one."""
    from webhooks.settings import Settings

    settings = Settings.from_env()
    database = Database(args.database or settings.database_url)
    found = scan_database(database, args.withdrawn)
    found += scan_files([Path(p) for p in args.folder], args.withdrawn)
    found += scan_files([Path(p) for p in args.log], args.withdrawn, numbers=True)
    database.dispose()
    for item in found:
        print(f"{item.where}: {item.what[:80]}")
    print(f"{len(found)} finding(s)")
    return 1 if found else 0


def register(subparsers: Any) -> None:
    """Add `privacy-check` to `python -m bot`."""
    p = subparsers.add_parser("privacy-check", help="tìm số cá nhân chưa che và dấu vết công dân đã rút")
    p.add_argument("--database", default=None, help="default: $DATABASE_URL")
    p.add_argument("--folder", action="append", default=[], help="a folder or file to search (repeatable)")
    p.add_argument("--log", action="append", default=[], help="a log file to search (repeatable)")
    p.add_argument("--withdrawn", action="append", default=[], help="a withdrawn citizen's id or words (repeatable)")
    p.set_defaults(func=lambda args, _engine_settings=None: cmd_privacy_check(args))
