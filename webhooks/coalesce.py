"""Coalescer: ids handed on at most once per time window, for queues whose every job has a fixed cost."""
from __future__ import annotations

import threading
import time
from typing import Callable


class Coalescer:
    """Passes ids on at most once per `window` seconds: at once when idle, else gathered until it is up.

    An RQ job costs its worker several milliseconds of its own (fetch, status, registries) whatever
    it does; at a steady rate one job per message spent more CPU on that than on answering
    (measured: 100 msg/s, end-to-end p95 24 s with one job per message). A crash loses at most a
    window's ids from this buffer, never a message: the worker's sweeper answers stored ones.
    """

    def __init__(self, flush: Callable[[list[int]], None], window: float):
        self.flush, self.window = flush, window
        self._lock = threading.Lock()
        self._ids: list[int] = []
        self._last = 0.0
        self._waiting = False

    def add(self, ids: list[int]) -> None:
        """Pass `ids` on now, or with the next flush if one happened less than a window ago."""
        with self._lock:
            self._ids.extend(ids)
            if self._waiting:
                return
            wait = self._last + self.window - time.monotonic()
            if wait > 0:
                self._waiting = True
                timer = threading.Timer(wait, self._fire)
                timer.daemon = True
                timer.start()
                return
            batch, self._ids, self._last = self._ids, [], time.monotonic()
        self.flush(batch)

    def _fire(self) -> None:
        with self._lock:
            batch, self._ids, self._last, self._waiting = self._ids, [], time.monotonic(), False
        if batch:
            self.flush(batch)
