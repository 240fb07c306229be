"""Reads of reference data for the web: HCPCS codes from the catalog (curated entries and the
imported CMS file) and the policy packs with their dated parameters and criteria sections.
Thin: the catalog, its search and the registry do the work."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

from bhpolicy.catalog.model import CodeEntry
from bhpolicy.catalog.search import SearchIndex
from bhpolicy.catalog.store import Catalog, default_home, load_catalog
from bhpolicy.criteria.loader import criteria_for
from bhpolicy.errors import BhpolicyError, NotFoundError
from bhpolicy.policy import PolicyPack
from bhpolicy.policy.model import ParameterNotInForce
from bhpolicy.services.determining import registry, sections
from bhpolicy.services.errors import Invalid, NotFound
from bhpolicy.services.permissions import HasRole, require
from bhpolicy.services.schemas import (
    CodeSummary,
    CodeView,
    NoticeCriterion,
    ParameterView,
    PolicySummary,
    PolicyView,
)

SEARCH_LIMIT_MAX = 50
REQUEST_TYPES = ("initial", "continued_stay", "discharge")


@functools.cache
def _catalog(home: Path) -> tuple[Catalog, SearchIndex]:
    catalog = load_catalog(home)
    return catalog, SearchIndex.build(catalog)


def catalog() -> tuple[Catalog, SearchIndex]:
    """The catalog of the current data home (cached per home)."""
    return _catalog(default_home())


def _summary(entry: CodeEntry) -> CodeSummary:
    return CodeSummary(code=entry.code, descriptor=entry.official_descriptor.value,
                       short_descriptor=entry.short_descriptor.value
                       if entry.short_descriptor else None,
                       unit=entry.unit.value if entry.unit else None)


def list_codes(actor: HasRole) -> list[CodeSummary]:
    require(actor, "codes.read")
    entries = catalog()[0].entries
    return [_summary(entries[code]) for code in sorted(entries)]


def search_codes(actor: HasRole, query: str, limit: int = 10) -> list[CodeSummary]:
    require(actor, "codes.read")
    if len(query) > 200:
        raise Invalid("q: at most 200 characters", "q")
    found, index = catalog()
    try:
        hits = index.search(query, max(1, min(limit, SEARCH_LIMIT_MAX)))
    except BhpolicyError as exc:
        raise Invalid(f"q: {exc}", "q") from None
    return [_summary(found.entries[hit.code]) for hit in hits]


def get_code(actor: HasRole, code: str) -> CodeView:
    require(actor, "codes.read")
    try:
        entry = catalog()[0].get(code)
    except NotFoundError as exc:
        raise NotFound(str(exc)) from None
    return CodeView(**_summary(entry).model_dump(), entry=entry.model_dump(mode="json"))


def _policy_summary(pack: PolicyPack) -> PolicySummary:
    header = pack.header
    return PolicySummary(id=header.id, alias=header.alias, title=header.title,
                         issuer=header.issuer, state=header.state, revision=header.revision,
                         effective_from=header.effective_from)


def list_policies(actor: HasRole) -> list[PolicySummary]:
    require(actor, "policies.read")
    return [_policy_summary(pack) for pack in registry().packs]


def get_policy(actor: HasRole, key: str, on: dt.date) -> PolicyView:
    """A pack with the value of each parameter in force on ``on`` (parameters with no value
    then are left out) and the sections of its criteria."""
    require(actor, "policies.read")
    try:
        pack = registry().get(key)
    except NotFoundError:
        raise NotFound(f"no policy pack {key[:40]!r}") from None
    parameters = []
    for name, parameter in pack.parameters.items():
        try:
            value = pack.value(name, on)
        except ParameterNotInForce:
            continue
        parameters.append(ParameterView(name=name, description=parameter.description,
                                        unit=parameter.unit, section=value.citation.section,
                                        value=value.value, since=value.since, note=value.note))
    criteria = criteria_for(pack)
    seen: dict[str, NoticeCriterion] = {}
    for request_type in REQUEST_TYPES:
        try:
            found = sections(criteria, request_type)
        except BhpolicyError:
            continue
        for section, summary in found.items():
            seen.setdefault(section, NoticeCriterion(
                section=section, summary=summary, policy_id=pack.id,
                policy_revision=pack.header.revision))
    return PolicyView(**_policy_summary(pack).model_dump(), parameters=parameters,
                      sections=list(seen.values()))
