"""A live server (the real app on 127.0.0.1 with FakeZalo as the API) and a Playwright Chromium page."""
from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from werkzeug.serving import make_server

from bot.dialogue import EngineHolder
from bot.settings import Settings as EngineSettings
from webhooks.settings import Settings
from tests.conftest import signed_headers
from tests.test_admin_support import PASSWORD, text_event
from webhooks import create_app
from webhooks.admin.accounts import create_user
from webhooks.storage.engine import Database

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}


@dataclass
class LiveServer:
    """The running app and what tests need to talk to it."""

    url: str
    app: Any
    settings: Settings
    db: Database

    def send(self, user_id: str, text: str) -> int:
        """POST a signed user_send_text event to the webhook, as Zalo would."""
        payload = text_event(user_id, text)
        payload["app_id"] = self.settings.zalo_app_id
        raw = json.dumps(payload, ensure_ascii=False).encode()
        request = urllib.request.Request(f"{self.url}/webhooks/zalo", data=raw, method="POST",
                                         headers=signed_headers(self.settings, raw, payload["timestamp"]))
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Poll until `condition()` is truthy (background delivery threads); fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def live_options() -> dict[str, dict[str, Any]]:
    """Extra Settings fields ("settings"), engine settings ("engine") and Flask config ("config") for live_server;
    a test module overrides it."""
    return {"settings": {}, "config": {}, "engine": {}}


@pytest.fixture
def live_server(tmp_path: Path, sqlite_template: Path, fake_zalo, live_options) -> Iterator[LiveServer]:
    """The real app (webhook + dashboard + delivery threads) served on 127.0.0.1, on a catalog copy."""
    shutil.copy2(ROOT / "procedures.yaml", tmp_path / "procedures.yaml")
    shutil.copytree(ROOT / "intents", tmp_path / "intents")
    shutil.copy(sqlite_template, tmp_path / "bot.db")
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    engine = EngineSettings.from_env({}, catalog_path=tmp_path / "procedures.yaml", intents_dir=tmp_path / "intents",
                                   **live_options.get("engine", {}))
    settings = Settings.from_env({}, database_url=url, zalo_oa_secret_key="browser-oa-secret",
                                 secret_key="browser-secret", engine=engine, retry_base=0.01,
                                 **fake_zalo.settings_overrides(), **live_options["settings"]).checked()
    database = Database(url)
    with database.session() as s:
        create_user(s, "hoa", PASSWORD, "reviewer", by="test")
        create_user(s, "lan", PASSWORD, "admin", by="test")
    app = create_app({"SETTINGS": settings, "DATABASE": database, "ENGINES": EngineHolder(engine),
                      "TESTING": True, **live_options["config"]})
    app.extensions["bot.workers"].start()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app, settings, database)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        app.extensions["bot.workers"].stop()
        database.dispose()


@pytest.fixture
def page() -> Iterator[Any]:
    """A phone-sized Chromium page; the test is skipped when the system Chromium is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: browser tests need the Debian chromium package (no download)")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        context = browser.new_context(viewport=PHONE, locale="vi-VN")
        tab = context.new_page()
        tab.dialogs = []  # any alert() would mean injected script ran
        tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
        try:
            yield tab
        finally:
            context.close()
            browser.close()


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot to tests/browser/screenshots/<name>.png."""
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
