"""The webhook's write: a verified event stored (or acted on) before Zalo gets its 200, with group commit."""
from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from webhooks.citizens import forget_citizen
from webhooks.db import is_disconnect
from webhooks.echoes import note_echo
from webhooks.inbound_rows import Accepted, Planned, message_row, plan_events, stores_row, write_planned
from webhooks.zalo import InboundEvent

if TYPE_CHECKING:
    from webhooks.jobs import Services

log = logging.getLogger(__name__)


def accept_event(conn: Connection, event: InboundEvent, payload: dict[str, Any]) -> Accepted:
    """Store (or act on) one verified event in the caller's transaction; never calls the engine."""
    if not stores_row(event):
        return Accepted("ignored")  # echoes must never be answered: our own sends come back as oa_send_*
    if event.kind == "withdraw":
        forget_citizen(conn, event.user_id)
        return Accepted("deleted")
    return accept_events(conn, [(event, payload)])[0]  # a duplicate msg_id: Zalo retried, the first copy counts


def accept_events(conn: Connection, events: list[tuple[InboundEvent, dict[str, Any]]],
                  planned: Planned | None = None) -> list[Accepted]:
    """accept_event for several events in one transaction, as if one after the other (see plan_events).

    `planned` is plan_events' result for these events when the caller built it beforehand.
    """
    planned = planned or plan_events(conn.dialect, events)
    if planned is None:
        return [accept_event(conn, event, payload) for event, payload in events]
    return write_planned(conn, planned)


