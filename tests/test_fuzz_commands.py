"""Every command on mutated inputs (issue 14, "Done when"): exit 0, 1 or 2, never a traceback
or a hidden crash ("internal error"), and for ``bill`` and ``audit`` every data row of every
input accounted for: the manifest's rows read equal the file's records, and errors.csv names
only rows of the file. An exit of 0 or 1 leaves the outputs; an exit of 2 leaves no --out.

Each test is bounded for CI (30 examples a command); ``scripts/fuzz`` sets
``BHPOLICY_FUZZ_EXAMPLES`` to run many more (CI runs 15 a command).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from typer.testing import CliRunner

from bhpolicy.cli import app
from tests.audit_helpers import CLAIM_FIELDS, claim
from tests.billing_helpers import (
    AUTH_FIELDS,
    CONTACT_FIELDS,
    MEMBER_FIELDS,
    MN_NPI,
    SC_NPI,
    auth,
    contact,
    member,
)
from tests.conftest import REPO
from tests.support.dates import AS_OF_TEXT

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("BHPOLICY_FUZZ_EXAMPLES", "15"))  # CI; scripts/fuzz: 300
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
RUN_FAST = ("--formats", "parquet,csv", "--no-html", "--threads", "1", "--json")

# Payloads a careless or hostile user puts in a field: extreme and malformed dates, formulas,
# HTML, delimiters, quotes, line breaks, control and non-ASCII characters, huge numbers.
PAYLOADS = [
    "", " ", "9999-12-31", "0001-01-01", "1899-12-31", "1900-01-01", "2026-12-02",
    "2026-02-30", "2026-3-1", "20260301", "=HYPERLINK(\"http://x\",\"y\")", "+1", "-1", "@SUM(1)",
    "\t=1", "\r=1", "<script>window.__pwned=1</script>", "<img src=x onerror=alert(1)>",
    "a\nb", "a\r\nb", "\"", "'", ",", "\"\"", "\u2028", "Zoë Ñúñez", "\x00", "\x1b[31m",
    "-5", "99999999999999999999999", "1e400", "NaN", "true", "TRUE", "maybe", "00", "12", "1a",
    "M1", "M2", "sc-act", "mn-act", "large", "video", "phone", "family", SC_NPI, MN_NPI,
    "*~:^", "ISA*00*", "\ufeff", "x" * 300,
]
BAD_BYTES = ["\udcff", "\udcc3", "\udc80", "\udcfe\udcff", "\udce9"]  # written as raw bytes
VALUES = st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=12),
                   st.sampled_from(BAD_BYTES).map(lambda b: f"a{b}b"))

Rows = list[list[str]]


def _mutation() -> st.SearchStrategy[tuple[Any, ...]]:
    """One change to a CSV file given as records (header first): a field replaced, emptied
    or extended, a field dropped or added (a ragged row), a bad byte, a very long field, a
    row duplicated or removed. Each keeps the number of records well defined."""
    where = st.tuples(st.integers(0, 10_000), st.integers(0, 10_000))
    return st.one_of(
        st.tuples(st.just("set"), where, VALUES),
        st.tuples(st.just("empty"), where),
        st.tuples(st.just("extend"), where, VALUES),
        st.tuples(st.just("drop_field"), where),
        st.tuples(st.just("add_field"), where, VALUES),
        st.tuples(st.just("bad_byte"), where, st.sampled_from(BAD_BYTES)),
        st.tuples(st.just("long"), where, st.sampled_from([70_000, 300_000])),
        st.tuples(st.just("duplicate"), where),
        st.tuples(st.just("remove"), where),
    )


MUTATIONS = st.lists(_mutation(), min_size=1, max_size=3)


def mutate(rows: Rows, changes: list[tuple[Any, ...]]) -> Rows:
    rows = [list(r) for r in rows]
    for change in changes:
        kind, (at_row, at_field) = change[0], change[1]
        # the header is row 0: changed rarely (1 in 20), so most examples test data rows
        data = len(rows) > 1 and at_row % 20 != 0
        i = 1 + at_row % (len(rows) - 1) if data else 0
        row = rows[i]
        j = at_field % len(row) if row else 0
        if kind == "set" and row:
            row[j] = change[2]
        elif kind == "empty" and row:
            row[j] = ""
        elif kind == "extend" and row:
            row[j] += change[2]
        elif kind == "drop_field" and len(row) > 1:  # never a blank line
            del row[j]
        elif kind == "add_field":
            row.insert(j, change[2])
        elif kind == "bad_byte" and row:
            row[j] = row[j][: len(row[j]) // 2] + change[2] + row[j][len(row[j]) // 2:]
        elif kind == "long" and row:
            row[j] = "x" * change[2]
        elif kind == "duplicate" and data:
            rows.insert(i, list(row))
        elif kind == "remove" and data:
            del rows[i]
    return rows


def to_bytes(rows: Rows, crlf: bool = False, bom: bool = False) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n" if crlf else "\n").writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8",
                                                                        "surrogateescape")


def records(data: bytes) -> int:
    """Data records of a CSV file as a spreadsheet counts them (a quoted field holding line
    breaks is one record), read byte for byte (latin-1), without the header."""
    limit = csv.field_size_limit(1 << 30)  # a very long field is one field (restored after)
    try:
        reader = csv.reader(io.StringIO(data.decode("latin-1"), newline=""))
        return max(sum(1 for fields in reader if fields) - 1, 0)
    finally:
        csv.field_size_limit(limit)


def table(fields: list[str], rows: list[dict[str, Any]]) -> Rows:
    return [fields] + [[str(r.get(f, "")) for f in fields] for r in rows]


runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    """Run a command in-process; a traceback, an exception or a crash hidden behind
    "internal error" fails the test."""
    result = runner.invoke(app, list(args), catch_exceptions=True)
    text = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args[0]} raised {type(result.exception).__name__}: "
                             f"{result.exception}") from result.exception
    assert "Traceback" not in text, text[-3000:]
    assert "internal error" not in text, text[-3000:]
    assert result.exit_code in (0, 1, 2), (result.exit_code, text[-3000:])
    with suppress(InvalidArgument):  # outside a property (a fixture): no statistics
        event(f"{args[0] if not args[0].startswith('-') else args[2]}: exit {result.exit_code}")
    return result.exit_code, text


@contextmanager
def workdir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="bhpolicy-fuzz-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_run(code: int, folder: Path, out: Path, files: dict[str, tuple[Path, bytes]],
              outputs: list[str]) -> None:
    """The run's promises: exit 2 leaves no --out (and no staging folder); exit 0 or 1 leaves
    the outputs and a manifest whose rows read are the file's records, every error row a
    row of its file, and exit 1 exactly when some row was rejected."""
    leftovers = [p.name for p in folder.iterdir() if ".staging" in p.name]
    assert not leftovers, leftovers
    if code == 2:
        assert not out.exists()
        return
    manifest = json.loads((out / "manifest.json").read_text())
    for name in outputs:
        assert (out / name).is_file(), name
    limit = csv.field_size_limit(1 << 30)  # errors.csv keeps a very long value
    try:
        with (out / "errors.csv").open(newline="", encoding="utf-8") as handle:
            errors = list(csv.DictReader(handle))
    finally:
        csv.field_size_limit(limit)
    named = {str(path): name for name, (path, _) in files.items()}
    for error in errors:
        assert error["file"] in named, error["file"]
    for name, (path, data) in files.items():
        n = records(data)
        assert manifest["rows"][name] == n, (name, manifest["rows"], n)
        rows = [int(e["row"]) for e in errors if e["file"] == str(path)]
        assert all(2 <= r <= n + 1 for r in rows), (name, n, rows)
    assert manifest["counts"]["rejected_rows"] == len(errors)
    assert (code == 1) == bool(errors), (code, len(errors))


# --- bill ------------------------------------------------------------------------------------

BILL_BASE = {
    "contacts": table(CONTACT_FIELDS, [
        *[contact(f"2026-03-{d:02d}") for d in range(1, 6)],
        contact("2026-03-02", mode="video", participant="family"),
        contact("2026-03-03", group=True, pos=""),
        contact("2026-03-04", member_id="M2", provider_id=MN_NPI, pos="21"),
        contact("2026-03-05", member_id="M2", provider_id=MN_NPI, minutes=20),
        contact("2026-03-06", provider_id="1111111116")]),
    "members": table(MEMBER_FIELDS, [member("M1"), member("M2", state="MN", zip="55101")]),
    "authorizations": table(AUTH_FIELDS, [
        auth("A1"), auth("A2", member_id="M2", policy="mn-act", provider_id=MN_NPI,
                         team_size="")]),
}
BILL_OUTPUTS = ["lines.parquet", "lines.csv", "member_months.csv", "unbilled_days.csv",
                "other_provider_contacts.csv", "subscribers.csv", "errors.csv"]


def csv_inputs(base: dict[str, Rows]) -> st.SearchStrategy[dict[str, tuple[Rows, bool, bool]]]:
    """Every input: mutated or not, written with LF or CRLF, with or without a BOM."""
    return st.fixed_dictionaries({
        name: st.tuples(st.one_of(st.just(rows), MUTATIONS.map(
            lambda changes, rows=rows: mutate(rows, changes))),  # type: ignore[misc]
            st.booleans(), st.booleans())
        for name, rows in base.items()})


def write_inputs(folder: Path, chosen: dict[str, tuple[Rows, bool, bool]]
                 ) -> dict[str, tuple[Path, bytes]]:
    files = {}
    for name, (rows, crlf, bom) in chosen.items():
        data = to_bytes(rows, crlf, bom)
        path = folder / f"{name}.csv"
        path.write_bytes(data)
        files[name] = (path, data)
    return files


@FUZZ
@given(csv_inputs(BILL_BASE))
def test_bill_accounts_for_every_row_of_mutated_inputs(
        chosen: dict[str, tuple[Rows, bool, bool]]) -> None:
    with workdir() as folder:
        files = write_inputs(folder, chosen)
        out = folder / "out"
        code, _ = invoke("bill", "--contacts", str(files["contacts"][0]),
                         "--members", str(files["members"][0]),
                         "--authorizations", str(files["authorizations"][0]),
                         "--out", str(out), "--as-of", AS_OF_TEXT, *RUN_FAST)
        check_run(code, folder, out, files, BILL_OUTPUTS)


# --- audit -----------------------------------------------------------------------------------

AUDIT_BASE = {
    "claims": table(CLAIM_FIELDS, [
        claim("C1", "M1", "2026-03-02", hcpcs="H2017", pos="11", units="4", paid="40.00"),
        claim("C2", "M1", "2026-03-03", "2026-03-05", revenue_code="0100", bill_type="111",
              paid="900.00"),
        claim("C3", "M2", "2026-03-04", hcpcs="90837", diagnosis="F20.0")]),
    "act_claims": table(CLAIM_FIELDS, [
        claim("P1", "M1", "2026-03-02", hcpcs="H0040", modifiers="U1", provider_id=SC_NPI,
              authorization_id="A1", paid="250.00"),
        claim("P2", "M1", "2026-03-20", hcpcs="H0040", modifiers="U1", provider_id=SC_NPI,
              authorization_id="A1", paid="250.00")]),
    "members": BILL_BASE["members"],
    "authorizations": BILL_BASE["authorizations"],
    "contacts": BILL_BASE["contacts"],
}
AUDIT_OUTPUTS = ["findings.parquet", "findings.csv", "rules.csv", "crosswalk.csv",
                 "errors.csv"]


@FUZZ
@given(csv_inputs(AUDIT_BASE))
def test_audit_accounts_for_every_row_of_mutated_inputs(
        chosen: dict[str, tuple[Rows, bool, bool]]) -> None:
    with workdir() as folder:
        files = write_inputs(folder, chosen)
        out = folder / "out"
        code, _ = invoke("audit", "--claims", str(files["claims"][0]),
                         "--act-claims", str(files["act_claims"][0]),
                         "--members", str(files["members"][0]),
                         "--authorizations", str(files["authorizations"][0]),
                         "--contacts", str(files["contacts"][0]),
                         "--out", str(out), "--as-of", AS_OF_TEXT, *RUN_FAST)
        check_run(code, folder, out, files, AUDIT_OUTPUTS)


# --- check -----------------------------------------------------------------------------------

CASES = REPO / "examples" / "cases"
CASE_FILES = sorted(CASES.glob("*.json*"))


def _byte_change() -> st.SearchStrategy[tuple[Any, ...]]:
    """A change to a text file at a position: bytes deleted, inserted or replaced, a line
    duplicated, the file cut short."""
    chunk = st.one_of(st.sampled_from([p.encode("utf-8", "surrogateescape")
                                       for p in PAYLOADS + BAD_BYTES]),
                      st.binary(max_size=8),
                      st.sampled_from([b"{", b"}", b"[", b"]", b'"', b",", b":", b"\n", b"*",
                                       b"~", b"^", b"\r\n", b"null", b"1e999", b"-0",
                                       b"[" * 2000, b"9" * 5000]))
    at = st.integers(0, 10**9)
    return st.one_of(st.tuples(st.just("insert"), at, chunk),
                     st.tuples(st.just("replace"), at, chunk, st.integers(1, 40)),
                     st.tuples(st.just("delete"), at, st.integers(1, 40)),
                     st.tuples(st.just("duplicate_line"), at),
                     st.tuples(st.just("truncate"), at))


def mutate_bytes(data: bytes, changes: list[tuple[Any, ...]]) -> bytes:
    for change in changes:
        kind, at = change[0], change[1] % (len(data) + 1)
        if kind == "insert":
            data = data[:at] + change[2] + data[at:]
        elif kind == "replace":
            data = data[:at] + change[2] + data[at + change[3]:]
        elif kind == "delete":
            data = data[:at] + data[at + change[2]:]
        elif kind == "duplicate_line":
            lines = data.splitlines(keepends=True)
            if lines:
                k = change[1] % len(lines)
                lines.insert(k, lines[k])
            data = b"".join(lines)
        elif kind == "truncate":
            data = data[:at]
    return data


BYTE_CHANGES = st.lists(_byte_change(), min_size=1, max_size=4)


@FUZZ
@given(st.sampled_from(CASE_FILES), BYTE_CHANGES, st.sampled_from(["text", "json", "html"]),
       st.booleans())
def test_check_on_mutated_case_files_exits_cleanly(
        source: Path, changes: list[tuple[Any, ...]], form: str, to_file: bool) -> None:
    with workdir() as folder:
        path = folder / source.name
        path.write_bytes(mutate_bytes(source.read_bytes(), changes))
        out = folder / "determinations.out"
        code, _ = invoke("check", str(path), "--format", form, "--as-of", AS_OF_TEXT,
                         "--errors", str(folder / "errors.txt"),
                         *(["--out", str(out)] if to_file else []))
        if to_file and code != 2:
            assert out.is_file()
        assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


# --- team check, reasons check, codes import (small CSVs read whole) -------------------------

def _csv_rows(path: Path) -> Rows:
    with path.open(newline="", encoding="utf-8") as handle:
        return [r for r in csv.reader(handle) if r]


ROSTERS = {"sc-act": _csv_rows(REPO / "examples" / "team" / "sc-roster.csv"),
           "mn-act": _csv_rows(REPO / "examples" / "team" / "mn-roster.csv")}


@FUZZ
@given(st.sampled_from(sorted(ROSTERS)), MUTATIONS, st.booleans(), st.booleans())
def test_team_check_on_mutated_rosters_exits_cleanly(
        policy: str, changes: list[tuple[Any, ...]], crlf: bool, bom: bool) -> None:
    with workdir() as folder:
        roster = folder / "roster.csv"
        roster.write_bytes(to_bytes(mutate(ROSTERS[policy], changes), crlf, bom))
        invoke("team", "check", str(roster), "--policy", policy,
               *(["--json"] if crlf else []))


CARC = [["code", "description", "stop_date"], ["119", "Benefit maximum", ""],
        ["197", "Precertification absent", ""], ["4", "Modifier", ""], ["181", "Invalid", ""],
        ["97", "Included", ""], ["272", "Coverage", ""], ["96", "Non-covered", ""],
        ["18", "Duplicate", ""], ["B20", "Procedure", ""], ["5", "POS", ""],
        ["15", "Authorization", "2020-01-01"]]
RARC = [["code", "description"], ["N362", "x"], ["N54", "x"], ["M15", "x"], ["N130", "x"],
        ["N20", "x"], ["M62", "x"], ["M86", "x"], ["M77", "x"]]


@FUZZ
@given(st.sampled_from(["sc-act", "mn-act"]), MUTATIONS, MUTATIONS, st.booleans(),
       st.sampled_from(["2026-03-01", "2019-12-31"]))
def test_reasons_check_on_mutated_code_lists_exits_cleanly(
        policy: str, carc_changes: list[tuple[Any, ...]], rarc_changes: list[tuple[Any, ...]],
        with_rarc: bool, on: str) -> None:
    with workdir() as folder:
        carc, rarc = folder / "carc.csv", folder / "rarc.csv"
        carc.write_bytes(to_bytes(mutate(CARC, carc_changes)))
        rarc.write_bytes(to_bytes(mutate(RARC, rarc_changes)))
        invoke("reasons", "check", "--policy", policy, "--carc", str(carc), "--on", on,
               *(["--rarc", str(rarc)] if with_rarc else []))


HCPCS = [["HCPC", "SEQNUM", "RECID", "LONG DESCRIPTION", "SHORT DESCRIPTION", "ADD DT",
          "ACT EFF DT", "TERM DT", "ACTION CD"],
         ["H0019", "00100", "3", "Behavioral health; long-term residential", "", "19990101",
          "", "", "N"],
         ["H0019", "00101", "4", "(nonmedical, nonacute care in a residential treatment",
          "", "", "", "", ""],
         ["H0040", "00200", "3", "Assertive community treatment program, per diem",
          "ACT per diem", "20030101", "", "", "N"],
         ["H2017", "00300", "3", "Psychosocial rehabilitation services, per 15 minutes",
          "", "20030101", "", "20251231", "N"]]


@FUZZ
@given(MUTATIONS, st.booleans(), st.booleans())
def test_codes_import_on_mutated_hcpcs_csv_exits_cleanly(
        changes: list[tuple[Any, ...]], crlf: bool, bom: bool) -> None:
    with workdir() as folder:
        path = folder / "HCPC.csv"
        path.write_bytes(to_bytes(mutate(HCPCS, changes), crlf, bom))
        code, _ = invoke("--home", str(folder / "home"), "codes", "import", str(path),
                         "--json")
        if code == 0:
            assert any((folder / "home").rglob("*"))


# --- claims 837p and claims validate ---------------------------------------------------------

SUBMITTER = (REPO / "examples" / "submitter.toml").read_text()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished billing run of the base inputs (lines for SC and MN), with its 837P."""
    folder = tmp_path_factory.mktemp("fuzz-run")
    files = write_inputs(folder, {n: (rows, False, False) for n, rows in BILL_BASE.items()})
    out = folder / "run"
    code, text = invoke("bill", "--contacts", str(files["contacts"][0]), "--members",
                        str(files["members"][0]), "--authorizations",
                        str(files["authorizations"][0]), "--out", str(out), "--as-of",
                        AS_OF_TEXT, "--formats", "csv", "--no-html", "--threads", "1")
    assert code == 0, text
    (folder / "submitter.toml").write_text(SUBMITTER)
    code, text = invoke("--home", str(folder / "home"), "claims", "837p", "--run", str(out),
                        "--config",
                        str(folder / "submitter.toml"), "--out", str(folder / "claims.x12"),
                        "--as-of", AS_OF_TEXT, "--no-validate")
    assert code == 0, text
    return out


