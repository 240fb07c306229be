"""Bill one member's small tables in process, warm: the API's check of a member's month.

The graph of :func:`bhpolicy.billing.graph.bill_graph` (the folder run's, rule for rule) is
built once over named placeholder tables and compiled once into ONE DuckDB statement
(:class:`Plan`): the member's tables are its parameters (a list of values per column), each
stage the folder run stores is a common table expression, the packs' tables (the parameter
table as ranges of days with the same values, policy keys, reasons, the engine's small code
tables) are literal rows in it, and it returns one row: the number of rejected rows, the
first of them, and each output as a list of rows in the order the folder run writes them.

The statement is PREPAREd once on each cursor of a small pool and every call only EXECUTEs
it. It reads no table of the catalog on purpose: DuckDB binds, plans and optimizes a
prepared statement again on every EXECUTE once it reads a catalog table (measured: the
same cost as running the SQL text afresh), but not one that reads only parameters and
literals; that bind and plan was nearly all of a call's time. Nothing is written to disk and
no call changes the catalog, so calls leave nothing behind for the next one.

A plan is compiled once a process for each as-of date and variant (authorizations naming a
payer or not, the missing-POS setting); as-of is in it as the readers' bound on a date of
service.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
from bhpolicy.domain.parameters import PARAMETER_SCHEMA, parameter_table
from bhpolicy.errors import BhpolicyError
from bhpolicy.io.bounds import EARLIEST_DATE
from bhpolicy.io.columns import ALREADY_BILLED, AUTHORIZATIONS, CONTACTS, MEMBERS, Column
from bhpolicy.policy.model import PolicyPack
from bhpolicy.policy.registry import PolicyRegistry

Rows = Sequence[Mapping[str, Any]] | pa.Table
INPUTS: dict[str, tuple[Column, ...]] = {
    "contacts": CONTACTS, "members": MEMBERS, "authorizations": AUTHORIZATIONS,
    "already_billed": ALREADY_BILLED}
OUTPUTS = ("lines", "unbilled_days", "member_months")
PARAMETERS_AHEAD = dt.timedelta(days=366)  # how far past today the parameter table reaches
# cursors (each with the plans prepared on it) shared by the calling threads: a call holds
# one while it runs, so this many calls run at once and the others wait for one
POOL_SIZE = max(1, min(4, os.cpu_count() or 1))
RANGES = "parameter_ranges"  # the parameter table's literal rows: a row per run of days
RANGE_SCHEMA = {**{k: v for k, v in PARAMETER_SCHEMA.items() if k != "day"},
                "first_day": "date", "last_day": "date"}
_SQL_TYPES = {pa.string(): "VARCHAR", pa.large_string(): "VARCHAR", pa.int64(): "BIGINT",
              pa.int32(): "INTEGER", pa.int16(): "SMALLINT", pa.int8(): "TINYINT",
              pa.bool_(): "BOOLEAN", pa.date32(): "DATE", pa.float64(): "DOUBLE"}


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
    """The compiled statement of one as-of date and variant. ``stages`` are its common table
    expressions (name, SELECT) in order, the stored stages of the folder run among them;
    ``sql`` is the whole statement, whose parameters are ``inputs`` (input table, column,
    SQL type of the list) in order; it returns ``errors`` (how many rejected rows),
    ``first_error`` (file, row, field, reason) and one list of rows per output. ``name`` is
    its prepared name on a cursor."""

    as_of: dt.date
    name: str
    stages: tuple[tuple[str, str], ...]
    inputs: tuple[tuple[str, str, str], ...]
    sql: str

    def execute(self, tables: Mapping[str, Mapping[str, list[Any]]]) -> str:
        """The EXECUTE statement for the member's columns (``tables[name][column]``)."""
        args = [f"CAST([{', '.join(_sql_value(v, sql_type) for v in tables[t][c])}] "
                f"AS {sql_type}[])" for t, c, sql_type in self.inputs]
        return f'EXECUTE "{self.name}"({", ".join(args)})'


def _arrow(table: ir.Table) -> pa.Table:
    """The rows of an in-memory Ibis table (a memtable), without running a query."""
    op = table.op()
    assert isinstance(op, ops.InMemoryTable)
    data: pa.Table = op.data.to_pyarrow(op.schema)
    return data


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_value(value: Any, sql_type: str) -> str:
    """One value as a SQL literal of ``sql_type`` (a NUL character is kept, as chr(0))."""
    if value is None:
        return "NULL"
    if sql_type == "VARCHAR":
        text = "'" + str(value).replace("'", "''") + "'"
        return text.replace("\x00", "' || chr(0) || '")
    if sql_type == "BOOLEAN":
        return "TRUE" if value else "FALSE"
    if sql_type == "DATE":
        return f"DATE '{value.isoformat()}'"
    if sql_type == "DOUBLE":
        return f"CAST('{float(value)!r}' AS DOUBLE)"
    return str(int(value))


