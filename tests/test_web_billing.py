"""The billing pages and API through HTTP: upload a month's files (streamed, capped, stored
owner-only), the job run by the worker's own function with its steps as progress, the report
served with a policy that allows no script, the 837P written through the claim ledger and
downloaded, and an 835 built for those claims imported (twice: the second changes nothing)."""

from __future__ import annotations

import re
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bhpolicy.db.ledger_models import LedgerClaim
from bhpolicy.services import jobs
from bhpolicy.web.billing_pages import REPORT_POLICY
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
from tests.support import x12_remit as remit
from tests.support.web import Clock, add_role_users, bearer, client_for, login

LEASE = jobs.dt.timedelta(seconds=60)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "uploads"
    folder.mkdir()
    return {"contacts": write_csv(folder / "contacts.csv", CONTACT_FIELDS,
                                  days("2026-03", 2, 20)),
            "members": write_csv(folder / "members.csv", MEMBER_FIELDS, [member()]),
            "authorizations": write_csv(folder / "authorizations.csv", AUTH_FIELDS,
                                        [auth()])}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    target = tmp_path / "config" / "submitter.toml"
    target.parent.mkdir()
    shutil.copy(REPO / "examples" / "submitter.toml", target)
    return target


@pytest.fixture
def site(sqlite_database: Any, tmp_path: Path, config: Path) -> Iterator[
        tuple[TestClient, Any, dict[str, str]]]:
    tokens = add_role_users(sqlite_database, passwords=True)
    with client_for(sqlite_database, Clock(), jobs_dir=tmp_path / "jobs",
                    submitter_config=config, max_upload_bytes=2_000_000) as client:
        yield client, sqlite_database, tokens


def _upload(files: dict[str, Path]) -> dict[str, Any]:
    return {kind: (path.name, path.read_bytes(), "text/csv") for kind, path in files.items()}


def _run_worker(db: Any) -> None:
    assert jobs.run_one(db, "test-worker", Clock(), LEASE) is not None


def test_upload_run_report_837p_and_835_through_the_pages(
        site: tuple[TestClient, Any, dict[str, str]], files: dict[str, Path],
        tmp_path: Path) -> None:
    client, db, _ = site
    csrf = login(client, "biller")
    home = client.get("/billing")
    assert home.status_code == 200 and 'enctype="multipart/form-data"' in home.text
    answer = client.post("/billing/jobs", data={"csrf_token": csrf, "as_of": "2026-12-01"},
                         files=_upload(files))
    assert answer.status_code == 303, answer.text[:500]
    job_url = answer.headers["location"]
    job_id = job_url.rsplit("/", 1)[1]
    queued = client.get(job_url)
    assert 'data-status="queued"' in queued.text and 'hx-trigger="every 2s"' in queued.text
    folder = tmp_path / "jobs" / job_id
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "inputs" / "contacts.csv").stat().st_mode) == 0o600

    _run_worker(db)
    done = client.get(f"{job_url}/status")
    assert 'data-status="done"' in done.text and "hx-trigger" not in done.text
    assert "lines billable" in done.text
    report = client.get(f"{job_url}/report")
    assert report.status_code == 200
    assert report.headers["content-security-policy"] == REPORT_POLICY
    assert "<script" not in report.text.lower()

    page = client.get(job_url)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    assert re.findall(r'name="claim" value="(\d+)" checked', page.text) == ["0"]
    written = client.post(f"{job_url}/837p", data={"csrf_token": csrf.group(1),
                                                   "added_days": "new", "claim": "0"})
    assert written.status_code == 200, written.text[:1000]
    link = re.search(rf'href="({job_url}/claims/[^"]+\.x12)"', written.text)
    assert link, written.text[:2000]
    x12 = client.get(link.group(1))
    assert x12.status_code == 200 and x12.text.startswith("ISA*")
    unchosen = client.post(f"{job_url}/837p", data={"csrf_token": csrf.group(1)})
    assert unchosen.status_code == 422 and "choose at least one claim" in unchosen.text
    again = client.post(f"{job_url}/837p", data={"csrf_token": csrf.group(1), "claim": "0"})
    assert again.status_code == 422  # every line was sent before: nothing to write
    assert f"job {job_id}: no claim to write (every billable line was sent before" in again.text
    assert client.get(f"{job_url}/claims/..%2Fmanifest.json").status_code == 404

    with db.read() as session:
        claim = session.scalars(select(LedgerClaim)).one()
        lines = [(line.line_control, line.service_date, line.charge_cents)
                 for line in claim.lines]
    denied = lines[-1]
    services = [remit.Service(charge=cents, code="H0040", modifiers=("U1",),
                              date=day.strftime("%Y%m%d"), control=control,
                              cas=[remit.Cas("CO", "119", cents)] if control == denied[0]
                              else [])
                for control, day, cents in lines]
    path = remit.write_835(tmp_path / "remit.835", [remit.Claim(claim.id,
                                                                  services=services)])
    form = {"csrf_token": csrf.group(1)}
    posted = client.post("/billing/remits", data=form,
                         files={"file": ("remit.835", path.read_bytes(), "text/plain")})
    assert posted.status_code == 200, posted.text[:1000]
    assert f"Posted: 1 claim payment, {len(lines)} service lines" in posted.text
    twice = client.post("/billing/remits", data=form,
                        files={"file": ("remit.835", path.read_bytes(), "text/plain")})
    assert "imported before; nothing changed" in twice.text

    work = client.get("/billing/worklist?as_of=2026-12-01")
    assert work.status_code == 200
    row = re.search(rf'<tr data-line="{denied[0]}"[^>]*>(.*?)</tr>', work.text, re.S)
    assert row, work.text[-2000:]
    assert "CO-119" in row.group(1) and "void" in row.group(1).lower()
    api = client.get("/api/worklist", params={"as_of": "2026-12-01"},
                     headers=bearer(site[2]["biller"]))
    assert [i["line_control"] for i in api.json()["items"]] == [denied[0]]
    months = client.get("/billing/months")
    assert months.status_code == 200 and '<svg role="img"' in months.text
    assert re.search(r'<tr data-carc="119">', months.text)
    figures = client.get("/api/billing/months", headers=bearer(site[2]["analyst"])).json()
    march = figures["by_month"][0]
    assert march["key"] == "2026-03" and march["write_off_cents"] == denied[2]
    assert march["paid_cents"] == sum(c for _, _, c in lines) - denied[2]

    deleted = client.post(f"{job_url}/delete", data=form)
    assert deleted.status_code == 303 and not folder.exists()


