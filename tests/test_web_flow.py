"""The review flow through HTTP on SQLite and PostgreSQL: a request is created once however
often it is retried with its Idempotency-Key, read with its version as ETag, decided once (a
decision on a stale version is 409), denied through the page's form with a reason, and its
notice opens; a pended request takes information and keeps both determinations; the queue
page flags a request the minute it is overdue."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from tests.support.web import (
    NOW,
    Clock,
    add_role_users,
    bearer,
    client_for,
    login,
    request_body,
)


def test_idempotent_create_then_a_single_decision(database: Any) -> None:
    tokens = add_role_users(database, passwords=True)
    with client_for(database) as client:
        intake = {**bearer(tokens["intake"]), "Idempotency-Key": "batch-7-line-3"}
        first = client.post("/api/requests", json=request_body(), headers=intake)
        assert first.status_code == 201, first.text
        again = client.post("/api/requests", json=request_body(), headers=intake)
        assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
        other = client.post("/api/requests", json=request_body(units=90), headers=intake)
        assert other.status_code == 422
        request_id = first.json()["id"]
        assert first.headers["location"] == f"/api/requests/{request_id}"
        listed = client.get("/api/requests", headers=bearer(tokens["intake"])).json()
        assert [r["id"] for r in listed] == [request_id]

        reviewer = bearer(tokens["reviewer"])
        read = client.get(f"/api/requests/{request_id}", headers=reviewer)
        etag = read.headers["etag"]
        assert etag == f'"{read.json()["version"]}"'
        approve = client.post(f"/api/requests/{request_id}/decision", json={"kind": "approve"},
                              headers={**reviewer, "If-Match": etag})
        assert approve.status_code == 200, approve.text
        assert approve.json()["status"] == "approved"
        late = client.post(f"/api/requests/{request_id}/decision", json={"kind": "approve"},
                           headers={**reviewer, "If-Match": etag})
        assert late.status_code == 409
        bad = client.post(f"/api/requests/{request_id}/decision", json={"kind": "approve"},
                          headers={**reviewer, "If-Match": "yesterday"})
        assert bad.status_code == 422 and bad.json()["element"] == "header.If-Match"


def test_deny_through_the_page_and_open_the_notice(database: Any) -> None:
    tokens = add_role_users(database, passwords=True)
    with client_for(database) as client:
        created = client.post("/api/requests", json=request_body(),
                              headers=bearer(tokens["intake"])).json()
        request_id = created["id"]
        csrf = login(client, "reviewer")
        page = client.get(f"/requests/{request_id}")
        assert page.status_code == 200 and 'data-outcome="refer"' in page.text
        version = re.search(r'name="version" value="(\d+)"', page.text)
        assert version
        # a denial without a reason: the page again, with the message and what was typed
        refused = client.post(f"/requests/{request_id}/decision", data={
            "csrf_token": csrf, "version": version.group(1), "kind": "deny",
            "criteria": "I.D", "other_criteria": "I.E"})
        assert refused.status_code == 422
        assert 'role="alert"' in refused.text and 'value="I.E"' in refused.text
        denied = client.post(f"/requests/{request_id}/decision", data={
            "csrf_token": csrf, "version": version.group(1), "kind": "deny",
            "criteria": ["I.D", "I.E"],
            "reason": "Hospital use and crisis contacts <b>are not</b> documented."})
        assert denied.status_code == 303, denied.text
        page = client.get(denied.headers["location"])
        assert "Decision recorded." in page.text
        assert "&lt;b&gt;are not&lt;/b&gt;" in page.text  # the reason as text
        notice_id = re.search(r'href="/notices/([A-Za-z0-9-]+)"', page.text)
        assert notice_id
        notice = client.get(f"/notices/{notice_id.group(1)}")
        assert notice.status_code == 200
        assert "Notice of adverse benefit determination" in notice.text
        assert "I.D" in notice.text and "Your right to appeal to the plan" in notice.text
        assert 'data-print' in notice.text


def test_information_keeps_every_determination(database: Any) -> None:
    tokens = add_role_users(database)
    with client_for(database) as client:
        created = client.post("/api/requests", json=request_body("sc-initial-pend"),
                              headers=bearer(tokens["intake"])).json()
        assert created["status"] == "pended" and created["missing_documents"]
        added = client.post(f"/api/requests/{created['id']}/information",
                            json={"facts": {"impairment_basic_functioning": True}},
                            headers=bearer(tokens["intake"]))
        assert added.status_code == 200, added.text
        seqs = [d["seq"] for d in added.json()["determinations"]]
        assert seqs == sorted(seqs) and len(seqs) == 2


def test_the_queue_page_flags_a_request_the_minute_it_is_overdue(database: Any) -> None:
    tokens = add_role_users(database, passwords=True)
    clock = Clock(NOW)
    with client_for(database, clock) as client:
        created = client.post("/api/requests", json=request_body(urgency="expedited"),
                              headers=bearer(tokens["intake"])).json()
        due = dt.datetime.fromisoformat(created["deadline"])
        row = re.compile(rf'<tr class="([a-z]*)" data-request="{created["id"]}">')
        clock.now = due - dt.timedelta(minutes=1)
        login(client, "reviewer")  # the session of NOW would have expired by then
        page = client.get("/queue").text
        found = row.search(page)
        assert found and found.group(1) == "", page
        assert "expedited" in page and "overdue" not in page.split("<tbody>")[1]
        clock.now = due + dt.timedelta(minutes=1)
        page = client.get("/queue?overdue=yes").text
        found = row.search(page)
        assert found and found.group(1) == "overdue"
        assert "escalated" in page
        view = client.get(f"/api/requests/{created['id']}",
                          headers=bearer(tokens["reviewer"])).json()
        assert view["overdue"] and view["escalated"]
        assert view["status"] in ("referred",)  # flagged, never denied by the clock
        assert [n["kind"] for n in view["notices"]] == ["missed_deadline"]


def test_the_lifespan_warms_up_and_sweeps_overdue_requests(sqlite_database: Any,
                                                           monkeypatch: Any) -> None:
    """Started with warm-up and a quick sweep: ready only after warming, and a request past
    its deadline is flagged by the background sweep, with nobody reading it. The shutdown
    waits for the billing warm-up (here a slow stand-in)."""
    import threading
    import time

    from sqlalchemy import select

    import bhpolicy.web.app as web_app
    from bhpolicy.db.models import Request

    warmed = threading.Event()

    def slow_warm_billing(app: Any) -> None:
        time.sleep(1.0)  # longer than the rest of the test takes to reach the shutdown
        warmed.set()

    monkeypatch.setattr(web_app, "warm_billing", slow_warm_billing)
    tokens = add_role_users(sqlite_database)
    clock = Clock(NOW)
    with client_for(sqlite_database, clock, warm=True, sweep_seconds=0.05) as client:
        assert client.app.state.warmed is True  # type: ignore[attr-defined]
        assert client.get("/healthz").json() == {"status": "ready"}
        created = client.post("/api/requests", json=request_body(urgency="expedited"),
                              headers=bearer(tokens["intake"])).json()
        clock.now = dt.datetime.fromisoformat(created["deadline"]) + dt.timedelta(seconds=1)
        flagged = None
        for _ in range(100):
            with sqlite_database.read() as session:
                flagged = session.scalar(select(Request.overdue_flagged_at).where(
                    Request.id == created["id"]))
            if flagged is not None:
                break
            time.sleep(0.05)
        assert flagged is not None, "the background sweep did not flag the request"
    # the shutdown waited for the billing warm-up: no thread left inside DuckDB while the
    # interpreter ends (that aborted the process after the tests had passed)
    assert warmed.is_set()
    assert not [t for t in threading.enumerate() if t.name == "warm-billing"]
