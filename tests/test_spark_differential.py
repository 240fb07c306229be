"""The same rules on DuckDB and on Spark local[2]: synthetic members over three months (every
billing edge of the generator), rule edges built with the billing helpers, and the policy
examples of both packs, billed and audited on each engine; every output file is the same
both ways (EXCEPT ALL in each direction, line ids included; CSV compared as text).

Skips when PySpark or Java is missing; in CI (CI=true) that fails instead."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bhpolicy.audit.run import AuditInputs, run_audit
from bhpolicy.billing.run import BillInputs, run_billing
from bhpolicy.billing.synth import SynthSpec, synthesize
from bhpolicy.domain.runs import RunSettings
from bhpolicy.engines import EngineSettings, stop_spark
from bhpolicy.errors import BhpolicyError
from bhpolicy.policy.examples import run_examples
from bhpolicy.policy.registry import load_registry
from tests.billing_helpers import (
    AUTH_FIELDS,
    CONTACT_FIELDS,
    MEMBER_FIELDS,
    auth,
    contact,
    days,
    member,
    write_csv,
)
from tests.support.spark import differences, require_spark

pytestmark = [pytest.mark.spark, pytest.mark.timeout(1800)]

AS_OF = dt.date(2026, 12, 1)
SPARK = EngineSettings("spark", spark_conf=(("spark.sql.shuffle.partitions", "4"),))


@pytest.fixture(scope="module", autouse=True)
def spark() -> Iterator[None]:
    require_spark()
    yield
    stop_spark()


def _bill_both(inputs: BillInputs, out: Path, formats: tuple[str, ...] = ("parquet", "csv"),
               missing_pos: str = "default") -> tuple[Path, Path]:
    registry = load_registry()
    folders = []
    for engine in (EngineSettings(), SPARK):
        folder = out / engine.engine
        run_billing(inputs, RunSettings(out=folder, formats=formats, as_of=AS_OF,
                                        missing_pos=missing_pos, engine=engine), registry)
        folders.append(folder)
    return folders[0], folders[1]


def _audit_both(inputs: AuditInputs, out: Path) -> tuple[Path, Path]:
    registry = load_registry()
    folders = []
    for engine in (EngineSettings(), SPARK):
        folder = out / engine.engine
        run_audit(inputs, RunSettings(out=folder, formats=("parquet", "csv"), as_of=AS_OF,
                                      engine=engine), registry)
        folders.append(folder)
    return folders[0], folders[1]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("synth")
    return synthesize(SynthSpec(members=300, months=3, out=out, form="parquet",
                                contacts_per_month=8, claims_per_member=3))


def test_synthetic_billing_is_the_same_on_spark(synthetic: dict[str, Path],
                                                 tmp_path: Path) -> None:
    duck, spark = _bill_both(BillInputs(synthetic["contacts"], synthetic["members"],
                                        synthetic["authorizations"]), tmp_path)
    assert differences(duck, spark) == {}
    assert (duck / "lines.parquet").stat().st_size > 10_000  # lines were billed
    # Spark's files are owner-only whatever the umask (Hadoop's local file system writes
    # them 0644): each output, errors.csv among them
    written = sorted(spark.glob("*.parquet")) + sorted(spark.glob("*.csv"))
    assert len(written) >= 11
    assert {f.name: oct(f.stat().st_mode & 0o777) for f in written} == {
        f.name: "0o600" for f in written}


def test_synthetic_audit_is_the_same_on_spark(synthetic: dict[str, Path],
                                               tmp_path: Path) -> None:
    duck, spark = _audit_both(AuditInputs(
        synthetic["other_claims"], synthetic["members"], synthetic["authorizations"],
        synthetic["contacts"], synthetic["act_claims"]), tmp_path)
    assert differences(duck, spark) == {}


def test_rule_edges_and_bad_rows_are_the_same_on_spark(tmp_path: Path) -> None:
    """Edges in one run, one member each: the monthly cap, already billed days, a month of
    two codes, disagreeing POS, H0039 units, a contact outside every authorization, another
    provider's contacts, and rejected rows (bad date, unknown member, ragged CSV row)."""
    contacts = [
        *[{**c, "member_id": "CAP"} for c in days("2026-03", 1, 31)],
        *[{**c, "member_id": "POS"} for c in days("2026-04", 1, 5, pos="12")],
        {**contact("2026-04-02", minutes=50, pos="11"), "member_id": "POS"},
        *[{**c, "member_id": "H39"} for c in days("2026-05", 3, 9, minutes=37)],
        {**contact("2026-06-15"), "member_id": "OUT"},
        {**contact("2026-06-16", provider_id="9999999999"), "member_id": "OUT"},
        {**contact("2026-03-10"), "member_id": "NOBODY"},
        {**contact("2026-03-11"), "member_id": "CAP", "contact_date": "2026-02-30"},
    ]
    members = [member(m) for m in ("CAP", "POS", "H39", "OUT")]
    auths = [auth("A-CAP", "CAP", start="2026-03-01", end="2026-03-31"),
             auth("A-POS", "POS", start="2026-04-01", end="2026-04-30"),
             auth("A-H39", "H39", start="2026-05-01", end="2026-05-31",
                  billing_code="H0039"),
             auth("A-OUT", "OUT", start="2026-06-01", end="2026-06-10")]
    contacts_csv = write_csv(tmp_path / "contacts.csv", CONTACT_FIELDS, contacts)
    with contacts_csv.open("a") as handle:
        handle.write("C-RAGGED,CAP,1234567893\n")  # a ragged row: the parser rejects it
    inputs = BillInputs(contacts_csv,
                        write_csv(tmp_path / "members.csv", MEMBER_FIELDS, members),
                        write_csv(tmp_path / "authorizations.csv", AUTH_FIELDS, auths))
    for missing_pos in ("default", "hold"):
        duck, spark = _bill_both(inputs, tmp_path / missing_pos, missing_pos=missing_pos)
        assert differences(duck, spark) == {}
        assert len((duck / "errors.csv").read_text().splitlines()) >= 4  # rows rejected


