"""`import-tthc`: selection, authority, a record of each field, malformed input, the command end to end."""
from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.national.authority import authority
from bot.national.channels import HEADER
from bot.national.documents import DOC_HEADER, LAW_HEADER, mentions_district
from bot.national.importer import DEEP_LINK, ImportReport, SourceError, convert, run_import
from bot.national.index_file import meta_path
from bot.national.loader import load_national
from bot.national.records import SEE_PAGE
from bot.national.selection import leave_out_reason, split_applicants

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "tthc" / "records.jsonl"
DATE = dt.date(2026, 7, 1)
PAGE = "https://dichvucong.gov.vn/thu-tuc-hanh-chinh/019d2bfd-3fe0-70ac-b9d6-5e9e20d6eef7"


def raw(**fields) -> dict:
    """A portal record with harmless defaults."""
    base = {"ma_thu_tuc": "1.000001", "ten_thu_tuc": "Thủ tục thử", "cap_thuc_hien": "Cấp xã", "linh_vuc": "Hộ tịch",
            "doi_tuong_thuc_hien": "Công dân Việt Nam", "detail_url": PAGE, "bo": "bo-tu-phap",
            "co_quan_thuc_hien": "Không có thông tin", "co_quan_co_tham_quyen": "",
            "cach_thuc_thuc_hien": HEADER + "Trực tiếp3 Ngày làm việcMiễn phí",
            "thanh_phan_ho_so": DOC_HEADER + "Tờ khai1 bản chính", "can_cu_phap_ly": LAW_HEADER + "Luật60/2014/QH13"}
    base.update(fields)
    return base


def failures(report: ImportReport) -> set[tuple[str, str]]:
    return {(f, k) for f, kinds in report.failures.items() for k in kinds}


@pytest.mark.parametrize("levels, applicants, field, name, reason", [
    (("Cấp bộ",), ("Công dân Việt Nam",), "Hộ tịch", "Cấp giấy phép", "level"),
    (("Cơ quan khác",), ("Công dân Việt Nam",), "Công chứng", "Công chứng hợp đồng", "level"),
    (("Cấp xã",), ("Công dân Việt Nam",), "Quản lý xuất nhập cảnh", "Trình báo mất hộ chiếu (thực hiện tại cấp huyện)", "district"),
    (("Cấp tỉnh",), ("Doanh nghiệp", "Tổ chức (không bao gồm doanh nghiệp, HTX)"), "Đất đai", "Giao đất", "applicants"),
    (("Cấp tỉnh",), ("Cán bộ, công chức, viên chức",), "Chính sách", "Xét khen thưởng", "applicants"),
    (("Cấp xã",), ("Công dân Việt Nam",), "Hải quan", "Thủ tục hải quan đối với hành lý", "customs"),
    (("Cấp tỉnh",), ("Công dân Việt Nam",), "Đầu tư tại Việt nam", "Cấp Giấy chứng nhận đăng ký đầu tư", "business"),
    (("Cấp tỉnh",), ("Công dân Việt Nam",), "Chăn nuôi", "Cấp giấy phép nhập khẩu thức ăn chăn nuôi", "trade"),
    (("Cấp tỉnh", "Cấp xã"), ("Công dân Việt Nam",), "Thuế", "Khai thuế bảo vệ môi trường", "business_tax"),
    (("Cấp tỉnh",), ("Công dân Việt Nam",), "Người có công", "Công bố Danh mục và Quy trình nội bộ của tỉnh", "not_a_procedure"),
    (("Cấp tỉnh", "Cấp xã"), ("Công dân Việt Nam",), "Thuế", "Khai lệ phí trước bạ nhà, đất", None),
    (("Cấp tỉnh", "Cấp xã"), ("Công dân Việt Nam",), "Thuế", "Khai thuế đối với hộ kinh doanh, cá nhân kinh doanh", None),
    (("Cấp xã",), ("Người nước ngoài",), "Hộ tịch", "Đăng ký kết hôn có yếu tố nước ngoài", None),
    (("Cấp xã",), ("Công dân Việt Nam",), "Thành lập và hoạt động doanh nghiệp (hộ kinh doanh)", "Đăng ký hộ kinh doanh", None),
])
def test_selection_rule(levels, applicants, field, name, reason):
    assert leave_out_reason(levels, applicants, field, name) == reason


