"""The leaf tests a criteria tree may use. Each is a small pure function of the case's facts
and the pack's parameters in force on the request date; none holds a policy number.

A leaf returns met, not met, unknown (a fact it needs is missing) or needs judgment (only a
clinical reviewer can decide). Unknown is never turned into not met.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from bhpolicy.criteria import dates
from bhpolicy.criteria.cases import Case
from bhpolicy.criteria.model import Test

Status = Literal["met", "not_met", "unknown", "needs_judgment"]


@dataclass(slots=True)
class LeafResult:
    status: Status
    detail: str
    facts_used: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    question: str | None = None  # for needs judgment: what the reviewer must decide


def _param(case: Case, name: str | None) -> Any:
    assert name is not None
    return case.criteria.pack.value(name, case.request_date).value


def _int_param(case: Case, name: str | None) -> int:
    value = _param(case, name)
    assert isinstance(value, int), name
    return value


def label(case: Case, name: str) -> str:
    """The fact's label from the pack's facts.yaml, as a reviewer reads it."""
    return case.criteria.facts.facts[name].label


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _missing(case: Case, *names: str) -> LeafResult:
    return LeafResult("unknown", "missing: " + "; ".join(label(case, n) for n in names),
                      missing=list(names))


def fact(test: Test, case: Case) -> LeafResult:
    """A yes/no fact stated in the record."""
    value = case.facts.get(test.fact)
    if value is None:
        return _missing(case, test.fact)
    return LeafResult("met" if value else "not_met", f"{label(case, test.fact)}: "
                      f"{yes_no(value)}", {test.fact: value})


def fact_needs_judgment(test: Test, case: Case) -> LeafResult:
    """A fact whose degree a clinical reviewer must judge: present means needs judgment."""
    value = case.facts.get(test.fact)
    if value is None:
        return _missing(case, test.fact)
    if not value:
        return LeafResult("not_met", f"{label(case, test.fact)}: no", {test.fact: False})
    return LeafResult("needs_judgment", f"{label(case, test.fact)}: yes; how far it goes is a "
                      "reviewer's judgment", {test.fact: True})


def age_at_least(test: Test, case: Case) -> LeafResult:
    birth = case.facts.get(test.fact)
    if birth is None:
        return _missing(case, test.fact)
    minimum = _int_param(case, test.param)
    leap = cast(dates.LeapDayRule, _param(case, test.leap_day_param))
    age = dates.age_on(birth, case.request_date, leap)
    return LeafResult("met" if age >= minimum else "not_met",
                      f"age {age} on {case.request_date} (minimum {minimum})",
                      {test.fact: birth.isoformat(), "age_on_request_date": age},
                      parameters={str(test.param): minimum})


def diagnosis_group(test: Test, case: Case) -> LeafResult:
    """The primary diagnosis falls in the crosswalk group ``test.group``, which must be one
    of the groups that qualify on the request date (``param``, SC I.B); a group the pack
    lists under ``judgment_param`` (SC I.B.4) qualifies only on a reviewer's judgment."""
    code = case.facts.get(test.fact)
    if code is None:
        return _missing(case, test.fact)
    crosswalk = case.criteria.crosswalk
    assert crosswalk is not None and test.group is not None
    group = case.criteria.diagnosis_group(code.code)
    used = {test.fact: code.code, "diagnosis": code.description, "diagnosis_group": group}
    wanted = crosswalk.groups[test.group]
    qualifying = _list_param(case, test.param)
    judged = _list_param(case, test.judgment_param) or []
    parameters: dict[str, Any] = {name: value for name, value in (
        (test.param, qualifying), (test.judgment_param, judged)) if name}
    if group != test.group:
        return LeafResult("not_met", f"{code.code} is not in {wanted.label}", used,
                          parameters=parameters)
    if qualifying is not None and test.group not in qualifying:
        return LeafResult("not_met", f"{code.code} is in {wanted.label}, which is not among "
                          f"the groups that qualify on {case.request_date} ({test.param})",
                          used, parameters=parameters)
    if test.group in judged:
        return LeafResult("needs_judgment", f"{code.code} ({code.description}) is in "
                          f"{wanted.label}, which qualifies only on a reviewer's judgment", used,
                          parameters=parameters, question=wanted.question)
    return LeafResult("met", f"{code.code} ({code.description}) is in {wanted.label}", used,
                      parameters=parameters)


