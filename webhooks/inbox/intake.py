"""The webhook's write: a verified event stored (or acted on) in one transaction, before Zalo gets its 200."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy.exc import DBAPIError

from bot.masking import mask_sensitive
from webhooks.inbox.people import accept_shared_info
from webhooks.storage.citizens import forget_citizen, upsert_citizen_id
from webhooks.storage.engine import Database, dialect_insert
from webhooks.storage.models import Message, utcnow
from webhooks.zalo.echoes import note_echo
from webhooks.zalo.events import InboundEvent

log = logging.getLogger(__name__)

# Events that are the citizen reaching out: they open the 7-day window and get an answer.
ANSWERED_KINDS = frozenset({"text", "follow", "chatnow", "media", "location"})
NOT_STORED_KINDS = frozenset({"echo", "receipt", "other"})  # echoes must never be answered: no row, no reply


@dataclass(frozen=True)
class Accepted:
    """What the webhook did with an event: `message_id` is set when answering must follow."""

    note: str  # stored | duplicate | recorded | deleted | ignored | confirmed (an echo: see zalo.echoes)
    message_id: int | None = None


def dedupe_key(event: InboundEvent) -> str:
    """Zalo's msg_id, or a synthetic key for events that carry none (follow, chatnow, ...)."""
    return event.msg_id or f"{event.event_name}:{event.user_id}:{event.timestamp or ''}"


def accept(database: Database, event: InboundEvent, payload: dict[str, Any],
           commune_id: int | None = None) -> Accepted:
    """Store (or act on) one verified event; committed when this returns. Raises what the database raised.

    `commune_id`: the commune whose OA the event was signed for (None: the environment's commune).
    """
    if event.kind == "echo":
        return _echo(database, event)
    if event.event_name == "user_submit_info" and event.user_id:
        return _shared_info(database, event, payload)
    if event.kind in NOT_STORED_KINDS or not event.user_id:
        return Accepted("ignored")
    if event.kind == "withdraw":
        with database.transaction() as conn:
            forget_citizen(conn, event.user_id)
        try:
            database.flush_deleted()
        except DBAPIError:  # committed already; the log empties at the next checkpoint instead
            log.warning("webhook: write-ahead log not emptied after a withdrawal")
        return Accepted("deleted")
    with database.transaction() as conn:
        answered = event.kind in ANSWERED_KINDS
        citizen_id = upsert_citizen_id(conn, event.user_id, interacted=answered,
                                       following={"follow": True, "unfollow": False}.get(event.kind),
                                       commune_id=commune_id)
        masked = mask_sensitive(event.text or "")
        message_id = conn.execute(_insert_message(conn.dialect.name), {
            "citizen_id": citizen_id, "direction": "in", "msg_id": dedupe_key(event), "event_name": event.event_name,
            "text": masked, "payload": _masked_payload(payload, masked), "created_at": utcnow(),
            "status": "received" if answered else "skipped", "outcome": None if answered else "ignored",
            "normalized": ""}).scalar()
    if message_id is None:
        return Accepted("duplicate")
    return Accepted("stored", message_id) if answered else Accepted("recorded")


def _shared_info(database: Database, event: InboundEvent, payload: dict[str, Any]) -> Accepted:
    # The citizen answered the request-user-info form: what they shared goes to their profile, for staff
    # only; the event itself (phone and address in it) is not stored as a message.
    with database.transaction() as conn:
        citizen_id = upsert_citizen_id(conn, event.user_id, interacted=True)
        return Accepted("recorded" if accept_shared_info(conn, citizen_id, payload) else "ignored")


@lru_cache(maxsize=None)
def _insert_message(dialect: str) -> Any:
    # A msg_id seen before is Zalo retrying: the first copy counts, the insert returns no row.
    return (dialect_insert(dialect, Message.__table__).on_conflict_do_nothing(index_elements=["msg_id"])
            .returning(Message.__table__.c.id))


def _echo(database: Database, event: InboundEvent) -> Accepted:
    # Never answered, never stored as a message: at most noted on the reply it repeats.
    try:
        return Accepted("confirmed" if note_echo(database, event) is not None else "ignored")
    except Exception:  # only a resend is at stake: Zalo must still get its 200
        log.exception("webhook: could not compare echo %s with unconfirmed replies", event.msg_id)
        return Accepted("ignored")


# Keys whose values are identifiers or numbers the answering step re-reads from the stored event.
KEPT_KEYS = frozenset({"id", "msg_id", "app_id", "user_id", "user_id_by_app", "oa_id", "timestamp", "event_name",
                        "latitude", "longitude", "type"})


def _masked_payload(payload: dict[str, Any], masked: str) -> dict[str, Any]:
    """The event as stored: message.text as parsed and masked, every other string masked too (captions,
    attachment descriptions, submitted info), identifiers kept. The caller's payload is left as it was."""
    stored = _mask_strings(payload)
    message = stored.get("message")
    if isinstance(message, dict) and isinstance(message.get("text"), str):
        message["text"] = masked
    return stored


def _mask_strings(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _mask_strings(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_strings(v, key) for v in value]
    if isinstance(value, str) and key not in KEPT_KEYS:
        return mask_sensitive(value)
    return value