def test_applicants_keep_commas_inside_categories():
    assert split_applicants("Cán bộ, công chức, viên chức, Tổ chức (không bao gồm doanh nghiệp, HTX), Công dân Việt Nam") == (
        "Cán bộ, công chức, viên chức", "Tổ chức (không bao gồm doanh nghiệp, HTX)", "Công dân Việt Nam")


@pytest.mark.parametrize("executing, competent, levels, ministry, field, expected, from_level, district", [
    ("Công an cấp Xã", "Cục cảnh sát quản lý hành chính về trật tự, xã hội", ("Cấp xã",), "bo-cong-an",
     "Cấp, quản lý căn cước", "Công an xã", False, False),
    ("Không có thông tin", "", ("Cấp xã",), "bo-tu-phap", "Hộ tịch", "UBND xã", True, False),
    ("Không có thông tin", "", ("Cấp tỉnh", "Cấp xã"), "bo-tu-phap", "Hộ tịch", "UBND xã hoặc Sở Tư pháp", True, False),
    ("Bảo hiểm xã hội cấp Tỉnh, Bảo hiểm xã hội cấp huyện", "", ("Cấp tỉnh", "Cấp xã"), "bo-tai-chinh",
     "Thực hiện chính sách BHXH", "Bảo hiểm xã hội tỉnh", False, True),
    ("Công an huyện", "UBND cấp huyện", ("Cấp xã",), "bo-cong-an", "Chính sách", "Công an xã", True, True),
    ("Cục Thuế - Bộ tài chính, Chi cục thuế khu vực/ đội thuế, Chi cục thuế huyện, thành phố", "", ("Cấp tỉnh", "Cấp xã"),
     "bo-tai-chinh", "Thuế", "cơ quan thuế (Thuế cơ sở, Thuế tỉnh)", True, True),
    ("Tổ chức hành nghề công chứng", "", ("Cấp xã", "Cơ quan khác"), "bo-tu-phap", "Chứng thực",
     "UBND xã, tổ chức hành nghề công chứng", True, False),
    ("Văn phòng đăng ký đất đai, Chủ tịch Ủy ban nhân dân xã, Chi nhánh Văn phòng đăng ký đất đai", "", ("Cấp xã",),
     "bo-nong-nghiep-mt", "Đất đai", "Văn phòng đăng ký đất đai, Chủ tịch UBND xã", False, False),
    ("Ủy ban Nhân dân\xa0xã,\xa0phường,\xa0thị trấn.", "", ("Cấp xã",), "bo-xay-dung", "Hoạt động xây dựng",
     "UBND xã", False, False),
    ("Sở Giao thông vận tải", "", ("Cấp tỉnh",), "bo-xay-dung", "Đường bộ", "Sở Xây dựng", False, False),
])
def test_authority_in_plain_words(executing, competent, levels, ministry, field, expected, from_level, district):
    assert authority(executing, competent, levels, ministry, field) == (expected, from_level, district)
    assert not mentions_district(expected)


