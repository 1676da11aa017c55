"""The native files path: ``dao.read`` / ``dao.write`` with the Spark engine through Spark's own
parquet, csv and json readers and writers.

Where the JVM can open the object's location (local folders always; S3 through ``s3a://`` when
the session has hadoop-aws: EMR, Databricks, or the JARs of jars/pom.xml), the Spark engine reads
and writes files stores natively: the work stays in the JVM, at Spark's own speed.

    >>> dao.read("silver.events", engine="spark", filters=[("day", "=", "2025-06-30")])  # doctest: +SKIP
    >>> dao.write(df, "silver.events", mode="dynamic")                                  # doctest: +SKIP
    >>> dao.write(df, "silver.events", options={"engine_path": "python"})   # force the Python path

Same semantics as the Python path (``format("dao")``):

* reads: :meth:`FilesInterface.plan_read` runs first (options, the catalog's schema, partition
  columns and their types, missing objects), and Spark reads with exactly that schema, so both
  paths return the same columns and types. Partition filters prune folders in Spark;
* writes: :meth:`FilesInterface.prepare_write` runs first (options, mode, schema against the stored
  data, errorifexists): nothing is written when it raises. Spark's writer then fills the job's
  private staging folder ``<object>/_dao_staging/<job>/`` (never the target: Spark's own overwrite
  would delete the target first), and the files interface's commit publishes: the staged files
  are moved into place under the Python path's names (``part-<job>-...``, partition folders
  written as the Python path writes them), and the mode applies (``overwrite`` removes the old
  files only after every new one is in place; ``dynamic`` only in the partitions written). A
  failed Spark job publishes nothing: its staging is removed and the target is unchanged.

Where the native path does not apply, the Python path runs (``auto``) or the call is refused
(``engine_path='native'``): upserts, csv/json objects whose columns include timestamps, binary or
nested types (Spark and Arrow spell those differently in text), csv reads with a schema declared in
the catalog (Spark maps csv columns by position), partition columns of other types than strings,
integers, dates and booleans, an explicit ``row_group_size``, files not laid out in the object's
partition folders, and S3 without S3A or with an AWS profile. The choice is logged once per object at DEBUG.
"""

from __future__ import annotations

import logging
import posixpath
import re
import threading
import uuid
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from ..catalog.model import DataObject
from ..errors import DaoError
from ..interfaces.base import PartitionFilter, StagedFile, StagedPart, WriteResult
from ._failures import run_spark_write
from .delta_native import (
    OPTION,
    _first_line,
    _is_local,
    _s3_refusal,
    conform,
    hadoop_options,
    has_s3a,
    with_options,
)

log = logging.getLogger("spark_dao.files")

_LOGGED: set[tuple[int, str, str, str]] = set()
_LOCK = threading.Lock()
_PARTITION_TYPES = (pa.types.is_string, pa.types.is_large_string, pa.types.is_integer, pa.types.is_date32,
                    pa.types.is_boolean)
#: Spark's data file names: part-00003-<job uuid>[.c000][.snappy].parquet
_SPARK_NAME = re.compile(r"^part-(\d+)-[0-9a-f-]{36}(.*)$")
#: a percent-escaped byte >= 0x80 (part of a UTF-8 character) in a partition folder name
_NON_ASCII_ESCAPE = re.compile(r"%[89A-Fa-f][0-9A-Fa-f]")


def is_files_store(obj: DataObject) -> bool:
    store = obj.store
    return store is not None and store.interface.kind == "files"


# --------------------------------------------------------------------------- the choice
def _text_unsupported(schema: pa.Schema) -> str | None:
    for field in schema:
        t = field.type
        if (pa.types.is_timestamp(t) or pa.types.is_time(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)
                or pa.types.is_nested(t) or pa.types.is_decimal(t) or pa.types.is_date64(t)
                or pa.types.is_duration(t) or pa.types.is_dictionary(t)):
            return f"column {field.name!r} is {t}, which Spark and Arrow write differently in text files"
    return None


