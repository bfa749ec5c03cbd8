"""The portal's flattened channel table ("Hình thức nộp / Thời gian / Phí, lệ phí / Mô tả") per channel.

A figure is kept only where the table settles it: a time needs its unit, a fee its currency and the same
amount as the note beside it. Anything else reads SEE_PAGE and is reported as an issue.
"""
from __future__ import annotations

import re

from bot.national.records import CHANNEL_KINDS, SEE_PAGE, Channel, Issue

HEADER = "Hình thức nộpThời gianPhí, lệ phíMô tả"
# A channel label starts a row only when a time cell follows it at once (the cells lost their borders).
_LABEL = re.compile(r"(Trực tiếp|Trực tuyến|Dịch vụ bưu chính)(?=\d|Không)")
_UNITS = {"ngày làm việc": "ngày làm việc", "ngày": "ngày", "giờ làm việc": "giờ làm việc", "giờ": "giờ",
          "tháng": "tháng", "tuần": "tuần", "năm": "năm", "phút": "phút"}
_TIME = re.compile(r"(\d+)\s*(Ngày làm việc|Giờ làm việc|Ngày|Giờ|Tháng|Tuần|Năm|Phút)?", re.I)
_CURRENCY = r"(Việt Nam Đồng|VNĐ|VND|Đồng|đồng|USD)"
_AMOUNT = re.compile(r"([\d.,]+)\s*" + _CURRENCY)
_NO_INFO = re.compile(r"Không có thông tin")
_NOTE_MONEY = re.compile(r"(\d{1,3}(?:[.,]\d{3})+|\d+)\s*(đồng|Đồng|đ\b|Đ\b|vnđ|VNĐ|VND|USD)")
_CONDITIONS = re.compile(r"miễn|giảm|%|Hội đồng nhân dân|HĐND|tùy|tuỳ|theo từng", re.I)
_FREE_NOTE = re.compile(r"\(?\s*(chưa quy định|không quy định|không có|không thu(?: phí| lệ phí)?|miễn(?: lệ)? phí|không)"
                        r"\s*\.?\s*\)?", re.I)
# The fee is the province's to set: the portal's "Miễn phí" beside such a note is not a fact to repeat.
_PROVINCE_SETS = re.compile(r"Hội đồng nhân dân|HĐND|Ủy ban nhân dân cấp tỉnh quy định|UBND cấp tỉnh quy định", re.I)
PROVINCE_FEE = "mức do tỉnh quy định — xem trang thủ tục"
CAVEAT = " (mức có thể khác tùy trường hợp và thời điểm — xem trang thủ tục)"


def _digits(text: str) -> int:
    return int(re.sub(r"\D", "", text))


def _money(amount: int, currency: str) -> str:
    if currency == "USD":
        return f"{amount:,} USD".replace(",", ".")
    return f"{amount:,} đồng".replace(",", ".")


def _note(text: str) -> tuple[str, bool]:
    """The parenthesised note right after a fee cell, and whether it was cut off."""
    if not text.startswith("("):
        return "", False
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0:
            return text[1:i], False
    return text[1:], True


def _split_bare(cell: str) -> tuple[str, str] | None:
    """Split "120,000 VNĐ" into a unit-less time "1" and a fee "20,000 VNĐ" when only one split is valid."""
    m = re.match(r"(\d[\d,]*)\s*" + _CURRENCY, cell)
    if not m:
        return None
    run, splits = m.group(1), []
    for i in range(1, min(3, len(run))):
        fee = run[i:]
        valid = re.fullmatch(r"[1-9]\d{0,2}(,\d{3})+", fee) if m.group(2) != "USD" else re.fullmatch(r"[1-9]\d*", fee)
        if valid and run[:i].isdigit():
            splits.append((run[:i], fee + cell[len(run):]))
    return splits[0] if len(splits) == 1 else None


