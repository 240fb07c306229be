"""Hostile and broken input to the 837P writer and validator (issue 14, items 3, 6 and 8).

Every text of the submitter config and of the member and line data that reaches an X12
element is tried with delimiter payloads: the run is either refused with a one-line error
(before any control number is reserved, nothing written) or writes a file pyx12 accepts with
no stray delimiter. Messages never carry a value of a field holding PHI."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from bhpolicy.cli import app
from bhpolicy.errors import DataFileError
from bhpolicy.x12 import control
from bhpolicy.x12.config import load_config
from bhpolicy.x12.validate import validate_837p
from tests.billing_helpers import auth, days, member
from tests.billing_helpers import run as bill
from tests.conftest import REPO

CONFIG = REPO / "examples" / "submitter.toml"
EPOCH = {"SOURCE_DATE_EPOCH": "1775000000"}  # 2026-03-31: fixed ISA/GS dates
FULL_STAR, FULL_TILDE = "\uff0a", "\uff5e"  # full-width * and ~: anyascii gives * and ~
DELIMITER_PAYLOADS = ["ACT*TEAM~01", "AB:CD^EF", "NEW\nLINE", "TAB\tX", f"ACT{FULL_STAR}TEAM"]
CONFIG_TEXT_KEYS = [
    "interchange.sender_id", "interchange.application_sender", "submitter.name",
    "submitter.id", "submitter.contact_name", "receivers.0.name", "receivers.0.id",
    "receivers.0.interchange_id", "receivers.0.application_receiver", "payers.0.name",
    "payers.0.id", "payers.0.receiver", "billing_providers.0.name",
    "billing_providers.0.address", "billing_providers.0.city", "billing_providers.0.npi",
    "billing_providers.0.tax_id", "billing_providers.0.taxonomy", "billing_providers.0.state",
    "billing_providers.0.zip", "submitter.phone", "interchange.sender_qualifier",
    "receivers.0.interchange_qualifier", "interchange.usage",
]
# every subscriber field and line field that reaches the 837P
DATA_FIELDS = ["medicaid_id", "last_name", "first_name", "address_line", "city", "state",
               "zip", "birth_date", "sex", "primary_dx", "member_id", "authorization_id",
               "hcpcs", "modifier", "pos", "units", "service_date"]
DATA_PAYLOADS = ["DOE~NM1*82*1*EVIL", "QQX:YYQ^QQZ", "QQX\nYYQ",
                 f"Zoë{FULL_STAR}Ñúñez{FULL_TILDE}"]


# ---------------------------------------------------------------- helpers

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}"
                                for k, v in value.items()) + " }"
    return json.dumps(str(value), ensure_ascii=False)  # a valid TOML basic string


def dump_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Enough TOML for a submitter config: scalars, tables and arrays of tables."""
    out: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    arrays: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in data.items():
        if isinstance(value, dict) and key != "rates":
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            arrays.append((key, value))
        else:
            out.append(f"{json.dumps(key)} = {_toml_value(value)}")
    for key, table in tables:
        out += [f"\n[{prefix}{key}]", dump_toml(table, f"{prefix}{key}.")]
    for key, items in arrays:
        for item in items:
            out += [f"\n[[{prefix}{key}]]", dump_toml(item, f"{prefix}{key}.")]
    return "\n".join(line for line in out if line != "")


def example() -> dict[str, Any]:
    return tomllib.loads(CONFIG.read_text(encoding="utf-8"))


