"""Which portal records go into the index: those a citizen can bring to the commune or the province.

The rules run in the order of REASONS; the first that applies names why a record is left out. They read
only the record's level, applicants, field and name, so the same file always gives the same index.
"""
from __future__ import annotations

import re

from bot.text import fold

LEVELS = ("Cấp bộ", "Cấp tỉnh", "Cấp xã", "Cơ quan khác")
LOCAL_LEVELS = ("Cấp xã", "Cấp tỉnh")
# Applicant categories that are a person (the portal's fixed vocabulary).
PEOPLE = ("Công dân Việt Nam", "Người Việt Nam định cư ở nước ngoài", "Người nước ngoài",
          "Người nước ngoài cư trú tại Việt Nam")
CUSTOMS_FIELDS = ("Hải quan",)
# Fields whose procedures serve enterprises, investors, the state budget or banks, not a household.
BUSINESS_FIELDS = (
    "Thành lập và hoạt động của doanh nghiệp", "Thành lập và hoạt động doanh nghiệp xã hội",
    "Đầu tư tại Việt nam", "Đầu tư theo phương thức đối tác công tư", "Đấu thầu", "Đấu thầu lựa chọn nhà đầu tư",
    "Hỗ trợ doanh nghiệp nhỏ và vừa", "Hỗ trợ đầu tư", "Quản lý nhà nước về khu công nghiệp, khu kinh tế",
    "Kho bạc Nhà nước", "Tài chính ngân hàng", "Thành lập và hoạt động ngân hàng", "Dự trữ",
    "Chuyển đổi công ty nhà nước được thành lập và hoạt động theo Luật Doanh nghiệp nhà nước thành công ty "
    "trách nhiệm hữu hạn một thành viên tổ chức và hoạt động theo quy định tại Luật Doanh nghiệp",
)
TAX_FIELDS = ("Thuế", "Quản lý thuế, phí, lệ phí và thu khác của ngân sách nhà nước")
# A tax procedure stays when its name is about a person, a household or their land and house.
_TAX_PERSONAL = re.compile(r"\bca nhan\b|\bho kinh doanh\b|\bho gia dinh\b|\bnguoi phu thuoc\b|\bnha, dat\b"
                           r"|\bdat phi nong nghiep\b|\bdat nong nghiep\b|\ble phi truoc ba\b|\bthue dat\b")
_TRADE = re.compile(r"\bnhap khau\b|\bxuat khau\b|\btam nhap\b|\btai xuat\b|\bqua canh\b")
_DISTRICT_NAME = re.compile(r"thuc hien (?:tai|o) cap huyen")

# reason -> what it means, for the report and docs/national-index.md
REASONS = {
    "level": "không thực hiện ở cấp xã hay cấp tỉnh (chỉ cấp bộ hoặc cơ quan khác)",
    "district": "tên ghi thực hiện tại cấp huyện (cấp huyện không còn từ 01/7/2025)",
    "applicants": "người thực hiện không có cá nhân (chỉ doanh nghiệp, tổ chức, cán bộ)",
    "customs": "thủ tục hải quan",
    "business": "lĩnh vực của doanh nghiệp, nhà đầu tư, ngân sách, ngân hàng",
    "trade": "xuất khẩu, nhập khẩu, quá cảnh hàng hóa",
    "business_tax": "thuế của doanh nghiệp, tổ chức (tên không nói tới cá nhân, hộ, nhà đất)",
    "not_a_procedure": "tên là tên một quyết định công bố của một tỉnh, không phải tên thủ tục",
}


def split_levels(text: str) -> tuple[tuple[str, ...], list[str]]:
    """Known levels in the portal's order, and any unknown parts."""
    parts = [p.strip() for p in (text or "").split(",") if p.strip()]
    return tuple(p for p in LEVELS if p in parts), [p for p in parts if p not in LEVELS]


def split_applicants(text: str) -> tuple[str, ...]:
    """Applicant categories; commas inside brackets ("Tổ chức (không bao gồm doanh nghiệp, HTX)") stay."""
    text = re.sub(r"Cán bộ,\s*công chức,\s*viên chức", "Cán bộ; công chức; viên chức", text or "")
    parts = re.split(r",(?![^()]*\))", text)
    out: list[str] = []
    for p in (" ".join(p.replace(";", ",").split()) for p in parts):
        if p and p not in out:
            out.append(p)
    return tuple(out)


def leave_out_reason(levels: tuple[str, ...], applicants: tuple[str, ...], field: str, name: str) -> str | None:
    """Why a record stays out of the index (a key of REASONS), or None when it goes in."""
    folded = fold(name)
    if not set(levels) & set(LOCAL_LEVELS):
        return "level"
    if _DISTRICT_NAME.search(folded):
        return "district"
    if not set(applicants) & set(PEOPLE):
        return "applicants"
    if field in CUSTOMS_FIELDS:
        return "customs"
    if field in BUSINESS_FIELDS:
        return "business"
    if _TRADE.search(folded):
        return "trade"
    if field in TAX_FIELDS and not _TAX_PERSONAL.search(folded):
        return "business_tax"
    if folded.startswith("cong bo danh muc"):
        return "not_a_procedure"
    return None
