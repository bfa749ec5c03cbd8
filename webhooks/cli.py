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
from typing import Any, Callable

from flask import Flask
from gunicorn.app.base import BaseApplication

from webhooks.settings import ConfigError, Settings

log = logging.getLogger(__name__)
LOG_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
READY = "worker ready: claiming jobs"  # logged once a worker takes jobs (the benchmark waits for it)


def _checked(settings: Settings | None) -> Settings | None:
    try:
        return (settings or Settings.from_env()).checked()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def demo_banner(settings: Settings, base_url: str) -> str:
    """What demo mode prints at start: the OA secret key and a signed sample request."""
    from webhooks.zalo.signature import sign

    body = json.dumps({"app_id": settings.zalo_app_id, "event_name": "user_send_text",
                       "sender": {"id": "demo-citizen"}, "recipient": {"id": "demo-oa"},
                       "message": {"msg_id": "demo-1", "text": "làm giấy khai sinh cho con"},
                       "timestamp": "1700000000000"}, ensure_ascii=False)
    mac = sign(app_id=settings.zalo_app_id, raw_body=body.encode(), timestamp="1700000000000",
               secret_key=settings.zalo_oa_secret_key)
    return "\n".join([
        "DEMO MODE (BOT_DEMO=1): demo secrets, do not expose this server.",
        f"  ZALO_APP_ID={settings.zalo_app_id}",
        f"  ZALO_OA_SECRET_KEY={settings.zalo_oa_secret_key}",
        "  Try a signed webhook (change msg_id to send again):",
        f"  curl -s -X POST {base_url}/webhooks/zalo -H 'Content-Type: application/json' "
        f"-H 'X-ZEvent-Signature: {mac}' --data-binary {shlex.quote(body)}",
        f"  Health: curl -s {base_url}/healthz",
    ])


def cmd_serve(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Migrate, then run gunicorn's gthread workers, each with its claim-loop threads."""
    from bot.catalog import CatalogError
    from webhooks import create_app
    from webhooks.storage import migrate

    checked = _checked(settings)
    if checked is None:
        return 2
    port = args.port or checked.port
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    if checked.demo:
        print(demo_banner(checked, f"http://127.0.0.1:{port}"), flush=True)
    migrate.upgrade(checked.database_url)  # once, before the server processes fork
    try:
        app = create_app({"SETTINGS": checked})  # preloaded: the server processes share the loaded catalog
    except CatalogError as exc:
        print(f"error: the catalog does not load — run `python -m bot lint`:\n{exc}", file=sys.stderr)
        return 1
    gc.collect()
    gc.freeze()  # loaded once, never freed: out of the collector's walks, shared by the forked processes
    options = {"bind": f"{args.host}:{port}", "workers": args.workers, "threads": args.threads}
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
                    "accesslog": "-", "control_socket_disable": True,  # two local servers would share one socket
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
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
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


def _service(command: Callable[..., int]) -> Callable[..., int]:
    # `python -m bot` hands every command the engine's settings; the service reads its own.
    @functools.wraps(command)
    def run(args: argparse.Namespace, _engine_settings: Any = None) -> int:
        return command(args)
    return run


def register(subparsers: Any) -> None:
    """Add `serve` and `worker` to `python -m bot`."""
    p = subparsers.add_parser("serve", help="chạy máy chủ webhook Zalo (gunicorn)")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    p.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    p.add_argument("--threads", type=int, default=8, help="request threads per process (default 8)")
    p.set_defaults(func=_service(cmd_serve))
    p = subparsers.add_parser("worker", help="trả lời và gửi tin ngoài máy chủ web (khi mở rộng)")
    p.add_argument("--burst", action="store_true", help="do what is due now, then stop")
    p.add_argument("--threads", type=int, default=4, help="jobs at once in this process (default 4)")
    p.set_defaults(func=_service(cmd_worker))
