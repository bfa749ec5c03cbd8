"""The dialogue's StateStore on the conversation_state table, so every worker shares it."""
from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from bot.state import ConversationState
from webhooks.models import ConversationRow, utcnow


class SqlStateStore:
    """Conversation state in the caller's session: saved (or rolled back) with the rest of the turn."""

    def __init__(self, session: Session):
        self.session = session

    def load(self, user_id: str) -> ConversationState:
        """State of `user_id`, empty when unknown."""
        row = self.session.get(ConversationRow, user_id)
        return ConversationState.from_dict(row.data if row is not None else None)

    def save(self, user_id: str, state: ConversationState) -> None:
        """Remember `state` for `user_id` (flushed with the session)."""
        row = self.session.get(ConversationRow, user_id)
        if row is None:
            self.session.add(ConversationRow(zalo_id=user_id, data=state.to_dict(), updated_at=utcnow()))
        else:
            # A fresh dict: JSON columns only notice reassignment, not in-place edits.
            row.data = state.to_dict()
            row.updated_at = utcnow()
        self.session.flush()

    def delete(self, user_id: str) -> None:
        """Forget `user_id`."""
        self.session.execute(delete(ConversationRow).where(ConversationRow.zalo_id == user_id))
