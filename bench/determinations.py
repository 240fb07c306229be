"""Benchmark: N generated cases through ``bhpolicy check`` (JSON Lines out), beside the floor
of merely reading, parsing and validating the same cases, measured in the same run.

    .venv/bin/python bench/determinations.py [--cases 10000] [--seed 7]

Targets (issue 4): at least 10,000 determinations a second, and within 3x of the floor.
Prints timings; asserts nothing (timings are never test assertions).
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bhpolicy.criteria import icd10
from bhpolicy.criteria.cases import parse_case
from bhpolicy.criteria.run import check_stream, read_cases
from bhpolicy.policy import load_registry

DIAGNOSES = ["F20.0", "F20.9", "F31.2", "F31.9", "F25.0", "F25.1", "F29", "F33.1", "F21"]
DOMAINS = ["mental_health_symptoms", "mental_health_service_needs", "use_of_drugs_and_alcohol",
           "vocational_and_educational_functioning", "self_care_and_independent_living",
           "housing_and_transportation_needs"]


def maybe(rng: random.Random, value: Any, p_absent: float = 0.1) -> Any:
    return None if rng.random() < p_absent else value


def sc_initial(rng: random.Random, i: int) -> dict[str, Any]:
    year = rng.randint(1950, 2009)
    facts = {
        "birth_date": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "primary_diagnosis": rng.choice(DIAGNOSES),
        "diagnosis_confirmed": rng.random() < 0.95,
        "serious_persistent_illness": rng.random() < 0.9,
        "services_expected_to_meet_needs": maybe(rng, rng.random() < 0.9),
        "impairment_basic_functioning": maybe(rng, rng.random() < 0.6),
        "impairment_employment_or_household": maybe(rng, rng.random() < 0.5),
        "impairment_safe_living": maybe(rng, rng.random() < 0.3),
        "psychiatric_admissions": sorted({  # distinct dates: a date twice is rejected
            f"2025-{rng.randint(4, 12):02d}-{rng.randint(1, 28):02d}"
            for _ in range(rng.randint(0, 3))}),
        "intractable_symptoms": maybe(rng, rng.random() < 0.4),
        "co_occurring_substance_use": rng.random() < 0.4,
        "co_occurring_since": f"2025-{rng.randint(1, 12):02d}-01",
        "planned_service_days_per_month": maybe(rng, rng.randint(6, 18)),
    }
    return {"case_id": f"B-{i}", "policy": "sc-act", "request_type": "initial",
            "request_date": f"2026-{rng.randint(3, 11):02d}-{rng.randint(1, 28):02d}",
            "facts": {k: v for k, v in facts.items() if v is not None}}


def sc_continued(rng: random.Random, i: int) -> dict[str, Any]:
    days = {f"2026-{m:02d}": rng.randint(5, 20) for m in range(3, 9)}
    facts = {"ipoc_meets_requirements": rng.random() < 0.9,
             "satisfactory_progress_continued_act_effective": maybe(rng, rng.random() < 0.7),
             "authorization_start": "2026-03-16", "authorization_end": "2026-09-15",
             "service_days_by_month": days}
    return {"case_id": f"B-{i}", "policy": "sc-act", "request_type": "continued_stay",
            "request_date": "2026-08-20", "facts": {k: v for k, v in facts.items()
                                                    if v is not None}}


def mn_initial(rng: random.Random, i: int) -> dict[str, Any]:
    facts = {"ma_eligible": rng.random() < 0.95, "birth_date": "1980-05-05",
             "serious_mental_illness_primary": True, "in_team_target_population": True,
             "locus_level": rng.randint(2, 5),
             "impaired_domains": rng.sample(DOMAINS, rng.randint(1, 5))}
    return {"case_id": f"B-{i}", "policy": "mn-act", "request_type": "initial",
            "request_date": "2026-09-01", "facts": facts}


def generate(n: int, seed: int, path: Path) -> None:
    rng = random.Random(seed)
    makers = [sc_initial, sc_initial, sc_continued, mn_initial]
    with path.open("w") as handle:
        for i in range(n):
            handle.write(json.dumps(rng.choice(makers)(rng, i)) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    registry = load_registry()
    icd10.lookup("F20.0")  # load the code set once, outside both timings
    gc.collect()
    gc.freeze()  # as `bhpolicy check` does before a batch (both timings benefit alike)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.jsonl"
        generate(args.cases, args.seed, path)

        floors: list[float] = []
        fulls: list[float] = []
        for _ in range(args.repeat):  # interleaved; the best of each is reported
            start = time.perf_counter()
            parsed = sum(1 for where, raw in read_cases(path)
                         if parse_case(raw, registry, where))
            floors.append(time.perf_counter() - start)

            # what `bhpolicy check cases.jsonl --format json` does, minus process start-up
            sink = io.BytesIO()
            outcomes: dict[str, int] = {}
            rejected = 0
            start = time.perf_counter()
            for item in check_stream(path, registry):
                if isinstance(item, str):
                    rejected += 1
                    continue
                sink.write(orjson.dumps(item) + b"\n")
                outcomes[item["outcome"]] = outcomes.get(item["outcome"], 0) + 1
            fulls.append(time.perf_counter() - start)
        floor, full = min(floors), min(fulls)

    print(f"cases: {args.cases} (parsed {parsed}, rejected {rejected}); "
          f"outcomes {outcomes}; output {sink.tell() / 1e6:.1f} MB")
    print(f"best of {args.repeat} interleaved runs each")
    print(f"floor (read + parse + validate): {floor:.3f} s  {args.cases / floor:,.0f} cases/s")
    print(f"bhpolicy check (JSON Lines):     {full:.3f} s  {args.cases / full:,.0f} cases/s")
    print(f"ratio check / floor: {full / floor:.2f}x (target <= 3x); "
          f"rate target >= 10,000/s: {'met' if args.cases / full >= 10_000 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
