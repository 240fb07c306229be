"""A request is never lost: ``bhpolicy serve`` killed at the worst moments (before the commit,
after the commit but before the reply, and by SIGKILL in the middle of a load run) keeps every
request it acknowledged, and a retry with the same Idempotency-Key returns the stored request
instead of making a second one. Real server processes, on SQLite and PostgreSQL; the kills are
real SIGKILLs (services/faults.py, armed only through BHPOLICY_FAULTS)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.web import bhpolicy_command, request_body, running_server

pytestmark = pytest.mark.timeout(600)


def cli(*args: str) -> str:
    done = subprocess.run([*bhpolicy_command(), *args], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def prepared(url: str) -> dict[str, str]:
    cli("db", "upgrade", "--db", url)
    token = cli("users", "add", "frontdesk", "--role", "intake", "--db", url)
    return {"Authorization": f"Bearer {token.strip().splitlines()[-1]}"}


def post(base: str, auth: dict[str, str], key: str, case: str = "sc-initial-refer"
         ) -> httpx.Response:
    return httpx.post(base + "/api/requests", json=request_body(case),
                      headers={**auth, "Idempotency-Key": key}, timeout=30)


def stored_ids(base: str, auth: dict[str, str]) -> list[str]:
    answer = httpx.get(base + "/api/requests", headers=auth, timeout=30)
    assert answer.status_code == 200, answer.text
    return [row["id"] for row in answer.json()]


def wait_dead(server: Any) -> None:
    server.process.wait(timeout=30)
    assert server.process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("point", ["before_commit", "after_commit_before_reply"])
def test_killed_at_a_fault_point(database_url: str, tmp_path: Path, point: str) -> None:
    auth = prepared(database_url)
    acknowledged: dict[str, str] = {}
    with running_server(database_url, tmp_path, env={"BHPOLICY_FAULTS": f"{point}@3"}) as server:
        for n in (1, 2):
            answer = post(server.base_url, auth, f"key-{n}")
            assert answer.status_code == 201, answer.text
            acknowledged[f"key-{n}"] = answer.json()["id"]
        with pytest.raises(httpx.TransportError):
            post(server.base_url, auth, "key-3")  # the server dies on this one
        wait_dead(server)
        assert "Traceback" not in server.log_text()
    with running_server(database_url, tmp_path) as server:
        ids = stored_ids(server.base_url, auth)
        assert set(acknowledged.values()) <= set(ids)
        # before the commit nothing was written; after it, the request is there unanswered
        assert len(ids) == (2 if point == "before_commit" else 3)
        retried = post(server.base_url, auth, "key-3")
        assert retried.status_code == 201, retried.text
        again = stored_ids(server.base_url, auth)
        assert len(again) == 3 and retried.json()["id"] in again
        if point == "after_commit_before_reply":
            assert retried.json()["id"] in ids  # the stored request, not a second one
        for key, request_id in acknowledged.items():
            replay = post(server.base_url, auth, key)
            assert replay.status_code == 201 and replay.json()["id"] == request_id


def test_sigkill_during_a_load_run(database_url: str, tmp_path: Path) -> None:
    """Four clients post as fast as the server answers; the server is SIGKILLed mid-run.
    Every request answered 201 is stored after the restart; retrying every key (answered
    or not) makes no duplicate."""
    auth = prepared(database_url)
    acknowledged: dict[str, str] = {}
    attempted: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    cases = ["sc-initial-refer", "sc-initial-meets", "sc-initial-pend"]

    with running_server(database_url, tmp_path) as server:
        def client(worker: int) -> None:
            n = 0
            while not stop.is_set():
                key = f"w{worker}-{n}"
                with lock:
                    attempted.append(key)
                try:
                    answer = post(server.base_url, auth, key, cases[n % len(cases)])
                except httpx.TransportError:
                    return
                if answer.status_code == 201:
                    with lock:
                        acknowledged[key] = answer.json()["id"]
                n += 1

        workers = [threading.Thread(target=client, args=(w,)) for w in range(4)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(server.process.pid, signal.SIGKILL)
        for worker in workers:
            worker.join(timeout=60)
        stop.set()
        wait_dead(server)
    assert len(acknowledged) >= 40, "the load run did not get going"

    with running_server(database_url, tmp_path) as server:
        ids = set(stored_ids(server.base_url, auth))
        assert set(acknowledged.values()) <= ids
        for key, request_id in acknowledged.items():
            got = httpx.get(f"{server.base_url}/api/requests/{request_id}", headers=auth,
                            timeout=30)
            assert got.status_code == 200, (key, got.text)
        for key in attempted:
            retried = post(server.base_url, auth, key, cases[int(key.split("-")[1])
                                                             % len(cases)])
            assert retried.status_code == 201, retried.text
            if key in acknowledged:
                assert retried.json()["id"] == acknowledged[key]
        assert len(stored_ids(server.base_url, auth)) == len(set(attempted))
