"""The denial worklist (issue 19) through a real ledger: the action each denial or
front-end rejection takes (from the CARC table), its deadline on the payer's filing,
correction or appeal clock, days left, status over time; and the CLI commands (claims ack,
remit import, remit reconcile, worklist) run on their own Typer apps."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

from typer.testing import CliRunner

from bhpolicy.claims_cli import claims_app
from bhpolicy.db import Database
from bhpolicy.policy import load_registry
from bhpolicy.remit_cli import remit_app, worklist_app
from bhpolicy.services.posting import import_acks, import_remittance
from bhpolicy.services.worklist import worklist
from bhpolicy.x12.config import SubmitterConfig, load_config
from tests.support.x12_remit import Cas, Claim, ClaimAck, Plb, Service, Status, build_277ca
from tests.test_claims_837p import CONFIG
from tests.test_posting import NOW, remit, send, services

AS_OF = dt.date(2026, 4, 15)


def config_with_limits(tmp_path: Path) -> Path:
    text = CONFIG.read_text().replace(
        'packs = ["sc-act"]\nfiling_limit_days = 365\n',
        'packs = ["sc-act"]\nfiling_limit_days = 365\ncorrection_limit_days = 180\n'
        'appeal_limit_days = 90\n', 1)
    assert "appeal_limit_days" in text
    path = tmp_path / "submitter.toml"
    path.write_text(text)
    return path


def test_actions_deadlines_and_status_over_time(tmp_path: Path, database: Database) -> None:
    config: SubmitterConfig = load_config(config_with_limits(tmp_path))
    [claim] = send(database, tmp_path, "a", 5)
    [rejected] = send(database, tmp_path, "b", 6)  # day 6
    ack = tmp_path / "ack.277"
    ack.write_text(build_277ca([ClaimAck(rejected.id, statuses=[Status("A7", "21", "PR")])]))
    import_acks(database, ack, now=NOW)
    import_remittance(database, remit(tmp_path, "r.835", [Claim(
        claim.id, payer_claim="PAY-1", services=services(
            claim, d02={"cas": [Cas("CO", "119", 25000)]},
            d03={"cas": [Cas("CO", "197", 25000)], "remarks": ["N54"]},
            d04={"cas": [Cas("CO", "B20", 25000)]},
            d05={"cas": [Cas("CO", "18", 25000)]}))]), now=NOW)  # paid 2026-04-05
    result = worklist(database, config, as_of=AS_OF, registry=load_registry())
    items = {i.service_date[-2:]: i for i in result.items}
    assert sorted(items) == ["02", "03", "04", "05", "06"]
    cap = items["02"]
    assert (cap.action, cap.frequency, cap.clock, cap.clock_from, cap.limit_days,
            cap.deadline, cap.days_left, cap.status) == (
        "void", "8", "correction", "2026-04-05", 180, "2026-10-02", 170, "open")
    assert cap.reason == "CO-119" and cap.labels[0].startswith("sc-act: over_monthly_cap")
    auth = items["03"]
    assert (auth.action, auth.frequency, auth.deadline) == ("correct_replace", "7",
                                                            "2026-10-02")
    other = items["04"]
    assert (other.action, other.frequency, other.clock, other.deadline, other.days_left) == (
        "appeal", None, "appeal", "2026-07-04", 80)
    assert items["05"].action == "appeal"  # a duplicate, its conflict not reversed
    front = items["06"]
    assert (front.reason, front.action, front.frequency, front.clock, front.clock_from,
            front.deadline, front.status) == ("rejected at the front end", "resubmit_new",
                                              "1", "filing", "2026-03-06", "2027-03-06",
                                              "open")
    assert front.claim_id == rejected.id
    # the rejected day goes out again: sent again; the 197 line is corrected and paid: done
    [resent] = send(database, tmp_path, "c", 6)
    import_remittance(database, remit(tmp_path, "r2.835", [Claim(
        claim.id, payer_claim="PAY-1B", services=[s for s in services(claim)
                                                  if s.date == "20260303"])],
        trace="T2", payment_date="20260420"), now=NOW)
    later = worklist(database, config, as_of=AS_OF, registry=load_registry())
    status = {i.service_date[-2:]: i.status for i in later.items}
    assert status == {"02": "open", "03": "done", "04": "open", "05": "open",
                      "06": "sent again"}
    assert len(later.open()) == 4
    assert resent.id != rejected.id


def test_a_duplicate_whose_conflict_was_reversed_is_sent_again(tmp_path: Path,
                                                               database: Database) -> None:
    config = load_config(config_with_limits(tmp_path))
    [first] = send(database, tmp_path, "a", 2)
    [again] = send(database, tmp_path, "b", 2, resend=True)  # the same day sent twice
    import_remittance(database, remit(tmp_path, "1.835", [
        Claim(first.id, payer_claim="P1", services=services(first)),
        Claim(again.id, payer_claim="P2", services=services(
            again, d02={"cas": [Cas("CO", "18", 25000)]}))]), now=NOW)
    [item] = worklist(database, config, as_of=AS_OF).items
    assert (item.claim_id, item.action) == (again.id, "appeal")
    negated = [Service(**{**s.__dict__, "charge": -s.charge}) for s in services(first)]
    import_remittance(database, remit(tmp_path, "2.835", [
        Claim(first.id, status="22", payer_claim="P1", services=negated)],
        [Plb("FB", -25000, "P1")], trace="T2"), now=NOW)
    [item] = worklist(database, config, as_of=AS_OF).items
    assert (item.action, item.frequency, item.clock, item.deadline) == (
        "resubmit_new", "1", "filing", "2027-03-02")


def test_no_limit_configured_means_no_deadline(tmp_path: Path, database: Database) -> None:
    [claim] = send(database, tmp_path, "a", 2)
    import_remittance(database, remit(tmp_path, "1.835", [Claim(claim.id, services=services(
        claim, d02={"cas": [Cas("CO", "B20", 25000)]}))]), now=NOW)
    [item] = worklist(database, load_config(CONFIG), as_of=AS_OF).items
    assert (item.action, item.limit_days, item.deadline, item.days_left) == (
        "appeal", None, None, None)


# ---------------------------------------------------------------- the commands


def test_the_commands(tmp_path: Path, sqlite_database: Database) -> None:
    database = sqlite_database
    url = database.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    [claim] = send(database, tmp_path, "a", 3)
    ack = tmp_path / "ack.277"
    ack.write_text(build_277ca([ClaimAck(claim.id, payer_claim="PAYER-1")]))
    done = runner.invoke(claims_app, ["ack", str(ack), "--db", url])
    assert done.exit_code == 0, done.output
    assert "1 claim(s) accepted, 0 rejected" in done.output
    again = runner.invoke(claims_app, ["ack", str(ack), "--db", url, "--json"])
    assert json.loads(again.output)["already_imported"] is True

    path = remit(tmp_path, "r.835", [Claim(claim.id, payer_claim="PAY-1", services=[
        *services(claim, d03={"cas": [Cas("CO", "119", 25000)]}),
        Service(control="NOT-OURS", date="20260320", code="=HYPERLINK")])])
    done = runner.invoke(remit_app, ["import", str(path), "--db", url])
    assert done.exit_code == 0, done.output
    assert "posted 1 payment(s), 1 claim(s), 3 line(s)" in done.output
    assert "unmatched line: claim" in done.output and "NOT-OURS" in done.output
    twice = runner.invoke(remit_app, ["import", str(path), "--db", url])
    assert twice.exit_code == 0 and "nothing changed" in twice.output

    off = remit(tmp_path, "off.835", [Claim(claim.id, services=services(claim))], total=1,
                trace="OFF")
    refused = runner.invoke(remit_app, ["import", str(off), "--db", url])
    assert refused.exit_code == 1 and "not posted" in refused.output

    out = tmp_path / "recon.csv"
    done = runner.invoke(remit_app, ["reconcile", "--db", url, "--config", str(CONFIG),
                                     "--month", "2026-03", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "2 line(s): charged 500.00, expected 500.00, paid 250.00, write-off 250.00" in \
        done.output
    rows = list(csv.DictReader(out.open()))
    assert [(r["state"], r["paid"], r["write_off"]) for r in rows] == [
        ("paid", "250.00", "0.00"), ("denied", "0.00", "250.00")]
    bad = runner.invoke(remit_app, ["reconcile", "--db", url, "--month", "March"])
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output and "Traceback" not in bad.output

    listing = tmp_path / "work.csv"
    done = runner.invoke(worklist_app, ["--db", url, "--config", str(CONFIG), "--as-of",
                                        "2026-04-15", "--out", str(listing), "--json"])
    assert done.exit_code == 0, done.output
    [item] = json.loads(done.output)["items"]
    assert (item["action"], item["reason"]) == ("void", "CO-119")
    [row] = list(csv.DictReader(listing.open()))
    assert row["action"] == "void" and row["line_control"] == item["line_control"]


def test_csv_cells_are_neutralised(tmp_path: Path) -> None:
    from bhpolicy.remit_cli import write_csv

    path = tmp_path / "x.csv"
    write_csv(path, ["a", "b"], [["=1+1", "-5"]])
    assert path.read_text().splitlines()[1] == "'=1+1,-5"


# ---------------------------------------------------------------- a void rejected


def _reject_void(database: Database, tmp_path: Path, void_id: str, how: str) -> None:
    """The front end rejects the void: a 277CA (STC A7) or a 999 rejecting its set."""
    from sqlalchemy import select

    from bhpolicy.db.ledger_models import ClaimFile, LedgerClaim
    from bhpolicy.db.posting_models import ClaimTransaction
    from tests.support.x12_remit import SegmentError, SetAck, build_999

    ack = tmp_path / f"void-{how}.ack"
    if how == "277CA":
        ack.write_text(build_277ca([ClaimAck(void_id, statuses=[Status("A7", "21", "PR")])]))
    else:
        with database.read() as session:
            st02 = session.scalars(select(ClaimTransaction.st02).where(
                ClaimTransaction.claim_id == void_id)).one()
            made = session.get(LedgerClaim, void_id)
            assert made is not None
            file = session.get(ClaimFile, made.file_id)
            assert file is not None
            gs06 = file.gs06
        ack.write_text(build_999([SetAck(str(st02).zfill(4), status="R", codes=["5"],
                                         errors=[SegmentError("REF", 9, "2300", "8",
                                                              claim=void_id)])],
                                 group_control=str(gs06)))
    assert import_acks(database, ack, now=NOW).claims_rejected == [void_id]


def test_a_void_rejected_at_the_front_end_is_work(tmp_path: Path, database: Database) -> None:
    """A paid claim voided, the void rejected (277CA, then the void sent again and rejected
    by a 999): the rejected void is listed, per line, as a void to send again on the
    correction clock from the voided claim's remittance; a void sent again is 'sent again'
    until the front end accepts it, then done."""
    from tests.test_claims_void import month, void

    config = load_config(config_with_limits(tmp_path))
    [claim] = send(database, tmp_path, "a", 3)
    import_remittance(database, remit(tmp_path, "r.835", [
        Claim(claim.id, payer_claim="PAY-1", services=services(claim))]), now=NOW)
    run_dir = month(tmp_path, "void-run", 3)
    assert worklist(database, config, as_of=AS_OF).items == []

    def items() -> list[tuple[object, ...]]:
        return [(i.claim_id, i.reason, i.action, i.frequency, i.clock, i.clock_from,
                 i.deadline, i.days_left, i.status, i.payer_claim_number)
                for i in worklist(database, config, as_of=AS_OF,
                                  registry=load_registry()).items]

    rejected = None
    for n, how in enumerate(("277CA", "999")):
        result, _ = void(database, tmp_path, run_dir, claim.id, name=f"void{n}.x12")
        [made] = result.claims
        # the void is in force: nothing to work, or the void rejected before is sent again
        assert [(i[0], i[8]) for i in items()] == (
            [] if rejected is None else [(rejected, "sent again")] * 2)
        _reject_void(database, tmp_path, made.claim_id, how)
        rejected = made.claim_id
        assert items() == [
            (made.claim_id, "void rejected at the front end", "resend_void", "8",
             "correction", "2026-04-05", "2026-10-02", 170, "open", "PAY-1")] * 2, how
        [item] = worklist(database, config, as_of=AS_OF).items[:1]
        assert item.line_control == claim.lines[0].line_control
        assert item.action_summary.startswith("Send the void again")

    result, _ = void(database, tmp_path, run_dir, claim.id, name="void-again.x12")
    [again] = result.claims
    assert [i[8] for i in items()] == ["sent again"] * 2
    ack = tmp_path / "accepted.277"
    ack.write_text(build_277ca([ClaimAck(again.claim_id, payer_claim="PAY-1V")]))
    assert import_acks(database, ack, now=NOW).claims_accepted == [again.claim_id]
    assert [i[8] for i in items()] == ["done"] * 2
    assert worklist(database, config, as_of=AS_OF).open() == []


def test_a_rejected_void_of_a_denied_line(tmp_path: Path, database: Database) -> None:
    """A line denied (CO-119: void it), the void rejected: the rejected void is the work
    (not the denial again); once a void is in force again, the denial's item follows it."""
    from tests.test_claims_void import month, void

    config = load_config(config_with_limits(tmp_path))
    [claim] = send(database, tmp_path, "a", 3)
    import_remittance(database, remit(tmp_path, "r.835", [Claim(
        claim.id, payer_claim="PAY-1", services=services(
            claim, d03={"cas": [Cas("CO", "119", 25000)]}))]), now=NOW)
    run_dir = month(tmp_path, "void-run", 3)
    result, _ = void(database, tmp_path, run_dir, claim.id)
    [made] = result.claims
    _reject_void(database, tmp_path, made.claim_id, "277CA")
    found = worklist(database, config, as_of=AS_OF).items
    assert [(i.service_date, i.claim_id, i.reason, i.action, i.deadline, i.status)
            for i in found] == [
        ("2026-03-02", made.claim_id, "void rejected at the front end", "resend_void",
         "2026-10-02", "open"),
        ("2026-03-03", made.claim_id, "void rejected at the front end", "resend_void",
         "2026-10-02", "open")]
    result, _ = void(database, tmp_path, run_dir, claim.id, name="again.x12")
    assert [c.frequency for c in result.claims] == ["8"]
    found = worklist(database, config, as_of=AS_OF).items
    assert [(i.claim_id, i.reason, i.status) for i in found] == [
        (made.claim_id, "void rejected at the front end", "sent again"),
        (claim.id, "CO-119", "sent again")]


def test_a_rejected_void_of_a_claim_never_remitted_has_no_deadline(
        tmp_path: Path, database: Database) -> None:
    """A claim the payer only numbered (a 277CA, no 835): no remittance for the correction
    clock to run from, so the rejected void has no deadline."""
    from bhpolicy.services.ledger import post_front_end
    from tests.test_claims_void import month, void

    config = load_config(config_with_limits(tmp_path))
    [claim] = send(database, tmp_path, "a", 3)
    assert post_front_end(database, [(claim.id, True, "PAY-2")]) == []
    result, _ = void(database, tmp_path, month(tmp_path, "void-run", 3), claim.id)
    [made] = result.claims
    _reject_void(database, tmp_path, made.claim_id, "999")
    assert [(i.service_date, i.claim_id, i.action, i.limit_days, i.clock_from, i.deadline,
             i.status, i.payer_claim_number)
            for i in worklist(database, config, as_of=AS_OF).items] == [
        ("2026-03-02", made.claim_id, "resend_void", 180, None, None, "open", "PAY-2"),
        ("2026-03-03", made.claim_id, "resend_void", 180, None, None, "open", "PAY-2")]
