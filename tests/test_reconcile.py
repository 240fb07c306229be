"""Reconciliation (issue 19) through a real ledger: expected from the payer's dated fee
schedule against paid per line, write-offs (CARC 119 never the member's), underpayments,
denials by CARC with the packs' labels, totals by team, payer and month, PLB."""

from __future__ import annotations

from pathlib import Path

from bhpolicy.db import Database
from bhpolicy.policy import load_registry
from bhpolicy.services.posting import import_remittance
from bhpolicy.services.reconcile import reconcile
from bhpolicy.x12.config import load_config
from tests.support.x12_remit import Cas, Claim, Plb
from tests.test_claims_837p import CONFIG
from tests.test_posting import NOW, remit, send, services


def test_reconciliation_of_every_835_case(tmp_path: Path, database: Database) -> None:
    [first] = send(database, tmp_path, "a", 5)
    [second] = send(database, tmp_path, "b", 8)  # days 6-8, a second original
    [unposted] = send(database, tmp_path, "c", 9)  # day 9: nothing back yet
    path = remit(tmp_path, "r.835", [
        Claim(first.id, payer_claim="PAY-1", services=services(
            first,
            d03={"cas": [Cas("CO", "45", 5000)], "allowed": 20000},
            d04={"cas": [Cas("CO", "119", 25000, "1")], "remarks": ["N362"]},
            d05={"cas": [Cas("CO", "18", 25000)], "remarks": ["M86"]})),
        Claim(second.id, payer_claim="PAY-2", services=services(
            second,
            d06={"cas": [Cas("CO", "B20", 25000)]},
            d07={"cas": [Cas("CO", "197", 25000)], "remarks": ["N54"]},
            d08={"cas": [Cas("PR", "119", 25000)]}))],  # 119 sent as PR: still a write-off
        [Plb("WO", 1000, "PAY-0")])
    assert import_remittance(database, path, now=NOW).posted
    result = reconcile(database, load_config(CONFIG), registry=load_registry())
    lines = {ln.service_date[-2:]: ln for ln in result.lines}
    assert sorted(lines) == ["02", "03", "04", "05", "06", "07", "08", "09"]
    assert {ln.expected_cents for ln in lines.values()} == {25000}
    assert lines["02"].expected_from is not None
    assert lines["02"].expected_from.endswith("payer SCPLAN01 fees since 2023-07-01, H0040:U1")
    assert (lines["02"].state, lines["02"].paid_cents, lines["02"].underpaid_cents) == (
        "paid", 25000, 0)
    partly = lines["03"]
    assert (partly.state, partly.paid_cents, partly.allowed_cents, partly.write_off_cents,
            partly.underpaid_cents, partly.denial_carcs) == ("partly paid", 20000, 20000,
                                                             5000, 5000, [])
    cap = lines["04"]
    assert (cap.state, cap.write_off_cents, cap.patient_responsibility_cents,
            cap.denial_carcs, cap.underpaid_cents) == ("denied", 25000, 0, ["119"], 0)
    assert cap.adjustments[0].label is not None
    assert cap.adjustments[0].label.startswith("sc-act: over_monthly_cap:")
    assert cap.remarks == ["N362"]
    as_pr = lines["08"]
    assert (as_pr.write_off_cents, as_pr.patient_responsibility_cents) == (25000, 0)
    assert lines["09"].state == "not posted" and lines["09"].claim_id == unposted.id
    assert [ln.line_control for ln in result.underpaid] == [partly.line_control]
    assert [(d.carc, d.lines, d.cents) for d in result.denials] == [
        ("119", 2, 50000), ("18", 1, 25000), ("197", 1, 25000), ("B20", 1, 25000)]
    total = result.total
    assert (total.lines, total.charged_cents, total.expected_cents, total.paid_cents,
            total.write_off_cents, total.patient_responsibility_cents, total.underpaid_cents,
            total.denied_lines, total.not_posted_lines) == (
        8, 200000, 200000, 45000, 130000, 0, 5000, 5, 1)
    assert [(t.key, t.lines) for t in result.by_payer] == [("SCPLAN01", 8)]
    assert [(t.key, t.paid_cents) for t in result.by_team] == [("1234567893", 45000)]
    assert [(t.key, t.lines) for t in result.by_month] == [("2026-03", 8)]
    assert result.provider_adjustments_cents == 1000
    assert reconcile(database, load_config(CONFIG), month="2026-04").lines == []
    data = result.as_dict()
    assert data["underpaid"] == [partly.line_control]


