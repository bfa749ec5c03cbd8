"""Prepared: a Core statement compiled once, run on the driver's cursor with SQLAlchemy's own bind conversions."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import JSON, bindparam, insert, literal, select, update
from sqlalchemy.dialects.postgresql import psycopg

from webhooks import bulk_sql
from webhooks.bulk_sql import Bound, Prepared
from webhooks.models import Citizen, ConversationRow, utcnow

_STATES = ConversationRow.__table__
_SAVE = Prepared(insert(_STATES).values(zalo_id=bindparam("key"), data=bindparam("data", type_=JSON),
                                        updated_at=bindparam("now")).returning(_STATES.c.zalo_id, _STATES.c.data))
_READ = Prepared(select(_STATES.c.data, literal(7).label("seven")).where(_STATES.c.zalo_id == bindparam("key")))


def test_a_row_written_and_read_back_keeps_its_json_and_literals(db):
    with db.engine.begin() as conn:
        saved = _SAVE.first(conn, {"key": "u1", "data": {"step": "fee", "đã": [1, 2]}, "now": utcnow(), "unused": 1})
    assert (saved.zalo_id, saved.data) == ("u1", {"step": "fee", "đã": [1, 2]})
    with db.direct.connect() as conn:
        found = _READ.first(conn, {"key": "u1"})
        assert (found.data, found.seven) == ({"step": "fee", "đã": [1, 2]}, 7)  # the literal came from the statement
        assert _READ.first(conn, {"key": "nobody"}) is None


def test_on_postgresql_it_runs_outside_sqlalchemys_execution(db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's driver hands JSON back as text: Prepared goes through Connection.execute there")
    executed: list[str] = []
    from sqlalchemy import event

    event.listen(db.engine, "before_cursor_execute", lambda *args: executed.append(args[2]))
    with db.engine.begin() as conn:
        _SAVE.first(conn, {"key": "u2", "data": None, "now": utcnow()})
        assert conn.execute(select(_STATES.c.data).where(_STATES.c.zalo_id == "u2")).scalar() is None
    assert len(executed) == 1  # only the check above went through SQLAlchemy's execution


def test_json_none_is_bound_as_sqlalchemy_would():
    dialect = psycopg.dialect()
    bound = _SAVE.bind(dialect, {"key": "k", "data": None, "now": None})
    assert isinstance(bound, Bound) and "%(data)s" in bound.sql
    assert type(bound.params["data"]).__name__ == "Json"  # JSON null, as the column type binds it, not SQL NULL


def test_a_missing_parameter_and_an_in_list_are_refused_with_a_reason():
    dialect = psycopg.dialect()
    with pytest.raises(KeyError, match="key"):
        _READ.bind(dialect, {})
    in_list = Prepared(update(Citizen.__table__).where(Citizen.__table__.c.zalo_id.in_(["a", "b"])).values(following=False))
    with pytest.raises(ValueError, match="IN lists"):
        in_list.bind(dialect, {})


def test_json_rows_insert_refuses_a_statement_with_a_parameter_it_would_not_pass():
    from sqlalchemy import Integer, String

    from webhooks.bulk_sql import JsonRowsInsert

    def build(dialect, rows):  # `+ 1` becomes a bound literal: JsonRowsInsert binds only the rows
        return insert(Citizen.__table__).from_select(["zalo_id", "following"], select(rows.c.zalo_id, rows.c.n + 1 > 0))

    with pytest.raises(ValueError, match="unexpected parameters"):
        JsonRowsInsert({"zalo_id": String(), "n": Integer()}, build=build).bind(psycopg.dialect(), [])


_NOW = dt.datetime(2026, 12, 3, 11, 0, 0, 123456, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("value, expected", [
    ("làm giấy khai sinh", "làm giấy khai sinh"),  # the usual case: the fast encoder, UTF-8 kept
    ("CCCD\x00 ở đâu", "CCCD ở đâu"),  # NUL: PostgreSQL's JSON parser refuses its escape
    ("cấp lại \ud83d CCCD", "cấp lại  CCCD"),  # a lone surrogate: no UTF-8 for it
    (2 ** 70, 2 ** 70),  # an id sent as a number past 64 bits: kept exactly
    ({"sender": {"id": 7_100_000_000_000_000_001}, "n": [1.5, None, True]},
     {"sender": {"id": 7_100_000_000_000_000_001}, "n": [1.5, None, True]}),
    (_NOW, "2026-12-03T11:00:00.123456+00:00"),  # ISO 8601, which timestamptz reads back
])
def test_rows_are_written_as_json_postgresql_can_read(value, expected):
    text = bulk_sql._dumps([{"ord": 0, "value": value, "at": _NOW}])
    assert "\\u0000" not in text and json.loads(text) == [{"ord": 0, "value": expected, "at": _NOW.isoformat()}]
    text.encode("utf-8")  # what the driver sends: no lone surrogate left
