"""Who handles a procedure, in plain words a citizen recognises, at the commune or the province.

The portal lists bodies of every tier in free text. The district tier was abolished on 1 July 2025: its
bodies are dropped (the commune or province body listed beside them is what remains), never shown.
Ministries and central departments are not where a citizen goes, so they are dropped too. When nothing
local is left, the ministry and level give the body (FALLBACK), and the importer counts that case.
"""
from __future__ import annotations

import re

from bot.text import fold

# Folded pattern -> plain name, first match wins; a matched span is blanked so that "Chủ tịch UBND xã"
# is not read again as "UBND xã".
LOCAL_BODIES: tuple[tuple[str, str], ...] = (
    (r"chu tich (?:uy ban nhan dan|ubnd) (?:cap )?(?:xa|phuong)", "Chủ tịch UBND xã"),
    (r"(?:uy ban nhan dan|ubnd) (?:cap )?(?:xa|phuong)", "UBND xã"),
    (r"co quan (?:chuyen mon|quan ly dat dai)[a-z ]*?(?:thuoc (?:uy ban nhan dan|ubnd) )?cap xa", "UBND xã"),
    (r"cong an (?:cap )?(?:xa|phuong)", "Công an xã"),
    (r"chu tich (?:uy ban nhan dan|ubnd) (?:cap )?tinh", "Chủ tịch UBND tỉnh"),
    (r"(?:uy ban nhan dan|ubnd) (?:cap )?tinh", "UBND tỉnh"),
    (r"hoi dong nhan dan (?:cap )?tinh", "HĐND tỉnh"),
    (r"phong (?:quan ly )?xuat,? nhap canh", "Phòng Quản lý xuất nhập cảnh Công an tỉnh"),
    (r"phong canh sat [a-z ,-]*", "Công an tỉnh"),
    (r"cong an (?:cap )?tinh", "Công an tỉnh"),
    (r"(?:chi nhanh )?van phong dang ky dat dai", "Văn phòng đăng ký đất đai"),
    (r"co quan (?:co chuc nang )?quan ly dat dai cap tinh", "Sở Nông nghiệp và Môi trường"),
    (r"so (?:nong nghiep va moi truong|tai nguyen va moi truong|nong nghiep va phat trien nong thon)",
     "Sở Nông nghiệp và Môi trường"),
    (r"so (?:xay dung|giao thong van tai|giao thong cong chanh)", "Sở Xây dựng"),
    (r"so tu phap", "Sở Tư pháp"),
    (r"so (?:tai chinh|ke hoach va dau tu)", "Sở Tài chính"),
    (r"so noi vu", "Sở Nội vụ"),
    (r"so y te", "Sở Y tế"),
    (r"so cong thuong", "Sở Công Thương"),
    (r"so (?:khoa hoc va cong nghe|thong tin va truyen thong)", "Sở Khoa học và Công nghệ"),
    (r"so giao duc", "Sở Giáo dục và Đào tạo"),
    (r"so van hoa", "Sở Văn hóa, Thể thao và Du lịch"),
    (r"co quan (?:chuyen mon|chuc nang)[a-z ,]*?(?:uy ban nhan dan|ubnd) cap tinh", "cơ quan chuyên môn của UBND tỉnh"),
    (r"trung tam phuc vu hanh chinh cong", "Trung tâm Phục vụ hành chính công tỉnh"),
    (r"thue co so", "Thuế cơ sở"),
    (r"thue tinh", "Thuế tỉnh"),
    (r"bao hiem xa hoi (?:cap )?tinh", "Bảo hiểm xã hội tỉnh"),
    (r"ngan hang nha nuoc (?:chi nhanh|khu vuc)", "Ngân hàng Nhà nước khu vực"),
    (r"chi cuc kiem lam", "Chi cục Kiểm lâm"),
    (r"chi cuc thuy san", "Chi cục Thủy sản"),
    (r"chi cuc trong trot", "Chi cục Trồng trọt và Bảo vệ thực vật"),
    (r"trung tam tro giup phap ly", "Trung tâm trợ giúp pháp lý nhà nước"),
    (r"thi hanh an dan su tinh", "Thi hành án dân sự tỉnh"),
    (r"toa an nhan dan (?:tinh|khu vuc)", "Tòa án nhân dân"),
    (r"to chuc hanh nghe cong chung", "tổ chức hành nghề công chứng"),
    (r"cang vu (?:duong thuy noi dia|hang hai)", "Cảng vụ"),
)
# District bodies (gone since 1 July 2025): recognised so that they are dropped, not mistaken for others.
DISTRICT = re.compile(r"[a-z ]*cap huyen|(?:uy ban nhan dan|ubnd) huyen|cong an huyen|chi cuc thue huyen"
                      r"|phong tu phap|phong tai nguyen|phong lao dong|phong kinh te|phong quan ly do thi")
