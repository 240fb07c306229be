"""``bhpolicy team check``: which of a pack's required ACT team roles a roster covers.

A roster is small (a team's staff), so this reads it row by row. Columns:
``staff_id, name, role, credentials, degree, degree_field, experience`` where ``role`` is a
role id of the pack (``team_leader``), ``credentials`` a ';'-list of tokens (``LISW-CP;RN``),
``degree`` none|associate|bachelor|master|doctorate and ``experience`` a ';'-list of
``kind=months`` (``smi_adults=18;employment_support=8``). It answers "roles covered", never
"may bill": fidelity and state approval are decided elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bhpolicy.audit.model import Qualification, team
from bhpolicy.errors import DataFileError
from bhpolicy.io.small_csv import ragged, small_csv_rows
from bhpolicy.policy.model import PolicyPack

DEGREES = ("none", "associate", "bachelor", "master", "doctorate")
COLUMNS = ("staff_id", "name", "role", "credentials", "degree", "degree_field", "experience")
NOT_APPROVAL = ("Roles covered is not approval: fidelity review and the state's approval of "
                "the team are decided elsewhere.")


@dataclass
class Staff:
    row: int
    staff_id: str
    name: str
    role: str
    credentials: set[str]
    degree: str
    degree_field: str
    experience: dict[str, int]


@dataclass
class RoleResult:
    role: str
    label: str
    covered: bool
    covered_by: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unmet: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RosterCheck:
    policy_id: str
    policy_revision: str
    section: str
    roles: list[RoleResult]
    unknown_roles: list[dict[str, Any]]
    row_errors: list[str]

    @property
    def missing(self) -> list[str]:
        return [r.role for r in self.roles if not r.covered]


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[;,]\s*", text.strip()) if t]


def read_roster(path: Path) -> tuple[list[Staff], list[str]]:
    """Good rows, and one line per bad row naming file, row and field (the rest go on). A
    file that cannot be read as CSV (not UTF-8, a quote left open) is one error."""
    staff: list[Staff] = []
    errors: list[str] = []
    rows = small_csv_rows(path)
    _, header = next(rows, (1, []))
    header = [name.strip() for name in header]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DataFileError(str(path), "header", "missing column(s) " + ", ".join(missing))
    at = {name: header.index(name) for name in COLUMNS}
    for line, fields in rows:
        problem = ragged(fields, header)
        row = {k: fields[i].strip() if i < len(fields) else "" for k, i in at.items()}
        problem = problem or _row_problem(row)
        if problem:
            errors.append(f"{path}: row {line}, {problem}")
            continue
        experience = {}
        for item in _tokens(row["experience"]):
            kind, months = item.split("=")
            experience[kind.strip().lower()] = int(months)
        staff.append(Staff(
            row=line, staff_id=row["staff_id"], name=row["name"],
            role=row["role"].lower().replace(" ", "_"),
            credentials={c.upper() for c in _tokens(row["credentials"])},
            degree=(row["degree"] or "none").lower(),
            degree_field=row["degree_field"].lower(), experience=experience))
    return staff, errors


def _row_problem(row: dict[str, str]) -> str | None:
    if not row["staff_id"]:
        return "field staff_id: missing"
    if not row["role"]:
        return "field role: missing"
    if row["degree"] and row["degree"].lower() not in DEGREES:
        return f"field degree: {row['degree']!r} is not one of {', '.join(DEGREES)}"
    for item in _tokens(row["experience"]):
        if not re.fullmatch(r"[A-Za-z_]+\s*=\s*\d{1,6}", item):  # months, not a huge number
            return f"field experience: {item!r} is not kind=months"
    return None


def _unmet(person: Staff, need: Qualification) -> list[str]:
    """What ``person`` lacks for one alternative (empty: it is met)."""
    gaps: list[str] = []
    if need.credentials_any and not person.credentials & {c.upper()
                                                          for c in need.credentials_any}:
        gaps.append("a credential among " + ", ".join(need.credentials_any))
    if need.degree_min and DEGREES.index(person.degree) < DEGREES.index(need.degree_min):
        gaps.append(f"a {need.degree_min}'s degree or higher")
    if need.degree_fields_any and person.degree_field not in {
            f.lower() for f in need.degree_fields_any}:
        gaps.append("a degree in " + ", ".join(need.degree_fields_any))
    for kind, months in need.experience_min_months.items():
        if person.experience.get(kind, 0) < months:
            gaps.append(f"{months} months of {kind.replace('_', ' ')} experience "
                        f"(roster: {person.experience.get(kind, 0)})")
    return gaps


def check_roster(pack: PolicyPack, path: Path) -> RosterCheck:
    data = team(pack)
    staff, errors = read_roster(path)
    results: list[RoleResult] = []
    for role_id, role in data.roles.items():
        result = RoleResult(role_id, role.label, covered=False)
        for person in (s for s in staff if s.role == role_id):
            gaps_by_alternative = [(_unmet(person, need), need) for need in role.any_of]
            met = [need for gaps, need in gaps_by_alternative if not gaps]
            if met:
                result.covered = True
                result.covered_by.append(person.staff_id)
                if met[0].note and all(n.note for n in met):
                    result.notes.append(f"{person.staff_id}: {' '.join(met[0].note.split())}")
            else:
                fewest = min(gaps_by_alternative, key=lambda g: len(g[0]))[0]
                result.unmet.append({"staff_id": person.staff_id, "row": person.row,
                                     "lacks": fewest})
        results.append(result)
    known = set(data.roles)
    unknown = [{"staff_id": s.staff_id, "row": s.row, "role": s.role}
               for s in staff if s.role not in known]
    return RosterCheck(pack.id, pack.header.revision, data.section, results, unknown, errors)
