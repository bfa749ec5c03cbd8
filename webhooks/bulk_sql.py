"""Multi-row INSERTs rendered once per dialect and row count, their parameters converted before the transaction."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import BindParameter, Connection, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

Builder = Callable[[str, list[dict[str, Any]]], Any]  # (dialect name, rows of bind parameters) → statement


@dataclass(frozen=True)
class Bound:
    """One statement ready for the driver: its SQL and parameters in the driver's own style."""

    sql: str
    params: Any

    def run(self, conn: Connection) -> list[Any]:
        """Execute in the caller's transaction; the RETURNING rows (empty without RETURNING)."""
        result = conn.exec_driver_sql(self.sql, self.params)
        return list(result) if result.returns_rows else []


class RowsInsert:
    """An INSERT of n rows of the same columns, as SQLAlchemy would render and bind it, minus its per-call work.

    The webhook's write happens inside the database's write turn (on SQLite one writer at a time
    across every process), so what runs there should be the statement and nothing else. Going
    through Connection.execute compiled cache lookups, bind processing and, for executemany with
    RETURNING, "insertmanyvalues" batching on every call: measured ~0.5 ms of CPU per batch of
    two events, in the turn. Here the SQL is compiled once per (dialect, n) and the parameters are
    converted with the columns' own bind processors before the turn is taken.
    """

    def __init__(self, columns: dict[str, TypeEngine], build: Builder):
        self.columns, self.build = columns, build
        self._rendered: dict[tuple[str, str, int], tuple[str, list[str] | None, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def bind(self, dialect: Dialect, rows: list[dict[str, Any]]) -> Bound:
        """The statement for `rows` (each a dict over `columns`), with its parameters converted."""
        sql, order, processors = self._render(dialect, len(rows))
        flat: dict[str, Any] = {}
        for n, row in enumerate(rows):
            for name in self.columns:
                value, process = row[name], processors[name]
                flat[f"{name}_{n}"] = process(value) if process is not None else value
        return Bound(sql, tuple(flat[name] for name in order) if order is not None else flat)

    def _render(self, dialect: Dialect, n: int) -> tuple[str, list[str] | None, dict[str, Any]]:
        key = (dialect.name, dialect.driver, n)
        found = self._rendered.get(key)
        if found is None:
            with self._lock:
                found = self._rendered.get(key) or self._compile(dialect, n)
                self._rendered[key] = found
        return found

    def _compile(self, dialect: Dialect, n: int) -> tuple[str, list[str] | None, dict[str, Any]]:
        params: list[dict[str, BindParameter]] = [
            {name: bindparam(f"{name}_{i}", type_=type_) for name, type_ in self.columns.items()} for i in range(n)]
        compiled = self.build(dialect.name, params).compile(dialect=dialect)
        expected = {f"{name}_{i}" for name in self.columns for i in range(n)}
        if set(compiled.binds) != expected:  # a column default or literal SQLAlchemy added: we would not bind it
            raise ValueError(f"unexpected parameters in {compiled.string!r}: {sorted(set(compiled.binds) ^ expected)}")
        processors = {name: type_.dialect_impl(dialect).bind_processor(dialect)
                      for name, type_ in self.columns.items()}
        order = list(compiled.positiontup) if compiled.positiontup is not None else None
        return compiled.string, order, processors
