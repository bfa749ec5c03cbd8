"""Database engine and sessions for the Flask app (one init_app, like Flask's tutorial)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from flask import Flask, current_app, g
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker


POOL_RECYCLE_SECONDS = 300


def is_disconnect(exc: BaseException) -> bool:
    """True when `exc` says the database connection was lost (the pool has been reset: retry once)."""
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class Database:
    """An engine plus a session factory; usable outside Flask (workers, CLI, tests)."""

    def __init__(self, url: str):
        url = driver_url(url)
        self.url = url
        # No pre-ping: it is one more round trip per session, and a message takes several sessions.
        # Recycling keeps connections younger than typical idle cut-offs (proxies, managed hosts);
        # after a server restart the first statement on a dead connection fails, SQLAlchemy then
        # discards the whole pool, and callers retry (the webhook once, jobs via the sweeper).
        kwargs: dict = {"pool_pre_ping": False, "pool_recycle": POOL_RECYCLE_SECONDS}
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
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

    def dispose(self) -> None:
        """Close pooled connections (after fork, at shutdown)."""
        self.engine.dispose()


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
