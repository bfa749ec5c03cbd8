"""Inbound Zalo webhook events reduced to what the service acts on (InboundEvent), or EventError."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

MAX_INBOUND_TEXT = 10_000

MEDIA_EVENTS = frozenset({
    "user_send_image", "user_send_gif", "user_send_link", "user_send_audio", "user_send_video",
    "user_send_sticker", "user_send_file", "user_send_business_card",
})
RECEIPT_EVENTS = frozenset({"user_received_message", "user_seen_message", "user_reacted_message"})
KINDS = ("text", "follow", "unfollow", "chatnow", "media", "location", "echo", "receipt", "withdraw", "other")

# Every control character except newline (CR, NUL, escape, C1 controls), and lone surrogates (JSON
# can carry them, no database text can); tabs become spaces first so that words they separated stay apart.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


class EventError(ValueError):
    """An inbound payload that is not a usable Zalo event; the message is a short reason."""


@dataclass(frozen=True)
class InboundEvent:
    """One webhook event reduced to what the service acts on."""

    kind: str  # one of KINDS
    event_name: str
    user_id: str  # the citizen's Zalo id ("" only when an ignorable event names nobody)
    msg_id: str | None = None
    text: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    timestamp: str | None = None
    app_id: str | None = None


def _opt_id(value: object, where: str) -> str | None:
    # Ids exceed 2**53, so they should be strings; some senders still emit numbers.
    if value is None:
        return None
    if isinstance(value, bool):
        raise EventError(f"{where}: expected an id, got a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise EventError(f"{where}: not an id")


def _id(value: object, where: str) -> str:
    found = _opt_id(value, where)
    if found is None:
        raise EventError(f"{where}: missing")
    return found


def _obj(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    if isinstance(value, dict):
        return value
    raise EventError(f"{key}: missing or not an object")


def _clean_text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise EventError(f"{where}: missing or not a string")
    if len(value) > MAX_INBOUND_TEXT:
        raise EventError(f"{where}: longer than {MAX_INBOUND_TEXT} characters")
    return _CONTROL.sub("", value.replace("\t", " "))


def _coordinate(value: object, where: str, bound: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise EventError(f"{where}: missing or not a number")
    try:
        number = float(value)
    except ValueError:
        raise EventError(f"{where}: not a number") from None
    if not math.isfinite(number) or abs(number) > bound:
        raise EventError(f"{where}: out of range")
    return number


def _location(message: dict[str, Any]) -> tuple[float, float]:
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or not attachments or not isinstance(attachments[0], dict):
        raise EventError("message.attachments: missing or empty")
    payload = attachments[0].get("payload")
    coords = payload.get("coordinates") if isinstance(payload, dict) else None
    if not isinstance(coords, dict):
        raise EventError("message.attachments[0].payload.coordinates: missing")
    return (_coordinate(coords.get("latitude"), "coordinates.latitude", 90.0),
            _coordinate(coords.get("longitude"), "coordinates.longitude", 180.0))


def _first_id(payload: dict[str, Any], *paths: tuple[str, str]) -> str:
    """First usable id among (object, key) paths; "" when none — for events we only log."""
    for outer, key in paths:
        holder = payload if outer == "" else payload.get(outer)
        if isinstance(holder, dict):
            try:
                found = _opt_id(holder.get(key), f"{outer}.{key}")
            except EventError:
                continue
            if found:
                return found
    return ""


def parse_event(payload: object) -> InboundEvent:
    """Map a decoded webhook body to an InboundEvent; raises EventError on anything unusable."""
    if not isinstance(payload, dict):
        raise EventError("payload: not a JSON object")
    name = payload.get("event_name")
    if not isinstance(name, str) or not name:
        raise EventError("event_name: missing or not a string")
    timestamp = _opt_id(payload.get("timestamp"), "timestamp")
    app_id = _opt_id(payload.get("app_id"), "app_id")

    def event(kind: str, user_id: str, **fields: Any) -> InboundEvent:
        return InboundEvent(kind=kind, event_name=name, user_id=user_id, timestamp=timestamp,
                            app_id=app_id, **fields)

    if name in ("follow", "unfollow"):
        user = _id(_obj(payload, "follower").get("id"), "follower.id")
        return event(name, user)
    if name == "user_click_chatnow":
        return event("chatnow", _id(payload.get("user_id"), "user_id"))
    if name == "user_send_text":
        user = _id(_obj(payload, "sender").get("id"), "sender.id")
        message = _obj(payload, "message")
        return event("text", user, msg_id=_id(message.get("msg_id"), "message.msg_id"),
                     text=_clean_text(message.get("text"), "message.text"))
    if name in MEDIA_EVENTS or name == "user_send_location":
        user = _id(_obj(payload, "sender").get("id"), "sender.id")
        message = _obj(payload, "message")
        msg_id = _opt_id(message.get("msg_id"), "message.msg_id")
        caption = message.get("text")
        text = _clean_text(caption, "message.text") if caption is not None else None
        if name in MEDIA_EVENTS:
            return event("media", user, msg_id=msg_id, text=text)
        lat, lon = _location(message)
        return event("location", user, msg_id=msg_id, text=text, latitude=lat, longitude=lon)
    if name == "user_withdraw":
        # The citizen asks for deletion: without their id we cannot honour it, so it is required.
        user = _first_id(payload, ("sender", "id"), ("", "user_id"), ("follower", "id"))
        if not user:
            raise EventError("user_withdraw: no user id")
        return event("withdraw", user)

    # Ignorable events: the citizen id is best-effort, never an error.
    message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
    msg_id = _first_id({"message": message}, ("message", "msg_id")) or None
    if name.startswith("oa_send_"):
        # Echo of what the OA sent: the citizen is the recipient. Its text (best-effort) can confirm a
        # send whose answer never came back (webhooks.zalo.echoes).
        user = _first_id(payload, ("recipient", "id"), ("", "user_id"))
        text = message.get("text")
        echoed = text if isinstance(text, str) and len(text) <= MAX_INBOUND_TEXT else None
        return event("echo", user, msg_id=msg_id, text=echoed)
    if name in RECEIPT_EVENTS:
        # Sources disagree on which side is the OA for receipts; prefer the sender only for reactions.
        paths = [("recipient", "id"), ("sender", "id")]
        if name == "user_reacted_message":
            paths.reverse()
        user = _first_id(payload, *paths, ("", "user_id"))
        return event("receipt", user, msg_id=msg_id)
    user = _first_id(payload, ("sender", "id"), ("", "user_id"), ("follower", "id"))
    return event("other", user, msg_id=msg_id)
