"""Login, logout, the session user, role checks and the login rate limit."""
from __future__ import annotations

import functools
import hashlib
import hmac
from typing import Callable, TypeVar

from flask import Flask, abort, flash, redirect, render_template, request, session, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from sqlalchemy import select

from webhooks.settings import Settings
from webhooks.admin.blueprint import bp, login_manager
from webhooks.admin.accounts import audit, authenticate
from webhooks.admin.forms import LoginForm
from webhooks.storage.engine import get_session
from webhooks.storage.models import User

F = TypeVar("F", bound=Callable)
LOGIN_LIMIT = "5 per minute"
limiter = Limiter(key_func=get_remote_address, default_limits=[])

login_manager.login_view = "admin.login"
login_manager.login_message = "Vui lòng đăng nhập để tiếp tục."
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"


class StaffUser(UserMixin):
    """The logged-in account as Flask-Login sees it (a snapshot, reloaded every request)."""

    def __init__(self, user: User):
        self.db_id = user.id
        self.username = user.username
        self.role = user.role
        self.fingerprint = _fingerprint(user)

    def get_id(self) -> str:
        # The fingerprint changes with the password or the active flag, ending old sessions.
        return f"{self.db_id}:{self.fingerprint}"

    @property
    def is_admin(self) -> bool:
        """Commune admins manage the catalog and the accounts."""
        return self.role == "admin"


def _fingerprint(user: User) -> str:
    return hashlib.sha256(f"{user.password_hash}|{user.active}".encode()).hexdigest()[:16]


@login_manager.user_loader
def _load_user(user_id: str) -> StaffUser | None:
    db_id, _, fingerprint = user_id.partition(":")
    if not db_id.isdigit():
        return None
    user = get_session().get(User, int(db_id))
    if user is None or not user.active or not hmac.compare_digest(_fingerprint(user), fingerprint):
        return None
    return StaffUser(user)


def init_limiter(app: Flask, settings: Settings) -> None:
    """Attach the login rate limiter (redis when configured, memory otherwise)."""
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


def _safe_next(target: str | None) -> str:
    # Only our own pages: never an absolute URL or a scheme-relative one (open redirect).
    if target and target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("admin.unanswered")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, methods=["POST"])
def login():
    """The login form."""
    if current_user.is_authenticated:
        return redirect(url_for("admin.unanswered"))
    form = LoginForm()
    if form.validate_on_submit():
        db = get_session()
        user = authenticate(db, form.username.data or "", form.password.data or "")
        if user is None:
            form.password.errors.append("Sai tên đăng nhập hoặc mật khẩu, hoặc tài khoản đã bị khoá.")
        else:
            session.clear()  # a fresh session on login (no fixation)
            session.permanent = True
            login_user(StaffUser(user))
            audit(db, user.username, "login")
            db.commit()
            return redirect(_safe_next(request.args.get("next")))
    return render_template("admin/login.html", form=form, title="Đăng nhập"), 200 if not form.errors else 400


@bp.post("/logout")
@login_required
def logout():
    """End the session."""
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
        Handoff.closed_at.is_(None), Handoff.state.is_distinct_from("waiting"))) or 0
