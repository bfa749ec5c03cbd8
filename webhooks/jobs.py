"""The two background jobs, identical in-process and on RQ: process_inbound(id) and deliver(id)."""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from sqlalchemy.orm import Session

from bot.settings import Settings
from webhooks import delivery, processing
from webhooks.db import Database

if TYPE_CHECKING:
    from webhooks.dispatch import Dispatcher

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What a job needs: settings, database, engine holder, Zalo client and where to submit follow-ups."""

    settings: Settings
    database: Database
    engines: Any = None  # bot.dialogue.EngineHolder (anything with .get() -> Engine)
    client_override: Any = None  # a ZaloClient-like object (tests); built from settings otherwise
    dispatcher: "Dispatcher | None" = None
    _client: Any = field(default=None, repr=False)
    _client_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _sqlite_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A committing session; on SQLite one at a time per process.

        SQLite has a single writer and its busy handler sleeps in growing steps, so threads queueing
        on it see second-long tails; a process lock queues them fairly (measured, 500 webhooks 8 at a
        time: max response 1.3 s → 0.15 s). Across processes the busy handler still arbitrates.
        """
        sqlite = self.database.engine.dialect.name == "sqlite"
        with self._sqlite_lock if sqlite else nullcontext():
            with self.database.session() as session:
                yield session

    def __post_init__(self) -> None:
        if self.engines is None:
            from bot.dialogue import EngineHolder  # the core's engine; imported late so tests can swap it

            self.engines = EngineHolder(self.settings)

    @property
    def client(self) -> Any:
        """The Zalo client, built on first use (after fork: it opens connections and reads tokens)."""
        if self.client_override is not None:
            return self.client_override
        with self._client_lock:
            if self._client is None and self.settings.demo and self.settings.zalo_access_token == DEMO_TOKEN:
                self._client = ConsoleClient()  # demo secrets cannot reach Zalo: show the replies instead
            if self._client is None:
                from webhooks.tokens import SqlTokenStore
                from webhooks.zalo_api import ZaloClient

                tokens = SqlTokenStore(self.database)
                tokens.seed(self.settings.zalo_access_token, self.settings.zalo_refresh_token)
                self._client = ZaloClient(self.settings, tokens)
            return self._client


DEMO_TOKEN = "demo-access-token"  # what Settings.checked() fills in demo mode without a real token


class ConsoleClient:
    """The demo's Zalo: replies are logged (and count as sent) instead of going to the network."""

    def send(self, user_id: str, reply: Any) -> Any:
        """Log the reply; always "sent"."""
        from webhooks.zalo_api import SendResult

        buttons = "".join(f"\n  [{b.title}] → {b.value}" for b in reply.buttons)
        log.info("DEMO reply to %s:\n%s%s", user_id, reply.text, buttons)
        return SendResult("sent", 0, "demo", message_id=None)


_configured: Services | None = None


def configure(services: Services | None) -> None:
    """Set the services RQ-run jobs use in this process (the worker command does this)."""
    global _configured
    _configured = services


def current() -> Services:
    """The configured services, built from the environment when a bare `rq worker` runs the job."""
    global _configured
    if _configured is None:
        from webhooks.dispatch import create_dispatcher

        settings = Settings.from_env().checked()
        services = Services(settings=settings, database=Database(settings.database_url))
        services.dispatcher = create_dispatcher(services, "rq" if settings.redis_url else "threads")
        _configured = services
    return _configured


def process_inbound(message_id: int, services: Services | None = None) -> list[int]:
    """Answer a stored inbound message, then deliver its replies from this same job.

    Sending here, rather than queueing one more job per reply, saves a queue round trip and a
    job pickup per message (on Redis at 100 msg/s that hand-off was what made replies fall
    behind). deliver() sends the first row and then its successors in order. Only when that
    raises are the rows queued as jobs; a crash in between leaves them pending for the sweeper.
    Without a dispatcher (tests driving the steps one by one) nothing is sent here.
    """
    services = services or current()
    outbox_ids = processing.process_inbound(services, int(message_id))
    if not outbox_ids or services.dispatcher is None:
        return outbox_ids
    try:
        delivery.deliver(services, outbox_ids[0])
    except Exception:  # the rows are stored and pending: hand them to the queue (the sweeper backs it up)
        log.exception("inbound %s: direct delivery failed; queueing its replies", message_id)
        for outbox_id in outbox_ids:  # safe: a later reply waits for its predecessors inside deliver()
            services.dispatcher.submit_delivery(outbox_id)
    return outbox_ids


def deliver(outbox_id: int, services: Services | None = None) -> str:
    """Send one outbox row (and its queued successors) to Zalo."""
    services = services or current()
    return delivery.deliver(services, int(outbox_id))
