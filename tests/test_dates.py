"""Calendar conventions of the criteria (issue 4, 'Dates are computed against the request
date'): calendar months clamped to month end; 29 February birthdays by pack convention."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bhpolicy.criteria.dates import (
    add_months,
    age_on,
    month_span,
    more_than_months_before,
    within_months_before,
)

D = dt.date


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2026, 1, 31), 1, D(2026, 2, 28)),  # clamped to month end
        (D(2024, 1, 31), 1, D(2024, 2, 29)),  # leap year
        (D(2025, 11, 30), 3, D(2026, 2, 28)),  # III.D three months from 30 November
        (D(2026, 3, 10), -12, D(2025, 3, 10)),
        (D(2026, 12, 15), 1, D(2027, 1, 15)),
        (D(2024, 2, 29), 12, D(2025, 2, 28)),
    ],
)
def test_add_months(day: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(day, months) == expected


def test_age_turns_on_the_birthday() -> None:
    birth = D(2008, 3, 10)
    assert age_on(birth, D(2026, 3, 9), "mar1") == 17
    assert age_on(birth, D(2026, 3, 10), "mar1") == 18


@pytest.mark.parametrize(("rule", "feb28", "mar1"), [("mar1", 17, 18), ("feb28", 18, 18)])
def test_leap_day_birthday_follows_the_pack_convention(rule: str, feb28: int, mar1: int) -> None:
    birth = D(2008, 2, 29)  # 2026 has no 29 February
    assert age_on(birth, D(2026, 2, 28), rule) == feb28  # type: ignore[arg-type]
    assert age_on(birth, D(2026, 3, 1), rule) == mar1  # type: ignore[arg-type]


def test_past_twelve_months_is_half_open() -> None:
    request = D(2026, 3, 10)
    assert not within_months_before(D(2025, 3, 10), request, 12)  # (request - 12 months
    assert within_months_before(D(2025, 3, 11), request, 12)
    assert within_months_before(request, request, 12)  # , request]
    assert not within_months_before(D(2026, 3, 11), request, 12)


def test_more_than_six_months_is_strict() -> None:
    request = D(2026, 4, 2)
    assert not more_than_months_before(D(2025, 10, 2), request, 6)  # exactly six months
    assert more_than_months_before(D(2025, 10, 1), request, 6)


def test_month_span_keeps_whole_months_only() -> None:
    assert month_span(D(2026, 3, 16), D(2026, 8, 19)) == [(2026, 4), (2026, 5), (2026, 6),
                                                          (2026, 7)]
    assert month_span(D(2026, 3, 1), D(2026, 3, 31)) == [(2026, 3)]
    assert month_span(D(2026, 3, 2), D(2026, 3, 31)) == []


@given(st.dates(min_value=D(1900, 1, 1), max_value=D(2100, 12, 31)),
       st.integers(min_value=-240, max_value=240))
def test_add_months_never_fails_and_never_overshoots(day: dt.date, months: int) -> None:
    moved = add_months(day, months)
    assert (moved.year * 12 + moved.month) - (day.year * 12 + day.month) == months
    assert moved.day <= day.day


@given(st.dates(min_value=D(1920, 1, 1), max_value=D(2010, 12, 31)),
       st.dates(min_value=D(2020, 1, 1), max_value=D(2040, 12, 31)))
def test_age_never_decreases_with_time(birth: dt.date, on: dt.date) -> None:
    assert age_on(birth, on + dt.timedelta(days=1), "mar1") >= age_on(birth, on, "mar1")