def test_an_upload_over_the_cap_is_413_and_leaves_no_job(
        site: tuple[TestClient, Any, dict[str, str]], files: dict[str, Path],
        tmp_path: Path) -> None:
    client, _, tokens = site
    big = files["contacts"].with_name("big.csv")
    big.write_bytes(files["contacts"].read_bytes() + b"x" * 2_100_000)
    answer = client.post("/api/billing/jobs", headers=bearer(tokens["biller"]),
                         files={**_upload(files), "contacts": ("big.csv", big.read_bytes())})
    assert answer.status_code == 413
    assert not any((tmp_path / "jobs").glob("J-*"))


def test_the_api_queues_a_job_and_names_a_bad_upload(
        site: tuple[TestClient, Any, dict[str, str]], files: dict[str, Path]) -> None:
    client, db, tokens = site
    answer = client.post("/api/billing/jobs", headers=bearer(tokens["biller"]),
                         files=_upload(files), data={"as_of": "2026-12-01"})
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["status"] == "queued"
    _run_worker(db)
    seen = client.get(f"/api/billing/jobs/{job['id']}", headers=bearer(tokens["biller"]))
    assert seen.json()["status"] == "done" and seen.json()["result"]["counts"]
    other = client.get(f"/api/billing/jobs/{job['id']}", headers=bearer(tokens["analyst"]))
    assert other.status_code == 403
    bad = client.post("/api/billing/jobs", headers=bearer(tokens["biller"]),
                      files={**_upload(files), "members": ("members.xlsx", b"x")})
    assert bad.status_code == 422
    assert bad.json() == {"detail": "upload members: give a .csv or .parquet file",
                          "element": "form.members"}


