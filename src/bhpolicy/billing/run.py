"""Run the billing rules on input files and write the outputs.

DuckDB is told to stay within a memory limit and spill to a temp directory, and results are
written by DuckDB straight to files, never pulled whole into Python, so inputs larger than
memory work.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir

from bhpolicy.billing.graph import (
    GraphSettings,
    Question,
    RawInput,
    bill_graph,
    date_span,
)
from bhpolicy.domain.parameters import parameter_table
from bhpolicy.domain.runs import (
    RunSettings,
    connect,
    distinct_values,
    engine_failures,
    open_spark,
    rows_read,
    store,
    store_dictionary,
    working_database,
)
from bhpolicy.errors import BhpolicyError
from bhpolicy.io.bounds import EARLIEST_DATE
from bhpolicy.io.columns import Column
from bhpolicy.io.outputs import (
    csv_ready,
    csv_records,
    describe_input,
    run_to_folder,
)
from bhpolicy.io.readers import load_raw_rejects
from bhpolicy.io.validate import Materialize
from bhpolicy.policy.model import PolicyPack
from bhpolicy.policy.registry import PolicyRegistry

if TYPE_CHECKING:
    from bhpolicy.domain.spark import SparkRun

OUTPUTS = ("lines", "member_months", "unbilled_days", "other_provider_contacts",
           "subscribers")


@dataclass
class BillInputs:
    contacts: Path
    members: Path
    authorizations: Path
    already_billed: Path | None = None


@dataclass
class BillSummary:
    out: Path
    counts: dict[str, int] = field(default_factory=dict)
    rejected_rows: int = 0
    files: list[Path] = field(default_factory=list)
    policies: list[dict[str, str]] = field(default_factory=list)  # packs used, revisions
    rows: dict[str, int] = field(default_factory=dict)  # rows read per input (manifest)


def run_billing(inputs: BillInputs, settings: RunSettings, registry: PolicyRegistry,
                step: Callable[[str], None] = lambda _: None) -> BillSummary:
    """Run the rules; an engine failure (out of memory, say) becomes one line naming the
    stage."""
    with engine_failures(settings, step) as tracked:
        if settings.engine.engine == "spark":
            return _run_on(open_spark(settings), inputs, settings, registry, tracked)
        with working_database(settings) as database:
            return _run(inputs, settings, registry, tracked, database)


def bill_to_folder(inputs: BillInputs, settings: RunSettings, registry: PolicyRegistry,
                   step: Callable[[str], None] = lambda _: None,
                   report: Callable[[Path, BillSummary], str] | None = None) -> BillSummary:
    """Bill into a staging folder beside ``settings.out`` (with ``report(folder, summary)``
    as report.html), write the manifest last and swap the folder into place: a failed or
    killed run leaves ``settings.out`` as it was."""
    return run_to_folder(
        settings.out, "bill",
        lambda staging: run_billing(inputs, replace(settings, out=staging), registry, step),
        lambda summary: {
            "as_of": settings.as_of.isoformat(), "policies": summary.policies,
            "inputs": {"contacts": describe_input(inputs.contacts),
                       "members": describe_input(inputs.members),
                       "authorizations": describe_input(inputs.authorizations),
                       "already_billed": describe_input(inputs.already_billed)},
            "counts": {**summary.counts, "rejected_rows": summary.rejected_rows},
            "rows": summary.rows},
        report, step)


class _FolderStages:
    """The folder run's :class:`~bhpolicy.billing.graph.Stages`: inputs read from files,
    stages stored in the run's database, questions answered by the data."""

    def __init__(self, con: ibis.BaseBackend, inputs: BillInputs, settings: RunSettings,
                 registry: PolicyRegistry) -> None:
        self.con, self.inputs, self.settings, self.registry = con, inputs, settings, registry

    def load(self, name: str, columns: tuple[Column, ...]) -> RawInput | None:
        path = getattr(self.inputs, name)
        if path is None:
            return None
        raw, unreadable = load_raw_rejects(self.con, path, name, columns)
        return RawInput(raw, unreadable, trim_text=path.suffix.lower() != ".parquet")

    def checked(self, name: str) -> Materialize | None:
        return self.con, name

    def store(self, name: str, table: ir.Table) -> ir.Table:
        return store(self.con, name, table)

    def dictionary(self, name: str, table: ir.Table) -> ir.Table:
        return store_dictionary(self.con, name, table)

    def drop(self, name: str) -> None:
        self.con.raw_sql(f'DROP TABLE "{name}"')

    def shared(self, name: str, table: ir.Table) -> ir.Table:
        return table  # streamed: each reader computes it again (see Stages.shared)

    def parameters(self, coverage: ir.Table, contacts_raw: ir.Table
                   ) -> tuple[ir.Table, list[PolicyPack]]:
        # the packs the authorizations use (all packs when none is usable, so outputs and
        # errors are still written)
        con, registry = self.con, self.registry
        used = [registry.get(p) for p in distinct_values(con, coverage.policy_id)] or \
            list(registry.packs)
        first, last = _date_range(con, con.table("contacts_raw"), coverage,
                                  self.settings.as_of)
        return store(con, "parameters", parameter_table(used, first, last)), used

    def any_row(self, question: Question, table: ir.Table) -> bool:
        return _count(self.con, table) > 0

    def few_rows(self) -> bool:
        return False


