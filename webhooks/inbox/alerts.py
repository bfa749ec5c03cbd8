"""Staff alerts: written with the answer that calls for them, delivered from the claim loop with retries.

A hand-over, an emergency or a "wrong answer" report is a StaffAlert row committed in the same
transaction as the bot's reply, so the citizen's reply never waits for an alert and an alert is never
lost. Delivering one: members who linked their Zalo account get a message through the outbox (like any
reply; only inside Zalo's 7-day window), members with an e-mail address get one e-mail; a failed
e-mail is tried again with backoff, the Zalo part is never queued twice.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select, update

from bot.replies import Reply
from webhooks.inbox.people import display, pseudonym, refresh_profile
from webhooks.outbox.mail import MailError, mail_configured, send_mail
from webhooks.outbox.retries import backoff
from webhooks.outbox.writing import deadline, within_window, write_replies
from webhooks.services import Services
from webhooks.storage.models import (Citizen, CitizenProfile, Commune, Handoff, Membership, Message, StaffAlert,
                                     StaffContact, User, const, utcnow)

log = logging.getLogger(__name__)

KINDS = {"handoff": "Người dân cần gặp cán bộ", "emergency": "KHẨN CẤP", "wrong_answer": "Bot trả lời sai"}
MAIL_TRIES = 8  # then the alert is failed (the dashboard still shows the hand-over and its count)
QUOTE = 300

_ALERTS = StaffAlert.__table__
_NEXT = (select(_ALERTS.c.id)
         .where(or_(and_(_ALERTS.c.status == const("pending"), _ALERTS.c.next_attempt_at <= bindparam("now")),
                    and_(_ALERTS.c.status == const("sending"), _ALERTS.c.lease_until < bindparam("now"))))
         .order_by(_ALERTS.c.id).limit(1).with_for_update(skip_locked=True))
_CLAIM = (update(_ALERTS).where(_ALERTS.c.id == _NEXT.scalar_subquery())
          .values(status="sending", lease_until=bindparam("lease"))
          .returning(_ALERTS.c.id, _ALERTS.c.kind, _ALERTS.c.citizen_id, _ALERTS.c.message_id,
                     _ALERTS.c.attempts, _ALERTS.c.zalo_done))
_RECORD = update(_ALERTS).where(_ALERTS.c.id == bindparam("alert_id"), _ALERTS.c.lease_until == bindparam("lease"))


def queue_alert(conn: Connection, kind: str, citizen_id: int, message_id: int | None) -> None:
    """Write an alert in the caller's transaction (the answer's): it is delivered after the commit."""
    if kind not in KINDS:
        raise ValueError(f"unknown alert kind {kind!r}")
    now = utcnow()
    conn.execute(insert(_ALERTS), {"kind": kind, "citizen_id": citizen_id, "message_id": message_id,
                                   "status": "pending", "attempts": 0, "next_attempt_at": now,
                                   "zalo_done": False, "created_at": now})


def recipients(conn: Connection, kind: str, citizen_id: int | None = None) -> list[Any]:
    """Active members who want alerts of `kind` and may see the citizen's commune (username, email, by_email,
    zalo_id, by_zalo): with communes, province admins and members of that commune only."""
    users, contacts = User.__table__, StaffContact.__table__
    query = (select(users.c.username, contacts.c.email, contacts.c.by_email, contacts.c.zalo_id,
                    contacts.c.by_zalo, contacts.c.kinds)
             .join(contacts, contacts.c.user_id == users.c.id).where(users.c.active.is_(True)))
    if citizen_id is not None and conn.execute(select(Commune.__table__.c.id).limit(1)).first() is not None:
        citizens, members = Citizen.__table__, Membership.__table__
        commune = select(citizens.c.commune_id).where(citizens.c.id == citizen_id).scalar_subquery()
        member = select(members.c.id).where(members.c.user_id == users.c.id, or_(
            members.c.commune_id == commune, and_(members.c.commune_id.is_(None), commune.is_(None)))).exists()
        query = query.where(or_(users.c.province_admin.is_(True), member))
    rows = conn.execute(query).all()
    return [r for r in rows if r.kinds is None or kind in r.kinds]


def compose(services: Services, conn: Connection, kind: str, citizen_id: int,
            message_id: int | None) -> tuple[str, str] | None:
    """(subject, text) of an alert; None when the citizen is gone (withdrew)."""
    citizen = conn.execute(select(Citizen.__table__.c.zalo_id).where(Citizen.__table__.c.id == citizen_id)).first()
    if citizen is None:
        return None
    profile = conn.execute(select(CitizenProfile.__table__).where(
        CitizenProfile.__table__.c.citizen_id == citizen_id)).first()
    who = display(profile, pseudonym(citizen.zalo_id, services.settings.secret_key))
    question = conn.execute(select(Message.__table__.c.text).where(Message.__table__.c.id == message_id)).scalar() \
        if message_id is not None else None
    handoff = conn.execute(select(Handoff.__table__.c.id).where(Handoff.__table__.c.citizen_id == citizen_id,
                                                                Handoff.__table__.c.closed_at.is_(None))).scalar()
    base = services.settings.public_url or ""
    if kind == "wrong_answer":
        link = f"{base}/admin/cau-hoi"
    else:  # the conversation when a hand-over is open, else the inbox
        link = f"{base}/admin/gap-can-bo" + (f"/{handoff}" if handoff else "")
    lines = [{"handoff": f"Người dân {who} muốn gặp cán bộ.",
              "emergency": f"KHẨN CẤP: người dân {who} có thể đang gặp nguy hiểm. Bot đã gửi số khẩn cấp.",
              "wrong_answer": f"Người dân {who} báo bot trả lời sai."}[kind]]
    if question:
        lines.append(f"Tin nhắn: “{question[:QUOTE]}”")
    lines.append(f"Mở bảng điều khiển: {link}")
    return f"[Trợ lý xã] {KINDS[kind]}: {who}", "\n".join(lines)


def _queue_zalo(services: Services, conn: Connection, members: list[Any], text: str, now: dt.datetime) -> int:
    """Alerts to linked members through the outbox; only inside their own 7-day window. How many."""
    citizens = Citizen.__table__
    queued = 0
    for member in members:
        if not (member.by_zalo and member.zalo_id):
            continue
        row = conn.execute(select(citizens).where(citizens.c.zalo_id == member.zalo_id)).first()
        if row is None or not row.following or not within_window(row, now):
            log.info("alert to %s by Zalo skipped: outside Zalo's 7-day window (e-mail still goes)", member.username)
            continue
        horizon = dt.timedelta(hours=services.settings.reply_horizon_hours)
        write_replies(conn, citizen_id=row.id, zalo_id=row.zalo_id, source_id=None, replies=[Reply(text)],
                      expires_at=deadline(row.last_interaction, horizon, now), system=True)
        queued += 1
    return queued


def deliver_alert_next(services: Services, now: dt.datetime | None = None) -> str | None:
    """Claim one due alert and deliver it; what happened (sent, retry, failed, gone), or None."""
    now = now or utcnow()
    lease = now + dt.timedelta(seconds=services.settings.lease_seconds)
    with services.database.transaction() as conn:
        alert = conn.execute(_CLAIM, {"now": now, "lease": lease}).first()
        zalo_id = conn.execute(select(Citizen.__table__.c.zalo_id).where(
            Citizen.__table__.c.id == alert.citizen_id)).scalar() if alert else None
    if alert is None:
        return None
    if zalo_id is not None:
        try:
            refresh_profile(services, alert.citizen_id, zalo_id, now)  # the alert can then name the citizen
        except Exception:  # a name is a nicety: the alert goes without it
            log.exception("alert %s: profile lookup failed", alert.id)
    with services.database.transaction() as conn:
        composed = compose(services, conn, alert.kind, alert.citizen_id, alert.message_id)
        if composed is None:
            conn.execute(_RECORD, {"alert_id": alert.id, "lease": lease, "status": "failed", "lease_until": None,
                                   "last_error": "người dân đã xoá dữ liệu"})
            return "gone"
        members = recipients(conn, alert.kind, alert.citizen_id)
        if not alert.zalo_done:
            _queue_zalo(services, conn, members, composed[1], now)
            conn.execute(_RECORD, {"alert_id": alert.id, "lease": lease, "zalo_done": True})
    addresses = sorted({m.email for m in members if m.by_email and m.email})
    values: dict[str, Any] = {"status": "sent", "sent_at": now, "lease_until": None, "last_error": None}
    if addresses and mail_configured(services.settings):
        try:
            refused = send_mail(services.settings, addresses, *composed)
            if refused:
                values["last_error"] = "Địa chỉ bị từ chối: " + ", ".join(refused)
        except MailError as exc:
            tries = alert.attempts + 1
            values = {"status": "failed" if tries >= MAIL_TRIES else "pending", "attempts": tries,
                      "lease_until": None, "last_error": f"Gửi e-mail lỗi: {exc}",
                      "next_attempt_at": now + backoff(alert.attempts, services.settings.retry_base * 5,
                                                       services.settings.retry_cap)}
            log.warning("alert %s: e-mail failed (%s), attempt %d", alert.id, exc, tries)
    with services.database.transaction() as conn:
        conn.execute(_RECORD, {"alert_id": alert.id, "lease": lease, **values})
    return values["status"] if values["status"] != "pending" else "retry"