def test_billing_check_answers_one_member_with_the_engines_lines(
        site: tuple[TestClient, Any, dict[str, str]]) -> None:
    client, _, tokens = site
    body = {"contacts": days("2026-03", 2, 12), "members": [member()],
            "authorizations": [auth()], "as_of": "2026-12-01"}
    answer = client.post("/api/billing/check", json=body, headers=bearer(tokens["biller"]))
    assert answer.status_code == 200, answer.text
    found = answer.json()
    billable = [line for line in found["lines"] if line["status"] == "billable"]
    assert billable and {line["hcpcs"] for line in billable} == {"H0040"}
    assert found["member_months"][0]["member_id"] == "M1"
    assert "SC.CP.BH.500" in {p["id"] for p in found["policies"]}
    body["contacts"][1]["minutes"] = "half an hour"
    bad = client.post("/api/billing/check", json=body, headers=bearer(tokens["biller"]))
    assert bad.status_code == 422
    assert bad.json()["element"] == "contacts[1].minutes"
    assert "half an hour" not in bad.text  # the value is never echoed (it may be PHI)
    refused = client.post("/api/billing/check", json=body, headers=bearer(tokens["analyst"]))
    assert refused.status_code == 403


def test_a_check_that_compiles_a_plan_moves_what_it_left_out_of_the_collectors_passes(
        site: tuple[TestClient, Any, dict[str, str]]) -> None:
    import gc

    from bhpolicy.billing.one import warm_state
    from bhpolicy.services.determining import registry

    client, _, tokens = site
    as_of = "2026-11-17"  # a day no other test compiles a plan for
    assert not any(key[0].isoformat() == as_of for key in warm_state(registry()).plans)
    body = {"contacts": days("2026-03", 2, 4), "members": [member()],
            "authorizations": [auth()], "as_of": as_of}
    frozen = gc.get_freeze_count()
    answer = client.post("/api/billing/check", json=body, headers=bearer(tokens["biller"]))
    assert answer.status_code == 200, answer.text
    assert gc.get_freeze_count() > frozen  # settle_heap ran: the new plan's objects moved


def test_the_837p_carries_only_the_claims_chosen(
        site: tuple[TestClient, Any, dict[str, str]], files: dict[str, Path]) -> None:
    client, db, tokens = site
    folder = files["contacts"].parent
    two = {"contacts": write_csv(folder / "c2.csv", CONTACT_FIELDS,
                                 days("2026-03", 2, 12) + days("2026-03", 2, 12,
                                                               member_id="M2")),
           "members": write_csv(folder / "m2.csv", MEMBER_FIELDS,
                                [member(), member("M2")]),
           "authorizations": write_csv(folder / "a2.csv", AUTH_FIELDS,
                                       [auth(), auth("A2", "M2")])}
    job = client.post("/api/billing/jobs", headers=bearer(tokens["biller"]),
                      files=_upload(two)).json()
    _run_worker(db)
    url = f"/api/billing/jobs/{job['id']}/837p"
    first = client.post(url, headers=bearer(tokens["biller"]), json={"claims": [
        {"member_id": "M2", "authorization_id": "A2", "month": "2026-03"}]})
    assert first.status_code == 200, first.text
    with db.read() as session:
        assert [c.member_id for c in session.scalars(select(LedgerClaim))] == ["M2"]
    login(client, "biller")
    page = client.get(f"/billing/jobs/{job['id']}")
    assert page.text.count('name="claim"') == 2  # both are offered; M1's was not sent
    rest = client.post(url, headers=bearer(tokens["biller"]), json={})
    assert rest.status_code == 200 and rest.json()["claims"] == 1  # M2's lines: sent before
    with db.read() as session:
        assert sorted(c.member_id for c in session.scalars(select(LedgerClaim))) == [
            "M1", "M2"]
    none = client.post(url, headers=bearer(tokens["biller"]), json={"claims": []})
    assert none.status_code == 422 and none.json()["element"] == "claims"


def test_billing_forms_need_their_csrf_token(
        site: tuple[TestClient, Any, dict[str, str]], files: dict[str, Path],
        tmp_path: Path) -> None:
    client, _, _ = site
    login(client, "biller")
    upload = client.post("/billing/jobs", data={"csrf_token": "forged"}, files=_upload(files))
    assert upload.status_code == 403 and "CSRF" in upload.text
    assert not any((tmp_path / "jobs").glob("J-*"))
    remit_form = client.post("/billing/remits", files={"file": ("r.835", b"ISA*")})
    assert remit_form.status_code == 403


