"""`python -m bot serve` (gunicorn + in-process delivery) and `python -m bot worker` (the Redis queue)."""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import shlex
import sys
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from bot.settings import ConfigError, Settings

log = logging.getLogger(__name__)


def _checked(settings: Settings | None) -> Settings | None:
    try:
        return (settings or Settings.from_env()).checked()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def demo_banner(settings: Settings, base_url: str) -> str:
    """What demo mode prints at start: the OA secret key and a signed sample request."""
    from webhooks.zalo import sign

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
    """Migrate, then run gunicorn (see server_size) with delivery threads in each worker."""
    from bot.catalog import CatalogError
    from webhooks import create_app, migrate

    checked = _checked(settings)
    if checked is None:
        return 2
    port = args.port or checked.port
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
    if checked.demo:
        print(demo_banner(checked, f"http://127.0.0.1:{port}"), flush=True)
    migrate.upgrade(checked.database_url)  # once, before workers fork
    try:
        app = create_app({"SETTINGS": checked})  # preloaded: workers share the loaded catalog
    except CatalogError as exc:
        print(f"error: the catalog does not load — run `python -m bot lint`:\n{exc}", file=sys.stderr)
        return 1
    freeze_startup_objects()  # before fork: the workers share these pages and never walk them
    workers, threads = server_size(checked.database_url, args.workers, args.threads)
    options: dict[str, Any] = {"bind": f"{args.host}:{port}", "workers": workers, "threads": threads}
    BotServer(app, options).run()
    return 0


def freeze_startup_objects() -> None:
    """Move everything loaded so far (imports, catalog, matcher) out of the garbage collector's reach.

    They live as long as the process; a full collection walking them paused a worker for 80–250 ms
    here (150,000–200,000 objects), stalling every reply queued behind it.
    """
    gc.collect()
    gc.freeze()


def server_size(database_url: str, workers: int | None, threads: int | None) -> tuple[int, int]:
    """Gunicorn workers × threads: what was asked, else 2 × 8 (both cores: one Python process uses one).

    SQLite has one writer per file; its writers queue on a lock file rather than in SQLite's
    sleeping busy handler (db.SqliteWriters), so two processes share it without second-long tails.
    """
    return (workers or 2), (threads or 8)


class BotServer(BaseApplication):
    """Gunicorn configured in code: preloaded app, gthread workers, delivery threads started after fork."""

    def __init__(self, app: Flask, options: dict[str, Any]):
        self.application, self.options = app, options
        super().__init__()

    def load_config(self) -> None:
        """Apply our defaults, then the caller's options."""
        from webhooks.balance import ConnectionLedger, hooks

        # Room for a replacement to start before the worker it replaces is reaped.
        ledger = ConnectionLedger(slots=2 * int(self.options.get("workers", 1)) + 2)
        defaults = {"worker_class": "webhooks.balance.BalancedWorker", "preload_app": True, "timeout": 30,
                    "graceful_timeout": 10, "accesslog": "-",
                    "control_socket_disable": True,  # two local servers would share one socket
                    "post_fork": _post_fork, "worker_exit": _worker_exit, **hooks(ledger)}
        for key, value in {**defaults, **self.options}.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """The already-built app."""
        return self.application


def _post_fork(server: Any, _worker: Any) -> None:
    from webhooks.db import get_db
    from webhooks.dispatch import get_dispatcher, get_services

    app = server.app.application
    with app.app_context():
        get_db().engine.dispose(close=False)  # never share the parent's pooled connections
    get_dispatcher(app).start()  # in-process threads; a no-op in Redis mode
    app.extensions["bot.intake"].start()  # the spool's drainer: replays what a dead process left first
    if get_services(app).settings.redis_url is None:
        get_services(app).client  # noqa: B018 (built now: its imports and token seeding are not the first reply's wait)


def _worker_exit(server: Any, _worker: Any) -> None:
    from webhooks.dispatch import get_dispatcher

    app = server.app.application
    app.extensions["bot.intake"].close()  # what this process acknowledged is stored before it goes
    get_dispatcher(app).stop()


def cmd_worker(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Run jobs from the Redis queue with Huey's consumer, plus the outbox sweeper."""
    from webhooks import jobs, migrate
    from webhooks.db import Database
    from webhooks.dispatch import RedisDispatcher, Sweeper
    from webhooks.priority import QuietTurns

    checked = _checked(settings)
    if checked is None:
        return 2
    if not checked.redis_url:
        print("error: REDIS_URL is not set; without it `serve` delivers in-process and needs no worker.",
              file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
    logging.getLogger("huey").setLevel(logging.WARNING)  # two lines per job at INFO; failures still show
    if checked.worker_nice:
        os.nice(checked.worker_nice)  # answering yields to acknowledging when both share a host
    migrate.upgrade(checked.database_url)
    database = Database(checked.database_url, pool_size=jobs.kept_pool_size(args.threads))
    services = jobs.Services(settings=checked, database=database, keep_connections=True)
    dispatcher = RedisDispatcher(services)
    services.dispatcher = dispatcher
    if checked.answer_defer_max > 0:  # acknowledging first, when web processes say they are busy
        services.pause = QuietTurns(dispatcher.redis, checked.answer_defer_max)
    jobs.configure(services)
    services.client  # noqa: B018 (built now: token seeding and imports are not the first reply's wait)
    freeze_startup_objects()
    if args.burst:
        print(f"ran {dispatcher.queue.run_until_empty()} job(s)")
        return 0
    # The sweeper runs jobs itself (this process is where jobs run anyway), so a backlog never piles up
    # duplicate queue entries; claims keep it from racing the queued copies.
    sweeper = Sweeper(services, lambda i: jobs.process_inbound(i, services), lambda i: jobs.deliver(i, services))
    sweeper.start()
    try:
        dispatcher.queue.consume(threads=args.threads)
    finally:
        sweeper.stop()
    return 0


def register(subparsers: Any) -> None:
    """Add `serve` and `worker` to `python -m bot`."""
    p = subparsers.add_parser("serve", help="chạy máy chủ webhook Zalo (gunicorn)")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    p.add_argument("--workers", type=int, default=None, help="default: 2")
    p.add_argument("--threads", type=int, default=None, help="default: 8")
    p.set_defaults(func=cmd_serve)
    p = subparsers.add_parser("worker", help="chạy hàng đợi trên Redis khi có REDIS_URL")
    p.add_argument("--burst", action="store_true", help="run the waiting jobs, then stop")
    # Several: a job mostly waits on PostgreSQL and Zalo, and one thread per process fell behind
    # 100 msg/s whenever the host slowed (docs/ARCHITECTURE.md, twelfth session).
    p.add_argument("--threads", type=int, default=4, help="jobs run at once in this process (default 4)")
    p.set_defaults(func=cmd_worker)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m webhooks.cli serve`), for when bot/cli.py is not at hand."""
    parser = argparse.ArgumentParser(prog="python -m webhooks.cli")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
