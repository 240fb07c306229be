"""Benchmark: an open-loop load on the review service (POST /api/requests with a mix of
meets/pend/refer cases, GET /api/requests for the queue) beside a bare endpoint that inserts
one audit row, measured in the same run; latency as timed by the server (``Server-Timing``)
and as seen by the client.

    .venv/bin/python bench/serve.py [--rate 40] [--duration 30] [--warmup 5] [--pg]

The first ``--warmup`` seconds run the same load and are not counted (first connections,
first statements of each kind); the slowest requests are listed with the second of the run
they started in, so a tail that clusters (a WAL checkpoint, a GC pause) shows.

The server is the real app (``bhpolicy.web.app.create_app`` + ``warm`` on uvicorn, as
``bhpolicy serve`` runs it) started in a child process on 127.0.0.1 on a free port over a
fresh SQLite database (``--pg``: a throwaway PostgreSQL cluster as tests/support/pg.py makes,
with fsync off). The bare endpoint ``POST /bench/insert`` exists only in that child process
(never in normal serving) and checks the caller's role like every API route. The load
generator is pinned to core 0 and the server to core 1 (when there are two).

Beside that load, ``--check-rate`` billing checks a second (POST /api/billing/check: one
member-month of 20 contacts on the engine's warm one-member path, the plan compiled before
the load starts).

``--malloc auto|system|LIB`` picks the server's C allocator as ``bhpolicy serve --malloc``
does (default auto: jemalloc when the system has it, as serve runs): about a third of a warm
billing call's CPU is glibc's malloc and free. The server also gets DuckDB's allocator
setting as serve sets it (freed pages kept a minute, ``bhpolicy.allocator``; a value in the
shell's environment is kept, as serve keeps it); ``--duckdb-conf none`` leaves DuckDB's own
(pages back to the kernel within a second), ``--duckdb-conf CONF`` gives another.

Targets (issue 16), SQLite: POST p99 < 50 ms and < 3x the bare insert's p99, no error;
(issue 19) billing check p99 < 100 ms.
Prints timings and how busy the server's one core was over the counted seconds (CPU seconds
a second, from /proc): a check waits behind the rest of the load on that core, so its latency
climbs steeply as the core nears full, and a slower machine nears it at the same rate.
Asserts nothing (timings are never test assertions).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bhpolicy.allocator import DUCKDB_CONF_ENV, server_environment

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "examples" / "cases"
NPI = "1234567893"  # passes the NPI check digit
#: the POST mix: (example case, weight)
MIX = (("sc-initial-meets", 4), ("sc-initial-pend", 3), ("sc-initial-refer", 3))
#: of every 10 requests: 6 POST a case, 2 read the queue, 2 bare inserts
SLOTS = ("post", "post", "queue", "post", "bare", "post", "post", "queue", "post", "bare")


# ---------------------------------------------------------------- the server (child process)

def run_child(url: str, port: int) -> None:
    """The real app plus the bench-only bare insert route, on uvicorn."""
    import uvicorn
    from fastapi import Request

    from bhpolicy.db import Database
    from bhpolicy.services import audit
    from bhpolicy.web.app import create_app, warm, warm_billing
    from bhpolicy.web.auth import ApiActor, operation
    from bhpolicy.web.settings import WebSettings

    db = Database.open(url)
    app = create_app(db, WebSettings(warm=False))  # warmed below, once

    def bare_insert(request: Request, actor: ApiActor) -> dict[str, str]:
        now = request.app.state.settings.clock()
        with db.transaction() as session:
            audit.record(session, now, actor.id, "bench.insert", "bench", None)
        return {"ok": "1"}

    # this module's annotations are strings; the names above are local: give FastAPI the types
    bare_insert.__annotations__ = {"request": Request, "actor": ApiActor,
                                   "return": dict[str, str]}
    app.post("/bench/insert", status_code=201, openapi_extra=operation("requests.create"),
             include_in_schema=False)(bare_insert)

    warm(app)
    warm_billing(app)  # before the load, so the first checks are not compiling the plan
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning",
                server_header=False)


# ---------------------------------------------------------------- the load (parent process)

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pin(pid: int, core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(pid, {core % (os.cpu_count() or 1)})


def prepare(url: str) -> dict[str, str]:
    """Migrate the fresh database; an intake user and an analyst, returns role -> token."""
    from bhpolicy.db import Database
    from bhpolicy.services.users import add_user

    db = Database.open(url)
    try:
        db.upgrade("head")
        _, intake = add_user(db, "bench_intake", "intake")
        _, analyst = add_user(db, "bench_analyst", "analyst")
        _, biller = add_user(db, "bench_biller", "biller")
    finally:
        db.close()
    return {"intake": intake, "analyst": analyst, "biller": biller}


def check_body() -> dict[str, Any]:
    """One member-month with 20 contacts (POST /api/billing/check), made-up ids."""
    contacts = [{"contact_id": f"C{day}", "member_id": "M1", "provider_id": NPI,
                 "staff_id": "S1", "contact_date": f"2026-03-{day:02d}", "minutes": 30,
                 "mode": "in_person", "participant": "member", "group": "false", "pos": "12"}
                for day in range(2, 22)]
    member = {"member_id": "M1", "medicaid_id": "0012345678", "last_name": "Doe",
              "first_name": "Jane", "birth_date": "1980-01-02", "sex": "F",
              "address_line": "1 Main St", "city": "Columbia", "state": "SC",
              "zip": "292010001", "primary_dx": "F20.0"}
    auth = {"authorization_id": "A1", "member_id": "M1", "policy": "sc-act",
            "provider_id": NPI, "team_size": "small", "start_date": "2026-03-01",
            "end_date": "2026-04-30", "billing_code": "", "contributing_provider_ids": ""}
    return {"contacts": contacts, "members": [member], "authorizations": [auth]}


def bodies() -> list[dict[str, Any]]:
    out = []
    for name, weight in MIX:
        raw = json.loads((CASES / f"{name}.json").read_text(encoding="utf-8"))
        body = {
            "case": raw,
            "member": {"reference": raw.get("member_id") or "SYN-M-0205",
                       "birth_date": raw["facts"].get("birth_date", "1978-02-28")},
            "requesting_provider": {"npi": NPI, "name": "Bench ACT Team"},
            "service": {"code": "H0040", "modifiers": ["U1"]},
            "period": {"start": "2026-12-01", "end": "2027-05-31"},
            "units": 180,
            "urgency": "standard",
        }
        out += [body] * weight
    return out


def server_ms(headers: Any) -> float | None:
    value = headers.get("server-timing", "")
    for part in value.split(";"):
        if part.startswith("dur="):
            return float(part[4:])
    return None


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used, all its threads (/proc)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(base: str, tokens: dict[str, str], rate: float, duration: float,
               warmup: float = 0.0, check_rate: float = 0.0, server: int | None = None
               ) -> tuple[dict[str, dict[str, list[float]]], float | None]:
    """The open-loop load: latencies by kind and side, and with ``server`` (its pid, on
    Linux) how busy the server was over the counted seconds (CPU seconds a second)."""
    import httpx

    results: dict[str, dict[str, list[float]]] = {
        k: {"client": [], "server": [], "errors": []}
        for k in ("post", "queue", "bare", "check")}
    check = check_body()
    biller = {"Authorization": f"Bearer {tokens['biller']}"}
    posts = bodies()
    failures: list[str] = []
    skipped = int(rate * warmup)
    total = skipped + int(rate * duration)
    slowest: list[tuple[float, float, str]] = []
    lag = [0.0]
    intake = {"Authorization": f"Bearer {tokens['intake']}"}
    analyst = {"Authorization": f"Bearer {tokens['analyst']}"}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as client:

        async def one(i: int, at: float, kind: str | None = None) -> None:
            kind = kind or SLOTS[i % len(SLOTS)]
            started = time.perf_counter()
            if i >= skipped:  # how late the generator sent it (its own stalls show here)
                lag[0] = max(lag[0], started - (t0 + at))
            try:
                if kind == "post":
                    answer = await client.post(
                        "/api/requests", json=posts[i % len(posts)],
                        headers={**intake, "Idempotency-Key": uuid.uuid4().hex})
                    ok = answer.status_code == 201
                elif kind == "queue":
                    answer = await client.get("/api/requests", headers=analyst)
                    ok = answer.status_code == 200
                elif kind == "check":
                    answer = await client.post("/api/billing/check", json=check,
                                               headers=biller)
                    ok = answer.status_code == 200
                else:
                    answer = await client.post("/bench/insert", headers=intake)
                    ok = answer.status_code == 201
            except httpx.HTTPError as exc:
                results[kind]["errors"].append(1.0)
                failures.append(type(exc).__name__)
                return
            elapsed = (time.perf_counter() - started) * 1000
            if i < skipped:
                return
            if not ok:
                results[kind]["errors"].append(float(answer.status_code))
                return
            results[kind]["client"].append(elapsed)
            on_server = server_ms(answer.headers)
            if on_server is not None:
                results[kind]["server"].append(on_server)
            slowest.append((elapsed, started - t0, kind))

        tasks = []
        t0 = time.perf_counter()
        # the billing checks: their own open loop at check_rate, counted after the warm-up
        schedule = sorted([(i / rate, i, None) for i in range(total)] + [
            (j / check_rate, int(j / check_rate * rate), "check")
            for j in range(int(check_rate * (warmup + duration)))] if check_rate > 0 else
            [(i / rate, i, None) for i in range(total)], key=lambda item: item[0])
        busy: list[tuple[float, float]] = []  # (wall, server CPU) at the counted start, end

        def sample() -> None:
            if server is not None and os.path.exists(f"/proc/{server}/stat"):
                busy.append((time.perf_counter(), cpu_seconds(server)))

        for at, i, kind in schedule:  # open loop: the schedule never waits for an answer
            delay = t0 + at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if i == skipped and not busy:
                sample()  # the first counted request is sent now
            tasks.append(asyncio.create_task(one(i, at, kind)))
        await asyncio.gather(*tasks)
        sample()
    if failures:
        print(f"no answer: {sorted(set(failures))}")
    slowest.sort(reverse=True)
    print(f"latest send after its scheduled time: {lag[0] * 1000:.1f} ms")
    print("slowest (client ms @ second of the run, kind): " + ", ".join(
        f"{ms:.0f} @ {at:.1f}s {kind}" for ms, at, kind in slowest[:8]))
    if len(busy) == 2:
        (w0, c0), (w1, c1) = busy
        return results, (c1 - c0) / (w1 - w0)
    return results, None


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(label: str, results: dict[str, dict[str, list[float]]],
           busy: float | None = None) -> None:
    print(f"== {label}")
    print(f"{'':14}{'n':>6}{'err':>5}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}  (ms)")
    for kind, title in (("post", "POST request"), ("queue", "GET queue"),
                        ("bare", "bare insert"), ("check", "billing check")):
        if not results[kind]["client"] and not results[kind]["errors"]:
            continue
        for side in ("server", "client"):
            values = results[kind][side]
            print(f"{title[:7] + ' ' + side:14}{len(values):>6}"
                  f"{len(results[kind]['errors']):>5}"
                  + "".join(f"{pct(values, p):>9.1f}" for p in (50, 95, 99))
                  + f"{max(values, default=float('nan')):>9.1f}")
    for side in ("server", "client"):
        post, bare = pct(results["post"][side], 99), pct(results["bare"][side], 99)
        print(f"POST p99 / bare p99 ({side}): {post / bare:.2f}")
    if results["check"]["server"]:
        print(f"billing check p99 (server): {pct(results['check']['server'], 99):.1f} ms "
              "(target < 100 ms)")
    if busy is not None:
        # one core serves: a check waits its turn behind the rest of the load, so its
        # latency grows steeply as this nears 100% (a slower machine gets there first)
        print(f"server CPU over the counted seconds: {100 * busy:.0f}% of one core")
    errors = sum(len(r["errors"]) for r in results.values())
    codes = sorted({e for r in results.values() for e in r["errors"]})
    print(f"errors: {errors}" + (f" (statuses {codes}; 1.0 = no answer)" if errors else ""))


def run_one(label: str, url: str, rate: float, duration: float, warmup: float,
            check_rate: float = 0.0, malloc: str | None = None,
            duckdb_conf: str | None = None) -> None:
    tokens = prepare(url)
    port = free_port()
    base_env = dict(os.environ)  # a DUCKDB_JE_MALLOC_CONF of the shell is kept, as serve does
    if duckdb_conf == "none":
        base_env[DUCKDB_CONF_ENV] = ""  # set (so serve's is not added), and empty
    elif duckdb_conf:
        base_env[DUCKDB_CONF_ENV] = duckdb_conf
    # as bhpolicy serve --malloc runs itself again
    env = {**(server_environment(malloc or "system", base_env) or base_env),
           "PYTHONUNBUFFERED": "1"}
    preloaded = env.get("LD_PRELOAD", "").split()
    label += (f" (server LD_PRELOAD={Path(preloaded[0]).name}" if preloaded else
              " (server on the system's C allocator") + \
        f", {DUCKDB_CONF_ENV}={env.get(DUCKDB_CONF_ENV) or '(DuckDB own)'})"
    child = subprocess.Popen([sys.executable, __file__, "--child", url, str(port)], env=env)
    try:
        pin(child.pid, 1)
        pin(0, 0)
        base = f"http://127.0.0.1:{port}"
        import httpx

        deadline = time.monotonic() + 120
        while True:
            if child.poll() is not None:
                raise SystemExit(f"error: the server exited with {child.returncode}")
            try:
                if httpx.get(f"{base}/api/policies", timeout=2,
                             headers={"Authorization": f"Bearer {tokens['analyst']}"}
                             ).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("error: the server did not answer within 120 s")
            time.sleep(0.2)
        # The load generator's own garbage collector must not pause it: a full collection
        # of its growing heap (every task and answer of the run) took 100-270 ms every 2-3 s
        # (measured with gc.callbacks), so the open-loop schedule fell behind and then sent
        # the late requests in a burst. Off for the run, on again after it.
        enabled, frozen = gc.isenabled(), gc.get_freeze_count()
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            results, busy = asyncio.run(load(base, tokens, rate, duration, warmup,
                                             check_rate, child.pid))
        finally:
            if enabled:
                gc.enable()
            if not frozen:
                gc.unfreeze()
        report(f"{label}: {rate:g} requests/s (+ {check_rate:g} billing checks/s) for "
               f"{duration:g} s after {warmup:g} s of warm-up", results, busy)
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=40.0, help="requests a second, all kinds")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds of the same load first, not counted")
    parser.add_argument("--check-rate", type=float, default=2.0,
                        help="POST /api/billing/check a second, beside the rest (0: none)")
    parser.add_argument("--pg", action="store_true",
                        help="the same on a throwaway PostgreSQL cluster, after SQLite")
    parser.add_argument("--malloc", default="auto", metavar="auto|system|LIB",
                        help="the server's C allocator, as bhpolicy serve --malloc: auto "
                        "(jemalloc when installed), system, or a library to preload")
    parser.add_argument("--duckdb-conf", default=None, metavar="CONF|none",
                        help="DuckDB's jemalloc setting for the server (default: as serve "
                        "sets it; none: DuckDB's own)")
    parser.add_argument("--child", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.child[0], int(args.child[1]))
        return
    if args.rate <= 0 or args.duration <= 0:
        parser.error("--rate and --duration must be positive")
    if args.malloc not in ("auto", "system") and not Path(args.malloc).is_file():
        parser.error(f"--malloc {args.malloc}: no such file")
    with tempfile.TemporaryDirectory(prefix="bhpolicy-bench-") as tmp:
        run_one("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", args.rate, args.duration,
                args.warmup, args.check_rate, args.malloc, args.duckdb_conf)
        if args.pg:
            sys.path.insert(0, str(REPO))
            from tests.support.pg import start_cluster, unavailable

            why = unavailable()
            if why:
                print(f"--pg skipped: {why}")
                return
            cluster = start_cluster()
            try:
                url = cluster.create_database(cluster.new_name("bench"))
                run_one("PostgreSQL", url, args.rate, args.duration, args.warmup,
                        args.check_rate, args.malloc, args.duckdb_conf)
            finally:
                cluster.stop()


if __name__ == "__main__":
    main()
