"""Coalescer: ids handed on at most once per time window, for queues whose every job has a fixed cost."""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)


class Coalescer:
    """Passes ids on at most once per `window` seconds: at once when idle, else gathered until it is up.

    A queued job costs its worker something of its own whatever it does (dequeue, bookkeeping, a
    look at the busy web tier); with RQ, one job per message at 100 msg/s spent more CPU on that
    than on answering (measured: end-to-end p95 24 s). A crash loses at most a window's ids from
    this buffer, never a message: the worker's sweeper answers stored ones.

    With `backlog` (how many jobs wait in the queue), gathered ids are held on while jobs are
    still waiting, up to `hold_max` seconds or `max_ids` ids: they would wait behind those jobs
    anyway, and one bigger job costs the busy workers less than several small ones.
    """

    POLL = 0.01  # seconds between looks at the backlog while holding

    def __init__(self, flush: Callable[[list[int]], None], window: float,
                 backlog: Callable[[], int] | None = None, hold_max: float = 0.25, max_ids: int = 16):
        self.flush, self.window = flush, window
        self.backlog, self.hold_max, self.max_ids = backlog, hold_max, max_ids
        self._lock = threading.Lock()
        self._ids: list[int] = []
        self._last = 0.0
        self._waiting = False
        self._since = 0.0  # when the oldest gathered id came in
        self._due = 0.0  # when the armed flush is due
        # One long-lived timer thread per process (started on first use, so after a server's fork):
        # a threading.Timer per window was a new thread twenty times a second under load.
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._thread_pid = 0
        self.held = 0  # looks that found jobs waiting and held the ids on (for tests and curiosity)

    def add(self, ids: list[int]) -> None:
        """Pass `ids` on now, or with the next flush if one happened less than a window ago."""
        with self._lock:
            if not self._ids:
                self._since = time.monotonic()
            self._ids.extend(ids)
            if self._waiting:
                return
            wait = self._last + self.window - time.monotonic()
            if wait > 0:
                self._arm(wait)
                return
            batch, self._ids, self._last = self._ids, [], time.monotonic()
        self.flush(batch)

    def _arm(self, seconds: float) -> None:
        # Called with the lock held.
        self._waiting, self._due = True, time.monotonic() + seconds
        if self._thread is None or self._thread_pid != os.getpid():
            self._thread, self._thread_pid = threading.Thread(target=self._run, name="coalescer", daemon=True), os.getpid()
            self._thread.start()
        self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._waiting or self._due > time.monotonic():
                    self._wake.wait(self._due - time.monotonic() if self._waiting else None)
            try:
                self._fire()
            except Exception:  # the ids stay stored; the worker's sweeper answers them
                log.exception("coalescer: passing ids on failed")

    def _jobs_waiting(self) -> bool:
        try:
            return self.backlog is not None and self.backlog() > 0
        except Exception:  # the queue is unreadable: pass the ids on rather than hold them
            log.debug("backlog unreadable; not holding", exc_info=True)
            return False

    def _fire(self) -> None:
        with self._lock:
            young = 0 < len(self._ids) < self.max_ids and time.monotonic() - self._since < self.hold_max
        if young and self._jobs_waiting():
            with self._lock:
                self.held += 1
                self._arm(self.POLL)
            return
        with self._lock:
            batch, self._ids, self._last, self._waiting = self._ids, [], time.monotonic(), False
        if batch:
            self.flush(batch)
