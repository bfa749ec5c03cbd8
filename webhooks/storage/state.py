"""The engine's conversation state in the conversation_state table, shared by every process."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select

from bot.state import ConversationState
from webhooks.storage.engine import dialect_insert
from webhooks.storage.models import ConversationRow, utcnow

_STATES = ConversationRow.__table__
_READ = select(_STATES.c.data).where(_STATES.c.zalo_id == bindparam("zalo_id"))
_DELETE = delete(_STATES).where(_STATES.c.zalo_id == bindparam("zalo_id"))


def read_state(conn: Connection, zalo_id: str) -> dict[str, Any] | None:
    """The stored state of `zalo_id` as a dict, or None."""
    data = conn.execute(_READ, {"zalo_id": zalo_id}).scalar()
    return dict(data) if data is not None else None


def write_state(conn: Connection, zalo_id: str, data: dict[str, Any] | None) -> None:
    """Store `data` as the state of `zalo_id` (None forgets it), in the caller's transaction."""
    if data is None:
        conn.execute(_DELETE, {"zalo_id": zalo_id})
        return
    conn.execute(_upsert(conn.dialect.name), {"zalo_id": zalo_id, "data": data, "updated_at": utcnow()})


@lru_cache(maxsize=None)
def _upsert(dialect: str) -> Any:
    insert = dialect_insert(dialect, _STATES)
    return insert.on_conflict_do_update(index_elements=["zalo_id"], set_={
        "data": insert.excluded.data, "updated_at": insert.excluded.updated_at})


class SqlStateStore:
    """bot.state.StateStore on a connection: saved (or rolled back) with the caller's transaction."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def load(self, user_id: str) -> ConversationState:
        """State of `user_id`, empty when unknown."""
        return ConversationState.from_dict(read_state(self.conn, user_id))

    def save(self, user_id: str, state: ConversationState) -> None:
        """Remember `state` for `user_id`."""
        write_state(self.conn, user_id, state.to_dict())

    def delete(self, user_id: str) -> None:
        """Forget `user_id`."""
        write_state(self.conn, user_id, None)
