"""Which pack parameters each rule reads, by the parameters' pack names.

The rules written in Python (:mod:`bhpolicy.billing.rules`, :mod:`bhpolicy.audit.rules` and
the shared :mod:`bhpolicy.domain.rules`) declare here what they read;
:mod:`bhpolicy.domain.parameters` builds the parameter table through these declarations, and
its ``param`` refuses a rule's read of a column the rule has not declared. The rules written
in the pack's own files declare their parameters there: the criteria tree (``param``,
``months_param``, ``at_least`` ...), the facts (``allowed_param``) and the concurrent-service
categories (``parameter``).

:func:`unread_parameters` is the loader's check: a parameter that no rule declares, and that
is not marked ``informative: true`` with a ``why``, is an edit that would change nothing, so
the pack is refused naming it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bhpolicy.criteria.model import CriteriaFile, FactsFile
from bhpolicy.errors import DataFileError
from bhpolicy.policy.model import Parameter
from bhpolicy.yaml_strict import load_yaml, validate_file

# Billing rules (bhpolicy.billing.rules; the contact checks and the cap, which the audit
# applies too, in bhpolicy.domain.rules), named by what they decide; most are also the
# reason a day is held or has no line (reasons.yaml). Each reads these pack parameters.
BILLING_RULES: dict[str, tuple[str, ...]] = {
    # a member-day with a qualifying contact bills the per diem (its section: the contact's)
    "per_diem_day": ("per_diem_code", "face_to_face_modes"),
    # the contact checks, in the order a contact meets them
    "other_provider": (),
    "not_member_or_family": ("qualifying_participants",),
    "not_face_to_face": ("face_to_face_modes",),
    "group_only": ("group_contact_counts_alone",),
    "under_min_minutes": ("contact_min_minutes",),
    "place_of_service_excluded": ("pos_restrictions",),
    # what holds a day
    "outside_authorization": (),
    "plan_policy_not_yet_issued": (),
    "code_not_listed": ("billing_codes", "per_diem_code"),
    "team_size_unknown": ("team_size_modifiers",),
    "mixed_codes_in_month": (),
    "over_monthly_cap": ("monthly_max_billed_days",),
    "place_of_service_missing": (),
    # what a line carries, and the member-month counts
    "team_size_modifier": ("team_size_modifiers",),
    "timed_units": ("timed_code", "h0039_unit_minutes", "h0039_first_unit_min_minutes"),
    "place_of_service": ("inpatient_pos", "inpatient_pos_participants", "default_pos"),
    "already_billed": (),
    "under_monthly_minimum": ("monthly_min_service_days",),
}

# The audit's per diem checks that read pack parameters (bhpolicy.audit.rules); the
# others are the rules billing applies too (bhpolicy.domain.rules: the cap, the coding
# table), read under billing's declarations above.
AUDIT_RULES: dict[str, tuple[str, ...]] = {
    "duplicate_per_diem": ("per_diems_per_member_day",),
    # one provider a member-day where the pack says so; else one per diem a member-day
    # makes a second provider's per diem the day's second
    "per_diem_other_provider": ("providers_per_member_day", "per_diems_per_member_day"),
    "inpatient_pos_missing": ("inpatient_pos",),
    "over_monthly_cap": ("monthly_max_billed_days",),
}

PYTHON_RULES = {"billing": BILLING_RULES, "audit": AUDIT_RULES}


def declares(rule: str, name: str, rules: dict[str, tuple[str, ...]] = BILLING_RULES) -> None:
    """Raise unless ``rule`` declares it reads parameter ``name`` (a programming error:
    the declaration above is what the loader's check trusts)."""
    if name not in rules[rule]:
        raise AssertionError(f"rule {rule} reads {name!r} without declaring it "
                             "(bhpolicy.policy.reads)")


# (parameter, rule, file, key): a reference in one of the pack's files
Reference = tuple[str, str, Path, str]


def _criteria_reads(folder: Path) -> Iterable[Reference]:
    path = folder / "criteria.yaml"
    if not path.is_file():
        return
    criteria = validate_file(CriteriaFile, path)
    for request, tree in criteria.requests.items():
        for node in tree.walk():
            rule, key = f"criteria {request} {node.id}", f"key requests.{request} node {node.id}"
            if node.at_least:
                yield node.at_least, rule, path, key
            if node.test is not None:
                for name in node.test.parameters():
                    yield name, rule, path, key


def _facts_reads(folder: Path) -> Iterable[Reference]:
    path = folder / "facts.yaml"
    if not path.is_file():
        return
    for name, spec in validate_file(FactsFile, path).facts.items():
        if spec.allowed_param:
            yield (spec.allowed_param, f"facts {name}", path,
                   f"key facts.{name}.allowed_param")


def _concurrent_reads(folder: Path) -> Iterable[Reference]:
    """The categories' ``parameter`` (the file is validated in full by the audit's loader;
    read loosely here, so the policy layer does not depend on the audit's)."""
    path = folder / "concurrent_services.yaml"
    if not path.is_file():
        return
    raw: Any = load_yaml(path)
    categories = raw.get("categories") if isinstance(raw, dict) else None
    for name, category in (categories or {}).items():
        if isinstance(category, dict) and isinstance(category.get("parameter"), str):
            yield (category["parameter"], f"concurrent services {name}", path,
                   f"key categories.{name}.parameter")


def readers(folder: Path, parameters: dict[str, Parameter]) -> dict[str, list[str]]:
    """Parameter name -> the rules that read it: the Python rules' declarations and the
    pack files' references (a reference to a parameter the pack lacks is refused, naming
    the file and key)."""
    found: dict[str, list[str]] = {}
    for domain, rules in PYTHON_RULES.items():
        for rule, names in rules.items():
            for name in names:
                found.setdefault(name, []).append(f"{domain} {rule}")
    for reads in (_criteria_reads, _facts_reads, _concurrent_reads):
        for name, rule, path, key in reads(folder):
            if name not in parameters:
                raise DataFileError(str(path), key, f"{name!r} is not in parameters.yaml")
            found.setdefault(name, []).append(rule)
    return found


def check_parameters_read(folder: Path, parameters: dict[str, Parameter]) -> None:
    """Refuse a parameter no rule reads unless it is ``informative`` (with its ``why``);
    also an informative one a rule does read (it would not be informative)."""
    read = readers(folder, parameters)
    path = str(folder / "parameters.yaml")
    for name, parameter in parameters.items():
        if parameter.informative and name in read:
            raise DataFileError(path, f"key parameters.{name}.informative",
                                f"read by {read[name][0]}: a parameter a rule reads is not "
                                "informative")
        if not parameter.informative and name not in read:
            raise DataFileError(
                path, f"key parameters.{name}",
                "no rule reads this parameter, so editing it changes nothing: make a rule "
                "read it (bhpolicy.policy.reads) or mark it informative: true with a why")
