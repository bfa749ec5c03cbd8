"""Outbox → Zalo: claim a row with a lease, send it, record the result; retries with backoff."""
from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from bot.replies import Reply
from webhooks.bulk_sql import Prepared
from webhooks.echoes import confirms
from webhooks.models import Message, Outbox, utcnow
from webhooks.outbound import as_utc
from webhooks.pg_statements import record_send

if TYPE_CHECKING:
    from webhooks.jobs import Services

log = logging.getLogger(__name__)

# Long enough for one send with a token refresh; a killed sender's row is resent after it.
LEASE = dt.timedelta(seconds=60)
UNFINISHED = ("pending", "sending")


def _claimable(now: Any):
    return or_(and_(Outbox.status == "pending", Outbox.next_attempt_at <= now),
               and_(Outbox.status == "sending", Outbox.lease_until < now))


def claim(services: "Services", outbox_id: int, now: dt.datetime | None = None) -> dt.datetime | None:
    """Atomically take a due row (or one whose sender's lease ran out); returns our lease, or None."""
    now = now or utcnow()
    lease = now + LEASE
    with services.session() as session:
        taken = session.execute(update(Outbox).where(Outbox.id == outbox_id, _claimable(now))
                                .values(status="sending", lease_until=lease)).rowcount
    return lease if taken == 1 else None


def _no_earlier_unfinished():
    # Replies to one message go out in order: seq 1 waits until seq 0 is sent (or failed for good).
    earlier = aliased(Outbox)
    unfinished = or_(*(earlier.status == status for status in UNFINISHED))  # not IN: Prepared renders it once
    return ~exists().where(earlier.source_id == Outbox.source_id, earlier.seq < Outbox.seq, unfinished)


class Claimed(NamedTuple):
    """An outbox row whose lease the caller holds: what sending and recording need."""

    id: int
    source_id: int
    seq: int
    message_id: int | None
    zalo_id: str
    body: dict
    attempts: int
    echo_msg_id: str | None = None  # Zalo echoed this row's text while its send was unconfirmed


# Built once, with bound parameters: constructing this statement cost more CPU than running it.
_CLAIM_IN_ORDER = Prepared(
    update(Outbox)
    .where(Outbox.id == bindparam("outbox_id"), _claimable(bindparam("now")), _no_earlier_unfinished())
    .values(status="sending", lease_until=bindparam("lease"))
    .returning(*(getattr(Outbox, name) for name in Claimed._fields)))


def _claim_in_order(services: "Services", outbox_id: int, now: dt.datetime) -> tuple[Claimed | None, dt.datetime]:
    """One statement reads, checks the order and claims: the row's fields if we hold its lease now.

    On PostgreSQL the UPDATE re-checks its WHERE on the locked row, so two senders can never both
    win; on SQLite the single writer serialises them.
    """
    lease = now + LEASE
    with services.connection() as conn:
        taken = _CLAIM_IN_ORDER.first(conn, {"outbox_id": outbox_id, "now": now, "lease": lease})
    return (Claimed(*taken) if taken is not None else None), lease


def _why_not_claimed(services: "Services", outbox_id: int) -> str:
    """The reason a claim failed (only read on that path): missing, done, waiting or busy."""
    with services.session() as session:
        row = session.get(Outbox, outbox_id)
        if row is None:
            return "missing"  # deleted (user_withdraw) since it was queued
        if row.status not in UNFINISHED:
            return "done"
        waiting = session.scalar(select(func.count()).select_from(Outbox).where(
            Outbox.source_id == row.source_id, Outbox.seq < row.seq, Outbox.status.in_(UNFINISHED))) > 0
    return "waiting" if waiting else "busy"  # busy: not due yet, or another sender holds the lease


def deliver(services: "Services", outbox_id: int, now: dt.datetime | None = None) -> str:
    """Send one outbox row if it is ours to send, then its waiting successors; returns what happened."""
    row, lease = _claim_in_order(services, outbox_id, now or utcnow())
    if row is None:
        return _why_not_claimed(services, outbox_id)
    return send_claimed(services, row, lease, now)


def send_claimed(services: "Services", row: Claimed, lease: dt.datetime, now: dt.datetime | None = None) -> str:
    """Send a row whose lease we hold, then its waiting successors; returns what happened to the first."""
    outcome, current = _send(services, row, lease)
    first = outcome
    # A successor can only go once its predecessor is finished; anything else is left to the sweeper.
    while outcome in ("sent", "failed") and current is not None:
        following, lease = _claim_in_order(services, current, now or utcnow())
        if following is None:
            break
        outcome, current = _send(services, following, lease)
    return first


