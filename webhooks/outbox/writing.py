"""Writing replies to the outbox (bot and staff alike), and how long each is worth sending."""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from sqlalchemy import Connection, insert, update

from bot.masking import mask_sensitive
from bot.replies import Reply
from webhooks.storage.models import Citizen, Message, Outbox, utcnow

# Zalo accepts consultation messages only within 7 days of the citizen's last interaction.
WINDOW = dt.timedelta(days=7)


def as_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """`moment` as an aware UTC datetime (SQLite hands back naive ones, stored as UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def within_window(citizen: Citizen, now: dt.datetime | None = None) -> bool:
    """True while the OA may still send this citizen a consultation message."""
    last = as_utc(citizen.last_interaction)
    if last is None:
        return False
    return (as_utc(now) or utcnow()) - last < WINDOW


def deadline(last_interaction: dt.datetime | None, horizon: dt.timedelta, now: dt.datetime | None = None) -> dt.datetime:
    """When a reply written now stops being worth sending: the horizon, and never past Zalo's window."""
    now = as_utc(now) or utcnow()
    last = as_utc(last_interaction) or now
    return min(now + horizon, last + WINDOW)


_INSERT_OUTGOING = insert(Message.__table__).returning(Message.__table__.c.id, sort_by_parameter_order=True)
_INSERT_OUTBOX = insert(Outbox.__table__).returning(Outbox.__table__.c.id, sort_by_parameter_order=True)


def write_replies(conn: Connection, *, citizen_id: int, zalo_id: str, source_id: int | None,
                  replies: Iterable[Reply], expires_at: dt.datetime, sent_by: str | None = None,
                  system: bool = False) -> list[int]:
    """Write outgoing Message rows and their Outbox rows in the caller's transaction; the outbox ids in order.

    Bot replies (no `sent_by`) are keyed (inbound id, n): answering the same inbound message twice
    collides on the unique (source_id, seq) and can never queue a second copy. A staff reply, or a
    `system` notice answering no message (a hand-over closing itself), is keyed on its own outgoing row.
    """
    if sent_by is None and source_id is None and not system:
        raise ValueError("a bot reply needs the inbound message it answers")
    items = list(replies)
    if not items:
        return []
    now = utcnow()
    own_key = sent_by is not None or system
    outcome = "staff" if sent_by else "system" if system else None
    out_ids = list(conn.execute(_INSERT_OUTGOING, [
        {"citizen_id": citizen_id, "direction": "out", "event_name": "oa_send_text", "text": mask_sensitive(i.text),
         "status": "queued", "reply_to_id": source_id, "sent_by": sent_by, "outcome": outcome,
         "created_at": now} for i in items]).scalars())
    rows = [{"source_id": out_id if own_key else source_id, "seq": 0 if own_key else seq,
             "message_id": out_id, "zalo_id": zalo_id, "body": item.to_dict(), "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now, "expires_at": expires_at}
            for seq, (item, out_id) in enumerate(zip(items, out_ids))]
    return list(conn.execute(_INSERT_OUTBOX, rows).scalars())


def resend(conn: Connection, outbox_id: int, expires_at: dt.datetime) -> bool:
    """Put a failed reply back in line, due now, worth sending until `expires_at`; False if it was not failed."""
    outbox, messages = Outbox.__table__, Message.__table__
    message_id = conn.execute(
        update(outbox).where(outbox.c.id == outbox_id, outbox.c.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=utcnow(), lease_until=None, last_error=None,
                expires_at=expires_at).returning(outbox.c.message_id)).first()
    if message_id is None:
        return False
    conn.execute(update(messages).where(messages.c.id == message_id[0]).values(status="queued"))
    return True
