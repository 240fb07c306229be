"""Benchmark importing an 835 (reading it, and posting it into a ledger) beside pyx12's own
validation of the same 835, in the same run.

    .venv/bin/python bench/remit.py [--claims 10000] [--lines 10] [--repeat 1] [--work DIR]
                                    [--no-post]

Builds an 835 (005010X221A1) of --claims claims with --lines service lines each (default
10,000 claims and 100,000 lines: paid, partly paid, denied lines with CARC 119/18/B20/197,
one claim in fifty a reversal, PLB takebacks), then times, alternately and --repeat times:
  pyx12     pyx12.x12n_document.x12n_document on the file, no 999, no HTML (validation only)
  read_835  bhpolicy's reader: the same pyx12 validation with the reader riding its map walk
            (one read), the records built and the three balancing rules checked
  import    ``bhpolicy remit import``'s service (services.posting.import_remittance): the same
            read, then every claim and line posted into a fresh SQLite ledger that holds the
            file's claims as sent (one 837P's claims and lines, inserted in bulk before the
            clock starts), matched by CLM01 and REF*6R; a fresh ledger each repeat
Prints each best time, segments per second and the ratios read_835 / pyx12 and import / pyx12
(target, issue 19: the import within 1.5x of pyx12's validation). Nothing here is asserted.
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


def seed_ledger(url: str, claims: int, lines: int) -> None:
    """A migrated ledger holding the bench file's claims as sent: CLM01 the file's patient
    control numbers, one line a service with the REF*6R, date, code and charge of the file."""
    import datetime as dt

    from sqlalchemy import insert

    from bhpolicy.db import Database
    from bhpolicy.db.ledger_models import ClaimFile, LedgerClaim, LedgerLine

    db = Database.open(url)
    try:
        db.upgrade("head")
        now = dt.datetime(2026, 3, 31, tzinfo=dt.UTC)
        with db.transaction() as session:
            session.add(ClaimFile(id=1, name="bench.837", sha256="0" * 64, receiver_id="BENCH",
                                  isa13=1, gs06=1, st02=[1], written_at=now))
            session.flush()
            session.execute(insert(LedgerClaim), [
                {"id": f"C{n:08d}", "file_id": 1, "payer_id": "SCMCD", "provider_id": "P1",
                 "member_id": f"M{n}", "authorization_id": f"A{n}", "month": "2026-03",
                 "frequency": "1", "replaces_id": None, "payer_claim_number": None,
                 "total_cents": 15000 * lines, "status": "sent", "created_at": now}
                for n in range(claims)])
            session.execute(insert(LedgerLine), [
                {"claim_id": f"C{n:08d}", "number": line + 1,
                 "line_control": f"C{n:08d}-{line + 1:02d}", "billing_line_id": None,
                 "service_date": dt.date(2026, 3, line % 28 + 1), "hcpcs": "H0040",
                 "modifier": "U1", "pos": "12", "units": 1, "charge_cents": 15000}
                for n in range(claims) for line in range(lines)])
    finally:
        db.close()


def time_import(path: Path, url: str) -> tuple[float, int, int]:
    """Seconds to import the file into the seeded ledger; lines posted, lines unmatched."""
    from bhpolicy.db import Database
    from bhpolicy.services.posting import import_remittance

    db = Database.open(url)
    try:
        start = time.perf_counter()
        result = import_remittance(db, path)
        seconds = time.perf_counter() - start
    finally:
        db.close()
    if not result.posted:
        raise SystemExit(f"the import posted nothing: {result.problems[:3]}")
    return seconds, result.lines, len(result.unmatched_lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--no-post", action="store_true",
                        help="time the read only (no ledger, no posting)")
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
        pyx12_times, reader_times, import_times, lines = [], [], [], 0
        posted = unmatched = 0
        for attempt in range(args.repeat):
            pyx12_times.append(time_pyx12(path))
            print(f"  pyx12     {pyx12_times[-1]:8.2f} s", flush=True)
            seconds, lines = time_reader(path)
            reader_times.append(seconds)
            print(f"  read_835  {reader_times[-1]:8.2f} s", flush=True)
            if not args.no_post:
                url = f"sqlite:///{work}/ledger{attempt}.db"
                seed_ledger(url, args.claims, args.lines)
                seconds, posted, unmatched = time_import(path, url)
                import_times.append(seconds)
                print(f"  import    {import_times[-1]:8.2f} s", flush=True)
    best_pyx12, best_reader = min(pyx12_times), min(reader_times)
    print(f"pyx12 validation  {best_pyx12:8.2f} s  {segments / best_pyx12:10,.0f} segments/s")
    print(f"read_835          {best_reader:8.2f} s  {segments / best_reader:10,.0f} segments/s"
          f"  ({lines:,} service lines)")
    print(f"ratio read_835 / pyx12: {best_reader / best_pyx12:.2f}")
    if import_times:
        best_import = min(import_times)
        print(f"import (read + post) {best_import:8.2f} s  {posted:,} lines posted, "
              f"{unmatched:,} unmatched")
        print(f"ratio import / pyx12: {best_import / best_pyx12:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
