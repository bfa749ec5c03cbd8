"""Mask ID-card numbers and OTP-like codes before text is stored or logged."""
from __future__ import annotations

import re

# 12-digit thẻ căn cước / CCCD and 9-digit CMND numbers, possibly typed with spaces or dots.
_ID_NUMBER = re.compile(r"(?<!\d)(?:\d[ .-]?){11}\d(?!\d)|(?<!\d)(?:\d[ .-]?){8}\d(?!\d)")
# 4–8 digit codes next to a word that says they are a code (OTP, mã, code, xác thực/xác nhận).
_OTP = re.compile(
    r"(?i)((?:otp|m[aã]\s*(?:x[aá]c\s*(?:th[uự]c|nh[aậ]n)|otp)?|code|pin)\D{0,12}?)(?<!\d)(\d{4,8})(?!\d)"
)
# A message that is nothing but a 4–8 digit code is almost always an OTP pasted by mistake.
_BARE_CODE = re.compile(r"^\s*\d{4,8}\s*$")


def mask_sensitive(text: str) -> str:
    """Text with ID numbers and OTP-like codes replaced by asterisks (digits kept short: last 3)."""
    if not text:
        return text
    if _BARE_CODE.match(text):
        return re.sub(r"\d", "*", text)
    text = _ID_NUMBER.sub(lambda m: _stars(m.group(0)), text)
    return _OTP.sub(lambda m: m.group(1) + "*" * len(m.group(2)), text)


def _stars(number: str) -> str:
    digits = re.sub(r"\D", "", number)
    return "*" * (len(digits) - 3) + digits[-3:]
