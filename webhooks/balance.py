"""Gunicorn workers that share keep-alive connections evenly: under the GIL each process is one core at most."""
# Which worker accepts a connection is a race between their accept loops. With keep-alive, the
# split then lasts as long as the connections: 16 clients split 2 / 14 or 4 / 12 left one process
# saturated and the other mostly waiting on its database writes (measured on PostgreSQL: webhook
# throughput 1,717–1,772 req/s at those splits against 2,215–2,228 at 8 / 8). A worker therefore
# stops accepting while a live sibling holds fewer connections; the sibling takes the next one.
# A worker holding back looks again every RECHECK seconds rather than at gthread's one-second
# wake-up: the sibling may have overtaken it meanwhile and stopped too, and a connection would wait.
from __future__ import annotations

import multiprocessing
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker


class ConnectionLedger:
    """Open connections and last heartbeat per worker slot, in memory shared by the master and its workers."""

    STALE = 3.0  # seconds without a heartbeat after which a sibling no longer counts (its loop wakes every second)

    def __init__(self, slots: int):
        # One writer per slot (its worker; the master when it hands the slot out or takes it back),
        # so no lock: a reader at worst sees a count one connection old.
        self.counts = multiprocessing.RawArray("i", [-1] * slots)
        self.beats = multiprocessing.RawArray("d", [0.0] * slots)

    def claim(self) -> int:
        """A free slot for a worker about to be forked (-1 when all are taken: that worker does not balance)."""
        for slot, count in enumerate(self.counts):
            if count < 0:
                self.counts[slot], self.beats[slot] = 0, time.monotonic()
                return slot
        return -1

    def release(self, slot: int) -> None:
        """The worker in `slot` exited."""
        if slot >= 0:
            self.counts[slot] = -1

    def record(self, slot: int, connections: int) -> None:
        """The worker in `slot` holds `connections` now."""
        if slot >= 0:
            self.counts[slot] = connections

    def ahead(self, slot: int, connections: int) -> bool:
        """True when a live sibling of `slot` holds fewer than `connections`; beats `slot`'s heartbeat."""
        now = time.monotonic()
        self.beats[slot] = now
        return any(0 <= count < connections and now - self.beats[other] < self.STALE
                   for other, count in enumerate(self.counts) if other != slot)


class BalancedWorker(ThreadWorker):
    """gthread worker that leaves new connections to a sibling holding fewer (see ConnectionLedger)."""

    RECHECK = 0.01
    ledger: ConnectionLedger | None = None  # set on the instance by the master before fork (see hooks)
    slot = -1
    holding_back = False

    @property
    def nr_conns(self) -> int:  # type: ignore[override]
        return self._connections

    @nr_conns.setter
    def nr_conns(self, value: int) -> None:
        self._connections = value
        if self.ledger is not None:
            self.ledger.record(self.slot, value)

    @property
    def worker_connections(self) -> int:  # type: ignore[override]
        # The gthread loop compares nr_conns with this before each wait: accepting stops at the cap.
        self.holding_back = (self.ledger is not None and self.slot >= 0
                             and self.ledger.ahead(self.slot, self._connections))
        return self._connections if self.holding_back else self._cap

    @worker_connections.setter
    def worker_connections(self, value: int) -> None:
        self._cap = value

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        """gthread's wait, cut short while holding back (see RECHECK)."""
        super().wait_for_and_dispatch_events(min(timeout, self.RECHECK) if self.holding_back else timeout)


def hooks(ledger: ConnectionLedger) -> dict[str, Any]:
    """Gunicorn server hooks that hand each forked worker a slot of `ledger` and take it back when it exits."""
    def pre_fork(_server: Any, worker: Any) -> None:
        if isinstance(worker, BalancedWorker):
            worker.ledger, worker.slot = ledger, ledger.claim()

    def child_exit(_server: Any, worker: Any) -> None:
        ledger.release(getattr(worker, "slot", -1))

    return {"pre_fork": pre_fork, "child_exit": child_exit}
