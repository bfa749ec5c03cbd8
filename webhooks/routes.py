"""HTTP endpoints of the channel: POST /webhooks/zalo and /webhooks/zalo/<commune> (verify, parse, store, wake the claim loop), GET /healthz."""
from __future__ import annotations

import functools
import json
import logging
import multiprocessing
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from flask_login import current_user
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import RequestEntityTooLarge

from webhooks.inbox import intake
from webhooks.storage.engine import get_db
from webhooks.storage.models import Message, Outbox
from webhooks.zalo.events import EventError, parse_event
from webhooks.zalo.signature import SIGNATURE_HEADER, verify_signature

log = logging.getLogger(__name__)
bp = Blueprint("zalo", __name__)
HSTS = "max-age=31536000; includeSubDomains"


class RejectionCounter:
    """Signature rejections, in shared memory so every forked server worker adds to one number."""

    def __init__(self) -> None:
        self._value = multiprocessing.Value("q", 0)

    def add(self) -> int:
        """Count one rejection; returns the new total."""
        with self._value.get_lock():
            self._value.value += 1
            return self._value.value

    @property
    def value(self) -> int:
        """Rejections so far."""
        return int(self._value.value)


def _reject(reason: str, status: int):
    return jsonify(error=reason), status


def _timestamps(payload: dict[str, Any]) -> list[str]:
    # The documented signature uses the body's timestamp; a few clients read X-ZEvent-Timestamp.
    found = []
    stamp = payload.get("timestamp")
    if isinstance(stamp, (str, int)) and not isinstance(stamp, bool):
        found.append(str(stamp))
    header = request.headers.get("X-ZEvent-Timestamp")
    if header and header not in found:
        found.append(header)
    return found


def _signed(raw: bytes, payload: dict[str, Any], commune: Any = None) -> bool:
    # A commune's events are signed with its own OA's app id and secret key; others with the environment's.
    settings = current_app.config["SETTINGS"]
    app_id, key = (commune.app_id, commune.oa_secret_key) if commune is not None else (
        settings.zalo_app_id, settings.zalo_oa_secret_key)
    header = request.headers.get(SIGNATURE_HEADER)
    return any(verify_signature(app_id=app_id, raw_body=raw, timestamp=stamp, secret_key=key, header=header)
               for stamp in _timestamps(payload))


@bp.post("/webhooks/zalo")
def zalo_webhook():
    """Receive one Zalo event: 200 once it is committed; the reply is produced after the response."""
    return _receive(None)


@bp.post("/webhooks/zalo/<slug>")
def commune_webhook(slug: str):
    """One commune's webhook address: its events, checked against its OA's secret."""
    commune = current_app.extensions["bot.services"].communes.registry.by_slug(slug)
    if commune is None:
        return _reject("unknown commune", 404)
    return _receive(commune)


def _receive(commune: Any):
    # `commune`: from the address; on /webhooks/zalo the OA id inside the payload names it, if any.
    raw = request.get_data(cache=False)
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        return _reject("malformed JSON", 400)
    if payload == {}:
        return jsonify(status="ok")  # Zalo's (unsigned) probe when the webhook URL is registered: nothing to do
    if not isinstance(payload, dict):
        return _reject("body is not a JSON object", 400)
    if commune is None:
        commune = current_app.extensions["bot.services"].communes.registry.by_payload(payload)
    if not _signed(raw, payload, commune):
        total = current_app.extensions["bot.signature_rejections"].add()
        log.warning("webhook signature rejected (%d so far): missing or wrong %s. Check %s "
                    "(OA Secret Key) and ZALO_APP_ID against the Zalo developer console.", total, SIGNATURE_HEADER,
                    f"commune {commune.slug}'s OA secret key" if commune is not None else "ZALO_OA_SECRET_KEY")
        return _reject("invalid signature", 401)
    if commune is not None and not commune.enabled:
        return current_app.response_class(_acknowledgement("ignored"), mimetype="application/json")
    try:
        event = parse_event(payload)
    except EventError as exc:
        log.info("webhook event skipped: %s", exc)
        return _reject(str(exc), 400)
    try:
        accepted = intake.accept(get_db(), event, payload, commune.id if commune is not None else None)
    except DBAPIError as exc:  # nothing acknowledged, nothing lost: Zalo retries a webhook that got no 200
        log.error("webhook: could not store %s (%s); answered 503", event.event_name, type(exc).__name__)
        return _reject("database unavailable", 503)
    if accepted.message_id is not None:
        current_app.extensions["bot.workers"].wake()
    if accepted.note == "ignored":
        log.info("webhook event %s (%s) not answered", event.event_name, event.kind)
    return current_app.response_class(_acknowledgement(accepted.note), mimetype="application/json")


