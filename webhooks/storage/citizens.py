"""Citizen rows: created or touched on every contact (one upsert), deleted on user_withdraw."""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, delete, update

from webhooks.storage.engine import dialect_insert
from webhooks.storage.withdrawal import forget_traces
from webhooks.storage.models import (Citizen, CitizenProfile, ConversationRow, Handoff, HandoffNote, Message, Outbox,
                                     StaffAlert, StaffContact, utcnow)

log = logging.getLogger(__name__)


@lru_cache(maxsize=None)  # built once per kind: building a statement costs more than running it
def _upsert(dialect: str, interacted: bool, sets_following: bool) -> Any:
    insert = dialect_insert(dialect, Citizen.__table__)
    changes: dict[str, Any] = {}
    if interacted:
        changes["last_interaction"] = insert.excluded.last_interaction
    if sets_following:
        changes["following"] = insert.excluded.following
    # Nothing to change still needs a DO UPDATE: DO NOTHING returns no row (hence no id) on conflict,
    # and the update is what locks the row for the rest of the transaction.
    return insert.on_conflict_do_update(index_elements=["zalo_id"], set_=changes or {
        "zalo_id": insert.excluded.zalo_id}).returning(Citizen.__table__.c.id)


def upsert_citizen_id(conn: Connection, zalo_id: str, *, interacted: bool, following: bool | None = None,
                      commune_id: int | None = None) -> int:
    """The id of the citizen row for `zalo_id`, created on first contact and locked until the caller commits.

    last_interaction (the start of Zalo's 7-day window) moves on `interacted`; `following` when given.
    `commune_id` (the OA the event came to; None: the environment's commune) is set on creation only.
    """
    now = utcnow()
    values = {"zalo_id": zalo_id, "first_seen": now, "last_interaction": now,
              "following": True if following is None else following, "commune_id": commune_id}
    return conn.execute(_upsert(conn.dialect.name, interacted, following is not None), values).scalar_one()


def forget_citizen(conn: Connection, zalo_id: str) -> None:
    """Delete everything stored about a citizen (user_withdraw), in the caller's transaction.

    Their messages, replies, state and hand-overs go; their words leave cluster marks and audit details;
    phrasings taught from their questions are queued for removal from the catalog (storage.withdrawal).

    The citizen row is taken first (created if absent): a message of theirs being stored, or an
    answer being written, holds that row too, so it either commits before the deletion sees
    everything, or finds the citizen gone and writes nothing.
    """
    citizen_id = upsert_citizen_id(conn, zalo_id, interacted=False)
    forget_traces(conn, citizen_id)  # reads their messages: before they go
    conn.execute(delete(ConversationRow).where(ConversationRow.zalo_id == zalo_id))
    conn.execute(delete(Outbox).where(Outbox.zalo_id == zalo_id))
    # Explicit deletes rather than FK cascades: SQLite only cascades with its foreign_keys pragma on.
    # Who they are (Zalo name, avatar, the phone and village they shared) and staff's notes about them.
    conn.execute(delete(CitizenProfile).where(CitizenProfile.citizen_id == citizen_id))
    conn.execute(delete(HandoffNote).where(HandoffNote.citizen_id == citizen_id))
    conn.execute(delete(StaffAlert).where(StaffAlert.citizen_id == citizen_id))
    conn.execute(update(StaffContact).where(StaffContact.zalo_id == zalo_id).values(zalo_id=None))
    conn.execute(delete(Handoff).where(Handoff.citizen_id == citizen_id))
    conn.execute(update(Message).where(Message.citizen_id == citizen_id).values(reply_to_id=None))
    conn.execute(delete(Message).where(Message.citizen_id == citizen_id))
    conn.execute(delete(Citizen).where(Citizen.id == citizen_id))
    log.info("user_withdraw: a citizen's stored data deleted")
