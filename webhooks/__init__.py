"""The web service: Flask app factory, Zalo channel, storage, delivery, review dashboard."""
from __future__ import annotations

import importlib.util
from typing import Any

from flask import Flask

from bot.settings import Settings


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app; `test_config` may carry SETTINGS (a Settings) and Flask options.

    Service options (all optional): DATABASE (a webhooks.db.Database), ENGINES (an EngineHolder-like
    object with .get()), ZALO_CLIENT (a ZaloClient-like object), DISPATCH_MODE (threads | redis | manual;
    default redis when REDIS_URL is set, else threads — threads start only with dispatcher.start()).
    The schema is not created here: `python -m bot serve` migrates before forking, tests use fixtures.
    """
    from webhooks import db, dispatch, routes
    from webhooks.jobs import Services

    app = Flask(__name__, instance_relative_config=True)
    config = dict(test_config or {})
    settings: Settings = config.pop("SETTINGS", None) or Settings.from_env().checked()
    database = config.pop("DATABASE", None) or db.Database(settings.database_url)
    services = Services(settings=settings, database=database, engines=config.pop("ENGINES", None),
                        client_override=config.pop("ZALO_CLIENT", None))
    mode = config.pop("DISPATCH_MODE", None)
    app.config.update(SETTINGS=settings, SECRET_KEY=settings.secret_key,
                      MAX_CONTENT_LENGTH=settings.max_body_bytes)
    app.config.update(config)

    db.init_app(app, database)
    dispatch.init_app(app, services, mode)
    routes.init_app(app)
    if importlib.util.find_spec("webhooks.admin") is not None:
        from webhooks import admin

        admin.init_app(app)
    return app
