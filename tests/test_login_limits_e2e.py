"""Two `serve` processes on one database share the login limit; the run's database and logs hold no personal
number in clear, and no trace of a citizen who withdrew."""
from __future__ import annotations

import os
import re
from contextlib import ExitStack

import pytest
import requests

from tests.fake_zalo import FakeZalo
from tests.live import Processes, free_port, pg_schema, service_env, signed, text_event, wait_healthy
from webhooks.admin.accounts import create_user
from webhooks.privacy_check import scan_database, scan_files
from webhooks.storage.engine import Database

TEST_PG = os.environ.get("TEST_DATABASE_URL", "")
_TOKEN = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


class Browser:
    """One browser on one server: its session cookie sent by hand (it is Secure, the test server is http)."""

    def __init__(self, base: str):
        self.base, self.cookie = base, ""

    def attempt(self, username: str, password: str) -> int:
        page = requests.get(self.base + "/admin/login", timeout=10, headers={"Cookie": self.cookie})
        self.cookie = "; ".join(f"{k}={v}" for k, v in page.cookies.items()) or self.cookie
        token = _TOKEN.search(page.text).group(1)
        response = requests.post(self.base + "/admin/login", timeout=10, allow_redirects=False,
                                 headers={"Cookie": self.cookie},
                                 data={"username": username, "password": password, "csrf_token": token})
        return response.status_code


@pytest.mark.timeout(600)  # two servers and a worker started, on a shared machine
@pytest.mark.parametrize("backend", ["sqlite"] + (["postgresql"] if TEST_PG else []))
def test_two_server_processes_count_login_failures_together(tmp_path, backend):
    with ExitStack() as stack:
        fake = stack.enter_context(FakeZalo())
        procs = Processes(tmp_path)
        stack.callback(procs.stop_all)
        url = stack.enter_context(pg_schema(TEST_PG)) if backend == "postgresql" else f"sqlite:///{tmp_path / 'l.db'}"
        bases = []
        for name in ("a", "b"):
            port = free_port()
            env = service_env(fake, port, url, BOT_ANSWER_THREADS="0")
            process = procs.start(f"serve-{name}", ["-m", "bot", "serve", "--host", "127.0.0.1", "--workers", "1"],
                                  env)
            base = f"http://127.0.0.1:{port}"
            assert wait_healthy(base, process), procs.output(process)
            bases.append(base)
        database = Database(url)
        with database.session() as s:
            create_user(s, "hoa", "mat-khau-rat-dai-123", "reviewer", by="test")
        database.dispose()
        a, b = Browser(bases[0]), Browser(bases[1])
        codes = [browser.attempt("hoa", "sai-sai-sai-sai") for browser in (a, b, a, b, a)]
        assert codes == [400] * 5
        assert b.attempt("hoa", "mat-khau-rat-dai-123") == 429  # the other process knows of all five
        assert a.attempt("hoa", "sai-sai-sai-sai") == 429

        # The same run, checked for privacy: a citizen writes personal numbers, is answered, then withdraws.
        citizen = "7716005500111222333"
        for n, text in enumerate(("số tôi 0912 345 678, mail lan.nguyen@gmail.com", "cccd 001203004567 làm lại")):
            body, headers = signed(fake.app_id, text_event(fake.app_id, citizen, f"pm-{n}", text))
            assert requests.post(bases[n % 2] + "/webhooks/zalo", data=body, headers=headers, timeout=10).ok
        worker = procs.start("worker", ["-m", "bot", "worker", "--burst"], service_env(fake, free_port(), url))
        worker.wait(timeout=120)
        database = Database(url)
        assert scan_database(database) == []  # stored masked
        logs = sorted(tmp_path.glob("*.log"))
        numbers = ["0912 345 678", "0912345678", "lan.nguyen", "001203004567"]
        assert scan_files(logs, numbers, numbers=True) == []
        withdraw = {"app_id": fake.app_id, "event_name": "user_withdraw", "sender": {"id": citizen},
                    "timestamp": "1733300000001"}
        body, headers = signed(fake.app_id, withdraw)
        assert requests.post(bases[0] + "/webhooks/zalo", data=body, headers=headers, timeout=10).ok
        assert scan_database(database, [citizen, "làm lại", "***@gmail.com"]) == []
        assert scan_files(logs, [citizen, *numbers], numbers=True) == []
        database.dispose()
