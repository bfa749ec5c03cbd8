"""What a withdrawal removes beyond the citizen's own rows: cluster marks, audit details, taught phrasings.

Runs inside the withdrawal's transaction (storage.citizens.forget_citizen), before the messages go: their
texts are what is looked for. Taught phrasings cannot leave the catalog files in the same transaction, so
each becomes a `catalog_purges` row that the claim loop's poller carries out (webhooks.catalog_purge).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from webhooks.storage.models import (AuditLog, CatalogDraft, CatalogPurge, CatalogVersion, ClusterMark, Message,
                                     TaughtPhrasing, utcnow)

KEY_LENGTH = 255  # ClusterMark.key's size (the dashboard's clusters cut keys there too)


def _same(text: str) -> str:
    return " ".join(text.split()).casefold()


def forget_traces(conn: Connection, citizen_id: int) -> int:
    """Remove the citizen's words from marks and the audit log, queue their taught phrasings; how many queued."""
    rows = conn.execute(select(Message.text, Message.normalized)
                        .where(Message.citizen_id == citizen_id, Message.direction == "in")).all()
    keys = {(r.normalized or "")[:KEY_LENGTH] for r in rows if r.normalized}
    taught = conn.execute(select(TaughtPhrasing.entry_id, TaughtPhrasing.phrasing)
                          .where(TaughtPhrasing.citizen_id == citizen_id)).all()
    words = {_same(r.text) for r in rows if r.text and r.text.strip()} | {_same(k) for k in keys}
    words |= {_same(t.phrasing) for t in taught}
    if keys:
        conn.execute(delete(ClusterMark).where(ClusterMark.key.in_(keys)))
    if taught:
        now = utcnow()
        conn.execute(insert(CatalogPurge), [{"entry_id": t.entry_id, "phrasing": t.phrasing, "created_at": now,
                                             "attempts": 0} for t in sorted(set(taught))])
        conn.execute(delete(TaughtPhrasing).where(TaughtPhrasing.citizen_id == citizen_id))
    if words:
        scrub_audit(conn, words)
        scrub_drafts(conn, words)
    return len(set(taught))


def scrub_drafts(conn: Connection, words: set[str]) -> None:
    """Drop these texts from catalog drafts (their fields and diffs) and from published versions' diffs."""
    for row in conn.execute(select(CatalogDraft.id, CatalogDraft.fields, CatalogDraft.diff)).all():
        fields, changed = _without(row.fields or {}, words)
        diff = _diff_without(row.diff or "", words)
        if changed or diff != (row.diff or ""):
            conn.execute(update(CatalogDraft).where(CatalogDraft.id == row.id).values(fields=fields, diff=diff))
    for row in conn.execute(select(CatalogVersion.id, CatalogVersion.diff)).all():
        diff = _diff_without(row.diff or "", words)
        if diff != (row.diff or ""):
            conn.execute(update(CatalogVersion).where(CatalogVersion.id == row.id).values(diff=diff))


def _diff_without(diff: str, words: set[str]) -> str:
    # A phrasing sits on its own diff line: "+  - text" or "-  - 'text'".
    def spoken(line: str) -> str:
        return _same(line.lstrip("+- ").strip().strip("'\""))
    return "\n".join(line for line in diff.split("\n") if spoken(line) not in words)


def scrub_audit(conn: Connection, words: set[str]) -> None:
    """Drop these texts from every audit row's details; the action, who and when stay."""
    for row in conn.execute(select(AuditLog.id, AuditLog.detail).where(AuditLog.detail.is_not(None))).all():
        cleaned, changed = _without(row.detail, words)
        if changed:
            conn.execute(update(AuditLog).where(AuditLog.id == row.id).values(detail=cleaned))


def _without(value: Any, words: set[str]) -> tuple[Any, bool]:
    # The details are small JSON: strings equal to a withdrawn text go, from lists and from keys alike.
    if isinstance(value, dict):
        out, changed = {}, False
        for key, item in value.items():
            if isinstance(item, str) and _same(item) in words:
                changed = True
                continue
            out[key], moved = _without(item, words)
            changed |= moved
        return out, changed
    if isinstance(value, list):
        kept = [_without(item, words)[0] for item in value if not (isinstance(item, str) and _same(item) in words)]
        return kept, len(kept) != len(value) or any(_without(i, words)[1] for i in value)
    return value, False
