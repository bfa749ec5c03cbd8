"""Masking of ID-card numbers and OTP-like codes."""
import pytest

from bot.masking import mask_sensitive


@pytest.mark.parametrize("text, hidden, kept", [
    ("so cccd cua toi la 001203004567 nhe", "001203004567", "*********567"),
    ("CMND 123456789", "123456789", "******789"),
    ("cccd: 001 203 004 567", "001 203 004 567", "567"),
    ("ma otp 482913", "482913", "******"),
    ("Mã xác thực: 1234", "1234", "****"),
    ("482913", "482913", "******"),
])
def test_masks(text, hidden, kept):
    out = mask_sensitive(text)
    assert hidden not in out
    assert kept in out


@pytest.mark.parametrize("text", ["sdt 0912345678", "sinh năm 1960, có 2 con", "phí 20.000đ", ""])
def test_leaves_other_numbers(text):
    assert mask_sensitive(text) == text
