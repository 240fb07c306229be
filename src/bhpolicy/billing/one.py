"""Bill one member's small tables in process, warm: the API's check of a member's month.

The graph of :func:`bhpolicy.billing.graph.bill_graph` (the folder run's, rule for rule) is
built once over named placeholder tables and compiled once to a list of DuckDB statements
(:class:`Plan`): each stage the folder run stores becomes a temporary table, and the
outputs and errors are SELECTs over them. A call registers the member's rows under the
placeholder names on one warm connection (a cursor per thread) and runs the statements;
nothing is written to disk. The packs' parameter table is built once (every day from the
readers' earliest date through a year past today) and filtered to the member's days by a
statement of the plan, as the folder run builds it for its days.

A plan is compiled once a process for each as-of date and variant (authorizations naming a
payer or not, the missing-POS setting); as-of is in it as the readers' bound on a date of
service.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import pyarrow as pa

from bhpolicy.billing.graph import (
    GraphSettings,
    Question,
    RawInput,
    bill_graph,
    date_span,
)
from bhpolicy.billing.params import PARAMETER_SCHEMA, parameter_table
from bhpolicy.errors import BhpolicyError
from bhpolicy.io.bounds import EARLIEST_DATE
from bhpolicy.io.readers import ALREADY_BILLED, AUTHORIZATIONS, CONTACTS, MEMBERS, Column
from bhpolicy.policy.model import PolicyPack
from bhpolicy.policy.registry import PolicyRegistry

Rows = Sequence[Mapping[str, Any]] | pa.Table
INPUTS: dict[str, tuple[Column, ...]] = {
    "contacts": CONTACTS, "members": MEMBERS, "authorizations": AUTHORIZATIONS,
    "already_billed": ALREADY_BILLED}
OUTPUTS = ("lines", "unbilled_days", "member_months")
PARAMETERS_AHEAD = dt.timedelta(days=366)  # how far past today the parameter table reaches


@dataclass(frozen=True)
class OneResult:
    """What the folder run writes for the member, as plain rows ordered by member and date:
    ``lines`` (lines.parquet's columns, ``payer_id`` too when an authorization names one),
    ``unbilled_days`` and ``member_months``; ``policies`` are the packs loaded (id, alias,
    revision)."""

    lines: list[dict[str, Any]]
    unbilled_days: list[dict[str, Any]]
    member_months: list[dict[str, Any]]
    policies: list[dict[str, str]]


class OneInputError(BhpolicyError):
    """A row of the member's tables the folder run would reject: the table, the row (from 1,
    in the order given), the field and the problem (never the value)."""

    def __init__(self, table: str, row: int, field: str, reason: str, more: int = 0) -> None:
        self.table, self.row, self.field, self.reason = table, row, field, reason
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        super().__init__(f"{table} row {row}, field {field}: {reason}{tail}")


@dataclass(frozen=True)
class Plan:
    """The compiled statements of one as-of date and variant: ``stages`` (temporary table
    name, SELECT) in order, then the ``errors`` SELECT (file, row, field, reason, in file
    and row order) and one SELECT per output."""

    as_of: dt.date
    stages: tuple[tuple[str, str], ...]
    errors: str
    outputs: dict[str, str]

    def statements(self) -> list[str]:
        """Every statement of a call, in order, as DuckDB runs it."""
        return ([f'CREATE OR REPLACE TEMP TABLE "{n}" AS {sql}' for n, sql in self.stages] +
                [self.errors, *self.outputs.values()])


def _arrow(table: ir.Table) -> pa.Table:
    """The rows of an in-memory Ibis table (a memtable), without running a query."""
    op = table.op()
    assert isinstance(op, ops.InMemoryTable)
    data: pa.Table = op.data.to_pyarrow(op.schema)
    return data


class _Compiling:
    """:class:`~bhpolicy.billing.graph.Stages` that build the plan: inputs are placeholders,
    each stored stage a placeholder of its own name, recorded in order."""

    def __init__(self, registry: PolicyRegistry, parameters: str, as_of: dt.date,
                 in_force_gaps: bool, with_payer: bool) -> None:
        self.registry, self.parameters_name, self.as_of = registry, parameters, as_of
        self.answers: dict[Question, bool] = {"not_in_force": in_force_gaps,
                                              "payer_id": with_payer}
        self.stages: list[tuple[str, ir.Table]] = []

    def load(self, name: str, columns: tuple[Column, ...]) -> RawInput | None:
        schema = {"_line": "int64", "_file": "string", **{c.name: "string" for c in columns}}
        return RawInput(ibis.table(schema, name=f"input_{name}"))

    def checked(self, name: str) -> None:
        return None

    def store(self, name: str, table: ir.Table) -> ir.Table:
        self.stages.append((name, table))
        return ibis.table(table.schema(), name=name)

    def dictionary(self, name: str, table: ir.Table) -> ir.Table:
        return self.store(name, table)

    def drop(self, name: str) -> None:
        return None

    def parameters(self, coverage: ir.Table, contacts_raw: ir.Table
                   ) -> tuple[ir.Table, list[PolicyPack]]:
        # the folder run's days (run._date_range), as a statement over the member's rows
        span = date_span(contacts_raw, coverage)
        first = ibis.ifelse(span["first"] < EARLIEST_DATE, EARLIEST_DATE, span["first"])
        last = ibis.ifelse(span["last"] > self.as_of, self.as_of, span["last"])
        agree = first <= last
        span = span.select(p_first=ibis.ifelse(agree, first, self.as_of),
                           p_last=ibis.ifelse(agree, last, self.as_of))
        every = ibis.table(PARAMETER_SCHEMA, name=self.parameters_name)
        days = every.cross_join(span)
        days = days.filter(days.day >= days.p_first, days.day <= days.p_last)
        return self.store("parameters", days.drop("p_first", "p_last")), \
            list(self.registry.packs)

    def any_row(self, question: Question, table: ir.Table) -> bool:
        return self.answers[question]


class Warm:
    """One registry's warm state: a DuckDB connection holding the parameter table and the
    plans' constant tables, the plans, and a cursor per thread."""

    def __init__(self, registry: PolicyRegistry) -> None:
        self.registry = registry
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET enable_progress_bar = false")
        self.lock = threading.Lock()
        self.plans: dict[tuple[dt.date, bool, str], Plan] = {}
        self.local = threading.local()
        self.through = dt.date.min
        self.in_force_gaps: dict[dt.date, bool] = {}
        self.policies = [{"id": p.id, "alias": p.alias, "revision": p.header.revision}
                         for p in registry.packs]

    def _parameters(self, as_of: dt.date) -> None:
        """Build the parameter table (under the lock) when it does not reach ``as_of``."""
        if as_of <= self.through:
            return
        through = max(as_of, dt.date.today() + PARAMETERS_AHEAD)
        table = _arrow(parameter_table(list(self.registry.packs), EARLIEST_DATE, through))
        self.con.register("parameters_rows", table)
        self.con.execute("CREATE OR REPLACE TABLE all_parameters AS "
                         "SELECT * FROM parameters_rows")
        self.con.unregister("parameters_rows")
        self.through = through
        self.in_force_gaps.clear()

    def plan(self, as_of: dt.date, with_payer: bool = False, missing_pos: str = "default"
             ) -> Plan:
        key = (as_of, with_payer, missing_pos)
        found = self.plans.get(key)
        if found is not None:
            return found
        with self.lock:
            if key not in self.plans:
                self.plans[key] = self._compile(as_of, with_payer, missing_pos)
            return self.plans[key]

    def _compile(self, as_of: dt.date, with_payer: bool, missing_pos: str) -> Plan:
        self._parameters(as_of)
        if as_of not in self.in_force_gaps:  # a day up to as_of without a value in force
            row = self.con.execute("SELECT count(*) FROM all_parameters WHERE day <= ? AND "
                                   "not_in_force IS NOT NULL", [as_of]).fetchall()
            self.in_force_gaps[as_of] = bool(row[0][0])
        stages = _Compiling(self.registry, "all_parameters", as_of, self.in_force_gaps[as_of],
                            with_payer)
        graph = bill_graph(stages, self.registry, GraphSettings(
            as_of=as_of, missing_pos=missing_pos))
        errors = ibis.union(*[e.select("file", "row", "field", "reason")
                              for e in graph.errors]).order_by(["file", "row"])
        outputs = {name: graph.outputs[name][0].order_by(graph.outputs[name][1])
                   for name in OUTPUTS}
        compiled: list[tuple[str, str]] = []
        for name, table in stages.stages:
            self._constants(table)
            compiled.append((name, ibis.to_sql(table, dialect="duckdb")))
        for table in (errors, *outputs.values()):
            self._constants(table)
        return Plan(as_of, tuple(compiled), ibis.to_sql(errors, dialect="duckdb"),
                    {name: ibis.to_sql(t, dialect="duckdb") for name, t in outputs.items()})

    def _constants(self, table: ir.Table) -> None:
        """The in-memory tables an expression reads (policy keys, numbers), as tables of the
        connection under the names its SQL gives them."""
        for op in table.op().find(ops.InMemoryTable):
            self.con.register("constant_rows", op.data.to_pyarrow(op.schema))
            self.con.execute(f'CREATE TABLE IF NOT EXISTS "{op.name}" AS '
                             "SELECT * FROM constant_rows")
            self.con.unregister("constant_rows")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (its temporary tables are its own)."""
        cursor: duckdb.DuckDBPyConnection | None = getattr(self.local, "cursor", None)
        if cursor is None:
            with self.lock:
                cursor = self.con.cursor()
            cursor.execute("SET threads = 1")  # rows are few: one thread plans and runs
            self.local.cursor = cursor
        return cursor

    def run(self, plan: Plan, tables: dict[str, pa.Table]) -> OneResult:
        cursor = self.cursor()
        for name, table in tables.items():
            cursor.register(f"input_{name}", table)
        try:
            for statement in plan.statements()[:len(plan.stages)]:
                cursor.execute(statement)
            problems = cursor.execute(plan.errors).fetchall()
            if problems:
                file, row, field, reason = problems[0]
                raise OneInputError(str(file), int(row), str(field), str(reason),
                                    more=len(problems) - 1)
            out = {name: cursor.sql(sql).to_arrow_table().to_pylist()
                   for name, sql in plan.outputs.items()}
        finally:
            for name in tables:
                cursor.unregister(f"input_{name}")
        return OneResult(out["lines"], out["unbilled_days"], out["member_months"],
                         self.policies)


_WARM: dict[int, tuple[PolicyRegistry, Warm]] = {}  # by registry (kept alive with it)
_WARM_LOCK = threading.Lock()


def warm_state(registry: PolicyRegistry) -> Warm:
    found = _WARM.get(id(registry))
    if found is None:
        with _WARM_LOCK:
            found = _WARM.setdefault(id(registry), (registry, Warm(registry)))
    return found[1]


def _text(value: Any) -> str | None:
    """A value as the CSV reader would see it (text), so the same checks apply."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()  # not a date: the check says so
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def input_table(name: str, rows: Rows) -> pa.Table:
    """``rows`` (mappings, or an Arrow table) as the placeholder ``input_<name>`` expects:
    ``_line`` (the row from 1), ``_file`` (the table's name) and every column as text; a
    column not given is null (missing, where it is required)."""
    columns = INPUTS[name]
    records = rows.to_pylist() if isinstance(rows, pa.Table) else rows
    data: dict[str, list[Any]] = {"_line": [], "_file": [],
                                  **{c.name: [] for c in columns}}
    for number, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            raise OneInputError(name, number, "(row)", "not an object of fields")
        data["_line"].append(number)
        data["_file"].append(name)
        for c in columns:
            data[c.name].append(_text(record.get(c.name)))
    fields: list[tuple[str, pa.DataType]] = [("_line", pa.int64()), ("_file", pa.string())]
    schema = pa.schema(fields + [(c.name, pa.string()) for c in columns])
    return pa.table(data, schema=schema)


