"""Review dashboard under /admin: login, unanswered questions, handoffs, failed replies, stats, test chat, catalog."""
from __future__ import annotations

from flask import Flask

from webhooks.admin.blueprint import DashboardSessions, bp, configure_cookies, csrf, engine_holder, login_manager
from webhooks.settings import Settings

__all__ = ["engine_holder", "init_app"]


def init_app(app: Flask) -> None:
    """Register the dashboard, its login, CSRF protection and login rate limit on `app`."""
    from webhooks.admin import auth, common, export, views_catalog, views_chat, views_handoffs  # noqa: F401
    from webhooks.admin import views_failed, views_stats, views_unanswered, views_users  # noqa: F401
    from webhooks.admin import views_alerts, views_inbox  # noqa: F401
    from webhooks.admin import views_drafts, views_history  # noqa: F401
    from webhooks.admin import views_province  # noqa: F401
    from webhooks.admin.auth import init_limiter

    settings: Settings = app.config["SETTINGS"]
    configure_cookies(app, settings)
    app.session_interface = DashboardSessions()
    hooks = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    before = [list(registry.get(None, ())) for registry in hooks]
    csrf.init_app(app)
    login_manager.init_app(app)
    init_limiter(app, settings)
    # These extensions hook every request of the app; only the dashboard's are their business (the
    # webhook needs no rate-limit bookkeeping). Flask runs hooks registered under a blueprint's name
    # for that blueprint's requests only, so theirs move there.
    for registry, existing in zip(hooks, before):
        added = [hook for hook in registry.get(None, []) if hook not in existing]
        registry[None] = existing
        registry.setdefault(bp.name, []).extend(added)
    app.register_blueprint(bp)
