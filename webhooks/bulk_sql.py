"""Statements compiled once and run on the driver's cursor: multi-row INSERTs and fixed per-message statements."""
from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections import namedtuple
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import orjson
from sqlalchemy import JSON, BindParameter, Connection, Integer, bindparam, column, func
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

# (dialect name, then per group its rows of bind parameters) → statement
Builder = Callable[..., Any]


@dataclass(frozen=True)
class Bound:
    """One statement ready for the driver: its SQL and parameters in the driver's own style."""

    sql: str
    params: Any

    def first(self, conn: Connection) -> Any:
        """run(), the first row with its columns as attributes (None when there is none)."""
        rows = self.run(conn, named=True)
        return rows[0] if rows else None

    def run(self, conn: Connection, named: bool = False) -> list[Any]:
        """Execute on `conn`'s driver connection, in its transaction; the RETURNING rows (empty without).

        A driver cursor, not Connection.exec_driver_sql: building SQLAlchemy's result object cost
        more CPU than fetching the few rows. Driver errors come out as SQLAlchemy's, with a lost
        connection invalidated as SQLAlchemy would (callers retry on `connection_invalidated`).
        """
        dbapi, dialect = conn.connection, conn.dialect
        cursor = None
        try:
            cursor = dbapi.cursor()
            cursor.execute(self.sql, self.params)
            if cursor.description is None:
                return []
            rows = cursor.fetchall()
            if named:
                make = _row_type(tuple(column[0] for column in cursor.description))
                rows = [make(*row) for row in rows]
            return rows
        except dialect.loaded_dbapi.Error as exc:
            lost = dialect.is_disconnect(exc, dbapi, cursor)
            if lost:
                conn.invalidate(exc)
            raise DBAPIError.instance(self.sql, self.params, exc, dialect.loaded_dbapi.Error,
                                      connection_invalidated=lost, dialect=dialect) from exc
        finally:
            if cursor is not None:
                with suppress(Exception):  # after a lost connection closing fails too; the error above counts
                    cursor.close()


# Dialects whose driver returns every column type Prepared's statements read already decoded.
DECODING_DIALECTS = frozenset({"postgresql"})


@lru_cache(maxsize=256)
def _row_type(names: tuple[str, ...]) -> Any:
    return namedtuple("Row", names, rename=True)  # type: ignore[misc]


