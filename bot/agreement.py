"""Does an answer agree with what the question wants done to its paper?

Asking to correct a paper, to get it again or to replace a lost one is not asking to register it for
the first time: "sửa tên trong giấy khai sinh" must not get the new-birth registration, nor "giấy đăng
ký kết hôn bị mất" the marriage registration. The words are read on normalised (folded) text.
"""
from __future__ import annotations

import re
import unicodedata

from bot.text import fold

# The question wants an existing paper fixed, re-issued, copied or replaced.
_FIX = re.compile(r"\b(" + "|".join([
    r"sua (?:lai )?(?:ten|ho|thong tin|giay|ngay|nam|que|dan toc|gioi tinh|sai|khai sinh|ket hon|so)",
    r"cai chinh", r"dieu chinh", r"bo sung thong tin", r"thay doi thong tin", r"ghi sai", r"viet sai",
    r"bi sai", r"sai (?:ten|ho|ngay|nam|thong tin|que|dan toc|gioi tinh)", r"nham (?:ten|ngay|thong tin)",
    r"doi (?:ten|ho ten|ho)", r"cap lai", r"lam lai", r"xin lai", r"dang ky lai", r"ban sao", r"trich luc",
    r"bi mat", r"lam mat", r"danh mat", r"mat (?:giay|ban chinh|so|the|bang|ho chieu|can cuoc)", r"that lac",
    r"danh roi", r"bi hong", r"bi rach", r"bi chay", r"bi uot", r"cuon troi", r"chay het",
]) + r")\b")
# A title that registers something for the first time (not again, not a change, not a copy).
_REGISTERS = re.compile(r"^(dang ky|cap|lam|xin cap)\b")
# The question wants a paper again (lost, damaged): a title that only exchanges one does not fit it either.
_AGAIN = re.compile(r"\b(cap lai|lam lai|xin lai|bi mat|lam mat|danh mat|that lac|danh roi|bi hong|bi rach|bi chay|"
                    r"cuon troi|mat (?:giay|ban chinh|so|the|bang|ho chieu|can cuoc))\b")
_NOT_FIRST = re.compile(r"\b(lai|thay doi|cai chinh|bo sung|ban sao|trich luc|bien dong|gia han|doi|xoa|tach|"
                        r"chuyen|huy|cham dut|tam ngung|xac nhan)\b")


# "hết hạn rồi làm lại": an expired paper is applied for again, which a first-time entry covers.
_EXPIRED = re.compile(r"\b(het han|qua han|het thoi han)\b")
_RENEWS = frozenset({"cap lai", "lam lai", "xin lai"})


def asks_to_fix(normalized: str) -> bool:
    """The question is about an existing paper: correct it, get it again, a copy, a lost one."""
    found = {m.group(1) for m in _FIX.finditer(normalized)}
    if _EXPIRED.search(normalized):
        found -= _RENEWS
    return bool(found)


def first_registration(title: str) -> bool:
    """The title names a first-time registration ("Đăng ký khai sinh", not "Đăng ký lại khai sinh")."""
    folded = " ".join(fold(title).replace(",", " ").split())
    return bool(_REGISTERS.match(folded)) and not _NOT_FIRST.search(folded)


def exchange_only(title: str) -> bool:
    """The title exchanges a paper ("Cấp đổi giấy phép lái xe") and does not re-issue a lost one."""
    words = unicodedata.normalize("NFC", title).lower().split()  # titles carry their accents: "lái" is not "lại"
    return "đổi" in words and "lại" not in words


# A foreigner or a foreign nationality in a civil-status question: the procedures "có yếu tố nước ngoài".
_FOREIGN = re.compile(r"\b(nguoi nuoc ngoai|quoc tich (?!viet)\w+|nguoi (?:my|han|han quoc|trung quoc|dai loan|nhat|"
                      r"phap|duc|uc|anh|lao|campuchia|thai)|cong dan (?!viet)(?:\w+ )?(?:my|han|trung|nhat|dai loan|"
                      r"phap|duc|uc|lao|thai))\b")
_CIVIL_STATUS = re.compile(r"\b(khai sinh|ket hon|khai tu|nhan cha|nhan me|nhan con|giam ho|ho tich)\b")


def foreign_element(normalized: str) -> bool:
    """The question involves a foreigner or a foreign nationality."""
    return bool(_FOREIGN.search(normalized))


def agrees(normalized: str, title: str) -> bool:
    """False when the answer's title does not fit the question's object.

    Fixing or replacing a paper is not registering it anew (or only exchanging it); a civil-status
    question with a foreigner in it is not the domestic procedure.
    """
    folded = fold(title)
    if foreign_element(normalized) and _CIVIL_STATUS.search(folded) and "nuoc ngoai" not in folded:
        return False
    if not asks_to_fix(normalized):
        return True
    if first_registration(title):
        return False
    return not (_AGAIN.search(normalized) and exchange_only(title))