def _send(services: "Services", row: Claimed, lease: dt.datetime) -> tuple[str, int | None]:
    """Send a claimed row; returns what happened and, once it is finished, the next row in order."""
    if row.echo_msg_id is not None and confirms(services, row.id, row.zalo_id, row.echo_msg_id):
        # An earlier attempt reached Zalo but its answer was lost (see echoes): sending again would repeat it.
        log.info("outbox %s: already at Zalo (echo %s); recorded as sent, not sent again", row.id, row.echo_msg_id)
        return _finish(services, row, lease, "sent", message_id=row.echo_msg_id)
    try:
        result = services.client.send(row.zalo_id, Reply.from_dict(row.body))
    except Exception as exc:  # the client classifies Zalo errors; anything else is worth a retry
        log.exception("outbox %s: send raised", row.id)
        return _finish(services, row, lease, "retry", error=f"{type(exc).__name__}: {exc}")
    error = result.message or (f"Zalo error {result.error_code}" if result.error_code is not None else None)
    return _finish(services, row, lease, result.status, error=error, message_id=result.message_id,
                   retry_at=result.retry_at)


def backoff(services: "Services", attempts: int) -> dt.timedelta:
    """Delay before retry number `attempts` + 1: base × 2^attempts."""
    return dt.timedelta(seconds=services.settings.delivery_base_delay * (2 ** attempts))


def _record(services: "Services", row: Any, lease: dt.datetime, status: str, *, error: str | None = None,
            message_id: str | None = None, retry_at: dt.datetime | None = None) -> str:
    """Record a send's result under our lease; returns sent, failed, retry, night or lost."""
    return _finish(services, row, lease, status, error=error, message_id=message_id, retry_at=retry_at)[0]


# SET clauses come from the parameters (the columns each outcome changes).
_RECORD = update(Outbox.__table__).where(Outbox.__table__.c.id == bindparam("row_id"),
                                         Outbox.__table__.c.status == "sending",
                                         Outbox.__table__.c.lease_until == bindparam("lease"))
_MIRROR = update(Message.__table__).where(Message.__table__.c.id == bindparam("out_id"))
_FOLLOWING = (select(Outbox.id).where(Outbox.source_id == bindparam("source_id"), Outbox.seq > bindparam("seq"),
                                      Outbox.status == "pending").order_by(Outbox.seq).limit(1))


def _finish(services: "Services", row: Any, lease: dt.datetime, status: str, *, error: str | None = None,
            message_id: str | None = None, retry_at: dt.datetime | None = None) -> tuple[str, int | None]:
    # The next row in order is only looked for once this one is finished: a later reply never
    # overtakes a pending one.
    now = utcnow()
    if status == "sent":
        values = dict(status="sent", zalo_message_id=message_id, sent_at=now, last_error=None)
    elif status == "night":
        values = dict(status="pending", next_attempt_at=as_utc(retry_at) or now + backoff(services, 0),
                      last_error=error)
    elif status == "retry" and row.attempts + 1 < services.settings.delivery_max_attempts:
        values = dict(status="pending", attempts=row.attempts + 1, last_error=error,
                      next_attempt_at=as_utc(retry_at) or now + backoff(services, row.attempts))
    else:  # permanent, an unknown status, or out of attempts: visible to staff with the reason
        values = dict(status="failed", attempts=row.attempts + (status == "retry"), last_error=error)
    updated, following = _store_result(services, row, lease, values)
    if not updated:
        log.warning("outbox %s: lease lost before recording %s", row.id, status)
        return "lost", None
    if values["status"] == "failed":
        log.warning("outbox %s to %s failed for good: %s", row.id, row.zalo_id, error)
    return (values["status"] if values["status"] != "pending" else status), following


def _store_result(services: "Services", row: Any, lease: dt.datetime, values: dict[str, Any]) -> tuple[bool, int | None]:
    """Write a send's result, fenced by our lease; (still ours, the next row in order once finished).

    If the lease ran out and another sender took the row, its result wins. On PostgreSQL this is
    one statement on its own (pg_statements.record_send); on SQLite three in the write turn.
    """
    finished = values["status"] in ("sent", "failed")
    params = {"row_id": row.id, "lease": lease, **values}
    with services.single() as conn:
        if conn.dialect.name == "postgresql":
            found = record_send(tuple(sorted(values)), finished).first(conn, params)
            return found is not None, found.following if found is not None else None
        if not conn.execute(_RECORD, {**params, "lease_until": None}).rowcount:
            return False, None
        if finished and row.message_id is not None:
            conn.execute(_MIRROR, {"out_id": row.message_id, "status": values["status"]})
        if not finished:
            return True, None
        return True, conn.execute(_FOLLOWING, {"source_id": row.source_id, "seq": row.seq}).scalar()


def due_outbox_ids(services: "Services", now: dt.datetime | None = None, limit: int = 100) -> list[int]:
    """Rows a sweeper should (re)submit: due pending rows and rows whose sender's lease expired."""
    now = now or utcnow()
    with services.session() as session:
        return list(session.scalars(select(Outbox.id).where(_claimable(now))
                                    .order_by(Outbox.source_id, Outbox.seq).limit(limit)))


def stale_inbound_ids(services: "Services", older_than: dt.timedelta, now: dt.datetime | None = None,
                      limit: int = 100) -> list[int]:
    """Inbound messages still unprocessed after `older_than` (their process died before answering)."""
    cutoff = (now or utcnow()) - older_than
    with services.session() as session:
        return list(session.scalars(select(Message.id).where(
            Message.direction == "in", Message.status == "received", Message.created_at <= cutoff,
        ).order_by(Message.id).limit(limit)))
