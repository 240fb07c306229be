"""Parse and validate a case: every field typed on purpose; nothing is guessed.

A case is a JSON object: ``case_id``, ``policy`` (pack id or alias), ``request_type``
(initial | continued_stay | discharge), ``request_date`` (YYYY-MM-DD), ``facts``, whose
names and types come from the pack's ``facts.yaml``, and optionally ``member_id``. A fact
that is absent or null is unknown.

Errors name the case and the field, never a field's value: facts are PHI (birth dates,
diagnoses, dates of service), and an error line goes to a terminal or a log.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from bhpolicy.criteria import icd10
from bhpolicy.criteria.integrity import Conflict, check_integrity
from bhpolicy.criteria.loader import CriteriaPack, criteria_for
from bhpolicy.criteria.model import FactSpec, RequestType
from bhpolicy.errors import BhpolicyError, NotFoundError
from bhpolicy.policy.registry import PolicyRegistry

ENVELOPE = ("case_id", "policy", "request_type", "request_date", "facts")
OPTIONAL = ("member_id",)
REQUEST_TYPES: tuple[RequestType, ...] = ("initial", "continued_stay", "discharge")
# The earliest date a case may carry: anything older is a typing slip (0001-01-01), not a
# birth date or an admission, and would only stretch date arithmetic.
EARLIEST = dt.date(1900, 1, 1)
ID_MAX = 100
_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ID = re.compile(r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]+$")  # nothing that breaks a line


class CaseError(BhpolicyError):
    """A case that cannot be evaluated; the message names the case and the field."""


@dataclass(frozen=True)
class Case:
    case_id: str
    criteria: CriteriaPack
    request_type: RequestType
    request_date: dt.date
    facts: dict[str, Any]
    as_of: dt.date  # the run's date: the day the determination is made
    member_id: str | None = None
    conflicts: tuple[Conflict, ...] = ()


def field_name(name: str) -> str:
    """A key from the input, safe to print: our own names as they are, others quoted and
    cut short (a key is not a value, but it came from the same file)."""
    return name if _NAME.fullmatch(name) else repr(name[:40] + ("..." if len(name) > 40 else ""))


def _date(value: Any, field: str) -> dt.date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError(f"field {field}: not a date (YYYY-MM-DD)")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"field {field}: not a date (YYYY-MM-DD)") from None
    if day < EARLIEST:
        raise ValueError(f"field {field}: before {EARLIEST}, not a plausible date")
    return day


def _month_counts(value: Any, field: str) -> dict[tuple[int, int], int]:
    if not isinstance(value, dict):
        raise ValueError(f"field {field}: expected an object of YYYY-MM to day counts")
    counts: dict[tuple[int, int], int] = {}
    for index, (key, days) in enumerate(value.items()):
        match = _MONTH.fullmatch(key)
        if not match:
            raise ValueError(f"field {field}[{index}]: month is not YYYY-MM")
        year, month = int(match.group(1)), int(match.group(2))
        if year < EARLIEST.year:
            raise ValueError(f"field {field}[{index}]: before {EARLIEST}, not a plausible month")
        limit = calendar.monthrange(year, month)[1]
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= limit:
            raise ValueError(f"field {field}[{index}]: expected a whole number of days, "
                             f"0 to the month's {limit}")
        counts[(year, month)] = days
    return counts


def _fact(name: str, spec: FactSpec, value: Any, criteria: CriteriaPack,
          request_date: dt.date) -> Any:
    field = f"facts.{name}"
    kind = spec.type
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"field {field}: expected true or false")
        return value
    if kind == "date":
        return _date(value, field)
    if kind == "date_list":
        if not isinstance(value, list):
            raise ValueError(f"field {field}: expected a list of dates")
        return tuple(_date(v, f"{field}[{i}]") for i, v in enumerate(value))
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"field {field}: expected a whole number")
        if (spec.min is not None and value < spec.min) or (
                spec.max is not None and value > spec.max):
            raise ValueError(f"field {field}: outside {spec.min}..{spec.max}")
        return value
    if kind == "icd10":
        if not isinstance(value, str) or not icd10.well_formed(value):
            raise ValueError(f"field {field}: not an ICD-10-CM code")
        code = icd10.lookup(value)
        if code is None:
            raise ValueError(f"field {field}: not in the ICD-10-CM code set ({icd10.release()})")
        if not code.billable:
            raise ValueError(f"field {field}: a category, not a billable code; give the "
                             "full code")
        return code
    if kind == "month_counts":
        return _month_counts(value, field)
    # text_list
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"field {field}: expected a list of names")
    if spec.allowed_param:
        allowed = criteria.pack.value(spec.allowed_param, request_date).value
        assert isinstance(allowed, list)
        for index, item in enumerate(value):
            if item not in allowed:
                raise ValueError(f"field {field}[{index}]: not one of {spec.allowed_param} "
                                 f"({', '.join(allowed)})")
    if len(set(value)) != len(value):
        raise ValueError(f"field {field}: a name is listed twice")
    return tuple(value)


def _label(raw: Any, where: str) -> str:
    case_id = raw.get("case_id") if isinstance(raw, dict) else None
    if isinstance(case_id, str) and 0 < len(case_id) <= ID_MAX and _ID.fullmatch(case_id):
        return f"{where}: case {case_id!r}"
    return where


def parse_case(raw: Any, registry: PolicyRegistry, where: str,
               as_of: dt.date | None = None) -> Case:
    """Validate one case object; ``where`` names the file (and line) for errors. ``as_of``
    is the run's date (default today): a request dated after it is rejected."""
    run_date = as_of or dt.date.today()
    label = _label(raw, where)
    try:
        if not isinstance(raw, dict):
            raise ValueError("a case must be a JSON object")
        extra = sorted(set(raw) - set(ENVELOPE) - set(OPTIONAL))
        if extra:
            raise ValueError(f"field {field_name(extra[0])}: not a case field (expected "
                             f"{', '.join(ENVELOPE + OPTIONAL)})")
        for key in ENVELOPE:
            if key not in raw:
                raise ValueError(f"field {key}: missing")
        case_id = raw["case_id"]
        if not isinstance(case_id, str) or not case_id:
            raise ValueError("field case_id: expected a non-empty string")
        if len(case_id) > ID_MAX or not _ID.fullmatch(case_id):
            raise ValueError(f"field case_id: expected at most {ID_MAX} characters, none a "
                             "control character")
        member_id = raw.get("member_id")
        if member_id is not None and not (isinstance(member_id, str) and member_id and
                                          len(member_id) <= ID_MAX and _ID.fullmatch(member_id)):
            raise ValueError(f"field member_id: expected 1 to {ID_MAX} characters, none a "
                             "control character")
        if not isinstance(raw["policy"], str):
            raise ValueError("field policy: expected a pack id or alias")
        try:
            pack = registry.get(raw["policy"])
        except NotFoundError:
            known = ", ".join(f"{p.id} ({p.alias})" for p in registry.packs)
            raise ValueError(f"field policy: not a known pack (known: {known})") from None
        criteria = criteria_for(pack)
        request_type = raw["request_type"]
        if request_type not in REQUEST_TYPES:
            raise ValueError(f"field request_type: not one of {', '.join(REQUEST_TYPES)}")
        criteria.tree(request_type)
        request_date = _date(raw["request_date"], "request_date")
        if request_date > run_date:
            raise ValueError(f"field request_date: after the run's as-of date {run_date}")
        if request_date < criteria.criteria.since:
            raise ValueError(
                f"field request_date: before {criteria.criteria.since}, the first revision of "
                f"{criteria.pack.id} (no plan policy then)")
        if not isinstance(raw["facts"], dict):
            raise ValueError("field facts: expected an object")
        facts: dict[str, Any] = {}
        specs = criteria.facts.facts
        for name, value in raw["facts"].items():
            spec = specs.get(name)
            if spec is None:
                raise ValueError(f"field facts.{field_name(name)}: not a fact of "
                                 f"{criteria.pack.id}")
            if value is not None:
                facts[name] = _fact(name, spec, value, criteria, request_date)
        conflicts = check_integrity(criteria, request_date, facts)
    except (ValueError, BhpolicyError) as exc:
        raise CaseError(f"{label}: {exc}") from None
    return Case(case_id, criteria, request_type, request_date, facts, run_date, member_id,
                tuple(conflicts))
