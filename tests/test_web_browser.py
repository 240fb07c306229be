"""A reviewer's morning in Debian's chromium against the real ``bhpolicy serve``: log in, open
the queue, open a referred request, read its trace, deny it with a reason and the criteria,
open the adverse notice. On every page axe-core (vendored, injected by the test only) finds no
serious or critical issue, the console shows no CSP violation or error, and a screenshot is
kept ($BHPOLICY_TEST_ARTIFACTS, else the test's tmp_path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from bhpolicy.db import Database
from bhpolicy.services.users import add_user
from tests.support.browser import CHROMIUM, needs_chromium, save_screenshot
from tests.support.web import PASSWORD, request_body, running_server

pytestmark = [pytest.mark.browser, needs_chromium]

AXE = Path(__file__).parent / "support" / "vendor" / "axe.min.js"
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}));
}"""


def check_page(page: Any, console: list[str], tmp_path: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    violations = page.evaluate(AXE_RUN)
    save_screenshot(page, tmp_path, f"serve-{name}")
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not serious, f"{name}: {serious}"
    assert not console, f"{name}: {console}"


def test_a_reviewer_denies_a_referred_request_and_opens_the_notice(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url = f"sqlite:///{tmp_path / 'bhpolicy.db'}"
    db = Database.open(url)
    try:
        db.upgrade()
        _, intake = add_user(db, "frontdesk", "intake")
        add_user(db, "dr_lee", "reviewer", licence="LICSW 77", password=PASSWORD)
    finally:
        db.close()

    with running_server(url, tmp_path) as server:
        created = httpx.post(server.base_url + "/api/requests", json=request_body(),
                             headers={"Authorization": f"Bearer {intake}"}, timeout=30)
        assert created.status_code == 201 and created.json()["status"] == "referred"
        request_id = created.json()["id"]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=[
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run"])
            try:
                context = browser.new_context(viewport={"width": 1366, "height": 768})
                context.add_init_script(path=str(AXE))  # evaluated outside the page's CSP
                page = context.new_page()
                console: list[str] = []
                page.on("console", lambda m: console.append(f"{m.type}: {m.text}")
                        if m.type in ("error", "warning") else None)
                page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

                page.goto(server.base_url + "/queue")
                assert page.url.endswith("/login?next=/queue")
                check_page(page, console, tmp_path, "login")
                page.get_by_label("User name").fill("dr_lee")
                page.get_by_label("Password").fill(PASSWORD)
                page.keyboard.press("Enter")  # the keyboard submits the form
                page.wait_for_url("**/queue")
                row = page.locator(f'tr[data-request="{request_id}"]')
                assert "referred" in row.inner_text()
                check_page(page, console, tmp_path, "queue")

                row.get_by_role("link", name=request_id).click()
                page.wait_for_url(f"**/requests/{request_id}")
                trace = page.locator("table.trace")
                assert trace.locator("tbody tr").count() > 5
                assert "needs the reviewer's judgment" in trace.inner_text()
                assert page.locator("[data-outcome]").get_attribute("data-outcome") == "refer"
                check_page(page, console, tmp_path, "request")

                page.get_by_label("Deny (an adverse determination)").check()
                page.locator('input[name="criteria"]').first.check()
                page.get_by_label("Reason, in words the member can read").fill(
                    "The record does not show the hospital use or crisis contacts the "
                    "criteria require for ACT.")
                page.get_by_role("button", name="Record the decision").click()
                page.wait_for_url(f"**/requests/{request_id}?done=decision")
                assert "Decision recorded." in page.locator('[role="status"]').inner_text()
                assert "denied" in page.locator("p.status").inner_text()
                check_page(page, console, tmp_path, "decided")

                page.locator("ul.notices a").first.click()
                page.wait_for_url("**/notices/*")
                notice = page.locator("article.notice").inner_text()
                assert "Notice of adverse benefit determination" in notice
                for heading in ("Your right to appeal to the plan", "State fair hearing",
                                "A fast (expedited) appeal", "Free copies of your records"):
                    assert heading in notice, heading
                assert page.get_by_role("button", name="Print this notice").is_visible()
                check_page(page, console, tmp_path, "notice")
                page.emulate_media(media="print")
                assert not page.get_by_role("button", name="Print this notice").is_visible()
                page.emulate_media(media="screen")

                page.goto(server.base_url + "/codes")
                page.get_by_label("Search codes").fill("asertive comunity")  # misspelt
                page.locator("#results a", has_text="H0040").wait_for()
                check_page(page, console, tmp_path, "codes")
                page.goto(server.base_url + "/policies/sc-act")
                assert page.locator("table.params tbody tr").count() > 5
                check_page(page, console, tmp_path, "policy")

                page.goto(server.base_url + "/docs")
                page.locator(".swagger-ui .opblock").first.wait_for(timeout=30000)
                page.wait_for_load_state("networkidle")
                save_screenshot(page, tmp_path, "serve-docs")
                assert not [c for c in console if "Content Security Policy" in c], console
            finally:
                browser.close()
