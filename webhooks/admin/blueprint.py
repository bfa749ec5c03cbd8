"""The dashboard's blueprint, its extensions (CSRF, login) and the pieces every page uses."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, Flask, Request, Response, current_app, render_template, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect

from webhooks.settings import Settings

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
               static_folder="static", static_url_path="/static")
csrf = CSRFProtect()
login_manager = LoginManager()

SESSION_LIFETIME = dt.timedelta(hours=8)
# Inline SVG needs no script; nothing on these pages comes from elsewhere but citizens' Zalo avatars.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data: https://*.zadn.vn https://*.zdn.vn; "
                           "style-src 'self'; script-src 'self'; connect-src 'self'; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class DashboardSessions(SecureCookieSessionInterface):
    """Cookie sessions for the dashboard only: other requests (the Zalo webhook) never open one."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        """The dashboard's signed cookie session; None (Flask's read-only null session) elsewhere."""
        # /healthz reads it too: its details are shown to a signed-in admin.
        if not request.path.startswith(bp.url_prefix or "/admin") and request.path != "/healthz":
            return None
        return super().open_session(app, request)


def configure_cookies(app: Flask, settings: Settings) -> None:
    # Plain http is only acceptable for local work: debug, tests, or the demo.
    insecure_ok = app.debug or app.testing or settings.demo
    secure = bool(app.config.get("ADMIN_COOKIE_SECURE", not insecure_ok))
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax", REMEMBER_COOKIE_SECURE=secure,
        SESSION_REFRESH_EACH_REQUEST=True,  # lifetime counts from the last request: an idle timeout
    )
    app.config["PERMANENT_SESSION_LIFETIME"] = app.config.get("ADMIN_SESSION_LIFETIME", SESSION_LIFETIME)
    # The Zalo webhook is signed, not a form: CSRF is checked only on the dashboard's own requests.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", int(SESSION_LIFETIME.total_seconds()))


@bp.before_request
def _protect() -> None:
    if request.method not in ("GET", "HEAD", "OPTIONS") and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "admin.static":
        response.headers["Cache-Control"] = "no-store"  # pages carry citizens' messages
    return response


@bp.errorhandler(CSRFError)
def _csrf_error(error: CSRFError):
    return render_template("admin/error.html", title="Phiên làm việc đã hết hạn",
                           message="Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang và thử lại."), 400


def _error_page(code: int, title: str, message: str):
    def handler(_error):
        return render_template("admin/error.html", title=title, message=message), code
    return handler


bp.register_error_handler(403, _error_page(403, "Không có quyền", "Trang này chỉ dành cho quản trị viên."))
bp.register_error_handler(404, _error_page(404, "Không tìm thấy", "Trang hoặc mục này không tồn tại."))
bp.register_error_handler(429, _error_page(
    429, "Thử quá nhiều lần", "Bạn đã thử đăng nhập quá nhiều lần. Vui lòng đợi một phút rồi thử lại."))


def engine_holder():
    """The EngineHolder the webhook uses (so a reload here is a reload for citizens too)."""
    holder = current_app.extensions.get("bot.engine")
    services = current_app.extensions.get("bot.services")
    if holder is None and services is not None:
        holder = services.engines
    if holder is None:
        from bot.dialogue import EngineHolder

        holder = current_app.extensions.setdefault("bot.engine", EngineHolder(current_app.config["SETTINGS"].engine))
    return holder