def warm(registry: PolicyRegistry, as_of: dt.date | None = None) -> Warm:
    """Build the parameter table, compile the plan for ``as_of`` (default today) and run it
    once on empty tables, so the first member is billed at warm speed. The server calls it
    at start."""
    state = warm_state(registry)
    plan = state.plan(as_of or dt.date.today())
    state.run(plan, {name: input_table(name, []) for name in INPUTS})
    return state


def bill_one(contacts: Rows, members: Rows, authorizations: Rows, *,
             registry: PolicyRegistry, as_of: dt.date | None = None,
             already_billed: Rows | None = None, missing_pos: str = "default") -> OneResult:
    """Bill a member's contacts (or a few members'), as ``bhpolicy bill`` would with the
    same rows in its files, ``as_of`` (default today) bounding the dates of service.

    Rows are mappings of the input files' columns (values as text, or dates, whole numbers
    and booleans), or Arrow tables of them. A row the run would reject raises
    :class:`OneInputError` naming the table, row and field."""
    if missing_pos not in ("default", "hold"):
        raise BhpolicyError(f"missing_pos {missing_pos!r}: give default or hold")
    tables = {"contacts": input_table("contacts", contacts),
              "members": input_table("members", members),
              "authorizations": input_table("authorizations", authorizations),
              "already_billed": input_table("already_billed", already_billed or [])}
    if not tables["contacts"].num_rows and not tables["authorizations"].num_rows:
        raise BhpolicyError("no contacts or authorizations to bill")
    payers = tables["authorizations"].column("payer_id").to_pylist()
    with_payer = any(p is not None and p.strip() for p in payers)
    state = warm_state(registry)
    return state.run(state.plan(as_of or dt.date.today(), with_payer, missing_pos), tables)
