"""The engine options of bill and audit (bhpolicy.engines), without Spark: --engine and
$BHPOLICY_ENGINE, --spark-master, --spark-conf, and the session's safe defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from bhpolicy.engines import (
    LOG_CONFIG,
    SECRET_VARIABLE,
    EngineSettings,
    engine_settings,
    parse_engine,
    parse_master,
    parse_spark_conf,
    spark_conf,
    uri,
)
from bhpolicy.errors import BhpolicyError


def test_engine_from_option_then_variable_then_duckdb() -> None:
    assert parse_engine(None, {}) == "duckdb"
    assert parse_engine(None, {"BHPOLICY_ENGINE": "Spark"}) == "spark"
    assert parse_engine("duckdb", {"BHPOLICY_ENGINE": "spark"}) == "duckdb"
    with pytest.raises(BhpolicyError, match=r"--engine 'polars': choose duckdb or spark"):
        parse_engine("polars", {})
    with pytest.raises(BhpolicyError, match=r"\$BHPOLICY_ENGINE 'x'"):
        parse_engine(None, {"BHPOLICY_ENGINE": "x"})


def test_spark_conf_pairs_and_bad_ones_without_their_value() -> None:
    assert parse_spark_conf(["spark.executor.memory=4g", "spark.a=1", "spark.a=2"]) == (
        ("spark.executor.memory", "4g"), ("spark.a", "2"))
    assert parse_spark_conf(["spark.hadoop.fs.s3a.endpoint=http://x:9000/a=b"]) == (
        ("spark.hadoop.fs.s3a.endpoint", "http://x:9000/a=b"),)
    for bad in ("spark.executor.memory", "password=hunter2", "=4g"):
        with pytest.raises(BhpolicyError) as failure:
            parse_spark_conf([bad])
        assert "hunter2" not in str(failure.value)


def test_master_forms() -> None:
    for good in ("local", "local[2]", "local[*]", "local[4,2]", "spark://127.0.0.1:7077",
                 "yarn", "k8s://https://10.0.0.1:6443"):
        assert parse_master(good) == good
    for bad in ("local[0]", "spark://", "http://x", "local[2]; rm -rf /"):
        with pytest.raises(BhpolicyError, match="--spark-master"):
            parse_master(bad)


def test_spark_options_need_the_spark_engine() -> None:
    assert engine_settings(None, environ={}) == EngineSettings()
    with pytest.raises(BhpolicyError, match="need --engine spark"):
        engine_settings("duckdb", "local[2]", environ={})
    with pytest.raises(BhpolicyError, match="need --engine spark"):
        engine_settings(None, None, ["spark.a=1"], environ={})
    chosen = engine_settings(None, None, ["spark.a=1"], environ={"BHPOLICY_ENGINE": "spark"})
    assert chosen == EngineSettings("spark", "local[2]", (("spark.a", "1"),))


def test_safe_defaults_local_and_cluster() -> None:
    local = spark_conf(EngineSettings("spark"), environ={})
    assert local["spark.master"] == "local[2]"
    assert local["spark.sql.session.timeZone"] == "UTC"
    assert local["spark.ui.enabled"] == "false" and local["spark.eventLog.enabled"] == "false"
    assert local["spark.driver.bindAddress"] == "127.0.0.1"
    assert "spark.authenticate" not in local
    # the time zone stays UTC whatever is given; other defaults may be changed
    given = spark_conf(EngineSettings("spark", spark_conf=(
        ("spark.sql.session.timeZone", "America/New_York"), ("spark.ui.enabled", "true"))),
        environ={})
    assert given["spark.sql.session.timeZone"] == "UTC" and given["spark.ui.enabled"] == "true"
    cluster = EngineSettings("spark", "spark://10.0.0.5:7077")
    with pytest.raises(BhpolicyError, match=SECRET_VARIABLE) as failure:
        spark_conf(cluster, environ={})
    assert "\n" not in str(failure.value)
    conf = spark_conf(cluster, environ={SECRET_VARIABLE: "s3cret"})
    assert conf["spark.authenticate"] == "true" and conf["spark.authenticate.secret"] == "s3cret"
    assert conf["spark.io.encryption.enabled"] == "true"
    assert conf["spark.network.crypto.enabled"] == "true"


def test_shuffle_partitions_two_a_local_core() -> None:
    import os

    def partitions(master: str) -> str:
        return spark_conf(EngineSettings("spark", master), environ={})[
            "spark.sql.shuffle.partitions"]

    assert partitions("local") == "2" and partitions("local[3]") == "6"
    assert partitions("local[4,2]") == "8"
    assert partitions("local[*]") == str(2 * (os.cpu_count() or 1))
    assert "spark.sql.shuffle.partitions" not in spark_conf(
        EngineSettings("spark", "spark://h:7077"), environ={"BHPOLICY_SPARK_SECRET": "s"})


LOG = f"-Dlog4j2.configurationFile={LOG_CONFIG.absolute().as_uri()}"


def test_huge_methods_are_compiled() -> None:
    """The rules' generated Java methods pass HotSpot's size limit for JIT compilation: the
    flag that lifts it is on the driver and executors, beside Java options given."""
    local = spark_conf(EngineSettings("spark"), environ={})
    assert local["spark.driver.extraJavaOptions"] == f"-XX:-DontCompileHugeMethods {LOG}"
    assert local["spark.executor.extraJavaOptions"] == "-XX:-DontCompileHugeMethods"
    given = spark_conf(EngineSettings("spark", spark_conf=(
        ("spark.driver.extraJavaOptions", "-Dx=1"),
        ("spark.executor.extraJavaOptions", "-XX:+DontCompileHugeMethods"))), environ={})
    assert given["spark.driver.extraJavaOptions"] == f"-Dx=1 -XX:-DontCompileHugeMethods {LOG}"
    assert given["spark.executor.extraJavaOptions"] == "-XX:+DontCompileHugeMethods"


def test_spark_logging_is_off_unless_configured(tmp_path: Path) -> None:
    """The driver gets bhpolicy's log4j configuration (Spark's logging off: a failed task's
    log lines quote the value). A log4j configuration in --spark-conf's driver options is
    kept and ours is not added; one in the installation's spark-defaults.conf is not the
    user's choice: ours is added after it (the last one wins). The file turns off the root
    logger (with an appender: Spark loads its own defaults for a root without one) and the
    logger PySpark's driver compares with it."""
    own = "-Dlog4j2.configurationFile=file:/etc/spark/log4j2.properties"
    for given in (own, "-Dlog4j.configuration=file:/etc/spark/log4j.properties",
                  f'"{own}"'):
        conf = spark_conf(EngineSettings("spark", spark_conf=(
            ("spark.driver.extraJavaOptions", given),)), environ={})
        assert conf["spark.driver.extraJavaOptions"] == f"{given} -XX:-DontCompileHugeMethods"
    # a property whose name only contains the words does not count
    other = "-Dapp.log4j2.configurationFile.note=x"
    conf = spark_conf(EngineSettings("spark", spark_conf=(
        ("spark.driver.extraJavaOptions", other),)), environ={})
    assert conf["spark.driver.extraJavaOptions"] == f"{other} -XX:-DontCompileHugeMethods {LOG}"
    (tmp_path / "spark-defaults.conf").write_text(
        f"spark.driver.extraJavaOptions {own}\n", encoding="utf-8")
    site = spark_conf(EngineSettings("spark"), environ={"SPARK_CONF_DIR": str(tmp_path)})
    assert site["spark.driver.extraJavaOptions"] == f"{own} -XX:-DontCompileHugeMethods {LOG}"
    assert LOG_CONFIG.is_file()
    settings = dict(line.split(" = ", 1) for line in LOG_CONFIG.read_text(
        encoding="utf-8").splitlines() if " = " in line and not line.startswith("#"))
    assert settings["rootLogger.level"] == "off"
    assert settings["rootLogger.appenderRef.stderr.ref"] == settings["appender.console.name"]
    assert settings["logger.gateway.name"] == "org.apache.spark.api.python.PythonGatewayServer"
    assert settings["logger.gateway.level"] == "off"


