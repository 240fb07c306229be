"""Helpers for the Spark tests: whether PySpark and Java are here (skip, or fail when
CI=true), and the comparison of two run folders' outputs (EXCEPT ALL both ways)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest


def spark_missing() -> str | None:
    """Why the Spark tests cannot run here, or None."""
    if importlib.util.find_spec("pyspark") is None:
        return "PySpark is not installed (pip install -e '.[spark]')"
    java = shutil.which("java")
    if java is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed (apt-get install openjdk-17-jre-headless)"
    if java is not None:
        try:
            subprocess.run([java, "-version"], capture_output=True, timeout=30, check=True)
        except (OSError, subprocess.SubprocessError):
            return "java -version fails"
    return None


def require_spark() -> None:
    """Skip when PySpark or Java is missing; in CI (CI=true) that is a failure."""
    missing = spark_missing()
    if missing is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the Spark tests must run in CI: {missing}")
    pytest.skip(missing)


def _relation(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    quoted = str(path).replace("'", "''")
    if path.suffix == ".csv":
        return f"read_csv('{quoted}', all_varchar=true, header=true, auto_detect=false, " \
            f"columns={_csv_columns(path)})"
    return f"read_parquet('{quoted}')"


def _csv_columns(path: Path) -> str:
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    return "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in header) + "}"


def differences(left: Path, right: Path) -> dict[str, tuple[int, int]]:
    """Per output file of ``left`` (Parquet and CSV; report and manifest apart): the rows
    only in left and only in right (EXCEPT ALL both ways), and a different schema as
    (-1, -1). Empty when the folders hold the same outputs."""
    con = duckdb.connect()
    found: dict[str, tuple[int, int]] = {}
    names = sorted(p.name for p in left.iterdir() if p.suffix in (".parquet", ".csv"))
    assert names, f"no outputs in {left}"
    for name in names:
        a, b = left / name, right / name
        if not b.is_file():
            found[name] = (-1, -1)
            continue
        ra, rb = _relation(con, a), _relation(con, b)
        schema_a = con.execute(f"DESCRIBE SELECT * FROM {ra}").fetchall()
        schema_b = con.execute(f"DESCRIBE SELECT * FROM {rb}").fetchall()
        if [r[:2] for r in schema_a] != [r[:2] for r in schema_b]:
            found[name] = (-1, -1)
            continue
        only_a = con.execute(f"SELECT count(*) FROM (SELECT * FROM {ra} EXCEPT ALL "
                             f"SELECT * FROM {rb})").fetchone()
        only_b = con.execute(f"SELECT count(*) FROM (SELECT * FROM {rb} EXCEPT ALL "
                             f"SELECT * FROM {ra})").fetchone()
        pair = (int(only_a[0]) if only_a else 0, int(only_b[0]) if only_b else 0)
        if pair != (0, 0):
            found[name] = pair
    return found


def schema_of(path: Path) -> list[tuple[str, str]]:
    con = duckdb.connect()
    return [(r[0], r[1]) for r in
            con.execute(f"DESCRIBE SELECT * FROM {_relation(con, path)}").fetchall()]
