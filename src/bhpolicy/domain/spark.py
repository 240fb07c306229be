"""A run's stages on Apache Spark (Ibis's PySpark backend): what billing
(:mod:`bhpolicy.billing.run`) and the audit (:mod:`bhpolicy.audit.run`) do with DuckDB tables
(:mod:`bhpolicy.domain.runs`), done with Spark DataFrames. Opened by
:func:`bhpolicy.domain.runs.open_spark`.

- Inputs: Parquet is read by Spark (a local path or any URI the installation reads); the row
  of an error is the record number in its file (``_metadata.row_index`` + 1), as on DuckDB.
  CSV is read by the DuckDB reader (:func:`bhpolicy.io.readers.load_raw_rejects`: the same
  strict dialect, row numbers and rejected rows) into a temporary Parquet copy of the spec's
  columns as text, which Spark reads: a CSV input must be a local file.
- Stages: each stored stage is computed once, its plan cut there, behind a temp view of the
  stage's name, dropped at the end of the run. With a local master it is written as Parquet
  into the run's temporary folder and read back: Spark then knows its size (a small stage,
  or the few columns a join takes of it, is broadcast rather than sorted against every
  contact) and a stage larger than memory stays on disk, compressed. With a cluster master
  (the driver's folder is not the executors') it is checkpointed on the executors
  (``localCheckpoint``). The DuckDB-only features (ENUM dictionaries, memory limit, spill
  folder, temp tables) are not used.
- Outputs: each table is written by Spark as one Parquet or CSV file in the run's folder
  (one writing task; CSV sorted), so the run folder, its manifest and the reports read the
  same files as after a DuckDB run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from bhpolicy.engines import (
    EngineSettings,
    is_cluster,
    is_remote,
    spark_conf,
    spark_session,
    uri,
)
from bhpolicy.errors import DataFileError
from bhpolicy.io.columns import Column
from bhpolicy.io.outputs import atomic_write_text
from bhpolicy.io.readers import load_raw_rejects, spec_columns


class SparkRun:
    """One run on Spark: the Ibis backend over the process's session, the stages it stored
    and the rows read per input."""

    def __init__(self, engine: EngineSettings, temp_directory: Path | None = None) -> None:
        # absolute, not resolved: a link in its place must stay visible to the check
        base = (temp_directory or Path(tempfile.gettempdir()) / "bhpolicy-spark").absolute()
        conf = spark_conf(engine, local_dir=base)  # a missing secret: before any work
        _private_folder(base)
        self.session = spark_session(conf)
        self.work = Path(tempfile.mkdtemp(prefix="run-", dir=base))
        self.con = ibis.pyspark.connect(self.session)
        # Ibis hands in-memory tables (the packs' parameters) to Spark through pandas,
        # where a text column without a value becomes NaN: hand them over as Arrow
        self.con._register_in_memory_table = self._register_memtable
        self.prefix = f"bh{uuid.uuid4().hex[:8]}_"
        self.views: list[str] = []
        self.frames: list[Any] = []
        self.rows: dict[str, int] = {}
        # stages as Parquet files on the driver's disk: only where the executors share it
        self.stage_files = not is_cluster(engine.spark_master)
        self.stage_folders: dict[str, Path] = {}

    # -- inputs ------------------------------------------------------------------------

    def load(self, path: Path, name: str, columns: tuple[Column, ...]
             ) -> tuple[ir.Table, ir.Table | None, bool]:
        """(raw, unreadable, trim_text) as :func:`~bhpolicy.io.readers.load_raw_rejects`
        gives on DuckDB."""
        text = uri(path)
        if text.lower().endswith(".parquet"):
            return (*self._parquet(path, text, name, columns), False)
        if is_remote(text):
            raise DataFileError(text, "file", "a CSV input to --engine spark must be a local "
                                "file (give Parquet for a URI)")
        return (*self._csv(path, name, columns), True)

    def _parquet(self, path: Path, text: str, name: str, columns: tuple[Column, ...]
                 ) -> tuple[ir.Table, None]:
        if not is_remote(text) and not path.is_file():
            raise DataFileError(text, "file", "does not exist")
        try:
            frame = self.session.read.parquet(text)
            frame = frame.select("*", (frame["_metadata.row_index"] + 1).alias("_line"))
            present = set(frame.columns) - {"_line"}
            rows = int(frame.count())  # read now: a bad file fails here, named
        except Exception:  # unreadable: Spark's text may quote the file's bytes
            raise DataFileError(text, "file", "cannot read (not a Parquet file Spark reads)"
                                ) from None
        view = self._view(f"{name}_raw", frame)
        raw = self.con.table(view)
        self.rows[name] = rows
        return spec_columns(raw, text, columns, present), None

    def _csv(self, path: Path, name: str, columns: tuple[Column, ...]
             ) -> tuple[ir.Table, ir.Table | None]:
        duck = ibis.duckdb.connect(":memory:")
        try:
            raw, unreadable = load_raw_rejects(duck, path, name, columns)
            copy = self.work / f"{name}.parquet"
            duck.to_parquet(raw, copy)
            kept = int(duck.to_pyarrow(raw.count().as_table()).column(0)[0].as_py())
            rejected = 0
            bad_copy = None
            if unreadable is not None:
                bad_copy = self.work / f"{name}_unreadable.parquet"
                duck.to_parquet(unreadable, bad_copy)
                rejected = int(duck.to_pyarrow(unreadable.row.nunique().as_table())
                               .column(0)[0].as_py())
        finally:
            duck.disconnect()
        self.rows[name] = kept + rejected
        table = self.con.table(self._view(f"{name}_raw",
                                          self.session.read.parquet(_local(copy))))
        bad = None if bad_copy is None else self.con.table(
            self._view(f"{name}_unreadable", self.session.read.parquet(_local(bad_copy))))
        return table, bad

    def _register_memtable(self, op: Any) -> None:
        from ibis.backends.pyspark.datatypes import PySparkSchema

        data = op.data.to_pyarrow(op.schema)
        frame = self.session.createDataFrame(data, schema=PySparkSchema.from_ibis(op.schema))
        frame.createOrReplaceTempView(op.name)

    # -- stages ------------------------------------------------------------------------

    def frame(self, table: ir.Table) -> Any:
        """The Spark DataFrame of an expression (its in-memory tables registered)."""
        from ibis.backends.pyspark.datatypes import PySparkType
        from pyspark.sql import functions

        self.con._run_pre_execute_hooks(table)
        frame = self.session.sql(self.con.compile(table))
        # Ibis drops a cast to the type it already infers (row_number() as int64) where
        # Spark's SQL gives another (INT): the DataFrame gets the expression's types
        wanted = {name: PySparkType.from_ibis(kind) for name, kind in table.schema().items()}
        if all(field.dataType == wanted[field.name] for field in frame.schema.fields):
            return frame
        return frame.select(*[functions.col(f"`{name}`").cast(kind).alias(name)
                              for name, kind in wanted.items()])

    def _view(self, name: str, frame: Any) -> str:
        view = self.prefix + name
        frame.createOrReplaceTempView(view)
        self.views.append(view)
        return view

    def store(self, name: str, table: ir.Table) -> ir.Table:
        """Compute ``table`` once (see the module's text) and return it."""
        frame = self.frame(table)
        if self.stage_files:  # file:// URIs: never the default file system of a Hadoop config
            folder = self.work / "stages" / f"{len(self.views)}-{name}"
            frame.write.parquet(_local(folder))
            frame = self.session.read.parquet(_local(folder))
            self.stage_folders[name] = folder
        else:
            frame = frame.localCheckpoint(eager=True)
            self.frames.append(frame)
        return self.con.table(self._view(name, frame))

    def drop(self, name: str) -> None:
        """The stage is read no more (as a dropped DuckDB table): its view and files go."""
        view = self.prefix + name
        self.session.catalog.dropTempView(view)
        folder = self.stage_folders.pop(name, None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def count(self, table: ir.Table) -> int:
        return int(self.frame(table.count().as_table()).collect()[0][0])

    # -- outputs -----------------------------------------------------------------------

    def write(self, table: ir.Table, path: Path, form: str,
              order: list[str] | None = None) -> None:
        """``table`` as one file at ``path`` (Parquet, or CSV sorted by ``order``), written
        by Spark into a folder beside it and moved into place."""
        frame = self.frame(table.order_by(order) if order else table)
        parts = path.with_name(path.name + ".parts")
        if form == "parquet":
            frame.repartition(1).write.mode("overwrite").parquet(_local(parts))
        else:  # DuckDB's CSV: quotes only where needed, "" for an empty text, nothing for null
            frame.coalesce(1).write.mode("overwrite").csv(
                _local(parts), header=True, quote='"', escape='"', nullValue="",
                emptyValue='""', ignoreLeadingWhiteSpace=False,
                ignoreTrailingWhiteSpace=False, lineSep="\n", dateFormat="yyyy-MM-dd",
                timestampFormat="yyyy-MM-dd HH:mm:ss")
        written = sorted(parts.glob(f"part-*.{'parquet' if form == 'parquet' else 'csv'}"))
        if len(written) == 1:
            # owner-only, as every output: Hadoop's local file system writes its files 0644
            # whatever the process's umask
            written[0].chmod(0o600)
            written[0].replace(path)
        elif form == "csv" and not written:  # no row: the header only
            atomic_write_text(path, ",".join(frame.columns) + "\n")
        else:  # pragma: no cover - one writing task gives one file
            raise DataFileError(str(path), "file", f"Spark wrote {len(written)} files")
        shutil.rmtree(parts, ignore_errors=True)

    def read_parquet(self, path: Path) -> ir.Table:
        return self.con.table(self._view(f"written_{path.stem}",
                                         self.session.read.parquet(_local(path))))

    def close(self) -> None:
        """Drop the run's views and checkpoints and its temporary copies (the session stays
        for the next run of the process)."""
        for view in self.views:
            self.session.catalog.dropTempView(view)
        for frame in self.frames:
            frame.unpersist()
        shutil.rmtree(self.work, ignore_errors=True)


def _private_folder(base: Path) -> None:
    """``base`` (stages and CSV copies hold member data) as a folder of this user's only:
    created owner-only; one that is a symbolic link or another user's is refused."""
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = base.lstat()
    if base.is_symlink() or info.st_uid != os.getuid():
        raise DataFileError(str(base), "folder", "is not a folder of this user's (Spark's "
                            "temporary files hold member data): give another temporary folder")
    if info.st_mode & 0o077:
        base.chmod(0o700)


def _local(path: Path) -> str:
    """A path on the driver's disk as a ``file://`` URI for Spark: never the default file
    system of a Hadoop configuration (HDFS on many edge nodes). Not percent-encoded: Hadoop
    quotes the path itself."""
    return f"file://{path.absolute()}"