def test_site_java_options_are_kept(tmp_path: Path) -> None:
    """A --conf replaces spark-defaults.conf's value: the installation's Java options are
    carried over, with the flag beside them."""
    (tmp_path / "spark-defaults.conf").write_text(
        "# site\nspark.driver.extraJavaOptions  -Djava.security.krb5.conf=/etc/krb5.conf\n"
        "spark.executor.extraJavaOptions=-Dsite=1\n", encoding="utf-8")
    conf = spark_conf(EngineSettings("spark"), environ={"SPARK_CONF_DIR": str(tmp_path)})
    assert conf["spark.driver.extraJavaOptions"] == (
        f"-Djava.security.krb5.conf=/etc/krb5.conf -XX:-DontCompileHugeMethods {LOG}")
    assert conf["spark.executor.extraJavaOptions"] == "-Dsite=1 -XX:-DontCompileHugeMethods"
    missing = spark_conf(EngineSettings("spark"), environ={"SPARK_HOME": str(tmp_path / "x")})
    assert missing["spark.driver.extraJavaOptions"] == f"-XX:-DontCompileHugeMethods {LOG}"


def test_uri_keeps_a_scheme() -> None:
    from pathlib import Path

    assert uri(Path("s3a://bucket/key/contacts.parquet")) == "s3a://bucket/key/contacts.parquet"
    assert uri(Path("/data/contacts.parquet")) == "/data/contacts.parquet"


def test_the_temporary_folder_is_private(tmp_path: Path) -> None:
    """Spark's stages hold member data: their folder is made owner-only, and a link in its
    place is refused (one line, before Spark starts)."""
    from bhpolicy.domain.spark import _private_folder
    from bhpolicy.errors import DataFileError

    made = tmp_path / "made"
    _private_folder(made)
    assert made.stat().st_mode & 0o777 == 0o700
    opened = tmp_path / "opened"
    opened.mkdir(mode=0o755)
    opened.chmod(0o755)
    _private_folder(opened)
    assert opened.stat().st_mode & 0o777 == 0o700
    link = tmp_path / "link"
    link.symlink_to(made)
    with pytest.raises(DataFileError, match="not a folder of this user's") as refused:
        _private_folder(link)
    assert "\n" not in str(refused.value)
