"""A resource checked against FHIR's structure with the fhir.resources R4B models, and the
gaps of those models closed: R4B coerces loose JSON (``"yes"`` to true, ``"1"`` to 1), so the
parsed resource is dumped again and must equal what was sent, element by element; an unknown
``resourceType`` raises inside the library, so types are checked against a list first.

R4B is the nearest FHIR release fhir.resources 8 ships to R4 4.0.1 (it has no R4 package); the
resources PAS carries have the same elements in both, and the types R4B added are refused by
the list of types a PAS request may carry (ig.REQUEST_RESOURCE_TYPES)."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, ValidationError

from bhpolicy.fhir.outcome import FhirError, structure

_MISSING = object()


@functools.cache
def _model(resource_type: str) -> type[BaseModel]:
    from fhir.resources.R4B import get_fhir_model_class  # on first use: the models are large

    model: type[BaseModel] = get_fhir_model_class(resource_type)
    return model


def _path(base: str, loc: tuple[int | str, ...]) -> str:
    out = base
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _problem(kind: str) -> str:
    if kind == "missing":
        return "missing (required by FHIR R4)"
    if kind == "extra_forbidden":
        return "not an element of this resource in FHIR R4"
    if kind.endswith("_type") or kind in ("model_type", "list_type", "dict_type"):
        return "wrong JSON type"
    return "not a valid value of this element's FHIR type"


def _difference(sent: Any, parsed: Any, path: str) -> str | None:
    """The first path where the parsed resource differs from the JSON sent."""
    if isinstance(sent, dict):
        if not isinstance(parsed, dict):
            return path
        for key, value in sent.items():
            where = f"{path}.{key}"
            if key not in parsed:
                return where if value is not None else None
            found = _difference(value, parsed[key], where)
            if found:
                return found
        return None
    if isinstance(sent, list):
        if not isinstance(parsed, list) or len(parsed) != len(sent):
            return path
        for index, (a, b) in enumerate(zip(sent, parsed, strict=True)):
            found = _difference(a, b, f"{path}[{index}]")
            if found:
                return found
        return None
    if type(sent) is not type(parsed) and not (
            isinstance(sent, int | float) and isinstance(parsed, int | float)
            and not isinstance(sent, bool) and not isinstance(parsed, bool)):
        return path
    return None if sent == parsed else path


def check_resource(raw: Any, base: str, allowed: frozenset[str]) -> str:
    """Check one resource's JSON; ``base`` is its FHIRPath (``Bundle.entry[2].resource``).
    Returns its resourceType; raises FhirError (400) naming the element at fault."""
    if not isinstance(raw, dict):
        raise structure(base, "expected a JSON object (a FHIR resource)")
    kind = raw.get("resourceType")
    if not isinstance(kind, str):
        raise structure(f"{base}.resourceType", "missing or not a string")
    if kind not in allowed:
        safe = kind if kind.isalpha() and len(kind) <= 40 else "this type"
        raise FhirError(f"{base}.resourceType",
                        f"{safe} is not a resource type this server accepts here "
                        f"(accepted: {', '.join(sorted(allowed))})", status=422,
                        code="not-supported")
    try:
        parsed = _model(kind).model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if p != "__root__")
        raise structure(_path(base, loc), _problem(first["type"])) from None
    except (ValueError, TypeError, KeyError):
        raise structure(base, "not a valid FHIR R4 resource") from None
    dumped = parsed.model_dump(mode="json", exclude_none=True, by_alias=True)
    found = _difference(raw, dumped, base)
    if found is not None:
        raise structure(found, "wrong JSON type for this FHIR element (sent as another type)")
    return kind


def is_error(value: object) -> bool:
    return isinstance(value, FhirError)
