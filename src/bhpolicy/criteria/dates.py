"""Calendar arithmetic the criteria use, always against the request date, never today.

Months are calendar months clamped to the month's end (31 January + 1 month = 28 or 29
February), so no date arithmetic can fail on a short month or a 29 February birthday.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Literal

LeapDayRule = Literal["mar1", "feb28"]


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` calendar months, clamped to the end of the target month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def birthday_in(birth: dt.date, year: int, leap_day: LeapDayRule) -> dt.date:
    """The day in ``year`` on which someone born on ``birth`` has their birthday."""
    if birth.month == 2 and birth.day == 29 and not calendar.isleap(year):
        return dt.date(year, 3, 1) if leap_day == "mar1" else dt.date(year, 2, 28)
    return dt.date(year, birth.month, birth.day)


def age_on(birth: dt.date, on: dt.date, leap_day: LeapDayRule) -> int:
    """Completed years of age on ``on`` (the birthday itself counts as reached)."""
    years = on.year - birth.year
    return years - 1 if on < birthday_in(birth, on.year, leap_day) else years


def within_months_before(day: dt.date, reference: dt.date, months: int) -> bool:
    """``day`` lies in (reference - months, reference]: "in the past N months"."""
    return add_months(reference, -months) < day <= reference


def more_than_months_before(day: dt.date, reference: dt.date, months: int) -> bool:
    """``day`` is strictly before reference - months: "for more than N months"."""
    return day < add_months(reference, -months)


def month_span(start: dt.date, end: dt.date) -> list[tuple[int, int]]:
    """(year, month) of every calendar month that lies wholly inside [start, end]."""
    months: list[tuple[int, int]] = []
    year, month = start.year, start.month
    if start.day != 1:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    while True:
        last = dt.date(year, month, calendar.monthrange(year, month)[1])
        if last > end:
            return months
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