def refusal(obj: DataObject, fmt: str, schema: pa.Schema | None, *, operation: str,
            options: Mapping[str, Any] | None = None, partition_columns: tuple[str, ...] = ()) -> str | None:
    """Why the native path cannot run this read/write/upsert (None: it can)."""
    if operation == "upsert" and fmt != "parquet":
        return f"upserts into {fmt} objects run on the Python path (Spark maps {fmt} columns differently)"
    if not _is_local(obj.location):
        if not obj.location.startswith(("s3://", "s3a://", "s3n://")):
            return f"the location {obj.location} is neither a local folder nor S3"
        why = _s3_refusal(obj)
        if why:
            return why
    if fmt in ("csv", "json") and schema is not None:
        why = _text_unsupported(pa.schema([f for f in schema if f.name not in partition_columns]))
        if why:
            return why
    if fmt == "csv" and operation == "read" and obj.schema:
        return "csv with a schema declared in the catalog (Spark maps csv columns by position, the Python path by name)"
    if schema is not None:
        for col in partition_columns:
            if col in schema.names and not any(test(schema.field(col).type) for test in _PARTITION_TYPES):
                return (f"partition column {col!r} is {schema.field(col).type}: Spark names its folders "
                        "differently from the Python path")
    if operation in ("write", "upsert") and options and options.get("row_group_size") is not None:
        return "row_group_size is set (Spark sizes row groups in bytes: parquet.block.size)"
    codec = str((options or {}).get("compression") or "none").lower()
    if operation == "write" and fmt in ("csv", "json") and codec not in ("none", "uncompressed", "gzip"):
        return f"compression {codec!r} for {fmt} (Hadoop's {codec} framing is not what Arrow reads; gzip is)"
    return None


def choose(spark: Any, obj: DataObject, requested: str, *, action: str, why_not: str | None) -> bool:
    """True for the native path. ``requested``: auto | native | python; ``why_not``: :func:`refusal`."""
    on_s3 = not _is_local(obj.location)
    if requested == "python":
        native, why = False, f"{OPTION}=python"
    elif why_not is None and on_s3 and not has_s3a(spark):
        why_not = "the Spark session has no S3A (hadoop-aws) for an S3 location"
    if requested != "python":
        if why_not is not None:
            if requested == "native":
                raise DaoError(
                    f"{action} {obj.full_name!r} (store {obj.store_name!r}): {OPTION}='native' cannot run here: "
                    f"{why_not}. Drop {OPTION} (the Python path handles it)"
                    + (", or add hadoop-aws to the session (jars/README.md)" if "S3A" in why_not else "")
                )
            native, why = False, why_not
        else:
            native, why = True, f"Spark's own reader/writer can reach {obj.location} ({OPTION}={requested})"
    path = "native (Spark files)" if native else "python (format('dao'))"
    key = (id(spark), obj.full_name, action, path)
    with _LOCK:
        first = key not in _LOGGED
        _LOGGED.add(key)
    if first:
        log.debug("%s %s: %s path for the Spark engine: %s", action, obj.full_name, path, why)
    return native


def spark_location(obj: DataObject) -> str:
    """The object's location as Spark opens it: an absolute local path, or ``s3a://bucket/key``."""
    from .delta_native import table_path

    return table_path(obj)


def _reader_options(fmt: str, opts: Mapping[str, Any]) -> dict[str, str]:
    from ..interfaces._fs import _bool

    if fmt == "csv":
        return {"header": "true" if _bool(opts.get("header"), True) else "false",
                "sep": str(opts.get("delimiter") or opts.get("sep") or ","), "mode": "FAILFAST",
                "escape": '"'}  # quotes doubled inside quoted values (RFC 4180), as Arrow writes them
    if fmt == "json":
        return {"mode": "FAILFAST"}
    return {}