class _PerDialect:
    """Something compiled once per dialect and driver, shared by threads."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def _cached(self, dialect: Dialect, make: Callable[[Dialect], Any]) -> Any:
        key = (dialect.name, dialect.driver)
        found = self._compiled.get(key)
        if found is None:
            with self._lock:
                found = self._compiled.get(key)
                if found is None:
                    found = self._compiled[key] = make(dialect)
        return found


class Prepared(_PerDialect):
    """A fixed Core statement compiled once per dialect, run through Bound: no per-call SQLAlchemy execution.

    For the answering worker's per-message statements on PostgreSQL. Connection.execute looked up
    the compiled cache, processed binds and built a result object on every call: measured, a
    third of a worker's CPU went to that around its five statements. Here parameters are converted
    with the columns' own bind processors (JSON wrapped for the driver); result values come back
    as the driver returns them, so this is for drivers that decode their own types (psycopg does,
    JSON included; SQLite's would hand back JSON as text), and binds by name only.
    """

    def __init__(self, statement: Any):
        super().__init__()
        self.statement = statement

    def first(self, conn: Connection, params: dict[str, Any]) -> Any:
        """The first row (columns as attributes) or None; through Connection.execute where the driver decodes less."""
        if conn.dialect.name not in DECODING_DIALECTS:
            return conn.execute(self.statement, params).first()
        return self.bind(conn.dialect, params).first(conn)

    def bind(self, dialect: Dialect, params: dict[str, Any]) -> Bound:
        """The statement with `params` (names the statement does not use are ignored; a missing one raises)."""
        sql, defaults, processors, required = self._compile(dialect)
        missing = required.difference(params)
        if missing:
            raise KeyError(f"parameters missing: {', '.join(sorted(missing))}")
        values = {}
        for name, process in processors.items():
            value = params[name] if name in params else defaults[name]
            values[name] = process(value) if process is not None else value
        return Bound(sql, values)

    def _compile(self, dialect: Dialect) -> tuple[str, dict[str, Any], dict[str, Callable | None], frozenset]:
        return self._cached(dialect, self._render)

    def _render(self, dialect: Dialect) -> tuple[str, dict[str, Any], dict[str, Callable | None], frozenset]:
        compiled = self.statement.compile(dialect=dialect)
        if compiled.positiontup is not None:
            raise ValueError("Prepared binds by name: use a dialect with named parameters")
        binds = {name: bind for bind, name in compiled.bind_names.items()}  # as named in the SQL
        if any(bind.expanding for bind in binds.values()):  # IN (...) is rendered per call
            raise ValueError("Prepared cannot run expanding parameters (IN lists): spell them out")
        processors = {name: bind.type.dialect_impl(dialect).bind_processor(dialect) for name, bind in binds.items()}
        defaults = {name: bind.effective_value for name, bind in binds.items() if not bind.required}
        required = frozenset(name for name, bind in binds.items() if bind.required)
        return compiled.string, defaults, processors, required


class RowsInsert:
    """An INSERT of rows, as SQLAlchemy would render and bind it, minus its per-call work.

    The rows come in groups, each with its own columns (one group: a plain multi-row INSERT; more:
    a statement feeding several tables, as the PostgreSQL intake does with data-modifying CTEs).

    The webhook's write happens inside the database's write turn (on SQLite one writer at a time
    across every process), so what runs there should be the statement and nothing else. Going
    through Connection.execute compiled cache lookups, bind processing and, for executemany with
    RETURNING, "insertmanyvalues" batching on every call: measured ~0.5 ms of CPU per batch of
    two events, in the turn. Here the SQL is compiled once per (dialect, n) and the parameters are
    converted with the columns' own bind processors before the turn is taken.
    """

    def __init__(self, *groups: dict[str, TypeEngine], build: Builder):
        # build(dialect name, rows of group 0, rows of group 1, ...), each row a dict of BindParameters
        self.groups, self.build = groups, build
        self._rendered: dict[tuple[str, str, tuple[int, ...]], tuple[str, list[str] | None, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def bind(self, dialect: Dialect, *rows: list[dict[str, Any]]) -> Bound:
        """The statement for one list of rows per group (each row a dict over its group's columns)."""
        sql, order, processors = self._render(dialect, tuple(len(group) for group in rows))
        flat: dict[str, Any] = {}
        for g, (group, columns) in enumerate(zip(rows, processors)):
            for n, row in enumerate(group):
                for name, process in columns.items():
                    value = row[name]
                    flat[f"{name}_{g}_{n}"] = process(value) if process is not None else value
        return Bound(sql, tuple(flat[name] for name in order) if order is not None else flat)

    def _render(self, dialect: Dialect, shape: tuple[int, ...]) -> tuple[str, list[str] | None, list[dict[str, Any]]]:
        if len(shape) != len(self.groups):
            raise TypeError(f"{len(self.groups)} group(s) of rows expected, got {len(shape)}")
        key = (dialect.name, dialect.driver, shape)
        found = self._rendered.get(key)
        if found is None:
            with self._lock:
                found = self._rendered.get(key) or self._compile(dialect, shape)
                self._rendered[key] = found
        return found

    def _compile(self, dialect: Dialect, shape: tuple[int, ...]) -> tuple[str, list[str] | None, list[dict[str, Any]]]:
        params: list[list[dict[str, BindParameter]]] = [
            [{name: bindparam(f"{name}_{g}_{i}", type_=type_) for name, type_ in columns.items()} for i in range(n)]
            for g, (columns, n) in enumerate(zip(self.groups, shape))]
        compiled = self.build(dialect.name, *params).compile(dialect=dialect)
        expected = {f"{name}_{g}_{i}" for g, (columns, n) in enumerate(zip(self.groups, shape))
                    for name in columns for i in range(n)}
        if set(compiled.binds) != expected:  # a column default or literal SQLAlchemy added: we would not bind it
            raise ValueError(f"unexpected parameters in {compiled.string!r}: {sorted(set(compiled.binds) ^ expected)}")
        processors = [{name: type_.dialect_impl(dialect).bind_processor(dialect) for name, type_ in columns.items()}
                      for columns in self.groups]
        order = list(compiled.positiontup) if compiled.positiontup is not None else None
        return compiled.string, order, processors


class JsonRowsInsert(_PerDialect):
    """An INSERT … SELECT FROM json_to_recordset(rows): one statement text whatever the number of rows (PostgreSQL).

    RowsInsert's text grows with the rows: every new row count was a compile on our side, a parse
    and plan on the server's, and past 50 parameters psycopg re-splits the query on every call.
    Here each group of rows is one JSON parameter, built by one call of the C JSON encoder (column
    arrays went through psycopg's pure-Python list dumper: slower than the rows); the text is
    compiled once, psycopg keeps its parsed form and, after a few runs, a prepared statement.
    """

    def __init__(self, *groups: dict[str, TypeEngine], build: Builder):
        # build(dialect name, group 0's rows as a table, group 1's, ...): each a derived table whose
        # columns are the group's, plus `ord` (the row's position in its group, from 0)
        super().__init__()
        self.groups, self.build = groups, build

    def bind(self, dialect: Dialect, *rows: list[dict[str, Any]]) -> Bound:
        """The statement for one list of rows per group (each row a dict over its group's columns)."""
        if len(rows) != len(self.groups):
            raise TypeError(f"{len(self.groups)} group(s) of rows expected, got {len(rows)}")
        params = {f"rows_{g}": _dumps([{"ord": n, **{name: row[name] for name in columns}} for n, row in enumerate(group)])
                  for g, (group, columns) in enumerate(zip(rows, self.groups))}
        return Bound(self._compile(dialect), params)

    def _compile(self, dialect: Dialect) -> str:
        return self._cached(dialect, self._render)

    def _render(self, dialect: Dialect) -> str:
        tables = [func.json_to_recordset(bindparam(f"rows_{g}", type_=JSON))
                  .table_valued(column("ord", Integer()), *(column(name, type_) for name, type_ in columns.items()))
                  .render_derived(name=f"rows_{g}", with_types=True)
                  for g, columns in enumerate(self.groups)]
        compiled = self.build(dialect.name, *tables).compile(dialect=dialect)
        if compiled.positiontup is not None:
            raise ValueError("JsonRowsInsert binds by name: use a dialect with named parameters")
        stray = set(compiled.bind_names.values()) - {f"rows_{g}" for g in range(len(self.groups))}
        if stray:  # a literal or default SQLAlchemy bound: we would not pass it
            raise ValueError(f"unexpected parameters in {compiled.string!r}: {sorted(stray)}")
        return compiled.string


def _dumps(rows: list[dict[str, Any]]) -> str:
    # orjson: about a tenth of the stdlib encoder's time here, datetimes written natively as ISO 8601
    # (PostgreSQL reads them back into timestamptz). It refuses lone surrogates itself, so the nearly
    # always clean batch needs no regex scan, which cost as much as encoding it.
    try:
        text = orjson.dumps(rows).decode()
    except TypeError:  # a lone surrogate, or an integer past 64 bits in a raw payload: the careful way
        return _dumps_storable(rows)
    return _dumps_storable(rows) if "\\u0000" in text else text


def _dumps_storable(rows: list[dict[str, Any]]) -> str:
    # The stdlib encoder writes integers of any size; _storable drops what PostgreSQL's JSON parser refuses.
    return json.dumps(_storable(rows), ensure_ascii=False, default=_json_value)


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# Zalo's raw payload, kept for staff, may carry what no PostgreSQL text can hold: NUL and lone surrogates.
_UNSTORABLE_CHARS = re.compile(r"[\x00\ud800-\udfff]")


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return _UNSTORABLE_CHARS.sub("", value)
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value
