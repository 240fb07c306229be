"""``bhpolicy serve`` for real: refuses a database behind the latest migration in one line
naming ``bhpolicy db upgrade``; after the upgrade and ``users add`` it starts on 127.0.0.1,
says ready only once warm, takes a request, and logs each call by its route template with no
member data."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx

from tests.support.web import bhpolicy_command, request_body, running_server


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*bhpolicy_command(), *args], capture_output=True, text=True,
                          input=stdin, timeout=120, check=False)


def test_serve_refuses_a_database_behind_the_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    done = cli("serve", "--db", url, "--port", "1")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "bhpolicy db upgrade" in lines[0] and lines[0].startswith("error: ")
    done = cli("users", "add", "someone", "--role", "intake", "--db", url)
    assert done.returncode == 2 and "bhpolicy db upgrade" in done.stderr


def test_serve_end_to_end(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bhpolicy.db'}"
    upgraded = cli("db", "upgrade", "--db", url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from empty to" in upgraded.stdout
    assert "already at the latest revision" in cli("db", "upgrade", "--db", url).stdout

    added = cli("users", "add", "frontdesk", "--role", "intake", "--db", url)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    assert token.startswith("bhp_")
    reviewer = cli("users", "add", "dr_lee", "--role", "reviewer", "--licence", "LICSW 77",
                   "--password-stdin", "--db", url, stdin="a long pass phrase\n")
    assert reviewer.returncode == 0, reviewer.stderr
    assert cli("users", "add", "frontdesk", "--role", "intake", "--db",
               url).stderr.startswith("error: a user named 'frontdesk' exists already")
    bad_role = cli("users", "add", "x", "--role", "superuser", "--db", url)
    assert bad_role.returncode == 2 and bad_role.stderr.count("\n") == 1

    with running_server(url, tmp_path) as server:
        auth = {"Authorization": f"Bearer {token}"}
        body = request_body("sc-initial-refer")
        created = httpx.post(server.base_url + "/api/requests", json=body, headers=auth,
                             timeout=30)
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "referred"
        assert "app;dur=" in created.headers["server-timing"]
        queue = httpx.get(server.base_url + "/api/requests?status=referred", headers=auth,
                          timeout=30)
        assert [r["id"] for r in queue.json()] == [created.json()["id"]]
        assert httpx.get(server.base_url + "/api/requests", timeout=30).status_code == 401
        docs = httpx.get(server.base_url + "/docs", timeout=30)
        assert docs.status_code == 200 and "/static/vendor/swagger-ui-bundle.js" in docs.text
        assert httpx.get(server.base_url + "/static/vendor/swagger-ui-bundle.js",
                         timeout=30).status_code == 200
        spec = httpx.get(server.base_url + "/openapi.json", timeout=30).json()
        assert "/api/requests/{request_id}/decision" in spec["paths"]
    log = server.log_text()
    assert re.search(r"bhpolicy\.web\.access: POST /api/requests 201 [0-9.]+ms", log), log
    assert re.search(r"GET /api/requests 200 [0-9.]+ms", log), log
    assert "status=referred" not in log  # no query strings
    for secret in (body["member"]["reference"], body["member"]["birth_date"], token):
        assert secret not in log
    assert "Traceback" not in log