# A record of each field a commune is asked about, as the portal writes it.
FIELD_CASES = [
    pytest.param(raw(ma_thu_tuc="1.004859", ten_thu_tuc="Thủ tục thay đổi, cải chính, bổ sung thông tin hộ tịch",
                     cach_thuc_thuc_hien=HEADER + "Trực tiếp3Miễn phí((Mức lệ phí do Hội đồng nhân dân tỉnh quyết định))"),
                 {"authority": "UBND xã", "time": SEE_PAGE, "fee": "mức do tỉnh quy định — xem trang thủ tục"}, id="ho-tich"),
    pytest.param(raw(ma_thu_tuc="1.010041", ten_thu_tuc="Xác nhận thông tin về cư trú", linh_vuc="Đăng ký, quản lý cư trú",
                     bo="bo-cong-an", co_quan_thuc_hien="Công an cấp Xã",
                     cach_thuc_thuc_hien=HEADER + "Trực tuyến1 Ngày làm việcMiễn phíTrực tiếp1 Ngày làm việcMiễn phí"),
                 {"authority": "Công an xã", "time": "1 ngày làm việc", "fee": "Miễn phí", "online": "một phần"}, id="cu-tru"),
    pytest.param(raw(ma_thu_tuc="1.014064", ten_thu_tuc="Cấp lại thẻ căn cước", linh_vuc="Cấp, quản lý căn cước",
                     bo="bo-cong-an", co_quan_thuc_hien="Công an cấp Xã",
                     cach_thuc_thuc_hien=HEADER + "Trực tiếp7 Ngày làm việc70,000 Việt Nam Đồng(70.000 đồng/thẻ)"),
                 {"authority": "Công an xã", "fee": "70.000 đồng", "online": "không"}, id="can-cuoc"),
    pytest.param(raw(ma_thu_tuc="1.012784", ten_thu_tuc="Tách thửa hoặc hợp thửa đất.", cap_thuc_hien="Cấp tỉnh",
                     linh_vuc="Đất đai", bo="bo-nong-nghiep-mt",
                     co_quan_thuc_hien="Chi nhánh Văn phòng đăng ký đất đai, Văn phòng đăng ký đất đai",
                     thanh_phan_ho_so=DOC_HEADER + "(1) Đơn đề nghị tách thửa đất, hợp thửa đất theo Mẫu số 21 ban hành "
                                                   "kèm theo Nghị định 151/2025/NĐ-CP.1 bản chính"),
                 {"authority": "Văn phòng đăng ký đất đai", "documents": ("Đơn đề nghị tách thửa đất, hợp thửa đất (mẫu số 21)",)},
                 id="dat-dai"),
    pytest.param(raw(ma_thu_tuc="2.001035", ten_thu_tuc="Chứng thực giao dịch liên quan đến quyền sử dụng đất, nhà ở",
                     linh_vuc="Chứng thực", cach_thuc_thuc_hien=HEADER + "Trực tiếp2 Ngày làm việc50,000 VNĐ(50.000 đồng/giao dịch)"),
                 {"authority": "UBND xã", "time": "2 ngày làm việc", "fee": "50.000 đồng"}, id="chung-thuc"),
    pytest.param(raw(ma_thu_tuc="1.001612", ten_thu_tuc="Đăng ký thành lập hộ kinh doanh", cap_thuc_hien="Cấp bộ, Cấp xã",
                     linh_vuc="Thành lập và hoạt động doanh nghiệp (hộ kinh doanh)", bo="bo-tai-chinh",
                     co_quan_thuc_hien="Uỷ ban Nhân dân cấp xã, phường, thị trấn"),
                 {"authority": "UBND xã", "levels": ("Cấp bộ", "Cấp xã")}, id="ho-kinh-doanh"),
    pytest.param(raw(ma_thu_tuc="1.004089", ten_thu_tuc="Xét hưởng trợ cấp đối với thương binh tại Công an cấp tỉnh",
                     cap_thuc_hien="Cấp tỉnh", linh_vuc="Chính sách", bo="bo-cong-an",
                     co_quan_thuc_hien="Công an cấp Tỉnh, Công an huyện",
                     cach_thuc_thuc_hien=HEADER + "Trực tiếpKhông có thông tinKhông có thông tinTrực tiếp tại Công an cấp huyện"),
                 {"authority": "Công an tỉnh", "time": SEE_PAGE, "fee": SEE_PAGE}, id="nguoi-co-cong"),
    pytest.param(raw(ma_thu_tuc="1.011606", ten_thu_tuc="Công nhận hộ nghèo, hộ cận nghèo", linh_vuc="Giảm nghèo",
                     bo="bo-nong-nghiep-mt", cach_thuc_thuc_hien=HEADER + "Trực tiếp10 Ngày làm việcMiễn phí"),
                 {"authority": "UBND xã", "fee": "Miễn phí"}, id="bao-tro-giam-ngheo"),
    pytest.param(raw(ma_thu_tuc="1.013080", ten_thu_tuc="Cấp lại chứng nhận đăng ký xe bằng dịch vụ công trực tuyến toàn trình",
                     cap_thuc_hien="Cấp bộ, Cấp tỉnh, Cấp xã", bo="bo-cong-an",
                     linh_vuc="Đăng ký, quản lý phương tiện giao thông cơ giới, xe máy chuyên dùng",
                     co_quan_thuc_hien="Cục cảnh sát giao thông, Công an tỉnh, Công an cấp Xã",
                     cach_thuc_thuc_hien=HEADER + "Trực tuyến2 Ngày làm việc150,000 Việt Nam Đồng"),
                 {"authority": "Công an tỉnh, Công an xã", "online": "toàn trình", "fee": "150.000 đồng"}, id="giao-thong"),
]


