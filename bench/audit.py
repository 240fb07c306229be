"""Benchmark `bhpolicy audit` beside a plain DuckDB interval join measured in the same run.

    .venv/bin/python bench/audit.py [--claims 1e7] [--members 1e5] [--work DIR]

Generates (bhpolicy synth, Parquet) the members, their ACT authorizations and `--claims`
other-service claim lines spread over the members, then times, each in its own process:
  floor     a plain DuckDB interval join of the claims to the ACT episodes (episodes built
            beforehand, untimed), written to Parquet
  bhpolicy  `bhpolicy audit --formats parquet --no-html`: episodes, categories, rules,
            findings and the summary
  rewrite   reading and rewriting every Parquet output of that audit run (same DuckDB
            settings and codec)
  io_floor  floor + rewrite
Prints seconds, rows/s, peak RSS (os.wait4) and the ratios. Targets: within 2x of the floor
(issue 7), within 1.5x of io_floor (issue 18). Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from billing import duckdb_command, measure, rewrite_command

MONTHS = 3

EPISODES_SQL = """
COPY (
  WITH a AS (SELECT member_id, start_date, end_date,
                    lag(end_date) OVER (PARTITION BY member_id ORDER BY start_date) AS prev
             FROM '{data}/authorizations.parquet'),
  g AS (SELECT *, sum(CASE WHEN prev IS NULL OR start_date > prev + 1 THEN 1 ELSE 0 END)
                  OVER (PARTITION BY member_id ORDER BY start_date) AS ep FROM a)
  SELECT member_id, ep, min(start_date) AS episode_start, max(end_date) AS episode_end
  FROM g GROUP BY member_id, ep
) TO '{data}/episodes.parquet' (FORMAT parquet)"""

FLOOR_SQL = """
COPY (
  SELECT c.claim_id, c.member_id, e.episode_start, c.from_date, c.to_date, c.paid_amount
  FROM '{data}/other_claims.parquet' c
  JOIN '{data}/episodes.parquet' e
    ON c.member_id = e.member_id AND c.from_date <= e.episode_end
   AND c.to_date >= e.episode_start
) TO '{data}/floor.parquet' (FORMAT parquet)"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", default="1e7")
    parser.add_argument("--members", default="1e5")
    parser.add_argument("--work", type=Path, default=Path("out/bench-audit"))
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    args = parser.parse_args()
    claims, members = int(float(args.claims)), int(float(args.members))
    per_member = max(1, claims // members)
    data = args.work / f"c{claims}-m{members}"
    temp = args.work / "duckdb-temp"
    temp.mkdir(parents=True, exist_ok=True)
    print(f"== {members * per_member:,} claim lines, {members:,} members; free disk "
          f"{shutil.disk_usage(args.work).free / 1e9:.0f} GB", flush=True)
    start = time.perf_counter()
    bhpolicy = str(Path(sys.executable).with_name("bhpolicy"))
    # generated in child processes: a child forked from a big parent would report the
    # parent's memory as its own peak RSS
    subprocess.run([bhpolicy, "synth", "--members", str(members), "--months", str(MONTHS),
                    "--contacts-per-month", "1", "--claims-per-member", str(per_member),
                    "--format", "parquet", "--out", str(data)], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(duckdb_command(EPISODES_SQL.format(data=data), args.memory_limit, temp),
                   check=True)
    print(f"generated in {time.perf_counter() - start:.1f} s", flush=True)
    rows = members * per_member
    runs = {
        "floor": duckdb_command(FLOOR_SQL.format(data=data), args.memory_limit, temp),
        "bhpolicy": [bhpolicy, "audit", "--claims", str(data / "other_claims.parquet"),
                     "--members", str(data / "members.parquet"), "--authorizations",
                     str(data / "authorizations.parquet"), "--out", str(data / "audit"),
                     "--formats", "parquet", "--no-html", "--memory-limit",
                     args.memory_limit],
    }
    results = {name: measure(command) for name, command in runs.items()}
    results["rewrite"] = measure(rewrite_command(data / "audit", data / "rewrite",
                                                 args.memory_limit, temp))
    for name, (seconds, rss, ok) in results.items():
        print(f"{name:<9} {seconds:8.1f} s  {rows / seconds:>12,.0f} rows/s  "
              f"peak RSS {rss:,.0f} MB{'' if ok else '  FAILED (no result)'}", flush=True)
    ours, floor = results["bhpolicy"][0], results["floor"][0]
    io_floor = floor + results["rewrite"][0]
    print(f"io_floor {io_floor:8.1f} s  (floor {floor:.1f} s + rewrite "
          f"{results['rewrite'][0]:.1f} s)", flush=True)
    print(f"bhpolicy / floor = {ours / floor:.2f}x (target <= 2x); "
          f"bhpolicy / io_floor = {ours / io_floor:.2f}x (target <= 1.5x)", flush=True)
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores",
          flush=True)
    if not args.keep:
        shutil.rmtree(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
