"""Voids through the claim ledger (issue 19): `bhpolicy claims void` writes, for each named
claim the payer has numbered, a frequency-8 claim with REF*F8 and its lines as last sent
(same REF*6R and charges), records it, and takes the claim out of force (its days go out
again as a new original when still billable); the void's own 835 reversal posts against
the claim it voided; claims that cannot be voided are refused in one line. And an 835 whose
TRN02 was posted before from another file is held, not posted. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bhpolicy.db import Database
from bhpolicy.db.ledger_models import LedgerClaim
from bhpolicy.db.posting_models import HeldRemittance, RemitClaim, Remittance
from bhpolicy.errors import BhpolicyError
from bhpolicy.policy import load_registry
from bhpolicy.services.ledger import post_front_end, void_claims
from bhpolicy.services.posting import import_remittance, line_states
from bhpolicy.services.worklist import worklist
from bhpolicy.x12.config import load_config
from bhpolicy.x12.validate import validate_837p
from tests.billing_helpers import days, run
from tests.support.x12_remit import Cas, Claim, ClaimAck, Service, Status, build_277ca
from tests.test_claims_837p import CONFIG, EPOCH, segments
from tests.test_cli import check_golden
from tests.test_cli import run as cli
from tests.test_posting import NOW, count, remit, send, services, status
from tests.test_worklist import AS_OF


@pytest.fixture
def db_url(database: Database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


def month(tmp_path: Path, name: str, last_day: int = 4) -> Path:
    return run(tmp_path / name, days("2026-03", 2, last_day), name=name).out


def numbered(database: Database, claim: LedgerClaim, number: str = "PAY-A") -> None:
    assert post_front_end(database, [(claim.id, True, number)]) == []


def void(database: Database, tmp_path: Path, run_dir: Path, *claim_ids: str,
         name: str = "void.x12") -> tuple[Any, Any]:
    return void_claims(database, list(claim_ids), run_dir, load_config(CONFIG),
                       tmp_path / name, tmp_path / "control.json", {"H0040", "H0039"},
                       now=NOW + dt.timedelta(hours=1))  # after the claims it voids


def lines_of(path: Path) -> list[tuple[str, str, str]]:
    """(SV1 charge, DTP date, REF*6R) of each service line of a file."""
    out: list[tuple[str, str, str]] = []
    charge = day = ""
    for seg in segments(path):
        parts = seg.split("*")
        if parts[0] == "SV1":
            charge = parts[2]
        elif parts[:2] == ["DTP", "472"]:
            day = parts[3]
        elif parts[:2] == ["REF", "6R"]:
            out.append((charge, day, parts[2]))
    return out


def test_void_writes_frequency_8_with_the_lines_as_sent_golden(tmp_path: Path, db_url: str,
                                                               database: Database) -> None:
    run_dir = month(tmp_path, "a")
    first = tmp_path / "first.x12"
    done = cli("claims", "837p", "--run", str(run_dir), "--config", str(CONFIG), "--out",
               str(first), "--control-file", str(tmp_path / "control.json"), "--db", db_url,
               "--no-validate", env=EPOCH)
    assert done.returncode == 0, done.stderr
    with database.read() as session:
        original = session.scalars(select(LedgerClaim)).one()
        sent = [(ln.line_control, ln.charge_cents) for ln in original.lines]
    numbered(database, original, "PAYER123")

    out = tmp_path / "void.x12"
    done = cli("claims", "void", "--db", db_url, "--claim", original.id, "--run",
               str(run_dir), "--config", str(CONFIG), "--out", str(out), "--control-file",
               str(tmp_path / "control.json"), env=EPOCH)
    assert done.returncode == 0, done.stderr
    assert f"of claim {original.id} (payer claim PAYER123, 3 line(s), 750.00)" in done.stdout
    assert "pyx12: valid" in done.stdout
    assert validate_837p(out).valid
    [clm] = [s.split("*") for s in segments(out) if s.startswith("CLM*")]
    assert clm[1] != original.id and clm[5].endswith(":B:8") and clm[2] == "750.00"
    assert "REF*F8*PAYER123" in segments(out)
    assert lines_of(out) == lines_of(first)  # the same lines, REF*6R and charges
    with database.read() as session:
        voided = session.get(LedgerClaim, original.id)
        made = session.get(LedgerClaim, clm[1])
        assert voided is not None and made is not None
        assert voided.status == "voided"
        assert (made.frequency, made.replaces_id, made.payer_claim_number, made.status,
                made.total_cents) == ("8", original.id, "PAYER123", "sent", 75000)
        assert [(ln.line_control, ln.charge_cents) for ln in made.lines] == sent
    # the golden, with bhpolicy's own random ids (the void's CLM01, the REF*6R) named
    text = out.read_text().replace(clm[1], "C-VOIDCLAIM0001")
    for n, (control, _) in enumerate(sent, start=1):
        text = text.replace(control, f"L-LINE{n:08d}")
    assert not re.search(r"\bL-[A-Z2-7]{12}\b", text)
    check_golden("claims-void.x12", text)


def test_voided_days_go_out_again_as_a_new_original(tmp_path: Path, database: Database
                                                    ) -> None:
    [claim] = send(database, tmp_path, "a", 4)
    numbered(database, claim)
    result, _ = void(database, tmp_path, month(tmp_path, "r"), claim.id)
    [made] = result.claims
    # neither the voided claim nor the void is in force: the days are sent again
    [again] = send(database, tmp_path, "b", 5)
    assert again.frequency == "1" and again.id not in (claim.id, made.claim_id)
    assert again.replaces_id is None and len(again.lines) == 4
    kept = {ln.service_date: ln.line_control for ln in claim.lines}
    assert all(kept[ln.service_date] == ln.line_control
               for ln in again.lines if ln.service_date in kept)
    # with --added-days replace, nothing voided is replaced either
    numbered(database, again, "PAY-B")
    [more] = send(database, tmp_path, "c", 6, added_days="replace")
    assert more.frequency == "7" and more.replaces_id == again.id
    assert more.payer_claim_number == "PAY-B" and len(more.lines) == 5


def test_days_no_longer_billable_are_not_sent_again(tmp_path: Path, database: Database
                                                    ) -> None:
    [claim] = send(database, tmp_path, "a", 4)
    numbered(database, claim)
    void(database, tmp_path, month(tmp_path, "r"), claim.id)
    # a later run of the month bills days 2 and 3 only (day 4 was not billable after all)
    [again] = send(database, tmp_path, "b", 3)
    assert sorted(ln.service_date.day for ln in again.lines) == [2, 3]


def test_the_voids_835_reversal_posts_against_the_voided_claim(tmp_path: Path,
                                                                database: Database) -> None:
    [claim] = send(database, tmp_path, "a", 3)
    import_remittance(database, remit(tmp_path, "paid.835", [
        Claim(claim.id, payer_claim="PAY-A", services=services(claim))]), now=NOW)
    assert status(database, claim.id) == "accepted"
    result, _ = void(database, tmp_path, month(tmp_path, "r", 3), claim.id)
    [made] = result.claims
    with database.read() as session:
        void_claim = session.get(LedgerClaim, made.claim_id)
        assert void_claim is not None
        list(void_claim.lines)
    negated = [Service(**{**s.__dict__, "charge": -s.charge}) for s in services(void_claim)]
    done = import_remittance(database, remit(tmp_path, "void.835", [
        Claim(made.claim_id, status="22", payer_claim="PAY-A", services=negated)],
        trace="TRACE-VOID"), now=NOW)
    assert done.posted and done.reversals == 1 and done.warnings == []
    assert done.unmatched_claims == [] and done.unmatched_lines == []
    with database.read() as session:
        rows = list(session.scalars(select(RemitClaim).order_by(RemitClaim.id)))
        assert [(r.ledger_claim_id, r.reversal, r.reverses_id) for r in rows] == [
            (claim.id, False, None), (made.claim_id, True, rows[0].id)]
        assert line_states(session) == {}  # nothing in force: the payment was taken back
    assert status(database, made.claim_id) == "accepted"
    assert status(database, claim.id) == "voided"


def test_a_void_rejected_at_the_front_end_puts_the_claim_back(tmp_path: Path,
                                                              database: Database) -> None:
    [claim] = send(database, tmp_path, "a", 3)
    numbered(database, claim)
    result, _ = void(database, tmp_path, month(tmp_path, "r", 3), claim.id)
    [made] = result.claims
    assert post_front_end(database, [(made.claim_id, False, None)]) == []
    assert status(database, claim.id) == "accepted"
    assert status(database, made.claim_id) == "rejected"
    again, _ = void(database, tmp_path, month(tmp_path, "r2", 3), claim.id, name="v2.x12")
    assert [c.frequency for c in again.claims] == ["8"]


def test_worklist_follows_a_void(tmp_path: Path, database: Database) -> None:
    [claim] = send(database, tmp_path, "a", 3)
    import_remittance(database, remit(tmp_path, "r.835", [Claim(
        claim.id, payer_claim="PAY-1", services=services(
            claim, d03={"cas": [Cas("CO", "119", 25000)]}))]), now=NOW)

    def item() -> Any:
        [one] = worklist(database, load_config(CONFIG), as_of=AS_OF,
                         registry=load_registry()).items
        return one

    assert (item().action, item().status) == ("void", "open")
    result, _ = void(database, tmp_path, month(tmp_path, "r", 3), claim.id)
    [made] = result.claims
    assert item().status == "sent again"
    ack = tmp_path / "ack.277"
    ack.write_text(build_277ca([ClaimAck(made.claim_id, payer_claim="PAY-1V")]))
    from bhpolicy.services.posting import import_acks

    assert import_acks(database, ack, now=NOW).claims_accepted == [made.claim_id]
    assert item().status == "done"


@pytest.mark.parametrize("case", ["unknown", "unnumbered", "rejected", "voided", "replaced",
                                  "a void"])
def test_claims_that_cannot_be_voided_are_refused(tmp_path: Path, database: Database,
                                                  case: str) -> None:
    [claim] = send(database, tmp_path, "a", 3)
    target, expected = claim.id, ""
    if case == "unknown":
        target, expected = "C-NOTINLEDGER", "not in the ledger"
    elif case == "unnumbered":
        expected = "the payer has not numbered it yet (no 277CA or 835"
    elif case == "rejected":
        post_front_end(database, [(claim.id, False, None)])
        expected = "rejected at the payer's front end, so never filed: nothing to void"
    elif case in ("voided", "a void"):
        numbered(database, claim)
        result, _ = void(database, tmp_path, month(tmp_path, "r", 3), claim.id,
                         name="first-void.x12")
        if case == "a void":
            target = result.claims[0].claim_id
            post_front_end(database, [(target, True, "PAY-V")])
        expected = "already voided" if case == "voided" else "is itself a void"
    else:
        numbered(database, claim)
        send(database, tmp_path, "b", 4, added_days="replace")
        expected = "already replaced by a later claim"
    before = count(database, LedgerClaim)
    with pytest.raises(BhpolicyError) as refused:
        void(database, tmp_path, month(tmp_path, "v", 3), target)
    message = str(refused.value)
    assert message == f"claim {target}: {message.split(': ', 1)[1]}"
    assert expected in message and "\n" not in message
    assert "Doe" not in message and "M1" not in message  # no PHI
    assert not (tmp_path / "void.x12").exists()
    assert count(database, LedgerClaim) == before


def test_the_refusal_on_the_command_line_is_one_line(tmp_path: Path, db_url: str) -> None:
    done = cli("claims", "void", "--db", db_url, "--claim", "C-NOTINLEDGER", "--claim",
               "C-NOTEITHER", "--run", str(month(tmp_path, "a", 3)), "--config", str(CONFIG),
               "--out", str(tmp_path / "v.x12"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr == ("error: claim C-NOTINLEDGER: not in the ledger; claim "
                           "C-NOTEITHER: not in the ledger\n")
    assert not (tmp_path / "v.x12").exists()


def test_a_member_missing_from_the_run_is_refused(tmp_path: Path, database: Database
                                                  ) -> None:
    [claim] = send(database, tmp_path, "a", 3)
    numbered(database, claim)
    folder = tmp_path / "empty-run"
    folder.mkdir()
    (folder / "subscribers.csv").write_text(
        "member_id,medicaid_id,last_name,first_name,birth_date,sex,address_line,city,state,"
        "zip,primary_dx\n")
    with pytest.raises(BhpolicyError, match="its member is not in the run's subscribers"):
        void(database, tmp_path, folder, claim.id)
    with pytest.raises(BhpolicyError, match=r"no subscribers\.parquet or subscribers\.csv"):
        void(database, tmp_path, tmp_path, claim.id)
    assert status(database, claim.id) == "accepted"


# ---------------------------------------------------------------- same TRN02, another file


def test_same_trace_from_another_file_is_held(tmp_path: Path, database: Database) -> None:
    [claim] = send(database, tmp_path, "a", 3)
    first = remit(tmp_path, "first.835", [Claim(claim.id, services=services(claim))],
                  trace="EFT0001")
    assert import_remittance(database, first, now=NOW).posted
    tables = [Remittance, RemitClaim]
    before = [count(database, t) for t in tables]
    edited = remit(tmp_path, "edited.835", [Claim(claim.id, services=services(
        claim, d03={"cas": [Cas("CO", "45", 1000)]}))], trace="EFT0001")
    done = import_remittance(database, edited, now=NOW)
    assert done.held and not done.posted and not done.already_imported
    assert done.problems == [
        f"{edited}: TRN02 EFT0001 (set 0001): a payment with this trace number was already "
        "posted from another file; not posted (posted from first.835)"]
    assert [count(database, t) for t in tables] == before
    with database.read() as session:
        held = session.scalars(select(HeldRemittance)).one()
        assert (held.trace_number, held.file_name, held.posted_from) == (
            "EFT0001", "edited.835", "first.835")
        assert sorted(s.paid_cents for s in line_states(session).values()) == [25000] * 2
    again = import_remittance(database, edited, now=NOW)  # still held, one row
    assert again.held and count(database, HeldRemittance) == 1
    assert import_remittance(database, first, now=NOW).already_imported
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Remittance)) == 1


def test_a_held_file_exits_non_zero_on_the_command_line(tmp_path: Path, db_url: str,
                                                        database: Database) -> None:
    [claim] = send(database, tmp_path, "a", 3)
    first = remit(tmp_path, "first.835", [Claim(claim.id, services=services(claim))],
                  trace="EFT0002")
    assert cli("remit", "import", str(first), "--db", db_url).returncode == 0
    other = remit(tmp_path, "other.835", [Claim(claim.id, payer_claim="X",
                                                services=services(claim))], trace="EFT0002")
    done = cli("remit", "import", str(other), "--db", db_url)
    assert done.returncode == 1
    assert "held, not posted" in done.stdout
    assert done.stderr == (f"error: {other}: TRN02 EFT0002 (set 0001): a payment with this "
                           "trace number was already posted from another file; not posted "
                           "(posted from first.835)\n")


def test_api_answers_409_for_a_held_file(tmp_path: Path, sqlite_database: Database) -> None:
    import shutil

    from tests.conftest import REPO
    from tests.support.web import Clock, add_role_users, bearer, client_for

    [claim] = send(sqlite_database, tmp_path, "a", 3)
    config = tmp_path / "config" / "submitter.toml"
    config.parent.mkdir()
    shutil.copy(REPO / "examples" / "submitter.toml", config)
    tokens = add_role_users(sqlite_database, passwords=True)
    first = remit(tmp_path, "first.835", [Claim(claim.id, services=services(claim))],
                  trace="EFT0003")
    other = remit(tmp_path, "other.835", [Claim(claim.id, payer_claim="Y",
                                                services=services(claim))], trace="EFT0003")
    with client_for(sqlite_database, Clock(), jobs_dir=tmp_path / "jobs",
                    submitter_config=config) as client:
        def post(path: Path) -> Any:
            return client.post("/api/remits", headers=bearer(tokens["biller"]),
                               files={"file": (path.name, path.read_bytes(), "text/plain")})

        assert post(first).status_code == 200
        held = post(other)
        assert held.status_code == 409, held.text
        text = held.text
        assert "other.835: TRN02 EFT0003 (set 0001): a payment with this trace number was " \
            "already posted from another file; not posted" in text
        assert str(tmp_path) not in text
    assert count(sqlite_database, Remittance) == 1


def test_a_277ca_rejecting_the_void(tmp_path: Path, database: Database) -> None:
    """A 277CA rejecting the void (STC A7): the voided claim is back in force."""
    [claim] = send(database, tmp_path, "a", 3)
    numbered(database, claim)
    result, _ = void(database, tmp_path, month(tmp_path, "r", 3), claim.id)
    [made] = result.claims
    ack = tmp_path / "ack.277"
    ack.write_text(build_277ca([ClaimAck(made.claim_id, statuses=[Status("A7", "21", "PR")])]))
    from bhpolicy.services.posting import import_acks

    assert import_acks(database, ack, now=NOW).claims_rejected == [made.claim_id]
    assert status(database, claim.id) == "accepted"
