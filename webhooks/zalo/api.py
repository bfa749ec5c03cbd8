"""Zalo OA API client: send a Reply, classify Zalo's answer, keep the access token fresh.

Classification decides what the outbox does next: transient faults (any 5xx, 408, 429, a timeout, a
refused connection, a failed token refresh, rate limits) are retried whatever the body says; known
permanent codes fail at once; codes we do not know are retried a few times before failing.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass
from typing import Any, Callable

import requests
import urllib3

from bot.replies import Reply
from webhooks.settings import Settings
from webhooks.zalo.rendering import render
from webhooks.zalo.tokens import TokenPair, TokenStore

log = logging.getLogger(__name__)

SEND_PATH = "/v3.0/oa/message/cs"
USER_DETAIL_PATH = "/v3.0/oa/user/detail"
OAUTH_PATH = "/v4/oa/access_token"
REFRESH_MARGIN_SECONDS = 600  # refresh before sending when the token expires within 10 minutes
VIETNAM = dt.timezone(dt.timedelta(hours=7))  # Asia/Ho_Chi_Minh, no daylight saving
MORNING_HOUR = 6

RETRY_CODES = {-32: "Zalo giới hạn tốc độ gửi", -211: "OA hết hạn mức gửi tin"}
TOKEN_CODES = {-216: "Access token không hợp lệ", -220: "Access token hết hạn hoặc bị thu hồi"}
NIGHT_CODE = -234
PERMANENT_CODES = {
    -201: "Tham số gửi tin không hợp lệ",
    -213: "Công dân chưa quan tâm (follow) OA",
    -227: "Tài khoản công dân bị khoá hoặc không hoạt động quá 45 ngày",
    -230: "Quá 7 ngày công dân không tương tác",
    -232: "Quá 7 ngày công dân không tương tác",
    -240: "API gửi tin v2.0 đã ngừng hoạt động",
    -244: "Công dân đã chặn loại tin nhắn này",
}


def utcnow() -> dt.datetime:
    """Timezone-aware now (the client's default clock)."""
    return dt.datetime.now(dt.timezone.utc)


def next_morning(now: dt.datetime) -> dt.datetime:
    """The first 06:00 Vietnam time strictly after `now`, as an aware UTC datetime."""
    local = now.astimezone(VIETNAM)
    morning = local.replace(hour=MORNING_HOUR, minute=0, second=0, microsecond=0)
    if morning <= local:
        morning += dt.timedelta(days=1)
    return morning.astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class SendResult:
    """What happened to one send: sent | retry (transient) | unknown (an unknown code) | night | permanent."""

    status: str
    error_code: int | None = None
    message: str = ""
    message_id: str | None = None
    retry_at: dt.datetime | None = None  # aware UTC; set for "night"


class TokenRefreshError(RuntimeError):
    """Zalo refused to refresh the token, or could not be reached; the stored pair is unchanged."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


def _error_code(body: Any) -> int | None:
    if not isinstance(body, dict):
        return None
    code = body.get("error")
    if isinstance(code, bool):
        return None
    try:
        return int(code)
    except (TypeError, ValueError):
        return None


def _send_pool(base: str) -> urllib3.PoolManager:
    """Kept-alive connections for sending, proxy and CA bundle read from the environment once.

    Sends go through urllib3 directly: through requests a send cost twice the CPU (per request it
    re-reads the proxy variables and builds hooks and cookie jars), and there is a send per reply.
    """
    proxy = requests.utils.get_environ_proxies(base).get(base.split(":", 1)[0])
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    options: dict[str, Any] = {"maxsize": 8, "retries": False, **({"ca_certs": bundle} if bundle else {})}
    return urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)


class ZaloClient:
    """Sends replies through the OA and refreshes its token pair (one refresher at a time)."""

    def __init__(self, settings: Settings, token_store: TokenStore, http: requests.Session | None = None,
                 clock: Callable[[], dt.datetime] = utcnow):
        self.settings = settings
        self.tokens = token_store
        self.http = http or requests.Session()  # token refresh: rare, form-encoded
        self.sender = _send_pool(settings.zalo_api_base)
        self.clock = clock

    # -- tokens ----------------------------------------------------------------------------------

    def _current(self) -> TokenPair:
        # Before the first save the store is empty: fall back to the pair from the environment.
        return self.tokens.load() or TokenPair(self.settings.zalo_access_token, self.settings.zalo_refresh_token)

    def _expiring(self, pair: TokenPair) -> bool:
        return pair.expires_within(REFRESH_MARGIN_SECONDS, self.clock())

    def refresh(self) -> TokenPair:
        """Exchange the stored refresh token for a new pair, saved before it is returned."""
        with self.tokens.refresh_lock():
            return self._refresh_locked(self._current())

    def _replace(self, stale_access: str) -> TokenPair:
        """A pair whose access token is not `stale_access`, refreshing only if no one else did."""
        with self.tokens.refresh_lock():
            current = self._current()  # re-read: another process may have refreshed while we waited
            if current.access_token != stale_access and not self._expiring(current):
                return current
            return self._refresh_locked(current)

    def _refresh_locked(self, current: TokenPair) -> TokenPair:
        url = self.settings.zalo_oauth_base + OAUTH_PATH
        form = {"refresh_token": current.refresh_token, "app_id": self.settings.zalo_app_id,
                "grant_type": "refresh_token"}
        try:
            response = self.http.post(url, data=form, headers={"secret_key": self.settings.zalo_app_secret},
                                      timeout=self.settings.http_timeout)
        except requests.RequestException as exc:
            # Zalo may have consumed the refresh token without us seeing the answer; nothing to save.
            raise TokenRefreshError(f"Không gọi được máy chủ cấp token Zalo: {type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TokenRefreshError(f"Máy chủ cấp token Zalo trả lời không hợp lệ (HTTP {response.status_code})")
        access, refresh = body.get("access_token"), body.get("refresh_token")
        if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh):
            code = _error_code(body)
            detail = body.get("error_description") or body.get("error_name") or body.get("message")
            raise TokenRefreshError(f"Zalo từ chối làm mới token: {detail or 'không rõ lý do'} ({code})", code)
        try:
            lifetime = int(body.get("expires_in"))
        except (TypeError, ValueError):
            lifetime = None
        expires_at = self.clock() + dt.timedelta(seconds=lifetime) if lifetime else None
        pair = TokenPair(access, refresh, expires_at)
        self.tokens.save(pair)  # persisted before anyone uses it: the old refresh token is dead now
        log.info("Zalo access token refreshed; expires at %s", expires_at)
        return pair

    # -- sending ---------------------------------------------------------------------------------

    def send(self, user_id: str, reply: Reply) -> SendResult:
        """Send `reply` to the citizen `user_id` and say what the caller should do next."""
        try:
            body = render(reply, user_id)
        except ValueError as exc:  # a bad outbox row must not stop the delivery loop
            return SendResult("permanent", None, f"Không tạo được tin nhắn: {exc}")
        pair = self._current()
        if self._expiring(pair):
            try:
                pair = self._replace(pair.access_token)
            except TokenRefreshError as exc:
                if pair.expires_within(0, self.clock()):
                    return SendResult("retry", exc.code, str(exc))
                log.error("Zalo token refresh failed, sending with the old token while it lasts: %s", exc)
        result = self._post(body, pair.access_token)
        if result.error_code not in TOKEN_CODES:
            return result
        log.warning("Zalo rejected the access token (%s); refreshing once", result.error_code)
        try:
            pair = self._replace(pair.access_token)
        except TokenRefreshError as exc:
            log.error("Zalo token refresh failed: %s", exc)
            return SendResult("retry", exc.code, str(exc))
        result = self._post(body, pair.access_token)
        if result.error_code in TOKEN_CODES:
            return SendResult("retry", result.error_code, result.message + " sau khi làm mới token")
        return result

    def user_detail(self, user_id: str) -> dict[str, Any] | None:
        """Zalo's profile of `user_id` (display_name, avatar…), or None when Zalo did not give one."""
        pair = self._current()
        params = {"data": json.dumps({"user_id": user_id})}
        try:
            response = self.http.get(self.settings.zalo_api_base + USER_DETAIL_PATH, params=params,
                                     headers={"access_token": pair.access_token}, timeout=self.settings.http_timeout)
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            log.warning("Zalo user detail of %s failed: %s", user_id, type(exc).__name__)
            return None
        if _error_code(body) in TOKEN_CODES:
            try:
                self._replace(pair.access_token)
            except TokenRefreshError:
                return None
            return self.user_detail(user_id) if self._current().access_token != pair.access_token else None
        data = body.get("data") if isinstance(body, dict) and _error_code(body) == 0 else None
        return data if isinstance(data, dict) else None

    def _post(self, body: dict[str, Any], access_token: str) -> SendResult:
        """One POST to the send endpoint; token errors come back with status "retry"."""
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"access_token": access_token, "Content-Type": "application/json; charset=utf-8"}
        try:
            # A timeout may hide a delivered message; retrying then risks a duplicate, not a loss.
            response = self.sender.request("POST", self.settings.zalo_api_base + SEND_PATH, body=payload,
                                           headers=headers, timeout=urllib3.Timeout(total=self.settings.http_timeout))
        except urllib3.exceptions.NewConnectionError as exc:  # a ConnectTimeoutError subclass: test first
            return SendResult("retry", None, f"Không kết nối được Zalo: {type(exc).__name__}")
        except urllib3.exceptions.TimeoutError:
            return SendResult("retry", None, "Zalo không trả lời kịp (timeout)")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return SendResult("retry", None, f"Không kết nối được Zalo: {type(exc).__name__}")
        return self.classify(response.status, response.data)

    def classify(self, status: int, content: bytes) -> SendResult:
        """What an answer of the send endpoint means for the outbox."""
        try:
            answer = json.loads(content)
        except ValueError:
            answer = None
        code = _error_code(answer)
        if status >= 500 or status in (408, 429):  # the gateway's state, whatever the body says
            return SendResult("retry", code, f"Zalo tạm thời lỗi (HTTP {status}{f', mã {code}' if code else ''})")
        if code is None:
            if status < 400:
                return SendResult("retry", None, f"Zalo trả lời không hợp lệ (HTTP {status})")
            return SendResult("permanent", None, f"Zalo từ chối yêu cầu (HTTP {status})")
        zalo_message = str(answer.get("message") or "")
        if code == 0:
            data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
            message_id = data.get("message_id")
            return SendResult("sent", 0, "", str(message_id) if message_id is not None else None)
        if code in RETRY_CODES:
            return SendResult("retry", code, f"{RETRY_CODES[code]} ({code})")
        if code in TOKEN_CODES:
            return SendResult("retry", code, f"{TOKEN_CODES[code]} ({code})")
        if code == NIGHT_CODE:
            return SendResult("night", code, f"Không được gửi loại tin này ban đêm, gửi lại sau 06:00 ({code})",
                              retry_at=next_morning(self.clock()))
        if code in PERMANENT_CODES:
            return SendResult("permanent", code, f"{PERMANENT_CODES[code]} ({code})")
        return SendResult("unknown", code, f"Lỗi Zalo chưa biết: {zalo_message or 'không có mô tả'} ({code})")
