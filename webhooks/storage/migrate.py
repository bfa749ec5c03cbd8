"""Schema migrations, run programmatically (serve and worker upgrade to head on start)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from webhooks.storage.engine import Database, file_lock

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database: Database | None = None) -> Config:
    """An Alembic Config for migrations/ (no logging reconfiguration when given a database)."""
    config = Config(str(MIGRATIONS / "alembic.ini")) if database is None else Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@contextmanager
def _sqlite_file_lock(db: Database) -> Iterator[None]:
    # `serve` and `worker` may start together; PostgreSQL serialises them with an advisory lock
    # (migrations/env.py), a SQLite file with this lock file beside it.
    name = db.engine.url.database if db.engine.dialect.name == "sqlite" else None
    if not name or name == ":memory:":
        yield
        return
    with file_lock(Path(name).with_name(Path(name).name + ".migrate.lock")):
        yield


def upgrade(database: Database | str, revision: str = "head") -> None:
    """Bring the schema of `database` (a Database or URL) up to `revision`."""
    db = Database(database) if isinstance(database, str) else database
    config = alembic_config(db)
    with _sqlite_file_lock(db), db.engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.commit()
    if isinstance(database, str):
        db.dispose()


def downgrade(database: Database, revision: str) -> None:
    """Step the schema back to `revision` (tests of the migrations themselves)."""
    config = alembic_config(database)
    with database.engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
        connection.commit()


def head_revision() -> str | None:
    """The newest revision in migrations/."""
    return ScriptDirectory.from_config(alembic_config(Database("sqlite://"))).get_current_head()


def current_revision(database: Database) -> str | None:
    """The revision the database is at (None when never migrated)."""
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
