"""Benchmark `bhpolicy bill` beside two baselines measured in the same run on the same Parquet.

    .venv/bin/python bench/billing.py --sizes 1e6,1e7,1e8 [--work DIR] [--memory-limit 2GB]
        [--engines duckdb,spark] [--spark-master local[2]] [--driver-memory 2g]

For each size (contacts, about 20 a member a month over 3 months):
  floor     one DuckDB pass: SUM(minutes) GROUP BY member, month
  sql       a straightforward hand-written DuckDB SQL of the same rules in one statement
            (filter, group to member-day-provider, row_number for the provider, dense_rank
            for the day in the month), written to Parquet
  bhpolicy  `bhpolicy bill --formats parquet --no-html`: lines, member-months, unbilled days
  rewrite   reading and rewriting every Parquet output of that bhpolicy run
            (COPY (SELECT * FROM output) TO ..., same DuckDB settings and codec)
  io_floor  floor + rewrite: what any run that reads the contacts and writes these outputs
            pays (issue 18's like-for-like floor)
With ``spark`` in --engines, on the same Parquet (issue 20):
  spark_sql       the straightforward SQL above in Spark SQL, written by Spark to Parquet
  spark_bhpolicy  the billing run with --engine spark (Spark local[2], the driver memory of
                  --driver-memory), Parquet outputs
Each runs in its own process; peak RSS is the whole process tree's (sampled every 0.2 s from
/proc: a Spark run's JVM is a child of its Python), and for the DuckDB runs also the
process's own (os.wait4). Prints seconds, rows/s, peak RSS and the ratios. Target for Spark
(issue 20): local[2] completes 1e8 with a 2 GB driver, and spark_bhpolicy is no slower than
spark_sql. Measured 2026-12-07 (2 cores, quiet): at 1e7 spark_sql 36.0 s, spark_bhpolicy
167.5 s (0.21x); at 1e8 188.4 s and 1,237.4 s (0.15x, peak RSS of the tree 3.1 GB): 1e8
completes with a 2 GB driver, the speed target is not met.
Targets (issue 5, at 1e8): within 2.5x of the floor, at least 1.5x
faster than the SQL, peak RSS under 3 GB; (issue 18, at 1e8 with --memory-limit 2GB) within
2.2x of io_floor, faster than the SQL, peak RSS under 2.5 GB. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bhpolicy.policy import load_registry

MONTHS, PER_MONTH = 3, 20


def _tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and every process below it (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as handle:
                rss[int(entry)] = int(handle.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def measure(command: list[str]) -> tuple[float, float, bool]:
    """(seconds, peak RSS in MB of the process tree, succeeded) of one command run in its own
    process; the tree is sampled every 0.2 s (and the peak is at least the process's own,
    from os.wait4)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak = 0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _tree_rss(process.pid))
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return (seconds, max(peak / 2**20, usage.ru_maxrss / 1024),
            os.waitstatus_to_exitcode(status) == 0)


SPARK_SCRIPT = """
import sys, datetime as dt
from pathlib import Path
from bhpolicy.billing.run import BillInputs, bill_to_folder
from bhpolicy.domain.runs import RunSettings
from bhpolicy.engines import engine_settings
from bhpolicy.policy import load_registry
data, out, master, driver_memory = sys.argv[1:5]
data = Path(data)
engine = engine_settings("spark", master, [f"spark.driver.memory={driver_memory}"])
bill_to_folder(BillInputs(data / "contacts.parquet", data / "members.parquet",
                          data / "authorizations.parquet"),
               RunSettings(out=Path(out), formats=("parquet",), engine=engine),
               load_registry())
"""

SPARK_SQL_SCRIPT = """
import sys
from bhpolicy.engines import EngineSettings, spark_conf, spark_session
master, driver_memory, sql = sys.argv[1:4]
conf = spark_conf(EngineSettings("spark", master, (("spark.driver.memory", driver_memory),)))
spark_session(conf).sql(sql).collect()
"""


def spark_sql(sql: str) -> str:
    """The straightforward SQL in Spark's spelling (Parquet paths, quoting, the write)."""
    import re

    body = sql.strip()
    found = re.match(r"COPY \((.*)\) TO '([^']+)' \(FORMAT parquet\)$", body, re.S)
    assert found, "the straightforward SQL changed: update spark_sql"
    query, out = found.groups()
    query = re.sub(r"'([^']+\.parquet)'", r"parquet.`\1`", query)
    query = query.replace('c."group"', "c.`group`")
    return f"INSERT OVERWRITE DIRECTORY '{out}' USING parquet SELECT * FROM ({query})"


