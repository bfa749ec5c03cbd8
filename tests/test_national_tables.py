"""The portal's flattened tables: channels (time, fee), documents, legal bases; the online level."""
from __future__ import annotations

import pytest

from bot.national.channels import CAVEAT, HEADER, PROVINCE_FEE, online_level, parse_channels, summary
from bot.national.documents import DOC_HEADER, LAW_HEADER, parse_documents, parse_legal_basis, short_name
from bot.national.records import SEE_PAGE, Channel

DIRECT, ONLINE, POST = "Trực tiếp", "Trực tuyến", "Dịch vụ bưu chính"


def kinds(issues):
    return {(i.field, i.kind) for i in issues}


# (cells after the header, expected (kind, time, fee) per channel, expected issue fields)
CHANNEL_CASES = [
    pytest.param("Trực tiếp7 Ngày làm việc50,000 Việt Nam Đồng(50.000 đồng/thẻ)Trực tuyến7 Ngày làm việc50,000 VNĐ",
                 [(DIRECT, "7 ngày làm việc", "50.000 đồng"), (ONLINE, "7 ngày làm việc", "50.000 đồng")], set(),
                 id="figures-agree-with-note"),
    pytest.param("Trực tuyến1Miễn phíDịch vụ bưu chính1Miễn phíTrực tiếp1Miễn phí",
                 [(DIRECT, SEE_PAGE, "Miễn phí"), (ONLINE, SEE_PAGE, "Miễn phí"), (POST, SEE_PAGE, "Miễn phí")], {"time"},
                 id="number-without-unit-in-canonical-order"),
    pytest.param("Trực tiếp120,000 VNĐ", [(DIRECT, SEE_PAGE, "20.000 đồng")], {"time"},
                 id="unitless-time-glued-to-amount-one-valid-split"),
    pytest.param("Trực tiếp1520,000 VNĐ", [(DIRECT, SEE_PAGE, SEE_PAGE)], {"time", "fee"},
                 id="unitless-time-glued-to-amount-ambiguous"),
    pytest.param("Trực tiếp5 Ngày40,000 Việt Nam Đồng(50.000đ/giấy thông hành)", [(DIRECT, "5 ngày", SEE_PAGE)], {"fee"},
                 id="amount-differs-from-note"),
    pytest.param("Trực tiếp3 Ngày làm việc40 Việt Nam Đồng(40.000đ/giấy)", [(DIRECT, "3 ngày làm việc", SEE_PAGE)], {"fee"},
                 id="implausible-amount"),
    pytest.param("Trực tiếp3 NgàyMiễn phí(Mức lệ phí do Hội đồng nhân dân cấp tỉnh quyết định)",
                 [(DIRECT, "3 ngày", PROVINCE_FEE)], set(), id="free-but-province-sets-fee"),
    pytest.param("Trực tiếp3 NgàyMiễn phí(Thông tư 60/2023/TT-BTC quy định mức thu lệ phí)",
                 [(DIRECT, "3 ngày", SEE_PAGE)], {"fee"}, id="free-beside-a-fee-note"),
    pytest.param("Trực tiếp7 Ngày làm việcMiễn phí(Chưa quy định.)- Nộp hồ sơ trực tiếp tại Công an cấp xã.",
                 [(DIRECT, "7 ngày làm việc", "Miễn phí")], set(), id="free-not-yet-regulated-with-description"),
    pytest.param("Trực tiếpKhông có thông tinKhông có thông tinTrực tuyếnKhông quy địnhMiễn phí",
                 [(DIRECT, SEE_PAGE, SEE_PAGE), (ONLINE, SEE_PAGE, "Miễn phí")], set(), id="no-information"),
    pytest.param("Trực tiếp8 Giờ70,000 VNĐ(70.000 đồng/giấy; miễn cho hộ nghèo)",
                 [(DIRECT, "8 giờ", "70.000 đồng" + CAVEAT)], set(), id="condition-adds-caveat"),
    pytest.param("Trực tiếp7 Ngày làm việc50,000 Việt Nam Đồng(50.000 đồng/thẻ; đến hết năm thu",
                 [(DIRECT, "7 ngày làm việc", "50.000 đồng" + CAVEAT)], {"fee"}, id="note-cut-off"),
    pytest.param("Trực tiếp5 Ngày làm việc10 USD(10 USD/người)", [(DIRECT, "5 ngày làm việc", "10 USD")], set(), id="usd"),
    pytest.param("Trực tiếp10 USD", [(DIRECT, SEE_PAGE, SEE_PAGE)], {"time", "fee"}, id="usd-glued-to-unitless-time"),
    pytest.param("Trực tiếp3 Ngày làm việcMiễn phí- Nộp trực tiếp tại Công an xã.Trực tiếp5 Ngày làm việcMiễn phí",
                 [(DIRECT, SEE_PAGE, "Miễn phí")], set(), id="one-kind-twice-with-different-times"),
    pytest.param("Trực tiếp0 NgàyMiễn phí", [(DIRECT, SEE_PAGE, "Miễn phí")], {"time"}, id="zero-days"),
]


