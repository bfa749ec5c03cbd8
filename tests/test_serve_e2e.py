"""The real server: `python -m bot serve` (gunicorn, 2 workers) on a free port, signed events over HTTP,
replies captured by FakeZalo — including a multi-turn conversation with a numbered question."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from contextlib import ExitStack
from typing import Iterator

import pytest
import requests

from webhooks.settings import Settings
from bot.state import MemoryStateStore
from tests.conftest import wait_for
from tests.fake_zalo import FakeZalo
from tests.live import OA_SECRET, ROOT, Processes, free_port, live_catalog, pg_schema, service_env, wait_healthy
from webhooks.cli import demo_banner
from webhooks.zalo.signature import sign, verify_signature

SECRET = OA_SECRET
CITIZEN = "8000000000000000001"
TEST_PG = os.environ.get("TEST_DATABASE_URL", "")
# Questions that make the engine ask back with numbered options (the first that does is used).
VAGUE = ["làm giấy", "dịch vụ công", "thanh toán", "xin giấy xác nhận", "đăng ký", "cấp giấy"]
OPENING = ["lam giay khai sinh cho con", "phí bao nhiêu"]


@pytest.fixture(scope="module", params=["embedded"] + (["workers"] if TEST_PG else []))
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FakeZalo]]:
    """`python -m bot serve` on SQLite answering in its own threads, or on PostgreSQL with two `worker` processes."""
    tmp_path = tmp_path_factory.mktemp(f"serve-{request.param}")
    with ExitStack() as stack:
        fake = stack.enter_context(FakeZalo())
        port = free_port()
        fake.echo_to(f"http://127.0.0.1:{port}/webhooks/zalo", SECRET)  # as Zalo: every accepted send comes back
        procs = Processes(tmp_path)
        stack.callback(procs.stop_all)
        if request.param == "embedded":
            env = service_env(fake, port, f"sqlite:///{tmp_path / 'e2e.db'}")
        else:
            env = service_env(fake, port, stack.enter_context(pg_schema(TEST_PG)), BOT_ANSWER_THREADS="0")
        # Two server processes: the counters and claims must hold across processes.
        process = procs.start("serve", ["-m", "bot", "serve", "--host", "127.0.0.1", "--workers", "2"], env)
        if request.param == "workers":
            for n in range(2):
                procs.start(f"worker-{n}", ["-m", "bot", "worker", "--threads", "2"], env)
        base = f"http://127.0.0.1:{port}"
        assert wait_healthy(base, process), procs.output(process)
        yield base, fake


def catalog_phrases(engine) -> list[str]:
    """Two-word pieces of the catalog's sample questions: some are vague enough to be asked back."""
    phrases: dict[str, None] = {}
    for entry in engine.catalog.entries.values():
        for question in list(getattr(entry, "questions", ()))[:3]:
            words = question.split()
            phrases.update((" ".join(words[i:i + 2]), None) for i in range(len(words) - 1))
    return list(phrases)


class Citizen:
    """Sends signed text events as one citizen and waits for the bot's replies."""

    def __init__(self, base: str, fake: FakeZalo, user: str = CITIZEN):
        self.base, self.fake, self.user, self.n = base, fake, user, 0

    def post(self, payload: dict, secret: str = SECRET) -> requests.Response:
        raw = json.dumps(payload, ensure_ascii=False).encode()
        mac = sign(app_id=self.fake.app_id, raw_body=raw, timestamp=payload["timestamp"], secret_key=secret)
        return requests.post(self.base + "/webhooks/zalo", data=raw, timeout=5,
                             headers={"Content-Type": "application/json", "X-ZEvent-Signature": mac})

    def event(self, text: str) -> dict:
        self.n += 1
        return {"app_id": self.fake.app_id, "event_name": "user_send_text", "sender": {"id": self.user},
                "recipient": {"id": "oa"}, "message": {"text": text, "msg_id": f"e2e-{self.user}-{self.n}"},
                "timestamp": str(1763769600000 + self.n)}

    def say(self, text: str, expect: int) -> list[str]:
        """Send `text`; return the texts of the `expect` replies it gets."""
        before = len(self.fake.delivered())
        assert self.post(self.event(text)).status_code == 200
        assert wait_for(lambda: len(self.fake.delivered()) >= before + expect), f"no reply to {text!r}"
        return [r.body["message"]["text"] for r in self.fake.delivered()[before:]]


