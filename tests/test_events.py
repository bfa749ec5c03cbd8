"""Inbound events: every recorded Zalo event parsed, every malformed one an EventError with a reason."""
from __future__ import annotations

import pytest

from tests.zalo_fixtures import FIXTURES, load_payload
from webhooks.zalo.events import EventError, InboundEvent, parse_event

USER = "246845883529197922"
APP = "360846524940903967"
TS = "1763769600000"


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


