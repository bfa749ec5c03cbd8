"""Processes of `bench-webhook`: the real server, queue workers, and the bare baseline under `serve`'s gunicorn."""
# `python -m webhooks.bench_servers --port P --workers W --threads T` serves the bare baseline: a Flask app
# whose route answers 200, run by `serve`'s own BotServer class with the same options.
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

import requests
from flask import Flask, jsonify, request

ROOT = Path(__file__).resolve().parent.parent
OA_SECRET = "bench-oa-secret-key"


def bare_app() -> Flask:
    """The baseline: the webhook's path, reading the body and answering 200 — no verification, no storage."""
    app = Flask(__name__)

    @app.post("/webhooks/zalo")
    def webhook():  # type: ignore[no-untyped-def]
        request.get_data(cache=False)
        return jsonify(status="ok")

    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        return jsonify(status="ok")

    return app


def _noop(_server: Any, _worker: Any) -> None:
    """The bare app has no database nor delivery threads to set up after fork."""


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(fake: Any, port: int, database_url: str, redis_url: str | None) -> dict[str, str]:
    """Environment of `serve` / `worker`: the caller's, minus its bot settings, pointed at the fake Zalo."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZALO_", "BOT_", "DATABASE_URL", "REDIS_URL", "SECRET_KEY"))}
    env.update(PORT=str(port), DATABASE_URL=database_url, ZALO_OA_SECRET_KEY=OA_SECRET, ZALO_APP_ID=fake.app_id,
               ZALO_APP_SECRET=fake.app_secret, ZALO_ACCESS_TOKEN=fake.access_token,
               ZALO_REFRESH_TOKEN=fake.refresh_token, ZALO_API_BASE=fake.url, ZALO_OAUTH_BASE=fake.url,
               SECRET_KEY="bench", PYTHONUNBUFFERED="1")
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


class Processes:
    """Started child processes (each in its own process group), all stopped by stop_all()."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: list[tuple[subprocess.Popen, IO[bytes], Path]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        """Run `python <argv>` from the repo root, output to <log_dir>/<name>.log."""
        path = self.log_dir / f"{name}.log"
        log = open(path, "ab")
        process = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append((process, log, path))
        return process

    def output(self, process: subprocess.Popen) -> str:
        """What a started process has logged so far."""
        for started, log, path in self.started:
            if started is process:
                log.flush()
                return path.read_text(errors="replace")
        return ""

    def cpu_seconds(self, processes: list[subprocess.Popen]) -> float | None:
        """CPU time (user + system) used so far by the process groups of `processes` (None off Linux).

        Each was started in its own session, so its group holds gunicorn's forked workers too; a
        worker that already exited counts in its reaped parent's children's times.
        """
        groups, ticks = {p.pid for p in processes}, 0
        try:
            entries = [e for e in os.listdir("/proc") if e.isdigit()]
        except OSError:
            return None
        for entry in entries:
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            if int(fields[2]) in groups:  # fields after "pid (comm)": state ppid pgrp … utime stime cutime cstime
                ticks += sum(int(f) for f in fields[11:15])
        return ticks / os.sysconf("SC_CLK_TCK")

    def tail(self, process: subprocess.Popen, lines: int = 30) -> str:
        """The end of a process's log (for error messages)."""
        return "\n".join(self.output(process).splitlines()[-lines:])

    def stop_all(self) -> None:
        """SIGTERM each group (gunicorn and the queue workers shut down gracefully), SIGKILL what is left after 15 s."""
        for process, _log, _path in self.started:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process, log, _path in self.started:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(process, signal.SIGKILL)  # stray gunicorn workers too, even if the master ended
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass  # unkillable (D state); nothing more we can do
            log.close()
        self.started = []


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_healthy(base: str, process: subprocess.Popen, timeout: float = 60.0) -> bool:
    """Poll /healthz until 200, the process dies, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return False


def wait_ready(procs: "Processes", workers: list[subprocess.Popen], timeout: float = 60.0) -> bool:
    """Wait until every `python -m bot worker` in `workers` logged that it consumes (engine loaded)."""
    from webhooks.task_queue import READY

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in workers):
            return False
        if all(READY in procs.output(process) for process in workers):
            return True
        time.sleep(0.1)
    return False


def backlog(base: str) -> int | None:
    """Unanswered inbound plus unsent outbox rows according to /healthz (None when it does not answer)."""
    try:
        report = requests.get(base + "/healthz", timeout=5).json()
        return int(report["inbound_backlog"]) + int(report["outbox_backlog"])
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None


def wait_drained(base: str, timeout: float) -> tuple[bool, float]:
    """Wait (at most `timeout` s) until /healthz shows no backlog; returns (drained, seconds waited)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if backlog(base) == 0:
            return True, round(time.monotonic() - started, 1)
        time.sleep(0.25)
    return backlog(base) == 0, round(time.monotonic() - started, 1)


def psycopg_url(url: str) -> str:
    """The URL with the installed psycopg (v3) driver."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def pg_schema(url: str) -> Iterator[str]:
    """A fresh schema for one run (the URL of it, via search_path), dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(psycopg_url(url))
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        scoped = make_url(psycopg_url(url)).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def empty_queue(redis_url: str) -> int:
    """Drop jobs a killed earlier run left in the bot's queue (their ids point into a dropped schema)."""
    from webhooks.task_queue import build_queue

    queue = build_queue(redis_url, blocking=False)
    try:
        return queue.flush()
    finally:
        queue.redis.connection_pool.disconnect()


def main(argv: list[str] | None = None) -> int:
    """Serve the bare baseline with `serve`'s gunicorn configuration."""
    from webhooks.cli import BotServer

    parser = argparse.ArgumentParser(prog="python -m webhooks.bench_servers")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    options = {"bind": f"127.0.0.1:{args.port}", "workers": args.workers, "threads": args.threads,
               "post_fork": _noop, "worker_exit": _noop}
    BotServer(bare_app(), options).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
