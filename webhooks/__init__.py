"""The web service: Flask app factory, Zalo channel, storage, answering, outbox delivery, review dashboard."""
from __future__ import annotations

from typing import Any

from flask import Flask

from webhooks.settings import Settings


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app; `test_config` may carry SETTINGS (a webhooks.settings.Settings) and Flask options.

    Service options (all optional): DATABASE (a Database), ENGINES (an EngineHolder-like object with
    .get()), ZALO_CLIENT (a ZaloClient-like object). The claim-loop threads start only with
    app.extensions["bot.workers"].start() (`serve` does it in each server process). The schema is
    not created here: `serve` migrates before forking, tests use fixtures.
    """
    from webhooks import admin, routes
    from webhooks.services import Services
    from webhooks.storage import engine
    from webhooks.workers import Workers

    app = Flask(__name__, instance_relative_config=True)
    config = dict(test_config or {})
    settings: Settings = config.pop("SETTINGS", None) or Settings.from_env().checked()
    database = config.pop("DATABASE", None) or engine.Database(settings.database_url)
    services = Services(settings=settings, database=database, engines=config.pop("ENGINES", None),
                        client_override=config.pop("ZALO_CLIENT", None))
    app.config.update(SETTINGS=settings, SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=settings.max_body_bytes)
    app.config.update(config)
    engine.init_app(app, database)
    app.extensions["bot.services"] = services
    app.extensions["bot.workers"] = Workers(services, settings.answer_threads, settings.poll_seconds)
    routes.init_app(app)
    admin.init_app(app)
    if settings.behind_proxy:  # one trusted hop: the client's address for the dashboard's login limits
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
    return app
