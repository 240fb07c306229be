"""Bodies the service accepts and answers it gives (Pydantic v2; unknown keys refused). The web
uses them as its request and response models, so /openapi.json is exactly these.

Strings that could reach an X12 file or a log are limited to characters that cannot break a
segment or a line. Dates are ``YYYY-MM-DD`` strings only (never a number of seconds); counts
are whole numbers, never strings or booleans. Bounds here are sanity limits of the interface,
not policy: the limits of policy (days of an extension, decision times) come from the packs'
``review.yaml``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

from bhpolicy.x12.checks import npi_valid

UNITS_MAX = 10_000  # interface bound: no request asks for more units than this
TEXT_MAX = 4_000
NOTE_MAX = 2_000
DAYS_MAX = 366

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# No control characters, no line or paragraph separators, no X12 delimiters (~ * : ^ > |).
_PLAIN = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029~*:^>|]+$"
_TEXT_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")


def _iso_date(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        raise ValueError("expected a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("expected a date (YYYY-MM-DD)")
    return value


def _npi(value: str) -> str:
    if not npi_valid(value):
        raise ValueError("not a valid NPI (10 digits with the check digit)")
    return value


def _free_text(value: str) -> str:
    if _TEXT_BAD.search(value):
        raise ValueError("control characters are not allowed")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
PlainText = Annotated[StrictStr, Field(min_length=1, max_length=100, pattern=_PLAIN)]
FreeText = Annotated[StrictStr, Field(max_length=TEXT_MAX), AfterValidator(_free_text)]
Note = Annotated[StrictStr, Field(max_length=NOTE_MAX), AfterValidator(_free_text)]
HcpcsCode = Annotated[StrictStr, Field(pattern=r"^[A-Z0-9][0-9]{3}[A-Z0-9]$")]
Modifier = Annotated[StrictStr, Field(pattern=r"^[A-Z0-9]{2}$")]
Modifiers = Annotated[list[Modifier], Field(max_length=4)]
# A section as a pack names it ("I.B.4", "Eligible Recipients: LOCUS level 4"); checked
# against the pack's criteria by the service.
Section = Annotated[StrictStr, Field(min_length=1, max_length=120,
                                     pattern=r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]+$")]
Name = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
# An X12 886 health care services review decision reason code (the list is X12's, licensed;
# a plan may name its copy in $BHPOLICY_REVIEW_REASON_CODES to have codes checked against it).
ReviewReasonCode = Annotated[StrictStr, Field(pattern=r"^[A-Z0-9]{1,3}$")]
Units = Annotated[StrictInt, Field(ge=1, le=UNITS_MAX)]

Urgency = Literal["standard", "expedited"]
Status = Literal["pended", "referred", "approved", "partially_approved", "denied",
                 "appeal_pending"]
DecisionKind = Literal["approve", "partial", "deny"]
NoticeKind = Literal["approval", "adverse", "termination", "extension", "missed_deadline",
                     "appeal_overdue"]
ExtensionReason = Literal["member_request", "provider_request", "plan_need_documented"]
Role = Literal["intake", "reviewer", "biller", "analyst", "admin", "provider-system"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- request bodies --------------------------------------------------------------------------

class Member(Body):
    reference: Annotated[StrictStr, Field(min_length=1, max_length=40, pattern=_PLAIN)]
    birth_date: IsoDate


class Provider(Body):
    npi: Annotated[StrictStr, Field(pattern=r"^[0-9]{10}$"), AfterValidator(_npi)]
    name: PlainText


class Service(Body):
    code: HcpcsCode
    modifiers: Modifiers = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct(self) -> Service:
        if len(set(self.modifiers)) != len(self.modifiers):
            raise ValueError("a modifier is listed twice")
        return self


class Period(Body):
    start: IsoDate
    end: IsoDate

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError("the period ends before it starts")
        return self


class RequestCreate(Body):
    """A prior-authorization request: a case in bhpolicy's case schema (checked by
    bhpolicy.criteria.cases.parse_case, the same as ``bhpolicy check``) and what is asked."""

    case: dict[str, Any]
    member: Member
    requesting_provider: Provider
    service: Service
    period: Period
    units: Units
    urgency: Urgency = "standard"


class DocumentReceived(Body):
    document: Name  # a document key of the pack's facts.yaml
    received: IsoDate


class InformationCreate(Body):
    facts: dict[str, Any] = Field(default_factory=dict)
    documents: Annotated[list[DocumentReceived], Field(max_length=50)] = Field(
        default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> InformationCreate:
        if not self.facts and not self.documents:
            raise ValueError("give facts or documents")
        return self


class DecisionCreate(Body):
    """A reviewer's decision. ``approve`` grants exactly what was asked (fields left out are
    taken as asked); anything less is ``partial``; ``partial`` and ``deny`` need a reason and
    the criteria sections they rest on. ``appeal`` marks the decision of a plan appeal."""

    kind: DecisionKind
    period: Period | None = None
    units: Units | None = None
    code: HcpcsCode | None = None
    modifiers: Modifiers | None = None
    criteria: Annotated[list[Section], Field(max_length=50)] = Field(default_factory=list)
    reason: FreeText | None = None
    reason_code: ReviewReasonCode | None = None
    appeal: StrictBool = False


class ExtensionCreate(Body):
    reason: ExtensionReason
    days: Annotated[StrictInt, Field(ge=1, le=DAYS_MAX)]
    note: Note | None = None


class PeerToPeerCreate(Body):
    note: Note | None = None


class AppealCreate(Body):
    expedited: StrictBool = False
    continue_benefits: StrictBool = False
    reason: FreeText | None = None


class UserCreate(Body):
    name: Annotated[StrictStr, Field(min_length=1, max_length=80,
                                     pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")]
    role: Role
    licence: PlainText | None = None


# -- answers ---------------------------------------------------------------------------------

class UserView(Answer):
    id: int
    name: str
    role: str
    licence: str | None
    active: bool
    created_at: dt.datetime


class ClockLimit(Answer):
    """One limit the request's clock applies, with what it rests on."""

    name: str
    value: int
    unit: str
    since: dt.date
    citation: str


