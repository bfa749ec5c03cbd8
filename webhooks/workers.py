"""The claim loop: threads that answer stored messages and send due replies, in the web process or a worker.

The database is the queue: inbound messages "received" are the answering jobs, outbox rows "pending"
and due are the sending jobs, each claimed with a lease. The webhook wakes this process's threads after
its commit. When there is nothing to do, one thread per process looks again every `poll` seconds
(retries falling due, leases of dead processes, messages stored by other processes) and wakes the
others when it finds something; they sleep until then.
"""
from __future__ import annotations

import logging
import threading
import time

from webhooks.catalog_purge import purge_pending
from webhooks.inbox.alerts import deliver_alert_next
from webhooks.inbox.answering import answer_next
from webhooks.inbox.handoffs import close_idle
from webhooks.outbox.delivery import deliver_next
from webhooks.services import Services

log = logging.getLogger(__name__)
HANDOFF_SWEEP = 60.0  # seconds between looks for hand-overs nobody picked up (the polling thread's)


def work_once(services: Services) -> bool:
    """Send one due reply, else answer one message, else deliver one staff alert; False when nothing was due."""
    return (deliver_next(services) is not None or answer_next(services) is not None
            or deliver_alert_next(services) is not None)


def run_until_idle(services: Services, limit: int = 100_000) -> int:
    """Do whatever is due now in this thread (tests, `worker --burst`); how many jobs ran."""
    done = 0
    while done < limit and work_once(services):
        done += 1
    return done


class Workers:
    """A small pool of claim-loop threads; `wake()` after storing something to answer."""

    def __init__(self, services: Services, threads: int, poll: float):
        self.services, self.size, self.poll = services, threads, poll
        self._changed = threading.Condition()
        self._generation = 0  # bumped by wake(): a thread that looked before a wake-up does not sleep through it
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def wake(self) -> None:
        """Something was stored: idle threads look for work now."""
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def _loop(self, polls: bool) -> None:
        waited, swept = False, 0.0
        while not self._stopping.is_set():
            if polls and time.monotonic() - swept >= HANDOFF_SWEEP:
                swept = time.monotonic()
                try:
                    if close_idle(self.services):
                        self.wake()  # their notices are in the outbox
                except Exception:
                    log.exception("closing idle hand-overs failed")
                try:
                    purge_pending(self.services)  # withdrawn citizens' taught phrasings, until done
                except Exception:
                    log.exception("catalog purge failed")
            with self._changed:
                seen = self._generation
            try:
                if work_once(self.services):
                    if waited and polls:  # found by looking, not by a wake-up: the others may help
                        self.wake()
                    waited = False
                    continue
            except Exception:  # the database away, or a bug: the rows stay claimable, look again later
                log.exception("claim loop: a job failed")
                time.sleep(self.poll)
            with self._changed:
                if self._generation == seen and not self._stopping.is_set():
                    self._changed.wait(self.poll if polls else None)
            waited = True

    def start(self) -> None:
        """Start the threads (once per process, after fork)."""
        if self._threads:
            return
        self.services.communes.preload()  # no commune rows: one query; /healthz then knows every layer's state
        if self.size <= 0:
            return
        self._stopping.clear()
        for n in range(self.size):
            thread = threading.Thread(target=self._loop, args=(n == 0,), name=f"claim-loop-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Let each thread finish its job, then end."""
        self._stopping.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout=timeout)
        self._threads = []