# --------------------------------------------------------------------------- read
def plan(itf: Any, obj: DataObject, options: Mapping[str, Any], filters: tuple[PartitionFilter, ...]) -> Any:
    """The Python path's plan of the whole object (every check a read makes: options, missing
    object, the catalog's schema, partition types, filters); ``columns`` is applied by :func:`read`."""
    rest = {k: v for k, v in options.items() if str(k).lower() != "columns"}
    return itf.plan_read(obj, rest, filters)


def read_refusal(itf: Any, obj: DataObject, options: Mapping[str, Any], read_plan: Any) -> str | None:
    """Why the planned read cannot run natively (None: it can)."""
    fmt = itf._format(obj, itf.check_options(obj, options, itf.read_options, action="reading"))
    why = refusal(obj, fmt, read_plan.schema, operation="read", partition_columns=read_plan.partition_columns)
    if why:
        return why
    refused = read_plan.spark_refuses
    if refused:
        what = next(iter(refused.values()))
        hint = " (pandas writes nanosecond timestamps by default)" if "nanosecond" in what else ""
        return f"{what}, which Spark's parquet reader cannot read{hint}"
    for rel in _data_rels(read_plan):
        folder = posixpath.dirname(rel)
        segments = folder.split("/") if folder else []
        keys = tuple(seg.partition("=")[0] for seg in segments)
        if any("=" not in seg for seg in segments) or keys != tuple(read_plan.partition_columns):
            return (f"the file {rel!r} is not in the object's partition folders "
                    f"{list(read_plan.partition_columns)}")
        if any(seg.endswith("=") for seg in segments):
            return f"the folder of {rel!r} holds an empty-string partition value, which Spark refuses to read"
        if _NON_ASCII_ESCAPE.search(folder):
            return f"the folder of {rel!r} holds a non-ASCII partition value, which Spark decodes byte by byte"
    return None


def _unreadable_file(itf: Any, obj: DataObject, rels: list[str], wanted: set[str]) -> str | None:
    """The first of ``rels`` storing one of the ``wanted`` columns as a parquet type Spark's reader
    refuses (one footer read per file, concurrent on object stores), or None."""
    import pyarrow.parquet as pq

    from ..interfaces._schema import spark_refused_columns
    from ..interfaces.files_upsert import _map

    fs, base = itf._where(obj)

    def why(rel: str) -> str | None:
        with fs.open_input_file(f"{base}/{rel}" if rel else base) as f:
            schema = pq.read_metadata(f).schema
        refused = {c: w for c, w in spark_refused_columns(schema).items() if c in wanted}
        if refused:
            return f"{rel or obj.location} {next(iter(refused.values()))}, which Spark's parquet reader cannot read"
        return None

    return next((w for w in _map(why, list(dict.fromkeys(rels)), fs) if w is not None), None)


def _is_empty_marker(rel: str) -> bool:
    """The zero-row file an empty write leaves (it carries the schema): Spark need not read it."""
    return "-empty-" in posixpath.basename(rel)


def _data_rels(read_plan: Any) -> list[str]:
    return [sl.rel for t in read_plan.tasks for sl in t.payload.slices if not _is_empty_marker(sl.rel)]


