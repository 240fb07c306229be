"""A bill on a standalone Spark cluster on loopback: a master and one worker started here with
``spark-class`` (the pip package has no start scripts), RPC authentication on with a secret
given to the daemons in an owner-only properties file and to bhpolicy in
$BHPOLICY_SPARK_SECRET, the outputs equal to DuckDB's, the daemons stopped at the end.

Skips when PySpark or Java is missing; in CI (CI=true) that fails instead."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bhpolicy.billing.run import BillInputs, run_billing
from bhpolicy.billing.synth import SynthSpec, synthesize
from bhpolicy.domain.runs import RunSettings
from bhpolicy.engines import SECRET_VARIABLE, EngineSettings, engine_settings, stop_spark
from bhpolicy.errors import BhpolicyError
from bhpolicy.policy.registry import load_registry
from tests.support.spark import differences, require_spark

pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]

AS_OF = dt.date(2026, 12, 1)
START_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spark_class() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"a Spark daemon stopped: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    pytest.fail(f"no Spark daemon on 127.0.0.1:{port} after {START_SECONDS} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(master URL, secret) of a master and one worker on 127.0.0.1."""
    require_spark()
    stop_spark()  # a local session of an earlier test module
    folder = tmp_path_factory.mktemp("cluster")
    secret = secrets.token_hex(24)
    props = folder / "spark-daemon.conf"
    props.touch(mode=0o600)
    props.write_text("spark.authenticate true\n"
                     f"spark.authenticate.secret {secret}\n"
                     "spark.ui.enabled false\n")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOCAL_DIRS": str(folder),
           "SPARK_LOG_DIR": str(folder), "PYSPARK_PYTHON": sys.executable,
           "SPARK_WORKER_DIR": str(folder / "work")}
    env.pop("SPARK_HOME", None)
    port, master_ui, worker_port, worker_ui = (_free_port() for _ in range(4))
    master_log, worker_log = folder / "master.log", folder / "worker.log"
    spark_class = str(_spark_class())
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with master_log.open("wb") as out:
            processes.append(subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                 "--port", str(port), "--webui-port", str(master_ui),
                 "--properties-file", str(props)],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder))
        _wait_for_port(port, processes[0], master_log)
        with worker_log.open("wb") as out:
            processes.append(subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.worker.Worker",
                 f"spark://127.0.0.1:{port}", "--host", "127.0.0.1",
                 "--port", str(worker_port), "--webui-port", str(worker_ui),
                 "--cores", "2", "--memory", "1g", "--work-dir", str(folder / "work"),
                 "--properties-file", str(props)],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder))
        _wait_for_port(worker_port, processes[1], worker_log)
        yield f"spark://127.0.0.1:{port}", secret
    finally:
        stop_spark()
        for process in reversed(processes):
            _stop(process)


def test_a_bill_on_a_loopback_cluster_equals_duckdb(
        cluster: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    master, secret = cluster
    data = synthesize(SynthSpec(members=40, months=2, out=tmp_path / "in", form="parquet",
                                contacts_per_month=8))
    inputs = BillInputs(data["contacts"], data["members"], data["authorizations"])
    registry = load_registry()
    run_billing(inputs, RunSettings(out=tmp_path / "duckdb", as_of=AS_OF), registry)
    monkeypatch.setenv(SECRET_VARIABLE, secret)
    engine = engine_settings("spark", master, ["spark.sql.shuffle.partitions=4",
                                               "spark.executor.memory=512m",
                                               "spark.cores.max=2"])
    summary = run_billing(inputs, RunSettings(out=tmp_path / "spark", as_of=AS_OF,
                                              engine=engine), registry)
    assert summary.counts.get("lines_billable", 0) > 0
    assert differences(tmp_path / "duckdb", tmp_path / "spark") == {}


def test_a_cluster_master_without_the_secret_is_one_line(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(SECRET_VARIABLE, raising=False)
    with pytest.raises(BhpolicyError, match=SECRET_VARIABLE):
        run_billing(BillInputs(tmp_path / "c.parquet", tmp_path / "m.parquet",
                               tmp_path / "a.parquet"),
                    RunSettings(out=tmp_path / "out", as_of=AS_OF,
                                engine=EngineSettings("spark", "spark://127.0.0.1:7077")),
                    load_registry())
