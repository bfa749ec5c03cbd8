"""The background jobs, identical in-process and on the Redis queue: process_inbound(id) and deliver(id)."""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, NamedTuple

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from bot.settings import Settings
from webhooks import delivery, processing
from webhooks.db import Database, KeptConnections

if TYPE_CHECKING:
    from webhooks.dispatch import Dispatcher

log = logging.getLogger(__name__)


class _Kept(NamedTuple):
    """A thread's kept connections: autocommit (reads, one-statement writes) and transactional."""

    direct: KeptConnections
    transactional: KeptConnections


def kept_pool_size(threads: int) -> int:
    """Pool size for a process whose `threads` job threads and one sweeper each keep both kinds of connection."""
    # Kept connections never go back to the pool: sized below this, the last threads to start wait
    # for one until the pool's timeout and their jobs fail (seen with 8 threads on the default 5 + 10).
    return 2 * (max(1, threads) + 1)


@dataclass
class Services:
    """What a job needs: settings, database, engine holder, Zalo client and where to submit follow-ups."""

    settings: Settings
    database: Database
    engines: Any = None  # bot.dialogue.EngineHolder (anything with .get() -> Engine)
    client_override: Any = None  # a ZaloClient-like object (tests); built from settings otherwise
    dispatcher: "Dispatcher | None" = None
    pause: Callable[[], Any] | None = None  # called before each message of a batch job (python -m bot worker)
    keep_connections: bool = False  # PostgreSQL: each thread keeps its connections (python -m bot worker)
    _kept: _Kept | None = field(default=None, init=False, repr=False)
    _client: Any = field(default=None, repr=False)
    _client_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A committing session; on SQLite one at a time across threads and processes (db.SqliteWriters)."""
        writers = self.database.writers
        with writers.hold() if writers is not None else nullcontext():
            with self.database.session() as session:
                yield session

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A Core connection in a committing transaction, under the same SQLite turn as session().

        The per-message path (answer, queue, deliver) runs pre-built Core statements here: an ORM
        session with its unit of work cost more CPU than the statements themselves.
        """
        if self._kept is not None:
            with self._kept.transactional.use() as conn, conn.begin():
                yield conn
            return
        writers = self.database.writers
        with writers.hold() if writers is not None else nullcontext():
            with self.database.engine.begin() as conn:
                yield conn

    @contextmanager
    def reader(self) -> Iterator[Connection]:
        """A connection for reads only: no write turn, no transaction to begin and commit.

        On PostgreSQL each statement runs on its own (two round trips fewer than BEGIN … COMMIT);
        on SQLite a read never waits for the writer (WAL) and must not make the webhook wait.
        """
        if self._kept is not None:
            with self._kept.direct.use() as conn:
                yield conn
            return
        with self.database.direct.connect() as conn:
            yield conn

    @contextmanager
    def single(self) -> Iterator[Connection]:
        """A connection for one-statement writes: autocommit on PostgreSQL, a write-turn transaction on SQLite."""
        if self.database.writers is not None:  # SQLite: Database.direct begins nothing there
            with self.connection() as conn:
                yield conn
        else:
            with self.reader() as conn:
                yield conn

    def __post_init__(self) -> None:
        if self.keep_connections and self.database.writers is None:  # SQLite connects in-process: nothing to save
            self._kept = _Kept(KeptConnections(self.database.direct), KeptConnections(self.database.engine))
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
    """Set the services queued jobs use in this process (the worker command does this)."""
    global _configured
    _configured = services


def current() -> Services:
    """The configured services, built from the environment when nothing configured them."""
    global _configured
    if _configured is None:
        from webhooks.dispatch import create_dispatcher

        settings = Settings.from_env().checked()
        services = Services(settings=settings, database=Database(settings.database_url))
        services.dispatcher = create_dispatcher(services, "redis" if settings.redis_url else "threads")
        _configured = services
    return _configured


def process_inbound(message_id: int, services: Services | None = None) -> list[int]:
    """Answer a stored inbound message, then deliver its replies from this same job.

    Sending here, rather than queueing one more job per reply, saves a queue round trip and a
    job pickup per message (on Redis at 100 msg/s that hand-off was what made replies fall
    behind). The first reply is written already leased to this job, so it goes out without a
    claim of its own; its successors follow in order. Only when sending raises are the rows
    queued as jobs; a crash in between leaves them to the sweeper (after the lease).
    Without a dispatcher (tests driving the steps one by one) nothing is sent here.
    """
    services = services or current()
    direct = services.dispatcher is not None
    answered = processing.answer_inbound(services, int(message_id), claim_first=direct)
    if answered.first is None:
        return answered.outbox_ids
    try:
        delivery.send_claimed(services, answered.first, answered.lease)
    except Exception:  # the rows are stored: hand them to the queue (the sweeper backs it up)
        log.exception("inbound %s: direct delivery failed; queueing its replies", message_id)
        for outbox_id in answered.outbox_ids:  # safe: a later reply waits for its predecessors inside deliver()
            services.dispatcher.submit_delivery(outbox_id)
    return answered.outbox_ids


def process_inbound_many(message_ids: list[int], services: Services | None = None) -> None:
    """process_inbound for messages the webhook stored together; one failing leaves the rest going."""
    services = services or current()
    for message_id in message_ids:
        if services.pause is not None:
            services.pause()  # a worker sharing the host with a busy web tier lets it acknowledge first
        try:
            process_inbound(message_id, services)
        except Exception:  # stays "received": the sweeper brings it back
            log.exception("inbound job %s failed", message_id)


def deliver(outbox_id: int, services: Services | None = None) -> str:
    """Send one outbox row (and its queued successors) to Zalo."""
    services = services or current()
    return delivery.deliver(services, int(outbox_id))
