"""Channel-neutral replies respect the channel limits."""
import unicodedata

import pytest

from bot.replies import MAX_TEXT, Button, Reply, nfc_len


def test_long_text_is_cut_within_limit_counted_after_nfc():
    text = unicodedata.normalize("NFD", "Đăng ký khai sinh. " * 300)
    reply = Reply(text)
    assert nfc_len(reply.text) <= MAX_TEXT
    assert reply.text.endswith("…")


def test_at_most_four_buttons():
    with pytest.raises(ValueError):
        Reply("x", tuple(Button(str(i), "query", str(i)) for i in range(5)))


def test_button_title_shortened_to_100():
    assert len(Button("a" * 300, "query", "x").title) <= 100


def test_unknown_button_kind_rejected():
    with pytest.raises(ValueError):
        Button("x", "phone", "1")


def test_round_trip():
    r = Reply("Xin chào", (Button("Mở", "url", "https://dichvucong.gov.vn/"),))
    assert Reply.from_dict(r.to_dict()) == r