def read(spark: Any, itf: Any, obj: DataObject, options: Mapping[str, Any], read_plan: Any) -> Any:
    """``spark.read.format(fmt)`` of the object's folder with the plan's schema (partition columns
    included, so Spark types them as the Python path does), then the ``columns`` asked for."""
    from pyspark.sql.pandas.types import from_arrow_schema

    from ..interfaces._read import _columns_option, output_schema

    opts = itf.check_options(obj, options, itf.read_options, action="reading")
    fmt = itf._format(obj, opts)
    schema = output_schema(obj, read_plan.schema, _columns_option(opts.get("columns")))
    rels = _data_rels(read_plan)
    if not rels:  # nothing to read (all pruned, only empty writes, a declared schema): the empty result
        return spark.createDataFrame([], from_arrow_schema(schema))
    where = spark_location(obj)
    reader = with_options(spark.read.format(fmt).schema(from_arrow_schema(read_plan.schema)),
                          {**_reader_options(fmt, opts), **hadoop_options(obj)})
    try:
        if rels == [""]:
            df = reader.load(where)  # the object is one file
        elif len(rels) < sum(len(t.payload.slices) for t in read_plan.tasks):
            # an empty write's marker sits beside the data (at the root of a partitioned object, where
            # Spark's partition discovery would refuse it): name the data files
            df = reader.option("basePath", where).load([f"{where}/{r}" for r in dict.fromkeys(rels)])
        else:
            df = reader.option("basePath", where).load(where)
    except Exception as exc:  # Spark lists the files again (they may be gone): the error names the object
        if not type(exc).__module__.startswith(("pyspark", "py4j")):
            raise
        raise DaoError(f"reading {obj.full_name!r} (store {obj.store_name!r}) with Spark failed: "
                       f"{_first_line(str(exc))}") from exc
    return df.select(*[f"`{n.replace('`', '``')}`" for n in schema.names])


# --------------------------------------------------------------------------- write
def _writer_options(fmt: str, spec: Any) -> dict[str, str]:
    o = spec.options
    out = {
        # one rename per file into the job's private staging folder, and no _SUCCESS marker
        "mapreduce.fileoutputcommitter.algorithm.version": "2",
        "mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
    }
    if o.get("max_rows_per_file"):
        out["maxRecordsPerFile"] = str(int(o["max_rows_per_file"]))
    compression = str(o.get("compression") or "none")
    if fmt == "parquet":
        out["compression"] = "uncompressed" if compression == "none" else compression
        # as Arrow writes them (Spark's default is the legacy INT96, which other readers take as naive)
        out["spark.sql.parquet.outputTimestampType"] = "TIMESTAMP_MICROS"
    elif compression not in ("none", "uncompressed"):
        out["compression"] = compression
    if fmt == "csv":
        out["header"] = "true" if o.get("header", True) else "false"
        out["sep"] = str(o.get("delimiter") or ",")
        out["escape"] = '"'  # RFC 4180 quotes, as Arrow reads them (Spark's default escapes with a backslash)
    if fmt == "json":
        out["ignoreNullFields"] = "false"
    return out


def _holds_rows(fs: Any, path: str, size: int, spec: Any) -> bool:
    """False for the zero-row file Spark writes for an empty task (small files are opened to see)."""
    if size >= 64 * 1024:
        return True
    if spec.format == "parquet":
        import pyarrow.parquet as pq

        with fs.open_input_file(path) as f:
            return pq.read_metadata(f).num_rows > 0
    with fs.open_input_stream(path) as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    return len(lines) > (1 if spec.format == "csv" and spec.options.get("header", True) else 0)


def _final_name(rel: str, spec: Any, job_id: str, types: Mapping[str, pa.DataType], sub: str = "") -> str:
    """Where a file Spark staged at ``rel`` goes in the object: the Python path's partition folder
    names and a ``part-<job>-`` file name (the sweep and the upsert find files by job)."""
    from ..interfaces._layout import _job_tag, _partition_segment, _partition_values, _typed

    folder, name = posixpath.split(rel)
    values = {k: ("" if v == _empty_marker(job_id) else v) for k, v in _partition_values(rel)}
    segments = [_partition_segment(col, _typed(values.get(col), types[col]), types[col])
                for col in spec.partition_by]
    m = _SPARK_NAME.match(name)
    tag = _job_tag(job_id) + (f"{sub}-" if sub else "")
    stem = f"{tag}s{m.group(1)}{m.group(2)}" if m else f"{tag}{name}"
    return posixpath.join(*segments, stem) if segments else stem


def _empty_marker(job_id: str) -> str:
    """What an empty-string partition value is written as (Spark would write it as null); the commit
    names its folder ``col=`` as the Python path does."""
    return f"__spark_dao_empty_{job_id}__"


