"""Outbound rendering: a channel-neutral Reply as the body of Zalo's v3 `message/cs` request."""
from __future__ import annotations

import unicodedata
from typing import Any

from bot.replies import MAX_BUTTON_TITLE, MAX_BUTTONS, MAX_TEXT, Reply, shorten


def _render_button(button: Any) -> dict[str, Any]:
    title = shorten(button.title, MAX_BUTTON_TITLE)
    if button.kind == "url":
        return {"title": title, "type": "oa.open.url", "payload": {"url": button.value}}
    if button.kind == "query":  # hidden: the payload ("#lephi khai-sinh") never shows as the citizen's message
        return {"title": title, "type": "oa.query.hide", "payload": button.value}
    raise ValueError(f"unknown button kind {button.kind!r}")


def render(reply: Reply, user_id: str) -> dict[str, Any]:
    """The v3 `message/cs` request body for `reply` to `user_id`."""
    if not isinstance(user_id, str) or not user_id:
        raise ValueError("user_id must be a non-empty string")
    # Reply already enforces the limits; re-applied so a hand-built object cannot exceed them.
    message: dict[str, Any] = {"text": shorten(unicodedata.normalize("NFC", reply.text), MAX_TEXT)}
    buttons = [_render_button(b) for b in tuple(reply.buttons)[:MAX_BUTTONS]]
    if buttons:
        message["attachment"] = {"type": "template", "payload": {"buttons": buttons}}
    return {"recipient": {"user_id": user_id}, "message": message}
