"""Webhook signatures: mac=sha256(app_id + raw body + timestamp + OA secret key), compared on the exact bytes."""
from __future__ import annotations

import hashlib
import json

import pytest

from tests.zalo_fixtures import load_payload
from webhooks.zalo.signature import sign, verify_signature

APP = "360846524940903967"
TS = "1763769600000"
BODY = json.dumps(load_payload("user_send_text"), ensure_ascii=False).encode("utf-8")
SECRET = "oa-secret-key"


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
