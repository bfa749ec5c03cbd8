"""Inbound events: stored by the webhook, answered later by the engine, replies written to the outbox."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, bindparam, delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.masking import mask_sensitive
from bot.state import ConversationState
from webhooks.models import Citizen, ConversationRow, Handoff, Message, Outbox, utcnow
from webhooks.outbound import queue_replies
from webhooks.state_store import SqlStateStore
from webhooks.zalo import EventError, InboundEvent, parse_event

if TYPE_CHECKING:
    from webhooks.jobs import Services

log = logging.getLogger(__name__)

# Events that are the citizen reaching out: they open the 7-day window and get an answer.
ANSWERED_KINDS = frozenset({"text", "follow", "chatnow", "media", "location"})


@dataclass(frozen=True)
class Accepted:
    """What the webhook did with an event: `message_id` is set when processing must follow."""

    note: str  # stored | duplicate | recorded | deleted | ignored
    message_id: int | None = None


def dedupe_key(event: InboundEvent) -> str:
    """Zalo's msg_id, or a synthetic key for events that carry none (follow, chatnow, ...)."""
    return event.msg_id or f"{event.event_name}:{event.user_id}:{event.timestamp or ''}"


# The accept path runs inside the webhook request: its two statements are built once per shape and
# executed on the session's Core connection (building them through the ORM cost more than running them).
_DIALECTS = {"postgresql": postgresql, "sqlite": sqlite}


def _dialect_name(session: Session) -> str:
    return "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"


@lru_cache(maxsize=None)
def _insert_skipping(dialect: str, table: Table, column: str) -> Any:
    return _DIALECTS[dialect].insert(table).on_conflict_do_nothing(index_elements=[column]).returning(table.c.id)


@lru_cache(maxsize=None)
def _citizen_upsert(dialect: str, interacted: bool, sets_following: bool) -> Any:
    insert = _DIALECTS[dialect].insert(Citizen.__table__)
    changes: dict[str, Any] = {}
    if interacted:
        changes["last_interaction"] = insert.excluded.last_interaction
    if sets_following:
        changes["following"] = insert.excluded.following
    # Nothing to change still needs a DO UPDATE: DO NOTHING returns no row (hence no id) on conflict.
    return insert.on_conflict_do_update(index_elements=["zalo_id"], set_=changes or {
        "zalo_id": insert.excluded.zalo_id}).returning(Citizen.__table__.c.id)


def _insert_ignoring_conflict(session: Session, model: Any, values: dict[str, Any], column: str) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING (no exception, no savepoint); the new row's id, None on conflict."""
    stmt = _insert_skipping(_dialect_name(session), model.__table__, column)
    return session.connection().execute(stmt, values).scalar()


def upsert_citizen_id(session: Session, zalo_id: str, *, interacted: bool, following: bool | None = None) -> int:
    """The id of the citizen row for `zalo_id`, created on first contact, in one statement.

    INSERT … ON CONFLICT DO UPDATE … RETURNING, instead of the ORM's insert + select + update
    (three round trips of ack latency). last_interaction moves on `interacted`.
    """
    now = utcnow()
    stmt = _citizen_upsert(_dialect_name(session), interacted, following is not None)
    values = {"zalo_id": zalo_id, "first_seen": now, "last_interaction": now,
              "following": True if following is None else following}
    return session.connection().execute(stmt, values).scalar_one()


def upsert_citizen(session: Session, zalo_id: str, *, interacted: bool, following: bool | None = None) -> Citizen:
    """The citizen row for `zalo_id` (an ORM object), created on first contact; see upsert_citizen_id."""
    citizen_id = upsert_citizen_id(session, zalo_id, interacted=interacted, following=following)
    return session.scalars(select(Citizen).where(Citizen.id == citizen_id)
                           .execution_options(populate_existing=True)).one()


def _masked_payload(payload: dict[str, Any], text: str | None, masked: str) -> dict[str, Any]:
    # Only message.text changes: shallow copies suffice (the caller's payload is left as it was).
    stored = dict(payload)
    message = stored.get("message")
    if isinstance(message, dict) and isinstance(message.get("text"), str):
        original = message["text"]
        stored["message"] = dict(message, text=masked if original == text else mask_sensitive(original))
    return stored


def accept_event(session: Session, event: InboundEvent, payload: dict[str, Any]) -> Accepted:
    """Store (or act on) one verified event in the caller's transaction; never calls the engine."""
    if event.kind in ("echo", "receipt", "other") or not event.user_id:
        return Accepted("ignored")  # echoes must never be answered: our own sends come back as oa_send_*
    if event.kind == "withdraw":
        forget_citizen(session, event.user_id)
        return Accepted("deleted")
    answered = event.kind in ANSWERED_KINDS
    following = {"follow": True, "unfollow": False}.get(event.kind)
    citizen_id = upsert_citizen_id(session, event.user_id, interacted=answered, following=following)
    masked = mask_sensitive(event.text or "")  # once: the payload's copy of the text is the same string
    values = {
        "citizen_id": citizen_id, "direction": "in", "msg_id": dedupe_key(event), "event_name": event.event_name,
        "text": masked, "payload": _masked_payload(payload, event.text, masked), "created_at": utcnow(),
        "status": "received" if answered else "skipped", "outcome": None if answered else "ignored",
        "normalized": "",
    }
    message_id = _insert_ignoring_conflict(session, Message, values, "msg_id")
    if message_id is None:
        return Accepted("duplicate")  # Zalo retried: the first copy is (being) answered
    return Accepted("stored", message_id) if answered else Accepted("recorded")