def write(sdf: Any, itf: Any, obj: DataObject, mode: str, options: Mapping[str, Any], spec: Any) -> WriteResult:
    """Spark's own writer into the job's staging folder, then the files interface's commit.

    ``spec`` is ``itf.prepare_write``'s (every check has run). The job is marked live first, so a
    concurrent writer's sweep leaves its staging alone; a failed Spark job is aborted (its staging
    removed): the target is unchanged.
    """
    if mode == "ignore" and itf.exists(obj):
        return WriteResult(object=obj.full_name, mode=mode, location=obj.location, skipped=True)
    job_id = uuid.uuid4().hex
    spec = itf.start_job(obj, spec, job_id)
    ok = False
    try:
        part = stage(sdf, itf, obj, spec, job_id)
        ok = True
    finally:
        if not ok:
            itf.abort(obj, [StagedPart(job_id=job_id)], spec)
    result = itf.commit(obj, [part], spec)
    log.debug("%s: written natively by Spark (%s, %d files)", obj.full_name, spec.format, len(part.files))
    return result


def stage(sdf: Any, itf: Any, obj: DataObject, spec: Any, job_id: str, sub: str = "") -> StagedPart:
    """Spark's writer fills ``<object>/_dao_staging/<job>/[<sub>/]``; the staged files, named for the
    commit (:class:`StagedFile` ``source``: where Spark put each). The job is live already; on a
    failure the caller aborts it."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    from ..interfaces._layout import STAGING, _list_files

    fs, base = itf._where(obj)
    staged_root = f"{base}/{STAGING}/{job_id}" + (f"/{sub}" if sub else "")
    target = f"{spark_location(obj)}/{STAGING}/{job_id}" + (f"/{sub}" if sub else "")
    observed = Observation(f"spark_dao_{job_id[:8]}{sub}")
    df = _conform(sdf, spec.schema).observe(observed, F.count(F.lit(1)).alias("rows"))
    data_cols = [c for c in spec.schema.names if c not in spec.partition_by]
    df = df.select(*[_quoted(c) for c in data_cols + list(spec.partition_by)])
    for col in spec.partition_by:
        if pa.types.is_string(spec.schema.field(col).type) or pa.types.is_large_string(spec.schema.field(col).type):
            c = F.col(_quoted(col))
            df = df.withColumn(col, F.when(c == "", F.lit(_empty_marker(job_id))).otherwise(c))
    writer = with_options(df.write.format(spec.format).mode("error"),
                          {**_writer_options(spec.format, spec), **hadoop_options(obj)})
    if spec.partition_by:
        writer = writer.partitionBy(*spec.partition_by)
    run_spark_write(lambda: writer.save(target), obj)
    rows = int((observed.get or {}).get("rows") or 0)
    types = {c: spec.schema.field(c).type for c in spec.partition_by}
    files = []
    if rows:  # Spark leaves an empty file for an empty write; the commit's empty write replaces it
        for rel, size in _list_files(fs, staged_root):
            if _holds_rows(fs, f"{staged_root}/{rel}", size, spec):
                files.append(StagedFile(path=_final_name(rel, spec, job_id, types, sub), rows=0, size=size,
                                        source=posixpath.join(sub, rel) if sub else rel))
        if not files:  # e.g. a Spark Connect server on another machine wrote into its own disk
            raise DaoError(
                f"writing {obj.full_name!r} (store {obj.store_name!r}): Spark wrote {rows} rows under "
                f"{target}, but no file of them is visible from this process; is the Spark Connect server on "
                f"another machine? Use options={{'{OPTION}': 'python'}} or a store both can reach (S3)"
            )
    return StagedPart(job_id=job_id, files=tuple(files), rows=rows)


def _conform(sdf: Any, schema: pa.Schema) -> Any:
    """:func:`conform`, with naive timestamps (``timestamp_ntz``) and dates bound for a UTC timestamp
    column taken as UTC (dates: their midnight UTC), as the Python path takes them, not in the
    session's time zone (Spark's cast)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DateType, TimestampNTZType

    fixed = []
    for name in sdf.columns:
        col = F.col(_quoted(name))
        have = sdf.schema[name].dataType
        want = schema.field(name).type if name in schema.names else None
        if (isinstance(have, TimestampNTZType | DateType) and want is not None and pa.types.is_timestamp(want)
                and want.tz is not None):
            time = ((F.hour(col), F.minute(col), F.date_part(F.lit("SECOND"), col))
                    if isinstance(have, TimestampNTZType) else (F.lit(0), F.lit(0), F.lit(0)))
            col = F.make_timestamp(F.year(col), F.month(col), F.dayofmonth(col), *time, F.lit("UTC")).alias(name)
        fixed.append(col)
    return conform(sdf.select(*fixed), schema)