class DeterminationView(Answer):
    seq: int
    outcome: str
    made_at: dt.datetime
    result: dict[str, Any]  # the determination JSON of ``bhpolicy check``, with its trace


class Granted(Answer):
    period: Period | None
    units: int | None
    code: str | None
    modifiers: list[str]


class DecisionView(Answer):
    seq: int
    kind: DecisionKind
    adverse: bool
    automatic: bool
    on_appeal: bool
    granted: Granted | None
    criteria: list[str]
    reason: str | None
    reason_code: str | None = None
    reviewer: str | None
    decided_at: dt.datetime


class NoticeRef(Answer):
    id: str
    kind: NoticeKind
    sent_at: dt.datetime
    effective_date: dt.date | None


class InformationView(Answer):
    received_at: dt.datetime
    by: str
    facts: list[str]  # the names of the facts given (their values are in the case)
    documents: list[DocumentReceived]


class PeerToPeerView(Answer):
    offered_at: dt.datetime
    by: str
    note: str | None


class AppealView(Answer):
    filed_at: dt.datetime
    by: str
    expedited: bool
    continue_benefits: bool
    # Continued benefits were asked for after the days allowed: recorded, not granted.
    continue_benefits_late: bool = False
    due_by: dt.datetime
    decided: bool
    overdue_flagged_at: dt.datetime | None = None


class HistoryEntry(Answer):
    at: dt.datetime
    action: str
    by: str | None
    detail: dict[str, Any]


class MissingDocument(Answer):
    document: str
    title: str
    facts: list[str]


