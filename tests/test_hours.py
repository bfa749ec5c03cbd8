"""Office hours from `commune.hours`: open or not, the next opening, in words."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.hours import VIETNAM, HoursError, OfficeHours, describe

WEEK = OfficeHours.parse("T2–T6 giờ hành chính", {"T2-T6": ["07:30-11:30", "13:30-17:00"], "T7": ["07:30-11:30"]})


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """Monday 7 December 2026 is day 0."""
    return dt.datetime(2026, 12, 7 + day, hour, minute, tzinfo=VIETNAM)


@pytest.mark.parametrize("moment, open_", [
    (at(0, 7, 29), False), (at(0, 7, 30), True), (at(0, 11, 30), False), (at(0, 12, 0), False),
    (at(0, 14, 0), True), (at(4, 16, 59), True), (at(5, 9, 0), True), (at(5, 14, 0), False), (at(6, 9, 0), False),
])
def test_is_open(moment, open_):
    assert WEEK.is_open(moment) is open_


@pytest.mark.parametrize("moment, expected", [
    (at(0, 6, 0), at(0, 7, 30)),
    (at(0, 12, 0), at(0, 13, 30)),
    (at(0, 18, 0), at(1, 7, 30)),
    (at(5, 12, 0), at(7, 7, 30)),   # Saturday afternoon -> Monday
    (at(6, 23, 0), at(7, 7, 30)),   # Sunday night -> Monday
])
def test_next_opening(moment, expected):
    assert WEEK.next_opening(moment) == expected


def test_utc_input_is_read_in_vietnam_time():
    utc = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.timezone.utc)  # 08:00 in Vietnam
    assert WEEK.is_open(utc)


def test_describe_in_words():
    assert describe(at(0, 13, 30), at(0, 12, 0)) == "13 giờ 30 chiều nay"
    assert describe(at(1, 7, 30), at(0, 18, 0)) == "7 giờ 30 sáng mai (Thứ Ba, 08/12)"
    assert describe(at(7, 7, 0), at(5, 12, 0)) == "7 giờ sáng Thứ Hai, 14/12"


def test_unknown_hours_say_nothing():
    hours = OfficeHours.parse("Giờ hành chính", None)
    assert not hours.known and hours.next_opening(at(0, 9)) is None


@pytest.mark.parametrize("weekly", [{"T8": ["07:00-11:00"]}, {"T6-T2": ["07:00-11:00"]},
                                    {"T2": ["7h-11h"]}, {"T2": ["11:00-07:00"]}, {"T2": ["07:00-25:00"]}])
def test_unreadable_hours_are_refused(weekly):
    with pytest.raises(HoursError):
        OfficeHours.parse("x", weekly)
