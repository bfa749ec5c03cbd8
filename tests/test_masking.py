"""The one masking step: each personal form hidden, and the numbers that must stay."""
import pytest

from bot.masking import mask_sensitive, unmasked


@pytest.mark.parametrize("kind, text, hidden, kept", [
    ("cccd", "so cccd cua toi la 001203004567 nhe", "001203004567", "so cccd cua toi la *********567 nhe"),
    ("cmnd", "CMND 123456789", "123456789", "CMND ******789"),
    ("cccd spaced", "cccd: 001 203 004 567", "001 203 004 567", "cccd: *********567"),
    ("cccd dotted", "căn cước 001.203.004.567", "001.203.004.567", "căn cước *********567"),
    ("mobile", "số tôi 0987654321, muốn hỏi", "0987654321", "số tôi *******321, muốn hỏi"),
    ("mobile spaced", "sdt 0912 345 678", "0912 345 678", "sdt *******678"),
    ("mobile dotted", "gọi 0912.345.678 nhé", "0912.345.678", "gọi *******678 nhé"),
    ("mobile dashed", "0912-345-678", "0912-345-678", "*******678"),
    ("country code", "số điện thoại 84912345678", "84912345678", "số điện thoại ********678"),
    ("plus country code", "zalo +84 912 345 678", "+84 912 345 678", "zalo ********678"),
    ("landline", "máy bàn 02438251234", "02438251234", "máy bàn ********234"),
    ("email", "mail nguyen.van.a@gmail.com nhé", "nguyen.van.a", "mail ***@gmail.com nhé"),
    ("tax code", "mã số thuế 0101234567", "0101234567", "mã số thuế *******567"),
    ("tax code branch", "MST 0101234567-001", "0101234567", "MST **********001"),
    ("passport", "hộ chiếu B1234567", "B1234567", "hộ chiếu B****567"),
    ("passport two letters", "passport CA1234567", "1234567", "passport C****567"),
    ("bank account", "stk 19035678901234 techcombank", "19035678901234", "stk ***********234 techcombank"),
    ("short bank account", "số tài khoản: 123456", "123456", "số tài khoản: ***456"),
    ("card", "thẻ 4111 1111 1111 1111", "4111 1111 1111 1111", "thẻ *************111"),
    ("two numbers", "0912345678 hoặc 0987654321", "0987654321", "*******678 hoặc *******321"),
    ("long after short", "phòng 12 0912345678", "0912345678", "phòng 12 *******678"),
    ("otp", "ma otp 482913", "482913", "ma otp ******"),
    ("otp words", "Mã xác thực: 1234", "1234", "Mã xác thực: ****"),
    ("bare code", "482913", "482913", "******"),
])
def test_masks(kind, text, hidden, kept):
    out = mask_sensitive(text)
    assert hidden not in out, kind
    assert out == kept, kind
    assert unmasked(text) and not unmasked(out), kind
    assert mask_sensitive(out) == out  # masking twice changes nothing


@pytest.mark.parametrize("text", [
    "sinh năm 1960, có 2 con",
    "phí 20.000đ",
    "lệ phí 150.000.000 đồng",
    "hết 1500000 vnd",
    "mất 15 triệu",
    "ngày 12/05/2024 tôi nộp hồ sơ",
    "hẹn 2024-05-12",
    "từ 12.05.2024 đến 20.05.2024",
    "giai đoạn 2020-2024",
    "mã thủ tục 1.001193",
    "thủ tục 2.000986 và 1.004227",
    "gọi 113 hoặc 114",
    "tờ khai CT01",
    "giờ làm 7:30-17:00",
    '127.0.0.1 "GET /healthz HTTP/1.1" 200 147 0.083280',
    "số điện thoại của xã là gì",
    "quên mã OTP thì làm sao",
    "",
])
def test_leaves_other_text(text):
    assert mask_sensitive(text) == text
    assert unmasked(text) == []
