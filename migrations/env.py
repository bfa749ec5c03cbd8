"""Alembic environment: webhooks.storage.models metadata; the connection comes from webhooks.storage.migrate or the URL."""
from __future__ import annotations

import logging.config
import zlib

from alembic import context
from sqlalchemy import create_engine, text

from webhooks.storage.models import Base

config = context.config
if config.config_file_name and not config.attributes.get("connection"):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

# Serve and worker may start together on PostgreSQL: one migrates, the other waits for it.
MIGRATION_LOCK_KEY = zlib.crc32(b"zalo-bot-migrations")


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from webhooks.settings import Settings

    return Settings.from_env().database_url


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it."""
    context.configure(url=_url(), target_metadata=Base.metadata, literal_binds=True,
                      render_as_batch=_url().startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the given connection, or one opened from the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url())
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