def _list_param(case: Case, name: str | None) -> list[str] | None:
    if name is None:
        return None
    value = _param(case, name)
    assert isinstance(value, list), name
    return [str(v) for v in value]


def fact_if_required(test: Test, case: Case) -> LeafResult:
    """A yes/no fact the pack may require (``param``, a boolean; MN Eligible Recipients:
    "Be eligible for MA"): met when the pack does not require it, else the fact decides."""
    required = _param(case, test.param)
    assert isinstance(required, bool), test.param
    parameters = {str(test.param): required}
    if not required:
        return LeafResult("met", f"not required on {case.request_date} ({test.param})",
                          parameters=parameters)
    found = fact(test, case)
    found.parameters = parameters
    return found


def dates_within_months_at_least(test: Test, case: Case) -> LeafResult:
    found = case.facts.get(test.fact)
    if found is None:
        return _missing(case, test.fact)
    minimum, months = _int_param(case, test.param), _int_param(case, test.months_param)
    inside = [d for d in found if dates.within_months_before(d, case.request_date, months)]
    start = dates.add_months(case.request_date, -months)
    return LeafResult(
        "met" if len(inside) >= minimum else "not_met",
        f"{len(inside)} in ({start}, {case.request_date}] (minimum {minimum})",
        {test.fact: [d.isoformat() for d in found], "counted": len(inside)},
        parameters={str(test.param): minimum, str(test.months_param): months})


def onset_more_than_months(test: Test, case: Case) -> LeafResult:
    assert test.present_fact is not None
    present = case.facts.get(test.present_fact)
    if present is False:
        return LeafResult("not_met", f"{label(case, test.present_fact)}: no",
                          {test.present_fact: False})
    since = case.facts.get(test.fact)
    if since is None:
        return _missing(case, *([test.present_fact] if present is None else []), test.fact)
    months = _int_param(case, test.param)
    cutoff = dates.add_months(case.request_date, -months)
    ok = dates.more_than_months_before(since, case.request_date, months)
    return LeafResult("met" if ok else "not_met",
                      f"since {since}; more than {months} months means before {cutoff}",
                      {test.present_fact: True, test.fact: since.isoformat()},
                      parameters={str(test.param): months})


def at_least_param(test: Test, case: Case) -> LeafResult:
    value = case.facts.get(test.fact)
    if value is None:
        return _missing(case, test.fact)
    minimum = _int_param(case, test.param)
    return LeafResult("met" if value >= minimum else "not_met",
                      f"{value} (minimum {minimum})", {test.fact: value},
                      parameters={str(test.param): minimum})


def monthly_minimum(test: Test, case: Case) -> LeafResult:
    """Each whole calendar month of the authorization before the request date has at least
    the minimum of days provided; partial months are left out, not counted as short."""
    assert test.start_fact is not None and test.end_fact is not None
    counts = case.facts.get(test.fact)
    start, end = case.facts.get(test.start_fact), case.facts.get(test.end_fact)
    absent = [n for n, v in ((test.fact, counts), (test.start_fact, start),
                             (test.end_fact, end)) if v is None]
    if absent:
        return _missing(case, *absent)
    assert isinstance(counts, dict) and isinstance(start, dt.date) and isinstance(end, dt.date)
    minimum = _int_param(case, test.param)
    last_day = min(end, case.request_date - dt.timedelta(days=1))
    months = dates.month_span(start, last_day)
    used: dict[str, Any] = {test.start_fact: start.isoformat(), test.end_fact: end.isoformat(),
            "whole_months": [f"{y}-{m:02d}" for y, m in months]}
    if not months:
        return LeafResult("unknown", "no whole month of the authorization before the request "
                          "date to measure", used, [test.fact])
    without = [f"{y}-{m:02d}" for y, m in months if (y, m) not in counts]
    if without:
        return LeafResult("unknown", f"no day count for {', '.join(without)}", used, [test.fact])
    # each month is measured against the minimum in force in that month: a month before the
    # policy stated one (SC: before 02/26) has none, and is not short
    floors = {(y, m): _month_minimum(case, test.param, dt.date(y, m, 1)) for y, m in months}
    short = [f"{y}-{m:02d} ({counts[(y, m)]})" for y, m in months
             if floors[(y, m)] is not None and counts[(y, m)] < cast(int, floors[(y, m)])]
    used["days_by_month"] = {f"{y}-{m:02d}": counts[(y, m)] for y, m in months}
    unset = [f"{y}-{m:02d}" for y, m in months if floors[(y, m)] is None]
    if unset:
        used["months_without_a_minimum"] = unset
    if short:
        return LeafResult("not_met", f"under {minimum} days in {', '.join(short)}", used,
                          parameters={str(test.param): minimum})
    measured = len(months) - len(unset)
    note = f"; no minimum in force in {', '.join(unset)}" if unset else ""
    return LeafResult("met", f"at least {minimum} days in each of {measured} whole months"
                      f"{note}", used, parameters={str(test.param): minimum})


