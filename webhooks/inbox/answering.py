"""Stored inbound messages answered by the engine, one citizen's messages in order; replies go to the outbox."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, exists, insert, or_, select, update

from bot.replies import Reply
from bot.state import ConversationState
from webhooks.inbox.alerts import queue_alert
from webhooks.inbox.staff_link import link_reply
from webhooks.outbox.writing import deadline, write_replies
from webhooks.services import Services
from webhooks.storage.models import Citizen, ConversationRow, Handoff, Message, const, utcnow
from webhooks.storage.state import write_state
from webhooks.zalo.events import EventError, InboundEvent, parse_event

log = logging.getLogger(__name__)

UNFINISHED = ("received", "answering")


@dataclass
class Plan:
    """What answering one message writes: its status and engine fields, the replies, the state, a hand-over."""

    status: str = "processed"
    fields: dict[str, Any] = field(default_factory=dict)
    replies: list = field(default_factory=list)
    state: dict | None = None
    state_changed: bool = False
    handoff: str | None = None  # "open" (the citizen asked for staff) | "close" (the citizen came back to the bot)
    report: dict | None = None  # the citizen said the previous answer missed: marks that question for review


class _TurnStore:
    """The engine's StateStore for one turn: serves the state read up front, records what it saves."""

    def __init__(self, before: dict | None):
        self.after, self.touched = before, False

    def load(self, user_id: str) -> ConversationState:
        """The state as read before the turn."""
        return ConversationState.from_dict(self.after)

    def save(self, user_id: str, state: ConversationState) -> None:
        """Keep `state` to write with the replies."""
        self.after, self.touched = state.to_dict(), True

    def delete(self, user_id: str) -> None:
        """Forget the state when the replies are written."""
        self.after, self.touched = None, True


def plan_reply(engine: Any, event: InboundEvent, zalo_id: str, text: str, state: dict | None,
               handed_off: bool) -> Plan:
    """Decide whether and how the bot answers one stored message: the only place that does.

    The engine knows whether staff hold the conversation (an open hand-over): it then answers an
    emergency or a wish to come back to the bot, and stays silent otherwise. Raises what the engine raised.
    """
    store = _TurnStore(state)
    if event.kind == "text":
        turn = engine.respond(zalo_id, text, store, handoff_open=handed_off)
        fields = {"outcome": turn.outcome, "intent": turn.intent, "score": turn.score,
                  "normalized": turn.normalized or "", "review": turn.review,
                  "candidates": [{"id": c.id, "score": round(float(c.score), 4)} for c in turn.candidates]}
        return Plan(fields=fields, replies=list(turn.replies), state=store.after, state_changed=store.touched,
                    handoff=turn.handoff, report=turn.report)
    if handed_off and event.kind in ("follow", "chatnow", "media", "location"):
        return Plan(fields={"outcome": "waiting"})  # staff hold the conversation: they see it, the bot is silent
    if event.kind in ("follow", "chatnow"):
        turn = engine.greet(zalo_id, store)  # remembers the numbered menu, so "1" picks its first line
        return Plan(fields={"outcome": turn.outcome, "intent": turn.intent}, replies=list(turn.replies),
                    state=store.after, state_changed=store.touched)
    if event.kind == "media":
        return Plan(fields={"outcome": "system", "intent": "media"}, replies=[engine.media_reply()])
    if event.kind == "location":
        reply = engine.location_reply(event.latitude, event.longitude)
        return Plan(fields={"outcome": "system", "intent": "location"}, replies=[reply])
    return Plan(status="skipped", fields={"outcome": "ignored"})


_MESSAGES = Message.__table__
_candidate, _earlier = _MESSAGES.alias("candidate"), _MESSAGES.alias("earlier")
# The oldest inbound message waiting (or whose claim ran out) with no earlier message of the same
# citizen unfinished: a citizen's messages are answered one after the other, in arrival order.
_NEXT = (select(_candidate.c.id)
         .where(_candidate.c.direction == const("in"),
                or_(_candidate.c.status == const("received"),
                    and_(_candidate.c.status == const("answering"), _candidate.c.lease_until < bindparam("now"))),
                ~exists().where(_earlier.c.citizen_id == _candidate.c.citizen_id, _earlier.c.direction == const("in"),
                                _earlier.c.id < _candidate.c.id,
                                or_(*(_earlier.c.status == const(status) for status in UNFINISHED))))
         .order_by(_candidate.c.id).limit(1).with_for_update(skip_locked=True, of=_candidate))
_CLAIM = (update(_MESSAGES).where(_MESSAGES.c.id == _NEXT.scalar_subquery())
          .values(status="answering", lease_until=bindparam("lease"))
          .returning(_MESSAGES.c.id, _MESSAGES.c.citizen_id, _MESSAGES.c.text, _MESSAGES.c.payload))
_CITIZENS, _STATES, _HANDOFFS = Citizen.__table__, ConversationRow.__table__, Handoff.__table__
# Table columns, not the ORM's attributes: a Core statement on mapped classes pays the ORM's
# compile step on every execution.
_OPEN_HANDOFF = select(_HANDOFFS.c.id).where(_HANDOFFS.c.citizen_id == bindparam("citizen_id"),
                                              _HANDOFFS.c.closed_at.is_(None))
_CONTEXT = (select(_CITIZENS.c.zalo_id, _CITIZENS.c.last_interaction, _CITIZENS.c.commune_id, _STATES.c.data,
                   exists(_OPEN_HANDOFF.where(_HANDOFFS.c.citizen_id == _CITIZENS.c.id)).label("handed_off"))
            .select_from(_CITIZENS.outerjoin(_STATES, _STATES.c.zalo_id == _CITIZENS.c.zalo_id))
            .where(_CITIZENS.c.id == bindparam("citizen_id")))
