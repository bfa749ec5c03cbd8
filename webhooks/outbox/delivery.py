"""Outbox → Zalo: claim the next due reply with a lease (per-citizen order), send it, record what happened."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import and_, bindparam, exists, or_, select, update

from bot.replies import Reply
from webhooks.outbox import retries
from webhooks.outbox.writing import as_utc
from webhooks.services import Services
from webhooks.storage.models import Message, Outbox, const, utcnow
from webhooks.zalo.api import SendResult
from webhooks.zalo.echoes import confirms

log = logging.getLogger(__name__)

UNFINISHED = ("pending", "sending")

_OUTBOX = Outbox.__table__
_candidate, _earlier = _OUTBOX.alias("candidate"), _OUTBOX.alias("earlier")
# The oldest due row (or one whose sender's lease ran out) whose citizen has no earlier reply still
# unfinished: a citizen's replies leave in the order they were written. SKIP LOCKED lets concurrent
# senders on PostgreSQL take different rows; SQLite's single writer serialises the claim.
_NEXT = (select(_candidate.c.id)
         .where(or_(and_(_candidate.c.status == const("pending"), _candidate.c.next_attempt_at <= bindparam("now")),
                    and_(_candidate.c.status == const("sending"), _candidate.c.lease_until < bindparam("now"))),
                ~exists().where(_earlier.c.zalo_id == _candidate.c.zalo_id, _earlier.c.id < _candidate.c.id,
                                or_(*(_earlier.c.status == const(status) for status in UNFINISHED))))
         .order_by(_candidate.c.id).limit(1).with_for_update(skip_locked=True, of=_candidate))
# Built once, with bound parameters: building a statement costs more CPU than running it. The SET
# clause of _RECORD is whatever columns the outcome changes (passed as parameters).
_RECORD = update(_OUTBOX).where(_OUTBOX.c.id == bindparam("row_id"), _OUTBOX.c.status == "sending",
                                _OUTBOX.c.lease_until == bindparam("lease"))
_MIRROR = update(Message.__table__).where(Message.__table__.c.id == bindparam("message_id"))
_CLAIM = (update(_OUTBOX).where(_OUTBOX.c.id == _NEXT.scalar_subquery())
          .values(status="sending", lease_until=bindparam("lease"))
          .returning(_OUTBOX.c.id, _OUTBOX.c.zalo_id, _OUTBOX.c.body, _OUTBOX.c.attempts, _OUTBOX.c.message_id,
                     _OUTBOX.c.echo_msg_id, _OUTBOX.c.expires_at))


def deliver_next(services: Services, now: dt.datetime | None = None) -> str | None:
    """Claim, send and record the next due reply; what happened (sent, failed, retry, night, unknown, lost), or None."""
    now = now or utcnow()
    lease = now + dt.timedelta(seconds=services.settings.lease_seconds)  # a killed sender's row goes again after it
    with services.database.transaction() as conn:
        row = conn.execute(_CLAIM, {"now": now, "lease": lease}).first()
    if row is None:
        return None
    return _record(services, row, lease, _attempt(services, row, now), now)


def _attempt(services: Services, row: Any, now: dt.datetime) -> SendResult:
    expires_at = as_utc(row.expires_at)
    if expires_at is not None and now > expires_at:
        return SendResult("permanent", None, "Hết hạn gửi: quá thời hạn trả lời người dân")
    if row.echo_msg_id is not None and confirms(services.database, row.id, row.zalo_id, row.echo_msg_id):
        # An earlier attempt reached Zalo but its answer was lost (see zalo.echoes): sending again would repeat it.
        log.info("outbox %s: already at Zalo (echo %s); recorded as sent, not sent again", row.id, row.echo_msg_id)
        return SendResult("sent", 0, "", message_id=row.echo_msg_id)
    try:
        return services.client.send(row.zalo_id, Reply.from_dict(row.body))
    except Exception as exc:  # the client classifies Zalo's answers; anything else is worth a retry
        log.exception("outbox %s: send raised", row.id)
        return SendResult("retry", None, f"{type(exc).__name__}: {exc}")


def _record(services: Services, row: Any, lease: dt.datetime, result: SendResult, now: dt.datetime) -> str:
    """Write the result under our lease; a row withdrawn or re-leased meanwhile is left as it is ("lost")."""
    settings = services.settings
    values = retries.outcome(result, attempts=row.attempts, now=now, expires_at=as_utc(row.expires_at),
                             base=settings.retry_base, cap=settings.retry_cap)
    finished = values["status"] in ("sent", "failed")
    with services.database.transaction() as conn:
        recorded = conn.execute(_RECORD, {"row_id": row.id, "lease": lease, "lease_until": None, **values}).rowcount
        if recorded and finished and row.message_id is not None:  # the dashboard's copy of the reply
            conn.execute(_MIRROR, {"message_id": row.message_id, "status": values["status"]})
    if not recorded:
        log.warning("outbox %s: gone or re-leased before its result (%s) was recorded", row.id, result.status)
        return "lost"
    if values["status"] == "failed":
        log.warning("outbox %s failed: %s", row.id, values["last_error"])
    return values["status"] if finished else result.status
