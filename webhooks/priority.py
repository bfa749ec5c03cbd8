"""Acknowledging before answering: background jobs in a web process wait while the server is busy acknowledging."""
from __future__ import annotations

import multiprocessing
import time
from typing import Any, Callable, Iterable

WSGIApp = Callable[[dict, Callable[..., Any]], Iterable[bytes]]


class RequestGauge:
    """Counts requests in progress in every server process; `wait_quiet` lets background work yield to them.

    Zalo gives a webhook two seconds and then retries; a reply has no such deadline. Answering a
    message takes several times the CPU of acknowledging one, and both share the same cores (and,
    within a process, one interpreter lock), so under a burst answering would slow every
    acknowledgement. Jobs therefore wait while `busy_at` or more requests are in progress (the
    server's request threads are filling up: a burst), or at most `max_wait` seconds: each job
    thread still makes progress under a sustained burst, and the backlog (stored, durable) drains
    after it. Below that, at a steady rate, jobs never wait: waiting for a moment with no request
    at all starved them (measured: 100 msg/s, end-to-end p95 74 ms → 12.8 s). The count lives in
    shared memory, created before the server forks, so the processes yield to each other's
    requests too.
    """

    # Seconds between looks at the count while waiting (there is no cross-process condition
    # variable); each look takes the interpreter lock, so not too often.
    POLL = 0.01

    def __init__(self, max_wait: float, busy_at: int = 4):
        self.max_wait, self.busy_at = max_wait, max(1, busy_at)
        self._active = multiprocessing.Value("i", 0)
        self.waits = 0  # jobs in this process that had to wait (for tests and curiosity)

    @property
    def active(self) -> int:
        """Requests in progress now, over all processes."""
        return int(self._active.value)

    def started(self) -> None:
        """A request began."""
        with self._active.get_lock():
            self._active.value += 1

    def finished(self) -> None:
        """A request ended (its response was handed over)."""
        with self._active.get_lock():
            self._active.value -= 1

    def wait_quiet(self) -> float:
        """Block while `busy_at` or more requests are in progress, at most `max_wait`; the seconds waited."""
        if self.max_wait <= 0 or self._active.value < self.busy_at:
            return 0.0
        self.waits += 1
        began = time.monotonic()
        deadline = began + self.max_wait
        while self._active.value >= self.busy_at and time.monotonic() < deadline:
            time.sleep(self.POLL)
        return time.monotonic() - began

    def middleware(self, app: WSGIApp) -> WSGIApp:
        """Wrap a WSGI app so every request is counted until its response is closed."""
        def counted(environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
            self.started()
            try:
                body = app(environ, start_response)
            except BaseException:
                self.finished()
                raise
            return _Closing(body, self.finished)
        return counted


class _Closing:
    """A response body that calls `on_close` once, when the server closes it (PEP 3333)."""

    def __init__(self, body: Iterable[bytes], on_close: Callable[[], None]):
        self.body, self.on_close, self._closed = body, on_close, False

    def __iter__(self):
        return iter(self.body)

    def close(self) -> None:
        """Close the wrapped body, then report the request finished."""
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            if not self._closed:
                self._closed = True
                self.on_close()
