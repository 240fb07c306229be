"""The claim ledger (issue 19): with --db, every claim sent is recorded; CLM01 never repeats,
each line keeps its REF*6R across replacements, lines sent before are not sent again, a
replacement carries every line of the claim it replaces, a front-end rejection frees its
lines, and control numbers come from the database. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bhpolicy.db import Database
from bhpolicy.db.ledger_models import LedgerClaim
from bhpolicy.services.ledger import post_front_end
from bhpolicy.x12.validate import validate_837p
from tests.billing_helpers import days, run
from tests.test_claims_837p import CONFIG, segments
from tests.test_cli import run as cli


@pytest.fixture
def db_url(database: Database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


def claims(run_dir: Path, tmp_path: Path, db_url: str, name: str, *extra: str) -> Path:
    out = tmp_path / name
    done = cli("claims", "837p", "--run", str(run_dir), "--config", str(CONFIG), "--out",
               str(out), "--control-file", str(tmp_path / "control.json"), "--db", db_url,
               "--no-validate", *extra)
    assert done.returncode == 0, done.stderr
    return out


def clm(path: Path) -> list[list[str]]:
    return [s.split("*") for s in segments(path) if s.startswith("CLM*")]


def controls(path: Path) -> dict[str, str]:
    """DTP date -> REF*6R of each line."""
    out, date = {}, None
    for seg in segments(path):
        if seg.startswith("DTP*472*D8*"):
            date = seg.split("*")[3]
        elif seg.startswith("REF*6R*"):
            assert date is not None
            out[date] = seg.split("*")[2]
    return out


def month_run(tmp_path: Path, name: str, last_day: int) -> Path:
    return run(tmp_path / name, days("2026-03", 2, last_day), name=name).out


def test_days_added_to_a_claimed_month(tmp_path: Path, db_url: str, database: Database
                                       ) -> None:
    first = claims(month_run(tmp_path, "a", 4), tmp_path, db_url, "first.x12")
    assert validate_837p(first).valid
    [one] = clm(first)
    sent = controls(first)
    assert len(sent) == 3 and all(len(c) <= 30 for c in sent.values())
    assert len(one[1]) <= 20

    again = cli("claims", "837p", "--run", str(month_run(tmp_path, "a2", 4)), "--config",
                str(CONFIG), "--out", str(tmp_path / "again.x12"), "--control-file",
                str(tmp_path / "control.json"), "--db", db_url)
    assert again.returncode == 2 and "sent before" in again.stderr  # nothing new
    assert not (tmp_path / "again.x12").exists()

    # two more days in March, sent as a new original: a new CLM01, only the new lines
    second = claims(month_run(tmp_path, "b", 6), tmp_path, db_url, "second.x12")
    [two] = clm(second)
    assert two[1] != one[1] and two[5].endswith(":1")
    assert sorted(controls(second)) == ["20260305", "20260306"]
    assert validate_837p(second).valid

    # the front end accepts the first claim with the payer's number; more days replace it
    assert post_front_end(database, [(one[1], True, "PAYER123")]) == []
    third = claims(month_run(tmp_path, "c", 7), tmp_path, db_url, "third.x12",
                   "--added-days", "replace")
    [three] = clm(third)
    assert three[1] not in (one[1], two[1]) and three[5].endswith(":7")
    assert "REF*F8*PAYER123" in segments(third)
    lines = controls(third)
    # every line of the claim replaced (the one the payer numbered) plus the new day; the
    # second claim's days stay on the second claim
    assert sorted(lines) == ["20260302", "20260303", "20260304", "20260307"]
    for date, control in sent.items():
        assert lines[date] == control  # REF*6R unchanged across the replacement
    assert validate_837p(third).valid
    with database.read() as session:
        status = {c.id: c.status for c in session.scalars(select(LedgerClaim))}
        replaced = session.get(LedgerClaim, three[1])
        assert replaced is not None and replaced.replaces_id == one[1]
        assert replaced.total_cents == 4 * 25000 and len(replaced.lines) == 4
    assert status == {one[1]: "replaced", two[1]: "sent", three[1]: "sent"}


def test_replacement_without_the_payers_number_is_refused(tmp_path: Path, db_url: str
                                                          ) -> None:
    claims(month_run(tmp_path, "a", 3), tmp_path, db_url, "first.x12")
    done = cli("claims", "837p", "--run", str(month_run(tmp_path, "b", 4)), "--config",
               str(CONFIG), "--out", str(tmp_path / "r.x12"), "--control-file",
               str(tmp_path / "control.json"), "--db", db_url, "--added-days", "replace")
    assert done.returncode == 2
    assert "payer claim number is not known yet" in done.stderr
    assert "--added-days new" in done.stderr


def test_front_end_rejection_frees_the_lines(tmp_path: Path, db_url: str,
                                             database: Database) -> None:
    first = claims(month_run(tmp_path, "a", 3), tmp_path, db_url, "first.x12")
    [one] = clm(first)
    post_front_end(database, [(one[1], False, None)])
    resent = claims(month_run(tmp_path, "b", 3), tmp_path, db_url, "resent.x12")
    [again] = clm(resent)
    assert again[1] != one[1] and again[5].endswith(":1")  # a new original
    assert controls(resent) == controls(first)


def test_resend_and_control_numbers_from_the_database(tmp_path: Path, db_url: str) -> None:
    first = claims(month_run(tmp_path, "a", 3), tmp_path, db_url, "first.x12")
    resent = claims(month_run(tmp_path, "b", 3), tmp_path, db_url, "resent.x12", "--resend")
    isa = [s.split("*")[13] for s in segments(first) + segments(resent) if s.startswith("ISA")]
    assert len(set(isa)) == 2 and int(isa[1]) == int(isa[0]) + 1
    assert clm(first)[0][1] != clm(resent)[0][1]
    assert not (tmp_path / "control.json").exists()  # the file was not used


def test_ledger_options_need_a_database(tmp_path: Path) -> None:
    done = cli("claims", "837p", "--run", str(month_run(tmp_path, "a", 3)), "--config",
               str(CONFIG), "--out", str(tmp_path / "x.x12"), "--resend")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--db" in done.stderr