def _toml_change() -> st.SearchStrategy[tuple[Any, ...]]:
    """A change to the submitter config: a quoted value replaced by a payload, a line removed
    or duplicated, or bytes changed anywhere."""
    return st.one_of(st.tuples(st.just("value"), st.integers(0, 10**6), VALUES),
                     st.tuples(st.just("line"), st.integers(0, 10**6), st.booleans()),
                     st.tuples(st.just("bytes"), _byte_change()))


def mutate_toml(text: str, changes: list[tuple[Any, ...]]) -> bytes:
    data = text.encode()
    for change in changes:
        lines = data.split(b"\n")
        k = change[1] % len(lines) if change[0] != "bytes" else 0
        if change[0] == "value":
            quoted = [i for i, line in enumerate(lines) if b'= "' in line or b"= " in line]
            i = quoted[change[1] % len(quoted)] if quoted else k
            key = lines[i].split(b"=", 1)[0]
            value = json.dumps(change[2], ensure_ascii=False)  # a TOML basic string
            lines[i] = key + b"= " + value.encode("utf-8", "surrogateescape")
        elif change[0] == "line":
            if change[2]:
                del lines[k]
            else:
                lines.insert(k, lines[k])
        data = b"\n".join(lines) if change[0] != "bytes" else mutate_bytes(data, [change[1]])
    return data