class RequestSummary(Answer):
    id: str
    policy: str
    request_type: str
    status: Status
    urgency: Urgency
    service_code: str
    received_at: dt.datetime
    due_by: dt.datetime
    deadline: dt.datetime  # due_by, or the extended deadline
    time_left_seconds: int | None  # None once the decision notice is sent; < 0 when overdue
    overdue: bool
    escalated: bool
    outcome: str  # of the latest determination
    version: int


class RequestView(Answer):
    id: str
    policy: str
    request_type: str
    status: Status
    urgency: Urgency
    member: Member
    requesting_provider: Provider
    service: Service
    period: Period
    units: int
    received_at: dt.datetime
    due_by: dt.datetime
    extended_until: dt.datetime | None
    extension_reason: ExtensionReason | None
    deadline: dt.datetime
    decision_notice_at: dt.datetime | None
    time_left_seconds: int | None
    overdue: bool
    overdue_flagged_at: dt.datetime | None
    escalated: bool
    clock: list[ClockLimit]
    determination: dict[str, Any]  # the latest
    missing_documents: list[MissingDocument]
    determinations: list[DeterminationView]
    decisions: list[DecisionView]
    notices: list[NoticeRef]
    information: list[InformationView]
    peer_to_peer: list[PeerToPeerView]
    appeals: list[AppealView]
    history: list[HistoryEntry]
    version: int


class CitedText(Answer):
    text: str
    citation: str


class DatedRight(Answer):
    """A right with a time limit: ``days`` from the notice, so it ends on ``by``."""

    text: str
    days: int
    by: dt.date
    citation: str


class NoticeCriterion(Answer):
    section: str
    summary: str | None
    policy_id: str
    policy_revision: str


class ExtensionDetail(Answer):
    reason: ExtensionReason
    days: int
    new_deadline: dt.datetime
    text: str
    grievance: CitedText


class NoticeView(Answer):
    """A notice as sent, each element required for its kind a field of its own.

    For an adverse determination (42 CFR 438.404(b)): ``decision``, ``reasons`` and
    ``criteria`` (b)(1)-(2); ``records_and_criteria`` (b)(2); ``plan_appeal`` and
    ``state_fair_hearing`` (b)(3)-(4); ``expedited_appeal`` (b)(5); ``continued_benefits``
    (b)(6). A termination of care in progress also carries ``advance_notice`` (42 CFR
    431.211) and its ``effective_date``."""

    id: str
    request_id: str
    kind: NoticeKind
    sent_at: dt.datetime
    effective_date: dt.date | None
    recipients: list[str]
    member_reference: str
    requesting_provider: Provider
    service: Service
    period: Period
    units: int
    placeholder_wording: bool
    decision: CitedText
    granted: Granted | None
    reasons: list[str]
    criteria: list[NoticeCriterion]
    records_and_criteria: CitedText | None
    plan_appeal: DatedRight | None
    state_fair_hearing: CitedText | None
    expedited_appeal: CitedText | None
    continued_benefits: DatedRight | None
    advance_notice: DatedRight | None
    extension: ExtensionDetail | None
    missed_deadline: CitedText | None
    epsdt: CitedText | None


class AuditEventView(Answer):
    id: int
    at: dt.datetime
    user: str | None
    action: str
    object_type: str
    object_id: str | None
    detail: dict[str, Any]


class CodeSummary(Answer):
    code: str
    descriptor: str
    short_descriptor: str | None
    unit: str | None


class ParameterView(Answer):
    name: str
    description: str
    unit: str
    section: str
    value: Any
    since: dt.date
    note: str | None


class PolicySummary(Answer):
    id: str
    alias: str
    title: str
    issuer: str
    state: str
    revision: str
    effective_from: dt.date


class PolicyView(PolicySummary):
    parameters: list[ParameterView]
    sections: list[NoticeCriterion]


class CodeView(CodeSummary):
    entry: dict[str, Any]  # the catalog entry, every fact with its source
