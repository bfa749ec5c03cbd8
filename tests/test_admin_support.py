"""Fixtures and helpers for the dashboard tests (imported by tests/test_admin_*.py)."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import pytest

from bot.dialogue import Engine, EngineHolder
from bot.settings import Settings as EngineSettings
from webhooks.settings import Settings
from tests.conftest import manual_app, signed_headers
from webhooks.admin.accounts import create_user
from webhooks.storage.engine import Database
from webhooks.storage.models import Citizen, Message

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "mat-khau-rat-dai-123"
_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


@pytest.fixture
def catalog_copy(tmp_path: Path) -> tuple[Path, Path]:
    """procedures.yaml and intents/ copied to tmp_path: the repository's catalog is never edited."""
    shutil.copy2(ROOT / "procedures.yaml", tmp_path / "procedures.yaml")
    shutil.copytree(ROOT / "intents", tmp_path / "intents")
    return tmp_path / "procedures.yaml", tmp_path / "intents"


_BUILT: dict[str, Engine] = {}


def engine_holder(conf: EngineSettings) -> EngineHolder:
    """An EngineHolder on `conf`, starting from an engine already built for the same files and thresholds.

    Building an engine takes seconds; most tests run on an unchanged copy of the shipped catalog. A copy
    edited later is seen by the holder's usual reload (its stamp is the copy's own).
    """
    digest = hashlib.sha256(repr(conf.thresholds).encode())
    for path in [conf.catalog_path, *sorted(Path(conf.intents_dir).glob("*.yaml")), conf.national_index,
                 conf.national_aliases]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.exists() else b"-")
    key = digest.hexdigest()
    holder = EngineHolder(conf, engine=_BUILT.get(key))
    _BUILT.setdefault(key, holder.get())
    return holder


@pytest.fixture
def admin_settings(settings: Settings, catalog_copy: tuple[Path, Path]) -> Settings:
    """Test settings pointing at the catalog copy."""
    return replace(settings, engine=replace(settings.engine, catalog_path=catalog_copy[0], intents_dir=catalog_copy[1]))


@pytest.fixture
def admin_app(admin_settings: Settings, db: Database) -> Iterator[Any]:
    """The whole app (webhook + dashboard) on the catalog copy; the claim loop is run by the tests."""
    with manual_app(admin_settings, db, engine_holder(admin_settings.engine)) as app:
        yield app


@pytest.fixture
def admin_client(admin_app):
    """A test client of admin_app, logged out."""
    return admin_app.test_client()


@pytest.fixture
def users(db: Database) -> dict[str, str]:
    """A reviewer `hoa` and an admin `lan`, both with PASSWORD."""
    with db.session() as s:
        create_user(s, "hoa", PASSWORD, "reviewer", by="test")
        create_user(s, "lan", PASSWORD, "admin", by="test")
    return {"reviewer": "hoa", "admin": "lan"}


@pytest.fixture
def reviewer(admin_client, users):
    """admin_client logged in as the reviewer."""
    login(admin_client, "hoa")
    return admin_client


@pytest.fixture
def admin(admin_client, users):
    """admin_client logged in as the admin."""
    login(admin_client, "lan")
    return admin_client


def csrf_token(html: str) -> str:
    """The CSRF token of the first form in `html`."""
    found = _TOKEN.search(html)
    assert found, "no CSRF token in page"
    return found.group(1) or found.group(2)


def login(client, username: str, password: str = PASSWORD):
    """Log in through the real form (CSRF token included); returns the response."""
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    return client.post("/admin/login", data={"username": username, "password": password, "csrf_token": token})


def post(client, url: str, data: dict[str, Any], token_from: str = "/admin/thu-bot", **kwargs):
    """POST a form with a valid CSRF token taken from a page of the same session."""
    token = csrf_token(client.get(token_from).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)


def add_citizen(db: Database, zalo_id: str, last: dt.datetime | None = None) -> int:
    """A citizen whose last interaction was `last` (now by default); returns its id."""
    with db.session() as s:
        c = Citizen(zalo_id=zalo_id, last_interaction=last or dt.datetime.now(dt.timezone.utc))
        s.add(c)
        s.flush()
        return c.id


def add_question(db: Database, engine, citizen_id: int, text: str, outcome: str = "fallback",
                 at: dt.datetime | None = None, score: float | None = 0.1, intent: str | None = None,
                 candidates: list[dict] | None = None) -> int:
    """An inbound message as the service would have stored it; returns its id."""
    with db.session() as s:
        m = Message(citizen_id=citizen_id, direction="in", text=text, normalized=engine.normalize(text),
                    outcome=outcome, score=score, intent=intent, status="processed",
                    candidates=candidates if candidates is not None else
                    [{"id": c.id, "score": c.score} for c in engine.rank(text, 3)],
                    created_at=at or dt.datetime.now(dt.timezone.utc))
        s.add(m)
        s.flush()
        return m.id


_msg_counter = iter(range(10**6))


def text_event(user_id: str, text: str) -> dict[str, Any]:
    """A user_send_text event as Zalo posts it."""
    n = next(_msg_counter)
    stamp = str(int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000) + n)
    return {"app_id": "", "event_name": "user_send_text", "sender": {"id": user_id},
            "recipient": {"id": "oa-1"}, "message": {"msg_id": f"m-{user_id}-{n}", "text": text},
            "timestamp": stamp, "user_id_by_app": user_id}


def send_webhook(client, settings: Settings, user_id: str, text: str):
    """Post a signed text event to /webhooks/zalo."""
    payload = text_event(user_id, text)
    payload["app_id"] = settings.zalo_app_id
    raw = json.dumps(payload, ensure_ascii=False).encode()
    return client.post("/webhooks/zalo", data=raw, headers=signed_headers(settings, raw, payload["timestamp"]))
