"""The webhook's write: a verified event stored (or acted on) before Zalo gets its 200, with group commit."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from bot.masking import mask_sensitive
from webhooks.db import dialect_insert, is_disconnect
from webhooks.models import Citizen, ConversationRow, Handoff, Message, Outbox, utcnow
from webhooks.zalo import InboundEvent

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


# Built once per shape: building statements cost more CPU than running them.
@lru_cache(maxsize=None)
def _insert_skipping(dialect: str, table: Table, column: str) -> Any:
    return dialect_insert(dialect, table).on_conflict_do_nothing(index_elements=[column]).returning(table.c.id)


@lru_cache(maxsize=None)
def _citizen_upsert(dialect: str, interacted: bool, sets_following: bool) -> Any:
    insert = dialect_insert(dialect, Citizen.__table__)
    changes: dict[str, Any] = {}
    if interacted:
        changes["last_interaction"] = insert.excluded.last_interaction
    if sets_following:
        changes["following"] = insert.excluded.following
    # Nothing to change still needs a DO UPDATE: DO NOTHING returns no row (hence no id) on conflict.
    return insert.on_conflict_do_update(index_elements=["zalo_id"], set_=changes or {
        "zalo_id": insert.excluded.zalo_id}).returning(Citizen.__table__.c.id)


@lru_cache(maxsize=None)
def _keyed(stmt: Any, key: Any) -> Any:
    # RETURNING the key column too: executemany's rows then say which parameter set they belong to.
    return stmt.returning(key)


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


def _masked_payload(payload: dict[str, Any], text: str | None, masked: str) -> dict[str, Any]:
    # Only message.text changes: shallow copies suffice (the caller's payload is left as it was).
    stored = dict(payload)
    message = stored.get("message")
    if isinstance(message, dict) and isinstance(message.get("text"), str):
        original = message["text"]
        stored["message"] = dict(message, text=masked if original == text else mask_sensitive(original))
    return stored


def _message_row(citizen_id: int, event: InboundEvent, payload: dict[str, Any], now: Any) -> dict[str, Any]:
    answered = event.kind in ANSWERED_KINDS
    masked = mask_sensitive(event.text or "")  # once: the payload's copy of the text is the same string
    return {"citizen_id": citizen_id, "direction": "in", "msg_id": dedupe_key(event), "event_name": event.event_name,
            "text": masked, "payload": _masked_payload(payload, event.text, masked), "created_at": now,
            "status": "received" if answered else "skipped", "outcome": None if answered else "ignored",
            "normalized": ""}


def accept_event(conn: Connection, event: InboundEvent, payload: dict[str, Any]) -> Accepted:
    """Store (or act on) one verified event in the caller's transaction; never calls the engine."""
    if event.kind in ("echo", "receipt", "other") or not event.user_id:
        return Accepted("ignored")  # echoes must never be answered: our own sends come back as oa_send_*
    if event.kind == "withdraw":
        forget_citizen(conn, event.user_id)
        return Accepted("deleted")
    answered = event.kind in ANSWERED_KINDS
    following = {"follow": True, "unfollow": False}.get(event.kind)
    citizen_id = upsert_citizen_id(conn, event.user_id, interacted=answered, following=following)
    values = _message_row(citizen_id, event, payload, utcnow())
    message_id = conn.execute(_insert_skipping(conn.dialect.name, Message.__table__, "msg_id"), values).scalar()
    if message_id is None:
        return Accepted("duplicate")  # Zalo retried: the first copy is (being) answered
    return Accepted("stored", message_id) if answered else Accepted("recorded")


