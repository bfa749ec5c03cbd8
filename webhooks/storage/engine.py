"""The database: one engine and its sessions, usable in Flask (init_app) and outside it (workers, CLI, tests)."""
from __future__ import annotations

import fcntl
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Iterator

from flask import Flask, current_app, g
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


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


class WriteTurn:
    """SQLite has one writer: writers queue on a thread lock and a lock file instead of SQLite's busy loop.

    SQLite's busy handler sleeps in growing steps, so writers contending for a file wait long past
    the moment it frees up; a lock wakes the next writer at once. Re-entrant within a thread.
    """

    def __init__(self, path: Path | None):
        self.path = path  # None for an in-memory database: one process, the thread lock suffices
        self._threads = threading.RLock()
        self._depth = threading.local()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the write turn for the enclosed transaction."""
        with self._threads:
            depth = getattr(self._depth, "n", 0)
            self._depth.n = depth + 1
            try:
                with file_lock(self.path) if depth == 0 and self.path is not None else nullcontext():
                    yield
            finally:
                self._depth.n = depth


class Database:
    """An engine plus a session factory; `transaction()` is the write path of the service."""

    def __init__(self, url: str, *, pool_size: int | None = None):
        url = driver_url(url)
        self.url = url
        self.turn: WriteTurn | None = None
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            lock = None
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                lock = Path(path).with_name(Path(path).name + ".writer.lock")
            self.turn = WriteTurn(lock)
            self.engine: Engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                                                hide_parameters=True)
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            # No pre-ping (a round trip per transaction): the first statement on a connection the server
            # dropped fails, SQLAlchemy then discards the whole pool, and the caller's retry (Zalo's, or
            # the claim loop's next look) runs on a fresh one.
            # hide_parameters: an error message never quotes a citizen id or a message text.
            options: dict[str, Any] = {"pool_recycle": 300, "hide_parameters": True}
            if pool_size is not None:
                options["pool_size"] = pool_size
            self.engine = create_engine(url, **options)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """sqlite or postgresql."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A Core connection in a transaction, committed on success (on SQLite in the write turn)."""
        with self.turn.hold() if self.turn is not None else nullcontext():
            with self.engine.begin() as conn:
                yield conn

    @contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session that commits on success and rolls back on error."""
        with self.sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def flush_deleted(self) -> None:
        """After a withdrawal: on SQLite, empty the write-ahead log, whose older frames still hold the deleted
        rows (secure_delete has zeroed them in the database file). PostgreSQL's autovacuum does its part."""
        if self.dialect == "sqlite":
            with self.turn.hold() if self.turn is not None else nullcontext():
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def dispose(self) -> None:
        """Close pooled connections (after fork, at shutdown)."""
        self.engine.dispose()


def dialect_insert(dialect: str, table: Any) -> Any:
    """INSERT with ON CONFLICT for `dialect`: SQLite and PostgreSQL spell it the same, SQLAlchemy has one of each."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def driver_url(url: str) -> str:
    """Point plain PostgreSQL URLs (as hosting platforms give them) at the installed psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers go on while one writes; NORMAL sync is durable enough under WAL. secure_delete
    # overwrites what a withdrawal deletes, so a withdrawn citizen's words do not linger in free pages.
    cur = dbapi_conn.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000",
                   "secure_delete=ON"):
        cur.execute(f"PRAGMA {pragma}")
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