def _fee(cell: str, issues: list[Issue]) -> str:
    """The fee a citizen can be told, from the fee cell and its note."""
    if cell.startswith("Miễn phí"):
        note, _cut = _note(cell[len("Miễn phí"):])
        if not note.strip() or _FREE_NOTE.fullmatch(note.strip()):
            return "Miễn phí"
        if _PROVINCE_SETS.search(note):
            return PROVINCE_FEE
        issues.append(Issue("fee", "“Miễn phí” beside a note about fees"))
        return SEE_PAGE
    m = _AMOUNT.match(cell)
    if not m:
        if not _NO_INFO.match(cell):
            issues.append(Issue("fee", "no amount in the fee cell"))
        return SEE_PAGE
    currency = "USD" if m.group(2) == "USD" else "VND"
    amount = _digits(m.group(1))
    if currency == "VND" and amount < 1000:
        issues.append(Issue("fee", "implausible amount"))
        return SEE_PAGE
    note, cut = _note(cell[m.end():])
    in_note = {_digits(a) for a, cur in _NOTE_MONEY.findall(note) if (cur == "USD") == (currency == "USD")}
    if in_note and amount not in in_note:
        issues.append(Issue("fee", "amount differs from its note"))
        return SEE_PAGE
    if cut:
        issues.append(Issue("fee", "note cut off (figure kept with a caveat)"))
    text = _money(amount, currency)
    if cut or len(in_note) > 1 or _CONDITIONS.search(note):
        text += CAVEAT
    return text


def _row(label: str, cell: str, issues: list[Issue]) -> Channel:
    if cell.startswith("Không"):
        # "Không có thông tin", "Không quy định", "Không phải trả kết quả…": no time; the fee cell follows.
        m = re.match(r"Không có thông tin|Không[^A-ZĐ(]*", cell)
        rest = cell[m.end():] if m else cell
        return Channel(label, SEE_PAGE, _fee(rest.lstrip(), issues))
    m = _TIME.match(cell)
    assert m  # the label pattern only matches before a digit or "Không"
    if m.group(2) is None:
        issues.append(Issue("time", "number without a unit"))
        if not _AMOUNT.match(cell):
            return Channel(label, SEE_PAGE, _fee(cell[m.end():].lstrip(), issues))
        # The unit-less time ran into an amount ("1" + "20,000 VNĐ"): split it only where one split is valid.
        split = _split_bare(cell)
        if split:
            return Channel(label, SEE_PAGE, _fee(split[1], issues))
        issues.append(Issue("fee", "time and amount run together"))
        return Channel(label, SEE_PAGE, SEE_PAGE)
    number = int(m.group(1))
    unit = _UNITS[m.group(2).lower()]
    if number == 0:
        issues.append(Issue("time", "zero"))
        time = SEE_PAGE
    else:
        time = f"{number} {unit}"
    return Channel(label, time, _fee(cell[m.end():].lstrip(), issues))


def parse_channels(text: str) -> tuple[tuple[Channel, ...], list[Issue]]:
    """Channels in the order of CHANNEL_KINDS, one per kind; a kind listed twice with different figures gets SEE_PAGE."""
    issues: list[Issue] = []
    text = (text or "").strip()
    if not text.startswith(HEADER):
        issues.append(Issue("channels", "no channel table" if not text else "table header missing"))
        return (), issues
    parts = _LABEL.split(text[len(HEADER):])
    if len(parts) < 3:
        issues.append(Issue("channels", "no channel row"))
        return (), issues
    if parts[0].strip():
        issues.append(Issue("channels", "text before the first channel"))
    rows: dict[str, list[Channel]] = {}
    for label, cell in zip(parts[1::2], parts[2::2]):
        rows.setdefault(label, []).append(_row(label, cell, issues))
    channels = []
    for kind in CHANNEL_KINDS:
        found = rows.get(kind)
        if not found:
            continue
        times, fees = {c.time for c in found}, {c.fee for c in found}
        channels.append(Channel(kind, times.pop() if len(times) == 1 else SEE_PAGE,
                                fees.pop() if len(fees) == 1 else SEE_PAGE))
    return tuple(channels), issues


def summary(channels: tuple[Channel, ...], attr: str) -> str:
    """One line over the channels: the common value, or each channel's own."""
    values = [getattr(c, attr) for c in channels]
    if not values:
        return SEE_PAGE
    if len(set(values)) == 1:
        return values[0]
    return "; ".join(f"{c.kind.lower()}: {v}" for c, v in zip(channels, values))


def online_level(name: str, channels: tuple[Channel, ...]) -> str:
    """“toàn trình” when the record says so or online is its only channel; “một phần” when online is one of them."""
    kinds = {c.kind for c in channels}
    if "toàn trình" in name.lower() or kinds == {"Trực tuyến"}:
        return "toàn trình"
    return "một phần" if "Trực tuyến" in kinds else "không"
