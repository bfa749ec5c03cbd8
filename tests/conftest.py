"""Shared fixtures: settings on a fresh database (SQLite always, PostgreSQL too with TEST_DATABASE_URL), app, client.

Storage tests run once per backend: `database_url` is parametrised with "sqlite" and, when the env
TEST_DATABASE_URL is set, "postgresql" (one fresh schema per test run, tables emptied between tests).
"""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import create_engine, text
from flask import Flask
from sqlalchemy.engine import make_url

from bot.dialogue import EngineHolder
from bot.settings import Settings as EngineSettings
from tests.fake_zalo import FakeZalo
from tests.zalo_fixtures import fake_zalo  # noqa: F401  (shared fixture)
from webhooks import create_app
from webhooks.settings import Settings
from webhooks.storage import migrate
from webhooks.storage.engine import Database
from webhooks.storage.models import Base
from webhooks.workers import run_until_idle
from webhooks.zalo.signature import sign

TEST_PG = os.environ.get("TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if TEST_PG else [])
OA_SECRET_KEY = "test-oa-secret-key"


def psycopg_url(url: str) -> str:
    """The URL with the psycopg (v3) driver, the one installed."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def engines() -> EngineHolder:
    """The real engine on the shipped catalog, loaded once per test run."""
    return EngineHolder(EngineSettings.from_env({}))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory):
    """A SQLite file migrated to head once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for this test run, migrated to head, dropped at the end."""
    if not TEST_PG:
        pytest.skip("TEST_DATABASE_URL not set")
    schema = f"bot_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(psycopg_url(TEST_PG))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(psycopg_url(TEST_PG)).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    migrate.upgrade(rendered)
    yield rendered
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path, sqlite_template) -> str:
    """URL of an empty, migrated database (a copied SQLite file, or the emptied PostgreSQL schema)."""
    if request.param == "sqlite":
        path = tmp_path / "bot.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_url")
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The test's Database."""
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def settings(database_url: str, fake_zalo: FakeZalo) -> Settings:  # noqa: F811
    """Settings on the test database, with test secrets and the FakeZalo as the Zalo API."""
    return Settings.from_env({}, database_url=database_url, zalo_oa_secret_key=OA_SECRET_KEY,
                             secret_key="test-secret", retry_base=0.01, http_timeout=2.0,
                             **fake_zalo.settings_overrides()).checked()


@contextmanager
def manual_app(settings: Settings, db: Database, engines: EngineHolder) -> Iterator[Flask]:
    """The app without claim-loop threads: tests run what is due with the `drain` fixture."""
    app = create_app({"SETTINGS": settings, "DATABASE": db, "ENGINES": engines, "TESTING": True})
    try:
        yield app
    finally:
        app.extensions["bot.workers"].stop()


@pytest.fixture
def app(settings: Settings, db: Database, engines: EngineHolder) -> Iterator[Flask]:
    """The whole app on the shipped catalog, claim loop not started."""
    with manual_app(settings, db, engines) as app:
        yield app


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """Flask CLI runner."""
    return app.test_cli_runner()


@pytest.fixture
def services(app):
    """The app's services (settings, database, engines, Zalo client)."""
    return app.extensions["bot.services"]


@pytest.fixture
def drain(services) -> Callable[[], int]:
    """drain(): answer and send, in this thread, everything due now; how many jobs ran."""
    return lambda: run_until_idle(services)


def signed_headers(settings: Settings, raw: bytes, timestamp: str) -> dict[str, str]:
    """Headers Zalo would send with `raw`."""
    mac = sign(app_id=settings.zalo_app_id, raw_body=raw, timestamp=timestamp,
               secret_key=settings.zalo_oa_secret_key)
    return {"Content-Type": "application/json", "X-ZEvent-Signature": mac}


def _json_bytes(payload: Any) -> bytes:
    try:
        return json.dumps(payload, ensure_ascii=False).encode()
    except UnicodeEncodeError:  # lone surrogates: as escapes, the way a JSON sender writes them
        return json.dumps(payload).encode()


@pytest.fixture
def post_event(client, settings) -> Callable[..., Any]:
    """post_event(payload or raw bytes, signed=True, headers=None) -> response, signed like Zalo does."""

    def post(payload: Any, *, signed: bool = True, headers: dict[str, str] | None = None):
        raw = payload if isinstance(payload, bytes) else _json_bytes(payload)
        stamp = str(payload.get("timestamp", "")) if isinstance(payload, dict) else ""
        sent = signed_headers(settings, raw, stamp) if signed else {"Content-Type": "application/json"}
        sent.update(headers or {})
        return client.post("/webhooks/zalo", data=raw, headers=sent)

    return post


def wait_for(condition: Callable[[], object], timeout: float = 20.0) -> bool:
    """Poll `condition` until true or `timeout` passes (a bound on waiting, not an assertion on speed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def run_in_threads(target: Callable[[], None], count: int) -> list[BaseException]:
    """Run `target` in `count` threads at once; return what they raised (a thread's exception would vanish)."""
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