@pytest.mark.parametrize("record, expected", FIELD_CASES)
def test_a_record_of_each_field(record, expected):
    report = ImportReport()
    got = convert(record, "x:1", report, DATE)
    assert got is not None and got.code == record["ma_thu_tuc"] and got.url == PAGE and got.source_date == DATE
    for key, value in expected.items():
        assert getattr(got, key) == value, key
    assert not any(mentions_district(t) for t in (got.name, got.authority, got.time, got.fee, *got.documents))


@pytest.mark.parametrize("record, failure, indexed", [
    (raw(ma_thu_tuc=""), ("code", "missing or malformed"), False),
    (raw(ma_thu_tuc="1.23"), ("code", "missing or malformed"), False),
    (raw(ten_thu_tuc=None), ("name", "missing"), False),
    (raw(cap_thuc_hien=""), ("levels", "missing"), False),
    (raw(cap_thuc_hien="Cấp xã, Cấp huyện"), ("levels", "unknown level"), True),
    (raw(linh_vuc=["Hộ tịch"]), ("linh_vuc", "not text"), True),
    (raw(detail_url="https://dichvucong.gov.vn/"), ("url", "not a deep link"), True),
    (raw(detail_url="https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh-chi-tiet.html?ma_thu_tuc=1.001193"),
     ("url", "not a deep link"), True),
    (raw(detail_url=None), ("url", "missing"), True),
    (raw(cach_thuc_thuc_hien=HEADER + "Trực tiếp7 Ngày làm việc50,000 Việt Nam Đồng(50.000 đồng/thẻ, từ ngày"),
     ("fee", "note cut off (figure kept with a caveat)"), True),
    (raw(thanh_phan_ho_so=DOC_HEADER + "Đơn đề nghị1 bản chínhBản sao giấy"), ("documents", "last row cut off"), True),
])
def test_malformed_and_truncated_records_are_counted(record, failure, indexed):
    report = ImportReport()
    got = convert(record, "records.jsonl:7", report, DATE)
    assert failure in failures(report)
    assert (got is not None) == indexed
    if got is not None and failure[0] == "url":
        assert got.url == ""  # never a home page in place of the procedure's page


def test_cli_end_to_end_on_the_fixture(tmp_path, capsys):
    index = tmp_path / "national" / "index.jsonl"
    assert main(["import-tthc", str(FIXTURE), "--index", str(index), "--source-date", "2026-07-01"]) == 0
    out = capsys.readouterr().out
    assert "read 11 records" in out and "kept 7" in out
    assert "district" in out and "customs" in out and "level" in out
    assert "records.jsonl:4" in out and "records.jsonl:7" in out and "records.jsonl:13" in out  # failures with places
    lines = index.read_text(encoding="utf-8").splitlines()
    codes = [json.loads(line)["code"] for line in lines]
    assert codes == sorted(codes, key=lambda c: tuple(map(int, c.split(".")))) and len(codes) == 7
    assert "Công an xã" in lines[codes.index("1.010038")]  # UTF-8 kept readable
    assert list(json.loads(lines[0])) == ["code", "name", "levels", "field", "applicants", "authority", "online",
                                          "channels", "time", "fee", "documents", "documents_more", "legal_basis", "url"]
    meta = json.loads(meta_path(index).read_text(encoding="utf-8"))
    assert meta["source"] == ["records.jsonl"] and meta["source_date"] == "2026-07-01"
    assert meta["records_read"] == 11 and meta["kept"] == 7
    assert {k: v["count"] for k, v in meta["left_out"].items()} == {"level": 1, "district": 1, "customs": 1}
    assert meta["parse_failures"]["url"]["not a deep link"] == ["2.000815"]
    national = load_national(index, None)
    assert national.source_date == DATE and list(national.records) == codes
    assert all(DEEP_LINK.match(r.url) or r.url == "" for r in national.records.values())
    # The same input gives the same bytes: the index diffs only when the portal's data changed.
    before = index.read_bytes(), meta_path(index).read_bytes()
    assert main(["import-tthc", str(FIXTURE), "--index", str(index), "--source-date", "2026-07-01"]) == 0
    assert (index.read_bytes(), meta_path(index).read_bytes()) == before


