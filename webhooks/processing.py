"""Stored inbound events answered by the engine; replies (and conversation state) written to the outbox."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, delete, exists, insert, select, update

from bot.state import ConversationState
from webhooks.bulk_sql import Prepared
from webhooks.db import dialect_insert
from webhooks.delivery import LEASE, Claimed
from webhooks.models import Citizen, ConversationRow, Handoff, Message, utcnow
from webhooks.outbound import write_replies
from webhooks.pg_statements import claim_and_swap, state_change
from webhooks.zalo import EventError, InboundEvent, parse_event

if TYPE_CHECKING:
    from webhooks.jobs import Services

log = logging.getLogger(__name__)


class EngineFailure(RuntimeError):
    """The engine raised while answering: the message is marked failed instead of retried forever."""


class _StateMoved(RuntimeError):
    """Another message of the same citizen was answered while this one was being thought about."""


class _RecordingStore:
    """The engine's StateStore during one turn: serves the state read up front, records what it saves."""

    def __init__(self, before: dict | None):
        self.before, self.after, self.touched = before, before, False

    def load(self, user_id: str) -> ConversationState:
        """The state as read before the turn."""
        return ConversationState.from_dict(self.before)

    def save(self, user_id: str, state: ConversationState) -> None:
        """Keep `state` to write with the replies."""
        self.after, self.touched = state.to_dict(), True

    def delete(self, user_id: str) -> None:
        """Forget the state when the replies are written."""
        self.after, self.touched = None, True


@dataclass
class _Plan:
    """What answering a message will write, computed outside any write transaction."""

    status: str = "processed"
    fields: dict[str, Any] = field(default_factory=dict)
    replies: list = field(default_factory=list)
    store: _RecordingStore | None = None
    open_handoff: bool = False
    zalo_id: str = ""


MAX_REPLANS = 5


@dataclass(frozen=True)
class Answered:
    """The outbox rows written for one message; `first` is set when the caller already holds its lease."""

    outbox_ids: list[int]
    first: Any = None  # the first row's fields (as delivery's claim returns them)
    lease: Any = None


def process_inbound(services: "Services", message_id: int) -> list[int]:
    """Answer one stored inbound message; returns the ids of the outbox rows written (all pending)."""
    return answer_inbound(services, message_id).outbox_ids


def answer_inbound(services: "Services", message_id: int, *, claim_first: bool = False) -> Answered:
    """Answer one stored inbound message and write its replies to the outbox.

    The engine runs before the write transaction (SQLite has one writer: holding its lock while
    matching would stall the webhook); the write then checks the conversation state is still the
    one the engine saw, and thinks again if another message of the citizen got in between.
    `claim_first`: the first reply is written already leased to the caller, who sends it right
    away — one claim transaction fewer per message; if the caller dies, the lease runs out and the
    sweeper sends it.
    """
    for _ in range(MAX_REPLANS):
        try:
            plan = _plan(services, message_id)
        except EngineFailure:
            log.exception("engine failed on inbound message %s; marked failed", message_id)
            with services.connection() as conn:
                conn.execute(_CLAIM, {"message_id": message_id, "status": "failed", "outcome": "fallback"})
            return Answered([])
        if plan is None:
            return Answered([])
        try:
            with services.connection() as conn:
                return _write(conn, message_id, plan, claim_first)
        except _StateMoved:
            continue
    log.warning("inbound %s: conversation kept changing; left for the sweeper", message_id)
    return Answered([])


_PLAN_READ = (
    # Everything answering needs, in one round trip: the message, its citizen, the conversation
    # state and whether staff hold the conversation (an open handoff).
    select(Message.direction, Message.status, Message.payload, Message.text, Citizen.zalo_id, ConversationRow.data,
           exists().where(Handoff.citizen_id == Citizen.id, Handoff.closed_at.is_(None)).label("handed_off"))
    .join(Citizen, Citizen.id == Message.citizen_id)
    .outerjoin(ConversationRow, ConversationRow.zalo_id == Citizen.zalo_id)
    .where(Message.id == bindparam("message_id")))


_PLAN = Prepared(_PLAN_READ)


def _plan(services: "Services", message_id: int) -> _Plan | None:
    with services.reader() as conn:
        found = _PLAN.first(conn, {"message_id": message_id})
    if found is None or found.direction != "in" or found.status != "received":
        return None  # answered already, or deleted (user_withdraw)
    if found.handed_off:
        return _Plan(fields={"outcome": "handoff"})  # staff have the conversation: the bot is silent
    try:
        event = parse_event(found.payload)
    except EventError as exc:  # stored payloads were parsed once already; a logged skip, not a crash
        log.warning("inbound %s: stored payload no longer parses (%s); skipped", message_id, exc)
        return _Plan(status="skipped", fields={"outcome": "ignored"})
    store = _RecordingStore(dict(found.data) if found.data is not None else None)
    # Outside the transaction: no connection or process lock is held while the engine thinks.
    plan = _answer(services, found.zalo_id, found.text, event, store)
    plan.zalo_id = found.zalo_id
    return plan


