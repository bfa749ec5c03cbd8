"""Acknowledging before answering: background jobs in a web process wait while the server is busy acknowledging."""
from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import threading
import time
import weakref
from collections import deque
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)
BUSY_KEY = "bot:web-busy"  # Redis key present while some web process is busy acknowledging

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
    at all starved them (measured: 100 msg/s, end-to-end p95 74 ms → 12.8 s). A waiting job goes
    ahead once the count's mean over the last `settle` seconds is under `busy_at`, neither at its
    first dip nor only after it stayed down throughout. In a burst the count drops for an instant
    between one client's response and its next request, and jobs slipping through those gaps took
    a quarter of the acknowledgements' throughput (measured: 16 clients on SQLite, 530 against
    740 req/s). At a steady rate on a slow host the count touches `busy_at` now and then, and
    demanding it stay under for the whole window let a short pile-up hold every job for its full
    second, until replies were seconds late. The count lives in shared memory, created before the
    server forks, so the processes yield to each other's requests too.
    """

    # Seconds between looks at the count while waiting (there is no cross-process condition
    # variable); each look takes the interpreter lock, so not too often.
    POLL = 0.01

    def __init__(self, max_wait: float, busy_at: int = 4, settle: float = 0.05, slots: int = 64):
        self.max_wait, self.busy_at, self.settle = max_wait, max(1, busy_at), settle
        # One slot per server process, each written by its own process only, so a request takes no
        # cross-process lock: one shared counter behind a semaphore cost two contended acquisitions
        # per request (3.6 % of a loaded web process's samples, and about a tenth of the throughput
        # of a route that only reads its body). Readers add the slots of live processes: a worker
        # killed mid-request leaves a count that must not hold jobs back for good.
        self._counts = multiprocessing.RawArray("i", slots)
        self._pids = multiprocessing.RawArray("i", slots)  # the process owning each slot, 0: free
        self._claiming = multiprocessing.Lock()  # taking a slot: once per process
        self._lock = threading.Lock()  # this process's count, shared by its request threads
        self._mine, self._slot = 0, -1
        self.waits = 0  # jobs in this process that had to wait (for tests and curiosity)
        os.register_at_fork(after_in_child=functools.partial(_forked, weakref.ref(self)))

    def _forget_parent(self) -> None:
        # In a forked child: the parent's requests and slot are not this process's.
        self._lock = threading.Lock()
        self._mine, self._slot = 0, -1

    def _claim(self) -> int:
        pid = os.getpid()
        with self._claiming:
            for slot, owner in enumerate(self._pids):
                if owner == 0 or owner == pid or not _alive(owner):
                    self._pids[slot], self._counts[slot] = pid, 0
                    return slot
        log.warning("request gauge: all %d slots taken; this process's requests count here only", len(self._pids))
        return len(self._pids)  # no slot: counted in _mine only

    @property
    def active(self) -> int:
        """Requests in progress now, over all live server processes."""
        total, slot = self._mine, self._slot
        for other, count in enumerate(self._counts):
            # Only a non-zero slot needs the liveness check (one syscall): at rest none does.
            if count and other != slot and _alive(self._pids[other]):
                total += count
        return total

    def _add(self, step: int) -> None:
        with self._lock:
            if self._slot < 0:
                self._slot = self._claim()
            self._mine += step
            if self._slot < len(self._counts):
                self._counts[self._slot] = self._mine

    def started(self) -> None:
        """A request began."""
        self._add(1)

    def finished(self) -> None:
        """A request ended (its response was handed over)."""
        self._add(-1)

    def wait_quiet(self) -> float:
        """Block while `busy_at` or more requests are in progress (on average over `settle`), at most `max_wait`."""
        if self.max_wait <= 0 or self.active < self.busy_at:
            return 0.0
        self.waits += 1
        began = now = time.monotonic()
        deadline = began + self.max_wait
        looks = max(1, round(self.settle / self.POLL))
        recent: deque[int] = deque(maxlen=looks)
        while now < deadline:
            recent.append(self.active)
            if len(recent) == looks and sum(recent) < self.busy_at * looks:
                break
            time.sleep(self.POLL)
            now = time.monotonic()
        return now - began

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


def _forked(ref: "weakref.ReferenceType[RequestGauge]") -> None:
    gauge = ref()
    if gauge is not None:
        gauge._forget_parent()


def _alive(pid: int) -> bool:
    """True while process `pid` exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


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


