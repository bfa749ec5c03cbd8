"""Citizen rows: created or touched on every contact (one upsert), deleted on user_withdraw."""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.orm import Session

from webhooks.bulk_sql import RowsInsert
from webhooks.db import dialect_insert
from webhooks.models import Citizen, ConversationRow, Handoff, Message, Outbox, utcnow

log = logging.getLogger(__name__)


@lru_cache(maxsize=None)
def _citizen_upsert(dialect: str, interacted: bool, sets_following: bool) -> Any:
    return citizen_conflict(dialect, interacted, sets_following).returning(Citizen.__table__.c.id)


def citizen_conflict(dialect: str, interacted: bool, sets_following: bool) -> Any:
    """INSERT INTO citizens … ON CONFLICT (zalo_id) DO UPDATE what events of this kind change (no values yet)."""
    insert = dialect_insert(dialect, Citizen.__table__)
    changes: dict[str, Any] = {}
    if interacted:
        changes["last_interaction"] = insert.excluded.last_interaction
    if sets_following:
        changes["following"] = insert.excluded.following
    # Nothing to change still needs a DO UPDATE: DO NOTHING returns no row (hence no id) on conflict.
    return insert.on_conflict_do_update(index_elements=["zalo_id"], set_=changes or {
        "zalo_id": insert.excluded.zalo_id})


# The columns of a citizen row as the webhook writes it (see bulk_sql.RowsInsert).
CITIZEN_COLUMNS = {name: Citizen.__table__.c[name].type
                   for name in ("zalo_id", "first_seen", "last_interaction", "following")}


@lru_cache(maxsize=None)
def citizen_rows(interacted: bool, sets_following: bool) -> RowsInsert:
    """The batched upsert of citizens touched by events of one kind (see bulk_sql; no RETURNING)."""
    return RowsInsert(CITIZEN_COLUMNS,
                      build=lambda dialect, rows: citizen_conflict(dialect, interacted, sets_following).values(rows))


def upsert_citizen_id(conn: Connection, zalo_id: str, *, interacted: bool, following: bool | None = None) -> int:
    """The id of the citizen row for `zalo_id`, created on first contact, in one statement.

    INSERT … ON CONFLICT DO UPDATE … RETURNING, instead of insert + select + update (three round
    trips of ack latency). last_interaction moves on `interacted`.
    """
    now = utcnow()
    stmt = _citizen_upsert(conn.dialect.name, interacted, following is not None)
    values = {"zalo_id": zalo_id, "first_seen": now, "last_interaction": now,
              "following": True if following is None else following}
    return conn.execute(stmt, values).scalar_one()


def upsert_citizen(session: Session, zalo_id: str, *, interacted: bool, following: bool | None = None) -> Citizen:
    """The citizen row for `zalo_id` as an ORM object (dashboard, tests); see upsert_citizen_id."""
    citizen_id = upsert_citizen_id(session.connection(), zalo_id, interacted=interacted, following=following)
    return session.scalars(select(Citizen).where(Citizen.id == citizen_id)
                           .execution_options(populate_existing=True)).one()


def forget_citizen(conn: Connection, zalo_id: str) -> bool:
    """Delete everything stored about a citizen (user_withdraw); True when there was something."""
    citizen_id = conn.scalars(select(Citizen.id).where(Citizen.zalo_id == zalo_id)).first()
    conn.execute(delete(ConversationRow).where(ConversationRow.zalo_id == zalo_id))
    conn.execute(delete(Outbox).where(Outbox.zalo_id == zalo_id))
    if citizen_id is None:
        return False
    # Explicit deletes rather than FK cascades: SQLite only cascades with its foreign_keys pragma on.
    conn.execute(delete(Handoff).where(Handoff.citizen_id == citizen_id))
    conn.execute(update(Message).where(Message.citizen_id == citizen_id).values(reply_to_id=None))
    conn.execute(delete(Message).where(Message.citizen_id == citizen_id))
    conn.execute(delete(Citizen).where(Citizen.id == citizen_id))
    log.info("user_withdraw: deleted stored data of citizen %s", citizen_id)
    return True
