"""A run's rejected rows are counted from the errors.csv it wrote (io.outputs.csv_records),
never by reading and checking the inputs again: a quoted cell may hold newlines and doubled
quotes, and a rejected value is copied whole, however long."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from bhpolicy.io.outputs import csv_records

CELL = st.text(alphabet=st.sampled_from(['a', ',', '"', '\n', '\r', ' ', "'", '=']),
               max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(CELL, min_size=3, max_size=3), max_size=8), st.booleans())
def test_records_are_counted_as_a_csv_reader_reads_them(rows: list[list[str]],
                                                        last_newline: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        _check(Path(folder) / "errors.csv", rows, last_newline)


def _check(path: Path, rows: list[list[str]], last_newline: bool) -> None:
    table = pa.table({name: [r[i] for r in rows] for i, name in enumerate(["file", "row",
                                                                         "value"])},
                     schema=pa.schema([(n, pa.string()) for n in ("file", "row", "value")]))
    con = duckdb.connect()
    con.register("rows_", table)
    con.execute(f"COPY rows_ TO '{path}' (FORMAT csv, HEADER)")  # as a run writes errors.csv
    if not last_newline and rows:  # a last record without its newline
        path.write_bytes(path.read_bytes()[:-1])
    with path.open(newline="", encoding="utf-8") as stream:
        expected = sum(1 for _ in csv.reader(stream)) - 1
    assert csv_records(path) == expected == len(rows)


def test_a_header_only_file_has_no_record(tmp_path: Path) -> None:
    path = tmp_path / "errors.csv"
    path.write_text("file,row,field,reason,value,provider_id\n")
    assert csv_records(path) == 0


def test_a_cell_longer_than_duckdbs_line_limit_counts_once(tmp_path: Path) -> None:
    # DuckDB's CSV reader refuses a line over 2 MB by default; the written file is counted
    path = tmp_path / "errors.csv"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT 'claims.csv' AS file, 2 AS row, repeat('x', 3000000) || "
                f"chr(10) || '\"q\"' AS value UNION ALL SELECT 'claims.csv', 3, 'short') "
                f"TO '{path}' (FORMAT csv, HEADER)")
    assert csv_records(path) == 2
