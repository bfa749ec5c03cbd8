"""Login limits counted in the database, so every server process sees the same count.

A failed login counts against the account and the address it came from. A browser that has logged in to an
account before carries a signed device cookie: its failures count against that account on that browser
only, and the account's and the address's lock-outs do not apply to it. So someone guessing at one
account, or at many from a shared office address, cannot lock out staff working from their usual browsers.
"""
from __future__ import annotations

import datetime as dt
import secrets

from flask import Request, Response, current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from webhooks.storage.models import LoginFailure, utcnow

WINDOW = dt.timedelta(minutes=15)
LIMITS = {"account": 5, "device": 5, "address": 20}  # failures within WINDOW before the lock-out
DEVICE_COOKIE = "thiet_bi"
DEVICE_LIFETIME = dt.timedelta(days=180)
LOCKED_MESSAGE = (f"Đăng nhập tạm khoá do nhập sai nhiều lần. Vui lòng thử lại sau {WINDOW.seconds // 60} phút, "
                  "hoặc đăng nhập từ trình duyệt bạn vẫn dùng.")


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="dashboard-device")


def device_of(request: Request, username: str) -> str | None:
    """The nonce of this browser's device cookie for `username`, if it carries a valid one."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return None
    try:
        data = _signer().loads(raw, max_age=int(DEVICE_LIFETIME.total_seconds()))
    except BadSignature:
        return None
    return data.get("n") if isinstance(data, dict) and data.get("u") == username else None


def remember_device(response: Response, username: str, secure: bool) -> None:
    """Give this browser a device cookie for `username` (after a successful login)."""
    value = _signer().dumps({"u": username, "n": secrets.token_urlsafe(12)})
    response.set_cookie(DEVICE_COOKIE, value, max_age=int(DEVICE_LIFETIME.total_seconds()), path="/admin",
                        httponly=True, secure=secure, samesite="Strict")


def failure_keys(username: str, address: str | None, device: str | None) -> list[str]:
    """What a failure from here counts against."""
    if device is not None:
        return [f"device:{username}:{device}"]
    return [f"account:{username}", f"address:{address or '?'}"]


def is_locked(session: Session, keys: list[str], now: dt.datetime | None = None) -> bool:
    """Whether any of these keys has reached its limit within the window."""
    since = (now or utcnow()) - WINDOW
    counts = dict(session.execute(select(LoginFailure.key, func.count()).where(
        LoginFailure.key.in_(keys), LoginFailure.at > since).group_by(LoginFailure.key)).all())
    return any(counts.get(key, 0) >= LIMITS[key.split(":", 1)[0]] for key in keys)


def record_failure(session: Session, keys: list[str], now: dt.datetime | None = None) -> None:
    """Count one failure against each key (and forget failures older than the window)."""
    now = now or utcnow()
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - WINDOW))
    session.execute(insert(LoginFailure), [{"key": key[:160], "at": now} for key in keys])
