"""Who a citizen is, for staff: a pseudonym always; the Zalo profile and what they shared, when stored."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
from typing import Any

from sqlalchemy import Connection, select

from webhooks.outbox.writing import as_utc
from webhooks.services import Services
from webhooks.storage.engine import dialect_insert
from webhooks.storage.models import Citizen, CitizenProfile, utcnow

log = logging.getLogger(__name__)
_PROFILES, _CITIZENS = CitizenProfile.__table__, Citizen.__table__
MAX_NAME, MAX_PHONE, MAX_VILLAGE = 255, 32, 255
_PHONE = re.compile(r"^\+?[0-9 .-]{8,20}$")


def pseudonym(zalo_id: str, secret: str) -> str:
    """A stable, non-reversible short id for a citizen (HMAC of the Zalo id with the app secret)."""
    return "cd-" + hmac.new(secret.encode(), zalo_id.encode(), hashlib.sha256).hexdigest()[:12]


def display(profile: Any, label: str) -> str:
    """What staff call the citizen: the name they shared, else their Zalo name, else the pseudonym."""
    if profile is not None:
        name = getattr(profile, "shared_name", None) or getattr(profile, "display_name", None)
        if name:
            return f"{name} ({label})"
    return label


def _save(conn: Connection, citizen_id: int, values: dict[str, Any]) -> None:
    insert = dialect_insert(conn.dialect.name, _PROFILES)
    conn.execute(insert.values(citizen_id=citizen_id, **values)
                 .on_conflict_do_update(index_elements=["citizen_id"], set_=values))


def _text(value: Any, limit: int) -> str | None:
    # Zalo's fields are strings; anything else (or blank) is not stored.
    return value.strip()[:limit] if isinstance(value, str) and value.strip() else None


def refresh_profile(services: Services, citizen_id: int, zalo_id: str, now: dt.datetime | None = None) -> bool:
    """Look the citizen up in Zalo's user-detail API when never done or older than the refresh period."""
    now = now or utcnow()
    with services.database.transaction() as conn:
        fetched = conn.execute(select(_PROFILES.c.fetched_at).where(_PROFILES.c.citizen_id == citizen_id)).scalar()
    if fetched is not None:
        if now - as_utc(fetched) < dt.timedelta(hours=services.settings.profile_refresh_hours):
            return False
    detail = getattr(services.client, "user_detail", lambda _user: None)(zalo_id)
    values: dict[str, Any] = {"fetched_at": now}
    if detail:
        avatars = detail.get("avatars") if isinstance(detail.get("avatars"), dict) else {}
        values["display_name"] = _text(detail.get("display_name"), MAX_NAME)
        values["avatar"] = _text(avatars.get("240") or detail.get("avatar") or avatars.get("120"), 2000)
    with services.database.transaction() as conn:
        if conn.execute(select(_CITIZENS.c.id).where(_CITIZENS.c.id == citizen_id)).first() is not None:
            _save(conn, citizen_id, values)  # a citizen who withdrew meanwhile gets no profile back
    return bool(detail)


def accept_shared_info(conn: Connection, citizen_id: int, payload: dict[str, Any]) -> bool:
    """Store what the citizen chose to share through Zalo's form (user_submit_info); False if unusable."""
    info = payload.get("info")
    if not isinstance(info, dict):
        return False
    phone = _text(info.get("phone"), MAX_PHONE)
    if phone is not None and not _PHONE.match(phone):
        log.info("user_submit_info: phone not stored (not a phone number)")
        phone = None
    village = _text(info.get("address"), MAX_VILLAGE)
    values = {"shared_name": _text(info.get("name"), MAX_NAME), "phone": phone, "village": village,
              "shared_at": utcnow()}
    if not any(values[k] for k in ("shared_name", "phone", "village")):
        return False
    _save(conn, citizen_id, values)
    return True


def mark_info_requested(conn: Connection, citizen_id: int) -> None:
    """Remember that staff sent the request-user-info form (shown on the hand-over page)."""
    _save(conn, citizen_id, {"info_requested_at": utcnow()})
