"""Plain-text and JSON forms of policy packs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bhpolicy.policy.model import ParameterNotInForce, PolicyPack


def _value(value: Any) -> str:
    if value is None:
        return "none stated"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(empty list)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def packs_text(packs: tuple[PolicyPack, ...]) -> str:
    rows = ["id               alias    state  revision    issuer"]
    for p in packs:
        h = p.header
        rows.append(f"{h.id:<16} {h.alias:<8} {h.state:<6} {h.revision:<11} {h.issuer}")
    return "\n".join(rows)


def pack_text(pack: PolicyPack, as_of: dt.date | None) -> str:
    h = pack.header
    lines = [
        f"{h.id} ({h.alias}): {h.title}",
        f"  issuer: {h.issuer}; state: {h.state}",
        f"  revision: {h.revision} (dated {h.revision_date.isoformat()}); "
        f"effective from {h.effective_from.isoformat()}",
        f"  source: {h.source.title}" + (f" [{h.source.document}]" if h.source.document else ""),
    ]
    for key, source in h.sources.items():
        lines.append(f"  source {key}: {source.title}")
    if h.assumptions:
        lines.append("  assumptions:")
        lines += [f"    - {' '.join(a.split())}" for a in h.assumptions]
    if h.revisions:
        lines.append("  revision log:")
        lines += [f"    {r.revision} (from {r.since.isoformat()}): {' '.join(r.summary.split())}"
                  for r in h.revisions]
    lines.append("")
    lines.append("parameters" + (f" in force on {as_of.isoformat()}:" if as_of else
                                 " (every dated value):"))
    for name, param in pack.parameters.items():
        cited = "" if param.source == "policy" else f" [{param.source}]"
        lines.append(f"  {name} ({param.unit}) section {param.section}{cited}")
        lines.append(f"      {' '.join(param.description.split())}")
        if as_of is not None:
            try:
                found = pack.value(name, as_of)
            except ParameterNotInForce as exc:  # shown, not raised: listing goes on
                lines.append(f"      {exc}")
                continue
            until = found.until.isoformat() if found.until else "open"
            note = f"  ({' '.join(found.note.split())})" if found.note else ""
            lines.append(f"      = {_value(found.value)}  [{found.since.isoformat()} .. "
                         f"{until}; {found.citation.section}]{note}")
            continue
        for dated in param.values:
            note = f"  ({' '.join(dated.note.split())})" if dated.note else ""
            section = f"; section {dated.section}" if dated.section else ""
            lines.append(f"      from {dated.since.isoformat()}: {_value(dated.value)}"
                         f"{section}{note}")
    return "\n".join(lines)


def pack_json(pack: PolicyPack, as_of: dt.date | None) -> dict[str, Any]:
    data: dict[str, Any] = {"policy": pack.header.model_dump(mode="json"), "parameters": {}}
    for name, param in pack.parameters.items():
        item = param.model_dump(mode="json")
        if as_of is not None:
            try:
                found = pack.value(name, as_of)
                item["in_force"] = {
                    "as_of": as_of.isoformat(), "value": found.value,
                    "since": found.since.isoformat(),
                    "until": found.until.isoformat() if found.until else None,
                    "section": found.citation.section}
            except ParameterNotInForce as exc:
                item["in_force"] = {"as_of": as_of.isoformat(), "error": str(exc)}
        data["parameters"][name] = item
    return data
