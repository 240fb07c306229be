"""The audit's pack data: concurrent-service categories, the code crosswalk and team roles.

Each pack folder holds ``concurrent_services.yaml`` (the policy's words and the rule bhpolicy
applies to each category), ``service_crosswalk.yaml`` (which claim codes fall in each
category, each row citing its source) and ``team.yaml`` (roles and qualifications). The
loaders check every cross-reference (category, source, reason, parameter) and name the file
and key of a bad one.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr

from bhpolicy.billing.params import load_reasons
from bhpolicy.errors import DataFileError
from bhpolicy.policy.model import PolicyPack
from bhpolicy.strict_model import Strict
from bhpolicy.yaml_strict import validate_file

Rule = Literal["allowed", "not_allowed", "allowed_first_days", "needs_authorization",
               "needs_authorization_outside_admission_discharge_month",
               "not_allowed_from_act_team"]
FLAGGING_RULES = {"not_allowed", "allowed_first_days", "needs_authorization",
                  "needs_authorization_outside_admission_discharge_month",
                  "not_allowed_from_act_team"}


class Category(Strict):
    label: StrictStr
    rule: Rule
    section: StrictStr
    also_cites: list[StrictStr] = Field(default_factory=list)
    severity: Literal["deny", "review"] | None = None
    reason: StrictStr | None = None
    action: StrictStr | None = None
    parameter: StrictStr | None = None
    included_in_act: StrictStr | None = None
    in_addition_to_act: StrictStr | None = None
    limits: StrictStr | None = None
    note: StrictStr | None = None
    inpatient_stay: StrictBool = False


class ConcurrentServices(Strict):
    general_rule_section: StrictStr
    exception_section: StrictStr
    categories: dict[StrictStr, Category]


class CrosswalkSource(Strict):
    title: StrictStr


class CrosswalkRow(Strict):
    category: StrictStr
    match: Literal["hcpcs", "revenue_code", "bill_type", "pos"]
    codes: list[StrictStr]
    modifiers: list[StrictStr] = Field(default_factory=list)
    source: StrictStr
    verified: StrictBool
    note: StrictStr | None = None


class Crosswalk(Strict):
    sources: dict[StrictStr, CrosswalkSource]
    rows: list[CrosswalkRow]


class Qualification(Strict):
    credentials_any: list[StrictStr] = Field(default_factory=list)
    degree_min: Literal["none", "associate", "bachelor", "master", "doctorate"] | None = None
    degree_fields_any: list[StrictStr] = Field(default_factory=list)
    experience_min_months: dict[StrictStr, StrictInt] = Field(default_factory=dict)
    note: StrictStr | None = None


class Role(Strict):
    label: StrictStr
    any_of: list[Qualification] = Field(min_length=1)


class Team(Strict):
    section: StrictStr
    fields: dict[StrictStr, list[StrictStr]]
    roles: dict[StrictStr, Role]


PER_DIEM_REASONS = ("duplicate_per_diem", "per_diem_other_provider", "per_diem_without_contact")


def _path(pack: PolicyPack, name: str) -> Path:
    path = Path(pack.folder) / name
    if not path.is_file():
        raise DataFileError(str(path), "file", f"policy pack {pack.id} has no {name}")
    return path


@cache
def concurrent_services(pack: PolicyPack) -> ConcurrentServices:
    path = _path(pack, "concurrent_services.yaml")
    data = validate_file(ConcurrentServices, path)
    reasons = load_reasons(pack)
    for name, category in data.categories.items():
        where = f"key categories.{name}"
        flags = category.rule in FLAGGING_RULES
        if flags and (category.reason is None or category.severity is None
                      or category.action is None):
            raise DataFileError(str(path), where,
                                f"rule {category.rule} needs reason, severity and action")
        if category.reason is not None and category.reason not in reasons:
            raise DataFileError(str(path), where + ".reason",
                                f"{category.reason!r} is not in reasons.yaml")
        if (category.rule == "allowed_first_days") != (category.parameter is not None):
            raise DataFileError(str(path), where + ".parameter",
                                "a parameter goes with rule allowed_first_days, and only there")
        if category.parameter is not None and category.parameter not in pack.parameters:
            raise DataFileError(str(path), where + ".parameter",
                                f"{category.parameter!r} is not in parameters.yaml")
    missing = [r for r in PER_DIEM_REASONS if r not in reasons]
    if missing:
        raise DataFileError(str(Path(pack.folder) / "reasons.yaml"), "key reasons",
                            "the audit needs reason(s): " + ", ".join(missing))
    return data


_RANGE = re.compile(r"^([A-Z]?)(\d+)-([A-Z]?)(\d+)$")
_ACT_CATEGORY = "act"


def expand_codes(code: str) -> list[str]:
    """``"H0010-H0014"`` -> the five codes; a plain code -> itself. A range keeps one
    letter and one width, so ``"90785-90899"`` and ``"G2067-G2080"`` both work."""
    found = _RANGE.match(code)
    if not found:
        return [code]
    letter, first, letter_to, last = found.groups()
    if letter != letter_to or len(first) != len(last) or int(first) > int(last):
        raise ValueError(f"range {code!r} must keep one letter and width, low to high")
    return [f"{letter}{n:0{len(first)}d}" for n in range(int(first), int(last) + 1)]


@cache
def crosswalk(pack: PolicyPack) -> Crosswalk:
    path = _path(pack, "service_crosswalk.yaml")
    data = validate_file(Crosswalk, path)
    categories = concurrent_services(pack).categories
    for i, row in enumerate(data.rows):
        where = f"key rows.{i}"
        if row.category not in categories and row.category != _ACT_CATEGORY:
            raise DataFileError(str(path), where + ".category",
                                f"{row.category!r} is not in concurrent_services.yaml")
        if row.source not in data.sources:
            raise DataFileError(str(path), where + ".source",
                                f"{row.source!r} is not in sources")
        for code in row.codes:
            try:
                expand_codes(code)
            except ValueError as exc:
                raise DataFileError(str(path), where + ".codes", str(exc)) from None
    return data


@cache
def team(pack: PolicyPack) -> Team:
    return validate_file(Team, _path(pack, "team.yaml"))
