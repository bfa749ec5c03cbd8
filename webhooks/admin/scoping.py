"""Which communes the signed-in member may see: one condition on citizens, applied by every dashboard query."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, session as cookie
from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from webhooks.storage.models import Citizen, Commune, Membership, User

CHOSEN = "commune"  # the cookie session's key for the commune picked in the header ("" = the environment's)


@dataclass(frozen=True)
class Scope:
    """What one member sees: everything, or the citizens of `communes`; `current` is named in audit rows."""

    everything: bool
    communes: frozenset  # of commune ids (None: the environment's commune), when not everything
    current: int | None
    role: str
    province_admin: bool
    multi: bool  # commune rows exist (False: a single-commune deployment, scoping is off)
    choices: tuple = ()  # (id or None, name) the member may pick in the header


def _key(raw: Any) -> int | None:
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


def member_scope(db: Session, user: User, chosen: str | None = None) -> Scope:
    """The scope of `user`, narrowed to the commune `chosen` in the header when they may see it."""
    names = dict(db.execute(select(Commune.id, Commune.name).order_by(Commune.name)).all())
    if not names:  # one commune, no rows: everyone sees everything, as before communes existed
        return Scope(True, frozenset(), None, user.role, user.province_admin, False)
    env_name = "Xã mặc định"
    if user.province_admin:
        choices = ((None, env_name), *names.items())
        if chosen is not None and (_key(chosen) in names or chosen == ""):
            picked = _key(chosen)
            return Scope(False, frozenset({picked}), picked, user.role, True, True, choices)
        return Scope(True, frozenset(), None, user.role, True, True, choices)
    rows = db.execute(select(Membership.commune_id, Membership.role).where(Membership.user_id == user.id)
                      .order_by(Membership.commune_id.is_not(None), Membership.commune_id)).all()
    if not rows:
        return Scope(False, frozenset(), None, "reviewer", False, True)
    roles = dict(rows)
    current = _key(chosen) if chosen is not None and _key(chosen) in roles else rows[0][0]
    if chosen == "" and None in roles:
        current = None
    choices = tuple((cid, names.get(cid, env_name)) for cid, _ in rows)
    return Scope(False, frozenset({current}), current, roles[current], False, True, choices)


def scope() -> Scope:
    """The signed-in member's scope (computed once per request by the user loader)."""
    from flask_login import current_user

    found = getattr(current_user, "scope", None)
    if found is None:  # not signed in: nothing
        return Scope(False, frozenset(), None, "reviewer", False, True)
    return found


def chosen_commune() -> str | None:
    """The commune picked in the header, as kept in the cookie session."""
    return cookie.get(CHOSEN)


def commune_condition(column: Any, current: Scope | None = None) -> ColumnElement[bool]:
    """`column` (a commune_id) is one the member may see."""
    current = current or scope()
    if current.everything:
        return true()
    ids = [c for c in current.communes if c is not None]
    parts = ([column.in_(ids)] if ids else []) + ([column.is_(None)] if None in current.communes else [])
    return or_(*parts) if parts else false()


def citizens_visible(citizen_id: Any, current: Scope | None = None) -> ColumnElement[bool]:
    """`citizen_id` (a column) names a citizen the member may see: the one filter every query uses."""
    current = current or scope()
    if current.everything:
        return true()
    return citizen_id.in_(select(Citizen.id).where(commune_condition(Citizen.commune_id, current)))


def within(citizen_id: Any, current: Scope | None) -> ColumnElement[bool]:
    """citizens_visible for functions also used outside a request (`current` None: every citizen)."""
    return true() if current is None else citizens_visible(citizen_id, current)


def citizen_or_404(db: Session, citizen_id: int) -> Citizen:
    """The citizen, when the member may see them; 404 otherwise (another commune's citizen does not exist)."""
    citizen = db.scalar(select(Citizen).where(Citizen.id == citizen_id, citizens_visible(Citizen.id)))
    if citizen is None:
        abort(404)
    return citizen


def can_edit_province_catalog() -> bool:
    """procedures.yaml is shared by every commune: with communes, only province admins edit it."""
    current = scope()
    return current.role == "admin" and (not current.multi or current.province_admin)

