"""How a billing or audit run is set up: its settings, the DuckDB connection with its limits,
stored tables, engine failures as one line, and rows read. Shared by billing and the audit.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import ibis
import ibis.expr.types as ir

from bhpolicy.engines import EngineSettings, dialect, spark_failures
from bhpolicy.errors import BhpolicyError

if TYPE_CHECKING:
    from bhpolicy.domain.spark import SparkRun


@dataclass
class RunSettings:
    """How a billing or audit run reads, computes and writes: its output folder and formats,
    the engine and its limits, the as-of date."""


    out: Path
    formats: tuple[str, ...] = ("parquet", "csv")
    memory_limit: str = "2GB"
    threads: int | None = None
    temp_directory: Path | None = None
    store: str = "memory"  # memory | disk ("auto" is memory; see working_database)
    # dates of service after this are rejected (a future day cannot be billed)
    as_of: dt.date = field(default_factory=dt.date.today)
    missing_pos: str = "default"  # default | hold: a line whose POS is the pack's default
    # the payers of the submitter config (``bill --config``): an authorization naming another
    # payer is rejected; None when no config was given (any payer_id is kept as it is)
    payer_ids: frozenset[str] | None = None
    # the engine (DuckDB, or Spark with its master and configuration: bhpolicy.engines)
    engine: EngineSettings = field(default_factory=EngineSettings)


def connect(settings: RunSettings, database: Path | None = None) -> ibis.BaseBackend:
    """A DuckDB connection with the run's limits. With ``database`` (a file that
    :func:`working_database` names) the tables a run stores are kept compressed in that file
    and can leave memory, so a run larger than the memory limit still finishes."""
    con = ibis.duckdb.connect(str(database) if database else ":memory:")
    temp = settings.temp_directory or Path(tempfile.gettempdir()) / "bhpolicy-duckdb"
    con.raw_sql(f"SET memory_limit = '{settings.memory_limit}'")
    con.raw_sql(f"SET temp_directory = '{temp}'")
    con.raw_sql("SET preserve_insertion_order = false")
    con.raw_sql("SET enable_progress_bar = false")  # the CLI shows its own stages
    if settings.threads:
        con.raw_sql(f"SET threads = {int(settings.threads)}")
    return con


_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def memory_bytes(limit: str) -> int:
    found = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", limit)
    if not found or found.group(2).upper() not in _UNITS:
        raise BhpolicyError(f"--memory-limit {limit!r}: give a size such as 2GB or 500MB")
    return int(float(found.group(1)) * _UNITS[found.group(2).upper()])


@contextmanager
def working_database(settings: RunSettings) -> Iterator[Path | None]:
    """Where a run stores its tables: memory (``None``; past the memory limit DuckDB moves
    them to its temp directory, uncompressed), or with ``store="disk"`` a fresh database
    file in the temp directory, compressed (slower; less temp space), removed afterwards.
    Measured at 100 million contacts with a 2GB limit: memory about 35 s faster."""
    memory_bytes(settings.memory_limit)  # a bad limit is reported before any work
    if settings.store != "disk":
        yield None
        return
    folder = settings.temp_directory or Path(tempfile.gettempdir()) / "bhpolicy-duckdb"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"run-{os.getpid()}-{uuid.uuid4().hex}.duckdb"
    try:
        yield path
    finally:
        for leftover in (path, path.with_name(path.name + ".wal")):
            leftover.unlink(missing_ok=True)


def store(con: ibis.BaseBackend, name: str, table: ir.Table) -> ir.Table:
    """Compute ``table`` once into the run's database and return it."""
    con.create_table(name, table)
    return con.table(name)


def store_dictionary(con: ibis.BaseBackend, name: str, table: ir.Table) -> ir.Table:
    """Store a small table whose text columns are repeated on millions of output rows, each
    text column as a DuckDB ENUM of its values: rows joined to it then carry a number, and
    the Parquet writer writes the ENUM's dictionary as it is instead of hashing every value
    (measured at 59M lines: 20 s instead of 35-40 s for twelve such columns)."""
    plain = store(con, f"{name}_text", table)
    columns = []
    for column, kind in plain.schema().items():
        values = distinct_values(con, plain[column]) if kind.is_string() else []
        if values:
            members = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
            columns.append(f'CAST("{column}" AS ENUM({members})) AS "{column}"')
        else:  # not text, or no value at all
            columns.append(f'"{column}"')
    con.raw_sql(f'CREATE TABLE "{name}" AS SELECT {", ".join(columns)} FROM "{name}_text"')
    return con.table(name)


@contextmanager
def duckdb_failures(settings: RunSettings, step: Callable[[str], None]
                    ) -> Iterator[Callable[[str], None]]:
    """Yield a step reporter that remembers the stage; a DuckDB failure (out of memory, say)
    inside the block becomes one line naming that stage."""
    stage = ["starting"]

    def tracked(text: str) -> None:
        stage[0] = text
        step(text)

    try:
        yield tracked
    except duckdb.OutOfMemoryException:
        raise BhpolicyError(
            f"out of memory while {stage[0]} (DuckDB memory limit {settings.memory_limit}); "
            "give more with --memory-limit or use fewer --threads") from None
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise BhpolicyError(f"DuckDB failed while {stage[0]}: {first}") from None


@contextmanager
def engine_failures(settings: RunSettings, step: Callable[[str], None]
                    ) -> Iterator[Callable[[str], None]]:
    """:func:`duckdb_failures`, or on Spark :func:`bhpolicy.engines.spark_failures` with
    the expressions built in Spark's spelling."""
    if settings.engine.engine == "spark":
        with dialect("spark"), spark_failures(
                "give the driver or executors more memory with --spark-conf "
                "spark.driver.memory=4g or spark.executor.memory=4g", step) as tracked:
            yield tracked
    else:
        with duckdb_failures(settings, step) as tracked:
            yield tracked


def open_spark(settings: RunSettings) -> SparkRun:
    """The run's Spark session and adapter (:mod:`bhpolicy.domain.spark`)."""
    from bhpolicy.domain.spark import SparkRun

    return SparkRun(settings.engine, settings.temp_directory)


def rows_read(con: ibis.BaseBackend, names: list[str]) -> dict[str, int]:
    """Rows read from each input the readers loaded as ``name``: the rows kept plus the rows
    the CSV parser rejected, so every data row of the file is counted once. Counted from the
    stored CSV scan (``{name}_rows``) and its reject table, or for Parquet from the file's
    metadata (``{name}_raw``): no input is read again."""
    def scalar(sql: str) -> int | None:
        try:
            row = con.raw_sql(sql).fetchone()
        except Exception:  # no such table: a Parquet input, or no rejects
            return None
        return int(row[0]) if row else 0

    counts: dict[str, int] = {}
    for name in names:
        kept = scalar(f'SELECT count(*) FROM "{name}_rows"')
        if kept is None:
            kept = scalar(f'SELECT count(*) FROM "{name}_raw"') or 0
        counts[name] = kept + (scalar(f'SELECT count(DISTINCT line) FROM "{name}_rejects"')
                               or 0)
    return counts


def distinct_values(con: ibis.BaseBackend, column: ir.Column) -> list[str]:
    table = column.name("value").as_table().distinct()
    return sorted(str(v) for v in con.to_pyarrow(table).column("value").to_pylist()
                  if v is not None)