def literal_rows(table: pa.Table) -> str:
    """A SELECT of ``table``'s rows written out as typed literals (no table is read)."""
    types = []
    for f in table.schema:
        if f.type not in _SQL_TYPES:
            raise TypeError(f"column {f.name}: no literal for {f.type}")
        types.append(_SQL_TYPES[f.type])
    if not table.num_rows:
        nulls = [f"CAST(NULL AS {t}) AS {_quote(f.name)}"
                 for f, t in zip(table.schema, types, strict=True)]
        return f"SELECT {', '.join(nulls)} WHERE FALSE"
    columns = [c.to_pylist() for c in table.columns]
    rows = ["(" + ", ".join(f"CAST({_sql_value(v, t)} AS {t})"
                            for v, t in zip(row, types, strict=True)) + ")"
            for row in zip(*columns, strict=True)]
    names = ", ".join(_quote(n) for n in table.column_names)
    return f"SELECT * FROM (VALUES {', '.join(rows)}) AS v({names})"


class _Compiling:
    """:class:`~bhpolicy.billing.graph.Stages` that build the plan: inputs are placeholders,
    each stored stage a placeholder of its own name, recorded in order (as an expression, or
    as SQL written here)."""

    def __init__(self, registry: PolicyRegistry, as_of: dt.date, in_force_gaps: bool,
                 with_payer: bool, with_billed: bool) -> None:
        self.registry, self.as_of, self.with_billed = registry, as_of, with_billed
        self.answers: dict[Question, bool] = {"not_in_force": in_force_gaps,
                                              "payer_id": with_payer}
        self.stages: list[tuple[str, ir.Table | str]] = []

    def load(self, name: str, columns: tuple[Column, ...]) -> RawInput | None:
        if name == "already_billed" and not self.with_billed:
            return None  # as the folder run without --already-billed: no rows, no checks
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

    def shared(self, name: str, table: ir.Table) -> ir.Table:
        return self.store(name, table)  # the member's few rows: one CTE, read by each

    def parameters(self, coverage: ir.Table, contacts_raw: ir.Table
                   ) -> tuple[ir.Table, list[PolicyPack]]:
        # the folder run's days (run._date_range), as a statement over the member's rows
        span = date_span(contacts_raw, coverage)
        first = ibis.ifelse(span["first"] < EARLIEST_DATE, EARLIEST_DATE, span["first"])
        last = ibis.ifelse(span["last"] > self.as_of, self.as_of, span["last"])
        agree = first <= last
        self.store("parameter_span", span.select(p_first=ibis.ifelse(agree, first, self.as_of),
                                                 p_last=ibis.ifelse(agree, last, self.as_of)))
        # every day of the span, each with the values of the run of days it falls in
        day = ('CAST(unnest(generate_series(greatest(r.first_day, s.p_first), '
               'least(r.last_day, s.p_last), INTERVAL 1 DAY)) AS DATE)')
        columns = ", ".join(f"{day} AS day" if name == "day" else f"r.{_quote(name)}"
                            for name in PARAMETER_SCHEMA)
        self.stages.append(("parameters", f'SELECT {columns} FROM "{RANGES}" AS r CROSS JOIN '
                            '"parameter_span" AS s WHERE r.first_day <= s.p_last AND '
                            'r.last_day >= s.p_first'))
        return ibis.table(PARAMETER_SCHEMA, name="parameters"), list(self.registry.packs)

    def any_row(self, question: Question, table: ir.Table) -> bool:
        return self.answers[question]

    def few_rows(self) -> bool:
        return True


@dataclass
class _Cursor:
    """A connection of the pool and the plans prepared on it."""

    con: duckdb.DuckDBPyConnection
    prepared: set[str] = field(default_factory=set)


