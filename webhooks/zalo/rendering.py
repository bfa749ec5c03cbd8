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
    if reply.form == "ask_info":
        return {"recipient": {"user_id": user_id}, "message": _info_form(reply.text)}
    if reply.form:
        raise ValueError(f"unknown form {reply.form!r}")
    # Reply already enforces the limits; re-applied so a hand-built object cannot exceed them.
    message: dict[str, Any] = {"text": shorten(unicodedata.normalize("NFC", reply.text), MAX_TEXT)}
    buttons = [_render_button(b) for b in tuple(reply.buttons)[:MAX_BUTTONS]]
    if buttons:
        message["attachment"] = {"type": "template", "payload": {"buttons": buttons}}
    return {"recipient": {"user_id": user_id}, "message": message}


def _info_form(text: str) -> dict[str, Any]:
    # Zalo's request_user_info template: the user taps it and chooses to share name, phone and address
    # (they come back as a user_submit_info event). No text field: the first line is the title.
    title, _, subtitle = unicodedata.normalize("NFC", text).partition("\n")
    element = {"title": shorten(title, 100), "subtitle": shorten(subtitle.strip() or title, 500)}
    return {"attachment": {"type": "template", "payload": {"template_type": "request_user_info",
                                                           "elements": [element]}}}