def test_a_reversed_payment_and_its_correction(tmp_path: Path, database: Database) -> None:
    [claim] = send(database, tmp_path, "a", 3)
    import_remittance(database, remit(tmp_path, "1.835", [
        Claim(claim.id, payer_claim="P1", services=services(claim))]), now=NOW)
    negated = [s.__class__(**{**s.__dict__, "charge": -s.charge}) for s in services(claim)]
    import_remittance(database, remit(tmp_path, "2.835", [
        Claim(claim.id, status="22", payer_claim="P1", services=negated),
        Claim(claim.id, payer_claim="P2", services=services(
            claim, d03={"cas": [Cas("CO", "45", 2500)]}))], trace="T2"), now=NOW)
    result = reconcile(database, load_config(CONFIG))
    assert [(ln.paid_cents, ln.payer_claim_number) for ln in result.lines] == [
        (25000, "P2"), (22500, "P2")]
    assert result.total.paid_cents == 47500 and result.total.underpaid_cents == 2500


def test_without_a_configuration_nothing_is_expected(tmp_path: Path, database: Database
                                                     ) -> None:
    [claim] = send(database, tmp_path, "a", 2)
    result = reconcile(database)
    assert [(ln.expected_cents, ln.expected_from, ln.state) for ln in result.lines] == [
        (None, None, "not posted")]
    assert result.lines[0].claim_id == claim.id


# ---------------------------------------------------------------- voids


def _void_of(database: Database, tmp_path: Path, claim_id: str, days: int) -> str:
    """Void ``claim_id`` (a run of March 2 .. days supplies the subscriber); the void's id."""
    from tests.test_claims_void import month, void

    result, _ = void(database, tmp_path, month(tmp_path, "void-run", days), claim_id)
    [made] = result.claims
    return str(made.claim_id)


def test_a_void_in_force_withdraws_its_lines(tmp_path: Path, database: Database) -> None:
    """Voided lines: nothing charged or expected, never underpaid or not posted; what the
    payer paid shows until it reverses the claim, then nothing."""
    from bhpolicy.db.ledger_models import LedgerClaim
    from bhpolicy.services.ledger import post_front_end

    [claim] = send(database, tmp_path, "a", 3)
    import_remittance(database, remit(tmp_path, "paid.835", [
        Claim(claim.id, payer_claim="PAY-1", services=services(
            claim, d03={"cas": [Cas("CO", "45", 5000)]}))]), now=NOW)
    before = reconcile(database, load_config(CONFIG))
    assert before.total.underpaid_cents == 5000 and before.total.expected_cents == 50000

    made = _void_of(database, tmp_path, claim.id, 3)
    for step in ("sent", "accepted"):
        result = reconcile(database, load_config(CONFIG))
        assert [(ln.claim_id, ln.state, ln.charged_cents, ln.expected_cents,
                 ln.expected_from, ln.paid_cents, ln.underpaid_cents)
                for ln in result.lines] == [
            (made, "voided", 0, None, None, 25000, 0), (made, "voided", 0, None, None,
                                                         20000, 0)], step
        total = result.total
        assert (total.lines, total.charged_cents, total.expected_cents, total.paid_cents,
                total.underpaid_cents, total.not_posted_lines, total.voided_lines) == (
            2, 0, 0, 45000, 0, 0, 2), step
        assert result.underpaid == []
        assert post_front_end(database, [(made, True, "PAY-1V")]) == []

    with database.read() as session:
        void_claim = session.get(LedgerClaim, made)
        assert void_claim is not None
        negated = [s.__class__(**{**s.__dict__, "charge": -s.charge})
                   for s in services(void_claim)]
    assert import_remittance(database, remit(tmp_path, "reversal.835", [
        Claim(made, status="22", payer_claim="PAY-1", services=negated)],
        trace="T-VOID"), now=NOW).reversals == 1
    result = reconcile(database, load_config(CONFIG), registry=load_registry())
    assert [(ln.state, ln.charged_cents, ln.expected_cents, ln.paid_cents,
             ln.underpaid_cents, ln.denial_carcs) for ln in result.lines] == [
        ("voided", 0, None, 0, 0, [])] * 2
    assert (result.total.paid_cents, result.total.underpaid_cents, result.total.voided_lines,
            result.total.not_posted_lines) == (0, 0, 2, 0)
    assert [(t.key, t.voided_lines, t.charged_cents) for t in result.by_month] == [
        ("2026-03", 2, 0)]


