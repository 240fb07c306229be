"""Parse and validate a case: every field typed on purpose; nothing is guessed.

A case is a JSON object: ``case_id``, ``policy`` (pack id or alias), ``request_type``
(initial | continued_stay | discharge), ``request_date`` (YYYY-MM-DD) and ``facts``, whose
names and types come from the pack's ``facts.yaml``. A fact that is absent or null is unknown.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from bhpolicy.criteria import icd10
from bhpolicy.criteria.loader import CriteriaPack, criteria_for
from bhpolicy.criteria.model import FactSpec, RequestType
from bhpolicy.errors import BhpolicyError
from bhpolicy.policy.registry import PolicyRegistry

ENVELOPE = ("case_id", "policy", "request_type", "request_date", "facts")
REQUEST_TYPES: tuple[RequestType, ...] = ("initial", "continued_stay", "discharge")
_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")


class CaseError(BhpolicyError):
    """A case that cannot be evaluated; the message names the case and the field."""


@dataclass(frozen=True)
class Case:
    case_id: str
    criteria: CriteriaPack
    request_type: RequestType
    request_date: dt.date
    facts: dict[str, Any]


def _date(value: Any, field: str) -> dt.date:
    if not isinstance(value, str):
        raise ValueError(f"field {field}: expected a date string YYYY-MM-DD, got {value!r}")
    try:
        if len(value) != 10:
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"field {field}: {value!r} is not a date (YYYY-MM-DD)") from None


def _fact(name: str, spec: FactSpec, value: Any, criteria: CriteriaPack,
          request_date: dt.date) -> Any:
    field = f"facts.{name}"
    kind = spec.type
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"field {field}: expected true or false, got {value!r}")
        return value
    if kind == "date":
        return _date(value, field)
    if kind == "date_list":
        if not isinstance(value, list):
            raise ValueError(f"field {field}: expected a list of dates, got {value!r}")
        return tuple(_date(v, f"{field}[{i}]") for i, v in enumerate(value))
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"field {field}: expected a whole number, got {value!r}")
        if (spec.min is not None and value < spec.min) or (
                spec.max is not None and value > spec.max):
            raise ValueError(f"field {field}: {value} is outside {spec.min}..{spec.max}")
        return value
    if kind == "icd10":
        if not isinstance(value, str) or not icd10.well_formed(value):
            raise ValueError(f"field {field}: {value!r} is not an ICD-10-CM code")
        code = icd10.lookup(value)
        if code is None:
            raise ValueError(f"field {field}: {value!r} is not in the ICD-10-CM code set "
                             f"({icd10.release()})")
        if not code.billable:
            raise ValueError(f"field {field}: {code.code} ({code.description}) is a category, "
                             "not a billable code; give the full code")
        return code
    if kind == "month_counts":
        if not isinstance(value, dict):
            raise ValueError(f"field {field}: expected an object of YYYY-MM to day counts")
        counts: dict[tuple[int, int], int] = {}
        for key, days in value.items():
            match = _MONTH.match(key)
            if not match:
                raise ValueError(f"field {field}: month {key!r} is not YYYY-MM")
            year, month = int(match.group(1)), int(match.group(2))
            limit = calendar.monthrange(year, month)[1]
            if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= limit:
                raise ValueError(f"field {field}.{key}: expected 0..{limit} days, got {days!r}")
            counts[(year, month)] = days
        return counts
    # text_list
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"field {field}: expected a list of names, got {value!r}")
    if spec.allowed_param:
        allowed = criteria.pack.value(spec.allowed_param, request_date).value
        assert isinstance(allowed, list)
        unknown = [v for v in value if v not in allowed]
        if unknown:
            raise ValueError(f"field {field}: {unknown} not among {spec.allowed_param} "
                             f"({', '.join(allowed)})")
    if len(set(value)) != len(value):
        raise ValueError(f"field {field}: a name is listed twice")
    return tuple(value)


def parse_case(raw: Any, registry: PolicyRegistry, where: str) -> Case:
    """Validate one case object; ``where`` names the file (and line) for errors."""
    case_id = raw.get("case_id") if isinstance(raw, dict) else None
    label = f"{where}: case {case_id!r}" if isinstance(case_id, str) else where
    try:
        if not isinstance(raw, dict):
            raise ValueError("a case must be a JSON object")
        extra = sorted(set(raw) - set(ENVELOPE))
        if extra:
            raise ValueError(f"field {extra[0]}: not a case field (expected {', '.join(ENVELOPE)})")
        for key in ENVELOPE:
            if key not in raw:
                raise ValueError(f"field {key}: missing")
        if not isinstance(case_id, str) or not case_id:
            raise ValueError("field case_id: expected a non-empty string")
        if not isinstance(raw["policy"], str):
            raise ValueError("field policy: expected a pack id or alias")
        criteria = criteria_for(registry.get(raw["policy"]))
        request_type = raw["request_type"]
        if request_type not in REQUEST_TYPES:
            raise ValueError(f"field request_type: {request_type!r} is not one of "
                             f"{', '.join(REQUEST_TYPES)}")
        criteria.tree(request_type)
        request_date = _date(raw["request_date"], "request_date")
        if request_date < criteria.criteria.since:
            raise ValueError(
                f"field request_date: {request_date} is before {criteria.criteria.since}, "
                f"the first day of the criteria {criteria.pack.id} carries")
        if not isinstance(raw["facts"], dict):
            raise ValueError("field facts: expected an object")
        facts: dict[str, Any] = {}
        specs = criteria.facts.facts
        for name, value in raw["facts"].items():
            spec = specs.get(name)
            if spec is None:
                raise ValueError(f"field facts.{name}: not a fact of {criteria.pack.id}")
            if value is not None:
                facts[name] = _fact(name, spec, value, criteria, request_date)
    except (ValueError, BhpolicyError) as exc:
        raise CaseError(f"{label}: {exc}") from None
    return Case(case_id, criteria, request_type, request_date, facts)