def forget_citizen(session: Session, zalo_id: str) -> bool:
    """Delete everything stored about a citizen (user_withdraw); True when there was something."""
    citizen_id = session.scalars(select(Citizen.id).where(Citizen.zalo_id == zalo_id)).first()
    session.execute(delete(ConversationRow).where(ConversationRow.zalo_id == zalo_id))
    session.execute(delete(Outbox).where(Outbox.zalo_id == zalo_id))
    if citizen_id is None:
        return False
    # Explicit deletes rather than FK cascades: SQLite only cascades with its foreign_keys pragma on.
    session.execute(delete(Handoff).where(Handoff.citizen_id == citizen_id))
    session.execute(update(Message).where(Message.citizen_id == citizen_id).values(reply_to_id=None))
    session.execute(delete(Message).where(Message.citizen_id == citizen_id))
    session.execute(delete(Citizen).where(Citizen.id == citizen_id))
    log.info("user_withdraw: deleted stored data of citizen %s", citizen_id)
    return True


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


MAX_REPLANS = 5


def process_inbound(services: "Services", message_id: int) -> list[int]:
    """Answer one stored inbound message; returns the ids of the outbox rows written (to deliver).

    The engine runs before the write transaction (SQLite has one writer: holding its lock while
    matching would stall the webhook); the write then checks the conversation state is still the
    one the engine saw, and thinks again if another message of the citizen got in between.
    """
    for _ in range(MAX_REPLANS):
        try:
            plan = _plan(services, message_id)
        except EngineFailure:
            log.exception("engine failed on inbound message %s; marked failed", message_id)
            with services.session() as session:
                session.execute(update(Message).where(Message.id == message_id, Message.status == "received")
                                .values(status="failed", outcome="fallback"))
            return []
        if plan is None:
            return []
        try:
            with services.session() as session:
                return _write(session, message_id, plan)
        except _StateMoved:
            continue
    log.warning("inbound %s: conversation kept changing; left for the sweeper", message_id)
    return []


_PLAN_READ = (
    # Everything answering needs, in one round trip: the message, its citizen, the conversation
    # state and whether staff hold the conversation (an open handoff).
    select(Message.direction, Message.status, Message.payload, Message.text, Citizen.zalo_id, ConversationRow.data,
           exists().where(Handoff.citizen_id == Citizen.id, Handoff.closed_at.is_(None)).label("handed_off"))
    .join(Citizen, Citizen.id == Message.citizen_id)
    .outerjoin(ConversationRow, ConversationRow.zalo_id == Citizen.zalo_id)
    .where(Message.id == bindparam("message_id")))


def _plan(services: "Services", message_id: int) -> _Plan | None:
    with services.session() as session:
        found = session.execute(_PLAN_READ, {"message_id": message_id}).first()
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
    # Outside the session: no connection or process lock is held while the engine thinks.
    return _answer(services, found.zalo_id, found.text, event, store)


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


def _write(session: Session, message_id: int, plan: _Plan) -> list[int]:
    # The status flip is the claim: a second worker (sweeper re-submit) finds nothing left to do.
    claimed = session.execute(update(Message).where(
        Message.id == message_id, Message.direction == "in", Message.status == "received",
    ).values(status=plan.status, **plan.fields)).rowcount
    if claimed != 1:
        return []
    message = session.get(Message, message_id)
    # Locking the citizen serialises writers per citizen on PostgreSQL (SQLite has one writer anyway).
    citizen = session.scalars(select(Citizen).where(Citizen.id == message.citizen_id).with_for_update()).one()
    if plan.store is not None and plan.store.touched:
        row = session.get(ConversationRow, citizen.zalo_id)
        if (dict(row.data) if row is not None else None) != plan.store.before:
            raise _StateMoved()
        states = SqlStateStore(session)
        if plan.store.after is None:
            states.delete(citizen.zalo_id)
        else:
            states.save(citizen.zalo_id, ConversationState.from_dict(plan.store.after))
    if plan.open_handoff and session.scalars(select(Handoff.id).where(
            Handoff.citizen_id == citizen.id, Handoff.closed_at.is_(None))).first() is None:
        session.add(Handoff(citizen_id=citizen.id, opened_at=utcnow()))
    rows = queue_replies(session, citizen=citizen, source=message, replies=plan.replies)
    return [row.id for row in rows]
