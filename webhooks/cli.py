"""`python -m bot serve` (gunicorn, with the claim loop in each server process) and `python -m bot worker`."""
from __future__ import annotations

import argparse
import functools
import gc
import json
import logging
import shlex
import signal
import sys
import threading
import time
import uuid
from dataclasses import replace
from typing import Any, Callable

from flask import Flask
from gunicorn.app.base import BaseApplication

from webhooks import logs
from webhooks.settings import ConfigError, Settings

log = logging.getLogger(__name__)
READY = "worker ready: claiming jobs"  # logged once a worker takes jobs (the benchmark waits for it)


def _checked(settings: Settings | None) -> Settings | None:
    try:
        return (settings or Settings.from_env()).checked()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def signed_text_event(settings: Settings, text: str, user: str = "demo-citizen") -> tuple[bytes, str]:
    """A `user_send_text` body with a fresh msg_id and timestamp, and its X-ZEvent-Signature."""
    from webhooks.zalo.signature import sign

    stamp = str(int(time.time() * 1000))
    body = json.dumps({"app_id": settings.zalo_app_id, "event_name": "user_send_text", "sender": {"id": user},
                       "recipient": {"id": "demo-oa"}, "message": {"msg_id": f"cli-{uuid.uuid4().hex}", "text": text},
                       "timestamp": stamp}, ensure_ascii=False).encode()
    return body, sign(app_id=settings.zalo_app_id, raw_body=body, timestamp=stamp,
                      secret_key=settings.zalo_oa_secret_key)


def demo_banner(settings: Settings, base_url: str) -> str:
    """What demo mode prints at start: the example data warning, how to try it and reach the dashboard."""
    body, mac = signed_text_event(settings, "làm giấy khai sinh cho con")
    return "\n".join([
        "DEMO MODE (BOT_DEMO=1): demo secrets and the example commune's data; do not expose this server.",
        "  Ask it something (signed like Zalo, a new msg_id each time; the reply shows in this log):",
        f"    .venv/bin/python -m bot send \"làm giấy khai sinh cho con\" --url {base_url}",
        "  Or with curl (this msg_id once only; a repeat is a duplicate):",
        f"    curl -s -X POST {base_url}/webhooks/zalo -H 'Content-Type: application/json' "
        f"-H 'X-ZEvent-Signature: {mac}' --data-binary {shlex.quote(body.decode())}",
        f"  Dashboard: {base_url}/admin — create the first account with "
        "`.venv/bin/python -m bot users add <name> --role admin`",
        f"  Health: curl -s {base_url}/healthz",
    ])


def example_data_refusal(app: Flask) -> str | None:
    """Why a live (non-demo) server must not start on this catalog: the example commune's fields, or None."""
    from bot.lint import example_data

    commune = app.extensions["bot.services"].engines.get().catalog.commune
    found = example_data(commune)
    if not found:
        return None
    lines = [f"  commune/{field}: {why}" for field, why in found]
    return ("error: procedures.yaml still holds the example commune; fill in these fields (see "
            "docs/huong-dan-sua-danh-muc.md), or try the bot with BOT_DEMO=1 (make run):\n" + "\n".join(lines))


