"""Database engine and sessions for the Flask app (one init_app, like Flask's tutorial)."""
from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import contextmanager, suppress
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

from flask import Flask, current_app, g
from sqlalchemy import create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker


POOL_RECYCLE_SECONDS = 300


def is_disconnect(exc: BaseException) -> bool:
    """True when `exc` says the database connection was lost (the pool has been reset: retry once)."""
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock shared by every process naming `path` (flock: released on exit, even by a crash)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class SqliteWriters:
    """One transaction at a time on a SQLite file: a lock across threads, a lock file across processes.

    SQLite has a single writer, and a writer that finds it busy sleeps in growing steps: threads
    and server processes queueing on it saw second-long tails. Waiting on these locks instead
    wakes the next one as soon as the holder is done (measured, 500 webhooks 8 at a time: max
    response 1.3 s → 0.15 s). Re-entrant within a thread.
    """

    def __init__(self, path: Path | None):
        self.path = path  # None (an in-memory database): one process only, the thread lock suffices
        self._threads = threading.RLock()
        self._local = threading.local()
        # The lock file stays open, one descriptor per process: opening it per transaction was three
        # system calls more inside every write turn. A descriptor inherited across fork shares its
        # flock with the parent, so a child opens its own.
        self._fd, self._fd_pid = -1, -1

    def _lock_fd(self) -> int:
        if self._fd_pid != os.getpid():
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd, self._fd_pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644), os.getpid()
        return self._fd

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the write turn for the enclosed transaction."""
        with self._threads:
            depth = getattr(self._local, "depth", 0)
            self._local.depth = depth + 1
            try:
                if depth or self.path is None:
                    yield
                else:
                    fd = self._lock_fd()
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    try:
                        yield
                    finally:
                        fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                self._local.depth = depth


class Database:
    """An engine plus a session factory; usable outside Flask (workers, CLI, tests)."""

    def __init__(self, url: str, *, pool_size: int | None = None):
        # pool_size: connections the pool keeps (SQLAlchemy's default 5, plus 10 overflow); a process
        # whose threads each keep connections for good (KeptConnections) needs room for all of them.
        url = driver_url(url)
        self.url = url
        # No pre-ping: it is one more round trip per session, and a message takes several sessions.
        # Recycling keeps connections younger than typical idle cut-offs (proxies, managed hosts);
        # after a server restart the first statement on a dead connection fails, SQLAlchemy then
        # discards the whole pool, and callers retry (the webhook once, jobs via the sweeper).
        kwargs: dict = {"pool_pre_ping": False, "pool_recycle": POOL_RECYCLE_SECONDS}
        if pool_size is not None:
            kwargs["pool_size"] = pool_size
        self.writers: SqliteWriters | None = None
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            lock = None
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                lock = Path(path).with_name(Path(path).name + ".writer.lock")
            self.writers = SqliteWriters(lock)
            kwargs = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        s = self.sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    @cached_property
    def direct(self) -> Engine:
        """The same pool, with no transaction begun unless the caller begins one.

        On PostgreSQL each statement is then its own transaction (no BEGIN / COMMIT round trips): for
        reads and for work that is one statement. SQLite's driver already begins nothing for a read,
        and its writes begin their transaction explicitly, inside the write turn.
        """
        if self.writers is not None:
            return self.engine
        return self.engine.execution_options(isolation_level="AUTOCOMMIT")

    def dispose(self) -> None:
        """Close pooled connections (after fork, at shutdown)."""
        self.engine.dispose()


class KeptConnections:
    """One connection per thread, kept open across jobs: a PostgreSQL worker's statements skip the pool.

    A message costs a worker four or five statements on PostgreSQL; checking a connection out of the pool
    for each (isolation level set and reset, a Connection object built and closed) took about a
    tenth of the worker's CPU, measured at 100 messages per second. Only for processes with few
    threads (`python -m bot worker`): each thread holds its connection for good. After a database
    error the connection is dropped and the next use opens a fresh one (after any other error its
    transaction is rolled back and it is kept); connections older than the pool's recycle age are
    replaced, as the pool would.
    """

    def __init__(self, engine: Engine, max_age: float = POOL_RECYCLE_SECONDS):
        self.engine, self.max_age = engine, max_age
        self._local = threading.local()

    @contextmanager
    def use(self) -> Iterator[Any]:
        """This thread's connection; SQLAlchemy's transaction on it is ended when the block is left."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is not None and (local.pid != os.getpid() or time.monotonic() - local.born > self.max_age):
            self._drop(close=local.pid == os.getpid())
            conn = None
        if conn is None:
            conn = self.engine.connect()
            local.conn, local.pid, local.born = conn, os.getpid(), time.monotonic()
        try:
            yield conn
            if conn.in_transaction():
                conn.commit()
        except DBAPIError:
            self._drop(close=True)  # lost, or in a state we cannot vouch for: the next use starts afresh
            raise
        except BaseException:
            try:
                if conn.in_transaction():
                    conn.rollback()
            except Exception:
                self._drop(close=True)
            raise

    def _drop(self, close: bool) -> None:
        conn, self._local.conn = getattr(self._local, "conn", None), None
        if conn is not None and close:
            with suppress(Exception):  # a lost connection cannot be closed cleanly either
                conn.close()


def dialect_insert(dialect: str, table: Any) -> Any:
    """INSERT with ON CONFLICT support for `dialect` (PostgreSQL's or SQLite's; both spell it alike)."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def driver_url(url: str) -> str:
    """Point plain PostgreSQL URLs (as hosting platforms give them) at the installed psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets the webhook write while workers read; NORMAL sync is durable enough under WAL.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def get_db() -> Database:
    """The app's Database."""
    return current_app.extensions["bot.db"]


def get_session() -> Session:
    """A request-scoped session, closed at teardown."""
    if "db_session" not in g:
        g.db_session = get_db().sessions()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    s = g.pop("db_session", None)
    if s is not None:
        s.close()


def init_app(app: Flask, database: Database) -> None:
    """Attach `database` to the app and close request sessions at teardown."""
    app.extensions["bot.db"] = database
    app.teardown_appcontext(_close_session)
