"""Writing replies to the outbox (bot and staff alike) and the 7-day consultation window."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from sqlalchemy import Connection, Row, func, insert, literal_column, select
from sqlalchemy.orm import Session

from bot.masking import mask_sensitive
from bot.replies import Reply
from webhooks.bulk_sql import JsonRowsInsert
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


# Built once: the per-message path runs them with executemany (one round trip per table).
_INSERT_OUTGOING = insert(Message.__table__).returning(Message.__table__.c.id, sort_by_parameter_order=True)
_INSERT_OUTBOX = insert(Outbox.__table__).returning(Outbox.__table__.c.id, Outbox.__table__.c.message_id,
                                                   Outbox.__table__.c.body, sort_by_parameter_order=True)


def write_replies(conn: Connection, *, citizen_id: int, zalo_id: str, source_id: int | None,
                  replies: Iterable[Reply | dict], sent_by: str | None = None,
                  lease_first: dt.datetime | None = None) -> list[Row]:
    """Write outgoing Message rows and their Outbox rows in the caller's transaction; (id, message_id, body) of each.

    Bot replies (no `sent_by`) are keyed (inbound id, n): processing the same inbound message twice
    collides on the unique (source_id, seq) and can never queue a second copy. A staff reply is keyed
    on its own outgoing row, so it never collides with the bot's replies to the same question.
    `lease_first`: the first row is written already claimed by the caller until then (it sends it next).
    """
    if sent_by is None and source_id is None:
        raise ValueError("a bot reply needs the inbound message it answers")
    items = [_as_reply(r) for r in replies]
    if not items:
        return []
    now = utcnow()
    if sent_by is None and conn.dialect.name == "postgresql":
        return _write_bot_replies_pg(conn, citizen_id, zalo_id, source_id, items, now, lease_first)
    out_ids = list(conn.execute(_INSERT_OUTGOING, [
        {"citizen_id": citizen_id, "direction": "out", "event_name": "oa_send_text", "text": mask_sensitive(i.text),
         "status": "queued", "reply_to_id": source_id, "sent_by": sent_by, "outcome": "staff" if sent_by else None,
         "created_at": now} for i in items]).scalars())
    rows = []
    for seq, (item, out_id) in enumerate(zip(items, out_ids)):
        claimed = seq == 0 and lease_first is not None
        rows.append({"source_id": source_id if sent_by is None else out_id, "seq": seq if sent_by is None else 0,
                     "message_id": out_id, "zalo_id": zalo_id, "body": item.to_dict(),
                     "status": "sending" if claimed else "pending", "lease_until": lease_first if claimed else None,
                     "attempts": 0, "next_attempt_at": now, "created_at": now})
    return list(conn.execute(_INSERT_OUTBOX, rows))


_OUT_COLUMNS = {name: Message.__table__.c[name].type for name in (
    "citizen_id", "direction", "event_name", "text", "normalized", "status", "reply_to_id", "outcome", "created_at")}
_OUTBOX_COLUMNS = {name: Outbox.__table__.c[name].type for name in (
    "source_id", "seq", "zalo_id", "body", "status", "lease_until", "attempts", "next_attempt_at", "created_at")}


def _bot_replies_statement(dialect: str, messages: Any, outbox: Any) -> Any:
    # The outgoing messages are inserted in reply order, so their new ids rise in that order: the
    # n-th smallest id is reply n's, and its outbox row is joined to it by that rank.
    m, o = Message.__table__, Outbox.__table__
    names = list(_OUT_COLUMNS)
    inserted = (insert(m).from_select(names, select(*(messages.c[n] for n in names)).order_by(messages.c.ord),
                                      include_defaults=False)
                .returning(m.c.id).cte("inserted"))
    rank = func.row_number().over(order_by=inserted.c.id) - literal_column("1")  # from 0, as `ord`
    ranked = select(inserted.c.id, rank.label("ord")).cte("ranked")
    rows = (select(*(outbox.c[n] for n in _OUTBOX_COLUMNS), ranked.c.id)
            .select_from(outbox.join(ranked, ranked.c.ord == outbox.c.ord)))
    return (insert(o).from_select([*_OUTBOX_COLUMNS, "message_id"], rows, include_defaults=False)
            .returning(o.c.id, o.c.message_id, o.c.body, o.c.seq).add_cte(inserted, ranked))


_BOT_REPLIES = JsonRowsInsert(_OUT_COLUMNS, _OUTBOX_COLUMNS, build=_bot_replies_statement)


def _write_bot_replies_pg(conn: Connection, citizen_id: int, zalo_id: str, source_id: int, items: list[Reply],
                          now: dt.datetime, lease_first: dt.datetime | None) -> list[Any]:
    """write_replies for the bot on PostgreSQL: both tables in one statement on the driver's cursor.

    Two executemany INSERTs through SQLAlchemy (insertmanyvalues, a result object each) were about
    a tenth of an answering worker's CPU per message, and one more round trip.
    """
    messages = [{"citizen_id": citizen_id, "direction": "out", "event_name": "oa_send_text",
                 "text": mask_sensitive(item.text), "normalized": "", "status": "queued", "reply_to_id": source_id,
                 "outcome": None, "created_at": now} for item in items]
    outbox = [{"source_id": source_id, "seq": seq, "zalo_id": zalo_id, "body": item.to_dict(),
               "status": "sending" if seq == 0 and lease_first is not None else "pending",
               "lease_until": lease_first if seq == 0 else None, "attempts": 0, "next_attempt_at": now,
               "created_at": now} for seq, item in enumerate(items)]
    rows = _BOT_REPLIES.bind(conn.dialect, messages, outbox).run(conn, named=True)
    return sorted(rows, key=lambda row: row.seq)


def queue_replies(session: Session, *, citizen: Citizen, source: Message | None,
                  replies: Iterable[Reply | dict], sent_by: str | None = None) -> list[Outbox]:
    """write_replies in an ORM session (flushed, not committed); the Outbox rows in order."""
    ids = [row.id for row in write_replies(session.connection(), citizen_id=citizen.id, zalo_id=citizen.zalo_id,
                                           source_id=source.id if source is not None else None, replies=replies,
                                           sent_by=sent_by)]
    found = {row.id: row for row in session.scalars(select(Outbox).where(Outbox.id.in_(ids)))}
    return [found[i] for i in ids]
