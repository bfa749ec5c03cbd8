"""Tests of the pure Zalo channel: signature, event parsing over recorded payloads, rendering."""
from __future__ import annotations

import hashlib
import json
import unicodedata

import pytest

from bot.replies import Button, Reply
from tests.zalo_fixtures import FIXTURES, load_payload
from webhooks.zalo.events import EventError, InboundEvent, parse_event
from webhooks.zalo.rendering import render
from webhooks.zalo.signature import sign, verify_signature

USER = "246845883529197922"
APP = "360846524940903967"
TS = "1763769600000"
BODY = json.dumps(load_payload("user_send_text"), ensure_ascii=False).encode("utf-8")
SECRET = "oa-secret-key"


# -- signature -----------------------------------------------------------------------------------

def test_sign_is_plain_sha256_of_the_concatenation():
    expected = hashlib.sha256(APP.encode() + BODY + TS.encode() + SECRET.encode()).hexdigest()
    assert sign(app_id=APP, raw_body=BODY, timestamp=TS, secret_key=SECRET) == f"mac={expected}"


def _verify(header: str | None, *, body: bytes = BODY, secret: str = SECRET, timestamp: str = TS) -> bool:
    return verify_signature(app_id=APP, raw_body=body, timestamp=timestamp, secret_key=secret, header=header)


GOOD = sign(app_id=APP, raw_body=BODY, timestamp=TS, secret_key=SECRET)


@pytest.mark.parametrize("header, expected", [
    (GOOD, True),
    (GOOD.upper(), True),  # case does not matter
    (f"  {GOOD} ", True),
    (None, False),
    ("", False),
    (GOOD[4:], False),  # no "mac=" prefix
    ("mac=", False),
    ("mac=xyz", False),
    (GOOD[:-1], False),  # truncated
    (GOOD + "00", False),
    ("sha256=" + GOOD[4:], False),
    ("mac=" + "é" * 64, False),  # non-ASCII must not raise
    ("mac=" + "0" * 64, False),
])
def test_verify_signature_header_forms(header, expected):
    assert _verify(header) is expected


@pytest.mark.parametrize("change", ["body", "secret", "timestamp", "empty_secret"])
def test_verify_signature_rejects_any_changed_input(change):
    kwargs = {"body": BODY.replace(b"khai", b"KHAI"), "secret": "other", "timestamp": "1763769600001",
              "empty_secret": ""}
    key = {"empty_secret": "secret"}.get(change, change)
    assert _verify(GOOD, **{key: kwargs[change]}) is False


def test_verify_signature_uses_exact_raw_bytes_not_reserialised_json():
    compact = json.dumps(load_payload("user_send_text"), separators=(",", ":")).encode()
    header = sign(app_id=APP, raw_body=compact, timestamp=TS, secret_key=SECRET)
    assert _verify(header, body=compact)
    assert not _verify(header, body=json.dumps(json.loads(compact)).encode())


# -- parsing -------------------------------------------------------------------------------------

OA_ID = "388613280878808645"
PARSED = {
    "user_send_text": ("text", USER, "96d3cdf3af150460909", "Làm giấy khai sinh cho con cần gì ạ?"),
    "follow": ("follow", USER, None, None),
    "unfollow": ("unfollow", USER, None, None),
    "user_click_chatnow": ("chatnow", USER, None, None),
    "user_send_image": ("media", USER, "img0001", "ảnh CCCD"),
    "user_send_sticker": ("media", USER, "stk0001", None),
    "user_send_audio": ("media", USER, "aud0001", None),
    "user_send_video": ("media", USER, "vid0001", None),
    "user_send_file": ("media", USER, "fil0001", None),
    "user_send_gif": ("media", USER, "gif0001", None),
    "user_send_link": ("media", USER, "lnk0001", "https://dichvucong.gov.vn/"),
    "user_send_business_card": ("media", USER, "card0001", None),
    "user_send_location": ("location", USER, "loc0001", None),
    "location_numbers": ("location", USER, "loc0002", None),
    "oa_send_text": ("echo", USER, "oa0001", "Chào anh/chị"),
    "user_received_message": ("receipt", USER, None, None),
    "user_seen_message": ("receipt", USER, None, None),
    "user_reacted_message": ("receipt", USER, "oa0001", None),
    "user_withdraw": ("withdraw", USER, None, None),
    "user_submit_info": ("other", USER, None, None),
    "unknown_event": ("other", USER, "poll0001", None),
    "shop_has_order": ("other", "", None, None),
    "ids_as_numbers": ("text", USER, "9630909", "xin chào"),
    "text_control_chars": ("text", USER, "ctl0001", "cấp lại CCCD\nở đâu[31m?"),
    "text_lone_surrogates": ("text", USER, "sur0001", "cấp lại CCCD ở đâu?"),
}


@pytest.mark.parametrize("name", sorted(PARSED))
def test_parse_every_recorded_event(name):
    kind, user, msg_id, text = PARSED[name]
    event = parse_event(load_payload(name))
    assert isinstance(event, InboundEvent)
    assert (event.kind, event.user_id, event.msg_id, event.text) == (kind, user, msg_id, text)
    assert event.event_name == load_payload(name)["event_name"]
    assert event.app_id == APP and isinstance(event.timestamp, str)


@pytest.mark.parametrize("name, lat, lon", [("user_send_location", 21.0285, 105.8542),
                                            ("location_numbers", 10.7769, 106.7009)])
def test_location_coordinates_from_strings_or_numbers(name, lat, lon):
    event = parse_event(load_payload(name))
    assert (event.latitude, event.longitude) == (lat, lon)


def test_every_fixture_is_covered():
    names = {p.stem for p in FIXTURES.glob("*.json")}
    bad = {n for n in names if n.startswith("bad_")}
    assert names - bad == set(PARSED)


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("bad_*.json")))
def test_bad_payloads_raise_event_error_only(name):
    with pytest.raises(EventError) as info:
        parse_event(load_payload(name))
    assert str(info.value)  # a short reason for the log


@pytest.mark.parametrize("payload", [None, 42, "text", {}, {"event_name": ""},
                                     {"event_name": "user_send_text", "sender": {"id": USER}, "message": None},
                                     {"event_name": "user_send_location", "sender": {"id": USER},
                                      "message": {"attachments": "x"}},
                                     {"event_name": "user_send_location", "sender": {"id": USER},
                                      "message": {"attachments": [{"payload": {"coordinates": {
                                          "latitude": "nan", "longitude": "1"}}}]}}])
def test_malformed_inputs_raise_event_error(payload):
    with pytest.raises(EventError):
        parse_event(payload)


def test_text_at_the_limit_is_accepted():
    payload = load_payload("user_send_text")
    payload["message"]["text"] = "a" * 10_000
    assert len(parse_event(payload).text) == 10_000


# -- rendering -----------------------------------------------------------------------------------

def test_render_text_only():
    assert render(Reply("Xin chào"), USER) == {"recipient": {"user_id": USER}, "message": {"text": "Xin chào"}}


def test_render_buttons_as_template():
    reply = Reply("Chọn mục", (Button("Nộp trực tuyến", "url", "https://dichvucong.gov.vn/"),
                               Button("Giấy tờ cần chuẩn bị", "query", "#giayto khai-sinh")))
    body = render(reply, USER)
    assert body["message"]["attachment"] == {"type": "template", "payload": {"buttons": [
        {"title": "Nộp trực tuyến", "type": "oa.open.url", "payload": {"url": "https://dichvucong.gov.vn/"}},
        {"title": "Giấy tờ cần chuẩn bị", "type": "oa.query.show", "payload": "#giayto khai-sinh"},
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
