"""A biller's month in Debian's chromium against the real ``bhpolicy serve`` and its worker
process: upload the contacts, members and authorizations, watch the job run, open the report,
write and download the 837P, import an 835 that pays all but one day (denied CO-119), and find
that day on the worklist and the month dashboard. axe-core finds no serious issue on any page,
the console shows no CSP violation or error, and a screenshot is kept of each."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from bhpolicy.db import Database
from bhpolicy.db.ledger_models import LedgerClaim
from bhpolicy.services.users import add_user
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
from tests.support.browser import CHROMIUM, needs_chromium, save_screenshot
from tests.support.web import PASSWORD, running_server
from tests.test_web_browser import AXE, check_page

pytestmark = [pytest.mark.browser, needs_chromium]


def test_a_biller_uploads_bills_imports_the_835_and_works_the_denial(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url = f"sqlite:///{tmp_path / 'bhpolicy.db'}"
    db = Database.open(url)
    try:
        db.upgrade()
        add_user(db, "ana_biller", "biller", password=PASSWORD)
    finally:
        db.close()
    config = tmp_path / "config" / "submitter.toml"
    config.parent.mkdir()
    shutil.copy(REPO / "examples" / "submitter.toml", config)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    files = [write_csv(uploads / "contacts.csv", CONTACT_FIELDS, days("2026-03", 2, 20)),
             write_csv(uploads / "members.csv", MEMBER_FIELDS, [member()]),
             write_csv(uploads / "authorizations.csv", AUTH_FIELDS, [auth()])]

    serve_args = ("--submitter-config", str(config), "--jobs-dir", str(tmp_path / "jobs"))
    with running_server(url, tmp_path, args=serve_args) as server, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[
                "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 768},
                                          accept_downloads=True)
            context.add_init_script(path=str(AXE))
            page = context.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

            page.goto(server.base_url + "/billing")
            page.get_by_label("User name").fill("ana_biller")
            page.get_by_label("Password").fill(PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url("**/billing")
            check_page(page, console, tmp_path, "billing")
            for label, path in zip(("Contacts", "Members", "Authorizations"), files,
                                   strict=True):
                page.get_by_label(label, exact=True).set_input_files(str(path))
            page.get_by_label("Bill up to").fill("2026-12-01")
            page.get_by_role("button", name="Start the billing run").click()
            page.wait_for_url("**/billing/jobs/J-*")
            job_url = page.url
            # the worker process runs it; htmx polls the status block until it is done
            page.locator('[data-status="done"]').wait_for(timeout=180_000)
            assert "lines billable" in page.locator("#job-status").inner_text()
            check_page(page, console, tmp_path, "billing-job")

            page.get_by_role("link", name="Open the report").click()
            page.wait_for_url("**/report")
            assert "Member-month calendars" in page.content()
            save_screenshot(page, tmp_path, "serve-billing-report")
            page.goto(job_url)

            page.get_by_role("button", name="Write the 837P of the chosen claims").click()
            page.locator("ul.files a").first.wait_for()
            assert "written" in page.locator(".done[role=status]").inner_text()
            check_page(page, console, tmp_path, "billing-837p")
            with page.expect_download() as download:
                page.locator("ul.files a").first.click()
            saved = tmp_path / "downloaded.x12"
            download.value.save_as(saved)
            assert saved.read_text(encoding="ascii").startswith("ISA*")

            db = Database.open(url)
            try:
                with db.read() as session:
                    claim = session.scalars(select(LedgerClaim)).one()
                    lines = [(line.line_control, line.service_date, line.charge_cents)
                             for line in claim.lines]
                    claim_id = claim.id
            finally:
                db.close()
            denied = lines[-1][0]
            services = [remit.Service(
                charge=cents, date=day.strftime("%Y%m%d"), control=control,
                cas=[remit.Cas("CO", "119", cents)] if control == denied else [])
                for control, day, cents in lines]
            the_835 = remit.write_835(tmp_path / "payment.835",
                                      [remit.Claim(claim_id, services=services)])

            page.get_by_role("link", name="Remittances").click()
            page.wait_for_url("**/billing/remits")
            page.get_by_label("X12 file").set_input_files(str(the_835))
            page.get_by_role("button", name="Import").click()
            page.locator("section.done").wait_for()
            assert "Posted: 1 claim payment" in page.locator("section.done").inner_text()
            check_page(page, console, tmp_path, "billing-remits")

            page.get_by_role("link", name="Worklist").click()
            page.wait_for_url("**/billing/worklist")
            row = page.locator(f'tr[data-line="{denied}"]')
            assert "CO-119" in row.inner_text()
            check_page(page, console, tmp_path, "billing-worklist")

            page.get_by_role("link", name="Months").click()
            page.wait_for_url("**/billing/months")
            assert page.locator("svg rect.bar").count() == 3
            assert page.locator('tr[data-carc="119"]').count() == 1
            check_page(page, console, tmp_path, "billing-months")
        finally:
            browser.close()
