"""An authorization may name its payer (issue 15 item 4): ``bill --config`` rejects a payer
the submitter config does not know, and lines carry the payer the 837P sends them to."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb

from tests.billing_helpers import (
    AUTH_FIELDS,
    CONTACT_FIELDS,
    MEMBER_FIELDS,
    auth,
    days,
    member,
    write_csv,
)
from tests.conftest import REPO
from tests.test_cli import run

CONFIG = REPO / "examples" / "submitter.toml"


def _bill(tmp_path: Path, payer: str, *extra: str) -> tuple[Path, object]:
    folder = tmp_path / "in"
    folder.mkdir()
    contacts = days("2026-03", 1, 3) + [
        {**c, "member_id": "M2", "contact_id": f"{c['contact_id']}-2"}
        for c in days("2026-03", 1, 3)]
    paths = [write_csv(folder / "contacts.csv", CONTACT_FIELDS, contacts),
             write_csv(folder / "members.csv", MEMBER_FIELDS, [member(), member("M2")]),
             write_csv(folder / "authorizations.csv", [*AUTH_FIELDS, "payer_id"],
                       [{**auth(), "payer_id": payer},
                        {**auth("A2", "M2"), "payer_id": ""}])]
    out = tmp_path / "out"
    result = run("bill", "--contacts", str(paths[0]), "--members", str(paths[1]),
                 "--authorizations", str(paths[2]), "--out", str(out), "--no-html", *extra)
    return out, result


def test_an_authorization_naming_an_unknown_payer_is_a_rejected_row(tmp_path: Path) -> None:
    out, result = _bill(tmp_path, "NOPE01", "--config", str(CONFIG))
    assert result.returncode == 1, result.stderr  # type: ignore[attr-defined]
    with (out / "errors.csv").open() as handle:
        errors = list(csv.DictReader(handle))
    auth_errors = [e for e in errors if e["file"].endswith("authorizations.csv")]
    assert [(e["field"], e["row"]) for e in auth_errors] == [("payer_id", "2")]
    assert "not a payer of the submitter config" in auth_errors[0]["reason"]
    # that member's contacts then have no authorization: rejected rows too, none lost
    assert {e["reason"] for e in errors if e["file"].endswith("contacts.csv")} == {
        "member has no authorization"}
    # the other member's authorization names no payer: still billed
    billed = duckdb.execute(f"SELECT DISTINCT member_id FROM '{out / 'lines.parquet'}' "
                            "WHERE status = 'billable'").fetchall()
    assert billed == [("M2",)]


def test_lines_carry_the_payer_their_authorization_names(tmp_path: Path) -> None:
    out, result = _bill(tmp_path, "SCPLAN01", "--config", str(CONFIG))
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    rows = duckdb.execute(f"SELECT member_id, payer_id, count(*) FROM '{out / 'lines.parquet'}'"
                          " GROUP BY ALL ORDER BY 1").fetchall()
    assert rows == [("M1", "SCPLAN01", 3), ("M2", None, 3)]


def test_without_a_config_a_payer_id_is_kept_as_given(tmp_path: Path) -> None:
    out, result = _bill(tmp_path, "ANYPAYER")
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    payers = duckdb.execute(f"SELECT DISTINCT payer_id FROM '{out / 'lines.parquet'}' "
                            "ORDER BY 1 NULLS LAST").fetchall()
    assert payers == [("ANYPAYER",), (None,)]


def test_missing_pos_hold_through_the_cli(tmp_path: Path) -> None:
    """Issue 15 item 4: a day no qualifying contact gives a place of service takes the pack's
    default (flagged) by default, and with --missing-pos hold is held for the team's review
    without a CARC."""
    from tests.billing_helpers import contact

    folder = tmp_path / "in"
    folder.mkdir()
    rows = [contact("2026-03-02"), contact("2026-03-03", pos="")]
    paths = [write_csv(folder / "contacts.csv", CONTACT_FIELDS, rows),
             write_csv(folder / "members.csv", MEMBER_FIELDS, [member()]),
             write_csv(folder / "authorizations.csv", AUTH_FIELDS, [auth()])]
    args = ["--contacts", str(paths[0]), "--members", str(paths[1]),
            "--authorizations", str(paths[2]), "--no-html"]
    query = ("SELECT service_date::VARCHAR, status, reason_id, carc, pos_defaulted FROM "
             "'{}' ORDER BY 1")
    default = run("bill", *args, "--out", str(tmp_path / "default"), "--json")
    assert default.returncode == 0, default.stderr
    assert '"pos_defaulted": 1' in default.stdout
    got = duckdb.execute(query.format(tmp_path / "default" / "lines.parquet")).fetchall()
    assert [(r[1], r[4]) for r in got] == [("billable", False), ("billable", True)]
    held = run("bill", *args, "--out", str(tmp_path / "hold"), "--missing-pos", "hold")
    assert held.returncode == 0, held.stderr
    got = duckdb.execute(query.format(tmp_path / "hold" / "lines.parquet")).fetchall()
    assert got[1][1:4] == ("held", "place_of_service_missing", None)
    bad = run("bill", *args, "--out", str(tmp_path / "bad"), "--missing-pos", "guess")
    assert bad.returncode == 2 and "--missing-pos 'guess'" in bad.stderr


def test_contacts_of_a_member_whose_only_authorization_is_rejected_are_error_rows(
        tmp_path: Path) -> None:
    """Nothing accepted is lost: an authorization ending before it starts is an error row,
    and its member's contacts are error rows too (not silently dropped)."""
    folder = tmp_path / "in"
    folder.mkdir()
    paths = [write_csv(folder / "contacts.csv", CONTACT_FIELDS, days("2026-03", 2, 3)),
             write_csv(folder / "members.csv", MEMBER_FIELDS, [member()]),
             write_csv(folder / "authorizations.csv", AUTH_FIELDS,
                       [auth(start="2026-04-01", end="2026-03-01")])]
    out = tmp_path / "out"
    result = run("bill", "--contacts", str(paths[0]), "--members", str(paths[1]),
                 "--authorizations", str(paths[2]), "--out", str(out), "--no-html")
    assert result.returncode == 1, result.stderr
    with (out / "errors.csv").open() as handle:
        errors = list(csv.DictReader(handle))
    by_file = sorted((Path(e["file"]).name, e["row"], e["field"]) for e in errors)
    assert by_file == [("authorizations.csv", "2", "end_date"),
                       ("contacts.csv", "2", "member_id"), ("contacts.csv", "3", "member_id")]


def test_a_payer_that_does_not_pay_under_the_pack_is_never_billed_under_it(
        tmp_path: Path) -> None:
    """SC.CP.BH.500 is its issuer's policy (Description): an SC authorization naming the
    Minnesota payer is not sent to that payer; its claim is rejected, naming why."""
    out, result = _bill(tmp_path, "MNMHCP01", "--config", str(CONFIG))
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    claims = tmp_path / "claims.x12"
    sent = run("claims", "837p", "--run", str(out), "--config", str(CONFIG), "--out",
               str(claims), "--control-file", str(tmp_path / "control.json"))
    assert sent.returncode == 1, sent.stderr
    assert "does not pay under policy 'SC.CP.BH.500'" in sent.stderr
    text = claims.read_text()
    assert "MNMHCP01" not in text  # only M2's claim (no payer_id: the SC payer) went out
    assert text.count("CLM*") == 1 and "SCPLAN01" in text
