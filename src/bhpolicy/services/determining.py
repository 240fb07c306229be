"""A request's case determined by the same functions as ``bhpolicy check``
(:func:`bhpolicy.criteria.cases.parse_case` and :func:`bhpolicy.criteria.evaluate.determine`);
nothing here decides a criterion. What the service adds: the case errors as one-line 422s
naming the body element, and on a referral for a member under the EPSDT age the sentence that
age alone cannot justify a denial (the age limit and its citation from ``review.yaml``)."""

from __future__ import annotations

import datetime as dt
import functools
import re
import threading
from dataclasses import dataclass
from typing import Any

from bhpolicy.criteria import icd10
from bhpolicy.criteria.cases import Case, CaseError, parse_case
from bhpolicy.criteria.dates import LeapDayRule, age_on
from bhpolicy.criteria.evaluate import determine
from bhpolicy.criteria.loader import CriteriaPack
from bhpolicy.criteria.model import Node, RequestType
from bhpolicy.errors import BhpolicyError
from bhpolicy.policy import PolicyPack, PolicyRegistry, load_registry
from bhpolicy.services.errors import Invalid
from bhpolicy.services.notice_wording import wording
from bhpolicy.services.review_rules import ReviewRules

_FIELD = re.compile(r"field ([A-Za-z0-9_.\[\]']+):")


_ICD10_READY = threading.Lock()
_icd10_warm = False


def _warm_icd10() -> None:
    """simple-icd-10-cm fills its code list lazily on the first dotted lookup, and a second
    thread arriving meanwhile reads a half-filled list (a TypeError inside the package). The
    service runs in threads, so the first lookup is made once, under a lock."""
    global _icd10_warm
    if _icd10_warm:
        return
    with _ICD10_READY:
        if not _icd10_warm:
            icd10.lookup("F20.0")
            _icd10_warm = True


@functools.cache
def registry() -> PolicyRegistry:
    """The policy packs, loaded once a process (built-in and $BHPOLICY_POLICY_PATH)."""
    return load_registry()


def case_pack(raw_case: dict[str, Any]) -> PolicyPack:
    policy = raw_case.get("policy")
    if not isinstance(policy, str):
        raise Invalid("case.policy: expected a pack id or alias", "case.policy")
    try:
        return registry().get(policy)
    except BhpolicyError:
        known = ", ".join(f"{p.id} ({p.alias})" for p in registry().packs)
        raise Invalid(f"case.policy: not a known pack (known: {known})",
                      "case.policy") from None


def parse(raw_case: dict[str, Any], as_of: dt.date, element: str = "case") -> Case:
    """Parse a case; its error becomes Invalid naming the element (never a value)."""
    _warm_icd10()
    try:
        return parse_case(raw_case, registry(), element, as_of=as_of)
    except CaseError as exc:
        match = _FIELD.search(str(exc))
        where = f"{element}.{match.group(1)}" if match else element
        raise Invalid(str(exc), where) from None


@dataclass(frozen=True)
class Determined:
    case: Case
    outcome: str
    result: dict[str, Any]


def _leap_day(case: Case) -> LeapDayRule:
    pack = case.criteria.pack
    if "leap_day_birthday" in pack.parameters:
        rule = pack.value("leap_day_birthday", case.request_date).value
        if rule in ("mar1", "feb28"):
            return rule  # type: ignore[return-value]
    return "mar1"


def under_epsdt_age(rules: ReviewRules, birth_date: dt.date, case: Case) -> int | None:
    """The EPSDT age limit when the member is under it on the request date, else None."""
    limit = rules.value("epsdt_age_under_years", case.request_date).number
    return limit if age_on(birth_date, case.request_date, _leap_day(case)) < limit else None


def determine_case(case: Case, rules: ReviewRules, birth_date: dt.date) -> Determined:
    determination = determine(case)
    result = determination.to_json()
    if determination.outcome == "refer":
        limit = under_epsdt_age(rules, birth_date, case)
        if limit is not None:
            text = wording().text("refer", "epsdt", age=limit)
            result["epsdt"] = {"text": text, "citation": rules.notice.epsdt}
            result["rationale"] = f"{result['rationale']} {text}"
    return Determined(case, determination.outcome, result)


def _walk(node: Node) -> list[Node]:
    found = [node]
    for child in node.children:
        found += _walk(child)
    return found


@functools.cache
def sections(criteria: CriteriaPack, request_type: RequestType) -> dict[str, str]:
    """Section -> summary of every node of the request type's criteria tree."""
    out: dict[str, str] = {}
    for node in _walk(criteria.tree(request_type)):
        out.setdefault(node.section, node.summary)
    return out


@functools.cache
def age_sections(criteria: CriteriaPack, request_type: RequestType) -> frozenset[str]:
    """Sections whose test is the member's age."""
    return frozenset(node.section for node in _walk(criteria.tree(request_type))
                     if node.test is not None and node.test.kind.startswith("age"))