@pytest.mark.parametrize("cells, expected, issue_fields", CHANNEL_CASES)
def test_channels(cells, expected, issue_fields):
    channels, issues = parse_channels(HEADER + cells)
    assert [(c.kind, c.time, c.fee) for c in channels] == expected
    assert {i.field for i in issues} == issue_fields


@pytest.mark.parametrize("text, kind", [
    ("", "no channel table"),
    ("Trực tiếp7 Ngày làm việcMiễn phí", "table header missing"),
    (HEADER, "no channel row"),
    (HEADER + "nộp trực tiếp 5 ngày", "no channel row"),  # prose, not a row: a label needs a time right after it
])
def test_channels_unparseable(text, kind):
    channels, issues = parse_channels(text)
    assert channels == () and ("channels", kind) in kinds(issues)


def test_summary_and_online_level():
    same = (Channel(DIRECT, "5 ngày", "Miễn phí"), Channel(ONLINE, "5 ngày", "Miễn phí"))
    differ = (Channel(DIRECT, "7 ngày làm việc", "20.000 đồng"), Channel(ONLINE, "5 ngày làm việc", "10.000 đồng"))
    assert summary(same, "time") == "5 ngày" and summary((), "fee") == SEE_PAGE
    assert summary(differ, "fee") == "trực tiếp: 20.000 đồng; trực tuyến: 10.000 đồng"
    assert online_level("Cấp lại đăng ký xe bằng dịch vụ công trực tuyến toàn trình", same) == "toàn trình"
    assert online_level("Thông báo lưu trú", (Channel(ONLINE, "", ""),)) == "toàn trình"
    assert online_level("Đăng ký tạm trú", same) == "một phần"
    assert online_level("Hòa giải tranh chấp đất đai", (Channel(DIRECT, "", ""),)) == "không"


@pytest.mark.parametrize("row, name", [
    ("Tờ khai đăng ký khai sinh theo mẫu quy định.", "Tờ khai đăng ký khai sinh"),
    ("Phiếu thu thập thông tin dân cư (mẫu DC01 ban hành kèm theo Thông tư số 53/2025/TT-BCA)"
     "Mẫu DC01 Phiếu thu thập thông tin.docx", "Phiếu thu thập thông tin dân cư (mẫu DC01)"),
    ("Giấy đề nghị rà soát hộ nghèo theo Mẫu số 01 tại Phụ lục Quyết định 24/2021/QĐ-TTgGiấy đề nghị.pdf",
     "Giấy đề nghị rà soát hộ nghèo (mẫu số 01)"),
    ("- Giấy chứng sinh; không có thì nộp văn bản của người làm chứng", "Giấy chứng sinh"),
    ("Trường hợp trẻ em bị bỏ rơi thì phải có biên bản về việc trẻ bị bỏ rơi",
     "Biên bản về việc trẻ bị bỏ rơi (nếu trẻ em bị bỏ rơi)"),
    ("(2) đơn trình báo mất hộ chiếu", "Đơn trình báo mất hộ chiếu"),
    ("Bản sao " + "giấy tờ chứng minh " * 12, None),  # capped with an ellipsis
])
def test_short_names(row, name):
    got = short_name(row)
    if name is None:
        assert len(got) <= 121 and got.endswith("…")
    else:
        assert got == name


