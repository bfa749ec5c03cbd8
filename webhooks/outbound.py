"""Writing replies to the outbox (bot and staff alike) and the 7-day consultation window."""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from sqlalchemy.orm import Session

from bot.masking import mask_sensitive
from bot.replies import Reply
from webhooks.models import Citizen, Message, Outbox, utcnow

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


def _as_reply(reply: Reply | dict) -> Reply:
    return reply if isinstance(reply, Reply) else Reply.from_dict(reply)


def queue_replies(session: Session, *, citizen: Citizen, source: Message | None,
                  replies: Iterable[Reply | dict], sent_by: str | None = None) -> list[Outbox]:
    """Write outgoing Message rows and their Outbox rows in the caller's transaction (flushed, not committed).

    Bot replies (no `sent_by`) are keyed (inbound id, n): processing the same inbound message twice
    collides on the unique (source_id, seq) and can never queue a second copy. A staff reply is keyed
    on its own outgoing row, so it never collides with the bot's replies to the same question.
    """
    if sent_by is None and source is None:
        raise ValueError("a bot reply needs the inbound message it answers")
    rows: list[Outbox] = []
    for seq, item in enumerate(_as_reply(r) for r in replies):
        out = Message(citizen_id=citizen.id, direction="out", event_name="oa_send_text",
                      text=mask_sensitive(item.text), status="queued",
                      reply_to_id=source.id if source is not None else None,
                      sent_by=sent_by, outcome="staff" if sent_by else None)
        session.add(out)
        session.flush()  # the outgoing row's id keys staff replies and links the outbox row
        key_source, key_seq = (source.id, seq) if sent_by is None else (out.id, 0)  # type: ignore[union-attr]
        row = Outbox(source_id=key_source, seq=key_seq, message_id=out.id, zalo_id=citizen.zalo_id,
                     body=item.to_dict(), status="pending", attempts=0, next_attempt_at=utcnow())
        session.add(row)
        rows.append(row)
    session.flush()
    return rows
