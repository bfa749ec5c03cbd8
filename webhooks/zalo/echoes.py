"""Zalo's echoes of our own sends (oa_send_*): proof that a reply whose answer never came back did reach Zalo.

A send can reach Zalo and its answer still be lost: the sender's process dies before recording it,
or the HTTP answer times out. Zalo has no idempotency key, so the outbox would send it again and the
citizen would read it twice. But Zalo posts every OA message back to the webhook as an echo, with
its text and message id. An echo of the text of a row whose send is unconfirmed is noted on that
row, and the row's next attempt records it as sent instead of sending it again. An echo that is
lost or carries no text (a type whose echo omits it) leaves the row to be resent, as before.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update

from bot.replies import Reply
from webhooks.storage.engine import Database
from webhooks.storage.models import Outbox
from webhooks.zalo.events import InboundEvent
from webhooks.zalo.rendering import render

log = logging.getLogger(__name__)

_SPACE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")

_OUTBOX = Outbox.__table__
# Rows of one citizen that may have reached Zalo without us knowing: being sent (or their sender
# died), or back to pending after an attempt whose answer was lost.
_UNCONFIRMED = (
    select(_OUTBOX.c.id, _OUTBOX.c.body)
    .where(_OUTBOX.c.zalo_id == bindparam("zalo_id"), _OUTBOX.c.echo_msg_id.is_(None),
           or_(_OUTBOX.c.status == "sending", and_(_OUTBOX.c.status == "pending", _OUTBOX.c.attempts > 0)))
    .order_by(_OUTBOX.c.id))
# Zalo retries webhooks, and an echo of a send already recorded belongs to that row.
_ACCOUNTED = (select(_OUTBOX.c.id)
              .where(_OUTBOX.c.zalo_id == bindparam("zalo_id"), _OUTBOX.c.id != bindparam("outbox_id"),
                     or_(_OUTBOX.c.zalo_message_id == bindparam("msg_id"), _OUTBOX.c.echo_msg_id == bindparam("msg_id")))
              .limit(1))
_NOTE = (update(_OUTBOX)
         .where(_OUTBOX.c.id == bindparam("outbox_id"), _OUTBOX.c.echo_msg_id.is_(None),
                _OUTBOX.c.status.in_(("pending", "sending")))
         .values(echo_msg_id=bindparam("msg_id")))


def text_key(text: str) -> str:
    """What an echo and a sent text are compared on: NFC, whitespace runs as one space, trimmed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def sent_text(body: dict[str, Any], zalo_id: str) -> str:
    """The text an outbox row puts on the wire (as rendering.render sends it)."""
    return render(Reply.from_dict(body), zalo_id)["message"]["text"]


def note_echo(database: Database, event: InboundEvent) -> int | None:
    """Note an echo on the unconfirmed outbox row whose text it repeats; that row's id, or None.

    Usually the row was recorded as sent before its echo came: one read finds nothing unconfirmed,
    and nothing is written.
    """
    if event.kind != "echo" or not event.user_id or not event.msg_id or not event.text:
        return None
    key = text_key(event.text)
    params = {"zalo_id": event.user_id, "msg_id": event.msg_id}
    with database.engine.connect() as conn:
        rows = conn.execute(_UNCONFIRMED, {"zalo_id": event.user_id}).all()
        matching = [row.id for row in rows if text_key(sent_text(row.body, event.user_id)) == key]
        if not matching or conn.execute(_ACCOUNTED, {**params, "outbox_id": -1}).first() is not None:
            return None  # nothing unconfirmed repeats it; or a retried echo, or one of a send already recorded
    with database.transaction() as conn:
        for outbox_id in matching:  # the oldest first: identical texts are interchangeable
            if conn.execute(_NOTE, {**params, "outbox_id": outbox_id}).rowcount:
                log.info("outbox %s: Zalo echoed it (message %s) before its send was confirmed", outbox_id,
                         event.msg_id)
                return outbox_id
    return None


def confirms(database: Database, outbox_id: int, zalo_id: str, echo_msg_id: str) -> bool:
    """True when the echo noted on a row still stands for it: no other row recorded that Zalo message as its own."""
    with database.engine.connect() as conn:
        taken = conn.execute(_ACCOUNTED, {"zalo_id": zalo_id, "outbox_id": outbox_id, "msg_id": echo_msg_id}).first()
    return taken is None
