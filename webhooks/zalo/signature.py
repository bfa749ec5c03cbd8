"""Zalo webhook signatures: X-ZEvent-Signature is mac=sha256(app_id + raw body + timestamp + OA secret key)."""
from __future__ import annotations

import hashlib
import hmac
import re

SIGNATURE_HEADER = "X-ZEvent-Signature"
_MAC = re.compile(r"mac=([0-9a-f]{64})", re.IGNORECASE)


def sign(*, app_id: str, raw_body: bytes, timestamp: str, secret_key: str) -> str:
    """The X-ZEvent-Signature header value Zalo would send for this body."""
    data = app_id.encode() + raw_body + timestamp.encode() + secret_key.encode()
    return "mac=" + hashlib.sha256(data).hexdigest()


def verify_signature(*, app_id: str, raw_body: bytes, timestamp: str, secret_key: str,
                     header: str | None) -> bool:
    """True when `header` is `mac=<sha256(app_id + raw_body + timestamp + secret_key)>`."""
    if not header or not secret_key:
        return False
    found = _MAC.fullmatch(header.strip())
    if found is None:
        return False
    expected = sign(app_id=app_id, raw_body=raw_body, timestamp=timestamp, secret_key=secret_key)[4:]
    return hmac.compare_digest(found.group(1).lower().encode("ascii"), expected.encode("ascii"))
