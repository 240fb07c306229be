"""The PAS request Bundle, checked: the rules of profile-pas-request-bundle, profile-claim
and profile-claim-update (and of the resources they reference) that bhpolicy relies on, each
citing its line of the IG's FSH source. Every resource is also checked against FHIR R4's
structure (structure.check_resource)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bhpolicy.fhir import ig
from bhpolicy.fhir.ig import fsh
from bhpolicy.fhir.outcome import invalid, required, structure
from bhpolicy.fhir.structure import check_resource

FULL_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_RELATIVE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
_RESTFUL = re.compile(r"^(.*/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")


@dataclass(frozen=True)
class Entry:
    index: int
    full_url: str
    resource: dict[str, Any]

    @property
    def path(self) -> str:
        return f"Bundle.entry[{self.index}].resource"

    @property
    def type(self) -> str:
        kind = self.resource["resourceType"]
        assert isinstance(kind, str)
        return kind


@dataclass
class PasBundle:
    """A checked request (or inquiry) Bundle: its entries and reference resolution."""

    raw: dict[str, Any]
    identifier_system: str
    identifier_value: str
    timestamp: str
    entries: list[Entry]
    _by_url: dict[str, Entry] = field(default_factory=dict, repr=False)

    @property
    def claim(self) -> Entry:
        return self.entries[0]

    def resolve(self, reference: Any, path: str, types: tuple[str, ...],
                rule: str | None = None) -> Entry:
        """The entry a Reference points at, inside this Bundle, of one of ``types``."""
        if not isinstance(reference, dict):
            raise required(path, "missing reference", rule)
        target = reference.get("reference")
        if not isinstance(target, str) or not target:
            raise required(f"{path}.reference",
                           "a literal reference to an entry of the Bundle is needed", rule)
        entry = self._by_url.get(target)
        if entry is None:
            relative = _RELATIVE.fullmatch(target)
            source = _RESTFUL.fullmatch(self.claim.full_url)
            if relative and source:
                entry = self._by_url.get(source.group(1) + target)
            if entry is None and relative:
                entry = self._by_url.get(target)
        if entry is None:
            raise invalid(f"{path}.reference", "does not resolve to an entry of the Bundle",
                          "FHIR R4 Bundle reference resolution", code="not-found")
        if entry.type not in types:
            raise invalid(f"{path}.reference",
                          f"refers to a {entry.type}; expected {' or '.join(types)}", rule)
        return entry

    def of_type(self, kind: str) -> list[Entry]:
        return [e for e in self.entries if e.type == kind]


def text(value: Any, path: str, rule: str | None = None, *, optional: bool = False) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise required(path, "missing", rule)
    return value


def full_date(value: Any, path: str, rule: str) -> str:
    if not isinstance(value, str) or not FULL_DATE.fullmatch(value):
        raise invalid(path, "expected a full date (YYYY-MM-DD)", rule)
    return value


def coding_in(concept: Any, path: str, system: str | tuple[str, ...], rule: str,
              codes: frozenset[str] | None = None) -> str:
    """The code of the first Coding of ``system`` (a required binding): missing, another
    system only, or a code outside ``codes`` is refused."""
    systems = (system,) if isinstance(system, str) else system
    if not isinstance(concept, dict):
        raise required(path, "missing", rule)
    codings = concept.get("coding") or []
    for index, coding in enumerate(codings):
        if coding.get("system") in systems:
            code = coding.get("code")
            if not isinstance(code, str) or not code:
                raise required(f"{path}.coding[{index}].code", "missing", rule)
            if codes is not None and code not in codes:
                raise invalid(f"{path}.coding[{index}].code",
                              "not a code of the required value set", rule,
                              code="code-invalid")
            return code
    raise invalid(f"{path}.coding", f"needs a code from {' or '.join(systems)}", rule,
                  code="code-invalid")


def extension(element: dict[str, Any], url: str) -> tuple[int, dict[str, Any]] | None:
    for index, ext in enumerate(element.get("extension") or []):
        if ext.get("url") == url:
            return index, ext
    return None


def identifier(value: Any, path: str, rule: str) -> tuple[str, str]:
    """A PASIdentifier: system and value both present (Identifier.fsh:157-158)."""
    if not isinstance(value, dict):
        raise required(path, "missing", rule)
    system = text(value.get("system"), f"{path}.system", fsh("Identifier.fsh:157"))
    ident = text(value.get("value"), f"{path}.value", fsh("Identifier.fsh:158"))
    return system, ident


def check_bundle(raw: Any, *, claim_types: tuple[str, ...] = ("Claim",),
                 max_claims: int = 2) -> PasBundle:
    """The Bundle-level rules of profile-pas-request-bundle (and of the inquiry bundle, which
    has the same ones: Bundle.fsh:24-46)."""
    if not isinstance(raw, dict) or raw.get("resourceType") != "Bundle":
        raise structure(None, "the body must be a FHIR Bundle (resourceType Bundle)",
                        fsh("ClaimOperation.fsh:366"))
    if raw.get("type") != "collection":
        raise invalid("Bundle.type", "must be collection", fsh("Bundle.fsh:9"))
    ident = raw.get("identifier")
    if not isinstance(ident, dict):
        raise required("Bundle.identifier", "missing", fsh("Bundle.fsh:7"))
    raw_system = ident.get("system")
    system = raw_system if isinstance(raw_system, str) else ""
    value = text(ident.get("value"), "Bundle.identifier.value", fsh("Bundle.fsh:7"))
    timestamp = text(raw.get("timestamp"), "Bundle.timestamp", fsh("Bundle.fsh:10"))
    entries_raw = raw.get("entry")
    if not isinstance(entries_raw, list) or not entries_raw:
        raise required("Bundle.entry", "at least one entry is needed", fsh("Bundle.fsh:11"))
    entries: list[Entry] = []
    by_url: dict[str, Entry] = {}
    for index, item in enumerate(entries_raw):
        path = f"Bundle.entry[{index}]"
        if not isinstance(item, dict):
            raise structure(path, "expected a JSON object")
        for banned, line in (("search", 14), ("request", 15), ("response", 16)):
            if banned in item:
                raise invalid(f"{path}.{banned}", "not allowed in a PAS Bundle",
                              fsh(f"Bundle.fsh:{line}"))
        url = text(item.get("fullUrl"), f"{path}.fullUrl", fsh("Bundle.fsh:12"))
        if "resource" not in item:
            raise required(f"{path}.resource", "missing", fsh("Bundle.fsh:13"))
        kind = check_resource(item["resource"], f"{path}.resource", ig.REQUEST_RESOURCE_TYPES)
        if url in by_url:
            raise invalid(f"{path}.fullUrl", "used by another entry",
                          "FHIR R4 Bundle invariant bdl-7")
        entry = Entry(index, url, item["resource"])
        entries.append(entry)
        by_url[url] = entry
        res_id = item["resource"].get("id")
        if isinstance(res_id, str):
            by_url.setdefault(f"{kind}/{res_id}", entry)
    if entries[0].type not in claim_types:
        raise invalid("Bundle.entry[0].resource", "the first entry must be the Claim",
                      fsh("Bundle.fsh:6") + ", invariant ClaimFirst " + fsh("Bundle.fsh:94"))
    claims = [e for e in entries if e.type == "Claim"]
    if len(claims) > max_claims:
        raise invalid(claims[max_claims].path, f"at most {max_claims} Claim entries",
                      fsh("Bundle.fsh:21" if max_claims == 2 else "Bundle.fsh:44"))
    return PasBundle(raw, system, value, timestamp, entries, by_url)
