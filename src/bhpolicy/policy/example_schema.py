"""The schema of a policy example file (``examples/*.yaml`` beside each pack): billing
examples (contacts, authorizations and members in; lines, unbilled days and member-months
out), criteria examples (a case in; the outcome and the criteria met out) and audit examples
(claim lines in; findings out). Strict: a key not in the schema is an error naming it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr

from bhpolicy.strict_model import Strict

AS_OF = dt.date(2026, 12, 1)  # every example runs as of this day (no result moves with time)
PROVIDER = "1234567893"  # an example's provider when it names none
Code = Annotated[StrictStr, Field(min_length=1)]


class Member(Strict):
    id: StrictStr = "M1"
    birth_date: dt.date = dt.date(1980, 1, 2)
    primary_dx: StrictStr = "F20.0"


class Authorization(Strict):
    id: StrictStr = "A1"
    member: StrictStr = "M1"
    provider: StrictStr = PROVIDER
    team_size: Literal["small", "large"] | None = None
    start: dt.date
    end: dt.date
    billing_code: Code | None = None
    contributing: list[StrictStr] = Field(default_factory=list)
    policy: StrictStr | None = None  # the pack the example file sits in, unless named


class Contact(Strict):
    date: dt.date
    member: StrictStr = "M1"
    provider: StrictStr = PROVIDER
    minutes: StrictInt = 30
    mode: Literal["in_person", "video", "phone"] = "in_person"
    participant: Literal["member", "family", "collateral"] = "member"
    group: StrictBool = False
    pos: Code | None = "12"


class BilledLine(Strict):
    line_id: StrictStr
    member: StrictStr = "M1"
    date: dt.date
    hcpcs: Code
    provider: StrictStr = PROVIDER


class Line(Strict):
    """An expected claim line; ``hcpcs``, ``modifier``, ``pos``, ``units`` and ``provider``
    are compared only when given."""

    date: dt.date
    member: StrictStr = "M1"
    status: Literal["billable", "held", "already_billed"]
    reason: StrictStr | None = None
    carc: StrictStr | None = None
    hcpcs: StrictStr | None = None
    modifier: StrictStr | None = None
    pos: StrictStr | None = None
    units: StrictInt | None = None
    provider: StrictStr | None = None


class Unbilled(Strict):
    date: dt.date
    member: StrictStr = "M1"
    reason: StrictStr
    carc: StrictStr | None = None


class MemberMonth(Strict):
    """Expected counts of a member-month; only the counts given are compared."""

    month: Annotated[StrictStr, Field(pattern=r"^[0-9]{4}-[0-9]{2}$")]
    member: StrictStr = "M1"
    billable: StrictInt | None = None
    held_over_cap: StrictInt | None = None
    held_other: StrictInt | None = None
    already_billed: StrictInt | None = None
    days_provided: StrictInt | None = None
    days_without_qualifying_contact: StrictInt | None = None
    under_minimum: StrictBool | None = None
    partial: StrictBool | None = None


class BillingInput(Strict):
    members: list[Member] = Field(default_factory=lambda: [Member()])
    authorizations: list[Authorization]
    contacts: list[Contact]
    already_billed: list[BilledLine] = Field(default_factory=list)
    missing_pos: Literal["default", "hold"] = "default"


class BillingExpected(Strict):
    lines: list[Line]  # every line of the example, exactly
    unbilled: list[Unbilled] = Field(default_factory=list)  # every day without a line
    member_months: list[MemberMonth] = Field(default_factory=list)


class Base(Strict):
    name: Annotated[StrictStr, Field(min_length=1)]
    section: Annotated[StrictStr, Field(min_length=1)]
    # rules the example shows beyond those its expected output names (a line's modifier
    # shows team_size_modifier, say)
    covers: list[StrictStr] = Field(default_factory=list)
    note: StrictStr | None = None


class BillingExample(Base):
    kind: Literal["billing"]
    input: BillingInput
    expected: BillingExpected


class Case(Strict):
    request_type: Literal["initial", "continued_stay", "discharge"]
    request_date: dt.date
    facts: dict[StrictStr, Any]


Outcome = Literal["meets_criteria", "pend", "refer"]


class CriteriaExpected(Strict):
    outcome: Outcome
    met: list[StrictStr] = Field(default_factory=list)
    not_met: list[StrictStr] = Field(default_factory=list)
    unknown: list[StrictStr] = Field(default_factory=list)
    needs_judgment: list[StrictStr] = Field(default_factory=list)


class CriteriaExample(Base):
    kind: Literal["criteria"]
    input: Case
    expected: CriteriaExpected


class Claim(Strict):
    id: StrictStr
    member: StrictStr = "M1"
    start: dt.date
    end: dt.date | None = None
    hcpcs: StrictStr = ""
    provider: StrictStr = "1003000126"
    paid: StrictStr = "100.00"
    modifiers: StrictStr = ""
    revenue_code: StrictStr = ""
    bill_type: StrictStr = ""
    pos: StrictStr = ""
    rendering_taxonomy: StrictStr = ""
    diagnosis: StrictStr = ""
    authorization_id: StrictStr = ""


class AuditInput(Strict):
    members: list[Member] = Field(default_factory=lambda: [Member()])
    authorizations: list[Authorization]
    claims: list[Claim] = Field(default_factory=list)
    act_claims: list[Claim] = Field(default_factory=list)
    # with a contact log, an ACT day without a qualifying contact is a finding
    contacts: list[Contact] | None = None


class Finding(Strict):
    claim: StrictStr
    rule: StrictStr
    carc: StrictStr | None = None
    flagged_from: dt.date | None = None
    flagged_days: StrictInt | None = None


class AuditExpected(Strict):
    findings: list[Finding]  # every finding of the example, exactly


class AuditExample(Base):
    kind: Literal["audit"]
    input: AuditInput
    expected: AuditExpected


Example = Annotated[BillingExample | CriteriaExample | AuditExample,
                    Field(discriminator="kind")]


class ExamplesFile(Strict):
    examples: Annotated[list[Example], Field(min_length=1)]


@dataclass
class ExampleResult:
    """One example's result: the differences found (none: it passes) and the rules it
    shows."""

    pack: str
    file: str
    name: str
    kind: str
    problems: list[str] = field(default_factory=list)
    covers: set[str] = field(default_factory=set)

    @property
    def where(self) -> str:
        return f"{self.file}: example {self.name!r}"
