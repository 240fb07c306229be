"""Schemas of a pack's criteria files: ``facts.yaml``, ``criteria.yaml`` and the optional
``diagnosis_crosswalk.yaml``. Loaded and cross-checked in :mod:`bhpolicy.criteria.loader`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr, model_validator

from bhpolicy.strict_model import Strict

FactType = Literal["boolean", "date", "date_list", "integer", "icd10", "month_counts",
                   "text_list"]
RequestType = Literal["initial", "continued_stay", "discharge"]
TestKind = Literal[
    "fact", "fact_needs_judgment", "fact_if_required", "age_at_least", "diagnosis_group",
    "dates_within_months_at_least", "onset_more_than_months", "at_least_param",
    "monthly_minimum", "months_elapsed_at_least", "compare_param", "count_listed_at_least",
]


FactName = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_]*$")]


class FactSpec(Strict):
    type: FactType
    label: Annotated[StrictStr, Field(min_length=1)]  # what a reviewer reads for the fact
    document: StrictStr
    min: StrictInt | None = None
    max: StrictInt | None = None
    allowed_param: StrictStr | None = None
    # Dates (and months of counts) are on or before the request date unless the fact may
    # lie after it (an authorization's end); none is before the date facts in not_before.
    may_follow_request: StrictBool = False
    not_before: list[FactName] = Field(default_factory=list)


class Exclusive(Strict):
    """Yes/no facts of which at most one can be true for one member at one time."""

    facts: Annotated[list[FactName], Field(min_length=2)]
    section: StrictStr
    reason: StrictStr


class DiagnosisSupports(Strict):
    """A yes/no fact that asserts something of the diagnosis: when it is true, the diagnosis
    must lie in one of the crosswalk groups, or the record contradicts itself."""

    flag: FactName
    diagnosis: FactName
    groups: Annotated[list[StrictStr], Field(min_length=1)]
    section: StrictStr
    reason: StrictStr


class FhirSources(Strict):
    """Where a FHIR (Da Vinci PAS) request carries the facts and documents: ``facts`` maps a
    fact to the resource element read first (bhpolicy.fhir.facts knows the names); every fact
    also comes from a QuestionnaireResponse answer whose linkId is its name. ``documents``
    maps a document key to the LOINC attachment code of its DocumentReference.type."""

    facts: dict[FactName, StrictStr] = Field(default_factory=dict)
    documents: dict[StrictStr, StrictStr] = Field(default_factory=dict)


class FactsFile(Strict):
    documents: dict[StrictStr, StrictStr]
    facts: dict[FactName, FactSpec]
    exclusive: list[Exclusive] = Field(default_factory=list)
    diagnosis_supports: list[DiagnosisSupports] = Field(default_factory=list)
    fhir: FhirSources | None = None

    @model_validator(mode="after")
    def _fhir_names(self) -> FactsFile:
        if self.fhir is not None:
            for name in self.fhir.facts:
                if name not in self.facts:
                    raise ValueError(f"fhir.facts: {name!r} is not a fact")
            for key in self.fhir.documents:
                if key not in self.documents:
                    raise ValueError(f"fhir.documents: {key!r} is not a document")
        return self


class Test(Strict):
    kind: TestKind
    fact: StrictStr
    param: StrictStr | None = None
    present_fact: StrictStr | None = None
    start_fact: StrictStr | None = None
    end_fact: StrictStr | None = None
    months_param: StrictStr | None = None
    leap_day_param: StrictStr | None = None
    comparison_param: StrictStr | None = None
    group: StrictStr | None = None
    # diagnosis_group: the groups that may qualify, and those a reviewer must judge
    judgment_param: StrictStr | None = None
    # count_listed_at_least: the list the counted items must come from
    of_param: StrictStr | None = None

    def parameters(self) -> list[str]:
        """The pack parameters this test reads."""
        return [p for p in (self.param, self.months_param, self.leap_day_param,
                            self.comparison_param, self.judgment_param, self.of_param) if p]


class Node(Strict):
    id: StrictStr
    section: StrictStr
    summary: StrictStr
    question: StrictStr | None = None  # what a reviewer must decide when it needs judgment
    # the first day the criterion is part of the policy (a later revision added it); a
    # request dated before it is determined without it
    since: dt.date | None = None
    all_of: list[Node] | None = None
    any_of: list[Node] | None = None
    at_least: StrictStr | None = None  # parameter holding N
    of: list[Node] | None = None
    test: Test | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Node:
        kinds = [self.all_of is not None, self.any_of is not None,
                 self.at_least is not None, self.test is not None]
        if sum(kinds) != 1:
            raise ValueError(f"node {self.id}: give exactly one of all_of, any_of, at_least, test")
        if (self.at_least is None) != (self.of is None):
            raise ValueError(f"node {self.id}: at_least needs 'of' (and 'of' needs at_least)")
        return self

    @property
    def children(self) -> list[Node]:
        return self.all_of or self.any_of or self.of or []

    def walk(self) -> list[Node]:
        nodes = [self]
        for child in self.children:
            nodes += child.walk()
        return nodes


class NotHeld(Strict):
    """Criteria of an early revision the pack does not hold: a request dated in it is
    accepted and referred to a reviewer with this question, never decided by the engine."""

    revision: StrictStr
    section: StrictStr  # where the pack learns of the difference (e.g. the revision log)
    summary: StrictStr  # how that revision's criteria differ from the text the pack holds
    question: StrictStr


class CriteriaFile(Strict):
    # the first day a request can be determined: the pack's first revision (earlier
    # requests predate the policy and are refused)
    since: dt.date
    # the first day of the criteria text the pack holds; requests from ``since`` until
    # then are referred as ``not_held`` says
    held_from: dt.date | None = None
    not_held: NotHeld | None = None
    requests: dict[RequestType, Node]

    @model_validator(mode="after")
    def _held(self) -> CriteriaFile:
        if (self.held_from is None) != (self.not_held is None):
            raise ValueError("give held_from and not_held together")
        if self.held_from is not None and self.held_from <= self.since:
            raise ValueError("held_from must be after since")
        return self

    def held_on(self, day: dt.date) -> bool:
        return self.held_from is None or day >= self.held_from


class DiagnosisGroup(Strict):
    section: StrictStr
    label: StrictStr  # the group in words, with its codes
    prefixes: Annotated[list[StrictStr], Field(min_length=1)]
    exclude: list[StrictStr] = Field(default_factory=list)
    # what the reviewer decides, for a group the pack's criteria leave to judgment (the
    # diagnosis_group test's judgment_param lists those groups)
    question: StrictStr | None = None
    note: StrictStr | None = None


class CrosswalkFile(Strict):
    source: StrictStr
    code_set_release: StrictStr
    groups: dict[StrictStr, DiagnosisGroup]

    def group_of(self, code: str) -> str | None:
        """The first group whose prefixes match ``code`` (dotted) and exclusions do not."""
        for name, group in self.groups.items():
            if any(code.startswith(p) for p in group.prefixes) and not any(
                    code.startswith(x) for x in group.exclude):
                return name
        return None
