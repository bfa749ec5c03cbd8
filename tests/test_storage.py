"""Storage: migrations match the models, upgrade/downgrade, constraints, time zones, SQLite pragmas."""
from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from tests.conftest import run_in_threads
from webhooks.storage import migrate
from webhooks.storage.engine import Database
from webhooks.storage.models import Base, Citizen, Message, Outbox
from webhooks.outbox.writing import as_utc


def test_migrations_match_the_models(db):
    # migrations/versions/ is the schema; the models must say the same, on each database.
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_database_is_at_head(db):
    assert migrate.current_revision(db) == migrate.head_revision() is not None


def test_upgrade_is_idempotent_and_downgrade_reversible(db):
    migrate.upgrade(db)
    migrate.downgrade(db, "base")
    assert migrate.current_revision(db) is None
    assert "messages" not in inspect(db.engine).get_table_names()
    migrate.upgrade(db)
    assert set(Base.metadata.tables) <= set(inspect(db.engine).get_table_names())


def test_fresh_file_database_is_created_on_upgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'nested' / 'bot.db'}"
    migrate.upgrade(url)
    database = Database(url)
    try:
        assert migrate.current_revision(database) == migrate.head_revision()
        with database.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        database.dispose()


def _citizen_and_message(session, msg_id: str = "m1") -> tuple[Citizen, Message]:
    citizen = Citizen(zalo_id="z1")
    session.add(citizen)
    session.flush()
    message = Message(citizen_id=citizen.id, direction="in", msg_id=msg_id, text="x")
    session.add(message)
    session.flush()
    return citizen, message


def test_msg_id_is_unique(db):
    with pytest.raises(IntegrityError):
        with db.session() as s:
            citizen, _ = _citizen_and_message(s)
            s.add(Message(citizen_id=citizen.id, direction="in", msg_id="m1", text="again"))
            s.flush()


def test_outgoing_rows_may_share_a_null_msg_id(db):
    with db.session() as s:
        citizen, _ = _citizen_and_message(s)
        s.add_all([Message(citizen_id=citizen.id, direction="out", text=t) for t in ("a", "b")])
    with db.session() as s:
        assert len(s.scalars(select(Message).where(Message.msg_id.is_(None))).all()) == 2


def test_outbox_source_and_seq_are_unique(db):
    with pytest.raises(IntegrityError):
        with db.session() as s:
            _, message = _citizen_and_message(s)
            for _ in range(2):
                s.add(Outbox(source_id=message.id, seq=0, zalo_id="z1", body={"text": "x"}))
                s.flush()


def test_datetimes_come_back_as_the_same_instant(db):
    moment = dt.datetime(2026, 11, 21, 23, 0, 0, 123456, tzinfo=dt.timezone.utc)
    with db.session() as s:
        s.add(Citizen(zalo_id="z1", first_seen=moment, last_interaction=moment))
    with db.session() as s:
        stored = s.scalars(select(Citizen)).one()
        assert as_utc(stored.last_interaction) == moment
        # Comparisons in SQL use the same representation as the stored values.
        assert s.scalars(select(Citizen.id).where(Citizen.last_interaction <= moment)).one() == stored.id


def test_concurrent_upgrades_of_a_fresh_file_both_succeed(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    errors = run_in_threads(lambda: migrate.upgrade(url), 3)
    assert errors == []
    database = Database(url)
    try:
        assert migrate.current_revision(database) == migrate.head_revision()
    finally:
        database.dispose()


def test_sqlite_writers_exclude_other_processes(tmp_path):
    """One SQLite transaction at a time across processes: the lock file is held while a turn is."""
    import subprocess
    import sys

    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    probe = ("import fcntl, sys\n"
             "f = open(sys.argv[1], 'a+b')\n"
             "try:\n    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n    sys.exit(3)\n")
    lock_path = str(database.turn.path)
    with database.turn.hold():
        with database.turn.hold():  # re-entrant in the holding thread
            held = subprocess.run([sys.executable, "-c", probe, lock_path]).returncode
    free = subprocess.run([sys.executable, "-c", probe, lock_path]).returncode
    assert (held, free) == (3, 0)


def test_sqlite_writers_exclude_a_forked_child(tmp_path):
    """A server process forked from the one that held the turn before waits for it like any other."""
    import multiprocessing
    import time

    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    with database.turn.hold():
        pass
    fork = multiprocessing.get_context("fork")
    acquired, go = fork.Value("d", 0.0), fork.Event()

    def child() -> None:
        go.wait(10)
        with database.turn.hold():
            acquired.value = time.monotonic()

    proc = fork.Process(target=child)  # forked outside any turn, like gunicorn's workers
    proc.start()
    with database.turn.hold():
        go.set()
        time.sleep(0.5)
        released = time.monotonic()
    proc.join(10)
    assert proc.exitcode == 0 and acquired.value >= released  # it waited for our turn to end
