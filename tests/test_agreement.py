"""Object agreement: fixing, re-issuing or replacing a paper is not registering it for the first time."""
from __future__ import annotations

import pytest

from bot.agreement import agrees, asks_to_fix, first_registration
from bot.text import clean

BIRTH = "Đăng ký khai sinh"


@pytest.mark.parametrize("question, title, fits", [
    ("sửa tên trong giấy khai sinh", BIRTH, False),
    ("sua ngay sinh bi sai tren giay khai sinh", BIRTH, False),
    ("giấy đăng ký kết hôn bị mất", "Đăng ký kết hôn", False),
    ("xin bản sao giấy khai sinh", BIRTH, False),
    ("sửa tên trong giấy khai sinh", "Thay đổi, cải chính, bổ sung thông tin hộ tịch", True),
    ("làm lại giấy khai sinh bị mất", "Đăng ký lại khai sinh", True),
    ("làm giấy khai sinh cho con mới đẻ", BIRTH, True),
    ("khai sinh mất bao lâu", BIRTH, True),              # "mất bao lâu": how long, not lost
    ("sửa nhà có cần giấy phép không", "Cấp giấy phép xây dựng", True),  # repairing a house is no paper fix
    ("hộ chiếu hết hạn làm lại ở đâu", "Cấp hộ chiếu phổ thông", True),  # an expired paper is applied for again
    ("mất bằng lái xe", "Cấp đổi giấy phép lái xe (bằng lái)", False),  # lost: re-issue, not exchange
    ("bằng lái hết hạn đổi ở đâu", "Cấp đổi giấy phép lái xe (bằng lái)", True),
    ("mất căn cước", "Cấp, cấp đổi, cấp lại thẻ căn cước", True),
    ("chồng tôi là người Mỹ, khai sinh cho con", BIRTH, False),  # a foreigner: the procedure with a foreign element
    ("chồng tôi là người Mỹ, khai sinh cho con", "Đăng ký khai sinh có yếu tố nước ngoài", True),
    ("con tôi đi học ở Mỹ về làm căn cước", "Cấp, cấp đổi, cấp lại thẻ căn cước", True),
])
def test_agrees(question, title, fits):
    assert agrees(clean(question), title) is fits


@pytest.mark.parametrize("title, first", [
    ("Đăng ký khai sinh", True), ("Cấp sổ đỏ lần đầu", True), ("Đăng ký lại khai sinh", False),
    ("Cấp bản sao trích lục hộ tịch", False), ("Đăng ký biến động đất đai", False), ("Gia hạn tạm trú", False),
    ("Chứng thực bản sao từ bản chính", False),
])
def test_first_registration(title, first):
    assert first_registration(title) is first


def test_expired_papers_are_not_fixes():
    assert asks_to_fix(clean("giấy phép lái xe bị mất cấp lại"))
    assert not asks_to_fix(clean("hộ chiếu hết hạn cấp lại"))