def accept_events(conn: Connection, events: list[tuple[InboundEvent, dict[str, Any]]]) -> list[Accepted]:
    """accept_event for several events in one transaction, as if one after the other, in two statements.

    Citizens are upserted with one executemany (each once: their flags merged in arrival order)
    and messages inserted with another; a msg_id seen twice is a duplicate the second time.
    A batch holding a user_withdraw is stored one event at a time (its order matters).
    """
    if len(events) < 2 or any(event.kind == "withdraw" for event, _ in events):
        return [accept_event(conn, event, payload) for event, payload in events]
    stored = [(n, event, payload) for n, (event, payload) in enumerate(events)
              if event.kind not in ("echo", "receipt", "other") and event.user_id]
    results = [Accepted("ignored")] * len(events)  # echoes etc.: as in accept_event
    citizens: dict[str, dict[str, Any]] = {}
    now = utcnow()
    for _, event, _ in stored:
        row = citizens.setdefault(event.user_id, {"zalo_id": event.user_id, "first_seen": now, "last_interaction": now,
                                                  "following": True, "interacted": False, "sets_following": False})
        row["interacted"] |= event.kind in ANSWERED_KINDS
        if event.kind in ("follow", "unfollow"):
            row["following"], row["sets_following"] = event.kind == "follow", True
    ids: dict[str, int] = {}
    for variant in {(row["interacted"], row["sets_following"]) for row in citizens.values()}:
        rows = [{k: row[k] for k in ("zalo_id", "first_seen", "last_interaction", "following")}
                for row in citizens.values() if (row["interacted"], row["sets_following"]) == variant]
        stmt = _keyed(_citizen_upsert(conn.dialect.name, *variant), Citizen.__table__.c.zalo_id)
        ids.update((zalo_id, citizen_id) for citizen_id, zalo_id in conn.execute(stmt, rows))
    messages, first = [], {}
    for n, event, payload in stored:
        key = dedupe_key(event)
        if key in first:
            continue  # a retry inside the batch: the earlier copy is the one stored
        first[key] = n
        messages.append(_message_row(ids[event.user_id], event, payload, now))
    table = Message.__table__
    insert = _keyed(_insert_skipping(conn.dialect.name, table, "msg_id"), table.c.msg_id)
    new = {msg_id: message_id for message_id, msg_id in conn.execute(insert, messages)} if messages else {}
    for n, event, _ in stored:
        key = dedupe_key(event)
        if first.get(key) != n or key not in new:
            results[n] = Accepted("duplicate")
        else:
            results[n] = Accepted("stored", new[key]) if event.kind in ANSWERED_KINDS else Accepted("recorded")
    return results


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


@dataclass(eq=False)
class _Waiting:
    event: InboundEvent
    payload: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to write the next batch, not because its own event is stored
    result: Accepted | None = None
    error: BaseException | None = None


class Intake:
    """Stores verified events, several concurrent requests per transaction (group commit).

    A request finding nobody writing writes its own event at once; requests arriving meanwhile
    wait, and the first of them then stores all of them in one transaction. Every request still
    returns only after its event is committed. One commit and one pass through the SQLite write
    lock per batch instead of per request: under a burst that was most of the webhook's cost.
    """

    def __init__(self, services: "Services", max_batch: int = 64):
        # Stored messages go to services.dispatcher, by the writer, one call per batch.
        self.services, self.max_batch = services, max_batch
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._writing = False

    def accept(self, event: InboundEvent, payload: dict[str, Any]) -> Accepted:
        """Store one event (committed when this returns); raises what storing it raised."""
        item = _Waiting(event, payload)
        with self._lock:
            self._queue.append(item)
            lead = not self._writing
            self._writing = True
        while not lead:
            item.done.wait()
            if not item.lead:
                break
            item.done.clear()
            lead, item.lead = True, False
        if lead:
            self._write_batches(item)
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    def _write_batches(self, mine: _Waiting) -> None:
        # Leader: write until our own event is stored, then pass the lead to the next one waiting.
        try:
            while True:
                with self._lock:
                    batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                try:
                    self._store(batch)
                finally:  # whatever happened, nobody in this batch may wait forever
                    for item in batch:
                        if item.result is None and item.error is None:
                            item.error = RuntimeError("the webhook's write was interrupted")
                        item.done.set()
                self._hand_over(batch)
                if any(item is mine for item in batch):
                    return
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].done.set()
                else:
                    self._writing = False

    def _hand_over(self, batch: list[_Waiting]) -> None:
        # After the commit and after the waiting requests were released: they need not wait for this.
        ids = [item.result.message_id for item in batch if item.result is not None and item.result.message_id]
        dispatcher = self.services.dispatcher
        if ids and dispatcher is not None:
            try:
                dispatcher.submit_inbound_many(ids)
            except Exception:  # stored is what counts: the sweeper answers what was not handed over
                log.exception("webhook: could not hand %d stored message(s) to processing", len(ids))

    def _store(self, batch: list[_Waiting]) -> None:
        try:
            results = self._transaction(batch)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
            # One bad event must not fail the others: store each on its own.
            log.warning("webhook batch of %d failed (%s); storing one by one", len(batch), type(exc).__name__)
            for item in batch:
                self._store([item])
            return
        for item, result in zip(batch, results):
            item.result = result

    def _transaction(self, batch: list[_Waiting]) -> list[Accepted]:
        for attempt in (1, 2):
            try:
                with self.services.connection() as conn:
                    return accept_events(conn, [(item.event, item.payload) for item in batch])
            except DBAPIError as exc:  # pools skip the pre-ping (a round trip per session): see db.py
                if attempt == 2 or not is_disconnect(exc):
                    raise
                log.warning("webhook: database connection lost; retrying on a fresh one")
        raise AssertionError("unreachable")