def test_documents_general_tables_then_cases():
    text = ("* Giấy tờ phải nộp:" + DOC_HEADER + "Tờ khai (mẫu CT01)1 bản chính"
            "Trường hợp dữ liệu đã có trong cơ sở dữ liệu thì không phải nộp.0 bản chính"  # a note, not a document
            "Giấy tờ chứng minh chỗ ở hợp pháp0 bản chính,1 bản sao"
            "* Giấy tờ phải xuất trình:" + DOC_HEADER + "Thẻ căn cước1 bản chính"
            "- Trường hợp ủy quyền cho đơn vị bưu chính:" + DOC_HEADER + "Văn bản ủy quyền1 bản chính")
    documents, more, issues = parse_documents(text)
    assert documents == ("Tờ khai (mẫu CT01)", "Giấy tờ chứng minh chỗ ở hợp pháp", "Thẻ căn cước")
    assert more == 1 and issues == []


def test_documents_first_case_when_nothing_general_and_district_rows_dropped():
    text = ("a) Trường hợp chuyển nhượng:" + DOC_HEADER + "Hợp đồng chuyển nhượng1 bản chính"
            "Văn bản xác nhận của UBND cấp huyện1 bản chính"
            "b) Trường hợp thừa kế:" + DOC_HEADER + "Văn bản khai nhận di sản1 bản chínhĐơn đăng ký1 bản chính")
    documents, more, issues = parse_documents(text)
    assert documents == ("Hợp đồng chuyển nhượng",)
    assert more == 3  # the district row and case b's two rows are left to the page
    assert ("documents", "row naming the district level left out") in kinds(issues)


@pytest.mark.parametrize("text, documents, issue", [
    (DOC_HEADER + "Đơn đề nghị1 bản chínhẢnh 4x6 mới chụp, mặt nhìn", ("Đơn đề nghị",), "last row cut off"),
    ("Bước 1. Nộp hồ sơ cho cơ quan bảo hiểm xã hội.", (), "no documents table"),
    (DOC_HEADER + "Do Ủy ban nhân dân cấp tỉnh quy định0 bản chính", (), "no row with a quantity"),
    ("", (), None),
])
def test_documents_malformed(text, documents, issue):
    got, _more, issues = parse_documents(text)
    assert got == documents
    assert kinds(issues) == ({("documents", issue)} if issue else set())


@pytest.mark.parametrize("text, laws", [
    (LAW_HEADER + "Thông tư hướng dẫn phí85/2019/TT-BTCNghị định hướng dẫn Luật Hộ tịch123/2015/NĐ-CP"
                  "Luật Hộ tịch60/2014/QH1360/2014/QH13",
     ("Thông tư 85/2019/TT-BTC", "Nghị định 123/2015/NĐ-CP", "Luật 60/2014/QH13")),
    (LAW_HEADER + "Nghị quyết số 190/2025/QH15 của Quốc hội190/2025/NQ-QH15", ("Nghị quyết 190/2025/QH15",)),
    (LAW_HEADER + "Thông tư số 53/2025/TT-BCAngày 01/7/2025 của Bộ Công an53/2025/TT-BCA", ("Thông tư 53/2025/TT-BCA",)),
    (LAW_HEADER + "Thông tư số 11/2020/TT- BTP ngày 31/12/2020", ("Thông tư 11/2020/TT-BTP",)),
    (LAW_HEADER + "Luật sửa đổi 202323/2023/QH15QUY ĐỊNH MỨC THU25/2021/TT-BTCTHÔNG TƯ",
     ("Luật 23/2023/QH15", "Thông tư 25/2021/TT-BTC")),
    (LAW_HEADER + "Quy định về thủ tục118/2025/NĐ-CSửa đổi, bổ sung01/2012/QĐ- TTg",
     ("Nghị định 118/2025/NĐ-CP", "Quyết định 01/2012/QĐ-TTg")),
])
def test_legal_basis(text, laws):
    got, issues = parse_legal_basis(text)
    assert got == laws and issues == []


@pytest.mark.parametrize("text, issue", [
    ("Không có thông tin", False),
    ("", False),
    (LAW_HEADER + "Luật Cư trú và các văn bản hướng dẫn", True),
])
def test_legal_basis_without_numbers(text, issue):
    got, issues = parse_legal_basis(text)
    assert got == () and bool(issues) == issue
