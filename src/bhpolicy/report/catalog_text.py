"""Plain-text and JSON forms of catalog entries and search results."""

from __future__ import annotations

import textwrap
from typing import Any

from bhpolicy.catalog.model import OPTIONAL_FIELDS, CodeEntry, SourcedList, SourcedText
from bhpolicy.catalog.search import Hit
from bhpolicy.catalog.store import Catalog

WIDTH = 96
LABELS = {
    "short_descriptor": "Short descriptor",
    "description": "Description",
    "synonyms": "Also known as",
    "plain_language": "In plain language",
    "clinical_context": "Clinical context",
    "unit": "Unit of service",
    "rvu": "RVU status",
    "documentation": "Documentation needs",
    "specialties": "Specialties",
    "denial_reasons": "Common denial reasons",
}
ABSENT = "absent (no source gives it)"


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(" ".join(text.split()), WIDTH, initial_indent=indent,
                         subsequent_indent=indent)


def _cite(source: str, section: str | None = None) -> str:
    return f"[{source}{', ' + section if section else ''}]"


def entry_text(entry: CodeEntry, catalog: Catalog) -> str:
    lines = [f"{entry.code}  {entry.official_descriptor.value}",
             f"  official descriptor {_cite(entry.official_descriptor.source)}"]
    if entry.termination_date:
        lines.append(f"  TERMINATED {entry.termination_date.isoformat()} per the CMS file")
    for conflict in entry.conflicts:
        lines += ["", f"! CONFLICT ({conflict.field}) {_cite(', '.join(conflict.sources))}",
                  _wrap(f"Official: {conflict.official}", "    "),
                  _wrap(f"Other source: {conflict.other}", "    "),
                  _wrap(f"Resolution: {conflict.resolution}", "    ")]
    for name in OPTIONAL_FIELDS:
        value = getattr(entry, name)
        label = LABELS[name]
        lines.append("")
        if value is None:
            lines.append(f"{label}: {ABSENT}")
        elif isinstance(value, SourcedList):
            lines.append(f"{label} {_cite(value.source, value.section)}:")
            lines += [textwrap.fill(" ".join(f"- {item}".split()), WIDTH, initial_indent="    ",
                                    subsequent_indent="      ") for item in value.value]
        elif isinstance(value, SourcedText):
            lines.append(f"{label} {_cite(value.source, value.section)}:")
            lines.append(_wrap(value.value, "    "))
        else:  # SourcedUnit
            lines.append(f"{label}: {value.value.replace('_', ' ')} {_cite(value.source)}")
    lines += ["", "Related codes:" if entry.related else f"Related codes: {ABSENT}"]
    lines += [_wrap(f"{r.code}: {r.difference} {_cite(r.source)}", "    ")
              for r in entry.related]
    lines += ["", "Modifiers (meaning per payer or source):" if entry.modifiers
              else f"Modifiers: {ABSENT}"]
    lines += [_wrap(f"{m.modifier} for {m.applies_to}: {m.meaning} "
                    f"{_cite(m.source, m.section)}", "    ") for m in entry.modifiers]
    lines += ["", "Payer notes:" if entry.payer_notes else f"Payer notes: {ABSENT}"]
    lines += [_wrap(f"{n.policy_id} {n.section}: {n.note} {_cite(n.source)}", "    ")
              for n in entry.payer_notes]
    lines += ["", "Sources:"]
    for key in sorted(entry.cited_sources()):
        source = catalog.sources[key]
        where = f" ({source.document})" if source.document else ""
        lines.append(_wrap(f"[{key}] {source.title}{where}", "    "))
    return "\n".join(lines)


def entry_json(entry: CodeEntry, catalog: Catalog) -> dict[str, Any]:
    data = entry.model_dump(mode="json")
    absent = [name for name in OPTIONAL_FIELDS if getattr(entry, name) is None]
    return {
        "entry": data,
        "absent_fields": absent,
        "sources": {key: catalog.sources[key].model_dump(mode="json")
                    for key in sorted(entry.cited_sources())},
    }


def hits_text(hits: list[Hit], catalog: Catalog) -> str:
    if not hits:
        return "no matching codes"
    rows = []
    for rank, hit in enumerate(hits, start=1):
        entry = catalog.entries[hit.code]
        flag = "  ! conflict noted" if entry.conflicts else ""
        rows.append(f"{rank:>2}. {hit.code}  {entry.official_descriptor.value}"
                    f"  (score {hit.score:.1f}){flag}")
    return "\n".join(rows)


def hits_json(hits: list[Hit], catalog: Catalog) -> list[dict[str, Any]]:
    return [{"rank": rank, "code": hit.code, "score": round(hit.score, 3),
             "official_descriptor": catalog.entries[hit.code].official_descriptor.value,
             "matched_fields": list(hit.matched),
             "has_conflict": bool(catalog.entries[hit.code].conflicts)}
            for rank, hit in enumerate(hits, start=1)]