@pytest.fixture(scope="module")
def live_engine():
    """The engine the server runs: the live catalog (the example commune's data replaced)."""
    from bot.dialogue import Engine
    from bot.settings import Settings as EngineSettings

    return Engine.from_settings(EngineSettings.from_env({}, catalog_path=live_catalog()))


@pytest.mark.timeout(90)
def test_conversation_through_the_real_server(server, live_engine):
    base, fake = server
    engine = live_engine

    def after_opening() -> MemoryStateStore:
        store = MemoryStateStore()
        for text in OPENING:
            engine.respond(CITIZEN, text, store)
        return store

    vague = next((q for q in [*VAGUE, *catalog_phrases(engine)]
                  if engine.respond(CITIZEN, q, after_opening()).clarify), None)
    assert vague, "no question in VAGUE makes the engine ask back with options any more: update the list"
    citizen, memory, outcomes = Citizen(base, fake), MemoryStateStore(), []
    for text in [*OPENING, vague, "2"]:
        turn = engine.respond(CITIZEN, text, memory)
        outcomes.append((turn.outcome, turn.intent))
        assert citizen.say(text, len(turn.replies)) == [r.text for r in turn.replies]
    assert outcomes[0] == ("answered", "khai-sinh") and outcomes[1] == ("answered", "khai-sinh")
    assert outcomes[2][0] == "clarified" and outcomes[3][0] == "answered"
    assert {r.user_id for r in fake.delivered()[-4:]} == {CITIZEN}


@pytest.mark.timeout(90)
def test_retries_signatures_and_health_on_the_real_server(server):
    base, fake = server
    citizen = Citizen(base, fake, user="8000000000000000002")
    before = len(fake.delivered())
    event = citizen.event("phí làm căn cước")
    assert citizen.post(event).status_code == 200
    assert wait_for(lambda: len(fake.delivered()) == before + 1)
    assert citizen.post(event).json()["result"] == "duplicate"  # Zalo's retry
    time.sleep(0.5)  # an answer to it would follow at once
    for _ in range(3):  # whichever gunicorn worker takes it, the rejections add up in one counter
        assert citizen.post(citizen.event("giả mạo"), secret="wrong").status_code == 401
    assert requests.post(base + "/webhooks/zalo", data=b"{}", timeout=5).status_code == 200  # Zalo's probe
    assert requests.post(base + "/webhooks/zalo", data=b"x" * 100_000, timeout=5).status_code == 413
    health = requests.get(base + "/healthz", timeout=5).json()
    assert (health["database"], health["signature_rejections"]) == ("ok", 3)
    assert wait_for(lambda: requests.get(base + "/healthz", timeout=5).json()["outbox_backlog"] == 0)
    assert len(fake.delivered()) == before + 1


@pytest.mark.timeout(90)
def test_a_reply_whose_answer_was_lost_goes_out_once(server, live_engine):
    # Zalo accepts the send, the answer never comes back: the sender retries, but Zalo's echo of the
    # text reached the webhook first, so the retry records it as sent instead of sending it again.
    base, fake = server
    citizen = Citizen(base, fake, user="8000000000000000003")
    replies = len(live_engine.respond(citizen.user, "xin chào", MemoryStateStore()).replies)
    before = len(fake.delivered())
    fake.lose_answer_next(1)
    assert citizen.post(citizen.event("xin chào")).status_code == 200
    assert wait_for(lambda: len(fake.delivered()) >= before + replies)
    assert wait_for(lambda: requests.get(base + "/healthz", timeout=5).json()["outbox_backlog"] == 0, 30)
    assert len(fake.delivered()) == before + replies
    assert requests.get(base + "/healthz", timeout=5).json()["outbox_failed"] == 0


def test_missing_secret_stops_start_up_naming_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZALO_", "BOT_", "DATABASE_URL"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.db'}"
    done = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "ZALO_OA_SECRET_KEY" in done.stderr and "BOT_DEMO" in done.stderr