class _SparkStages(_FolderStages):
    """The folder run's stages on Spark (:mod:`bhpolicy.domain.spark`): inputs read by
    Spark, stages stored DataFrames (:meth:`SparkRun.store`), no ENUM dictionaries."""

    def __init__(self, run: SparkRun, inputs: BillInputs, settings: RunSettings,
                 registry: PolicyRegistry) -> None:
        super().__init__(run.con, inputs, settings, registry)
        self.run = run
        self.contacts_raw: ir.Table | None = None

    def load(self, name: str, columns: tuple[Column, ...]) -> RawInput | None:
        path = getattr(self.inputs, name)
        if path is None:
            return None
        raw, unreadable, trim = self.run.load(path, name, columns)
        if name == "contacts":
            self.contacts_raw = raw
        return RawInput(raw, unreadable, trim_text=trim)

    def checked(self, name: str) -> Materialize:
        # small inputs, checked once and stored: every stage reading them (coverage, the
        # member checks, the error rows, subscribers) reads the stored copy, not the file
        return functools.partial(self.run.store, f"{name}_checked")

    def store(self, name: str, table: ir.Table) -> ir.Table:
        return self.run.store(name, table)

    def dictionary(self, name: str, table: ir.Table) -> ir.Table:
        return self.run.store(name, table)

    def drop(self, name: str) -> None:
        self.run.drop(name)

    def parameters(self, coverage: ir.Table, contacts_raw: ir.Table
                   ) -> tuple[ir.Table, list[PolicyPack]]:
        con, registry = self.con, self.registry
        used = [registry.get(p) for p in distinct_values(con, coverage.policy_id)] or \
            list(registry.packs)
        first, last = _date_range(con, contacts_raw, coverage, self.settings.as_of)
        return self.run.store("parameters", parameter_table(used, first, last)), used

    def any_row(self, question: Question, table: ir.Table) -> bool:
        return self.run.count(table) > 0


def _run_on(run: SparkRun, inputs: BillInputs, settings: RunSettings,
            registry: PolicyRegistry, step: Callable[[str], None]) -> BillSummary:
    """:func:`_run` on Spark: the same graph, written by Spark as one file per output."""
    try:
        con = run.con
        graph = bill_graph(_SparkStages(run, inputs, settings, registry), registry,
                           GraphSettings(as_of=settings.as_of,
                                         missing_pos=settings.missing_pos,
                                         payer_ids=settings.payer_ids), step)
        summary = BillSummary(settings.out, policies=[
            {"id": p.id, "alias": p.alias, "revision": p.header.revision}
            for p in graph.policies])
        settings.out.mkdir(parents=True, exist_ok=True)
        for name, (table, order) in graph.outputs.items():
            step(f"writing {name.replace('_', ' ')}")
            for form in settings.formats:
                path = settings.out / f"{name}.{form}"
                if form == "parquet":
                    run.write(table, path, "parquet")
                else:
                    run.write(csv_ready(table), path, "csv", order)
                summary.files.append(path)
        step("writing errors")
        error_table = error_union(graph.errors)
        error_path = settings.out / "errors.csv"
        run.write(csv_ready(error_table), error_path, "csv", ["file", "row"])
        summary.files.append(error_path)

        step("counting")
        written = run.read_parquet(settings.out / "lines.parquet") if "parquet" in \
            settings.formats else graph.lines
        summary.counts = line_counts(con, written)
        summary.rejected_rows = csv_records(error_path)  # not the error rows checked again
        summary.rows = {name: run.rows[name] for name in
                        ["contacts", "members", "authorizations"] +
                        (["already_billed"] if inputs.already_billed else [])}
        return summary
    finally:
        run.close()


