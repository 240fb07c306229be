"""Why a day is held or a line denied (each pack's reasons.yaml), as a table, and the
CARC/RARC codes those reasons use checked against code lists the user has.

The official X12 code texts are licensed, so bhpolicy ships only the codes with its own
wording; a user who has the lists (code, description, optional stop date) can check that every
code a pack uses exists and is still active on a date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from pydantic import StrictStr, model_validator

from bhpolicy.errors import DataFileError
from bhpolicy.io.small_csv import ragged, small_csv_rows
from bhpolicy.policy.model import PolicyPack
from bhpolicy.strict_model import Strict
from bhpolicy.yaml_strict import validate_file


class Reason(Strict):
    """Why a day is held or a line would be denied. A reason without a CARC (and group) is a
    hold for the team's review, not a payer's denial (e.g. a code the policy's coding table
    does not list, which "does not guarantee coverage")."""

    section: StrictStr
    summary: StrictStr
    group: StrictStr | None = None
    carc: StrictStr | None = None
    rarc: list[StrictStr]
    action: StrictStr | None = None

    @model_validator(mode="after")
    def _group_with_carc(self) -> Reason:
        if (self.group is None) != (self.carc is None):
            raise ValueError("give both group and carc, or neither (a hold for review)")
        return self


class ReasonsFile(Strict):
    reasons: dict[StrictStr, Reason]


REASON_IDS = ("over_monthly_cap", "outside_authorization", "team_size_unknown",
              "code_not_listed", "mixed_codes_in_month", "under_min_minutes", "group_only",
              "not_face_to_face", "not_member_or_family", "other_provider",
              "plan_policy_not_yet_issued", "place_of_service_missing")
# reasons a pack needs only when it has the parameter whose rule gives them
REASONS_OF_PARAMETERS = {"pos_restrictions": "place_of_service_excluded"}


def load_reasons(pack: PolicyPack) -> dict[str, Reason]:
    path = Path(pack.folder) / "reasons.yaml"
    reasons = validate_file(ReasonsFile, path).reasons
    wanted = [*REASON_IDS, *[reason for name, reason in REASONS_OF_PARAMETERS.items()
                             if name in pack.parameters]]
    missing = [r for r in wanted if r not in reasons]
    if missing:
        raise DataFileError(str(path), "key reasons", f"missing reason(s): {', '.join(missing)}")
    return reasons


def reason_table(packs: list[PolicyPack]) -> ir.Table:
    rows: dict[str, list[Any]] = {k: [] for k in (
        "policy_id", "reason_id", "reason_section", "reason_summary", "carc_group", "carc",
        "rarc", "reason_action")}
    for pack in packs:
        for reason_id, reason in load_reasons(pack).items():
            rows["policy_id"].append(pack.id)
            rows["reason_id"].append(reason_id)
            rows["reason_section"].append(reason.section)
            rows["reason_summary"].append(" ".join(reason.summary.split()))
            rows["carc_group"].append(reason.group)
            rows["carc"].append(reason.carc)
            rows["rarc"].append(";".join(reason.rarc))
            rows["reason_action"].append(" ".join(reason.action.split()) if reason.action
                                         else None)
    schema = pa.schema([(k, pa.string()) for k in rows])
    return ibis.memtable(pa.table(rows, schema=schema))


@dataclass(frozen=True)
class ListedCode:
    code: str
    description: str
    stop_date: dt.date | None


@dataclass(frozen=True)
class CodeCheck:
    reason_id: str
    kind: str  # CARC or RARC
    code: str
    status: str  # ok, missing, stopped
    description: str


def read_code_list(path: Path) -> dict[str, ListedCode]:
    """A CSV with columns code, description and optionally stop_date (YYYY-MM-DD). A bad row
    is an error for the file (one line naming file, row and field)."""
    codes: dict[str, ListedCode] = {}
    rows = small_csv_rows(path)
    _, header = next(rows, (1, []))
    header = [name.strip() for name in header]
    if not {"code", "description"} <= set(header):
        raise DataFileError(str(path), "row 1", "needs columns code and description")
    at = {name: header.index(name) for name in ("code", "description", "stop_date")
          if name in header}
    for number, fields in rows:
        problem = ragged(fields, header)
        if problem:
            raise DataFileError(str(path), f"row {number}", problem)
        row = {name: fields[i].strip() for name, i in at.items()}
        code = row["code"]
        if not code:
            raise DataFileError(str(path), f"row {number}", "field code: missing")
        stop = row.get("stop_date", "")
        try:
            stop_date = dt.date.fromisoformat(stop) if stop else None
        except ValueError:
            raise DataFileError(str(path), f"row {number}",
                                f"field stop_date: {stop!r} is not a date") from None
        codes[code] = ListedCode(code, row["description"], stop_date)
    return codes


def check_reasons(pack: PolicyPack, carc: dict[str, ListedCode],
                  rarc: dict[str, ListedCode] | None, on: dt.date) -> list[CodeCheck]:
    found: list[CodeCheck] = []
    for reason_id, reason in load_reasons(pack).items():
        # a hold for review has no CARC (nothing is denied), so nothing to check
        pairs = [("CARC", reason.carc, carc)] if reason.carc is not None else []
        if rarc is not None:
            pairs += [("RARC", code, rarc) for code in reason.rarc]
        for kind, code, listed in pairs:
            entry = listed.get(code)
            if entry is None:
                status, text = "missing", ""
            elif entry.stop_date is not None and entry.stop_date < on:
                status, text = "stopped", entry.description
            else:
                status, text = "ok", entry.description
            found.append(CodeCheck(reason_id, kind, code, status, text))
    return found
