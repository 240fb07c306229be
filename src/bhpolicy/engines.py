"""Which engine runs the rules: DuckDB (the default, one machine) or Apache Spark (Ibis's
PySpark backend, ``local[N]`` or a cluster master), and the options that pick it.

The rules are the same Ibis expressions on both (:mod:`bhpolicy.billing.graph`); what differs
stays behind the run's stages (:mod:`bhpolicy.billing.run`): DuckDB stores stages as tables
(ENUM dictionaries, memory limit, spill folder), Spark as stored DataFrames (Parquet files
or checkpoints) behind temp views (:mod:`bhpolicy.domain.spark`). The few SQL functions the
rules call by name are declared for each dialect here (:func:`dialect`), so an expression
built for Spark compiles to Spark's spelling.

Spark sessions get safe defaults (:func:`spark_conf`): session time zone UTC (a date of
service never shifts), no UI and no event log, the driver bound to 127.0.0.1, and with a
cluster master RPC authentication and encryption of the blocks it spills or shuffles. Spark's
own error text can quote a value; it never reaches a message (:func:`spark_failures`), nor
stderr: Spark's logging is off in the driver bhpolicy starts (:data:`LOG_CONFIG`) and so are
PySpark's loggers of a failed query (:func:`quiet_pyspark_loggers`).
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bhpolicy.errors import BhpolicyError

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[Engine, ...] = ("duckdb", "spark")
ENGINE_VARIABLE = "BHPOLICY_ENGINE"
SECRET_VARIABLE = "BHPOLICY_SPARK_SECRET"
DEFAULT_MASTER = "local[2]"


@dataclass(frozen=True)
class EngineSettings:
    """The engine of a run and, for Spark, the master and the extra configuration."""

    engine: Engine = "duckdb"
    spark_master: str = DEFAULT_MASTER
    spark_conf: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def parse_engine(value: str | None, environ: Mapping[str, str] | None = None) -> Engine:
    """``--engine`` (None when not given: ``$BHPOLICY_ENGINE``, else duckdb)."""
    env = os.environ if environ is None else environ
    given = value if value is not None else env.get(ENGINE_VARIABLE) or "duckdb"
    name = given.strip().lower()
    for engine in ENGINES:
        if name == engine:
            return engine
    source = "--engine" if value is not None else f"${ENGINE_VARIABLE}"
    raise BhpolicyError(f"{source} {given!r}: choose duckdb or spark")


_KEY = re.compile(r"(spark|hadoop|fs)\.[A-Za-z0-9_.\-]+")


def parse_spark_conf(items: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``--spark-conf KEY=VALUE`` (repeatable): the pairs in order (a key given twice keeps
    the last value). A key must look like a Spark or Hadoop setting; the value is never
    repeated in a message (it may be a secret)."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not _KEY.fullmatch(key):
            shown = key if _KEY.fullmatch(key) else "the option"
            raise BhpolicyError(f"--spark-conf: {shown}: give KEY=VALUE with a Spark key "
                                "(spark.executor.memory=4g, say)")
        pairs[key] = value.strip()
    return tuple(pairs.items())


_MASTER = re.compile(r"local(\[(\*|[1-9][0-9]*)(,[1-9][0-9]*)?\])?|"
                     r"(spark|k8s|mesos)://[A-Za-z0-9_.:\[\]\-,/]+|yarn")


def parse_master(value: str) -> str:
    """``--spark-master``: local, local[N], local[*], spark://HOST:PORT, k8s://..., yarn."""
    master = value.strip()
    if not _MASTER.fullmatch(master):
        raise BhpolicyError(f"--spark-master {value!r}: give local[2], local[*], "
                            "spark://HOST:PORT, k8s://URL or yarn")
    return master


def engine_settings(engine: str | None, spark_master: str | None = None,
                    spark_conf: Iterable[str] = (),
                    environ: Mapping[str, str] | None = None) -> EngineSettings:
    """The options of ``bill`` and ``audit`` as one value (what the CLI calls). Spark options
    with the DuckDB engine are an error: an option is never ignored without a word."""
    chosen = parse_engine(engine, environ)
    conf = parse_spark_conf(spark_conf)
    if chosen == "duckdb" and (spark_master is not None or conf):
        raise BhpolicyError("--spark-master and --spark-conf need --engine spark")
    return EngineSettings(chosen, parse_master(spark_master or DEFAULT_MASTER), conf)


def is_cluster(master: str) -> bool:
    return not master.startswith("local")


