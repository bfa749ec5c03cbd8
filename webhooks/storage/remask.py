"""Rows stored before the masking step covered every form: masked again in place (run by the migration)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select, update

from bot.masking import mask_sensitive
from webhooks.inbox.intake import KEPT_KEYS
from webhooks.storage.models import AuditLog, ClusterMark, ConversationRow, Message

BATCH = 500


def _masked(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, key) for v in value]
    if isinstance(value, str) and key not in KEPT_KEYS:
        return mask_sensitive(value)
    return value


def remask_stored(conn: Connection) -> int:
    """Mask citizens' text in inbound messages, state, cluster marks and audit details; rows changed."""
    changed = 0
    last = 0
    columns = (Message.text, Message.normalized, Message.payload, Message.report)
    while True:  # in batches by id: a big history never sits in memory at once
        rows = conn.execute(select(Message.id, *columns).where(Message.direction == "in", Message.id > last)
                            .order_by(Message.id).limit(BATCH)).all()
        if not rows:
            break
        last = rows[-1].id
        for row in rows:
            values = {c.key: _masked(getattr(row, c.key)) for c in columns}
            if any(values[c.key] != getattr(row, c.key) for c in columns):
                conn.execute(update(Message).where(Message.id == row.id).values(**values))
                changed += 1
    for table, key_column, column in ((ConversationRow, ConversationRow.zalo_id, ConversationRow.data),
                                      (AuditLog, AuditLog.id, AuditLog.detail)):
        for key, value in conn.execute(select(key_column, column)).all():
            if value is not None and _masked(value) != value:
                conn.execute(update(table).where(key_column == key).values({column.key: _masked(value)}))
                changed += 1
    keys = set(conn.scalars(select(ClusterMark.key)))
    for key in sorted(keys):
        masked = mask_sensitive(key)
        if masked != key:
            if masked in keys:  # the masked mark already exists: the clear one goes
                conn.execute(delete(ClusterMark).where(ClusterMark.key == key))
            else:
                conn.execute(update(ClusterMark).where(ClusterMark.key == key).values(key=masked))
                keys.add(masked)
            changed += 1
    return changed