class Warm:
    """One registry's warm state: the packs' parameter table as ranges, the plans, and a
    pool of cursors with the plans prepared on them."""

    def __init__(self, registry: PolicyRegistry, pool_size: int = POOL_SIZE) -> None:
        self.registry = registry
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET enable_progress_bar = false")
        self.lock = threading.Lock()
        self.plans: dict[tuple[dt.date, bool, str, bool], Plan] = {}
        self.pool: queue.LifoQueue[_Cursor] = queue.LifoQueue()
        self.pool_size, self.cursors = pool_size, 0
        self.through = dt.date.min
        self.ranges: pa.Table | None = None
        self.in_force_gaps: dict[dt.date, bool] = {}
        self.policies = [{"id": p.id, "alias": p.alias, "revision": p.header.revision}
                         for p in registry.packs]

    def _parameters(self, as_of: dt.date) -> pa.Table:
        """The parameter table as runs of days with the same values (built under the lock
        when it does not reach ``as_of``): a day before the first or after the last day of
        the table has no row, as in the table."""
        if as_of > self.through or self.ranges is None:
            through = max(as_of, dt.date.today() + PARAMETERS_AHEAD)
            table = _arrow(parameter_table(list(self.registry.packs), EARLIEST_DATE, through))
            values = ", ".join(_quote(n) for n in RANGE_SCHEMA if n not in ("first_day",
                                                                          "last_day"))
            # consecutive days of one set of values share day - (their rank in the set)
            self.con.register("parameters_rows", table)
            try:
                self.ranges = self.con.sql(
                    f"SELECT {values}, min(day) AS first_day, max(day) AS last_day FROM ("
                    f"SELECT *, day - CAST(row_number() OVER (PARTITION BY {values} "
                    f"ORDER BY day) AS INTEGER) AS run FROM parameters_rows) "
                    f"GROUP BY {values}, run ORDER BY policy_id, first_day").to_arrow_table()
            finally:
                self.con.unregister("parameters_rows")
            self.through = through
            self.in_force_gaps.clear()
        assert self.ranges is not None
        return self.ranges

    def plan(self, as_of: dt.date, with_payer: bool = False, missing_pos: str = "default",
             with_billed: bool = False) -> Plan:
        key = (as_of, with_payer, missing_pos, with_billed)
        found = self.plans.get(key)
        if found is not None:
            return found
        with self.lock:
            if key not in self.plans:
                self.plans[key] = self._compile(as_of, with_payer, missing_pos, with_billed,
                                                len(self.plans))
            return self.plans[key]

    def _compile(self, as_of: dt.date, with_payer: bool, missing_pos: str, with_billed: bool,
                 number: int) -> Plan:
        ranges = self._parameters(as_of)
        if as_of not in self.in_force_gaps:  # a day up to as_of without a value in force
            self.in_force_gaps[as_of] = any(
                r["not_in_force"] is not None and r["first_day"] <= as_of
                for r in ranges.select(["first_day", "not_in_force"]).to_pylist())
        stages = _Compiling(self.registry, as_of, self.in_force_gaps[as_of], with_payer,
                            with_billed)
        graph = bill_graph(stages, self.registry, GraphSettings(
            as_of=as_of, missing_pos=missing_pos))
        errors = ibis.union(*[e.select("file", "row", "field", "reason")
                              for e in graph.errors])
        ctes: list[tuple[str, str]] = []
        inputs: list[tuple[str, str, str]] = []
        for name, columns in INPUTS.items():
            if name == "already_billed" and not with_billed:
                continue
            selects = []
            for column, sql_type in [("_line", "BIGINT"), ("_file", "VARCHAR"),
                                     *[(c.name, "VARCHAR") for c in columns]]:
                inputs.append((name, column, sql_type))
                selects.append(f"unnest(${len(inputs)}::{sql_type}[]) AS {_quote(column)}")
            ctes.append((f"input_{name}", f"SELECT {', '.join(selects)}"))
        ctes.append((RANGES, literal_rows(ranges)))
        constants: dict[str, str] = {}
        compiled: list[tuple[str, str]] = []
        for name, stage in [*stages.stages, ("all_errors", errors),
                            *[(f"out_{n}", graph.outputs[n][0]) for n in OUTPUTS]]:
            if isinstance(stage, str):
                compiled.append((name, stage))
                continue
            for op in stage.op().find(ops.InMemoryTable):
                constants.setdefault(op.name, literal_rows(op.data.to_pyarrow(op.schema)))
            compiled.append((name, ibis.to_sql(stage, dialect="duckdb")))
        ctes += [*constants.items(), *compiled]
        lists = ", ".join(
            f"(SELECT list(o ORDER BY {', '.join('o.' + _quote(c) for c in graph.outputs[n][1])})"
            f" FROM {_quote('out_' + n)} AS o) AS {_quote(n)}" for n in OUTPUTS)
        sql = ("WITH " + ",\n".join(f"{_quote(n)} AS {MATERIALIZE}({body})" if n in dict(
            stages.stages) else f"{_quote(n)} AS ({body})" for n, body in ctes) +
               '\nSELECT (SELECT count(*) FROM "all_errors") AS errors, '
               '(SELECT e FROM "all_errors" AS e ORDER BY e."file", e."row" LIMIT 1) '
               f"AS first_error, {lists}")
        return Plan(as_of, f"bill_one_{number}", tuple(ctes), tuple(inputs), sql)

    @contextlib.contextmanager
    def cursor(self) -> Iterator[_Cursor]:
        """A cursor of the pool, for one call (waits while every cursor is in a call)."""
        try:
            cursor = self.pool.get_nowait()
        except queue.Empty:
            with self.lock:  # the base connection is only used under the lock
                grow = self.cursors < self.pool_size
                self.cursors += grow
                if grow:
                    cursor = _Cursor(self.con.cursor())
            if grow:
                cursor.con.execute("SET threads = 1")  # rows are few: one thread runs
            else:
                cursor = self.pool.get()
        try:
            yield cursor
        finally:
            self.pool.put(cursor)

    def prepare(self, cursor: _Cursor, plan: Plan) -> None:
        if plan.name not in cursor.prepared:
            cursor.con.execute(f'PREPARE "{plan.name}" AS {plan.sql}')
            cursor.prepared.add(plan.name)

    def run(self, plan: Plan, tables: Mapping[str, Mapping[str, list[Any]]]) -> OneResult:
        statement = plan.execute(tables)
        with self.cursor() as cursor:
            self.prepare(cursor, plan)
            row = cursor.con.execute(statement).fetchone()
        assert row is not None
        problems, first, *out = row
        if problems:
            raise OneInputError(str(first["file"]), int(first["row"]), str(first["field"]),
                                str(first["reason"]), more=int(problems) - 1)
        lines, unbilled, months = (rows or [] for rows in out)
        return OneResult(lines, unbilled, months, self.policies)


