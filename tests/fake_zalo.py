"""A real HTTP server on 127.0.0.1 imitating Zalo's send and token endpoints, scriptable by tests."""
from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl

from tests.zalo_echo import echo_payload, post_echo

SEND_PATH = "/v3.0/oa/message/cs"
USER_DETAIL_PATH = "/v3.0/oa/user/detail"
OAUTH_PATH = "/v4/oa/access_token"
INVALID_REFRESH_TOKEN = -14014  # what the fake answers for an unknown or reused refresh token


@dataclass
class SendRecord:
    """One request that reached the send endpoint."""

    user_id: str | None
    body: Any
    headers: dict[str, str]
    time: float
    outcome: str = ""  # sent | error <code> | http <status> | dropped | delayed
    message_id: str | None = None  # what Zalo answered for an accepted send (and echoes back)


@dataclass
class RefreshRecord:
    """One request that reached the token endpoint."""

    form: dict[str, str]
    headers: dict[str, str]
    time: float
    outcome: str = ""  # issued | error <code> | dropped


@dataclass
class _Script:
    """Queued behaviours, consumed one per request in arrival order."""

    drops: int = 0
    lost_answers: int = 0  # accepted (and echoed), then the connection closed before the answer
    delays: deque[float] = field(default_factory=deque)
    statuses: deque[tuple[int, bytes]] = field(default_factory=deque)
    errors: deque[int] = field(default_factory=deque)


class _Dropped(Exception):
    """The request's connection is to be closed without an answer."""


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, as Zalo's API: a new TCP connection per send would measure the fake,
    not the service. Header names keep their underscores (`access_token`, `secret_key`)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    timeout = 10  # idle keep-alive connections end instead of holding a thread forever
    server: "_Server"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, content_type, data = self.server.fake.handle(self.path, headers, body)
        except _Dropped:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, content_type, data = self.server.fake.handle_get(self.path, headers)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass  # one line per request would drown test output


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: "FakeZalo"


