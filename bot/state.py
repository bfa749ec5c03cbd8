"""Per-citizen conversation state and the store interface the dialogue uses."""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Protocol


@dataclass
class ConversationState:
    """What the dialogue remembers about one citizen between messages."""

    last_entry: str | None = None  # id of the procedure/FAQ last answered
    options: list[str] = field(default_factory=list)  # ids offered in a numbered question ("@2": menu line 2)
    pending_part: str | None = None  # part asked about when we had to ask back ("fee", ...)
    last_question: str | None = None  # the text last answered with `last_entry`, for a "wrong answer" report
    alternatives: list[str] = field(default_factory=list)  # the matcher's next guesses for that text
    acknowledged: bool = False  # the bot's last turn answered an "ok": the next "ok" gets no reply

    def to_dict(self) -> dict:
        """Plain-data form for storage."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "ConversationState":
        """Inverse of to_dict; tolerant of missing keys."""
        data = data or {}
        return cls(
            last_entry=data.get("last_entry"),
            options=list(data.get("options") or []),
            pending_part=data.get("pending_part"),
            last_question=data.get("last_question"),
            alternatives=list(data.get("alternatives") or []),
            acknowledged=bool(data.get("acknowledged", False)),
        )


class StateStore(Protocol):
    """Where conversation state lives (memory here, the database in the service)."""

    def load(self, user_id: str) -> ConversationState: ...

    def save(self, user_id: str, state: ConversationState) -> None: ...

    def delete(self, user_id: str) -> None: ...


class MemoryStateStore:
    """Thread-safe in-memory store for the CLI, tests and the dashboard's test chat."""

    def __init__(self) -> None:
        self._data: dict[str, dict] = {}
        self._lock = threading.Lock()

    def load(self, user_id: str) -> ConversationState:
        """State of `user_id`, empty when unknown."""
        with self._lock:
            return ConversationState.from_dict(self._data.get(user_id))

    def save(self, user_id: str, state: ConversationState) -> None:
        """Remember `state` for `user_id`."""
        with self._lock:
            self._data[user_id] = state.to_dict()

    def delete(self, user_id: str) -> None:
        """Forget `user_id`."""
        with self._lock:
            self._data.pop(user_id, None)
