"""Real processes for end-to-end tests and benchmarks: `serve`, `worker`, nginx in front, a cuttable TCP proxy."""
from __future__ import annotations

import functools
import json
import os
import re
import signal
import tempfile
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, Iterator

import requests

from webhooks.zalo.signature import SIGNATURE_HEADER, sign

ROOT = Path(__file__).resolve().parent.parent
OA_SECRET = "live-oa-secret-key"
NGINX = Path("/usr/sbin/nginx")


def real_commune(catalog_text: str) -> str:
    """The shipped catalog with its example commune replaced by plausible real data (a live server refuses examples)."""
    text = catalog_text.replace("example: true", "example: false")
    text = re.sub(r"0123 456 (\d{3})", lambda m: f"0912 345 {m.group(1)}", text)
    return re.sub(r" ?\(?VÍ DỤ[^\"\n)]*\)?", "", text)


@functools.lru_cache(maxsize=None)
def live_catalog() -> Path:
    """A procedures.yaml a non-demo server starts on (written once per test run)."""
    path = Path(tempfile.mkdtemp(prefix="live-catalog-")) / "procedures.yaml"
    path.write_text(real_commune((ROOT / "procedures.yaml").read_text(encoding="utf-8")), encoding="utf-8")
    return path


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(fake: Any, port: int, database_url: str, **extra: str) -> dict[str, str]:
    """Environment of `serve` / `worker`: the caller's, minus its bot settings, pointed at the fake Zalo."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZALO_", "BOT_", "DATABASE_URL", "REDIS_URL", "SECRET_KEY"))}
    env.update(PORT=str(port), DATABASE_URL=database_url, ZALO_OA_SECRET_KEY=OA_SECRET, ZALO_APP_ID=fake.app_id,
               ZALO_APP_SECRET=fake.app_secret, ZALO_ACCESS_TOKEN=fake.access_token,
               ZALO_REFRESH_TOKEN=fake.refresh_token, ZALO_API_BASE=fake.url, ZALO_OAUTH_BASE=fake.url,
               SECRET_KEY="live", PYTHONUNBUFFERED="1", BOT_CATALOG=str(live_catalog()),
               BOT_INTENTS=str(ROOT / "intents"), **extra)
    return env


def signed(app_id: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers Zalo would send for `payload`."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    mac = sign(app_id=app_id, raw_body=body, timestamp=payload["timestamp"], secret_key=OA_SECRET)
    return body, {"Content-Type": "application/json", SIGNATURE_HEADER: mac}


def text_event(app_id: str, user: str, msg_id: str, text: str) -> dict[str, Any]:
    """A user_send_text event."""
    return {"app_id": app_id, "event_name": "user_send_text", "sender": {"id": user}, "recipient": {"id": "oa"},
            "message": {"text": text, "msg_id": msg_id}, "timestamp": str(int(time.time() * 1000))}


class Processes:
    """Started child processes, each in its own process group, all stopped by stop_all()."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: list[tuple[subprocess.Popen, IO[bytes], Path]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        """Run `argv` (`python` first for a module) from the repository root, output to <log_dir>/<name>.log."""
        path = self.log_dir / f"{name}.log"
        log = open(path, "ab")
        command = [sys.executable, *argv] if argv[0] == "-m" else argv
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.started.append((process, log, path))
        return process

    def output(self, process: subprocess.Popen) -> str:
        """What a started process has logged so far."""
        for started, log, path in self.started:
            if started is process:
                log.flush()
                return path.read_text(errors="replace")
        return ""

    def cpu_seconds(self, processes: list[subprocess.Popen]) -> float:
        """CPU time (user + system) used so far by the process groups of `processes`, forked children included."""
        groups, ticks = {p.pid for p in processes}, 0
        for entry in (e for e in os.listdir("/proc") if e.isdigit()):
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            if int(fields[2]) in groups:  # after "pid (comm)": state ppid pgrp … utime stime cutime cstime
                ticks += sum(int(f) for f in fields[11:15])
        return ticks / os.sysconf("SC_CLK_TCK")

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL a process and everything it forked, at once: a crash, not a shutdown."""
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        """SIGTERM each group (gunicorn and the workers shut down gracefully), SIGKILL what is left after 15 s."""
        for process, _log, _path in self.started:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process, log, _path in self.started:
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            _signal_group(process, signal.SIGKILL)  # stray forked children too, even if the leader ended
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            log.close()
        self.started = []


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def wait_healthy(base: str, process: subprocess.Popen, timeout: float = 60.0) -> bool:
    """Poll /healthz until 200, the process dies, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with suppress(requests.RequestException):
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
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


def psycopg_url(url: str) -> str:
    """The URL with the installed psycopg (v3) driver."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def pg_schema(url: str, port: int | None = None) -> Iterator[str]:
    """A fresh schema for one run (its URL, via search_path; through `port` when given), dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"live_{uuid.uuid4().hex[:10]}"
    admin = create_engine(psycopg_url(url))
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        scoped = make_url(psycopg_url(url)).update_query_dict({"options": f"-csearch_path={schema}"})
        if port is not None:
            scoped = scoped.set(host="127.0.0.1", port=port)
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


class TcpProxy:
    """Forwards a local port to `target`; cut() drops every connection and refuses new ones until resume()."""

    def __init__(self, target: tuple[str, int]):
        self.target, self.port = target, free_port()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._cut = threading.Event()
        self._listener: socket.socket | None = None
        self._listen()

    def _listen(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by cut() or close()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for s in (source, sink):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """The database is gone: open connections reset, new ones refused."""
        self._cut.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._open:
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._open.clear()

    def resume(self) -> None:
        """The database is back."""
        self._cut.clear()
        self._listen()

    def close(self) -> None:
        """Stop forwarding for good."""
        self.cut()


def nginx_config(tmp: Path, listen: int, upstream: int) -> Path:
    """deploy/nginx.conf with its ports and paths moved into `tmp` (the file as shipped, otherwise)."""
    text = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    text = text.replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{listen};")
    text = text.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};")
    text = text.replace("/var/lib/bot-nginx", str(tmp))
    path = tmp / "nginx.conf"
    path.write_text(text, encoding="utf-8")
    return path
