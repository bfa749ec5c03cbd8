"""The webhook's intake with a spool: 200 once the event is in this process's spool file, stored just after.

Committing before the 200 made every request wait for its batch's commit, and that wait, not the
statements, was most of what storing cost the webhook (docs/ARCHITECTURE.md, fifteenth and sixteenth
sessions). Here a request writes one line and returns; one drainer thread per process stores the
queued events in batches (the same statements as Intake's), hands them to processing, then empties
the spool. A database outage only holds the queue: batches are retried with backoff, nothing is
answered twice (msg_id is unique), and a process killed with events in its spool has them replayed by
the next process to start (or to look) on the host.

Under a burst storing yields to acknowledging, as answering does (priority.RequestGauge): before
each batch the drainer calls `pause`, which waits while the server's request threads are filling
up, at most a second. Storing competes with the requests for the same cores and interpreter lock,
and an event in the spool is already safe, so the queue may grow for a while and then be stored in
big batches. Holding is bounded: not once the oldest queued event waited `hold` seconds or
`max_held` events are queued (memory), nor while a withdrawal or shutdown flushes. At a steady
rate the gauge is never busy and nothing is held. Measured in the bench (docs/ARCHITECTURE.md,
seventeenth session): SQLite webhook throughput went from 0.50 to 0.70 of the bare endpoint's
in the same hour; the price is that stored rows and /healthz's intake_backlog lag a burst by seconds.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import deque
from contextlib import suppress
from pathlib import Path
from typing import Any, Callable

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from webhooks import spool
from webhooks.db import is_disconnect
from webhooks.inbound_rows import Accepted, message_row
from webhooks.intake import Intake, Waiting
from webhooks.zalo import EventError, InboundEvent, parse_event

log = logging.getLogger(__name__)

ORPHAN_LOOK = 10.0  # seconds between looks for spool files of processes that died
MAX_BACKOFF = 5.0
MAX_HELD = 10_000  # queued events past which the drainer stops yielding (about 1.6 KB each, measured)


def transient(exc: BaseException) -> bool:
    """True when storing may work if tried again later (the database away, locked or overloaded)."""
    return isinstance(exc, (OperationalError, InterfaceError, PoolTimeout, OSError)) or is_disconnect(exc)


class _Later(Exception):
    """The database refused a replayed batch for now: the orphan file stays for the next look."""


class SpooledIntake:
    """Accepts events into the spool and stores them from a drainer thread (see the module's docstring)."""

    def __init__(self, intake: Intake, directory: Path, gather: float, max_batch: int = 256,
                 pause: Callable[[], float] | None = None, hold: float = 0.0, max_held: int = MAX_HELD):
        # `intake` stores batches (its statements and connection) and takes what is never spooled:
        # echoes, receipts, withdrawals (those after this process's queue is stored).
        self.intake, self.directory, self.gather, self.max_batch = intake, directory, gather, max_batch
        self.pause, self.hold, self.max_held = pause, hold, max_held
        self._hurry = 0  # flushes in progress: the drainer does not yield to requests meanwhile
        self.spool = spool.Spool(directory)
        # No lock on the request's path: deque's append / popleft and the flag are atomic under the
        # interpreter lock, and the drainer looks at the queue again after lowering the flag.
        self._queue: deque[Waiting] = deque()
        self._busy = False  # the drainer holds a batch or will look at the queue again
        self._storing = 0  # events in the batch being stored
        self._wake = threading.Event()
        self._lock = threading.Lock()  # starting the drainer, counting flushes
        self._pid = 0
        self._thread: threading.Thread | None = None
        self._closing = False
        self.stored = 0  # events the drainer stored (tests and curiosity)

    @property
    def backlog(self) -> int:
        """Events of this process accepted and not yet stored."""
        return len(self._queue) + self._storing

    def accept(self, event: InboundEvent, payload: dict[str, Any]) -> Accepted:
        """Spool one event and return at once ("accepted"); events that store no row go to Intake."""
        row = message_row(event, payload)  # None for echoes, receipts and withdrawals
        if row is None:
            if event.kind == "withdraw" and not self.flush(timeout=30.0):
                raise RuntimeError("the spool could not be stored before deleting the citizen's data")
            return self.intake.accept(event, payload)
        if self._pid != os.getpid():
            self.start()
        item = Waiting(event, row["payload"], row)  # the masked copy: what the spool and the row keep
        item.segment = self.spool.append(spool.encode(row["payload"]))  # raises on a full disk: no 200
        item.queued_at = time.monotonic()
        self._queue.append(item)
        if not self._busy:
            self._busy = True
            self._wake.set()
        return Accepted("accepted")

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything this process accepted is stored; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._hurry += 1
        try:
            while self._queue or self._busy:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.005)  # rare (a withdrawal, shutdown): a poll keeps the drainer free of signalling
            return True
        finally:
            with self._lock:
                self._hurry -= 1

    def start(self) -> None:
        """Start the drainer (it first replays spool files of dead processes)."""
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's thread and queue are not this process's
                self._thread, self._queue, self._busy, self._closing = None, deque(), False, False
                self._pid = os.getpid()  # last: a request seeing it must find the new queue
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="intake-drainer", daemon=True)
                self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Store what is queued (up to `timeout`), stop the drainer, remove the spool if all is stored."""
        flushed = self.flush(timeout)
        self._closing = True
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout=max(1.0, timeout))
        self.spool.close(remove=flushed and not self._queue)
        if not flushed:
            log.warning("intake: %d event(s) left in the spool; the next process replays them", len(self._queue))

    def _run(self) -> None:
        next_look = 0.0
        while True:
            if time.monotonic() >= next_look:
                self._replay_orphans()
                next_look = time.monotonic() + ORPHAN_LOOK
            self._wake.wait(timeout=ORPHAN_LOOK)
            self._wake.clear()
            self._drain()
            if self._closing:
                return

    def _may_hold(self) -> bool:
        """True when the next batch may wait for the requests in progress (see the module's docstring)."""
        if self.hold <= 0 or self._closing or self._hurry or len(self._queue) >= self.max_held:
            return False
        try:
            return time.monotonic() - self._queue[0].queued_at < self.hold
        except IndexError:
            return False

    def _take(self) -> list[Waiting]:
        batch: list[Waiting] = []
        with suppress(IndexError):
            while len(batch) < self.max_batch:
                batch.append(self._queue.popleft())
        return batch

    def _drain(self) -> None:
        backoff = 0.1
        while True:
            if self.gather > 0 and not self._closing:
                time.sleep(self.gather)  # the next events join this batch: fewer, bigger transactions
            if self.pause is not None and self._may_hold():
                self.pause()
            batch = self._take()
            self._storing = len(batch)
            if not batch:
                self._busy = False
                if not self._queue:
                    return
                self._busy = True  # an event came as the flag went down, unseen by its request: take it
                continue
            retry = self._store(batch)
            if retry:
                self._queue.extendleft(reversed(retry))
            self._storing = 0
            done = batch[:len(batch) - len(retry)]
            if done:
                self.stored += len(done)
                self.intake.hand_over(done)
                for item in done:
                    item.segment.done += 1
                self.spool.collect()
            if retry:
                if self._closing:
                    self._busy = False
                    return
                time.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            else:
                backoff = 0.1

    def _store(self, batch: list[Waiting]) -> list[Waiting]:
        """Store `batch`; returns the suffix of it to try again later (empty when all is done)."""
        try:
            results = self.intake.write(batch)
        except Exception as exc:
            if transient(exc):
                log.warning("intake: storing %d spooled event(s) failed (%s); retrying", len(batch), exc)
                return batch
            if len(batch) == 1:  # refused for good: kept aside for staff, never blocks the queue
                log.error("intake: event %s refused by the database (%s); kept in %s", batch[0].event.msg_id,
                          type(exc).__name__, self.directory / spool.REJECTED)
                spool.reject(self.directory, batch[0].payload, f"{type(exc).__name__}: {exc}")
                batch[0].result = Accepted("rejected")
                return []
            for n, item in enumerate(batch):  # one bad event must not fail the others
                if self._store([item]):
                    return batch[n:]
            return []
        for item, result in zip(batch, results):
            item.result = result
        return []

    def _replay_orphans(self) -> None:
        try:
            for path, payloads in spool.claim_orphans(self.directory):
                items = [item for item in map(_replayed, payloads) if item is not None]
                for start in range(0, len(items), self.max_batch):
                    batch = items[start:start + self.max_batch]
                    if self._store(batch):
                        raise _Later()
                    self.intake.hand_over(batch)
                log.warning("intake: replayed %d event(s) from %s, left by a process that stopped", len(items),
                            path.name)
        except _Later:
            log.warning("intake: the database refused a replay; trying again in %.0f s", ORPHAN_LOOK)
        except Exception:  # a broken file must not stop this process's own draining
            log.exception("intake: could not replay spool files in %s", self.directory)


def _replayed(payload: dict[str, Any]) -> Waiting | None:
    try:
        event = parse_event(payload)
    except EventError as exc:
        log.warning("intake: spooled event skipped on replay: %s", exc)
        return None
    row = message_row(event, payload)
    return Waiting(event, payload, row) if row is not None else None


def create_intake(services: Any) -> Intake | SpooledIntake:
    """The intake the settings ask for: spooled when `spool_dir` is set, else commit-before-200."""
    settings = services.settings
    intake = Intake(services)
    if settings.spool_dir is None:
        return intake
    # One folder per database: a spool replayed into another database (two local servers) would
    # answer strangers' messages there.
    key = hashlib.sha256(settings.database_url.encode()).hexdigest()[:12]
    directory = Path(settings.spool_dir) / key
    directory.mkdir(parents=True, exist_ok=True)  # an unwritable BOT_SPOOL_DIR stops start-up, naming it
    gauge = getattr(services.dispatcher, "gauge", None)  # ManualDispatcher and None have none
    return SpooledIntake(intake, directory, settings.spool_gather, pause=gauge.wait_quiet if gauge else None,
                         hold=settings.spool_hold)
