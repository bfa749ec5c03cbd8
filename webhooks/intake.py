"""The webhook's write: a verified event stored (or acted on) before Zalo gets its 200, with group commit."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, String, Table, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from bot.masking import mask_sensitive
from webhooks.bulk_sql import Bound, RowsInsert
from webhooks.citizens import citizen_rows, forget_citizen
from webhooks.db import dialect_insert, is_disconnect
from webhooks.models import Citizen, Message, utcnow
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


def _message_insert(dialect: str, rows: list[dict[str, Any]]) -> Any:
    table, citizens = Message.__table__, Citizen.__table__
    values = [{**{name: row[name] for name in row if name != "owner"},
               "citizen_id": select(citizens.c.id).where(citizens.c.zalo_id == row["owner"]).scalar_subquery()}
              for row in rows]
    return _keyed(_insert_skipping(dialect, table, "msg_id"), table.c.msg_id).values(values)


_MESSAGE_ROWS = RowsInsert(
    {"owner": String(), **{name: Message.__table__.c[name].type for name in (
        "direction", "msg_id", "event_name", "text", "payload", "created_at", "status", "outcome", "normalized")}},
    _message_insert)


@lru_cache(maxsize=None)
def _keyed(stmt: Any, key: Any) -> Any:
    # RETURNING the key column too: executemany's rows then say which parameter set they belong to.
    return stmt.returning(key)


def _masked_payload(payload: dict[str, Any], text: str | None, masked: str) -> dict[str, Any]:
    # Only message.text changes: shallow copies suffice (the caller's payload is left as it was).
    stored = dict(payload)
    message = stored.get("message")
    if isinstance(message, dict) and isinstance(message.get("text"), str):
        original = message["text"]
        stored["message"] = dict(message, text=masked if original == text else mask_sensitive(original))
    return stored


def _message_row(owner: str, event: InboundEvent, payload: dict[str, Any], now: Any) -> dict[str, Any]:
    # `owner` is the citizen's Zalo id: the insert looks its row id up (see _MESSAGE_ROWS)
    answered = event.kind in ANSWERED_KINDS
    masked = mask_sensitive(event.text or "")  # once: the payload's copy of the text is the same string
    return {"owner": owner, "direction": "in", "msg_id": dedupe_key(event), "event_name": event.event_name,
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
    return accept_events(conn, [(event, payload)])[0]  # a duplicate msg_id: Zalo retried, the first copy counts


@dataclass(frozen=True)
class Planned:
    """A batch of events turned into bound statements before the transaction (see bulk_sql)."""

    results: list[Accepted]  # final for events that store nothing; the rest filled in by write_planned
    statements: list[Bound]  # citizen upserts, then the message insert (RETURNING id, msg_id) last
    stored: list[tuple[int, str, bool]]  # (position, dedupe key, answered) of events with a message row
    first: dict[str, int]  # dedupe key → position of the copy inserted (a retry inside the batch is not)


def plan_events(dialect: Dialect, events: list[tuple[InboundEvent, dict[str, Any]]]) -> Planned | None:
    """The statements storing `events` as if one after the other; None when one is a user_withdraw.

    Citizens are upserted (each once: their flags merged in arrival order) and messages inserted,
    each citizen id looked up inside the insert. Order matters around a withdrawal, so a batch
    holding one is stored event by event (accept_event).
    """
    if any(event.kind == "withdraw" for event, _ in events):
        return None
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
    statements = []
    for variant in sorted({(row["interacted"], row["sets_following"]) for row in citizens.values()}):
        # in key order: concurrent writers (PostgreSQL) then lock citizen rows in one order, no deadlock
        rows = sorted((row for row in citizens.values() if (row["interacted"], row["sets_following"]) == variant),
                      key=lambda row: row["zalo_id"])
        statements.append(citizen_rows(*variant).bind(dialect, rows))
    messages, first, kept = [], {}, []
    for n, event, payload in stored:
        key = dedupe_key(event)
        if key not in first:  # else a retry inside the batch: the earlier copy is the one stored
            first[key] = n
            messages.append(_message_row(event.user_id, event, payload, now))
        kept.append((n, key, event.kind in ANSWERED_KINDS))
    if messages:
        statements.append(_MESSAGE_ROWS.bind(dialect, messages))
    return Planned(results, statements, kept, first)


def write_planned(conn: Connection, planned: Planned) -> list[Accepted]:
    """Run a planned batch in the caller's transaction; what happened to each event."""
    rows: list[Any] = []
    for statement in planned.statements:
        rows = statement.run(conn)
    new = {msg_id: message_id for message_id, msg_id in rows} if planned.stored else {}
    results = list(planned.results)
    for n, key, answered in planned.stored:
        if planned.first.get(key) != n or key not in new:
            results[n] = Accepted("duplicate")
        else:
            results[n] = Accepted("stored", new[key]) if answered else Accepted("recorded")
    return results


def accept_events(conn: Connection, events: list[tuple[InboundEvent, dict[str, Any]]],
                  planned: Planned | None = None) -> list[Accepted]:
    """accept_event for several events in one transaction, as if one after the other (see plan_events).

    `planned` is plan_events' result for these events when the caller built it beforehand.
    """
    planned = planned or plan_events(conn.dialect, events)
    if planned is None:
        return [accept_event(conn, event, payload) for event, payload in events]
    return write_planned(conn, planned)


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
        events = [(item.event, item.payload) for item in batch]
        planned = plan_events(self.services.database.engine.dialect, events)  # before taking the write turn
        for attempt in (1, 2):
            try:
                with self.services.connection() as conn:
                    return accept_events(conn, events, planned)
            except DBAPIError as exc:  # pools skip the pre-ping (a round trip per session): see db.py
                if attempt == 2 or not is_disconnect(exc):
                    raise
                log.warning("webhook: database connection lost; retrying on a fresh one")
        raise AssertionError("unreachable")
