"""PostgreSQL's folded statements: which state swap a turn needs, and how many statements a message costs."""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import event, select

from webhooks import jobs
from webhooks.bulk_sql import Bound
from webhooks.models import Message, Outbox
from webhooks.pg_statements import ABSENT, DELETE, INSERT, UPDATE, state_change
from tests.test_processing import store, text_event


@pytest.mark.parametrize("before, after, change", [
    (None, {"a": 1}, INSERT), ({"a": 1}, {"a": 2}, UPDATE), ({"a": 1}, None, DELETE), (None, None, ABSENT),
    ({}, {}, UPDATE),  # an empty state is still a stored row
])
def test_state_change(before, after, change):
    assert state_change(before, after) == change


@pytest.mark.parametrize("kept", [False, True], ids=["pooled", "kept"])
def test_answering_and_sending_a_message_on_postgresql_takes_four_statements(services, kept, monkeypatch):
    if services.database.engine.dialect.name != "postgresql":
        pytest.skip("the folded statements are PostgreSQL's; SQLite runs the plain ones in-process")
    if kept:  # as `python -m bot worker` runs it: each thread keeps its connections
        services = dataclasses.replace(services, keep_connections=True)
        assert services._kept is not None
    jobs.process_inbound(store(services, text_event("xin chào", "m0", user="u0")), services)  # tokens read once
    message_id = store(services, text_event("lam giay khai sinh", "m1"))
    seen: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _many):
        seen.append(statement.split(None, 1)[0].upper())

    real_run = Bound.run

    def counted_run(bound, conn, named=False):  # statements run on the driver's cursor (bulk_sql.Prepared)
        seen.append(bound.sql.split(None, 1)[0].upper())
        return real_run(bound, conn, named)

    monkeypatch.setattr(Bound, "run", counted_run)
    event.listen(services.database.engine, "before_cursor_execute", count)
    try:
        outbox_ids = jobs.process_inbound(message_id, services)
    finally:
        event.remove(services.database.engine, "before_cursor_execute", count)
    assert len(outbox_ids) == 1
    # read the message, claim it (and swap the state), write the reply with its outbox row, record the send
    assert seen == ["SELECT", "WITH", "WITH", "WITH"], seen
    with services.database.session() as s:
        assert s.get(Outbox, outbox_ids[0]).status == "sent"
        out = s.scalars(select(Message).where(Message.reply_to_id == message_id)).one()
        assert out.status == "sent"