def _quoted(name: str) -> str:
    return f"`{name.replace('`', '``')}`"


# --------------------------------------------------------------------------- upsert
#: the sub-folder of the job's staging where Spark writes an upsert's rewritten files
_REWRITE = "rewrite"


def upsert(sdf: Any, itf: Any, obj: DataObject, spec: Any, requested: str) -> WriteResult:
    """An upsert whose rewrite runs in Spark: the incoming rows come to the driver as Arrow (the
    batch: the Python path holds it there too), the commit scans the stored keys and decides the
    merge as on the Python path (:mod:`spark_dao.interfaces.files_upsert`), then Spark reads the
    touched files, drops the replaced (and, with ``delete_unmatched``, unmatched) rows with joins,
    and writes the survivors into the job's staging; the commit publishes them with the batch's
    rows. The driver never holds a stored file."""
    import dataclasses

    job_id = uuid.uuid4().hex
    spec = dataclasses.replace(spec, in_process=True)
    spec = itf.start_job(obj, spec, job_id)
    spark = sdf.sparkSession
    ok = False
    try:
        batch: list[pa.Table] = []  # a failure computing the batch: the DaoError the Python path raises
        run_spark_write(lambda: batch.append(_conform(sdf, spec.schema).toArrow()), obj)
        table = batch.pop()
        part = itf.stage(obj, table.to_batches(), spec, job_id)
        del table
        spec = dataclasses.replace(spec, rewrite=_Rewriter(spark, itf, obj, spec, requested))
        result = itf.commit(obj, [part], spec)
        ok = True
    finally:
        if not ok:
            itf.abort(obj, [StagedPart(job_id=job_id)], spec)
    log.debug("%s: upsert's rewrite run natively by Spark (%d files)", obj.full_name, result.files_rewritten)
    return result


#: unpartitioned native rewrites: one Spark writer per this many bytes of rewritten files
_REWRITE_SPLIT = 128 * 1024 * 1024


