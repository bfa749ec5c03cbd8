"""Hand-overs nobody picked up: closed after a while with a message saying so, so a citizen is never stuck."""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import and_, func, select, update

from webhooks.outbox.writing import as_utc, deadline, write_replies
from webhooks.services import Services
from webhooks.storage.models import Citizen, Handoff, Message, utcnow

log = logging.getLogger(__name__)

_HANDOFFS, _MESSAGES, _CITIZENS = Handoff.__table__, Message.__table__, Citizen.__table__
# An open hand-over with the time of the last thing staff did in it: opening it, or their last reply.
_LAST_STAFF = (select(func.max(_MESSAGES.c.created_at))
               .where(_MESSAGES.c.citizen_id == _HANDOFFS.c.citizen_id, _MESSAGES.c.sent_by.is_not(None),
                      _MESSAGES.c.created_at >= _HANDOFFS.c.opened_at)
               .correlate(_HANDOFFS).scalar_subquery())
_OPEN = (select(_HANDOFFS.c.id, _HANDOFFS.c.citizen_id, _HANDOFFS.c.opened_at, _LAST_STAFF.label("last_staff"),
                _CITIZENS.c.zalo_id, _CITIZENS.c.last_interaction, _CITIZENS.c.following,
                _CITIZENS.c.commune_id)
         .join(_CITIZENS, _CITIZENS.c.id == _HANDOFFS.c.citizen_id)
         .where(_HANDOFFS.c.closed_at.is_(None)))


def close_idle(services: Services, now: dt.datetime | None = None) -> int:
    """Close every hand-over without staff activity for `handoff_idle_hours`, telling the citizen; how many."""
    now = now or utcnow()
    idle = dt.timedelta(hours=services.settings.handoff_idle_hours)
    closed = 0
    with services.database.transaction() as conn:
        for row in conn.execute(_OPEN).all():
            active = max(as_utc(t) for t in (row.opened_at, row.last_staff) if t is not None)
            if now - active < idle:
                continue
            try:  # the citizen's commune's engine (its phone in the notice)
                engine = services.engine_for(row.commune_id)
            except Exception:  # a commune whose layer never loaded: left open, looked at again next sweep
                log.exception("hand-over %s: no engine for commune %s", row.id, row.commune_id)
                continue
            taken = conn.execute(update(_HANDOFFS).where(and_(_HANDOFFS.c.id == row.id, _HANDOFFS.c.closed_at.is_(None)))
                                 .values(closed_at=now, closed_by="idle")).rowcount
            if not taken:
                continue
            closed += 1
            expires_at = deadline(row.last_interaction, dt.timedelta(hours=services.settings.reply_horizon_hours), now)
            if row.following and expires_at > now:  # past Zalo's window nothing can be sent: staff see it closed
                reply = engine.handoff_expired()
                write_replies(conn, citizen_id=row.citizen_id, zalo_id=row.zalo_id, source_id=None, replies=[reply],
                              expires_at=expires_at, system=True)
            log.info("hand-over %s closed after %s without staff activity", row.id, idle)
    return closed
