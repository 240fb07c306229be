"""The schema of a policy pack and the as-of lookup of its dated parameters.

Modelled on OpenFisca's parameter files (values keyed by the date from which they hold, each
with its reference) but stricter: every parameter names its section, unknown and duplicate keys
are refused, codes must be strings, and a lookup before a parameter's first date raises instead
of falling back to a default.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr, model_validator

from bhpolicy.errors import BhpolicyError
from bhpolicy.strict_model import Strict

# Units whose values are codes: every scalar in them must be a string in the YAML.
CODE_UNITS = frozenset({"hcpcs", "hcpcs_list", "pos", "modifier", "modifier_map", "code_list"})
Unit = Literal[
    "years", "months", "minutes", "days", "days_per_month", "count", "level", "boolean",
    "comparison", "text", "text_list", "modes", "participants",
    "hcpcs", "hcpcs_list", "pos", "modifier", "modifier_map", "code_list",
]
Scalar = StrictStr | StrictInt | StrictBool
ValueType = Scalar | list[StrictStr] | dict[StrictStr, StrictStr] | None


class Source(Strict):
    """A document a fact comes from."""

    title: StrictStr
    document: StrictStr | None = None
    url: StrictStr | None = None
    revised: StrictStr | None = None
    # a later date the document shows without calling it a revision (a page footer's
    # "Updated"); recorded beside ``revised``, never a rule's start
    updated: StrictStr | None = None


class DatedValue(Strict):
    since: dt.date
    value: ValueType
    section: StrictStr | None = None  # overrides the parameter's section for this value
    note: StrictStr | None = None


class Parameter(Strict):
    description: StrictStr
    unit: Unit
    section: Annotated[StrictStr, Field(min_length=1)]
    source: StrictStr = "policy"
    values: Annotated[list[DatedValue], Field(min_length=1)]
    note: StrictStr | None = None
    # a parameter no rule reads, because something else enforces it by construction (the
    # 837P writer, say): ``why`` says what; the loader refuses any other unread parameter
    informative: StrictBool = False
    why: StrictStr | None = None

    @model_validator(mode="after")
    def _check_values(self) -> Parameter:
        if self.informative != (self.why is not None):
            raise ValueError("informative: true needs a 'why' (what enforces the parameter), "
                             "and 'why' goes only with informative: true")
        dates = [v.since for v in self.values]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise ValueError("values must be in increasing order of 'since', one per date")
        for v in self.values:
            if v.value is None and not v.note:
                raise ValueError(
                    f"value on {v.since} is null: a 'note' must say why the policy states none")
            if self.unit in CODE_UNITS:
                _require_strings(v.value, v.since)
        return self


def _require_strings(value: Any, since: dt.date) -> None:
    items: list[Any]
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    for item in items:
        if item is not None and not isinstance(item, str):
            raise ValueError(
                f"value on {since}: code {item!r} must be a quoted string in YAML")


class Revision(Strict):
    revision: StrictStr
    since: dt.date
    summary: StrictStr


class PackHeader(Strict):
    """The contents of ``policy.yaml``."""

    id: Annotated[StrictStr, Field(min_length=1)]
    alias: Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    title: StrictStr
    issuer: StrictStr
    state: Annotated[StrictStr, Field(pattern=r"^[A-Z]{2}$")]
    revision: StrictStr
    revision_date: dt.date
    effective_from: dt.date
    source: Source
    sources: dict[StrictStr, Source] = Field(default_factory=dict)
    assumptions: list[StrictStr] = Field(default_factory=list)
    revisions: list[Revision] = Field(default_factory=list)


class ParametersFile(Strict):
    """The contents of ``parameters.yaml``."""

    parameters: dict[Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_]*$")], Parameter]


@dataclass(frozen=True)
class Citation:
    """Where a rule or value comes from: policy id, revision and section."""

    policy_id: str
    revision: str
    section: str
    source_title: str

    def short(self) -> str:
        return f"{self.policy_id} (rev. {self.revision}) {self.section}"


@dataclass(frozen=True)
class ParameterValue:
    """A parameter's value in force on a date, with what it rests on."""

    name: str
    value: ValueType
    unit: str
    since: dt.date
    until: dt.date | None  # the day before the next value, if any
    citation: Citation
    note: str | None


class ParameterNotInForce(BhpolicyError):
    """No value of a parameter holds on the asked date."""


@dataclass(frozen=True, eq=False)
class PolicyPack:
    """A loaded, validated policy pack (hashed by identity, so results can be cached per pack)."""

    header: PackHeader
    parameters: dict[str, Parameter]
    folder: str
    _values: dict[tuple[str, dt.date], ParameterValue] = field(
        default_factory=dict, repr=False)

    @property
    def id(self) -> str:
        return self.header.id

    @property
    def alias(self) -> str:
        return self.header.alias

    def revision_spans(self) -> list[tuple[str, dt.date | None, dt.date | None]]:
        """(revision, first day, first day of the next) from the revision log in date
        order; the first span is open at its start (a day before the first revision is
        read as that revision reads), the last at its end. A pack without a log has one
        span, its ``revision``."""
        log = sorted(self.header.revisions, key=lambda r: r.since)
        if not log:
            return [(self.header.revision, None, None)]
        return [(r.revision, None if i == 0 else r.since,
                 log[i + 1].since if i + 1 < len(log) else None) for i, r in enumerate(log)]

    def revision_on(self, day: dt.date) -> str:
        """The revision in force on ``day`` (the first one for a day before it)."""
        for revision, _, until in self.revision_spans():
            if until is None or day < until:
                return revision
        raise AssertionError("the last span is open")  # pragma: no cover

    def source_of(self, parameter: Parameter) -> Source:
        if parameter.source == "policy":
            return self.header.source
        return self.header.sources[parameter.source]

    def citation(self, section: str, source: Source | None = None) -> Citation:
        return Citation(self.id, self.header.revision, section,
                        (source or self.header.source).title)

    def value(self, name: str, as_of: dt.date) -> ParameterValue:
        """Return the value of parameter ``name`` in force on ``as_of``.

        Raises :class:`ParameterNotInForce` when the date is before the parameter's first
        value; never falls back to a default.
        """
        cached = self._values.get((name, as_of))
        if cached is not None:
            return cached
        found = self._lookup(name, as_of)
        if len(self._values) < 100_000:
            self._values[(name, as_of)] = found
        return found

    def _lookup(self, name: str, as_of: dt.date) -> ParameterValue:
        parameter = self.parameters.get(name)
        if parameter is None:
            known = ", ".join(sorted(self.parameters))
            raise ParameterNotInForce(f"{self.id}: no parameter {name!r} (known: {known})")
        chosen: DatedValue | None = None
        until: dt.date | None = None
        for i, dated in enumerate(parameter.values):
            if dated.since <= as_of:
                chosen = dated
                nxt = parameter.values[i + 1].since if i + 1 < len(parameter.values) else None
                until = nxt - dt.timedelta(days=1) if nxt else None
        if chosen is None:
            raise ParameterNotInForce(
                f"{self.id}: parameter {name!r} has no value in force on {as_of.isoformat()} "
                f"(its first value holds from {parameter.values[0].since.isoformat()})")
        section = chosen.section or parameter.section
        source = self.source_of(parameter)
        # cited as the revision in force on the date asked about
        citation = Citation(self.id, self.revision_on(as_of), section, source.title)
        return ParameterValue(
            name=name, value=chosen.value, unit=parameter.unit, since=chosen.since,
            until=until, citation=citation, note=chosen.note or parameter.note)
