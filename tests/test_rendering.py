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


def test_render_the_request_user_info_form():
    body = render(Reply("Cho phép xã liên hệ lại\nBấm để chia sẻ số điện thoại.", form="ask_info"), "u1")
    payload = body["message"]["attachment"]["payload"]
    assert "text" not in body["message"] and payload["template_type"] == "request_user_info"
    assert payload["elements"] == [{"title": "Cho phép xã liên hệ lại", "subtitle": "Bấm để chia sẻ số điện thoại."}]


def test_render_refuses_an_unknown_form():
    with pytest.raises(ValueError):
        render(Reply("x", form="survey"), "u1")


def test_a_form_survives_the_outbox_round_trip():
    reply = Reply("Tiêu đề\nmô tả", form="ask_info")
    assert Reply.from_dict(reply.to_dict()) == reply and "form" not in Reply("x").to_dict()