def duckdb_command(sql: str, memory_limit: str, temp: Path) -> list[str]:
    script = (
        "import duckdb, sys\n"
        "con = duckdb.connect()\n"
        f"con.execute(\"SET memory_limit = '{memory_limit}'\")\n"
        f"con.execute(\"SET temp_directory = '{temp}'\")\n"
        "con.execute('SET preserve_insertion_order = false')\n"
        "con.execute(sys.argv[1])\n")
    return [sys.executable, "-c", script, sql]


REWRITE_SCRIPT = """
import duckdb, pathlib, sys
source, target, memory_limit, temp = sys.argv[1:5]
con = duckdb.connect()
con.execute(f"SET memory_limit = '{memory_limit}'")
con.execute(f"SET temp_directory = '{temp}'")
con.execute("SET preserve_insertion_order = false")
pathlib.Path(target).mkdir(parents=True, exist_ok=True)
for path in sorted(pathlib.Path(source).glob("*.parquet")):
    codec = con.execute("SELECT compression FROM parquet_metadata(?) LIMIT 1",
                        [str(path)]).fetchall()
    codec = codec[0][0] if codec else "snappy"
    con.execute(f"COPY (SELECT * FROM read_parquet('{path}')) TO "
                f"'{pathlib.Path(target) / path.name}' (FORMAT parquet, COMPRESSION {codec})")
"""


def rewrite_command(source: Path, target: Path, memory_limit: str, temp: Path) -> list[str]:
    """Read and rewrite every Parquet file of ``source`` into ``target``, each with the codec
    it was written with, under the run's DuckDB settings (threads: DuckDB's default, as the
    bill command's)."""
    return [sys.executable, "-c", REWRITE_SCRIPT, str(source), str(target), memory_limit,
            str(temp)]


def straightforward_sql(data: Path, out: Path) -> str:
    sc = load_registry().get("sc-act")
    day = sc.header.effective_from
    minimum = sc.value("contact_min_minutes", day).value
    cap = sc.value("monthly_max_billed_days", day).value
    return f"""
COPY (
  WITH a AS (SELECT * FROM '{data}/authorizations.parquet'),
  q AS (
    SELECT c.member_id, c.contact_date, a.provider_id, a.policy
    FROM '{data}/contacts.parquet' c
    JOIN a ON c.member_id = a.member_id AND c.contact_date BETWEEN a.start_date AND a.end_date
    WHERE c.mode = 'in_person'
      AND (c.provider_id = a.provider_id OR c.provider_id = a.contributing_provider_ids)
      AND ((a.policy = 'sc-act' AND c.participant IN ('member', 'family')
            AND c."group" = 'false' AND c.minutes >= {minimum})
        OR (a.policy = 'mn-act' AND c.participant = 'member'))),
  d AS (SELECT member_id, contact_date, provider_id, any_value(policy) AS policy
        FROM q GROUP BY member_id, contact_date, provider_id),
  r AS (SELECT *, row_number() OVER (PARTITION BY member_id, contact_date
                                     ORDER BY provider_id) AS provider_rank FROM d),
  s AS (SELECT *, dense_rank() OVER (PARTITION BY member_id, date_trunc('month', contact_date)
                                     ORDER BY contact_date) AS day_rank
        FROM r WHERE provider_rank = 1)
  SELECT member_id, contact_date, provider_id,
         CASE WHEN policy = 'sc-act' AND day_rank > {cap} THEN 'held' ELSE 'billable' END
             AS status
  FROM s
) TO '{out}' (FORMAT parquet)"""


