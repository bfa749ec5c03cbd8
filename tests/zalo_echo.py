"""FakeZalo's echoes: the `oa_send_text` event Zalo posts back to the webhook for every OA message it accepted.

Our assumption, from integrations that handle echoes: the echo carries the recipient, Zalo's message
id (the one the send answered with) and the text, also for a text with buttons.
"""
from __future__ import annotations

import json
from typing import Any

import requests

from webhooks.zalo.signature import SIGNATURE_HEADER, sign


def echo_payload(app_id: str, oa_id: str, record: Any) -> dict[str, Any]:
    """The echo of an accepted send (a FakeZalo SendRecord)."""
    return {"app_id": app_id, "event_name": "oa_send_text", "sender": {"id": oa_id},
            "recipient": {"id": record.user_id}, "timestamp": str(int(record.time * 1000)),
            "message": {"msg_id": record.message_id, "text": record.body["message"]["text"]}}


def post_echo(target: tuple[str, str], payload: dict[str, Any]) -> None:
    """POST `payload` to the webhook URL, signed with the OA secret key, as Zalo would."""
    url, secret = target
    raw = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    mac = sign(app_id=payload["app_id"], raw_body=raw, timestamp=payload["timestamp"], secret_key=secret)
    try:
        requests.post(url, data=raw, headers={"Content-Type": "application/json", SIGNATURE_HEADER: mac}, timeout=5)
    except requests.RequestException:
        pass  # Zalo would retry later; tests that need the echo wait for its effect
