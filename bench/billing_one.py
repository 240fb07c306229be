"""Benchmark the warm one-member path (bhpolicy.billing.one.bill_one) in process.

    .venv/bin/python bench/billing_one.py [--calls 500] [--warmup 20]

One member-month, 20 contacts (SC pack, a small team, a few days that do not qualify), billed
``--calls`` times after ``--warmup`` calls; beside it, in the same run, the plan's own DuckDB
statement (the EXECUTE of the prepared plan, its text built once) run directly on a cursor of
the pool (no Python around it: no conversion of the rows, no result rows made into dicts).
Prints p50 and p99 of both, wall time and this thread's CPU time (the machine is shared: the
CPU time is what a call costs when it has a core), and their ratio. ``--malloc`` picks the C
allocator as ``bhpolicy serve --malloc`` does, and DuckDB's allocator setting with it (default
auto: jemalloc where installed, freed pages kept a minute, as the server that answers the API's
check runs); ``--malloc system`` measures glibc's malloc (about a third of a call's CPU is its
malloc and free). Target (issue 18): bill_one p99 under 50 ms. Nothing here
is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bhpolicy.allocator import DUCKDB_CONF_ENV, loaded_libraries, server_environment
from bhpolicy.billing.one import INPUTS, bill_one, input_columns, warm
from bhpolicy.errors import BhpolicyError
from bhpolicy.policy import load_registry

AS_OF = dt.date(2026, 12, 1)
NPI = "1234567893"


def member_month() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """20 contacts in March 2026: 17 qualifying days (two past the cap), a short contact, a
    phone contact and a group contact."""
    contacts = []
    for n, day in enumerate([2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 23, 24,
                             25, 26, 27], start=1):
        minutes, mode, group = 30, "in_person", "false"
        if n == 18:
            minutes = 5
        if n == 19:
            mode = "phone"
        if n == 20:
            group = "true"
        contacts.append({"contact_id": f"C{n}", "member_id": "M1", "provider_id": NPI,
                         "staff_id": "S1", "contact_date": f"2026-03-{day:02d}",
                         "minutes": minutes, "mode": mode, "participant": "member",
                         "group": group, "pos": "12"})
    members = [{"member_id": "M1", "medicaid_id": "0012345678", "last_name": "Bench",
                "first_name": "Member", "birth_date": "1980-01-02", "sex": "U",
                "address_line": "1 Main St", "city": "Columbia", "state": "SC",
                "zip": "292010001", "primary_dx": "F20.0"}]
    auths = [{"authorization_id": "A1", "member_id": "M1", "policy": "sc-act",
              "provider_id": NPI, "team_size": "small", "start_date": "2026-03-01",
              "end_date": "2026-03-31"}]
    return contacts, members, auths


def members_months(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                     list[dict[str, Any]]]:
    """:func:`member_month` for ``n`` members (ids numbered apart)."""
    if n == 1:
        return member_month()
    contacts, members, auths = [], [], []
    for i in range(n):
        c, m, a = member_month()
        contacts += [{**x, "member_id": f"M{i}", "contact_id": f"{x['contact_id']}.{i}"}
                     for x in c]
        members += [{**x, "member_id": f"M{i}", "medicaid_id": f"{i:010d}"} for x in m]
        auths += [{**x, "member_id": f"M{i}", "authorization_id": f"A{i}"} for x in a]
    return contacts, members, auths


def timed(call: Callable[[], object], calls: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (this thread) milliseconds of each call."""
    wall, cpu = [], []
    for _ in range(calls):
        start, start_cpu = time.perf_counter(), time.thread_time()
        call()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
    return wall, cpu


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--members", type=int, default=1,
                        help="member-months a call bills (batching, as a server might under "
                        "load); the per-member cost is printed too")
    parser.add_argument("--malloc", default="auto", metavar="auto|system|LIB",
                        help="the C allocator, as bhpolicy serve --malloc (the API's check is "
                        "this path): auto (jemalloc when installed), system (glibc's), or a "
                        "library to preload; DuckDB's allocator setting as serve sets it")
    args = parser.parse_args()
    try:
        env = server_environment(args.malloc, os.environ)
    except BhpolicyError as exc:
        parser.error(str(exc))
    if env is not None:  # as bhpolicy serve: the same program again, with the allocator
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    loaded = loaded_libraries()  # what is mapped, however it was preloaded
    preloaded = [n for p in os.environ.get("LD_PRELOAD", "").split()
                 if (n := os.path.basename(p)) in loaded]
    print(f"C allocator: {', '.join(preloaded) or 'the system malloc'} (preloaded: "
          f"{'yes' if preloaded else 'none'}); "
          f"{DUCKDB_CONF_ENV}={os.environ.get(DUCKDB_CONF_ENV, '(DuckDB default)')}")
    registry = load_registry()
    start = time.perf_counter()
    state = warm(registry, AS_OF)
    print(f"warm(): {time.perf_counter() - start:.1f} s (parameter table, plan, one empty run)")
    contacts, members, auths = members_months(args.members)

    def one() -> object:
        return bill_one(contacts, members, auths, registry=registry, as_of=AS_OF)

    one()
    plan = state.plan(AS_OF)
    print(f"plan: {len(plan.stages)} common table expressions, one statement of "
          f"{len(plan.sql) / 1000:.0f} kB of SQL, prepared on {state.pool_size} cursors")
    rows = {"contacts": contacts, "members": members, "authorizations": auths,
            "already_billed": []}
    statement = plan.execute({name: input_columns(name, rows[name]) for name in INPUTS})

    timed(one, args.warmup)
    ours = timed(one, args.calls)
    with state.cursor() as cursor:
        def direct() -> None:
            cursor.con.execute(statement).fetchall()

        timed(direct, args.warmup)
        theirs = timed(direct, args.calls)
    load = os.getloadavg()
    for label, (wall, cpu) in (("bill_one", ours), ("statement", theirs)):
        print(f"{label:<10} p50 {percentile(wall, 50):7.1f} ms  p99 {percentile(wall, 99):7.1f}"
              f" ms  mean {statistics.fmean(wall):7.1f} ms  (cpu p50 {percentile(cpu, 50):6.1f}"
              f" ms, p99 {percentile(cpu, 99):6.1f} ms; {len(wall)} calls)")
    if args.members > 1:
        print(f"{args.members} members a call: bill_one per member p50 "
              f"{percentile(ours[0], 50) / args.members:.2f} ms, p99 "
              f"{percentile(ours[0], 99) / args.members:.2f} ms")
    print(f"bill_one / statement: p50 {percentile(ours[0], 50) / percentile(theirs[0], 50):.2f}x,"
          f" p99 {percentile(ours[0], 99) / percentile(theirs[0], 99):.2f}x; target bill_one p99"
          f" < 50 ms; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on "
          f"{os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
