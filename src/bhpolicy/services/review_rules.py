"""The review rules of a pack (``review.yaml``): decision times, extension, appeal and notice
limits as dated values, each with the paragraph it comes from, and the citation of each
element a notice carries. A small strict loader: unknown or duplicate keys, a missing
parameter, a wrong unit or values out of date order are errors naming the file and key; a
lookup before a parameter's first date raises, never falls back."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import Field, StrictInt, StrictStr, model_validator

from bhpolicy.errors import DataFileError
from bhpolicy.policy.model import PolicyPack, Source
from bhpolicy.services.errors import Invalid
from bhpolicy.services.schemas import ExtensionReason
from bhpolicy.strict_model import Strict
from bhpolicy.yaml_strict import validate_file

REVIEW_FILE = "review.yaml"
Unit = Literal["days", "hours", "years", "names"]
ReviewValueType = StrictInt | list[StrictStr]

# Parameter -> unit, for every program; the plan-appeal limits only under managed care.
REQUIRED: dict[str, Unit] = {
    "standard_decision_days": "days",
    "expedited_decision_hours": "hours",
    "extension_max_days": "days",
    "extension_reasons": "names",
    "state_fair_hearing_days": "days",
    "continued_benefits_request_days": "days",
    "termination_advance_notice_days": "days",
    "epsdt_age_under_years": "years",
}
MANAGED_CARE: dict[str, Unit] = {
    "appeal_filing_days": "days",
    "appeal_decision_days": "days",
    "expedited_appeal_decision_hours": "hours",
}


class DatedReviewValue(Strict):
    since: dt.date
    value: ReviewValueType
    citation: StrictStr | None = None  # overrides the parameter's citation for this value
    note: StrictStr | None = None


class ReviewParameter(Strict):
    description: StrictStr
    unit: Unit
    citation: Annotated[StrictStr, Field(min_length=1)]
    source: StrictStr
    values: Annotated[list[DatedReviewValue], Field(min_length=1)]
    note: StrictStr | None = None

    @model_validator(mode="after")
    def _check(self) -> ReviewParameter:
        dates = [v.since for v in self.values]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise ValueError("values must be in increasing order of 'since', one per date")
        for v in self.values:
            if (self.unit == "names") != isinstance(v.value, list):
                raise ValueError(f"value on {v.since}: a {self.unit} parameter needs "
                                 f"{'a list of names' if self.unit == 'names' else 'a number'}")
            if isinstance(v.value, int) and v.value < 0:
                raise ValueError(f"value on {v.since}: negative")
        return self


class NoticeCitations(Strict):
    """Where each element of a notice is required."""

    recipients: StrictStr
    decision: StrictStr
    reasons: StrictStr
    records_and_criteria: StrictStr
    plan_appeal: StrictStr | None
    state_fair_hearing: StrictStr
    expedited_appeal: StrictStr
    continued_benefits: StrictStr
    advance_notice: StrictStr
    extension: StrictStr
    missed_deadline: StrictStr
    appeal_overdue: StrictStr | None  # a plan appeal not resolved in time (managed care only)
    epsdt: StrictStr
    approval: StrictStr


class ReviewFile(Strict):
    program: Literal["managed_care", "fee_for_service"]
    sources: dict[StrictStr, Source]
    assumptions: list[StrictStr] = Field(default_factory=list)
    parameters: dict[StrictStr, ReviewParameter]
    notice: NoticeCitations


@dataclass(frozen=True)
class ReviewValue:
    name: str
    value: int | list[str]
    unit: str
    since: dt.date
    citation: str

    @property
    def number(self) -> int:
        assert isinstance(self.value, int)
        return self.value


@dataclass(frozen=True, eq=False)
class ReviewRules:
    pack_id: str
    path: str
    file: ReviewFile

    @property
    def program(self) -> str:
        return self.file.program

    @property
    def plan_appeal(self) -> bool:
        return self.file.program == "managed_care"

    @property
    def notice(self) -> NoticeCitations:
        return self.file.notice

    def value(self, name: str, on: dt.date) -> ReviewValue:
        """The value of ``name`` in force on ``on``; refuses a date before its first value."""
        parameter = self.file.parameters.get(name)
        if parameter is None:
            raise Invalid(f"{self.pack_id}: review rules have no parameter {name!r}")
        chosen = None
        for dated in parameter.values:
            if dated.since <= on:
                chosen = dated
        if chosen is None:
            raise Invalid(f"{self.pack_id}: review parameter {name!r} has no value in force on "
                          f"{on.isoformat()} (its first value holds from "
                          f"{parameter.values[0].since.isoformat()})")
        return ReviewValue(name, chosen.value, parameter.unit, chosen.since,
                           chosen.citation or parameter.citation)


def _validate(file: ReviewFile, path: Path) -> None:
    required = dict(REQUIRED)
    if file.program == "managed_care":
        required |= MANAGED_CARE
    for name, unit in required.items():
        parameter = file.parameters.get(name)
        if parameter is None:
            raise DataFileError(str(path), f"key parameters.{name}", "missing")
        if parameter.unit != unit:
            raise DataFileError(str(path), f"key parameters.{name}.unit",
                                f"expected {unit}, found {parameter.unit}")
    for name, parameter in file.parameters.items():
        if name not in required:
            raise DataFileError(str(path), f"key parameters.{name}", "not a review parameter "
                                f"(known: {', '.join(sorted(required))})")
        if parameter.source not in file.sources:
            raise DataFileError(str(path), f"key parameters.{name}.source",
                                f"unknown source {parameter.source!r}; declare it under sources")
    allowed = set(get_args(ExtensionReason))
    for dated in file.parameters["extension_reasons"].values:
        assert isinstance(dated.value, list)
        unknown = sorted(set(dated.value) - allowed)
        if unknown:
            raise DataFileError(str(path), "key parameters.extension_reasons",
                                f"{unknown[0]!r} is not one of {', '.join(sorted(allowed))}")
    for key in ("plan_appeal", "appeal_overdue"):
        if (getattr(file.notice, key) is None) == (file.program == "managed_care"):
            raise DataFileError(str(path), f"key notice.{key}",
                                "a citation under managed care, null under fee-for-service")


@functools.cache
def review_rules(pack: PolicyPack) -> ReviewRules:
    """The review rules of ``pack`` (cached per pack); a pack without ``review.yaml`` cannot
    take prior-authorization requests."""
    path = Path(pack.folder) / REVIEW_FILE
    if not path.is_file():
        raise Invalid(f"{pack.id}: no {REVIEW_FILE} in its pack, so no decision times are "
                      "known; requests under it cannot be taken", "case.policy")
    file = validate_file(ReviewFile, path)
    _validate(file, path)
    return ReviewRules(pack.id, str(path), file)