def _answer(services: "Services", zalo_id: str, text: str, event: InboundEvent, store: _RecordingStore) -> _Plan:
    """Ask the engine what to reply."""
    try:
        engine = services.engines.get()
        if event.kind == "text":
            turn = engine.respond(zalo_id, text, store)
        elif event.kind in ("follow", "chatnow"):
            return _Plan(fields={"outcome": "system", "intent": "welcome"}, replies=[engine.welcome()])
        elif event.kind == "media":
            return _Plan(fields={"outcome": "system", "intent": "media"}, replies=[engine.media_reply()])
        elif event.kind == "location":
            reply = engine.location_reply(event.latitude, event.longitude)
            return _Plan(fields={"outcome": "system", "intent": "location"}, replies=[reply])
        else:
            return _Plan(status="skipped", fields={"outcome": "ignored"})
    except Exception as exc:
        raise EngineFailure(str(exc)) from exc
    fields = {"outcome": turn.outcome, "intent": turn.intent, "score": turn.score,
              "normalized": turn.normalized or "",
              "candidates": [{"id": c.id, "score": round(float(c.score), 4)} for c in turn.candidates]}
    return _Plan(fields=fields, replies=list(turn.replies), store=store, open_handoff=turn.outcome == "handoff")


# The write path's statements, built once. The claim's SET clause is whatever the caller passes
# (status plus the plan's fields); the status flip is the claim: a second worker finds nothing to do.
_MESSAGES, _STATES = Message.__table__, ConversationRow.__table__
_CLAIM = (update(_MESSAGES).where(_MESSAGES.c.id == bindparam("message_id"), _MESSAGES.c.direction == "in",
                                  _MESSAGES.c.status == "received").returning(_MESSAGES.c.citizen_id))
# Locking the citizen serialises handoff openings per citizen on PostgreSQL.
_LOCK_CITIZEN = select(Citizen.id).where(Citizen.id == bindparam("citizen_id")).with_for_update()
_READ_STATE = select(_STATES.c.data).where(_STATES.c.zalo_id == bindparam("zalo_id"))
_DELETE_STATE = delete(_STATES).where(_STATES.c.zalo_id == bindparam("zalo_id"))
_OPEN_HANDOFF = select(Handoff.id).where(Handoff.citizen_id == bindparam("citizen_id"), Handoff.closed_at.is_(None))


@lru_cache(maxsize=None)
def _save_state(dialect: str) -> Any:
    insert = dialect_insert(dialect, _STATES)
    return insert.on_conflict_do_update(index_elements=["zalo_id"], set_={
        "data": insert.excluded.data, "updated_at": insert.excluded.updated_at})


def _claim_then_check(conn: Connection, claim: dict[str, Any], plan: _Plan) -> int | None:
    """SQLite: claim, then compare the stored state with the one the engine saw, then save it."""
    citizen_id = conn.execute(_CLAIM, claim).scalar()
    if citizen_id is None or plan.store is None or not plan.store.touched:
        return citizen_id
    data = conn.execute(_READ_STATE, {"zalo_id": plan.zalo_id}).scalar()
    if (dict(data) if data is not None else None) != plan.store.before:
        raise _StateMoved()
    if plan.store.after is None:
        conn.execute(_DELETE_STATE, {"zalo_id": plan.zalo_id})
    else:
        conn.execute(_save_state(conn.dialect.name),
                     {"zalo_id": plan.zalo_id, "data": plan.store.after, "updated_at": utcnow()})
    return citizen_id


def _claim_and_swap(conn: Connection, claim: dict[str, Any], plan: _Plan) -> int | None:
    """PostgreSQL: the claim and a compare-and-swap of the state in one statement (pg_statements)."""
    store = plan.store if plan.store is not None and plan.store.touched else None
    change = state_change(store.before, store.after) if store is not None else None
    params = dict(claim)
    if store is not None:
        params.update(state_key=plan.zalo_id, before=store.before, after=store.after, now=utcnow())
    found = claim_and_swap(tuple(sorted(plan.fields)), change).first(conn, params)
    if found is None:
        return None
    if not found.swapped:
        raise _StateMoved()  # the caller's transaction rolls the claim back
    return found.citizen_id


def _write(conn: Connection, message_id: int, plan: _Plan, claim_first: bool) -> Answered:
    claim = {"message_id": message_id, "status": plan.status, **plan.fields}
    postgresql = conn.dialect.name == "postgresql"
    citizen_id = (_claim_and_swap if postgresql else _claim_then_check)(conn, claim, plan)
    if citizen_id is None:
        return Answered([])
    if plan.open_handoff:
        if postgresql:  # one open handoff per citizen; SQLite's single writer serialises these already
            conn.execute(_LOCK_CITIZEN, {"citizen_id": citizen_id})
        if conn.execute(_OPEN_HANDOFF, {"citizen_id": citizen_id}).first() is None:
            conn.execute(insert(Handoff.__table__).values(citizen_id=citizen_id, opened_at=utcnow()))
    lease = utcnow() + LEASE if claim_first else None
    rows = write_replies(conn, citizen_id=citizen_id, zalo_id=plan.zalo_id, source_id=message_id,
                         replies=plan.replies, lease_first=lease)
    ids = [row.id for row in rows]
    if not rows or lease is None:
        return Answered(ids)
    first = Claimed(rows[0].id, message_id, 0, rows[0].message_id, plan.zalo_id, rows[0].body, 0)
    return Answered(ids, first=first, lease=lease)
