"""Run the billing rules on input files and write the outputs.

DuckDB is told to stay within a memory limit and spill to a temp directory, and results are
written by DuckDB straight to files, never pulled whole into Python, so inputs larger than
memory work.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa

from bhpolicy.billing import engine
from bhpolicy.billing.params import parameter_table, reason_table
from bhpolicy.errors import BhpolicyError
from bhpolicy.io.readers import (
    ALREADY_BILLED,
    AUTHORIZATIONS,
    CONTACTS,
    MEMBERS,
    Check,
    error_rows,
    read_validated,
)
from bhpolicy.policy.registry import PolicyRegistry

OUTPUTS = ("lines", "member_months", "unbilled_days", "other_provider_contacts",
           "subscribers")
SUBSCRIBER_COLUMNS = ("member_id", "medicaid_id", "last_name", "first_name", "birth_date",
                      "sex", "address_line", "city", "state", "zip", "primary_dx")


@dataclass
class BillInputs:
    contacts: Path
    members: Path
    authorizations: Path
    already_billed: Path | None = None


@dataclass
class BillSettings:
    out: Path
    formats: tuple[str, ...] = ("parquet", "csv")
    memory_limit: str = "2GB"
    threads: int | None = None
    temp_directory: Path | None = None


@dataclass
class BillSummary:
    out: Path
    counts: dict[str, int] = field(default_factory=dict)
    rejected_rows: int = 0
    files: list[Path] = field(default_factory=list)


def connect(settings: BillSettings) -> ibis.BaseBackend:
    con = ibis.duckdb.connect()
    temp = settings.temp_directory or Path(tempfile.gettempdir()) / "bhpolicy-duckdb"
    con.raw_sql(f"SET memory_limit = '{settings.memory_limit}'")
    con.raw_sql(f"SET temp_directory = '{temp}'")
    con.raw_sql("SET preserve_insertion_order = false")
    con.raw_sql("SET enable_progress_bar = false")  # the CLI shows its own stages
    if settings.threads:
        con.raw_sql(f"SET threads = {int(settings.threads)}")
    return con


def _policy_keys(registry: PolicyRegistry) -> ir.Table:
    keys: dict[str, list[str]] = {"key": [], "policy_id": []}
    for pack in registry.packs:
        for key in (pack.id.lower(), pack.alias.lower()):
            keys["key"].append(key)
            keys["policy_id"].append(pack.id)
    return ibis.memtable(pa.table(keys, schema=pa.schema([("key", pa.string()),
                                                          ("policy_id", pa.string())])))


def _empty_billed() -> ir.Table:
    schema = ibis.schema({"line_id": "string", "member_id": "string", "service_date": "date",
                          "hcpcs": "string", "provider_id": "string"})
    return ibis.memtable(schema.to_pyarrow().empty_table())


def run_billing(inputs: BillInputs, settings: BillSettings, registry: PolicyRegistry,
                step: Callable[[str], None] = lambda _: None) -> BillSummary:
    """Run the rules; a DuckDB failure (out of memory, say) becomes one line naming the stage."""
    stage = ["starting"]

    def tracked(text: str) -> None:
        stage[0] = text
        step(text)

    try:
        return _run(inputs, settings, registry, tracked)
    except duckdb.OutOfMemoryException:
        raise BhpolicyError(
            f"out of memory while {stage[0]} (DuckDB memory limit {settings.memory_limit}); "
            "give more with --memory-limit or use fewer --threads") from None
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise BhpolicyError(f"DuckDB failed while {stage[0]}: {first}") from None


def _run(inputs: BillInputs, settings: BillSettings, registry: PolicyRegistry,
         step: Callable[[str], None]) -> BillSummary:
    con = connect(settings)
    step("reading inputs")
    members, member_errors = read_validated(con, inputs.members, "members", MEMBERS)
    auths, auth_errors = read_validated(con, inputs.authorizations, "authorizations",
                                        AUTHORIZATIONS)
    known = members.select(known_member=members.member_id).distinct()
    authorized = auths.select(auth_member=auths.member_id).distinct()

    def member_checks(t: ir.Table) -> tuple[ir.Table, list[Check]]:
        t = t.left_join(known, t.__typed_member_id == known.known_member)
        t = t.left_join(authorized, t.__typed_member_id == authorized.auth_member)
        return t, [(t.known_member.isnull(), "member_id",
                    "unknown member (not in the members file)"),
                   (t.auth_member.isnull(), "member_id", "member has no authorization")]

    # Not materialized: the good rows and the error rows are two filtered scans of the file,
    # each checking fields and members in one pass (cheaper than copying every contact).
    contacts, contact_errors = read_validated(con, inputs.contacts, "contacts", CONTACTS,
                                              materialize=False, extra=member_checks)
    errors: list[ir.Table] = [contact_errors, member_errors, auth_errors]
    if inputs.already_billed is not None:
        billed, billed_errors = read_validated(con, inputs.already_billed, "already_billed",
                                               ALREADY_BILLED, materialize=False)
        errors.append(billed_errors)
        billed = billed.drop("_file", "_line")
    else:
        billed = _empty_billed()

    step("checking authorizations")
    coverage, member_policy, coverage_errors = engine.prepare_authorizations(
        auths, _policy_keys(registry))
    errors.append(coverage_errors)
    con.create_table("coverage", coverage, temp=True)
    coverage = con.table("coverage")

    step("building parameter tables")
    # the packs the authorizations use (all packs when none is usable, so outputs and errors
    # are still written)
    used = [registry.get(p) for p in _distinct(con, coverage.policy_id)] or list(registry.packs)
    first, last = _date_range(con, con.table("contacts_raw"), coverage)
    params = parameter_table(used, first, last)
    con.create_table("parameters", params, temp=True)
    params = con.table("parameters")
    reasons = reason_table(used)

    step("qualifying contacts and days")
    # streamed, not stored: the member-day totals, the other-provider contacts and the
    # not-in-force errors are each one scan of the contacts
    qualified = engine.qualify_contacts(contacts, coverage, member_policy, params)
    step("member-days")
    if _count(con, params.filter(params.not_in_force.notnull())):  # else skip the scan
        errors.append(error_rows(qualified, qualified.not_in_force.notnull(), "contact_date",
                                 qualified.not_in_force))
        qualified = qualified.filter(qualified.not_in_force.isnull())
    other_provider = qualified.filter(qualified.level == 1).select(
        "contact_id", "member_id", "provider_id", "contact_date", "minutes", "mode",
        "participant", authorized_provider=qualified.auth_provider,
        authorization_id=qualified.authorization_id, row=qualified._line,
        file=qualified._file)
    days = engine.member_days(qualified)
    con.create_table("member_day_totals", days, temp=True)
    days = con.table("member_day_totals")
    step("classifying days")
    facts = engine.day_facts(days, coverage, params)
    con.create_table("day_facts", facts, temp=True)
    step("month rules")
    classified = engine.classify_days(con.table("day_facts"), billed, params)
    con.create_table("member_days", classified, temp=True)
    classified = con.table("member_days")

    step("writing outputs")
    # lines carry ids; the member (subscriber) fields an 837P needs are written once a member
    # in `subscribers`, not repeated on every line
    line_table = engine.lines(classified, reasons, params)
    tables = {
        "lines": (line_table, ["member_id", "service_date"]),
        "member_months": (engine.member_months(classified, coverage, params),
                          ["member_id", "month"]),
        "unbilled_days": (engine.unbilled_days(classified, reasons),
                          ["member_id", "service_date"]),
        "other_provider_contacts": (other_provider, ["member_id", "contact_date"]),
        "subscribers": (members.select(*SUBSCRIBER_COLUMNS), ["member_id"]),
    }
    settings.out.mkdir(parents=True, exist_ok=True)
    summary = BillSummary(settings.out)
    for name, (table, order) in tables.items():
        step(f"writing {name.replace('_', ' ')}")
        for form in settings.formats:
            path = settings.out / f"{name}.{form}"
            if form == "parquet":  # unsorted: sorting a state's lines costs more than it gives
                con.to_parquet(table, path)
            else:  # CSV is for people: sorted by member and date
                con.to_csv(table.order_by(order), path)
            summary.files.append(path)
    step("writing errors")
    error_table = ibis.union(*[e.select("file", "row", "field", "reason", "value")
                               for e in errors]).order_by(["file", "row"])
    error_path = settings.out / "errors.csv"
    con.to_csv(error_table, error_path)
    summary.files.append(error_path)

    step("counting")
    written = con.read_parquet(settings.out / "lines.parquet") if "parquet" in \
        settings.formats else line_table
    by_status = written.group_by("status").aggregate(n=written.count())
    for row in con.to_pyarrow(by_status).to_pylist():
        summary.counts[f"lines_{row['status']}"] = int(row["n"])
    summary.rejected_rows = _count(con, con.read_csv(error_path, all_varchar=True))
    con.disconnect()
    return summary


def _count(con: ibis.BaseBackend, table: ir.Table) -> int:
    return int(con.to_pyarrow(table.count().as_table()).column(0)[0].as_py())


def _distinct(con: ibis.BaseBackend, column: ir.Column) -> list[str]:
    table = column.name("value").as_table().distinct()
    return sorted(str(v) for v in con.to_pyarrow(table).column("value").to_pylist())


def _date_range(con: ibis.BaseBackend, raw: ir.Table, coverage: ir.Table
                ) -> tuple[dt.date, dt.date]:
    """First and last date of the contacts file (read as stored: Parquet answers from its
    statistics; unreadable dates are left to the checks) and of the authorizations."""
    date = raw.contact_date
    if not date.type().is_date():
        date = date.cast("string").strip().try_cast("date")
    span = ibis.union(
        raw.select(first=date.min(), last=date.max()),
        coverage.select(first=coverage.effective_start.truncate("M").min(),
                        last=coverage.end_date.max()))
    row = con.to_pyarrow(span.aggregate(first=span["first"].min(), last=span["last"].max())
                         ).to_pylist()[0]
    if row["first"] is None:
        raise BhpolicyError("no contacts or authorizations to bill")
    return row["first"], row["last"]
