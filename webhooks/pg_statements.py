"""PostgreSQL-only statements that fold a turn's several round trips into one (data-modifying CTEs).

At 100 messages per second each round trip costs the answering worker driver and SQLAlchemy CPU
and the server a statement; the answer's write took nine and the send's record five. SQLite runs
the plain statements instead: it is in-process, and its single writer already serialises them.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, DateTime, String, bindparam, cast, delete, exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert as pg_insert
from sqlalchemy.orm import aliased

from webhooks.bulk_sql import Prepared
from webhooks.models import ConversationRow, Message, Outbox

_MESSAGES, _STATES, _OUTBOX = Message.__table__, ConversationRow.__table__, Outbox.__table__

# What a turn does to the stored conversation state, given the state it was computed from.
INSERT, UPDATE, DELETE, ABSENT = "insert", "update", "delete", "absent"


def state_change(before: dict | None, after: dict | None) -> str:
    """Which compare-and-swap writes `after` over `before` (ABSENT: none before, none after)."""
    if before is None:
        return INSERT if after is not None else ABSENT
    return UPDATE if after is not None else DELETE


def _same_state() -> Any:
    # JSON has no equality on PostgreSQL; jsonb compares values, as the Python dicts did.
    return cast(_STATES.c.data, JSONB) == cast(bindparam("before", type_=JSON), JSONB)


@lru_cache(maxsize=None)
def claim_and_swap(fields: tuple[str, ...], change: str | None) -> Prepared:
    """Claim an inbound message and, in the same statement, swap its citizen's conversation state.

    Returns (citizen_id, swapped) when the message was still unanswered, no row otherwise. The swap
    only happens if the state is still `before` (a compare-and-swap: a concurrent writer's UPDATE
    makes PostgreSQL re-check the row and find it changed); swapped = 0 then, and the caller rolls
    the claim back and thinks again. `change` None: the turn left the state alone.
    Parameters: message_id, status, each of `fields`; state_key (the zalo id), before, after, now for a change.
    """
    claimed = (update(_MESSAGES)
               .where(_MESSAGES.c.id == bindparam("message_id"), _MESSAGES.c.direction == "in",
                      _MESSAGES.c.status == "received")
               .values({name: bindparam(name) for name in ("status", *fields)})
               .returning(_MESSAGES.c.citizen_id).cte("claimed"))
    if change is None:
        return Prepared(select(claimed.c.citizen_id, literal(1).label("swapped")))
    gate = exists(select(claimed.c.citizen_id))
    mine = _STATES.c.zalo_id == bindparam("state_key")
    if change == ABSENT:  # nothing to write, but a state that appeared meanwhile is a change
        swapped: Any = select(literal(1)).where(~exists(select(_STATES.c.zalo_id).where(mine))).cte("swapped")
    elif change == INSERT:
        row = select(bindparam("state_key", type_=String), bindparam("after", type_=JSON),
                     bindparam("now", type_=DateTime(timezone=True))).where(gate)
        swapped = (pg_insert(_STATES).from_select(["zalo_id", "data", "updated_at"], row)
                   .on_conflict_do_nothing(index_elements=["zalo_id"]).returning(_STATES.c.zalo_id).cte("swapped"))
    elif change == UPDATE:
        swapped = (update(_STATES).where(mine, _same_state(), gate)
                   .values(data=bindparam("after", type_=JSON), updated_at=bindparam("now"))
                   .returning(_STATES.c.zalo_id).cte("swapped"))
    elif change == DELETE:
        swapped = delete(_STATES).where(mine, _same_state(), gate).returning(_STATES.c.zalo_id).cte("swapped")
    else:
        raise ValueError(f"unknown state change {change!r}")
    return Prepared(select(claimed.c.citizen_id,
                           select(func.count()).select_from(swapped).scalar_subquery().label("swapped")))


@lru_cache(maxsize=None)
def record_send(columns: tuple[str, ...], finished: bool) -> Prepared:
    """Record a send's result under the sender's lease and, once the row is finished, mirror it and find the next.

    Returns (id, following) when the lease was still ours, no row otherwise: the outbox update,
    the outgoing message's status and the next pending reply of the same message in one statement.
    Parameters: row_id, lease, each of `columns` (lease_until is cleared); status mirrors it.
    """
    recorded = (update(_OUTBOX)
                .where(_OUTBOX.c.id == bindparam("row_id"), _OUTBOX.c.status == "sending",
                       _OUTBOX.c.lease_until == bindparam("lease"))
                .values({**{name: bindparam(name) for name in columns}, "lease_until": None})
                .returning(_OUTBOX.c.id, _OUTBOX.c.source_id, _OUTBOX.c.seq, _OUTBOX.c.message_id)
                .cte("recorded"))
    if not finished:
        return Prepared(select(recorded.c.id, literal(None).label("following")))
    mirrored = (update(_MESSAGES).where(_MESSAGES.c.id == recorded.c.message_id)
                .values(status=bindparam("status")).cte("mirrored"))
    later = aliased(_OUTBOX, name="later")
    following = (select(later.c.id)
                 .where(later.c.source_id == recorded.c.source_id, later.c.seq > recorded.c.seq,
                        later.c.status == "pending")
                 .order_by(later.c.seq).limit(1).scalar_subquery())
    return Prepared(select(recorded.c.id, following.label("following")).add_cte(mirrored))
