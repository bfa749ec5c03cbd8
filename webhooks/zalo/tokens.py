"""Where the OA's access/refresh token pair lives, and the lock that lets one process refresh it."""
from __future__ import annotations

import datetime as dt
import threading
import time
import zlib
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from webhooks.storage.engine import Database, file_lock
from webhooks.storage.models import Token

TOKEN_ROW_ID = 1
# Fixed key of the PostgreSQL advisory lock guarding refreshes (any constant int64 would do).
ADVISORY_LOCK_KEY = zlib.crc32(b"zalo-oa-token-refresh")
# How long a process trusts its in-memory copy of the pair. Reading the row on every send cost a
# transaction per reply; a pair refreshed by another process is still picked up at once where it
# matters: the refresh path re-reads under the refresh lock, which empties the cache first.
CACHE_TTL_SECONDS = 30.0


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    # Stored as UTC because SQLite drops the offset of whatever it is given.
    return moment.astimezone(dt.timezone.utc) if moment is not None else None


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes even for timezone=True columns; they were stored as UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment


@dataclass(frozen=True)
class TokenPair:
    """An access token, the single-use refresh token issued with it, and when the access token expires."""

    access_token: str
    refresh_token: str
    expires_at: dt.datetime | None = None  # aware UTC; None when unknown (seeded from the environment)

    def expires_within(self, seconds: float, now: dt.datetime) -> bool:
        """True when the access token is known to expire less than `seconds` after `now`."""
        return self.expires_at is not None and self.expires_at - now < dt.timedelta(seconds=seconds)


class TokenStore(Protocol):
    """Persistent home of the token pair, shared by every process of the service."""

    def load(self) -> TokenPair | None:
        """The stored pair, or None when nothing was stored yet."""

    def save(self, pair: TokenPair) -> None:
        """Replace the stored pair (durably, before the caller uses it)."""

    def refresh_lock(self) -> AbstractContextManager[None]:
        """Context manager held while refreshing; excludes other threads and processes."""


class MemoryTokenStore:
    """A token store for one process (tests, demo)."""

    def __init__(self, pair: TokenPair | None = None):
        self._pair = pair
        self._guard = threading.Lock()
        self._refresh = threading.Lock()
        self.saves = 0  # how many times a pair was saved (tests count refreshes with it)

    def load(self) -> TokenPair | None:
        """The stored pair, or None."""
        with self._guard:
            return self._pair

    def save(self, pair: TokenPair) -> None:
        """Replace the stored pair."""
        with self._guard:
            self._pair = pair
            self.saves += 1

    @contextmanager
    def refresh_lock(self) -> Iterator[None]:
        """Held while refreshing; excludes other threads."""
        with self._refresh:
            yield


class SqlTokenStore:
    """The pair in the `tokens` table (row id=1); the refresh lock spans processes."""

    def __init__(self, database: Database, lock_path: Path | None = None):
        self.database = database
        self.dialect = database.engine.dialect.name
        self._thread_lock = threading.Lock()
        self._lock_path = lock_path or self._default_lock_path()
        self._cache_guard = threading.Lock()
        self._cached: TokenPair | None = None
        self._cached_until = 0.0  # time.monotonic() deadline; 0 = nothing cached
        self._generation = 0  # bumped by every invalidation: a read begun before one is not cached
        if self.dialect not in ("postgresql", "sqlite"):
            raise ValueError(f"SqlTokenStore supports PostgreSQL and SQLite, not {self.dialect}")

    def _default_lock_path(self) -> Path | None:
        database = self.database.engine.url.database
        if self.database.engine.dialect.name != "sqlite" or not database or database == ":memory:":
            return None
        return Path(database).with_name(Path(database).name + ".token-refresh.lock")

    def load(self) -> TokenPair | None:
        """The stored pair, or None; served from memory for up to CACHE_TTL_SECONDS."""
        with self._cache_guard:
            if self._cached is not None and time.monotonic() < self._cached_until:
                return self._cached
            generation = self._generation
        pair = self._read()
        with self._cache_guard:
            if pair is not None and generation == self._generation:
                self._cached, self._cached_until = pair, time.monotonic() + CACHE_TTL_SECONDS
        return pair

    def invalidate(self) -> None:
        """Forget the cached pair: the next load() reads the database."""
        with self._cache_guard:
            self._cached, self._cached_until = None, 0.0
            self._generation += 1

    def _read(self) -> TokenPair | None:
        with self.database.session() as session:
            row = session.get(Token, TOKEN_ROW_ID)
            if row is None:
                return None
            return TokenPair(row.access_token, row.refresh_token, _aware(row.expires_at))

    def save(self, pair: TokenPair) -> None:
        """Replace the stored pair; committed when this returns."""
        with self.database.session() as session:
            row = session.get(Token, TOKEN_ROW_ID)
            if row is None:
                session.add(Token(id=TOKEN_ROW_ID, access_token=pair.access_token,
                                  refresh_token=pair.refresh_token, expires_at=_utc(pair.expires_at)))
            else:
                row.access_token = pair.access_token
                row.refresh_token = pair.refresh_token
                row.expires_at = _utc(pair.expires_at)
        self.invalidate()  # committed: the next load() reads back what was stored

    def seed(self, access_token: str, refresh_token: str) -> bool:
        """Store the environment's pair only if no pair is stored (a refreshed pair in the DB wins)."""
        if not access_token or not refresh_token:
            return False
        with self.database.sessions() as session:
            if session.scalar(select(Token.id).where(Token.id == TOKEN_ROW_ID)) is not None:
                return False
            session.add(Token(id=TOKEN_ROW_ID, access_token=access_token, refresh_token=refresh_token))
            try:
                session.commit()
            except IntegrityError:  # another process seeded first
                session.rollback()
                return False
            return True

    @contextmanager
    def refresh_lock(self) -> Iterator[None]:
        """Held while refreshing; excludes other threads and other processes.

        The cache is emptied once the lock is held, so the holder's load() sees a pair another
        process may have refreshed meanwhile (and never refreshes a refresh token already spent).
        """
        with self._thread_lock:
            if self.dialect == "postgresql":
                with self._advisory_lock():
                    self.invalidate()
                    yield
            elif self._lock_path is not None:
                with file_lock(self._lock_path):
                    self.invalidate()
                    yield
            else:  # in-memory SQLite lives in one process: the thread lock is enough
                self.invalidate()
                yield

    @contextmanager
    def _advisory_lock(self) -> Iterator[None]:
        # Transaction-scoped: released by the commit/rollback even if the holder dies mid-refresh.
        with self.database.engine.connect() as conn, conn.begin():
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            yield