# Safe defaults; --spark-conf may change any of them but the time zone.
SAFE_DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.eventLog.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.ansi.enabled": "true",
    # dates before 1582 are written as the proleptic calendar DuckDB reads
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
    "spark.sql.sources.partitionOverwriteMode": "static",
}
CLUSTER_DEFAULTS: dict[str, str] = {
    "spark.authenticate": "true",
    "spark.network.crypto.enabled": "true",
    "spark.io.encryption.enabled": "true",  # spilled and shuffled blocks
}
FIXED = {"spark.sql.session.timeZone": "UTC"}
# The rules compile to Java methods over HotSpot's 8,000-byte limit for JIT compilation
# (one stage checks every field of a contact, then joins and filters), which the JVM then
# interprets: 41 s instead of 12 s for the contact checks at 1e7 contacts on local[2]
# (bench/spark_profile.py, 2026-12-07). Added to the driver's and executors' Java options,
# also when --spark-conf gives others.
JIT_OPTION = "-XX:-DontCompileHugeMethods"
JAVA_OPTIONS = ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions")
DRIVER_OPTIONS = JAVA_OPTIONS[0]
# Spark's log4j configuration for the driver (and a local master's executors, which run in
# it): logging off, since a failed task's log lines quote the value that failed. Left out
# only when --spark-conf's driver options name a log4j configuration (an installation's
# spark-defaults.conf naming one does not count: bhpolicy's, given after it, wins).
LOG_CONFIG = Path(__file__).with_name("spark_log4j2.properties")
LOG_OPTION = re.compile(r"(^|\s)[\"']?-Dlog4j2?\.configuration(File)?=")
# PySpark's warning when toPandas falls back from Arrow quotes Spark's error message
ARROW_FALLBACK_WARNING = "toPandas attempted Arrow optimization"
# the loggers PySpark writes a failed query's message to (its text quotes the value)
PYSPARK_LOGGERS = ("SQLQueryContextLogger", "DataFrameQueryContextLogger")


