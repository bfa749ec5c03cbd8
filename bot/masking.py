"""The one masking step: citizens' personal numbers and addresses hidden before text is stored, logged or shown.

Masked: ID-card (CMND 9, CCCD 12 digits) and passport numbers, phone numbers in their Vietnamese forms
(0912345678, 0912 345 678, 84912345678, +84 912…, landlines 024…), e-mail addresses, tax codes, bank-
account and card numbers, OTPs. The words around them stay ("số điện thoại", "mã OTP"), so the engine
still understands the question. Kept: dates, amounts of money, procedure codes (1.001193), years.
"""
from __future__ import annotations

import re

# A number as people type it: digits, optionally grouped by single spaces, dots or dashes ("0912 345 678",
# "001.203.004.567"), optionally after + (+84). Letters or digits glued on either side make it a word.
_NUMBER = re.compile(r"(?<![\w.+])\+?\d+(?:[ .\-]\d+)*(?![\w]|[.,]\d)")
_SEPARATOR = re.compile(r"[ .\-]")
LONG_NUMBER = 8  # this many digits or more: phone, ID, tax code, bank account or card, whatever the context
# What a long number is not: an amount of money (the unit follows), a date or a range of years.
_MONEY_AFTER = re.compile(r"^\s?(?:đ|đồng|dong|vnđ|vnd|k\b|nghìn|nghin|ngàn|ngan|triệu|trieu|tr\b|tỷ|ty\b)",
                          re.IGNORECASE)
_DATE = re.compile(r"^(?:\d{1,2}[./-]\d{1,2}[./-](?:19|20)\d\d|(?:19|20)\d\d[./-]\d{1,2}[./-]\d{1,2}"
                   r"|(?:19|20)\d\d\s?-\s?(?:19|20)\d\d)$")
# Shorter numbers are personal only when a word says so: an account number or an OTP.
_ACCOUNT = re.compile(r"(?i)((?:stk|s[oố]\s*t[aà]i\s*kho[aả]n|t[aà]i\s*kho[aả]n|tk|account)\D{0,12}?)"
                      r"(?<![\w.])(\d(?:[ .\-]?\d){4,})(?!\w)")
_OTP = re.compile(
    r"(?i)((?:otp|m[aã]\s*(?:x[aá]c\s*(?:th[uự]c|nh[aậ]n)|otp)?|code|pin)\D{0,12}?)(?<!\d)(\d{4,8})(?!\d)"
)
# A message that is nothing but a 4–8 digit code is almost always an OTP pasted by mistake.
_BARE_CODE = re.compile(r"^\s*\d{4,8}\s*$")
# Passports: one or two letters and seven digits (B1234567, C1234567).
_PASSPORT = re.compile(r"(?<![\w])([A-Za-z]{1,2})(\d{7})(?![\w])")
_EMAIL = re.compile(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)")
KEEP_DIGITS = 3  # the last digits shown, so staff can tell two numbers apart


def mask_sensitive(text: str) -> str:
    """Text with personal numbers and e-mail addresses replaced by asterisks (last 3 digits kept)."""
    if not text:
        return text
    if _BARE_CODE.match(text):
        return re.sub(r"\d", "*", text)
    text = _EMAIL.sub(lambda m: "***@" + m.group(1), text)
    text = _NUMBER.sub(_long_number, text)
    text = _PASSPORT.sub(lambda m: m.group(1)[0] + _stars(m.group(2)), text)
    text = _ACCOUNT.sub(lambda m: m.group(1) + _stars(m.group(2)), text)
    return _OTP.sub(lambda m: m.group(1) + "*" * len(m.group(2)), text)


def _long_number(match: re.Match[str]) -> str:
    number = match.group(0)
    if _DATE.match(number) or _MONEY_AFTER.match(match.string[match.end():]):
        return number
    groups = _SEPARATOR.split(number.lstrip("+"))
    # One number typed in groups ("0912 345 678", "001.203.004.567") has groups of 2–4 after the first;
    # anything else ("200 147 0.083", "phòng 101 102") is several numbers, each judged alone.
    if len(groups) > 1 and not all(2 <= len(g) <= 4 for g in groups[1:]):
        return re.sub(r"\d+", lambda m: _stars(m.group(0)) if len(m.group(0)) >= LONG_NUMBER else m.group(0), number)
    return _stars(number) if len(re.sub(r"\D", "", number)) >= LONG_NUMBER else number


def _stars(number: str) -> str:
    digits = re.sub(r"\D", "", number)
    return "*" * (len(digits) - KEEP_DIGITS) + digits[-KEEP_DIGITS:]


def unmasked(text: str) -> list[str]:
    """The personal numbers or addresses `text` still shows in clear (empty when masking changes nothing)."""
    if not text or mask_sensitive(text) == text:
        return []
    found = [m.group(0) for m in _EMAIL.finditer(text)]
    found += [m.group(0) for m in _NUMBER.finditer(text) if _long_number(m) != m.group(0)]
    found += [m.group(0) for m in _PASSPORT.finditer(text)]
    return found or [text]
