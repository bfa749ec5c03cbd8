"""Where jobs run: daemon threads in the web process, or a Huey queue on Redis drained by `python -m bot worker`."""
from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from typing import Callable, Protocol

from flask import Flask

from webhooks import delivery, jobs
from webhooks.coalesce import Coalescer
from webhooks.jobs import Services
from webhooks.priority import BusyBeacon, RequestGauge

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 1.0  # seconds between sweeps for due outbox rows and unanswered inbound messages
# An inbound row normally is being answered within milliseconds; past this its process probably died.
INBOUND_GRACE = dt.timedelta(seconds=10)


class Dispatcher(Protocol):
    """Hands job ids to whatever runs the jobs."""

    def submit_inbound(self, message_id: int) -> None: ...

    def submit_inbound_many(self, message_ids: list[int]) -> None: ...

    def submit_delivery(self, outbox_id: int) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Sweeper:
    """Re-submits due outbox rows and stale inbound rows, so nothing waits for a restart."""

    def __init__(self, services: Services, submit_inbound: Callable[[int], None],
                 submit_delivery: Callable[[int], None], interval: float = SWEEP_INTERVAL):
        self.services, self.interval = services, interval
        self.submit_inbound, self.submit_delivery = submit_inbound, submit_delivery
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep_once(self) -> int:
        """One pass; returns how many ids were submitted."""
        inbound = delivery.stale_inbound_ids(self.services, INBOUND_GRACE)
        outbox = delivery.due_outbox_ids(self.services)
        for message_id in inbound:
            self.submit_inbound(message_id)
        for outbox_id in outbox:
            self.submit_delivery(outbox_id)
        return len(inbound) + len(outbox)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep_once()
            except Exception:  # a database hiccup must not kill the sweeper for good
                log.exception("sweep failed")
            self._stop.wait(self.interval)

    def start(self) -> None:
        """Run in a daemon thread (the first pass is the startup sweep)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="outbox-sweeper", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end and wait briefly."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class ThreadDispatcher:
    """In-process mode: a small pool of daemon threads fed by a queue, plus the sweeper.

    With a `gauge`, each job first waits for a moment when the web process has no request in
    progress (bounded): acknowledging Zalo comes before answering (see priority.RequestGauge).
    """

    def __init__(self, services: Services, workers: int = 2, gauge: RequestGauge | None = None):
        self.services, self.workers, self.gauge = services, max(1, workers), gauge
        self._queue: queue.Queue[tuple[str, int] | None] = queue.Queue()
        self._pending: set[tuple[str, int]] = set()  # queued or running: the sweeper must not pile up copies
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.sweeper = Sweeper(services, self.submit_inbound, self.submit_delivery)

    def _submit(self, kind: str, job_id: int) -> None:
        with self._lock:
            if (kind, job_id) in self._pending:
                return
            self._pending.add((kind, job_id))
        self._queue.put((kind, job_id))

    def submit_inbound(self, message_id: int) -> None:
        """Queue processing of an inbound message."""
        self._submit("inbound", message_id)

    def submit_inbound_many(self, message_ids: list[int]) -> None:
        """Queue processing of several inbound messages."""
        for message_id in message_ids:
            self._submit("inbound", message_id)

    def submit_delivery(self, outbox_id: int) -> None:
        """Queue delivery of an outbox row."""
        self._submit("delivery", outbox_id)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            kind, job_id = item
            if self.gauge is not None:
                self.gauge.wait_quiet()
            try:
                if kind == "inbound":
                    jobs.process_inbound(job_id, self.services)
                else:
                    jobs.deliver(job_id, self.services)
            except Exception:  # the row stays due; the sweeper brings it back
                log.exception("%s job %s failed", kind, job_id)
            finally:
                with self._lock:
                    self._pending.discard(item)

    def start(self) -> None:
        """Start the pool and the sweeper (once per process, after fork)."""
        if self._threads:
            return
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"delivery-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.sweeper.start()

    def stop(self) -> None:
        """Stop the sweeper and let the pool finish what it holds."""
        self.sweeper.stop()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []


class RedisDispatcher:
    """Redis mode: jobs go to a Huey queue (task_queue); web processes keep no state (a window's ids at most)."""

    # Messages per answering job: a job's messages may each wait for a busy web tier (wait_web_quiet),
    # and one job should not hold a worker thread for long.
    JOB_MESSAGES = 16

    def __init__(self, services: Services, gauge: RequestGauge | None = None):
        from webhooks.task_queue import build_queue

        self.services, self.gauge = services, gauge
        self.queue = build_queue(services.settings.redis_url)
        self.redis = self.queue.redis
        self.inbound = Coalescer(self._enqueue_inbound, services.settings.enqueue_window,
                                 backlog=self.queue.pending, max_ids=self.JOB_MESSAGES)
        self.beacon = BusyBeacon(gauge, self.redis) if gauge is not None else None

    def _enqueue(self, task: str, job_id: int | list[int]) -> None:
        try:
            self.queue.enqueue(task, job_id)
        except Exception:  # the row is stored; the worker's sweeper finds it when Redis is back
            log.exception("could not enqueue %s(%s)", task, job_id)

    def submit_inbound(self, message_id: int) -> None:
        """Enqueue processing of an inbound message."""
        self._enqueue("process_inbound", message_id)

    def submit_inbound_many(self, message_ids: list[int]) -> None:
        """Enqueue messages for answering, several per job (see Coalescer)."""
        if message_ids:
            self.inbound.add(list(message_ids))

    def _enqueue_inbound(self, message_ids: list[int]) -> None:
        for start in range(0, len(message_ids), self.JOB_MESSAGES):
            chunk = message_ids[start:start + self.JOB_MESSAGES]
            if len(chunk) == 1:
                self.submit_inbound(chunk[0])
            else:
                self._enqueue("process_inbound_many", chunk)

    def submit_delivery(self, outbox_id: int) -> None:
        """Enqueue delivery of an outbox row."""
        self._enqueue("deliver", outbox_id)

    def start(self) -> None:
        """In a web process: start telling workers when it is busy (the worker runs the jobs)."""
        if self.beacon is not None:
            self.beacon.start()

    def stop(self) -> None:
        """Stop the busy beacon."""
        if self.beacon is not None:
            self.beacon.stop()


class ManualDispatcher:
    """For tests: records submissions; `drain()` runs them (and what they submit) in the caller's thread."""

    def __init__(self, services: Services):
        self.services = services
        self.submitted: list[tuple[str, int]] = []
        self._todo: list[tuple[str, int]] = []

    def submit_inbound(self, message_id: int) -> None:
        """Record an inbound job."""
        self.submitted.append(("inbound", message_id))
        self._todo.append(("inbound", message_id))

    def submit_inbound_many(self, message_ids: list[int]) -> None:
        """Record one inbound job per message."""
        for message_id in message_ids:
            self.submit_inbound(message_id)

    def submit_delivery(self, outbox_id: int) -> None:
        """Record a delivery job."""
        self.submitted.append(("delivery", outbox_id))
        self._todo.append(("delivery", outbox_id))

    def drain(self) -> int:
        """Run every recorded job until none is left; returns how many ran."""
        ran = 0
        while self._todo:
            kind, job_id = self._todo.pop(0)
            if kind == "inbound":
                jobs.process_inbound(job_id, self.services)
            else:
                jobs.deliver(job_id, self.services)
            ran += 1
        return ran

    def start(self) -> None:
        """Nothing runs in the background."""

    def stop(self) -> None:
        """Nothing to stop."""


def create_dispatcher(services: Services, mode: str | None = None) -> Dispatcher:
    """A dispatcher for `mode` (threads | redis | manual); redis when REDIS_URL is set, else threads."""
    mode = mode or ("redis" if services.settings.redis_url else "threads")
    if mode == "redis":
        return RedisDispatcher(services, _gauge(services))
    if mode == "manual":
        return ManualDispatcher(services)
    if mode == "threads":
        return ThreadDispatcher(services, services.settings.delivery_workers, _gauge(services))
    raise ValueError(f"unknown dispatch mode {mode!r}")


def _gauge(services: Services) -> RequestGauge:
    return RequestGauge(services.settings.answer_defer_max, services.settings.answer_defer_busy)


def init_app(app: Flask, services: Services, mode: str | None = None) -> Dispatcher:
    """Attach services and a dispatcher to the app (threads start later, in each server worker)."""
    dispatcher = create_dispatcher(services, mode)
    gauge = getattr(dispatcher, "gauge", None)
    if gauge is not None:
        app.wsgi_app = gauge.middleware(app.wsgi_app)  # type: ignore[method-assign]
    services.dispatcher = dispatcher
    app.extensions["bot.services"] = services
    app.extensions["bot.dispatcher"] = dispatcher
    return dispatcher


def get_dispatcher(app: Flask) -> Dispatcher:
    """The app's dispatcher (submit_inbound / submit_delivery)."""
    return app.extensions["bot.dispatcher"]


def get_services(app: Flask) -> Services:
    """The app's job services (settings, database, engines, Zalo client)."""
    return app.extensions["bot.services"]