def spark_conf(settings: EngineSettings, local_dir: Path | None = None,
               environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The session's configuration: the safe defaults, the cluster ones with a cluster
    master (its secret from ``$BHPOLICY_SPARK_SECRET`` unless --spark-conf gives
    spark.authenticate.secret), then --spark-conf, with the time zone kept UTC."""
    env = os.environ if environ is None else environ
    conf = {**SAFE_DEFAULTS, "spark.master": settings.spark_master,
            "spark.app.name": "bhpolicy"}
    if local_dir is not None:
        conf["spark.local.dir"] = str(local_dir)
    local = re.fullmatch(r"local(\[([1-9][0-9]*|\*)(,[1-9][0-9]*)?\])?", settings.spark_master)
    if local:  # two shuffle partitions a core, not Spark's 200 (one file each per map task)
        cores = local.group(2) or "1"
        conf["spark.sql.shuffle.partitions"] = str(
            2 * ((os.cpu_count() or 1) if cores == "*" else int(cores)))
    given = dict(settings.spark_conf)
    if is_cluster(settings.spark_master):
        conf.update(CLUSTER_DEFAULTS)
        if "spark.authenticate.secret" not in given and \
                given.get("spark.authenticate", "true") == "true":
            secret = env.get(SECRET_VARIABLE, "")
            if not secret:
                raise BhpolicyError(
                    f"--spark-master {settings.spark_master}: a cluster master needs the "
                    f"cluster's shared secret in ${SECRET_VARIABLE} (spark.authenticate is "
                    "on with a cluster master)")
            conf["spark.authenticate.secret"] = secret
    conf.update(given)
    conf.update(FIXED)
    for key in JAVA_OPTIONS:
        # given on the command line, else the installation's own (a --conf replaces
        # spark-defaults.conf's value: keep it, with the flag beside it)
        value = conf.get(key) or _site_default(key, env)
        if "DontCompileHugeMethods" not in value:
            value = f"{value} {JIT_OPTION}".strip()
        if key == DRIVER_OPTIONS and LOG_CONFIG.is_file() and \
                not LOG_OPTION.search(given.get(key, "")):
            value = f"{value} {_log_option()}"
        conf[key] = value
    return conf


def _log_option() -> str:
    """The Java option naming :data:`LOG_CONFIG` (a file URI: no space or quote in it)."""
    return f"-Dlog4j2.configurationFile={LOG_CONFIG.absolute().as_uri()}"


def _site_default(key: str, env: Mapping[str, str]) -> str:
    """``key``'s value in the Spark installation's spark-defaults.conf
    (``$SPARK_CONF_DIR``, else ``$SPARK_HOME/conf``), or empty."""
    folder = env.get("SPARK_CONF_DIR") or (
        str(Path(env["SPARK_HOME"]) / "conf") if env.get("SPARK_HOME") else "")
    if not folder:
        return ""
    try:
        lines = (Path(folder) / "spark-defaults.conf").read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    for line in lines:
        found = re.match(r"\s*(\S+?)(?:\s*=\s*|\s+)(.*?)\s*$", line)
        if found and found.group(1) == key:
            return found.group(2)
    return ""


# -- the session ----------------------------------------------------------------------

_session_key: list[tuple[tuple[str, str], ...]] = []


def spark_session(conf: Mapping[str, str]) -> Any:
    """A SparkSession with ``conf``: the process's current one when its configuration is the
    same (starting a JVM costs seconds), else the current one is stopped and a new one made.
    A missing PySpark or Java is one line."""
    try:
        from pyspark import SparkConf
        from pyspark.sql import SparkSession
    except ImportError:
        raise BhpolicyError("--engine spark needs PySpark: pip install 'bhpolicy[spark]' "
                            "(and Java 17)") from None
    key = tuple(sorted(conf.items()))
    active = SparkSession.getActiveSession()
    if active is not None and _session_key and _session_key[0] == key:
        quiet_pyspark_loggers()  # again: a logging set-up since may have turned them on
        return active
    if active is not None:
        active.stop()
    _session_key.clear()
    spark_options = SparkConf(loadDefaults=False)
    for name, value in conf.items():
        spark_options.set(name, value)
    try:
        session = SparkSession.builder.config(conf=spark_options).getOrCreate()
    except Exception as exc:  # no Java, a master that does not answer
        raise BhpolicyError(f"cannot start Spark ({_spark_reason(exc)}); is Java 17 "
                            "installed (java -version) and the master reachable?") from None
    # with bhpolicy's log configuration, Spark's logging stays off; with the user's own,
    # at its levels
    if _log_option() in conf.get(DRIVER_OPTIONS, ""):
        session.sparkContext.setLogLevel("OFF")
    quiet_pyspark_loggers()
    _session_key.append(key)
    return session


def quiet_pyspark_loggers() -> None:
    """PySpark logs a failed query's message (which quotes the failing value) to stderr as
    it raises: those loggers are switched off, by a level above every record as well (a
    ``logging.config.dictConfig`` that keeps existing loggers turns ``disabled`` back off).
    Made as PySpark makes them (its logger class), so its calls with extra fields still
    find the methods they expect. The warning toPandas gives when it falls back from Arrow
    (it quotes Spark's message) is ignored."""
    from pyspark.logger import PySparkLogger

    for name in PYSPARK_LOGGERS:
        logger = PySparkLogger.getLogger(name)
        logger.disabled = True
        logger.setLevel(logging.CRITICAL + 1)
    warnings.filterwarnings("ignore", message=ARROW_FALLBACK_WARNING, category=UserWarning)


def stop_spark() -> None:
    """Stop the process's Spark session, if any (tests and the bench call it)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    _session_key.clear()


def _spark_reason(exc: BaseException) -> str:
    """A short reason for a Spark failure that never quotes data: the error class when
    Spark gives one (CAST_INVALID_INPUT, say), else the exception type."""
    get = getattr(exc, "getCondition", None) or getattr(exc, "getErrorClass", None)
    if callable(get):
        try:
            name = get()
        except Exception:  # a py4j error may fail again when asked
            name = None
        if name:
            return str(name)
    text = str(exc)
    found = re.search(r"\[([A-Z][A-Z0-9_]+(?:\.[A-Z0-9_]+)?)\]", text)
    if found:
        return found.group(1)
    if "OutOfMemoryError" in text:
        return "out of memory"
    return type(exc).__name__


def is_spark_error(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return module.startswith(("pyspark", "py4j"))


@contextmanager
def spark_failures(memory_hint: str, step: Callable[[str], None]
                   ) -> Iterator[Callable[[str], None]]:
    """Yield a step reporter that remembers the stage; a Spark failure inside the block
    becomes one line naming the stage and Spark's error class, never its message (a failed
    cast prints the value)."""
    stage = ["starting"]

    def tracked(text: str) -> None:
        stage[0] = text
        step(text)

    try:
        yield tracked
    except BhpolicyError:
        raise
    except Exception as exc:
        if not is_spark_error(exc):
            raise
        reason = _spark_reason(exc)
        hint = f"; {memory_hint}" if reason == "out of memory" else ""
        raise BhpolicyError(f"Spark failed while {stage[0]} ({reason}){hint}") from None


# -- the SQL the rules call by name ------------------------------------------------------

_dialect: contextvars.ContextVar[Engine] = contextvars.ContextVar("bhpolicy_dialect",
                                                                 default="duckdb")


def current_dialect() -> Engine:
    """The engine the expressions being built are for (:func:`dialect`)."""
    return _dialect.get()


@contextmanager
def dialect(engine: Engine) -> Iterator[None]:
    """Build expressions for ``engine`` inside the block (the rules pick the spelling of the
    few SQL functions Ibis has no rule for from it)."""
    token = _dialect.set(engine)
    try:
        yield
    finally:
        _dialect.reset(token)


def uri(path: Path | str) -> str:
    """A path or URI as text (``Path`` turns ``s3a://b/k`` into ``s3a:/b/k``: put it back)."""
    text = str(path)
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.\-]*):/(?!/)", r"\1://", text)


def is_remote(path: Path | str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.\-]+:/", str(path)) is not None
