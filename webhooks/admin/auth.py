"""Login, logout, the session user, role checks and the login rate limit."""
from __future__ import annotations

import functools
from typing import Callable, TypeVar

from flask import Flask, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from sqlalchemy import select

from webhooks.settings import Settings
from webhooks.admin.blueprint import bp, login_manager
from webhooks.admin.accounts import audit, authenticate, end_sessions
from webhooks.admin.forms import LoginForm
from webhooks.admin.scoping import Scope, can_edit_province_catalog, chosen_commune, citizens_visible, member_scope
from webhooks.admin.login_limits import (LOCKED_MESSAGE, device_of, failure_keys, is_locked, record_failure,
                                         remember_device)
from webhooks.storage.engine import get_session
from webhooks.storage.models import User

F = TypeVar("F", bound=Callable)
limiter = Limiter(key_func=get_remote_address, default_limits=[])

login_manager.login_view = "admin.login"
login_manager.login_message = "Vui lòng đăng nhập để tiếp tục."
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"


class StaffUser(UserMixin):
    """The logged-in account as Flask-Login sees it (a snapshot, reloaded every request)."""

    def __init__(self, user: User, scope: Scope | None = None):
        self.db_id = user.id
        self.username = user.username
        self.scope = scope
        # The role in the commune being looked at (memberships), else the account's own.
        self.role = scope.role if scope is not None else user.role
        self.epoch = user.session_epoch or 0

    def get_id(self) -> str:
        # The epoch moves on logout, a password or role change and disabling: every older session ends.
        return f"{self.db_id}:{self.epoch}"

    @property
    def is_admin(self) -> bool:
        """Commune admins manage the catalog and the accounts."""
        return self.role == "admin"


@login_manager.user_loader
def _load_user(user_id: str) -> StaffUser | None:
    db_id, _, epoch = user_id.partition(":")
    if not db_id.isdigit() or not epoch.isdigit():
        return None
    user = get_session().get(User, int(db_id))
    if user is None or not user.active or (user.session_epoch or 0) != int(epoch):
        return None
    return StaffUser(user, member_scope(get_session(), user, chosen_commune()))


def init_limiter(app: Flask, settings: Settings) -> None:
    """Attach flask-limiter (Redis when configured, memory otherwise) for request-rate limits; login failures
    are counted in the database instead (login_limits), shared by every process."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.redis_url or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)


def role_required(role: str) -> Callable[[F], F]:
    """Logged-in users only, and only with this role (403 otherwise)."""
    def decorate(view: F) -> F:
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role != role:
                abort(403)
            return view(*args, **kwargs)
        return wrapped  # type: ignore[return-value]
    return decorate


def province_admin_required(view: F) -> F:
    """Shared things (the province catalog, the accounts): admins; once communes exist, province admins only."""
    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not can_edit_province_catalog():
            abort(403)
        return view(*args, **kwargs)
    return wrapped  # type: ignore[return-value]


def _safe_next(target: str | None) -> str:
    # Only our own pages: never an absolute URL or a scheme-relative one (open redirect).
    if target and target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("admin.unanswered")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; failures are limited per account and per address (webhooks.admin.login_limits)."""
    if current_user.is_authenticated:
        return redirect(url_for("admin.unanswered"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        db = get_session()
        name = (form.username.data or "").strip().lower()
        keys = failure_keys(name, request.remote_addr, device_of(request, name))
        if is_locked(db, keys):
            form.password.errors.append(LOCKED_MESSAGE)
            return render_template("admin/login.html", form=form, title="Đăng nhập"), 429
        user = authenticate(db, name, form.password.data or "")
        if user is None:
            record_failure(db, keys)
            db.commit()
            form.password.errors.append("Sai tên đăng nhập hoặc mật khẩu, hoặc tài khoản đã bị khoá.")
        else:
            session.clear()  # a fresh session on login (no fixation)
            session.permanent = True
            login_user(StaffUser(user, member_scope(db, user)))
            audit(db, user.username, "login")
            db.commit()
            response = redirect(_safe_next(request.args.get("next")))
            remember_device(response, user.username, current_app.config["SESSION_COOKIE_SECURE"])
            return response
    if form.errors:
        status = 400
    return render_template("admin/login.html", form=form, title="Đăng nhập"), status


@bp.post("/logout")
@login_required
def logout():
    """End the session, and every other session of this account (a copied cookie is refused afterwards)."""
    db = get_session()
    end_sessions(db, current_user.username)
    db.commit()
    logout_user()
    session.clear()
    flash("Bạn đã đăng xuất.", "info")
    return redirect(url_for("admin.login"))


@bp.get("/")
@login_required
def home():
    """The dashboard starts at the unanswered questions."""
    return redirect(url_for("admin.unanswered"))


def open_handoff_count() -> int:
    """Open handoffs waiting for staff (not for the citizen), for the badge in the menu."""
    from sqlalchemy import func

    from webhooks.storage.models import Handoff

    return get_session().scalar(select(func.count()).select_from(Handoff).where(
        Handoff.closed_at.is_(None), Handoff.state.is_distinct_from("waiting"),
        citizens_visible(Handoff.citizen_id))) or 0