def test_gzip_input_and_duplicates(tmp_path):
    lines = FIXTURE.read_bytes().splitlines(keepends=True)
    source = tmp_path / "records.jsonl.gz"
    source.write_bytes(gzip.compress(b"".join(lines + lines[:1])))
    report = run_import([source], tmp_path / "index.jsonl", DATE)
    assert report.kept == 7 and ("code", "duplicate (first kept)") in failures(report)


@pytest.mark.parametrize("content", [
    None,  # the file does not exist
    gzip.compress(FIXTURE.read_bytes())[:-40],  # a gzip stream cut off
    b"\x1f\x8b not really gzip",
    "{không phải JSON\n[1, 2]\n".encode("utf-8"),  # not one record can be read
    b"\xff\xfe\x00 not utf-8",
])
def test_unreadable_input_writes_nothing(tmp_path, capsys, content):
    index = tmp_path / "index.jsonl"
    assert main(["import-tthc", str(FIXTURE), "--index", str(index), "--source-date", "2026-07-01"]) == 0
    before = index.read_bytes(), meta_path(index).read_bytes()
    bad = tmp_path / "bad.jsonl.gz"
    if content is not None:
        bad.write_bytes(content)
    capsys.readouterr()
    assert main(["import-tthc", str(FIXTURE), str(bad), "--index", str(index)]) == 1
    err = capsys.readouterr().err
    assert "bad.jsonl.gz" in err and "chỉ mục cũ giữ nguyên" in err
    assert (index.read_bytes(), meta_path(index).read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary file left


def test_bad_source_date_is_refused(tmp_path, capsys):
    assert main(["import-tthc", str(FIXTURE), "--index", str(tmp_path / "i.jsonl"), "--source-date", "7/2026"]) == 2
    assert "--source-date" in capsys.readouterr().err and not (tmp_path / "i.jsonl").exists()


def test_shipped_index_keeps_its_promises():
    """The generated index in the repository: deep links, no district level, figures match the sidecar."""
    national = load_national(ROOT / "national" / "index.jsonl", ROOT / "national" / "aliases.yaml")
    meta = json.loads(meta_path(ROOT / "national" / "index.jsonl").read_text(encoding="utf-8"))
    assert len(national.records) + len(national.disabled) == meta["kept"]
    assert meta["kept"] + sum(v["count"] for v in meta["left_out"].values()) + len(
        meta["parse_failures"].get("code", {}).get("missing or malformed", [])) == meta["records_read"]
    for record in national.records.values():
        assert DEEP_LINK.match(record.url) or record.url == ""
        assert set(record.levels) & {"Cấp xã", "Cấp tỉnh"}
        texts = (record.name, record.authority, record.time, record.fee, *record.documents,
                 *(c.time for c in record.channels), *(c.fee for c in record.channels))
        assert not any(mentions_district(t) for t in texts), record.code


def test_write_is_atomic_when_the_disk_fails(tmp_path, monkeypatch):
    index = tmp_path / "index.jsonl"
    run_import([FIXTURE], index, DATE)
    before = index.read_bytes()

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bot.national.index_file.os.replace", full_disk)
    with pytest.raises(OSError):
        run_import([FIXTURE], index, dt.date(2026, 8, 1))
    assert index.read_bytes() == before and [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_source_error_names_the_file(tmp_path):
    with pytest.raises(SourceError, match="missing.jsonl"):
        run_import([tmp_path / "missing.jsonl"], tmp_path / "index.jsonl")
    assert not (tmp_path / "index.jsonl").exists()
