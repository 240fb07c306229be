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