def floor_sql(data: Path, out: Path) -> str:
    return (f"COPY (SELECT member_id, date_trunc('month', contact_date) AS month, "
            f"sum(minutes) AS minutes FROM '{data}/contacts.parquet' GROUP BY ALL) "
            f"TO '{out}' (FORMAT parquet)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6")
    parser.add_argument("--work", type=Path, default=Path("out/bench-billing"))
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--engines", default="duckdb",
                        help="duckdb, spark or duckdb,spark (same Parquet, one run)")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--driver-memory", default="2g")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated data, and reuse data kept earlier")
    args = parser.parse_args()
    bhpolicy = str(Path(sys.executable).with_name("bhpolicy"))
    args.work.mkdir(parents=True, exist_ok=True)
    for size in (int(float(s)) for s in args.sizes.split(",")):
        members = max(1, size // (MONTHS * PER_MONTH))
        data = args.work / f"n{size}"
        temp = args.work / "duckdb-temp"
        temp.mkdir(parents=True, exist_ok=True)
        print(f"== {members * MONTHS * PER_MONTH:,} contacts ({members:,} members, "
              f"{MONTHS} months); free disk {shutil.disk_usage(args.work).free / 1e9:.0f} GB",
              flush=True)
        start = time.perf_counter()
        if args.keep and (data / "contacts.parquet").exists():
            print("reusing the data an earlier --keep run left", flush=True)
        else:
            # generated in a child process: a child forked from a big parent would report
            # the parent's memory as its own peak RSS
            subprocess.run([bhpolicy, "synth", "--members", str(members), "--months",
                            str(MONTHS), "--contacts-per-month", str(PER_MONTH), "--format",
                            "parquet", "--out", str(data)], check=True,
                           stdout=subprocess.DEVNULL)
            print(f"generated in {time.perf_counter() - start:.1f} s", flush=True)
        rows = members * MONTHS * PER_MONTH
        engines = args.engines.split(",")
        if "spark" in engines:
            spark_runs = {
                "spark_sql": [sys.executable, "-c", SPARK_SQL_SCRIPT, args.spark_master,
                              args.driver_memory, spark_sql(straightforward_sql(
                                  data, data / "spark_sql"))],
                "spark_bhpolicy": [sys.executable, "-c", SPARK_SCRIPT, str(data),
                                   str(data / "spark_bill"), args.spark_master,
                                   args.driver_memory]}
            spark_results = {name: measure(command) for name, command in spark_runs.items()}
            for name, (seconds, rss, ok) in spark_results.items():
                print(f"{name:<15} {seconds:8.1f} s  {rows / seconds:>12,.0f} rows/s  "
                      f"peak RSS (tree) {rss:,.0f} MB{'' if ok else '  FAILED'}", flush=True)
            ours, sql_s = spark_results["spark_bhpolicy"][0], spark_results["spark_sql"][0]
            print(f"spark: spark_sql / spark_bhpolicy = {sql_s / ours:.2f}x (target >= 1.0x)",
                  flush=True)
        if "duckdb" not in engines:
            if not args.keep:
                shutil.rmtree(data)
            continue
        runs = {
            "floor": duckdb_command(floor_sql(data, data / "floor.parquet"),
                                    args.memory_limit, temp),
            "sql": duckdb_command(straightforward_sql(data, data / "sql.parquet"),
                                  args.memory_limit, temp),
            "bhpolicy": [bhpolicy, "bill", "--contacts", str(data / "contacts.parquet"),
                         "--members", str(data / "members.parquet"), "--authorizations",
                         str(data / "authorizations.parquet"), "--out", str(data / "bill"),
                         "--formats", "parquet", "--no-html", "--memory-limit",
                         args.memory_limit],
        }
        results = {name: measure(command) for name, command in runs.items()}
        # after the run: its own outputs read and rewritten
        results["rewrite"] = measure(rewrite_command(data / "bill", data / "rewrite",
                                                     args.memory_limit, temp))
        for name, (seconds, rss, ok) in results.items():
            print(f"{name:<9} {seconds:8.1f} s  {rows / seconds:>12,.0f} rows/s  "
                  f"peak RSS {rss:,.0f} MB{'' if ok else '  FAILED (no result)'}", flush=True)
        ours, floor, sql = (results[n][0] for n in ("bhpolicy", "floor", "sql"))
        io_floor = floor + results["rewrite"][0]
        print(f"io_floor {io_floor:8.1f} s  (floor {floor:.1f} s + rewrite "
              f"{results['rewrite'][0]:.1f} s)", flush=True)
        print(f"bhpolicy / floor = {ours / floor:.2f}x (target <= 2.5x); "
              f"bhpolicy / io_floor = {ours / io_floor:.2f}x (target <= 2.2x at 1e8); "
              f"sql / bhpolicy = {sql / ours:.2f}x (target >= 1.5x); "
              f"bhpolicy peak RSS {results['bhpolicy'][1] / 1024:.2f} GB (target < 2.5 GB)",
              flush=True)
        load = os.getloadavg()
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} "
              "cores", flush=True)
        if not args.keep:
            shutil.rmtree(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
