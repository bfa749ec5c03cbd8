"""A member links their Zalo account to their dashboard account by sending the OA a one-time code.

The code is recognised here, before the engine sees the message: the engine knows nothing of staff.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets

from sqlalchemy import Connection, select, update

from webhooks.outbox.writing import as_utc
from webhooks.services import Services
from webhooks.storage.models import StaffContact, User, utcnow

CODE_LIFETIME = dt.timedelta(minutes=15)
# "CB-123456": letters make it unlike anything a citizen types (and unlike an OTP, which is masked).
CODE = re.compile(r"^\s*cb[\s-]?(\d{6})\s*$", re.IGNORECASE)
_CONTACTS, _USERS = StaffContact.__table__, User.__table__


def new_code(conn: Connection, user_id: int, now: dt.datetime | None = None) -> str:
    """A fresh code for this member (replacing any earlier one), valid for CODE_LIFETIME."""
    now = now or utcnow()
    code = f"CB-{secrets.randbelow(10**6):06d}"
    while conn.execute(select(_CONTACTS.c.user_id).where(_CONTACTS.c.link_code == code)).first() is not None:
        code = f"CB-{secrets.randbelow(10**6):06d}"
    ensure_contact(conn, user_id)
    conn.execute(update(_CONTACTS).where(_CONTACTS.c.user_id == user_id)
                 .values(link_code=code, link_expires=now + CODE_LIFETIME))
    return code


def ensure_contact(conn: Connection, user_id: int) -> None:
    """The member's contact row, created with the defaults (every alert, both channels) when absent."""
    if conn.execute(select(_CONTACTS.c.user_id).where(_CONTACTS.c.user_id == user_id)).first() is None:
        conn.execute(_CONTACTS.insert().values(user_id=user_id, by_email=True, by_zalo=True))


def link_reply(services: Services, text: str, zalo_id: str, now: dt.datetime | None = None) -> str | None:
    """If `text` is a link code: link the sender's Zalo account and say so; None for anything else."""
    found = CODE.match(text or "")
    if not found:
        return None
    code, now = f"CB-{found.group(1)}", now or utcnow()
    with services.database.transaction() as conn:
        member = conn.execute(select(_CONTACTS.c.user_id, _CONTACTS.c.link_expires, _USERS.c.username)
                              .join(_USERS, _USERS.c.id == _CONTACTS.c.user_id)
                              .where(_CONTACTS.c.link_code == code, _USERS.c.active.is_(True))).first()
        expires = as_utc(member.link_expires) if member else None
        if member is None or expires is None or expires < now:
            return "Mã liên kết không đúng hoặc đã hết hạn. Hãy tạo mã mới trong bảng điều khiển (mục Thông báo)."
        # One Zalo account belongs to one member: a link elsewhere moves here.
        conn.execute(update(_CONTACTS).where(_CONTACTS.c.zalo_id == zalo_id).values(zalo_id=None))
        conn.execute(update(_CONTACTS).where(_CONTACTS.c.user_id == member.user_id)
                     .values(zalo_id=zalo_id, link_code=None, link_expires=None))
    return (f"Đã liên kết Zalo này với tài khoản {member.username} trên bảng điều khiển. "
            "Bạn sẽ nhận thông báo khi người dân cần cán bộ.")
