"""Check a case's facts against each other before any criterion reads them.

Two kinds of trouble, kept apart:

* **impossible** values (an admission after the request, an authorization ending before it
  starts, a date listed twice, a birth after an admission): the case is rejected, one line
  naming the case and the field; no determination rests on a record that cannot be true.
* **contradictions** a reviewer must resolve (two facts the pack declares mutually exclusive
  both true; a flag that asserts something of the diagnosis the diagnosis does not bear out):
  the case is evaluated without the facts in conflict and pends, listing them in
  ``data_conflict``; it is never approved while the record contradicts itself.

What is exclusive and what a flag asserts are pack data (``facts.yaml``); the date rules
are the same for every pack: a record describes what happened up to the request date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from bhpolicy.criteria.loader import CriteriaPack


@dataclass(frozen=True)
class Conflict:
    facts: tuple[str, ...]
    section: str
    reason: str


def _dates(value: Any) -> list[dt.date]:
    """The dates a dated fact holds (a month of counts stands for its first day)."""
    if isinstance(value, dt.date):
        return [value]
    if isinstance(value, tuple):
        return list(value)
    assert isinstance(value, dict)
    return [dt.date(year, month, 1) for year, month in value]


def _where(name: str, value: Any, index: int) -> str:
    return f"facts.{name}" if isinstance(value, dt.date) else f"facts.{name}[{index}]"


def _check_dates(criteria: CriteriaPack, request_date: dt.date, facts: dict[str, Any]) -> None:
    specs = criteria.facts.facts
    for name, value in facts.items():
        spec = specs[name]
        if spec.type not in ("date", "date_list", "month_counts"):
            continue
        days = _dates(value)
        if not spec.may_follow_request:
            for index, day in enumerate(days):
                if day > request_date:
                    raise ValueError(f"field {_where(name, value, index)}: after the request "
                                     "date")
        if spec.type == "month_counts":
            key = (request_date.year, request_date.month)
            if not spec.may_follow_request and value.get(key, 0) > request_date.day:
                index = list(value).index(key)
                raise ValueError(f"field facts.{name}[{index}]: more days than the month has "
                                 "had by the request date")
        for other in spec.not_before:
            earliest = facts.get(other)
            if earliest is None:
                continue
            floor = (dt.date(earliest.year, earliest.month, 1)
                     if spec.type == "month_counts" else earliest)
            for index, day in enumerate(days):
                if day < floor:
                    raise ValueError(f"field {_where(name, value, index)}: before "
                                     f"facts.{other}")
        if spec.type == "date_list":
            seen: dict[dt.date, int] = {}
            for index, day in enumerate(days):
                if day in seen:
                    raise ValueError(f"field facts.{name}[{index}]: the same date as "
                                     f"facts.{name}[{seen[day]}] (listed twice)")
                seen[day] = index


def _conflicts(criteria: CriteriaPack, facts: dict[str, Any]) -> list[Conflict]:
    found: list[Conflict] = []
    for group in criteria.facts.exclusive:
        true = tuple(name for name in group.facts if facts.get(name) is True)
        if len(true) > 1:
            found.append(Conflict(true, group.section, group.reason))
    for rule in criteria.facts.diagnosis_supports:
        code = facts.get(rule.diagnosis)
        if facts.get(rule.flag) is True and code is not None and (
                criteria.diagnosis_group(code.code) not in rule.groups):
            found.append(Conflict((rule.flag, rule.diagnosis), rule.section, rule.reason))
    return found


def check_integrity(criteria: CriteriaPack, request_date: dt.date,
                    facts: dict[str, Any]) -> list[Conflict]:
    """Raise ValueError naming the field of an impossible value; return the contradictions
    a reviewer must resolve."""
    _check_dates(criteria, request_date, facts)
    return _conflicts(criteria, facts)