class BusyBeacon:
    """Redis mode: tells answering workers in other processes that the web tier is busy acknowledging.

    The gauge's count lives in the web processes' shared memory; `python -m bot worker` processes
    cannot see it. When they share the host's cores with the web processes (a small commune's one
    machine), a burst is acknowledged faster if they pause meanwhile: each web process looks at
    the count every `EVERY` seconds and, while busy, keeps a short-lived key alive in Redis that
    workers check before each message (wait_web_quiet). Nothing is written when quiet. Busy means
    busy at two looks in a row: at a steady rate a momentary pile-up (a collection pause, a slow
    commit) paused every worker for a quarter second and doubled the end-to-end p95 at 100 msg/s.
    """

    EVERY, TTL_MS = 0.05, 250

    def __init__(self, gauge: RequestGauge, redis: Any, key: str = BUSY_KEY):
        self.gauge, self.redis, self.key = gauge, redis, key
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._was_busy = False

    def beat(self) -> bool:
        """Look at the count; mark the web tier busy for a moment if it was at this look and the last."""
        busy = self.gauge.active >= self.gauge.busy_at
        sustained, self._was_busy = busy and self._was_busy, busy
        if sustained:
            self.redis.set(self.key, b"1", px=self.TTL_MS)
        return sustained

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.EVERY):
            try:
                self.beat()
                failing = False
            except Exception:  # Redis away: workers just do not pause; say so once per outage
                if not failing:
                    log.warning("cannot tell workers the web tier is busy (Redis unreachable)", exc_info=True)
                failing = True

    def start(self) -> None:
        """Start looking (a daemon thread in this web process)."""
        if self.gauge.max_wait > 0 and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="busy-beacon", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop looking."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None


def wait_web_quiet(redis: Any, max_wait: float, key: str = BUSY_KEY, floor: float = 0.01) -> float:
    """Block while a web process reports being busy (BusyBeacon), at most `max_wait`; the seconds waited.

    Sleeps until the mark would expire, then looks again (a beacon still busy has renewed it):
    a few looks per second per waiting job. Looking every 10 ms instead cost the workers more
    CPU during a burst than the answering they let through (measured: 100 Redis calls a second
    per worker, 0.2 ms of the host's CPU per acknowledged request).
    """
    began = now = time.monotonic()
    deadline = began + max_wait
    try:
        while now < deadline:
            left_ms = redis.pttl(key)  # -2: no mark; -1: a key without expiry, not the beacon's
            if left_ms is None or left_ms < 0:
                break
            time.sleep(min(max(left_ms / 1000, floor), deadline - now))
            now = time.monotonic()
    except Exception:  # Redis away: answer rather than wait for it
        log.debug("busy key unreadable; not waiting", exc_info=True)
    return time.monotonic() - began


class QuietTurns:
    """wait_web_quiet for all of a worker's job threads, one thread at a time.

    The thread whose turn it is waits while the web tier is busy, at most `max_wait`; the others
    queue behind it. So while a burst lasts a worker answers one message per `max_wait`, whatever
    its thread count. Waiting independently, four threads answered four times as many, at the
    burst's expense (measured, two workers of four threads: 88 µs of the host's CPU per
    acknowledged request, 41–52 µs taking turns). When the web tier is quiet a turn is one Redis look.
    """

    def __init__(self, redis: Any, max_wait: float, key: str = BUSY_KEY):
        self.redis, self.max_wait, self.key = redis, max_wait, key
        self._turn = threading.Lock()

    def __call__(self) -> float:
        """Wait for this thread's turn, then while the web tier is busy (at most max_wait); seconds waited in all."""
        began = time.monotonic()
        with self._turn:
            wait_web_quiet(self.redis, self.max_wait, self.key)
        return time.monotonic() - began
