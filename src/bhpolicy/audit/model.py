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

from bhpolicy.domain.reasons import load_reasons
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


# Per diem rules a pack may declare (a kind the engine knows, as for categories). The
# duplicate, other-provider, no-contact, cap and inpatient POS checks apply to every pack.
PerDiemKind = Literal["provider_not_authorized", "contributing_agency_billed",
                      "inpatient_admission_or_discharge_day"]


class PerDiemRule(Strict):
    label: StrictStr
    section: StrictStr
    also_cites: list[StrictStr] = Field(default_factory=list)
    severity: Literal["deny", "review"]
    reason: StrictStr | None = None
    summary: StrictStr | None = None
    action: StrictStr
    note: StrictStr | None = None


class ConcurrentServices(Strict):
    general_rule_section: StrictStr
    exception_section: StrictStr
    categories: dict[StrictStr, Category]
    per_diem_rules: dict[PerDiemKind, PerDiemRule] = Field(default_factory=dict)


class CrosswalkSource(Strict):
    title: StrictStr


class CodeList(Strict):
    """A named list a crosswalk row's condition reads (taxonomy codes, diagnosis categories),
    with the source it comes from."""
    label: StrictStr
    kind: Literal["rendering_taxonomy", "diagnosis_category"]
    codes: list[StrictStr] = Field(min_length=1)
    source: StrictStr
    verified: StrictBool
    note: StrictStr | None = None


class CrosswalkRow(Strict):
    category: StrictStr
    match: Literal["hcpcs", "revenue_code", "bill_type", "pos"]
    codes: list[StrictStr]
    modifiers: list[StrictStr] = Field(default_factory=list)
    # a conditional row matches only when the line's rendering taxonomy is in the first list
    # or its primary diagnosis (3-character category) in the second
    rendering_taxonomy_in: StrictStr | None = None
    primary_diagnosis_in: StrictStr | None = None
    severity: Literal["deny", "review"] | None = None
    source: StrictStr
    verified: StrictBool
    note: StrictStr | None = None

    @property
    def conditional(self) -> bool:
        return self.rendering_taxonomy_in is not None or self.primary_diagnosis_in is not None


class Crosswalk(Strict):
    sources: dict[StrictStr, CrosswalkSource]
    lists: dict[StrictStr, CodeList] = Field(default_factory=dict)
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
    for kind, rule in data.per_diem_rules.items():
        where = f"key per_diem_rules.{kind}"
        if rule.reason is None and (rule.severity == "deny" or rule.summary is None):
            raise DataFileError(str(path), where + ".reason",
                                "a deny rule names a reason; a review rule a reason or summary")
        if rule.reason is not None and rule.reason not in reasons:
            raise DataFileError(str(path), where + ".reason",
                                f"{rule.reason!r} is not in reasons.yaml")
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
    for name, listed in data.lists.items():
        if listed.source not in data.sources:
            raise DataFileError(str(path), f"key lists.{name}.source",
                                f"{listed.source!r} is not in sources")
        for code in listed.codes:
            try:
                expand_codes(code)
            except ValueError as exc:
                raise DataFileError(str(path), f"key lists.{name}.codes", str(exc)) from None
    for i, row in enumerate(data.rows):
        where = f"key rows.{i}"
        _check_conditions(path, where, row, data.lists)
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


_LIST_KINDS = {"rendering_taxonomy_in": "rendering_taxonomy",
               "primary_diagnosis_in": "diagnosis_category"}


def _check_conditions(path: Path, where: str, row: CrosswalkRow,
                      lists: dict[str, CodeList]) -> None:
    """A conditional row names lists of the right kind, matches HCPCS codes, and carries no
    modifiers (one refinement a row)."""
    for key, kind in _LIST_KINDS.items():
        name = getattr(row, key)
        if name is None:
            continue
        if name not in lists:
            raise DataFileError(str(path), f"{where}.{key}", f"{name!r} is not in lists")
        if lists[name].kind != kind:
            raise DataFileError(str(path), f"{where}.{key}", f"list {name!r} is not of {kind}")
    if row.conditional and (row.match != "hcpcs" or row.modifiers):
        raise DataFileError(str(path), where,
                            "a row with conditions matches hcpcs codes and has no modifiers")


@cache
def team(pack: PolicyPack) -> Team:
    return validate_file(Team, _path(pack, "team.yaml"))