class _Signal:
    """threading.Event's set / wait for one waiter, on a bare lock (an Event allocates a lock per wait)."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def set(self) -> None:
        """Wake the waiter (setting a set signal again is harmless)."""
        with suppress(RuntimeError):  # already released: already set
            self._lock.release()

    def wait(self) -> None:
        """Block until set; the signal stays set."""
        self._lock.acquire()
        with suppress(RuntimeError):  # a second set() came in between: set it is
            self._lock.release()


@dataclass(eq=False)
class Waiting:
    event: InboundEvent
    payload: dict[str, Any]
    row: dict[str, Any] | None = None  # its message row, built before it joined the queue (see message_row)
    done: _Signal = field(default_factory=_Signal)
    lead: bool = False  # woken to write the next batch, not because its own event is stored
    result: Accepted | None = None
    error: BaseException | None = None
    segment: Any = None  # the spool file holding it (SpooledIntake)
    queued_at: float = 0.0  # time.monotonic() when SpooledIntake queued it


class Intake:
    """Stores verified events, several concurrent requests per transaction (group commit).

    A request finding nobody writing writes its own event at once; requests arriving meanwhile
    wait, and the first of them then stores all of them in one transaction. Every request still
    returns only after its event is committed. One commit and one pass through the SQLite write
    lock per batch instead of per request: under a burst that was most of the webhook's cost.
    While requests overlap (the last batch held more than one), the writer first waits `gather`
    seconds for more to join; a lone request never waits.
    """

    def __init__(self, services: "Services", max_batch: int = 64, gather: float | None = None):
        # Stored messages go to services.dispatcher, by the writer, one call per batch.
        self.services, self.max_batch = services, max_batch
        self.gather = services.settings.intake_gather if gather is None else gather
        self._last_size = 0  # events in the batch written last: more than one means requests overlap
        self.batches = 0  # batches written (for tests and curiosity)
        self._lock = threading.Lock()
        self._queue: list[Waiting] = []
        self._writing = False
        self._held: Connection | None = None
        self._held_pid = 0

    def accept(self, event: InboundEvent, payload: dict[str, Any]) -> Accepted:
        """Store one event (committed when this returns); raises what storing it raised."""
        if event.kind == "echo":
            return self._echo(event)
        # Built here, in this request's thread: whatever the batch's writer does, every request of the
        # batch waits for. Its time counts several times over (measured: a cheaper JSON encoding of the
        # batch raised the webhook/bare throughput ratio from 0.472 to 0.542, far beyond its CPU share).
        item = Waiting(event, payload, message_row(event, payload))
        with self._lock:
            self._queue.append(item)
            lead = not self._writing
            self._writing = True
        if not lead:
            item.done.wait()
            lead = item.lead  # woken to write the next batch (its own event heads it), not because it is stored
        if lead:
            self._write_batch()
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    @property
    def backlog(self) -> int:
        """Events accepted and not yet stored: none, every request waits for its commit."""
        return 0

    def start(self) -> None:
        """Nothing runs in the background here (SpooledIntake's drainer does)."""

    def flush(self, timeout: float = 10.0) -> bool:
        """Everything accepted is already stored."""
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Nothing to store at exit."""

    def _echo(self, event: InboundEvent) -> Accepted:
        # Never answered, never stored as a message: at most noted on the reply it repeats.
        try:
            return Accepted("confirmed" if note_echo(self.services, event) is not None else "ignored")
        except Exception:  # only a resend is at stake: Zalo must still get its 200
            log.exception("webhook: could not compare echo %s with unconfirmed replies", event.msg_id)
            return Accepted("ignored")

    def _write_batch(self) -> None:
        # Leader: its own event heads the queue (a request finding nobody writing finds it empty, and
        # the lead goes to the queue's head), so the one batch it takes holds it.
        try:
            if self.gather > 0 and self._last_size > 1 and len(self._queue) < self.max_batch:
                # Requests overlap: the ones still being read and verified join this batch if we
                # wait a moment (PostgreSQL's commit_delay idea). Per event, a batch of five cost
                # the web process and the server about 0.2 ms of CPU less than a batch of three.
                time.sleep(self.gather)
            with self._lock:
                batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                self._last_size, self.batches = len(batch), self.batches + 1
            try:
                self._store(batch)
            finally:  # whatever happened, nobody in this batch may wait forever
                for item in batch:
                    if item.result is None and item.error is None:
                        item.error = RuntimeError("the webhook's write was interrupted")
                    item.done.set()
        finally:
            # Lead passed before the hand-over: that can be a Redis round trip (scaled mode), and a
            # slow one must delay this request only, not every batch queued behind it.
            self._pass_lead()
        self.hand_over(batch)

    def _pass_lead(self) -> None:
        with self._lock:
            if self._queue:
                self._queue[0].lead = True
                self._queue[0].done.set()
            else:
                self._writing = False

    def hand_over(self, batch: list[Waiting]) -> None:
        """Submit the stored messages of `batch` to processing (a failure is logged: the sweeper answers them)."""
        # After the commit and after the waiting requests were released: they need not wait for this.
        ids = [item.result.message_id for item in batch if item.result is not None and item.result.message_id]
        dispatcher = self.services.dispatcher
        if ids and dispatcher is not None:
            try:
                dispatcher.submit_inbound_many(ids)
            except Exception:  # stored is what counts: the sweeper answers what was not handed over
                log.exception("webhook: could not hand %d stored message(s) to processing", len(ids))

    def _store(self, batch: list[Waiting]) -> None:
        try:
            results = self.write(batch)
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

    def write(self, batch: list[Waiting]) -> list[Accepted]:
        """Store a batch in one transaction (retried once on a lost connection); raises what storing raised."""
        events = [(item.event, item.payload) for item in batch]
        planned = plan_events(self.services.database.engine.dialect, events,  # before taking the write turn
                              [item.row for item in batch])
        if planned is not None and not planned.statements:
            return list(planned.results)  # echoes, receipts: nothing to store
        for attempt in (1, 2):
            try:
                with self._write_connection(planned) as conn:
                    return accept_events(conn, events, planned)
            except DBAPIError as exc:  # pools skip the pre-ping (a round trip per session): see db.py
                if attempt == 2 or not is_disconnect(exc):
                    raise
                log.warning("webhook: database connection lost; retrying on a fresh one")
        raise AssertionError("unreachable")

    @contextmanager
    def _write_connection(self, planned: Planned | None) -> Iterator[Connection]:
        # A batch of plan_events' statements runs on a connection this intake keeps (only its leader
        # uses it): a pool checkout per batch cost as much CPU as the statements. On PostgreSQL the
        # batch is one statement, its own transaction (no BEGIN / COMMIT round trips); on SQLite it
        # runs in a transaction in the write turn. Anything else (a withdrawal) takes a pooled one.
        if planned is None:
            with self.services.connection() as pooled:
                yield pooled
            return
        database = self.services.database
        conn = self._held
        if conn is None or self._held_pid != os.getpid():  # a forked child must not share its parent's socket
            conn = database.direct.connect()
            self._held, self._held_pid = conn, os.getpid()
        try:
            if database.writers is None:
                yield conn
            else:
                with database.writers.hold(), conn.begin():
                    yield conn
        except BaseException:
            self._held = None  # whatever went wrong, the next batch starts on a fresh connection
            with suppress(Exception):
                conn.close()
            raise
