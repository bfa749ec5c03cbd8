"""Rendering a Reply as Zalo's message/cs body: text, buttons, limits re-checked."""
from __future__ import annotations

import unicodedata

import pytest

from bot.replies import Button, Reply
from webhooks.zalo.rendering import render

USER = "246845883529197922"


def test_render_text_only():
    assert render(Reply("Xin chào"), USER) == {"recipient": {"user_id": USER}, "message": {"text": "Xin chào"}}


def test_render_buttons_as_template():
    reply = Reply("Chọn mục", (Button("Nộp trực tuyến", "url", "https://dichvucong.gov.vn/"),
                               Button("Giấy tờ cần chuẩn bị", "query", "#giayto khai-sinh")))
    body = render(reply, USER)
    assert body["message"]["attachment"] == {"type": "template", "payload": {"buttons": [
        {"title": "Nộp trực tuyến", "type": "oa.open.url", "payload": {"url": "https://dichvucong.gov.vn/"}},
        {"title": "Giấy tờ cần chuẩn bị", "type": "oa.query.hide", "payload": "#giayto khai-sinh"},
    ]}}


def test_render_rechecks_limits_of_a_hand_built_reply():
    reply = Reply("x")
    decomposed = unicodedata.normalize("NFD", "Đăng ký khai sinh ") * 200  # NFD is longer than NFC
    object.__setattr__(reply, "text", decomposed)
    buttons = tuple(Button("b", "query", f"#q {i}") for i in range(6))
    for button in buttons:
        object.__setattr__(button, "title", "b" * 150)
    object.__setattr__(reply, "buttons", buttons)
    message = render(reply, USER)["message"]
    assert len(message["text"]) <= 2000 and unicodedata.is_normalized("NFC", message["text"])
    buttons = message["attachment"]["payload"]["buttons"]
    assert len(buttons) == 4 and all(len(b["title"]) <= 100 for b in buttons)


@pytest.mark.parametrize("user_id", ["", None])
def test_render_needs_a_user(user_id):
    with pytest.raises(ValueError):
        render(Reply("x"), user_id)
