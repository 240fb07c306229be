"""The schema of a catalog entry: every fact names the source it comes from.

A field no source gives is left out of the YAML and shown as absent; nothing is invented.
Modifier meanings belong to a payer or a source, never to a code alone (U1-UD are defined by
each state Medicaid program).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictStr

from bhpolicy.strict_model import Strict

Unit = Literal["per_diem", "per_session", "per_15_minutes", "per_hour", "per_month", "per_day",
               "per_week", "per_visit", "per_encounter", "per_unit"]
CODE_PATTERN = r"^[A-Z][0-9]{4}$"


class CatalogSource(Strict):
    """A document catalog facts are taken from."""

    title: StrictStr
    kind: Literal["official", "policy", "reference_page", "article", "import"]
    document: StrictStr | None = None
    note: StrictStr | None = None


class SourcedText(Strict):
    value: Annotated[StrictStr, Field(min_length=1)]
    source: StrictStr
    section: StrictStr | None = None


class SourcedList(Strict):
    value: Annotated[list[StrictStr], Field(min_length=1)]
    source: StrictStr
    section: StrictStr | None = None


class SourcedUnit(Strict):
    value: Unit
    source: StrictStr


class RelatedCode(Strict):
    code: Annotated[StrictStr, Field(pattern=CODE_PATTERN)]
    difference: StrictStr
    source: StrictStr


class ModifierUse(Strict):
    """What a modifier means on this code, to one payer (policy id) or per one source."""

    modifier: Annotated[StrictStr, Field(pattern=r"^[A-Z0-9]{2}$")]
    meaning: StrictStr
    applies_to: StrictStr  # a policy id, "national", or "per source"
    source: StrictStr
    section: StrictStr | None = None


class PayerNote(Strict):
    policy_id: StrictStr
    note: StrictStr
    source: StrictStr
    section: StrictStr


class Conflict(Strict):
    """Two sources disagree; the official one wins and the entry shows both."""

    field: StrictStr
    official: StrictStr
    other: StrictStr
    sources: Annotated[list[StrictStr], Field(min_length=2)]
    resolution: StrictStr


class CodeEntry(Strict):
    code: Annotated[StrictStr, Field(pattern=CODE_PATTERN)]
    official_descriptor: SourcedText
    short_descriptor: SourcedText | None = None
    description: SourcedText | None = None
    synonyms: SourcedList | None = None
    plain_language: SourcedList | None = None
    clinical_context: SourcedText | None = None
    unit: SourcedUnit | None = None
    rvu: SourcedText | None = None
    documentation: SourcedList | None = None
    specialties: SourcedList | None = None
    denial_reasons: SourcedList | None = None
    related: list[RelatedCode] = Field(default_factory=list)
    modifiers: list[ModifierUse] = Field(default_factory=list)
    payer_notes: list[PayerNote] = Field(default_factory=list)
    conflicts: list[Conflict] = Field(default_factory=list)
    # Set only from an imported CMS file.
    added_date: dt.date | None = None
    termination_date: dt.date | None = None

    def cited_sources(self) -> set[str]:
        """Every source key this entry uses, to check each is declared."""
        keys: set[str] = set()
        for name in type(self).model_fields:
            value = getattr(self, name)
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, Conflict):
                    keys.update(item.sources)
                elif isinstance(item, BaseModel) and hasattr(item, "source"):
                    keys.add(item.source)
        return keys


# Fields shown as "absent" when no source gives them, in display order.
OPTIONAL_FIELDS = (
    "short_descriptor", "description", "synonyms", "plain_language", "clinical_context",
    "unit", "rvu", "documentation", "specialties", "denial_reasons",
)


class SourcesFile(Strict):
    sources: dict[StrictStr, CatalogSource]