def _copy_run(run: Path, into: Path) -> Path:
    copy = into / "run"
    shutil.copytree(run, copy)  # the manifest comes along: the run is accepted
    return copy


@FUZZ
@given(st.lists(_toml_change(), max_size=3), st.sampled_from(["", "lines", "subscribers"]),
       MUTATIONS, st.booleans())
def test_claims_837p_on_mutated_config_and_run_exits_cleanly(
        finished_run: Path, config_changes: list[tuple[Any, ...]], which: str,
        changes: list[tuple[Any, ...]], validate: bool) -> None:
    with workdir() as folder:
        run = _copy_run(finished_run, folder)
        if which:
            target = run / f"{which}.csv"
            target.write_bytes(to_bytes(mutate(_csv_rows(target), changes)))
        config = folder / "submitter.toml"
        config.write_bytes(mutate_toml(SUBMITTER, config_changes))
        out = folder / "claims.x12"
        code, _ = invoke("claims", "837p", "--run", str(run), "--config", str(config),
                         "--out", str(out), "--as-of", AS_OF_TEXT,
                         "--validate" if validate else "--no-validate", "--json")
        if code != 2:  # written: the index of the claims beside the 837P
            assert out.with_suffix(".claims.csv").is_file()
        assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def x12_text(finished_run: Path) -> bytes:
    return (finished_run.parent / "claims.x12").read_bytes()


@FUZZ
@given(BYTE_CHANGES, st.booleans())
def test_claims_validate_on_mutated_x12_exits_cleanly(
        x12_text: bytes, changes: list[tuple[Any, ...]], with_ack: bool) -> None:
    with workdir() as folder:
        path = folder / "claims.x12"
        path.write_bytes(mutate_bytes(x12_text, changes))
        code, _ = invoke("claims", "validate", str(path), "--json",
                         *(["--ack", str(folder / "ack.999")] if with_ack else []))
        if with_ack and code != 2:
            assert (folder / "ack.999").is_file()


def test_record_count_reads_quoted_line_breaks_as_one_record() -> None:
    # the test's own counter: a quoted field with a line break is one record, a bad byte is
    # read, a blank line is not a record
    data = to_bytes([["a", "b"], ["1", "x\ny"], ["2", "\udcff"]])
    assert records(data) == 2
    assert records(b"a,b\n1,2\n\n") == 1