def _month_minimum(case: Case, name: str | None, first_day: dt.date) -> int | None:
    """The monthly minimum in force on a month's first day; None where the pack states none
    (a null value, or a month before the parameter's first value)."""
    from bhpolicy.policy.model import ParameterNotInForce

    assert name is not None
    try:
        value = case.criteria.pack.value(name, first_day).value
    except ParameterNotInForce:
        return None
    return value if isinstance(value, int) else None


def months_elapsed_at_least(test: Test, case: Case) -> LeafResult:
    since = case.facts.get(test.fact)
    if since is None:
        return _missing(case, test.fact)
    months = _int_param(case, test.param)
    reached = dates.add_months(since, months)
    return LeafResult("met" if reached <= case.request_date else "not_met",
                      f"since {since}; {months} calendar months are complete on {reached}",
                      {test.fact: since.isoformat()}, parameters={str(test.param): months})


_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "eq": lambda a, b: a == b, "gte": lambda a, b: a >= b}


def compare_param(test: Test, case: Case) -> LeafResult:
    value = case.facts.get(test.fact)
    if value is None:
        return _missing(case, test.fact)
    target = _int_param(case, test.param)
    how = str(_param(case, test.comparison_param))
    if how not in _COMPARE:
        raise ValueError(f"{test.comparison_param} must be one of {sorted(_COMPARE)}")
    return LeafResult("met" if _COMPARE[how](value, target) else "not_met",
                      f"{value} (required: {'exactly' if how == 'eq' else 'at least'} {target})",
                      {test.fact: value},
                      parameters={str(test.param): target, str(test.comparison_param): how})


def count_listed_at_least(test: Test, case: Case) -> LeafResult:
    """At least ``param`` items listed; with ``of_param`` only the items of that list count
    (MN Eligible Recipients: the statute's functional domains)."""
    listed = case.facts.get(test.fact)
    if listed is None:
        return _missing(case, test.fact)
    minimum = _int_param(case, test.param)
    parameters: dict[str, Any] = {str(test.param): minimum}
    counted = list(listed)
    if test.of_param is not None:
        domains = _list_param(case, test.of_param) or []
        counted = [item for item in listed if item in domains]
        parameters[test.of_param] = domains
    outside = len(listed) - len(counted)
    note = f", {outside} not in {test.of_param}" if outside else ""
    return LeafResult("met" if len(counted) >= minimum else "not_met",
                      f"{len(counted)} listed{note} (minimum {minimum})",
                      {test.fact: list(listed)}, parameters=parameters)


RULES: dict[str, Callable[[Test, Case], LeafResult]] = {
    "fact": fact,
    "fact_needs_judgment": fact_needs_judgment,
    "fact_if_required": fact_if_required,
    "age_at_least": age_at_least,
    "diagnosis_group": diagnosis_group,
    "dates_within_months_at_least": dates_within_months_at_least,
    "onset_more_than_months": onset_more_than_months,
    "at_least_param": at_least_param,
    "monthly_minimum": monthly_minimum,
    "months_elapsed_at_least": months_elapsed_at_least,
    "compare_param": compare_param,
    "count_listed_at_least": count_listed_at_least,
}