def test_policy_examples_are_the_same_on_spark(tmp_path: Path) -> None:
    """The policy examples' batch inputs (both packs), billed with either POS setting and
    audited with and without a contact log, on both engines."""
    work = tmp_path / "examples"
    run_examples(load_registry(), work)
    for setting in ("default", "hold"):
        folder = work / f"billing-{setting}"
        already = folder / "already_billed.csv"
        duck, spark = _bill_both(BillInputs(
            folder / "contacts.csv", folder / "members.csv", folder / "authorizations.csv",
            already if already.is_file() else None), tmp_path / f"bill-{setting}",
            missing_pos=setting)
        assert differences(duck, spark) == {}
    for with_log in (False, True):
        folder = work / f"audit-{with_log}"
        duck, spark = _audit_both(AuditInputs(
            folder / "claims.csv", folder / "members.csv", folder / "authorizations.csv",
            folder / "contacts.csv" if with_log else None, folder / "act_claims.csv"),
            tmp_path / f"audit-{with_log}")
        assert differences(duck, spark) == {}


def test_a_spark_failure_is_one_line_without_the_value(tmp_path: Path,
                                                       synthetic: dict[str, Path]) -> None:
    """An input Spark cannot read is one line naming the file; Spark's text (which may
    quote the bytes) is not in it."""
    bad = tmp_path / "contacts.parquet"
    bad.write_bytes(b"PAR1 not really parquet SECRET-VALUE")
    with pytest.raises(BhpolicyError) as failure:
        run_billing(BillInputs(bad, synthetic["members"], synthetic["authorizations"]),
                    RunSettings(out=tmp_path / "out", as_of=AS_OF, engine=SPARK),
                    load_registry())
    message = str(failure.value)
    assert str(bad) in message and "SECRET" not in message
    assert "\n" not in message
    shutil.rmtree(tmp_path / "out", ignore_errors=True)


def test_a_failed_task_leaves_no_value_in_the_logs(tmp_path: Path) -> None:
    """A task that fails on a value (an ANSI cast) prints nothing of it to stderr: Spark's
    own logging is off in the driver bhpolicy starts (its log lines name the value), and so
    are PySpark's loggers of a failed query. Run in a process of its own, whose JVM writes
    to the stderr captured here; the failure is still the one line naming its class."""
    script = (
        "from bhpolicy.engines import EngineSettings, spark_conf, spark_session, "
        "spark_failures\n"
        "from bhpolicy.errors import BhpolicyError\n"
        "session = spark_session(spark_conf(EngineSettings('spark', 'local[1]')))\n"
        "try:\n"
        "    with spark_failures('', print):\n"
        "        session.range(3).selectExpr(\"CAST(concat('SECRET', CAST(id AS STRING)) "
        "AS INT) AS x\").collect()\n"
        "except BhpolicyError as exc:\n"
        "    print('message:', exc)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "message: Spark failed while starting (CAST_INVALID_INPUT)" in done.stdout
    assert "SECRET" not in done.stdout + done.stderr
    # logging off from the start (bhpolicy's file found and read: without it log4j reports
    # the missing file and Spark prints its default level), not only the value gone: the
    # JVM's own notice of the vector module is the only line
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == ["WARNING: Using incubator modules: jdk.incubator.vector"] or not lines, \
        lines[:5]
