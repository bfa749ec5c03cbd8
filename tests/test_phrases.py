"""Short conversational phrases recognised after normalisation, fillers and emoji included."""
from __future__ import annotations

import pytest

from bot.text import clean
from bot.phrases import PhraseSet

ACKS = PhraseSet(["ok", "vâng", "dạ", "👍", "❤️"], clean)
WRONG = PhraseSet(["không phải", "không phải cái này", "sai rồi"], clean)


@pytest.mark.parametrize("text, found", [
    ("ok", True), ("OK bot", True), ("vâng ạ", True), ("Dạ", True), ("👍", True), ("👍👍", True), ("❤", True),
    ("ok làm căn cước", False), ("😀", False), ("", False), ("vâng, cho hỏi khai sinh", False),
])
def test_whole_message_matches(text, found):
    assert ACKS.matches(text, clean(text)) is found


@pytest.mark.parametrize("text, rest", [
    ("không phải", ""), ("Không phải cái này ạ", ""), ("sai rồi, tôi hỏi làm lại khai sinh", "hoi lam lai khai sinh"),
    ("khai sinh", None),
    ("không phải nộp phí à", None),  # one question ("need not pay?"): no punctuation sets the phrase off
    ("Không phải! Tôi hỏi tách hộ khẩu", "hoi tach ho khau"),
])
def test_leading_phrase_is_stripped(text, rest):
    assert WRONG.strip_leading(text, clean(text)) == rest