def set_key(data: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    node: Any = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    node[parts[-1]] = value
    return data


def write_config(tmp_path: Path, data: dict[str, Any], name: str = "submitter.toml") -> Path:
    path = tmp_path / name
    path.write_text(dump_toml(data) + "\n", encoding="utf-8")
    assert tomllib.loads(path.read_text(encoding="utf-8")) == data  # the writer is faithful
    return path


def claims(run_dir: Path, config: Path, out: Path, control_file: Path, *extra: str) -> Any:
    return CliRunner().invoke(app, ["claims", "837p", "--run", str(run_dir), "--config",
                                    str(config), "--out", str(out), "--control-file",
                                    str(control_file), *extra], env=EPOCH)


def segments(path: Path) -> list[str]:
    text = path.read_text(encoding="ascii")
    assert all(line.endswith("~") for line in text.splitlines()), "a segment split a line"
    return [s for s in text.replace("\n", "").split("~") if s]


def assert_clean_x12(path: Path) -> None:
    """pyx12-valid and no stray delimiter: every segment has the shape the writer gives."""
    checked = validate_837p(path)
    assert checked.valid, checked.findings
    segs = segments(path)
    assert len(segs[0]) == 105 and segs[0].count("*") == 16  # ISA, fixed width
    allowed = {"ISA", "GS", "ST", "BHT", "NM1", "PER", "HL", "PRV", "N3", "N4", "REF", "SBR",
               "DMG", "CLM", "HI", "LX", "SV1", "DTP", "SE", "GE", "IEA"}
    assert {s.split("*")[0] for s in segs} <= allowed
    assert not any(s.startswith(("NM1*82", "NM1*DN")) for s in segs)
    for seg in segs:
        if seg.startswith("NM1*IL*"):
            assert seg.count("*") == 9, seg
        if seg.startswith(("N3*", "N4*", "DMG*")):
            assert seg.count("*") <= 3, seg


@pytest.fixture(scope="module")
def billed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished SC billing run (two member-months of one member)."""
    tmp = tmp_path_factory.mktemp("billed")
    return bill(tmp, days("2026-03", 2, 4) + days("2026-04", 1, 2), members=[member()],
                name="sc").out


def edited_run(source: Path, tmp_path: Path, field: str, value: str) -> Path:
    """A copy of a run with one field of every line or subscriber row replaced."""
    folder = tmp_path / "edited"
    folder.mkdir()
    for name in ("lines", "subscribers"):
        target = folder / f"{name}.csv"
        duckdb.execute(f"COPY (SELECT * FROM '{source / (name + '.parquet')}') TO "
                       f"'{target}' (HEADER)")
        with target.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            if field in row:
                row[field] = value
        with target.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    shutil.copy(source / "manifest.json", folder / "manifest.json")
    return folder


# ---------------------------------------------------------------- config values (item 3)

@pytest.mark.parametrize("payload", DELIMITER_PAYLOADS)
@pytest.mark.parametrize("key", CONFIG_TEXT_KEYS)
def test_config_text_with_a_delimiter_is_refused_naming_the_key_before_any_number(
        billed: Path, tmp_path: Path, key: str, payload: str) -> None:
    config = write_config(tmp_path, set_key(example(), key, payload))
    out, numbers = tmp_path / "claims.x12", tmp_path / "control.json"
    result = claims(billed, config, out, numbers)
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {config}: key {key}"), lines
    assert not out.exists() and not numbers.exists()  # nothing written, nothing reserved


@pytest.mark.parametrize(("key", "value", "problem"), [
    ("interchange.sender_id", "ACTTEAM01ACTTEAM", "must be 1 to 15 characters"),
    ("receivers.0.interchange_id", "X" * 16, "must be 1 to 15 characters"),
    ("interchange.application_sender", "A", "must be 2 to 15 characters"),
    ("interchange.sender_id", " ACT", "spaces before or after"),
    ("interchange.sender_qualifier", "Z", "Input should be"),
    ("receivers.0.interchange_qualifier", "99", "Input should be"),
    ("submitter.name", "N" * 61, "must be 1 to 60 characters"),
    ("billing_providers.0.address", "A" * 56, "must be 1 to 55 characters"),
])
def test_isa_and_element_sizes_are_refused_when_too_long_or_short(
        tmp_path: Path, key: str, value: str, problem: str) -> None:
    config = write_config(tmp_path, set_key(example(), key, value))
    with pytest.raises(DataFileError, match=f"key {key}: .*{problem}"):
        load_config(config)


def test_isa_fields_are_at_their_fixed_widths(billed: Path, tmp_path: Path) -> None:
    """ISA05/07 two characters, ISA06/08 fifteen (padded), ISA13 nine digits: 106 with ~."""
    data = set_key(example(), "interchange.sender_id", "A")
    config = write_config(tmp_path, set_key(data, "receivers.0.interchange_id", "R" * 15))
    out = tmp_path / "claims.x12"
    result = claims(billed, config, out, tmp_path / "control.json")
    assert result.exit_code == 0, result.stderr
    isa = out.read_text(encoding="ascii").splitlines()[0]
    widths = [len(e) for e in isa.removesuffix("~").split("*")]
    assert len(isa) == 106
    assert widths == [3, 2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1]
    assert isa.split("*")[6] == "A" + " " * 14
    assert_clean_x12(out)


def test_config_names_outside_ascii_are_sent_transliterated_with_a_warning_naming_the_key(
        billed: Path, tmp_path: Path) -> None:
    data = set_key(example(), "billing_providers.0.name", "Équipe ACT Zoë")
    config = write_config(tmp_path, set_key(data, "submitter.contact_name", "Ñúñez Desk"))
    out = tmp_path / "claims.x12"
    result = claims(billed, config, out, tmp_path / "control.json")
    assert result.exit_code == 0, result.stderr
    segs = segments(out)
    assert "NM1*85*2*EQUIPE ACT ZOE*****XX*1234567893" in segs
    assert "PER*IC*NUNEZ DESK*TE*8035550100" in segs
    assert "warning: config key submitter.contact_name: letters outside ASCII sent " \
           "transliterated" in result.stderr
    assert "config billing provider 1234567893 name: letters outside ASCII" in result.stderr
    assert "Zoë" not in result.stderr and "Ñúñez" not in result.stderr
    assert_clean_x12(out)


# ---------------------------------------------------------------- member and line data

@pytest.mark.parametrize("payload", DATA_PAYLOADS)
@pytest.mark.parametrize("field", DATA_FIELDS)
def test_data_payloads_are_refused_or_written_valid_without_echoing_the_value(
        billed: Path, tmp_path: Path, field: str, payload: str) -> None:
    run_dir = edited_run(billed, tmp_path, field, payload)
    out = tmp_path / "claims.x12"
    result = claims(run_dir, CONFIG, out, tmp_path / "control.json", "--no-validate")
    assert result.exit_code in (0, 1, 2), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for line in result.stderr.splitlines():
        assert line.startswith(("error: ", "warning: ", "rejected: ", "pyx12: ")), line
    for piece in payload.split("\n"):
        assert piece not in result.stderr  # the value (PHI) is never echoed
    assert "EVIL" not in result.stderr and "Ñ" not in result.stderr
    if out.exists():
        assert result.exit_code in (0, 1)
        assert_clean_x12(out)
    else:
        assert result.exit_code == 2


def test_names_outside_ascii_are_transliterated_not_deleted(billed: Path,
                                                            tmp_path: Path) -> None:
    run_dir = edited_run(billed, tmp_path, "last_name", "Ñúñez")
    run_dir = _edit(run_dir, "first_name", "Zoë")
    out = tmp_path / "claims.x12"
    result = claims(run_dir, CONFIG, out, tmp_path / "control.json")
    assert result.exit_code == 0, result.stderr
    assert any(s.startswith("NM1*IL*1*NUNEZ*ZOE****MI*") for s in segments(out))
    assert "subscriber last_name: letters outside ASCII sent transliterated" in result.stderr
    assert "subscriber first_name: letters outside ASCII sent transliterated" in result.stderr
    assert "Zoë" not in result.stderr and "NUNEZ" not in result.stderr
    assert_clean_x12(out)


def _edit(run_dir: Path, field: str, value: str) -> Path:
    for name in ("lines", "subscribers"):
        path = run_dir / f"{name}.csv"
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            if field in row:
                row[field] = value
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return run_dir


def test_a_transliteration_giving_a_delimiter_is_cleaned_with_a_warning(
        billed: Path, tmp_path: Path) -> None:
    address = f"1 Main St {FULL_STAR} Apt {FULL_TILDE}5"
    run_dir = edited_run(billed, tmp_path, "address_line", address)
    out = tmp_path / "claims.x12"
    result = claims(run_dir, CONFIG, out, tmp_path / "control.json")
    assert result.exit_code == 0, result.stderr
    assert "N3*1 MAIN ST APT 5" in segments(out)
    assert "subscriber address_line: X12 delimiters or characters outside" in result.stderr
    assert_clean_x12(out)


def test_a_name_empty_after_cleaning_rejects_that_claim_only(tmp_path: Path) -> None:
    two = bill(tmp_path, days("2026-03", 2, 3) + days("2026-03", 2, 3, member_id="M2"),
               members=[member(), member("M2", last_name="~*~", medicaid_id="0099999999")],
               auths=[auth(), auth("A2", "M2")], name="two").out
    out = tmp_path / "claims.x12"
    result = claims(two, CONFIG, out, tmp_path / "control.json")
    assert result.exit_code == 1, result.stderr
    assert "subscriber last_name: empty once cleaned to the X12 character set" in \
        result.stderr
    assert "0099999999" not in result.stderr
    segs = segments(out)
    assert sum(s.startswith("CLM*") for s in segs) == 1
    assert_clean_x12(out)


# ---------------------------------------------------------------- bad config values (item 6)

@pytest.mark.parametrize(("change", "where"), [
    (("payers.0.fees.0.rates", {"H0040:U1": "1e400"}), "key payers.0.fees.0.rates"),
    (("payers.0.fees.0.rates", {"H0040:U1": "NaN"}), "key payers.0.fees.0.rates"),
    (("payers.0.fees.0.rates", {"H0040:U1": "Infinity"}), "key payers.0.fees.0.rates"),
    (("payers.0.fees.0.rates", {"H0040:U1": "-1"}), "key payers.0.fees.0.rates"),
    (("payers.0.fees.0.rates", {"H0040:U1": "1.001"}), "key payers.0.fees.0.rates"),
    (("payers.0.fees.0.rates", {"H0040:U1": "lots"}), "key payers.0.fees.0.rates"),
    (("payers.0.fees.0.rates", {"H0040:U1": 1e300}), "key payers.0.fees.0.rates"),
    (("payers.0.fees.0.rates", {"H0040*U1": "1.00"}), "key payers.0.fees.0.rates"),
    (("payers.0.fees.0.since", "soon"), "key payers.0.fees.0.since"),
    (("payers.0.filing_limit_days", -1), "key payers.0.filing_limit_days"),
    (("payers.0.filing_limit_days", 10**30), "key payers.0.filing_limit_days"),
    (("payers.0.packs", []), "key payers.0.packs"),
    (("payers.0.receiver", "NOBODY"), "key payers.0.receiver"),
    (("payers.1.id", "SCPLAN01"), "key payers.1.id"),
    (("limits", {"max_lines_per_claim": 0}), "key limits.max_lines_per_claim"),
    (("submitter", "text"), "key submitter"),
])
def test_bad_config_values_are_one_line_naming_the_key(
        billed: Path, tmp_path: Path, change: tuple[str, Any], where: str) -> None:
    config = write_config(tmp_path, set_key(example(), *change))
    result = claims(billed, config, tmp_path / "claims.x12", tmp_path / "control.json")
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {config}: {where}"), lines
    assert not (tmp_path / "claims.x12").exists()


@pytest.mark.parametrize(("content", "problem"), [
    (b'name = "\xff\xfe"\n', "file: not UTF-8 text"),
    (b"\x00\x01\x02", "file: not TOML"),
    (b"a = " + b"[" * 5000 + b"]" * 5000, "file: not TOML"),
    (b"[interchange\n", "file: not TOML"),
])
def test_unreadable_config_files_are_one_line(billed: Path, tmp_path: Path, content: bytes,
                                              problem: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_bytes(content)
    result = claims(billed, config, tmp_path / "claims.x12", tmp_path / "control.json")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {config}: {problem}"), lines


def test_a_config_mixing_both_forms_is_refused(tmp_path: Path) -> None:
    data = example()
    data["payer"] = {"name": "Old", "id": "OLD01"}
    with pytest.raises(DataFileError, match="key payer: belongs to the single-payer form"):
        load_config(write_config(tmp_path, data))


# ---------------------------------------------------------------- validate (items 3, 8)

def test_validate_names_the_supported_versions_for_an_unknown_one(billed: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "claims.x12"
    assert claims(billed, CONFIG, out, tmp_path / "control.json").exit_code == 0
    a2 = tmp_path / "a2.x12"
    a2.write_text(out.read_text().replace("005010X222A1", "005010X222A2"))
    result = CliRunner().invoke(app, ["claims", "validate", str(a2)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "GS08 005010X222A2: pyx12 has no map" in lines[0]
    assert "005010X222A1 (837P)" in lines[0]


@pytest.mark.parametrize("content", [b"", b"hello", b"\xff\xfe\x00ISA", b"ISA*00*" * 3])
def test_validate_on_a_file_that_is_not_x12_is_one_finding_or_one_error(
        tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.x12"
    path.write_bytes(content)
    result = CliRunner().invoke(app, ["claims", "validate", str(path)])
    assert result.exit_code in (1, 2)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "TextIOWrapper" not in result.stdout


def test_validate_findings_do_not_quote_element_values(billed: Path, tmp_path: Path) -> None:
    out = tmp_path / "claims.x12"
    assert claims(billed, CONFIG, out, tmp_path / "control.json").exit_code == 0
    broken = tmp_path / "broken.x12"
    long_name = "SECRETSURNAME" * 6
    broken.write_text(out.read_text().replace("NM1*IL*1*DOE*", f"NM1*IL*1*{long_name}*")
                      .replace("DMG*D8*19800102*", "DMG*D8*19801302*"))
    result = CliRunner().invoke(app, ["claims", "validate", str(broken)])
    assert result.exit_code == 1
    assert "NM103" in result.stdout and "DMG02" in result.stdout
    assert "SECRETSURNAME" not in result.stdout and "19801302" not in result.stdout


# ---------------------------------------------------------------- control numbers

def _race(path: Path) -> list[int]:
    """Two reservations at once, each pausing between reading and writing the file."""
    start = threading.Barrier(2)
    found: list[int] = []

    def reserve_one() -> None:
        start.wait()
        found.append(control.reserve(path, [1], after_read=lambda: time.sleep(0.3))[0].isa)

    threads = [threading.Thread(target=reserve_one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found


def test_concurrent_runs_never_share_a_control_number(tmp_path: Path) -> None:
    assert sorted(_race(tmp_path / "control.json")) == [1, 2]


def test_without_the_lock_the_race_test_finds_a_shared_number(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proves the test above can fail: the same race without the lock shares ISA13 1."""
    monkeypatch.setattr(control, "_locked", lambda path: contextlib.nullcontext())
    assert _race(tmp_path / "control.json") == [1, 1]


_PROCESS = """
import sys, time, contextlib
from pathlib import Path
from bhpolicy.x12 import control
if sys.argv[2] == "nolock":
    control._locked = lambda path: contextlib.nullcontext()
print("ready", flush=True)
sys.stdin.readline()
print(control.reserve(Path(sys.argv[1]), [2], after_read=lambda: time.sleep(0.5))[0].isa)
"""


def _two_processes(path: Path, mode: str) -> list[int]:
    procs = [subprocess.Popen([sys.executable, "-c", _PROCESS, str(path), mode], cwd=REPO,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    return sorted(int(proc.communicate(timeout=60)[0].strip()) for proc in procs)


def test_two_processes_never_share_a_control_number(tmp_path: Path) -> None:
    path = tmp_path / "control.json"
    assert _two_processes(path, "lock") == [1, 2]
    assert json.loads(path.read_text()) == {"isa": 2, "gs": 2, "st": 4}
    assert _two_processes(tmp_path / "other.json", "nolock") == [1, 1]  # the test can fail


def test_a_broken_control_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "control.json"
    for content in ('{"isa": -1, "gs": 0, "st": 0}', "[]", '{"isa": 1.5, "gs": 1, "st": 1}',
                    "\xff"):
        path.write_text(content, encoding="latin-1")
        with pytest.raises(DataFileError, match=r"control\.json"):
            control.reserve(path, [1])


@pytest.mark.parametrize("where", ["under-a-file", "a-folder", "/dev/full"])
def test_an_out_that_cannot_be_written_is_one_line(billed: Path, tmp_path: Path,
                                                   where: str) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    out = {"under-a-file": tmp_path / "file" / "claims.x12", "a-folder": tmp_path / "folder",
           "/dev/full": Path("/dev/full")}[where]
    numbers = tmp_path / "control.json"
    result = claims(billed, CONFIG, out, numbers, "--no-validate")
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {out}"), lines
    if where != "/dev/full":  # refused before any control number is reserved
        assert not numbers.exists()
