"""The numbers Da Vinci PAS sets for a server (``pas_rules.yaml``), as dated values with their
citation. A strict loader (unknown or duplicate keys, values out of date order are errors
naming the file and key); a lookup before a parameter's first date raises."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StrictInt, StrictStr, model_validator

from bhpolicy.errors import DataFileError
from bhpolicy.strict_model import Strict
from bhpolicy.yaml_strict import validate_file

RULES_FILE = "pas_rules.yaml"


class _Source(Strict):
    title: StrictStr
    url: StrictStr
    repository: StrictStr


class _Value(Strict):
    since: dt.date
    value: Annotated[StrictInt, Field(ge=0)]
    note: StrictStr | None = None


class _Parameter(Strict):
    description: StrictStr
    unit: Literal["months", "days"]
    citation: Annotated[StrictStr, Field(min_length=1)]
    source: StrictStr
    values: Annotated[list[_Value], Field(min_length=1)]

    @model_validator(mode="after")
    def _ordered(self) -> _Parameter:
        dates = [v.since for v in self.values]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise ValueError("values must be in increasing order of 'since', one per date")
        return self


class _RulesFile(Strict):
    sources: dict[StrictStr, _Source]
    parameters: dict[StrictStr, _Parameter]

    @model_validator(mode="after")
    def _sources_known(self) -> _RulesFile:
        for name, parameter in self.parameters.items():
            if parameter.source not in self.sources:
                raise ValueError(f"{name}: source {parameter.source!r} is not in sources")
        return self


@dataclass(frozen=True)
class PasValue:
    name: str
    value: int
    unit: str
    since: dt.date
    citation: str


def _path() -> Path:
    return Path(str(files("bhpolicy") / "fhir" / RULES_FILE))


@functools.cache
def _rules() -> _RulesFile:
    return validate_file(_RulesFile, _path())


def pas_value(name: str, on: dt.date) -> PasValue:
    """The value of ``name`` in force on ``on`` (DataFileError if none is)."""
    parameter = _rules().parameters.get(name)
    if parameter is None:
        raise DataFileError(str(_path()), f"key parameters.{name}", "missing")
    found = [v for v in parameter.values if v.since <= on]
    if not found:
        raise DataFileError(str(_path()), f"key parameters.{name}",
                            f"no value in force on {on.isoformat()}")
    value = found[-1]
    return PasValue(name, value.value, parameter.unit, value.since, parameter.citation)


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` calendar months earlier (the month's last day if shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError("no such month")  # pragma: no cover (28 always exists)