_RULES = tuple((re.compile(p), name) for p, name in LOCAL_BODIES)

# Ministry folder -> (commune body, province body) when the record names no local body.
FALLBACK = {
    "bo-cong-an": ("Công an xã", "Công an tỉnh"),
    "bo-tu-phap": ("UBND xã", "Sở Tư pháp"),
    "bo-nong-nghiep-mt": ("UBND xã", "Sở Nông nghiệp và Môi trường"),
    "bo-xay-dung": ("UBND xã", "Sở Xây dựng"),
    "bo-tai-chinh": ("UBND xã", "Sở Tài chính"),
    "ngan-hang-nha-nuoc": ("Ngân hàng Nhà nước khu vực", "Ngân hàng Nhà nước khu vực"),
    "toa-an-nhan-dan": ("Tòa án nhân dân", "Tòa án nhân dân"),
}
# Ministries whose "Cấp xã" always means the commune's own body (for tax and social insurance it means
# their local offices, already named).
COMMUNE_DESK = ("bo-cong-an", "bo-tu-phap", "bo-xay-dung", "bo-nong-nghiep-mt")
_FIELD_FALLBACK = (("thue", "cơ quan thuế (Thuế cơ sở, Thuế tỉnh)"), ("bhxh", "Bảo hiểm xã hội"),
                   ("bhyt", "Bảo hiểm xã hội"), ("bao hiem", "Bảo hiểm xã hội"))


def local_bodies(text: str) -> tuple[list[str], bool]:
    """Plain names of the commune/province bodies in `text`, and whether a district body was dropped."""
    folded = " ".join(fold(text).replace("\xa0", " ").split())
    district = False
    for m in DISTRICT.finditer(folded):
        district = True
        folded = folded[:m.start()] + " " * (m.end() - m.start()) + folded[m.end():]
    found: list[tuple[int, str]] = []
    for pattern, name in _RULES:
        for m in pattern.finditer(folded):
            found.append((m.start(), name))
            folded = folded[:m.start()] + " " * (m.end() - m.start()) + folded[m.end():]
    names: list[str] = []
    for _, name in sorted(found):
        if name not in names:
            names.append(name)
    return names, district


def authority(executing: str, competent: str, levels: tuple[str, ...], ministry: str,
              field: str) -> tuple[str, bool, bool]:
    """(plain authority, some of it taken from the level, a district body was dropped)."""
    names, district = local_bodies(f"{executing}, {competent}")
    if names:
        commune = FALLBACK[ministry][0] if ministry in COMMUNE_DESK else ""
        if commune and "Cấp xã" in levels and not any(n.endswith(" xã") for n in names):
            # "Cấp xã" with only province or other bodies named: the commune's desk is left unsaid.
            return ", ".join([commune, *names]), True, district
        return ", ".join(names), False, district
    folded_field = fold(field)
    for mark, body in _FIELD_FALLBACK:
        if mark in folded_field and ministry == "bo-tai-chinh":
            return body, True, district
    commune, province = FALLBACK.get(ministry, ("UBND xã", "UBND tỉnh"))
    parts = [b for level, b in (("Cấp xã", commune), ("Cấp tỉnh", province)) if level in levels]
    return " hoặc ".join(dict.fromkeys(parts)) or province, True, district
