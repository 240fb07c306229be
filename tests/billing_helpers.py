"""Run the billing engine on small hand-written inputs and read its outputs back."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from bhpolicy.billing.run import BillInputs, BillSummary, bill_to_folder
from bhpolicy.domain.runs import RunSettings
from bhpolicy.policy import load_registry
from tests.support.dates import AS_OF

SC_NPI, MN_NPI, OTHER_NPI, AGENCY = "1234567893", "1999999984", "1111111116", "0000000555"
CONTACT_FIELDS = ["contact_id", "member_id", "provider_id", "staff_id", "contact_date",
                  "minutes", "mode", "participant", "group", "pos"]
MEMBER_FIELDS = ["member_id", "medicaid_id", "last_name", "first_name", "birth_date", "sex",
                 "address_line", "city", "state", "zip", "primary_dx"]
AUTH_FIELDS = ["authorization_id", "member_id", "policy", "provider_id", "team_size",
               "start_date", "end_date", "billing_code", "contributing_provider_ids"]


def member(member_id: str = "M1", **fields: Any) -> dict[str, Any]:
    return {"member_id": member_id, "medicaid_id": "0012345678", "last_name": "Doe",
            "first_name": "Jane", "birth_date": "1980-01-02", "sex": "F",
            "address_line": "1 Main St", "city": "Columbia", "state": "SC",
            "zip": "292010001", "primary_dx": "F20.0", **fields}


def auth(authorization_id: str = "A1", member_id: str = "M1", policy: str = "sc-act",
         provider_id: str = SC_NPI, team_size: str = "small", start: str = "2026-03-01",
         end: str = "2026-04-30", billing_code: str = "", contributing: str = ""
         ) -> dict[str, Any]:
    return {"authorization_id": authorization_id, "member_id": member_id, "policy": policy,
            "provider_id": provider_id, "team_size": team_size, "start_date": start,
            "end_date": end, "billing_code": billing_code,
            "contributing_provider_ids": contributing}


_ids = iter(range(1, 10**9))


def contact(day: str, minutes: int = 30, mode: str = "in_person", participant: str = "member",
            group: bool = False, pos: str = "12", provider_id: str = SC_NPI,
            member_id: str = "M1") -> dict[str, Any]:
    return {"contact_id": f"C{next(_ids)}", "member_id": member_id, "provider_id": provider_id,
            "staff_id": "S1", "contact_date": day, "minutes": minutes, "mode": mode,
            "participant": participant, "group": "true" if group else "false", "pos": pos}


def days(month: str, first: int, last: int, **kwargs: Any) -> list[dict[str, Any]]:
    return [contact(f"{month}-{d:02d}", **kwargs) for d in range(first, last + 1)]


def write_csv(path: Path, fields: list[str], rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@dataclass
class Billed:
    out: Path
    lines: list[dict[str, Any]]
    unbilled: list[dict[str, Any]]
    months: list[dict[str, Any]]
    other_provider: list[dict[str, Any]]
    errors: list[dict[str, str]]
    rejected: int
    summary: BillSummary

    def billable_days(self) -> list[str]:
        return [str(r["service_date"]) for r in self.lines if r["status"] == "billable"]

    def line(self, day: str) -> dict[str, Any]:
        return next(r for r in self.lines if str(r["service_date"]) == day)

    def no_line(self, day: str) -> dict[str, Any]:
        return next(r for r in self.unbilled if str(r["service_date"]) == day)

    def month(self, member_id: str, month: str) -> dict[str, Any]:
        return next(r for r in self.months if r["member_id"] == member_id and
                    str(r["month"]).startswith(month))


def run(tmp_path: Path, contacts: list[dict[str, Any]],
        members: list[dict[str, Any]] | None = None,
        auths: list[dict[str, Any]] | None = None,
        already_billed: list[dict[str, Any]] | None = None, name: str = "run",
        missing_pos: str = "default") -> Billed:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    inputs = BillInputs(
        contacts=write_csv(folder / "contacts.csv", CONTACT_FIELDS, contacts),
        members=write_csv(folder / "members.csv", MEMBER_FIELDS, members or [member()]),
        authorizations=write_csv(folder / "authorizations.csv", AUTH_FIELDS,
                                 auths or [auth()]))
    if already_billed is not None:
        inputs.already_billed = write_csv(
            folder / "already_billed.csv",
            ["line_id", "member_id", "service_date", "hcpcs", "provider_id"], already_billed)
    out = folder / "out"
    summary = bill_to_folder(inputs, RunSettings(out=out, formats=("parquet",), as_of=AS_OF,
                                                 missing_pos=missing_pos), load_registry())

    def read(name: str, order: str) -> list[dict[str, Any]]:
        cursor = duckdb.execute(f"SELECT * FROM '{out / name}.parquet' ORDER BY {order}")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    with (out / "errors.csv").open() as handle:
        errors = list(csv.DictReader(handle))
    return Billed(out, read("lines", "member_id, service_date"),
                  read("unbilled_days", "member_id, service_date"),
                  read("member_months", "member_id, month"),
                  read("other_provider_contacts", "member_id, contact_date, contact_id"),
                  errors, summary.rejected_rows, summary)
