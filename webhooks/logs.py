"""Logging without citizens: database errors logged by kind and SQLSTATE, never with their values."""
from __future__ import annotations

import logging
import os

from sqlalchemy.exc import StatementError

LOG_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
# Gunicorn's access line without the query string: dashboard URLs can carry a question's words (?key=…).
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s'
PRIVATE_UMASK = 0o077  # files the service writes (database, catalog edits, history) are its user's only


class PrivacyFilter(logging.Filter):
    """Replace a database error's traceback by its kind: the driver's text can quote the row's values."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record; strip what it says about the database's data."""
        error = record.exc_info[1] if record.exc_info else None
        while error is not None and not isinstance(error, StatementError):
            error = error.__cause__ or error.__context__
        if isinstance(error, StatementError):
            orig = getattr(error, "orig", None)
            code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "?"
            record.msg = f"{record.getMessage()} [{type(error).__name__}: {type(orig).__name__}, SQLSTATE {code}]"
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


def configure(level: int = logging.INFO) -> None:
    """Root logging for `serve` and `worker`: the privacy filter on every handler, and a private umask."""
    os.umask(PRIVATE_UMASK)
    logging.basicConfig(level=level, format=LOG_FORMAT)
    install_filter()


def install_filter() -> None:
    """Put the privacy filter on the root logger's handlers (idempotent)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, PrivacyFilter) for f in handler.filters):
            handler.addFilter(PrivacyFilter())
