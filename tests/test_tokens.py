"""Tests of the token stores: round trips, seeding, and a refresh lock that spans threads and processes."""
from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest
from sqlalchemy import create_engine, make_url, text

from webhooks.storage.engine import Database
from webhooks.storage.models import Base
from webhooks.zalo.tokens import MemoryTokenStore, SqlTokenStore, TokenPair

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
NO_PG = "TEST_DATABASE_URL is not set (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
VIETNAM = dt.timezone(dt.timedelta(hours=7))


def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file with every table created."""
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    database = Database(url)
    Base.metadata.create_all(database.engine)
    database.dispose()
    return url


@pytest.fixture
def tokens_pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a throw-away schema (the test server is shared)."""
    if not PG_URL:
        pytest.skip(NO_PG)
    base = make_url(PG_URL)
    if base.drivername in ("postgresql", "postgres"):
        base = base.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver installed
    schema = f"tokens_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    database = Database(rendered)
    Base.metadata.create_all(database.engine)
    database.dispose()
    yield rendered
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL of each supported dialect, tables created."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return request.getfixturevalue("tokens_pg_url")


@pytest.fixture(params=["memory", "sql"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], object]:
    """Builds stores over one shared backing: every call sees the same pair."""
    if request.param == "memory":
        store = MemoryTokenStore()
        return lambda: store
    url = sqlite_url(tmp_path)
    return lambda: SqlTokenStore(Database(url))


def test_empty_store_loads_none(store_factory):
    assert store_factory().load() is None


@pytest.mark.parametrize("expires_at", [
    None,
    dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.timezone.utc),
    dt.datetime(2026, 11, 22, 16, 30, tzinfo=VIETNAM),  # any offset comes back as the same instant
])
def test_save_then_load_round_trips(store_factory, expires_at):
    store_factory().save(TokenPair("access-1", "refresh-1", expires_at))
    loaded = store_factory().load()
    assert (loaded.access_token, loaded.refresh_token, loaded.expires_at) == ("access-1", "refresh-1", expires_at)
    assert loaded.expires_at is None or loaded.expires_at.utcoffset() is not None


def test_save_replaces_the_pair(store_factory):
    store_factory().save(TokenPair("access-1", "refresh-1"))
    store_factory().save(TokenPair("access-2", "refresh-2"))
    assert store_factory().load() == TokenPair("access-2", "refresh-2")


def test_seed_only_fills_an_empty_store(sql_url):
    store = SqlTokenStore(Database(sql_url))
    assert store.seed("env-access", "env-refresh") is True
    assert store.seed("other-access", "other-refresh") is False
    assert store.load() == TokenPair("env-access", "env-refresh")


def test_refreshed_pair_in_database_wins_over_environment(sql_url):
    store = SqlTokenStore(Database(sql_url))
    store.seed("env-access", "env-refresh")
    store.save(TokenPair("new-access", "new-refresh"))
    assert SqlTokenStore(Database(sql_url)).seed("env-access", "env-refresh") is False
    assert store.load() == TokenPair("new-access", "new-refresh")


@pytest.mark.parametrize("access, refresh", [("", "r"), ("a", "")])
def test_seed_ignores_missing_environment_tokens(sql_url, access, refresh):
    store = SqlTokenStore(Database(sql_url))
    assert store.seed(access, refresh) is False
    assert store.load() is None


@pytest.mark.parametrize("moment, seconds, expected", [
    (dt.datetime(2026, 1, 1, 12, 5, tzinfo=dt.timezone.utc), 600, True),
    (dt.datetime(2026, 1, 1, 12, 30, tzinfo=dt.timezone.utc), 600, False),
    (None, 600, False),
])
def test_expires_within(moment, seconds, expected):
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
    assert TokenPair("a", "r", moment).expires_within(seconds, now) is expected


def _increment(store) -> None:
    # Read-modify-write with a pause in between: without mutual exclusion updates get lost.
    with store.refresh_lock():
        current = store.load()
        value = int(current.access_token) if current else 0
        time.sleep(0.002)
        store.save(TokenPair(str(value + 1), "r"))


def test_refresh_lock_excludes_threads(store_factory):
    stores = [store_factory() for _ in range(6)]
    threads = [threading.Thread(target=lambda s=s: [_increment(s) for _ in range(10)]) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store_factory().load().access_token == "60"


def increment_in_process(url: str, rounds: int, barrier) -> None:
    """Child-process body: increment the stored counter `rounds` times under the refresh lock."""
    store = SqlTokenStore(Database(url))
    barrier.wait()
    for _ in range(rounds):
        _increment(store)


def test_refresh_lock_excludes_processes(sql_url):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(3)
    children = [context.Process(target=increment_in_process, args=(sql_url, 8, barrier)) for _ in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    assert [child.exitcode for child in children] == [0, 0, 0]
    assert SqlTokenStore(Database(sql_url)).load().access_token == "24"


def test_lock_file_sits_next_to_the_sqlite_database(tmp_path):
    store = SqlTokenStore(Database(sqlite_url(tmp_path)))
    with store.refresh_lock():
        assert (tmp_path / "tokens.db.token-refresh.lock").exists()


def test_sql_store_serves_loads_from_memory_until_the_refresh_lock(tmp_path):
    url = sqlite_url(tmp_path)
    mine, other = SqlTokenStore(Database(url)), SqlTokenStore(Database(url))
    mine.save(TokenPair("access-1", "refresh-1"))
    assert mine.load() == TokenPair("access-1", "refresh-1")
    other.save(TokenPair("access-2", "refresh-2"))  # another process refreshed
    assert mine.load() == TokenPair("access-1", "refresh-1")  # cached: no read per send
    with mine.refresh_lock():  # the refresh path re-reads under the lock and sees the new pair
        assert mine.load() == TokenPair("access-2", "refresh-2")


def test_sql_store_cache_expires(tmp_path, monkeypatch):
    url = sqlite_url(tmp_path)
    mine, other = SqlTokenStore(Database(url)), SqlTokenStore(Database(url))
    mine.save(TokenPair("access-1", "refresh-1"))
    assert mine.load().access_token == "access-1"
    other.save(TokenPair("access-2", "refresh-2"))
    later = time.monotonic() + 31
    monkeypatch.setattr("webhooks.zalo.tokens.time.monotonic", lambda: later)
    assert mine.load().access_token == "access-2"