def test_a_void_of_a_claim_not_yet_paid_is_not_not_posted(tmp_path: Path,
                                                          database: Database) -> None:
    from bhpolicy.services.ledger import post_front_end

    [claim] = send(database, tmp_path, "a", 3)
    assert post_front_end(database, [(claim.id, True, "PAY-2")]) == []
    made = _void_of(database, tmp_path, claim.id, 3)
    result = reconcile(database, load_config(CONFIG))
    assert [(ln.claim_id, ln.state, ln.expected_cents, ln.paid_cents, ln.underpaid_cents)
            for ln in result.lines] == [(made, "voided", None, 0, 0)] * 2
    assert (result.total.not_posted_lines, result.total.voided_lines) == (0, 2)


def test_a_void_rejected_at_the_front_end_leaves_the_claim_current(
        tmp_path: Path, database: Database) -> None:
    from bhpolicy.services.ledger import post_front_end

    [claim] = send(database, tmp_path, "a", 3)
    import_remittance(database, remit(tmp_path, "paid.835", [
        Claim(claim.id, payer_claim="PAY-3", services=services(
            claim, d03={"cas": [Cas("CO", "45", 5000)]}))]), now=NOW)
    made = _void_of(database, tmp_path, claim.id, 3)
    assert post_front_end(database, [(made, False, None)]) == []
    result = reconcile(database, load_config(CONFIG))
    assert [(ln.claim_id, ln.state, ln.charged_cents, ln.expected_cents, ln.paid_cents,
             ln.underpaid_cents) for ln in result.lines] == [
        (claim.id, "paid", 25000, 25000, 25000, 0),
        (claim.id, "partly paid", 25000, 25000, 20000, 5000)]
    assert (result.total.voided_lines, result.total.underpaid_cents) == (0, 5000)


def test_a_void_written_in_the_same_instant_is_still_the_newest(tmp_path: Path,
                                                                database: Database) -> None:
    """Two claims of one line sent at the same timestamp: the later file's claim is the
    line's current one (files are numbered as written), whatever the claim ids."""
    from bhpolicy.db.ledger_models import LedgerClaim
    from bhpolicy.services.ledger import post_front_end
    from bhpolicy.services.reconcile import current_lines

    [claim] = send(database, tmp_path, "a", 3)
    assert post_front_end(database, [(claim.id, True, "PAY-3")]) == []
    made = _void_of(database, tmp_path, claim.id, 3)
    with database.transaction() as session:
        original = session.get(LedgerClaim, claim.id)
        void_claim = session.get(LedgerClaim, made)
        assert original is not None and void_claim is not None
        assert void_claim.file_id > original.file_id
        void_claim.created_at = original.created_at
        # the void's id sorting before the original's must not make the original newest
        swapped = sorted([claim.id, made])[0] == made
    with database.read() as session:
        assert {line.claim_id for line in current_lines(session)} == {made}, swapped