def error_union(errors: list[ir.Table]) -> ir.Table:
    return ibis.union(*[e.select("file", "row", "field", "reason", "value", "provider_id")
                        for e in errors])


def line_counts(con: ibis.BaseBackend, written: ir.Table) -> dict[str, int]:
    """Lines by status and the lines whose POS is the pack's default."""
    counts: dict[str, int] = {}
    by_status = written.group_by("status").aggregate(
        n=written.count(), defaulted=written.pos_defaulted.sum())
    defaulted = 0
    for row in con.to_pyarrow(by_status).to_pylist():
        counts[f"lines_{row['status']}"] = int(row["n"])
        defaulted += int(row["defaulted"] or 0)
    counts["pos_defaulted"] = defaulted
    return counts


def _run(inputs: BillInputs, settings: RunSettings, registry: PolicyRegistry,
         step: Callable[[str], None], database: Path | None) -> BillSummary:
    con = connect(settings, database)
    graph = bill_graph(_FolderStages(con, inputs, settings, registry), registry,
                       GraphSettings(as_of=settings.as_of, missing_pos=settings.missing_pos,
                                     payer_ids=settings.payer_ids), step)
    summary = BillSummary(settings.out, policies=[
        {"id": p.id, "alias": p.alias, "revision": p.header.revision} for p in graph.policies])
    settings.out.mkdir(parents=True, exist_ok=True)
    for name, (table, order) in graph.outputs.items():
        step(f"writing {name.replace('_', ' ')}")
        for form in settings.formats:
            path = settings.out / f"{name}.{form}"
            if form == "parquet":  # unsorted: sorting a state's lines costs more than it gives
                con.to_parquet(table, path)
            else:  # CSV is for people: sorted by member and date, formulas neutralised
                con.to_csv(csv_ready(table).order_by(order), path)
            summary.files.append(path)
    step("writing errors")
    error_table = ibis.union(*[e.select("file", "row", "field", "reason", "value",
                                        "provider_id")
                               for e in graph.errors]).order_by(["file", "row"])
    error_path = settings.out / "errors.csv"
    con.to_csv(csv_ready(error_table), error_path)
    summary.files.append(error_path)

    step("counting")
    written = con.read_parquet(settings.out / "lines.parquet") if "parquet" in \
        settings.formats else graph.lines
    by_status = written.group_by("status").aggregate(
        n=written.count(), defaulted=written.pos_defaulted.sum())
    defaulted = 0  # lines whose POS is the pack's default (no contact gave one)
    for row in con.to_pyarrow(by_status).to_pylist():
        summary.counts[f"lines_{row['status']}"] = int(row["n"])
        defaulted += int(row["defaulted"] or 0)
    summary.counts["pos_defaulted"] = defaulted
    summary.rejected_rows = csv_records(error_path)
    summary.rows = rows_read(con, ["contacts", "members", "authorizations"] +
                             (["already_billed"] if inputs.already_billed else []))
    con.disconnect()
    return summary


def _count(con: ibis.BaseBackend, table: ir.Table) -> int:
    return int(con.to_pyarrow(table.count().as_table()).column(0)[0].as_py())


def _date_range(con: ibis.BaseBackend, raw: ir.Table, coverage: ir.Table, as_of: dt.date
                ) -> tuple[dt.date, dt.date]:
    """First and last date of the contacts file (read as stored: Parquet answers from its
    statistics; unreadable dates are left to the checks) and of the authorizations, within
    the dates a contact may have (the readers' floor through the as-of date): one extreme
    date in a file is a rejected row, not a per-day table spanning centuries."""
    row = con.to_pyarrow(date_span(raw, coverage)).to_pylist()[0]
    if row["first"] is None:
        raise BhpolicyError("no contacts or authorizations to bill")
    first, last = max(row["first"], EARLIEST_DATE), min(row["last"], as_of)
    return (first, last) if first <= last else (as_of, as_of)
