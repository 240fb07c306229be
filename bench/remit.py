"""Benchmark read_835 beside pyx12's own validation of the same 835, in the same run.

    .venv/bin/python bench/remit.py [--claims 10000] [--lines 10] [--repeat 1] [--work DIR]

Builds an 835 (005010X221A1) of --claims claims with --lines service lines each (default
10,000 claims and 100,000 lines: paid, partly paid, denied lines with CARC 119/18/B20/197,
one claim in fifty a reversal, PLB takebacks), then times, alternately and --repeat times:
  pyx12     pyx12.x12n_document.x12n_document on the file, no 999, no HTML (validation only)
  read_835  bhpolicy's reader: the same pyx12 validation with the reader riding its map walk
            (one read), the records built and the three balancing rules checked
Prints each best time, segments per second and the ratio read_835 / pyx12 (target: within
1.5x). Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.x12_remit import Cas, Claim, Plb, Service, write_835

DENIALS = ["119", "18", "B20", "197"]


def build(path: Path, claims: int, lines: int) -> int:
    """Write the bench file; returns its number of segments."""
    built = []
    for number in range(claims):
        pcn = f"C{number:08d}"
        services = []
        for line in range(lines):
            cas: list[Cas] = []
            if (number + line) % 13 == 0:
                cas = [Cas("CO", DENIALS[(number + line) % 4], 15000)]
            elif (number + line) % 5 == 0:
                cas = [Cas("CO", "45", 2500), Cas("PR", "3", 500)]
            services.append(Service(control=f"{pcn}-{line + 1:02d}", cas=cas,
                                    date=f"202603{line % 28 + 1:02d}",
                                    remarks=["N362"] if cas and cas[0].reason == "119"
                                    else []))
        if number % 50 == 49:
            reversed_lines = [Service(-s.charge, control=s.control, date=s.date,
                                      cas=[Cas(c.group, c.reason, -c.amount) for c in s.cas])
                              for s in services]
            built.append(Claim(pcn, status="22", services=reversed_lines))
        built.append(Claim(pcn, services=services))
    # six adjustments fill one PLB; pyx12 counts a second PLB as a second FOOTER loop
    plb = [Plb("WO", 10000 + n, f"PAY{n}") for n in range(6)]
    write_835(path, built, plb)
    return path.read_text().count("~")


def time_pyx12(path: Path) -> float:
    import pyx12.params
    import pyx12.x12n_document

    start = time.perf_counter()
    with path.open(encoding="ascii") as source:
        valid = pyx12.x12n_document.x12n_document(
            param=pyx12.params.params(), src_file=source, fd_997=None, fd_html=None)
    seconds = time.perf_counter() - start
    if not valid:
        raise SystemExit("pyx12 found the bench file not valid")
    return seconds


def time_reader(path: Path) -> tuple[float, int]:
    from bhpolicy.x12.remit import read_835

    start = time.perf_counter()
    remit = read_835(path)
    seconds = time.perf_counter() - start
    if not remit.postable:
        raise SystemExit(f"read_835 refused the bench file: {remit.problems[:3]}")
    return seconds, len(remit.services())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    logging.getLogger("pyx12").setLevel(logging.ERROR)
    logging.getLogger("pyx12").addHandler(logging.StreamHandler(io.StringIO()))
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        path = Path(work) / "bench.835"
        start = time.perf_counter()
        segments = build(path, args.claims, args.lines)
        print(f"built {path.stat().st_size / 1e6:.1f} MB, {segments:,} segments, "
              f"{args.claims:,} claims x {args.lines} lines in "
              f"{time.perf_counter() - start:.1f} s", flush=True)
        pyx12_times, reader_times, lines = [], [], 0
        for _ in range(args.repeat):
            pyx12_times.append(time_pyx12(path))
            print(f"  pyx12     {pyx12_times[-1]:8.2f} s", flush=True)
            seconds, lines = time_reader(path)
            reader_times.append(seconds)
            print(f"  read_835  {reader_times[-1]:8.2f} s", flush=True)
    best_pyx12, best_reader = min(pyx12_times), min(reader_times)
    print(f"pyx12 validation  {best_pyx12:8.2f} s  {segments / best_pyx12:10,.0f} segments/s")
    print(f"read_835          {best_reader:8.2f} s  {segments / best_reader:10,.0f} segments/s"
          f"  ({lines:,} service lines)")
    print(f"ratio read_835 / pyx12: {best_reader / best_pyx12:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