MATERIALIZE = ""  # a stored stage as DuckDB chooses (MATERIALIZED measured no faster)


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


def input_columns(name: str, rows: Rows) -> dict[str, list[Any]]:
    """``rows`` (mappings, or an Arrow table) as the input ``input_<name>`` of a plan takes
    them, column by column: ``_line`` (the row from 1), ``_file`` (the table's name) and
    every column as text; a column not given is null (missing, where it is required)."""
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
            text = _text(record.get(c.name))
            if text is not None and not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise OneInputError(name, number, c.name, "not valid text") from None
            data[c.name].append(text)
    return data


def input_table(name: str, rows: Rows) -> pa.Table:
    """:func:`input_columns` as an Arrow table."""
    data = input_columns(name, rows)
    fields: list[tuple[str, pa.DataType]] = [("_line", pa.int64()), ("_file", pa.string())]
    schema = pa.schema(fields + [(c.name, pa.string()) for c in INPUTS[name]])
    return pa.table(data, schema=schema)


def warm(registry: PolicyRegistry, as_of: dt.date | None = None) -> Warm:
    """Build the parameter table, compile the plan for ``as_of`` (default today), prepare it
    on every cursor of the pool and run it once on empty tables, so the first members are
    billed at warm speed. The server calls it at start."""
    state = warm_state(registry)
    plan = state.plan(as_of or dt.date.today())
    empty = {name: input_columns(name, []) for name in INPUTS}
    with contextlib.ExitStack() as stack:  # hold every cursor, so each one is prepared
        for _ in range(state.pool_size):
            cursor = stack.enter_context(state.cursor())
            state.prepare(cursor, plan)
            cursor.con.execute(plan.execute(empty)).fetchall()
    return state


def bill_one(contacts: Rows, members: Rows, authorizations: Rows, *,
             registry: PolicyRegistry, as_of: dt.date | None = None,
             already_billed: Rows | None = None, missing_pos: str = "default") -> OneResult:
    """Bill a member's contacts (or a few members'), as ``bhpolicy bill`` would with the
    same rows in its files, ``as_of`` (default today) bounding the dates of service.

    Rows are mappings of the input files' columns (values as text, or dates, whole numbers
    and booleans), or Arrow tables of them. A row the run would reject raises
    :class:`OneInputError` naming the table, row and field. Calls may come from several
    threads at once."""
    if missing_pos not in ("default", "hold"):
        raise BhpolicyError(f"missing_pos {missing_pos!r}: give default or hold")
    tables = {"contacts": input_columns("contacts", contacts),
              "members": input_columns("members", members),
              "authorizations": input_columns("authorizations", authorizations),
              "already_billed": input_columns("already_billed", already_billed or [])}
    if not tables["contacts"]["_line"] and not tables["authorizations"]["_line"]:
        raise BhpolicyError("no contacts or authorizations to bill")
    with_payer = any(p is not None and p.strip() for p in tables["authorizations"]["payer_id"])
    state = warm_state(registry)
    plan = state.plan(as_of or dt.date.today(), with_payer, missing_pos,
                      with_billed=bool(tables["already_billed"]["_line"]))
    return state.run(plan, tables)
