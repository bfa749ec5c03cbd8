"""What one message produces (Turn) and what handling it sees (Context)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from bot.hours import VIETNAM
from bot.matcher import Candidate, Match
from bot.replies import Reply
from bot.safety import Verdict
from bot.state import ConversationState


@dataclass(frozen=True)
class Turn:
    """The engine's answer to one message, and what the service should do beside sending it."""

    replies: tuple[Reply, ...]
    # answered | clarified | fallback | out_of_scope | smalltalk | handoff | emergency | wrong_answer | waiting
    outcome: str
    intent: str | None = None
    score: float | None = None
    candidates: tuple[Candidate, ...] = ()
    clarify: tuple[str, ...] = ()
    normalized: str = ""
    handoff: str | None = None  # "open" | "close": the citizen asked for staff, or came back to the bot
    review: str | None = None  # this message was answered, but staff should look: "unsure" (low score or margin)
    # The citizen said the previous answer missed: {"question", "answered", "said"}, for the review queue
    report: dict[str, Any] | None = None


@dataclass
class Context:
    """One message being handled: text, state, hand-over, and the match computed at most once."""

    engine: Any  # the bot.dialogue.Engine answering it (which builds the handler chain that reads this)
    text: str
    normalized: str
    state: ConversationState
    handoff_open: bool = False
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(VIETNAM))
    verdict: Verdict | None = None
    _match: Match | None = field(default=None, repr=False)

    @property
    def match(self) -> Match:
        """The matcher's decision for this text (computed lazily)."""
        if self._match is None:
            self._match = self.engine.matcher.match(self.text, self.engine.thresholds)
        return self._match