_FINISH = update(_MESSAGES).where(_MESSAGES.c.id == bindparam("message_id"), _MESSAGES.c.status == "answering",
                                   _MESSAGES.c.lease_until == bindparam("lease"))  # SET: the plan's fields
_LOCK_CITIZEN = select(_CITIZENS.c.id).where(_CITIZENS.c.id == bindparam("citizen_id")).with_for_update()
_OPEN = insert(_HANDOFFS)
# The question a correction is about: the citizen's last message the bot answered before it.
_QUESTION = (select(_MESSAGES.c.id)
             .where(_MESSAGES.c.citizen_id == bindparam("whose"), _MESSAGES.c.direction == "in",
                    _MESSAGES.c.id < bindparam("before"), _MESSAGES.c.outcome == "answered")
             .order_by(_MESSAGES.c.id.desc()).limit(1))
_MARK_WRONG = (update(_MESSAGES).where(_MESSAGES.c.id == bindparam("question"))
               .values(review="wrong_answer", report=bindparam("said")))
_STAFF_TURN = (update(_HANDOFFS).where(_HANDOFFS.c.citizen_id == bindparam("whose"), _HANDOFFS.c.closed_at.is_(None),
                                      _HANDOFFS.c.state == "waiting").values(state=None))
_CLOSE = (update(_HANDOFFS).where(_HANDOFFS.c.citizen_id == bindparam("whose"), _HANDOFFS.c.closed_at.is_(None))
          .values(closed_at=bindparam("now"), closed_by="citizen"))


def answer_next(services: Services, now: dt.datetime | None = None) -> int | None:
    """Claim the next answerable message, run the engine outside any transaction, write its replies; its id or None."""
    now = now or utcnow()
    lease = now + dt.timedelta(seconds=services.settings.lease_seconds)  # a dead worker's claim ends then
    with services.database.transaction() as conn:
        claimed = conn.execute(_CLAIM, {"now": now, "lease": lease}).first()
        context = conn.execute(_CONTEXT, {"citizen_id": claimed.citizen_id}).first() if claimed else None
    if claimed is None:
        return None
    if context is None:  # the citizen withdrew meanwhile
        return claimed.id
    try:
        event = parse_event(claimed.payload)
        # A member linking their Zalo account: recognised before the engine, which knows nothing of staff.
        linked = link_reply(services, claimed.text, context.zalo_id) if event.kind == "text" else None
        if linked:
            plan = Plan(fields={"outcome": "system", "intent": "staff-link"}, replies=[Reply(linked)])
        else:
            plan = plan_reply(services.engine_for(context.commune_id), event, context.zalo_id, claimed.text,
                              dict(context.data) if context.data is not None else None, context.handed_off)
    except EventError as exc:  # stored payloads were parsed once already: a logged skip, not a crash
        log.warning("inbound %s: stored payload no longer parses (%s); skipped", claimed.id, exc)
        plan = Plan(status="skipped", fields={"outcome": "ignored"})
    except Exception:
        log.exception("engine failed on inbound message %s; marked failed", claimed.id)
        plan = Plan(status="failed", fields={"outcome": "fallback"})
    expires_at = deadline(context.last_interaction, dt.timedelta(hours=services.settings.reply_horizon_hours), now)
    _write(services, claimed.id, claimed.citizen_id, context.zalo_id, lease, plan, expires_at)
    return claimed.id


def _write(services: Services, message_id: int, citizen_id: int, zalo_id: str, lease: dt.datetime, plan: Plan,
           expires_at: dt.datetime) -> list[int]:
    """Write the plan if the message is still ours: a withdrawn citizen or a lost claim writes nothing."""
    with services.database.transaction() as conn:
        # The citizen's row first, as the webhook and a withdrawal take it: a withdrawal either
        # committed already (the row is gone) or waits until this answer is written, then deletes it.
        if conn.execute(_LOCK_CITIZEN, {"citizen_id": citizen_id}).first() is None:
            return []
        mine = conn.execute(_FINISH, {"message_id": message_id, "lease": lease, "status": plan.status,
                                      "lease_until": None, **plan.fields}).rowcount
        if not mine:
            log.warning("inbound %s: claim lost before its answer was written", message_id)
            return []
        if plan.state_changed:
            write_state(conn, zalo_id, plan.state)
        if plan.handoff == "open" and conn.execute(_OPEN_HANDOFF, {"citizen_id": citizen_id}).first() is None:
            conn.execute(_OPEN, {"citizen_id": citizen_id, "opened_at": utcnow()})
            queue_alert(conn, "handoff", citizen_id, message_id)
        elif plan.handoff == "close":
            conn.execute(_CLOSE, {"whose": citizen_id, "now": utcnow()})
        elif plan.fields.get("outcome") == "waiting":  # the citizen wrote while staff waited for them
            conn.execute(_STAFF_TURN, {"whose": citizen_id})
        if plan.report is not None:
            question = conn.execute(_QUESTION, {"whose": citizen_id, "before": message_id}).scalar()
            if question is not None:
                conn.execute(_MARK_WRONG, {"question": question, "said": plan.report})
                queue_alert(conn, "wrong_answer", citizen_id, message_id)
        if plan.fields.get("outcome") == "emergency":
            queue_alert(conn, "emergency", citizen_id, message_id)
        return write_replies(conn, citizen_id=citizen_id, zalo_id=zalo_id, source_id=message_id,
                             replies=plan.replies, expires_at=expires_at)