def cmd_serve(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Migrate, then run gunicorn's gthread workers, each with its claim-loop threads."""
    from bot.catalog import CatalogError
    from webhooks import create_app
    from webhooks.storage import migrate

    checked = _checked(settings)
    if checked is None:
        return 2
    port = args.port or checked.port
    host = args.host or ("127.0.0.1" if checked.demo else "0.0.0.0")  # a demo is for this machine only
    logs.configure()
    migrate.upgrade(checked.database_url)  # once, before the server processes fork
    try:
        app = create_app({"SETTINGS": checked})  # preloaded: the server processes share the loaded catalog
    except CatalogError as exc:
        print(f"error: the catalog does not load — run `python -m bot lint`:\n{exc}", file=sys.stderr)
        return 1
    refusal = None if checked.demo else example_data_refusal(app)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    if checked.demo:
        print(demo_banner(checked, f"http://127.0.0.1:{port}"), flush=True)
    gc.collect()
    gc.freeze()  # loaded once, never freed: out of the collector's walks, shared by the forked processes
    options = {"bind": f"{host}:{port}", "workers": args.workers, "threads": args.threads}
    BotServer(app, options).run()
    return 0


class BotServer(BaseApplication):
    """Gunicorn configured in code: the preloaded app, stock gthread workers, the claim loop started after fork."""

    def __init__(self, app: Flask, options: dict[str, Any]):
        self.application, self.options = app, options
        super().__init__()

    def load_config(self) -> None:
        """Our defaults, then the caller's options."""
        defaults = {"worker_class": "gthread", "preload_app": True, "timeout": 30, "graceful_timeout": 10,
                    "accesslog": "-", "access_log_format": logs.ACCESS_LOG_FORMAT,
                    "control_socket_disable": True,  # two local servers would share one socket
                    "post_fork": _post_fork, "worker_exit": _worker_exit}
        for key, value in {**defaults, **self.options}.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """The already-built app."""
        return self.application


def _post_fork(server: Any, _worker: Any) -> None:
    app = server.app.application
    app.extensions["bot.db"].engine.dispose(close=False)  # never share the parent's pooled connections
    app.extensions["bot.workers"].start()


def _worker_exit(server: Any, _worker: Any) -> None:
    server.app.application.extensions["bot.workers"].stop()


def cmd_worker(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Run the claim loop in `--threads` threads until SIGTERM or SIGINT (`--burst`: what is due now, then stop)."""
    from webhooks.services import Services
    from webhooks.storage import migrate
    from webhooks.storage.engine import Database
    from webhooks.workers import Workers, run_until_idle

    checked = _checked(settings)
    if checked is None:
        return 2
    logs.configure()
    migrate.upgrade(checked.database_url)
    services = Services(settings=checked, database=Database(checked.database_url, pool_size=args.threads + 1))
    services.client  # noqa: B018 (built now: token seeding is not the first reply's wait)
    if args.burst:
        print(f"ran {run_until_idle(services)} job(s)")
        return 0
    workers = Workers(services, args.threads, checked.poll_seconds)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    workers.start()
    log.info("%s with %d thread(s)", READY, args.threads)
    stop.wait()
    workers.stop()
    return 0


def cmd_send(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Sign a test message the way Zalo does and post it to a running server; print what it answered."""
    import requests

    settings = settings or Settings.from_env()
    if settings.missing_secrets():  # no real OA configured: the demo server's secrets
        settings = replace(settings, demo=True)
    settings = settings.checked()
    body, mac = signed_text_event(settings, args.text, args.user)
    url = args.url or f"http://127.0.0.1:{settings.port}"
    try:
        response = requests.post(f"{url}/webhooks/zalo", data=body, timeout=10,
                                 headers={"Content-Type": "application/json", "X-ZEvent-Signature": mac})
    except requests.RequestException as exc:
        print(f"error: cannot reach {url}: {type(exc).__name__} — is `make run` running?", file=sys.stderr)
        return 1
    print(f"{response.status_code} {response.text.strip()}")
    if response.ok and settings.demo:
        print("The bot's reply is written in the server's log (demo mode sends nothing to Zalo).")
    return 0 if response.ok else 1


def _service(command: Callable[..., int]) -> Callable[..., int]:
    # `python -m bot` hands every command the engine's settings; the service reads its own.
    @functools.wraps(command)
    def run(args: argparse.Namespace, _engine_settings: Any = None) -> int:
        return command(args)
    return run


def register(subparsers: Any) -> None:
    """Add `serve` and `worker` to `python -m bot`."""
    p = subparsers.add_parser("serve", help="chạy máy chủ webhook Zalo (gunicorn)")
    p.add_argument("--host", default=None, help="default: 0.0.0.0; 127.0.0.1 in demo mode")
    p.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    p.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    p.add_argument("--threads", type=int, default=8, help="request threads per process (default 8)")
    p.set_defaults(func=_service(cmd_serve))
    p = subparsers.add_parser("send", help="gửi thử một câu hỏi (ký như Zalo) tới máy chủ đang chạy")
    p.add_argument("text")
    p.add_argument("--url", default=None, help="the server (default http://127.0.0.1:$PORT)")
    p.add_argument("--user", default="demo-citizen", help="the citizen's Zalo id in the test event")
    p.set_defaults(func=_service(cmd_send))
    p = subparsers.add_parser("worker", help="trả lời và gửi tin ngoài máy chủ web (khi mở rộng)")
    p.add_argument("--burst", action="store_true", help="do what is due now, then stop")
    p.add_argument("--threads", type=int, default=4, help="jobs at once in this process (default 4)")
    p.set_defaults(func=_service(cmd_worker))