class FakeZalo:
    """Fake Zalo OA API: `with FakeZalo() as zalo: ... zalo.url ...`."""

    def __init__(self, *, app_id: str = "fake-app", app_secret: str = "fake-app-secret",
                 access_token: str = "fake-access-1", refresh_token: str = "fake-refresh-1",
                 expires_in: str = "90000"):
        self.app_id, self.app_secret, self.expires_in = app_id, app_secret, expires_in
        self.access_token, self.refresh_token = access_token, refresh_token
        self.sends: list[SendRecord] = []
        self.refreshes: list[RefreshRecord] = []
        self.used_refresh_tokens: set[str] = set()
        self.on_send: Callable[[SendRecord], None] | None = None  # runs in the server thread
        self.oa_id = "fake-oa"
        self.profiles: dict[str, dict[str, Any]] = {}  # user id -> what the user-detail API answers as data
        self.detail_requests: list[str] = []  # user ids looked up
        self._echo_target: tuple[str, str] | None = None  # (webhook URL, OA secret key): see echo_to
        self.is_down = False
        self.oauth_is_down = False
        self._send_script, self._oauth_script = _Script(), _Script()
        self._serial = itertools.count(2)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "FakeZalo":
        """Listen on a free loopback port in a background thread."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        # A short poll interval so stop() returns quickly (shutdown waits for the next poll).
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-zalo", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; delayed handlers wake up and give up."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeZalo":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, usable as both ZALO_API_BASE and ZALO_OAUTH_BASE."""
        assert self._server is not None, "FakeZalo not started"
        return f"http://127.0.0.1:{self._server.server_port}"

    def settings_overrides(self) -> dict[str, str]:
        """Keyword arguments for Settings.from_env(...) pointing the client at this fake."""
        return {"zalo_api_base": self.url, "zalo_oauth_base": self.url, "zalo_app_id": self.app_id,
                "zalo_app_secret": self.app_secret, "zalo_access_token": self.access_token,
                "zalo_refresh_token": self.refresh_token}

    # -- scripting -------------------------------------------------------------------------------

    def fail_next(self, n: int, code: int, *, oauth: bool = False) -> None:
        """The next n requests get HTTP 200 with `{"error": code}`."""
        with self._lock:
            self._script(oauth).errors.extend([code] * n)

    def http_status_next(self, n: int, status: int, *, oauth: bool = False,
                         body: bytes = b"<html>upstream error</html>") -> None:
        """The next n requests get this HTTP status and `body` (HTML by default; JSON or empty as given)."""
        with self._lock:
            self._script(oauth).statuses.extend([(status, body)] * n)

    def delay_next(self, n: int, seconds: float, *, oauth: bool = False) -> None:
        """The next n requests wait this long before being handled (to trigger client timeouts)."""
        with self._lock:
            self._script(oauth).delays.extend([seconds] * n)

    def drop_next(self, n: int, *, oauth: bool = False) -> None:
        """The next n requests have their connection closed without an answer."""
        with self._lock:
            self._script(oauth).drops += n

    def lose_answer_next(self, n: int) -> None:
        """The next n sends are accepted, then their connection closes unanswered (the client cannot know)."""
        with self._lock:
            self._send_script.lost_answers += n

    def echo_to(self, webhook_url: str, oa_secret_key: str) -> None:
        """Post a signed `oa_send_text` echo of every accepted send to `webhook_url`, as Zalo does."""
        self._echo_target = (webhook_url, oa_secret_key)

    def echo_payload(self, record: SendRecord) -> dict[str, Any]:
        """The webhook event Zalo posts back for an accepted send (see tests/zalo_echo.py)."""
        return echo_payload(self.app_id, self.oa_id, record)

    def down(self, *, oauth_only: bool = False) -> None:
        """Every request (or every token refresh only) is dropped until up()."""
        if oauth_only:
            self.oauth_is_down = True
        else:
            self.is_down = True

    def up(self) -> None:
        """Answer requests again."""
        self.is_down = self.oauth_is_down = False

    def expire_access_token(self) -> None:
        """Invalidate the current access token behind the client's back (sends then get -216)."""
        with self._lock:
            self.access_token = f"fake-access-expired-{next(self._serial)}"

    def delivered(self) -> list[SendRecord]:
        """Sends that Zalo accepted."""
        with self._lock:
            return [r for r in self.sends if r.outcome == "sent"]

    def issued(self) -> list[RefreshRecord]:
        """Refreshes that produced a new pair."""
        with self._lock:
            return [r for r in self.refreshes if r.outcome == "issued"]

    def _script(self, oauth: bool) -> _Script:
        return self._oauth_script if oauth else self._send_script

    # -- HTTP ------------------------------------------------------------------------------------

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        """Answer one POST: (status, content type, body); raises _Dropped to close without answering."""
        if path not in (SEND_PATH, OAUTH_PATH):
            return 404, "text/plain", b"not found"
        oauth = path == OAUTH_PATH
        record: SendRecord | RefreshRecord
        if oauth:
            record = RefreshRecord(form=dict(parse_qsl(body.decode("utf-8", "replace"))), headers=headers,
                                   time=time.time())
        else:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            user = payload.get("recipient", {}).get("user_id") if isinstance(payload, dict) else None
            record = SendRecord(user_id=user, body=payload, headers=headers, time=time.time())
        with self._lock:
            (self.refreshes if oauth else self.sends).append(record)  # type: ignore[arg-type]
            script = self._script(oauth)
            down = self.is_down or (oauth and self.oauth_is_down)
            drop = down or script.drops > 0
            if drop and not down:
                script.drops -= 1
            delay = script.delays.popleft() if not drop and script.delays else 0.0
        if drop:
            record.outcome = "dropped"
            raise _Dropped()
        if delay:
            record.outcome = "delayed"
            if self._stopping.wait(delay):
                raise _Dropped()
        with self._lock:
            if script.statuses:
                status, data = script.statuses.popleft()
                record.outcome = f"http {status}"
                return status, "application/json" if data.startswith(b"{") else "text/html", data
            if script.errors:
                code = script.errors.popleft()
                record.outcome = f"error {code}"
                return _json({"error": code, "message": f"scripted error {code}"})
            answer = self._refresh(record) if oauth else self._send(record)  # type: ignore[arg-type]
            lose = not oauth and record.outcome == "sent" and script.lost_answers > 0
            if lose:
                script.lost_answers -= 1
        if not oauth and record.outcome == "sent":
            if self.on_send is not None:
                self.on_send(record)  # type: ignore[arg-type]
            if self._echo_target is not None:  # Zalo's echo comes on its own, whatever our connection does
                echo = (self._echo_target, self.echo_payload(record))
                threading.Thread(target=post_echo, args=echo, daemon=True).start()
        if lose:
            raise _Dropped()
        return _json(answer)

    def handle_get(self, path: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
        """The user-detail endpoint: GET /v3.0/oa/user/detail?data={"user_id": …}."""
        route, _, query = path.partition("?")
        if route != USER_DETAIL_PATH:
            return 404, "text/plain", b"not found"
        try:
            user_id = json.loads(dict(parse_qsl(query)).get("data", "")).get("user_id")
        except (ValueError, AttributeError):
            return _json({"error": -201, "message": "Parameters are invalid"})
        with self._lock:
            self.detail_requests.append(str(user_id))
            if headers.get("access_token") != self.access_token:
                return _json({"error": -216, "message": "Access token is invalid"})
            profile = self.profiles.get(str(user_id))
        if profile is None:
            return _json({"error": -213, "message": "User has not followed the OA"})
        return _json({"error": 0, "message": "Success", "data": {"user_id": user_id, **profile}})

    def _send(self, record: SendRecord) -> dict[str, Any]:
        if record.headers.get("access_token") != self.access_token:
            record.outcome = "error -216"
            return {"error": -216, "message": "Access token is invalid"}
        message = record.body.get("message") if isinstance(record.body, dict) else None
        text = message.get("text") if isinstance(message, dict) else None
        if isinstance(message, dict) and _is_info_form(message):
            text = ""  # the request-user-info template carries no text
        if not record.user_id or not isinstance(text, str) or len(text) > 2000:
            record.outcome = "error -201"
            return {"error": -201, "message": "Parameters are invalid"}
        record.outcome, record.message_id = "sent", f"fake-msg-{next(self._serial)}"
        return {"error": 0, "message": "Success", "data": {"message_id": record.message_id, "user_id": record.user_id}}

    def _refresh(self, record: RefreshRecord) -> dict[str, Any]:
        form, given = record.form, record.form.get("refresh_token", "")
        if (record.headers.get("secret_key") != self.app_secret or form.get("app_id") != self.app_id
                or form.get("grant_type") != "refresh_token"):
            record.outcome = "error -14002"
            return {"error": -14002, "error_name": "Invalid app", "error_description": "app_id or secret_key wrong"}
        if given != self.refresh_token:
            record.outcome = f"error {INVALID_REFRESH_TOKEN}"
            reason = "used" if given in self.used_refresh_tokens else "unknown"
            return {"error": INVALID_REFRESH_TOKEN, "error_name": "Invalid refresh token",
                    "error_description": f"Refresh token is {reason}"}
        # Single use: the old refresh token dies, and only the newest access token is accepted.
        self.used_refresh_tokens.add(given)
        serial = next(self._serial)
        self.access_token, self.refresh_token = f"fake-access-{serial}", f"fake-refresh-{serial}"
        record.outcome = "issued"
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "expires_in": self.expires_in}


def _json(data: dict[str, Any]) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(data, ensure_ascii=False).encode("utf-8")


def _is_info_form(message: dict[str, Any]) -> bool:
    payload = (message.get("attachment") or {}).get("payload") if isinstance(message.get("attachment"), dict) else None
    return isinstance(payload, dict) and payload.get("template_type") == "request_user_info" \
        and isinstance(payload.get("elements"), list) and bool(payload["elements"])
