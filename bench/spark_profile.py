"""Where a billing run on Spark spends its time: each :class:`~bhpolicy.domain.spark.SparkRun`
call timed (wall seconds, the Spark jobs and tasks it started, from Spark's status tracker),
the run's steps timed, and a total by kind of call.

    .venv/bin/python bench/spark_profile.py DATA_DIR [--out DIR] [--master local[2]]
        [--driver-memory 2g] [--conf KEY=VALUE ...] [--repeat N]

DATA_DIR holds ``contacts.parquet``, ``members.parquet`` and ``authorizations.parquet`` (as
``bhpolicy synth --format parquet`` writes them). With ``--repeat 2`` the second run reuses the
warm session (what a process billing several files pays after the first). The Spark UI stays
off (the run's safe defaults); nothing here is asserted.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bhpolicy.billing.run import BillInputs, bill_to_folder
from bhpolicy.domain import spark as spark_module
from bhpolicy.domain.runs import RunSettings
from bhpolicy.engines import engine_settings
from bhpolicy.policy import load_registry

CALLS: list[tuple[str, str, float, int, int]] = []  # kind, name, seconds, jobs, tasks
_session: list[Any] = []


def _jobs_tasks() -> tuple[int, int]:
    """(jobs, tasks) Spark has started in this session so far."""
    if not _session:
        return 0, 0
    tracker = _session[0].sparkContext.statusTracker()
    jobs = tracker.getJobIdsForGroup(None)
    tasks = 0
    for job in jobs:
        info = tracker.getJobInfo(job)
        for stage in (info.stageIds if info else []):
            stage_info = tracker.getStageInfo(stage)
            tasks += stage_info.numTasks if stage_info else 0
    return len(jobs), tasks


def _timed(kind: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _session and getattr(self, "session", None) is not None:
            _session.append(self.session)
        before = _jobs_tasks()
        start = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            seconds = time.perf_counter() - start
            after = _jobs_tasks()
            label = next((str(a) for a in args if isinstance(a, str)), "")
            if kind in ("write", "load"):
                label = Path(str(args[0])).name
            CALLS.append((kind, label, seconds, after[0] - before[0], after[1] - before[1]))
    return wrapper


def instrument() -> None:
    run = spark_module.SparkRun
    for kind in ("load", "store", "count", "write", "read_parquet", "csv_rows", "close"):
        if hasattr(run, kind):  # csv_rows: not in older trees (an A/B against one)
            setattr(run, kind, _timed(kind, getattr(run, kind)))
    original_init = run.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        original_init(self, *args, **kwargs)
        _session[:] = [self.session]
        CALLS.append(("session", "start", time.perf_counter() - start, 0, 0))

    run.__init__ = init  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--out", type=Path, default=Path("out/spark-profile"))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="2g")
    parser.add_argument("--conf", action="append", default=[])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    instrument()
    engine = engine_settings("spark", args.master,
                             [f"spark.driver.memory={args.driver_memory}", *args.conf])
    registry = load_registry()
    for attempt in range(args.repeat):
        CALLS.clear()
        steps: list[tuple[str, float]] = []  # (step, when it started)

        def step(text: str, steps: list[tuple[str, float]] = steps) -> None:
            steps.append((text, time.perf_counter()))

        start = time.perf_counter()
        bill_to_folder(BillInputs(args.data / "contacts.parquet",
                                  args.data / "members.parquet",
                                  args.data / "authorizations.parquet"),
                       RunSettings(out=args.out, formats=("parquet",), engine=engine),
                       registry, step)
        total = time.perf_counter() - start
        print(f"== run {attempt + 1}: {total:.1f} s; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        by_kind: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0, 0])
        for kind, name, seconds, jobs, tasks in CALLS:
            print(f"  {kind:<12} {name:<32} {seconds:7.2f} s  jobs {jobs:3d}  tasks {tasks:5d}")
            entry = by_kind[kind]
            entry[0] += seconds
            entry[1] += 1
            entry[2] += jobs
            entry[3] += tasks
        print("  -- by kind")
        for kind, (seconds, n, jobs, tasks) in sorted(by_kind.items(), key=lambda kv: -kv[1][0]):
            print(f"  {kind:<12} {int(n):3d} calls {seconds:7.2f} s  jobs {int(jobs):4d}  "
                  f"tasks {int(tasks):6d}")
        print("  -- steps")
        ends = [when for _, when in steps[1:]] + [start + total]
        for (text, when), end in zip(steps, ends, strict=True):
            print(f"  {end - when:7.2f} s  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