def test_void_through_the_api(site: tuple[TestClient, Any, dict[str, str]],
                              files: dict[str, Path], tmp_path: Path) -> None:
    """POST /api/billing/void: the same void_claims as `bhpolicy claims void`, the
    subscriber fields from a finished job's run, the 837P in the job's claims (downloaded
    like the 837P's); refusals one line naming the claim, no PHI, nothing written."""
    from bhpolicy.db.ledger_models import ClaimFile

    client, db, tokens = site
    biller = bearer(tokens["biller"])
    job = client.post("/api/billing/jobs", headers=biller, files=_upload(files)).json()
    _run_worker(db)
    written = client.post(f"/api/billing/jobs/{job['id']}/837p", headers=biller, json={})
    assert written.status_code == 200, written.text
    with db.read() as session:
        claim = session.scalars(select(LedgerClaim)).one()
        claim_id, lines = claim.id, len(claim.lines)

    def void(*claims: str, job_id: str = job["id"], token: str = "biller") -> Any:
        return client.post("/api/billing/void", headers=bearer(tokens[token]),
                           json={"job_id": job_id, "claims": list(claims)})

    def files_written() -> int:
        with db.read() as session:
            return len(list(session.scalars(select(ClaimFile))))

    before = files_written()
    unnumbered = void(claim_id)
    assert unnumbered.status_code == 409, unnumbered.text
    assert unnumbered.json() == {
        "detail": f"claim {claim_id}: the payer has not numbered it yet (no 277CA or 835 "
        "with its claim number imported): nothing to void at the payer yet",
        "element": "claims"}
    unknown = void("C-NOTINLEDGER")
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == "claim C-NOTINLEDGER: not in the ledger"
    assert void("not a claim!").status_code == 422  # the body's pattern
    assert void(claim_id, token="analyst").status_code == 403
    assert void(claim_id, job_id="J-AAAAAAAAAAAA").status_code == 404

    ack = tmp_path / "ack.277"
    ack.write_text(remit.build_277ca([remit.ClaimAck(claim_id, payer_claim="PAYER-9")]))
    posted = client.post("/api/remits", headers=biller,
                         files={"file": ("ack.277", ack.read_bytes(), "text/plain")})
    assert posted.status_code == 200, posted.text

    # a job whose run does not hold the member cannot supply the subscriber fields
    folder = files["contacts"].parent
    other = {"contacts": write_csv(folder / "c2.csv", CONTACT_FIELDS,
                                   days("2026-03", 2, 5, member_id="M2")),
             "members": write_csv(folder / "m2.csv", MEMBER_FIELDS, [member("M2")]),
             "authorizations": write_csv(folder / "a2.csv", AUTH_FIELDS,
                                         [auth("A2", "M2")])}
    job2 = client.post("/api/billing/jobs", headers=biller, files=_upload(other)).json()
    queued = void(claim_id, job_id=job2["id"])
    assert queued.status_code == 422 and "has not finished" in queued.json()["detail"]
    _run_worker(db)
    missing = void(claim_id, job_id=job2["id"])
    assert missing.status_code == 422, missing.text
    assert missing.json()["detail"].startswith(
        f"claim {claim_id}: its member is not in the run's subscribers file")
    for answer in (unnumbered, unknown, queued, missing):
        for phi in ("Doe", "Jane", "0012345678", "1980-01-02", "F20", str(tmp_path)):
            assert phi not in answer.text
    assert files_written() == before

    done = void(claim_id)
    assert done.status_code == 200, done.text
    answer = done.json()
    [made] = answer["voids"]
    assert (made["voids"], made["payer_claim_number"], made["lines"]) == (
        claim_id, "PAYER-9", lines)
    [file] = answer["files"]
    assert file["claims"] == 1 and file["valid"] is True
    assert file["name"].startswith("void-") and file["name"].endswith(".x12")
    with db.read() as session:
        voided = session.get(LedgerClaim, claim_id)
        void_claim = session.get(LedgerClaim, made["claim_id"])
        assert voided is not None and void_claim is not None
        assert (voided.status, void_claim.frequency, void_claim.replaces_id) == (
            "voided", "8", claim_id)
    login(client, "biller")
    page = client.get(f"/billing/jobs/{job['id']}")
    assert f'href="/billing/jobs/{job["id"]}/claims/{file["name"]}"' in page.text
    x12 = client.get(f"/billing/jobs/{job['id']}/claims/{file['name']}")
    assert x12.status_code == 200 and x12.text.startswith("ISA*")
    assert f"CLM*{made['claim_id']}*" in x12.text and ":B:8*" in x12.text
    assert "REF*F8*PAYER-9~" in x12.text
    twice = void(claim_id)
    assert twice.status_code == 409
    assert twice.json()["detail"] == f"claim {claim_id}: already voided"
