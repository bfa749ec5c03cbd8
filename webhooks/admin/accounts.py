"""Dashboard accounts and the audit log, shared by the CLI and the users page."""
from __future__ import annotations

import re
from typing import Any

from flask import has_request_context
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from webhooks.storage.models import AuditLog, Citizen, Membership, User

ROLES = ("reviewer", "admin")
ROLE_LABELS = {"reviewer": "Tổ công nghệ số", "admin": "Quản trị viên"}
MIN_PASSWORD = 10
# 58 at most: the test chat keys its state "admin:<username>" in a 64-character column.
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,57}$")
# A hash to compare against when the user does not exist, so both paths take the same time.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")


class AccountError(ValueError):
    """A refused account change, with a message fit to show the user."""


def audit(session: Session, username: str, action: str, *, citizen_id: int | None = None, **detail: Any) -> AuditLog:
    """Record who did what, and in which commune: the citizen's touched, else the member's current one."""
    if citizen_id is not None:
        commune_id = session.scalar(select(Citizen.commune_id).where(Citizen.id == citizen_id))
    else:
        commune_id = _current_commune()
    row = AuditLog(username=username, action=action, commune_id=commune_id, detail=detail or None)
    session.add(row)
    return row


def _current_commune() -> int | None:
    # The command line has no member and no commune: its rows name none.
    if not has_request_context():
        return None
    from flask_login import current_user

    scope = getattr(current_user, "scope", None)
    return scope.current if scope is not None else None


def hash_password(password: str) -> str:
    """A salted scrypt hash."""
    return generate_password_hash(password, method="scrypt")


def check_password(password: str) -> None:
    """Refuse passwords too short to resist guessing."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"Mật khẩu phải có ít nhất {MIN_PASSWORD} ký tự")


def find_user(session: Session, username: str) -> User | None:
    """The account with this username, if any."""
    return session.scalar(select(User).where(User.username == username.strip().lower()))


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active account matching these credentials, else None."""
    user = find_user(session, username)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def create_user(session: Session, username: str, password: str, role: str, *, by: str,
                province_admin: bool = False, commune_id: int | None = None) -> User:
    """Create an account (role reviewer or admin) in one commune (None: the environment's), or province-wide."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise AccountError("Tên đăng nhập chỉ gồm chữ thường không dấu, số, dấu chấm, gạch (2–58 ký tự)")
    if role not in ROLES:
        raise AccountError(f"Vai trò phải là một trong: {', '.join(ROLES)}")
    check_password(password)
    if find_user(session, username) is not None:
        raise AccountError(f"Tài khoản {username!r} đã tồn tại")
    user = User(username=username, password_hash=hash_password(password), role=role, active=True,
                province_admin=province_admin)
    session.add(user)
    session.flush()
    if not province_admin:
        session.add(Membership(user_id=user.id, commune_id=commune_id, role=role))
    audit(session, by, "user.add", user=username, role=role, province=province_admin or None, commune=commune_id)
    return user


def set_membership(session: Session, username: str, commune_id: int | None, role: str | None, *, by: str) -> User:
    """Give an account a role in a commune (None: the environment's), or take it away (role None)."""
    if role is not None and role not in ROLES:
        raise AccountError(f"Vai trò phải là một trong: {', '.join(ROLES)}")
    user = _existing(session, username)
    found = session.scalar(select(Membership).where(Membership.user_id == user.id,
                                                    Membership.commune_id.is_(commune_id) if commune_id is None
                                                    else Membership.commune_id == commune_id))
    if role is None and found is not None:
        session.delete(found)
    elif role is not None and found is None:
        session.add(Membership(user_id=user.id, commune_id=commune_id, role=role))
    elif role is not None and found is not None:
        found.role = role
    _bump(user)
    audit(session, by, "user.membership", user=user.username, commune=commune_id, role=role)
    return user


def _existing(session: Session, username: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise AccountError(f"Không có tài khoản {username!r}")
    return user


def set_active(session: Session, username: str, active: bool, *, by: str) -> User:
    """Disable (or re-enable) an account; a disabled account cannot log in and its sessions end."""
    user = _existing(session, username)
    user.active = active
    _bump(user)  # re-enabling must not revive the sessions disabling ended
    audit(session, by, "user.enable" if active else "user.disable", user=user.username)
    return user


def set_password(session: Session, username: str, password: str, *, by: str) -> User:
    """Change an account's password (all its sessions end)."""
    check_password(password)
    user = _existing(session, username)
    user.password_hash = hash_password(password)
    _bump(user)
    audit(session, by, "user.passwd", user=user.username)
    return user


def set_role(session: Session, username: str, role: str, *, by: str) -> User:
    """Change an account's role (its sessions end: it logs in again with the new rights)."""
    if role not in ROLES:
        raise AccountError(f"Vai trò phải là một trong: {', '.join(ROLES)}")
    user = _existing(session, username)
    user.role = role
    _bump(user)
    audit(session, by, "user.role", user=user.username, role=role)
    return user


def _bump(user: User) -> None:
    user.session_epoch = (user.session_epoch or 0) + 1


def end_sessions(session: Session, username: str) -> None:
    """End every session of this account, server-side (logout)."""
    user = find_user(session, username)
    if user is not None:
        _bump(user)


def list_users(session: Session) -> list[User]:
    """All accounts, by username."""
    return list(session.scalars(select(User).order_by(User.username)))
