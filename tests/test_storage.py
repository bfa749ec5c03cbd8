"""Storage: migrations match the models, upgrade/downgrade, constraints, time zones, SQLite pragmas."""
from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from tests.conftest import run_in_threads
from webhooks import migrate
from webhooks.db import Database
from webhooks.models import Base, Citizen, Message, Outbox
from webhooks.outbound import as_utc


def test_migrations_match_the_models(db):
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
    lock_path = str(database.writers.path)
    with database.writers.hold():
        with database.writers.hold():  # re-entrant in the holding thread
            held = subprocess.run([sys.executable, "-c", probe, lock_path]).returncode
    free = subprocess.run([sys.executable, "-c", probe, lock_path]).returncode
    assert (held, free) == (3, 0)


def test_sqlite_writers_exclude_a_forked_child(tmp_path):
    """The lock file stays open; a server worker forked after it was opened must not share the parent's lock."""
    import multiprocessing
    import time

    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    with database.writers.hold():
        pass  # the parent's descriptor is open now, and a forked child inherits it
    fork = multiprocessing.get_context("fork")
    acquired, go = fork.Value("d", 0.0), fork.Event()

    def child() -> None:
        go.wait(10)
        with database.writers.hold():
            acquired.value = time.monotonic()

    proc = fork.Process(target=child)  # forked outside any turn, like gunicorn's workers
    proc.start()
    with database.writers.hold():
        go.set()
        time.sleep(0.5)
        released = time.monotonic()
    proc.join(10)
    assert proc.exitcode == 0 and acquired.value >= released  # it waited for our turn to end


def test_kept_connections_are_one_per_thread_and_reused(db):
    from webhooks.db import KeptConnections

    kept = KeptConnections(db.engine)
    with kept.use() as first:
        first.execute(text("SELECT 1"))
    with kept.use() as again:
        assert again is first and not again.in_transaction()  # reused, its transaction ended
    other: list = []

    def use_elsewhere() -> None:
        with kept.use() as conn:
            other.append(conn)

    assert run_in_threads(use_elsewhere, 1) == []
    assert other[0] is not first


def test_a_kept_connection_is_replaced_after_a_database_error_and_rolled_back_after_others(db):
    from sqlalchemy.exc import DBAPIError

    from webhooks.db import KeptConnections

    kept = KeptConnections(db.engine)
    with pytest.raises(DBAPIError):
        with kept.use() as broken:
            broken.execute(text("SELECT * FROM no_such_table"))
    with kept.use() as fresh:
        assert fresh is not broken and fresh.execute(text("SELECT 1")).scalar() == 1
    with pytest.raises(KeyError):
        with kept.use() as conn, conn.begin():
            conn.execute(Citizen.__table__.insert().values(zalo_id="rolled-back"))
            raise KeyError("not a database error")
    with kept.use() as same:
        assert same is fresh  # kept: nothing was wrong with it
        assert same.execute(select(Citizen.id).where(Citizen.zalo_id == "rolled-back")).first() is None


def test_kept_connections_are_replaced_when_older_than_the_pool_would_keep_them(db):
    from webhooks.db import KeptConnections

    kept = KeptConnections(db.engine, max_age=0)
    with kept.use() as first:
        pass
    with kept.use() as second:
        assert second is not first


@pytest.mark.parametrize("threads", [1, 8])
def test_a_worker_pool_has_room_for_every_thread_keeping_both_connections(pg_url, threads):
    import threading

    from bot.settings import Settings
    from webhooks.jobs import Services, kept_pool_size

    database = Database(pg_url, pool_size=kept_pool_size(threads))
    services = Services(settings=Settings.from_env({}, database_url=pg_url), database=database,
                        engines=object(), keep_connections=True)
    # Job threads and the sweeper all hold their two connections at once: a pool without room for
    # them leaves the last to wait for the pool's timeout, and the barrier breaks first.
    holding = threading.Barrier(threads + 1, timeout=10)

    def hold() -> None:
        with services.reader() as read, services.connection() as write:
            assert read.execute(text("SELECT 1")).scalar() == write.execute(text("SELECT 2")).scalar() - 1
            holding.wait()

    try:
        assert run_in_threads(hold, threads + 1) == []
    finally:
        database.dispose()