@functools.lru_cache(maxsize=None)
def _acknowledgement(note: str) -> bytes:
    # A handful of fixed bodies, encoded once.
    return json.dumps({"result": note, "status": "ok"}).encode() + b"\n"


def _may_see_details() -> bool:
    # Loopback without a forwarding proxy in between (a proxy's own requests come from 127.0.0.1 too), or
    # a signed-in admin (the dashboard's session is opened for /healthz as well).
    if request.remote_addr in ("127.0.0.1", "::1") and "X-Forwarded-For" not in request.headers:
        return True
    return bool(getattr(current_user, "is_authenticated", False) and getattr(current_user, "is_admin", False))


@bp.get("/healthz")
def healthz():
    """ok / not ok (503) to anyone; the details (database, catalog, backlog, rejections) to admins and localhost."""
    report, healthy = _report()
    if not _may_see_details():
        report = {"status": report["status"]}
    return jsonify(report), 200 if healthy else 503


def _report() -> tuple[dict[str, Any], bool]:
    report: dict[str, Any] = {"signature_rejections": current_app.extensions["bot.signature_rejections"].value}
    healthy = True
    try:
        with get_db().session() as session:
            session.execute(text("SELECT 1"))
            report["outbox_backlog"] = session.scalar(
                select(func.count()).select_from(Outbox).where(Outbox.status.in_(("pending", "sending"))))
            report["outbox_failed"] = session.scalar(
                select(func.count()).select_from(Outbox).where(Outbox.status == "failed"))
            report["inbound_backlog"] = session.scalar(select(func.count()).select_from(Message).where(
                Message.direction == "in", Message.status.in_(("received", "answering"))))
        report["database"] = "ok"
    except Exception as exc:
        log.exception("healthz: database check failed")
        report["database"], healthy = f"error: {type(exc).__name__}", False
    try:
        holder = current_app.extensions["bot.services"].engines
        report["catalog_version"] = getattr(getattr(holder.get(), "catalog", None), "version", None)
        if getattr(holder, "last_error", None) is not None:  # a broken edit: the previous version still serves
            report["catalog_error"] = str(holder.last_error)[:500]
    except Exception as exc:
        report["catalog_version"], healthy = None, False
        report["catalog_error"] = str(exc)[:500]
    try:
        layered = current_app.extensions["bot.services"].communes.engines
        if layered.errors:  # those communes answer from their previous version, or not at all if they never loaded
            report["commune_errors"] = {slug: str(exc.problems[0]) for slug, exc in layered.errors.items()}
    except Exception:
        log.exception("healthz: commune layers check failed")
    if current_app.config["SETTINGS"].demo:
        report["demo"] = "demo mode: example commune data and demo secrets, not a live service"
    report["status"] = "ok" if healthy else "degraded"
    return report, healthy


def _strict_transport(response: Any) -> Any:
    # Only over HTTPS (behind a proxy: its X-Forwarded-Proto, trusted with BOT_BEHIND_PROXY): a browser that
    # saw it never falls back to plain http for this host.
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge):
    return _reject("body too large", 413)


def init_app(app: Flask) -> None:
    """Register the webhook and health endpoints, and HSTS on every HTTPS response."""
    app.extensions.setdefault("bot.signature_rejections", RejectionCounter())
    app.register_blueprint(bp)
    app.after_request(_strict_transport)
