"""`python -m bot import-tthc FILE…`: portal records (JSON lines, gzip or plain) -> the national index."""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from bot.national import authority as auth
from bot.national.channels import online_level, parse_channels, summary
from bot.national.documents import parse_documents, parse_legal_basis
from bot.national.index_file import write_index
from bot.national.records import Issue, NationalRecord
from bot.national.selection import REASONS, leave_out_reason, split_applicants, split_levels

CODE = re.compile(r"^\d\.\d{6}$")
DEEP_LINK = re.compile(r"^https://dichvucong\.gov\.vn/thu-tuc-hanh-chinh/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}"
                       r"-[0-9a-f]{4}-[0-9a-f]{12}$")
SHOWN_CODES = 8  # codes printed per failure kind; the sidecar lists them all


class SourceError(Exception):
    """An input file cannot be read at all; nothing is written."""


@dataclass
class ImportReport:
    """What an import read, kept, left out and could not parse."""

    sources: list[str] = field(default_factory=list)
    source_date: dt.date | None = None
    read: int = 0
    kept: int = 0
    left_out: Counter = field(default_factory=Counter)
    # field -> kind -> codes (or file:line where the record had no usable code)
    failures: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    authority_from_level: list[str] = field(default_factory=list)
    district_dropped: list[str] = field(default_factory=list)

    def fail(self, where: str, issue: Issue) -> None:
        """Count one parse failure."""
        codes = self.failures.setdefault(issue.field, {}).setdefault(issue.kind, [])
        if where not in codes:
            codes.append(where)

    def meta(self) -> dict[str, Any]:
        """The sidecar's content (stable: no timestamps, so a re-import of the same file diffs empty)."""
        return {
            "source": self.sources, "source_date": self.source_date.isoformat() if self.source_date else None,
            "records_read": self.read, "kept": self.kept,
            "left_out": {k: {"count": self.left_out[k], "meaning": REASONS[k]} for k in REASONS if self.left_out[k]},
            "parse_failures": {f: {k: sorted(v) for k, v in sorted(kinds.items())} for f, kinds in sorted(self.failures.items())},
            "authority_from_level": sorted(self.authority_from_level),
            "district_bodies_dropped": sorted(self.district_dropped),
        }


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a .jsonl or .jsonl.gz file; SourceError when it cannot be read through."""
    try:
        with path.open("rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rt", encoding="utf-8") if gzipped else path.open(encoding="utf-8")) as text:
            lines = list(text)
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise SourceError(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from exc
    for number, line in enumerate(lines, 1):
        if line.strip():
            yield number, line


def _text(raw: dict, key: str, where: str, report: ImportReport) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        report.fail(where, Issue(key, "not text"))
        return ""
    return value.strip()


def convert(raw: dict, where: str, report: ImportReport, source_date: dt.date | None) -> NationalRecord | None:
    """The record for the index, or None when it is left out (counted) or unusable (a failure)."""
    code = _text(raw, "ma_thu_tuc", where, report)
    if not CODE.match(code):
        report.fail(where, Issue("code", "missing or malformed"))
        return None
    name = " ".join(_text(raw, "ten_thu_tuc", code, report).split())
    levels, unknown = split_levels(_text(raw, "cap_thuc_hien", code, report))
    if not name or not levels:
        report.fail(code, Issue("name" if not name else "levels", "missing"))
        return None
    if unknown:
        report.fail(code, Issue("levels", "unknown level"))
    applicants = split_applicants(_text(raw, "doi_tuong_thuc_hien", code, report))
    field_ = _text(raw, "linh_vuc", code, report)
    reason = leave_out_reason(levels, applicants, field_, name)
    if reason:
        report.left_out[reason] += 1
        return None
    issues: list[Issue] = []
    url = _text(raw, "detail_url", code, report)
    if not DEEP_LINK.match(url):
        issues.append(Issue("url", "missing" if not url else "not a deep link"))
        url = ""
    channels, found = parse_channels(_text(raw, "cach_thuc_thuc_hien", code, report))
    documents, more, doc_issues = parse_documents(_text(raw, "thanh_phan_ho_so", code, report))
    laws, law_issues = parse_legal_basis(_text(raw, "can_cu_phap_ly", code, report))
    body, from_level, district = auth.authority(
        _text(raw, "co_quan_thuc_hien", code, report), _text(raw, "co_quan_co_tham_quyen", code, report),
        levels, _text(raw, "bo", code, report), field_)
    for issue in issues + found + doc_issues + law_issues:
        report.fail(code, issue)
    if from_level:
        report.authority_from_level.append(code)
    if district:
        report.district_dropped.append(code)
    record = NationalRecord(
        code=code, name=name, levels=levels, field=field_, applicants=applicants, authority=body,
        online=online_level(name, channels), channels=channels, time=summary(channels, "time"),
        fee=summary(channels, "fee"), documents=documents, documents_more=more, legal_basis=laws, url=url,
        source_date=source_date,
    )
    return record


def run_import(paths: list[Path], index_path: Path, source_date: dt.date | None = None) -> ImportReport:
    """Read every file, select and parse, write the index; SourceError (nothing written) when unreadable."""
    paths = [Path(p) for p in paths]
    report = ImportReport(sources=[p.name for p in paths])
    digest = hashlib.sha256()
    raws: list[tuple[str, Any]] = []
    for path in paths:
        before = len(raws)
        for number, line in read_lines(path):
            digest.update(line.encode("utf-8"))
            where = f"{path.name}:{number}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                report.fail(where, Issue("json", f"malformed line ({exc.msg})"))
                continue
            if not isinstance(raw, dict):
                report.fail(where, Issue("json", "line is not an object"))
                continue
            raws.append((where, raw))
        if len(raws) == before:
            raise SourceError(f"{path}: no record could be read (not one line is a JSON object)")
    report.read = len(raws)
    report.source_date = source_date or max(dt.date.fromtimestamp(p.stat().st_mtime) for p in paths)
    records: dict[str, NationalRecord] = {}
    for where, raw in raws:
        record = convert(raw, where, report, report.source_date)
        if record is None:
            continue
        if record.code in records:
            report.fail(where, Issue("code", "duplicate (first kept)"))
            continue
        records[record.code] = record
    report.kept = len(records)
    write_index(index_path, records.values(), {**report.meta(), "source_sha256": digest.hexdigest()})
    return report


def format_report(report: ImportReport, index_path: Path) -> str:
    """The figures the command prints."""
    lines = [f"read {report.read} records from {', '.join(report.sources)} (source date {report.source_date})",
             f"kept {report.kept} -> {index_path}",
             f"left out {sum(report.left_out.values())}:"]
    lines += [f"  {k:<16}{report.left_out[k]:>6}  {REASONS[k]}" for k in REASONS if report.left_out[k]]
    lines.append(f"authority taken from the level (no local body named): {len(report.authority_from_level)}")
    lines.append(f"district bodies dropped from the authority: {len(report.district_dropped)}")
    total = sum(len(v) for kinds in report.failures.values() for v in kinds.values())
    lines.append(f"parse failures {total} (the field then reads “xem trang thủ tục” or is left out):")
    for name, kinds in sorted(report.failures.items()):
        for kind, codes in sorted(kinds.items()):
            shown = ", ".join(codes[:SHOWN_CODES]) + (", …" if len(codes) > SHOWN_CODES else "")
            lines.append(f"  {name}: {kind} — {len(codes)} ({shown})")
    return "\n".join(lines)
