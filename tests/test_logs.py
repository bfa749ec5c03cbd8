"""Logs without citizens: a database error is logged by kind and SQLSTATE, never with its values."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from webhooks.logs import PrivacyFilter
from webhooks.storage.models import Citizen, Message

ZALO_ID = "7716005500123450000"
TEXT = "bí mật của công dân 0912345678"


def test_a_database_error_logs_neither_parameters_nor_text(db, caplog):
    caplog.handler.addFilter(PrivacyFilter())
    log = logging.getLogger("webhooks.test")
    with db.transaction() as conn:
        conn.execute(insert(Citizen).values(zalo_id=ZALO_ID))
    with pytest.raises(IntegrityError) as raised:
        with db.transaction() as conn:
            conn.execute(insert(Citizen).values(zalo_id=ZALO_ID))  # unique: the driver quotes the key
    assert ZALO_ID not in str(raised.value) or db.dialect == "postgresql"  # SQLite names no value
    try:
        with db.transaction() as conn:
            conn.execute(insert(Message).values(citizen_id=999999, direction="in", msg_id="m-x", text=TEXT))
    except Exception:
        log.exception("inbound %s: could not store", 42)
    try:
        raise raised.value
    except IntegrityError:
        log.exception("claim loop: a job failed")
    logged = caplog.text
    assert "inbound 42: could not store" in logged and "SQLSTATE" in logged
    assert ZALO_ID not in logged and "0912345678" not in logged and "bí mật" not in logged


def test_the_engine_hides_parameters(db):
    assert db.engine.hide_parameters is True