class _Rewriter:
    """``spec.rewrite`` of a native upsert: called by the commit with the files it must rewrite."""

    def __init__(self, spark: Any, itf: Any, obj: DataObject, spec: Any, requested: str) -> None:
        self.spark, self.itf, self.obj, self.spec, self.requested = spark, itf, obj, spec, requested

    def refusal(self, rels: list[str]) -> str | None:
        why = self._layout_refusal(rels)
        return why if why is not None else self._type_refusal(rels)

    def _type_refusal(self, rels: list[str]) -> str | None:
        """A column stored as a parquet type Spark's reader refuses where Arrow reads it (nanosecond
        timestamps, as pandas writes them; unsigned 64-bit integers): found in the files' footers."""
        if self.spec.format != "parquet":
            return None
        return _unreadable_file(self.itf, self.obj, rels, set(self.spec.schema.names))

    def _layout_refusal(self, rels: list[str]) -> str | None:
        for rel in rels:
            if rel == "":
                return "the object is one file"
            folders = posixpath.dirname(rel).split("/") if posixpath.dirname(rel) else []
            if len(folders) != len(self.spec.partition_by):
                return f"{rel} is not in the object's partition folders"
            for seg in folders:
                if _NON_ASCII_ESCAPE.search(seg):
                    return f"partition folder {seg!r} holds non-ASCII characters (Spark decodes them differently)"
                if seg.endswith("="):
                    return f"partition folder {seg!r} holds an empty string (Spark reads it as null)"
        return None

    def __call__(self, rels: list[str], plan: Any, opts: Any, job_id: str,
                 sizes: Mapping[str, int] | None = None) -> tuple[StagedPart, int] | None:
        """``(what Spark staged: the survivors and the batch's rows, rows deleted as unmatched)``, or
        None: the commit rewrites on the Python path (a layout Spark cannot read as the Python path
        does; with ``auto``). Survivors and batch rows share files as on the Python path: one file per
        partition (per ``max_rows_per_file``); unpartitioned, one writer per 128 MB of rewritten files
        (``sizes``), so a large rewrite keeps Spark's parallelism and a small one writes one file."""
        from pyspark.sql import Observation
        from pyspark.sql import functions as F
        from pyspark.sql.pandas.types import from_arrow_schema

        spec, obj = self.spec, self.obj
        why = self.refusal(rels)
        if why is not None:
            if self.requested == "native":
                raise DaoError(f"upserting into {obj.full_name!r} (store {obj.store_name!r}) natively: {why}; "
                               f"use {OPTION}='auto' or 'python'")
            log.debug("%s: the upsert's rewrite runs on the Python path: %s", obj.full_name, why)
            return None
        where = spark_location(obj)
        reader = with_options(self.spark.read.format(spec.format).schema(from_arrow_schema(spec.schema)),
                              hadoop_options(obj))
        stored = reader.option("basePath", where).load([f"{where}/{r}" for r in rels])
        keys = list(opts.keys)
        key_schema = pa.schema([spec.schema.field(k) for k in keys])
        kept = stored
        if plan.replace_keys.num_rows:
            replace = self.spark.createDataFrame(plan.replace_keys.select(keys).cast(key_schema))
            kept = kept.join(replace, on=keys, how="left_anti")
        if plan.keep_keys is not None and plan.keep_keys.num_rows == 0:
            # a full sync with an empty batch: every row of these files goes (Spark would prune an
            # observation under a semi join with nothing, so count them instead)
            counted: list[int] = []
            run_spark_write(lambda: counted.append(kept.count()), obj)
            return StagedPart(job_id=job_id), counted[0]
        before = None  # rows before the full sync's semi join: the difference is what it deletes
        if plan.keep_keys is not None:
            before = Observation(f"spark_dao_{job_id[:8]}_kept")
            kept = kept.observe(before, F.count(F.lit(1)).alias("rows"))
            keep = self.spark.createDataFrame(plan.keep_keys.select(keys).cast(key_schema))
            kept = kept.join(keep, on=keys, how="left_semi")
        incoming = plan.incoming.select(spec.schema.names).cast(spec.schema)
        out = kept
        if incoming.num_rows:
            out = out.unionByName(self.spark.createDataFrame(incoming, schema=from_arrow_schema(spec.schema)))
        # one writer per partition, as the Python path's single stream: no extra small files per upsert
        if spec.partition_by:
            out = out.repartition(*[F.col(_quoted(c)) for c in spec.partition_by])
        else:
            rewritten_bytes = sum((sizes or {}).get(r, _REWRITE_SPLIT) for r in rels)
            out = out.coalesce(max(1, min(len(rels), -(-rewritten_bytes // _REWRITE_SPLIT))))
        part = stage(out, self.itf, obj, spec, job_id, sub=_REWRITE)
        survivors = part.rows - incoming.num_rows
        deleted = int((before.get or {}).get("rows") or 0) - survivors if before is not None else 0
        return part, deleted