def test_demo_banner_prints_a_working_signed_curl_and_the_way_in():
    settings = Settings.from_env({"BOT_DEMO": "1"}).checked()
    banner = demo_banner(settings, "http://127.0.0.1:8000")
    mac = re.search(r"X-ZEvent-Signature: (mac=[0-9a-f]{64})", banner).group(1)
    body = re.search(r"--data-binary '(.*)'$", banner, re.M).group(1)
    stamp = json.loads(body)["timestamp"]
    assert verify_signature(app_id=settings.zalo_app_id, raw_body=body.encode(), timestamp=stamp,
                            secret_key=settings.zalo_oa_secret_key, header=mac)
    assert "python -m bot send" in banner and "/admin" in banner and "users add" in banner


@pytest.mark.timeout(120)
def test_handoff_emergency_and_back_through_the_real_server(server):
    base, fake = server
    citizen = Citizen(base, fake, user="8000000000000000004")
    assert "cán bộ" in citizen.say("cho tôi gặp cán bộ", 1)[0]
    before = len(fake.delivered())
    assert citizen.post(citizen.event("làm giấy khai sinh cần gì")).status_code == 200
    time.sleep(1.5)
    assert len(fake.delivered()) == before  # staff hold the conversation: the bot waits
    fire = citizen.say("cứu với nhà tôi đang cháy", 1)[0]
    assert fire.startswith("KHẨN CẤP: gọi ngay 114")
    back = citizen.say("quay lại", 1)[0]
    assert "quay lại trợ lý" in back and "1. " in back
    assert "KHAI SINH" in citizen.say("làm giấy khai sinh cho con", 1)[0]


@pytest.mark.timeout(90)
def test_send_command_posts_a_signed_question(server):
    base, fake = server
    env = service_env(fake, int(base.rsplit(":", 1)[1]), "sqlite://")
    before = len(fake.delivered())
    done = subprocess.run([sys.executable, "-m", "bot", "send", "phí làm căn cước", "--url", base, "--user",
                           "8000000000000000005"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("200"), done.stderr
    assert wait_for(lambda: len(fake.delivered()) > before)
    assert fake.delivered()[-1].user_id == "8000000000000000005"


def test_a_live_server_refuses_the_example_commune(tmp_path):
    from tests.fake_zalo import FakeZalo

    with FakeZalo() as fake:
        env = service_env(fake, free_port(), f"sqlite:///{tmp_path / 'x.db'}")
    env["BOT_CATALOG"] = str(ROOT / "procedures.yaml")  # the shipped example
    done = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=90)
    assert done.returncode == 2
    assert "commune/example" in done.stderr and "commune/phone" in done.stderr and "BOT_DEMO" in done.stderr


def test_serve_and_worker_are_registered_with_the_bot_cli():
    from bot.cli import build_parser

    args = build_parser().parse_args(["serve", "--port", "9999", "--workers", "1"])
    assert (args.port, args.workers, args.threads, args.func.__name__) == (9999, 1, 8, "cmd_serve")
    assert build_parser().parse_args(["worker", "--burst"]).func.__name__ == "cmd_worker"
    assert build_parser().parse_args(["worker"]).threads == 4


def test_demo_mode_shows_replies_instead_of_calling_zalo(tmp_path, caplog):
    from bot.replies import Button, Reply
    from webhooks.services import ConsoleClient, Services
    from webhooks.storage import migrate
    from webhooks.storage.engine import Database

    demo = Settings.from_env({"BOT_DEMO": "1"}, database_url=f"sqlite:///{tmp_path / 'd.db'}").checked()
    migrate.upgrade(demo.database_url)
    services = Services(settings=demo, database=Database(demo.database_url), engines=object())
    assert isinstance(services.client, ConsoleClient)
    caplog.set_level("INFO")
    result = services.client.send("u1", Reply("Xin chào", (Button("Menu", "query", "menu"),)))
    assert result.status == "sent" and "Xin chào" in caplog.text and "[Menu]" in caplog.text
    real = Settings.from_env({"BOT_DEMO": "1", "ZALO_ACCESS_TOKEN": "a-real-one"},
                             database_url=demo.database_url).checked()
    assert not isinstance(Services(settings=real, database=services.database, engines=object()).client,
                          ConsoleClient)
