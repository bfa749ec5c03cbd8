"""The commune's office hours, read from `commune.hours`: open now, and when staff will next be in."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Mapping

# Vietnam keeps UTC+7 all year (no daylight saving), so a fixed offset is exact.
VIETNAM = dt.timezone(dt.timedelta(hours=7), "ICT")
DAYS = ("T2", "T3", "T4", "T5", "T6", "T7", "CN")  # Monday first, as dt.date.weekday() counts
DAY_NAMES = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
DAY_KEY = r"^(T[2-7]|CN)(-(T[2-7]|CN))?$"  # "T2", "T2-T6", "T7-CN": the keys `open:` accepts


class HoursError(ValueError):
    """`commune.hours.open` cannot be read; the message says which key or span."""


@dataclass(frozen=True)
class OfficeHours:
    """Opening spans per weekday (minutes since midnight, Vietnam time)."""

    text: str
    spans: tuple[tuple[tuple[int, int], ...], ...] = ((),) * 7  # index: weekday, Monday = 0

    @classmethod
    def parse(cls, text: str, weekly: Mapping[str, list[str]] | None) -> "OfficeHours":
        """From the catalog: a text for citizens and `open:` {"T2-T6": ["07:30-11:30", ...]}."""
        days: list[list[tuple[int, int]]] = [[] for _ in DAYS]
        for key, spans in (weekly or {}).items():
            for day in _day_range(str(key)):
                for span in spans:
                    days[day].append(_span(str(span), str(key)))
        return cls(text, tuple(tuple(sorted(d)) for d in days))

    @property
    def known(self) -> bool:
        """True when any opening span is given (otherwise nothing can be said about when)."""
        return any(self.spans)

    def is_open(self, now: dt.datetime) -> bool:
        """True when `now` falls inside an opening span."""
        local = now.astimezone(VIETNAM)
        minute = local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in self.spans[local.weekday()])

    def next_opening(self, now: dt.datetime) -> dt.datetime | None:
        """The start of the next opening span after `now` (None when no span is known)."""
        local = now.astimezone(VIETNAM)
        for ahead in range(8):
            day = (local + dt.timedelta(days=ahead)).date()
            for start, _ in self.spans[day.weekday()]:
                moment = dt.datetime.combine(day, dt.time(start // 60, start % 60), VIETNAM)
                if moment > local:
                    return moment
        return None


def describe(moment: dt.datetime, now: dt.datetime) -> str:
    """"7 giờ 30 sáng mai (Thứ Ba, 08/12)" — a moment in words a citizen reads at a glance."""
    local, today = moment.astimezone(VIETNAM), now.astimezone(VIETNAM).date()
    clock = f"{local.hour} giờ" + (f" {local.minute:02d}" if local.minute else "")
    part = "sáng" if local.hour < 11 else "trưa" if local.hour < 13 else "chiều" if local.hour < 18 else "tối"
    date = f"{DAY_NAMES[local.weekday()]}, {local:%d/%m}"
    if local.date() == today:
        return f"{clock} {part} nay"
    if local.date() == today + dt.timedelta(days=1):
        return f"{clock} {part} mai ({date})"
    return f"{clock} {part} {date}"


def _day_range(key: str) -> list[int]:
    if not re.match(DAY_KEY, key):
        raise HoursError(f"ngày {key!r}: dùng T2…T7, CN hoặc khoảng như T2-T6")
    first, _, last = key.partition("-")
    a, b = DAYS.index(first), DAYS.index(last or first)
    if b < a:
        raise HoursError(f"ngày {key!r}: ngày đầu phải trước ngày cuối")
    return list(range(a, b + 1))


def _span(text: str, key: str) -> tuple[int, int]:
    found = _SPAN.match(text)
    if found is None:
        raise HoursError(f"{key}: {text!r} phải có dạng 07:30-11:30")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if not (0 <= start < end <= 24 * 60) or m1 > 59 or m2 > 59:
        raise HoursError(f"{key}: {text!r} không phải khoảng giờ hợp lệ")
    return start, end
