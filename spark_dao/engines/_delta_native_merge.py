"""Upserts on the native Delta path: one MERGE through delta-spark, the rows never leave the JVM.

``dao.upsert(df, "lake.users", keys=["id"])`` with a Spark DataFrame, on a session that has Delta
Lake (see :mod:`spark_dao.engines.delta_native`), runs ``DeltaTable.forPath(...).merge(...)`` with
the meaning the Python path gives it (``interfaces/upsert.py``, ``interfaces/_delta_merge.py``):

* the batch is checked in Spark first: keys and ``order_by`` present, null keys, duplicates
  (``on_duplicates='error'`` lists some; ``keep_latest`` keeps the greatest ``order_by``, among equal
  ones the last row in the DataFrame's order) — nothing is written when a check fails;
* ``ON`` the keys, narrowed by the batch's partition values and first-key range (the same
  predicate builder as the Python path, in Spark SQL), so files the batch cannot touch are neither
  read nor rewritten;
* ``WHEN MATCHED`` update (strategies ``merge`` / ``delete_insert``) only when the incoming row is
  not older (``order_by``), ``WHEN NOT MATCHED`` insert, ``WHEN NOT MATCHED BY SOURCE`` delete for
  ``delete_unmatched``;
* a conflicting concurrent commit (delta-spark's ``Concurrent*Exception``) reruns the MERGE against
  the new version, up to ``max_retries`` (default 3), then :class:`~spark_dao.errors.WriteConflict`.

One upsert is one Delta commit; a failed job commits nothing (delta-spark's own protocol: files its
tasks wrote stay unreferenced until ``VACUUM``). No table yet: the batch creates it (one commit).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..catalog.model import DataObject
from ..errors import DaoError, WriteConflict
from ..interfaces.base import WriteResult
from ._failures import _spark_failure, run_spark_write

log = logging.getLogger("spark_dao.delta")

_ROW = "__dao_row__"
_CONFLICTS = ("ConcurrentAppendException", "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException",
              "ConcurrentTransactionException", "ConcurrentWriteException", "MetadataChangedException",
              "ProtocolChangedException", "DeltaConcurrentModificationException")
_USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"


def is_conflict(exc: BaseException) -> bool:
    """A delta-spark commit conflict (by class, or by the Java class named in the text)."""
    names = {c.__name__ for c in type(exc).__mro__}
    return bool(names.intersection(_CONFLICTS)) or any(f"exceptions.{n}" in str(exc) for n in _CONFLICTS)


def upsert(sdf: Any, itf: Any, obj: DataObject, options: Mapping[str, Any]) -> WriteResult:
    """One delta-spark MERGE of ``sdf`` into the object's table (see the module docstring)."""
    from pyspark import StorageLevel
    from pyspark.sql.pandas.types import to_arrow_schema

    from .delta_native import conform, table_path

    spec = itf.prepare_write(obj, to_arrow_schema(sdf.schema, timezone="UTC"), {**options, "mode": "append"})
    opts = spec.options["upsert"]
    what = f"upsert into {obj.full_name!r} (store {obj.store_name!r})"
    source = conform(sdf, spec.schema)
    if opts.on_duplicates == "keep_latest":
        from pyspark.sql import functions as F

        source = source.withColumn(_ROW, F.monotonically_increasing_id())  # the DataFrame's order
    # the checks, the narrowing and the MERGE each scan the batch: compute it once
    source = source.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        batch, rows, values, bounds = _checked(source, spec, opts, what)
        if spec.options.get("read_version") is None and not itf.exists(obj):
            return _create(batch, itf, spec, obj, rows, table_path(obj))
        return _merge(batch, itf, spec, obj, opts, values, bounds, what)
    except DaoError:
        raise
    except Exception as exc:  # a failed Spark job (e.g. computing the batch): the DaoError a user sees
        if type(exc).__module__.startswith(("pyspark", "py4j")):
            raise _spark_failure(exc, obj) from exc
        raise
    finally:
        source.unpersist()


def _checked(source: Any, spec: Any, opts: Any, what: str) -> tuple[Any, int, dict[str, list[Any]], Any]:
    """(the batch, one row per key; its rows; the partition values and first-key bounds that
    narrow the MERGE). Raises the Python path's errors for null keys and duplicates."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from ..interfaces._delta_merge import bounded_type, narrowing_columns
    from ..interfaces.upsert import duplicate_keys_error, null_keys_error

    keys = list(opts.keys)
    first = keys[0]
    bounded = bounded_type(spec.schema.field(first).type)
    aggs = [F.count(F.lit(1)).alias("n")]
    aggs += [F.count(F.when(F.col(_q(k)).isNull(), 1)).alias(f"null{i}") for i, k in enumerate(keys)]
    if bounded:
        aggs += [F.min(F.col(_q(first))).alias("lo"), F.max(F.col(_q(first))).alias("hi")]
    stats = source.agg(*aggs).first()
    for i, key in enumerate(keys):
        if stats[f"null{i}"]:
            raise null_keys_error(what, int(stats[f"null{i}"]), key)
    rows = int(stats["n"])
    dups = source.groupBy(*[F.col(_q(k)) for k in keys]).count().filter(F.col("count") > 1)
    sample = dups.limit(5).collect()
    batch = source
    if sample:
        if opts.on_duplicates == "error":
            raise duplicate_keys_error(what, dups.count(), [r.asDict() for r in sample], opts)
        order = ([F.col(_q(opts.order_by)).desc_nulls_last()] if opts.order_by else []) + [F.col(_ROW).desc()]
        window = Window.partitionBy(*[F.col(_q(k)) for k in keys]).orderBy(*order)
        batch = source.withColumn("__dao_rank__", F.row_number().over(window)).filter(
            F.col("__dao_rank__") == 1).drop("__dao_rank__")
        rows = batch.count()
    if _ROW in batch.columns:
        batch = batch.drop(_ROW)
    values: dict[str, list[Any]] = {}
    for col in narrowing_columns(opts, tuple(spec.partition_by)):
        found = [r[0] for r in source.select(F.col(_q(col))).distinct().limit(1001).collect()]
        if len(found) <= 1000:
            values[col] = found
    bounds = (stats["lo"], stats["hi"]) if bounded and rows else None
    return batch, rows, values, bounds


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _create(batch: Any, itf: Any, spec: Any, obj: DataObject, rows: int, path: str) -> WriteResult:
    """No table yet: the batch creates it, every row inserted."""
    from .delta_native import hadoop_options, with_options

    writer = with_options(batch.write.format("delta").mode("append"), hadoop_options(obj))
    if spec.partition_by:
        writer = writer.partitionBy(*spec.partition_by)
    if spec.options.get("usermetadata") is not None:
        writer = writer.option("userMetadata", str(spec.options["usermetadata"]))
    run_spark_write(lambda: writer.save(path), obj)
    from dataclasses import replace

    from .delta_native import _result

    log.info("%s: upsert created the Delta table with delta-spark (%d rows)", obj.full_name, rows)
    return replace(_result(itf, obj, "upsert", None), rows_inserted=rows, rows_written=0)


def _merge(batch: Any, itf: Any, spec: Any, obj: DataObject, opts: Any, values: dict[str, list[Any]],
           bounds: Any, what: str) -> WriteResult:
    from delta.tables import DeltaTable

    from ..interfaces._delta_merge import SOURCE, TARGET, build_predicate, update_condition
    from .delta_native import hadoop_options, table_path

    spark = batch.sparkSession
    fs_options = hadoop_options(obj)
    predicate = build_predicate(opts, values, bounds, dialect="spark")
    retries = int(spec.options.get("max_retries", 3))
    log.debug("%s: delta-spark MERGE ON %s", what, predicate)
    for attempt in range(retries + 1):
        merger = DeltaTable.forPath(spark, table_path(obj), hadoopConf=fs_options).alias(TARGET).merge(
            batch.alias(SOURCE), predicate)
        if spec.options.get("merge_schema"):
            merger = merger.withSchemaEvolution()
        if opts.strategy != "insert_only":
            merger = merger.whenMatchedUpdateAll(condition=update_condition(opts, dialect="spark"))
        merger = merger.whenNotMatchedInsertAll()
        if opts.delete_unmatched:
            merger = merger.whenNotMatchedBySourceDelete()
        try:
            out = _with_user_metadata(spark, spec.options.get("usermetadata"), merger.execute)
            break
        except DaoError:
            raise
        except Exception as exc:
            if not is_conflict(exc):
                if type(exc).__module__.startswith(("pyspark", "py4j", "delta")):
                    raise _spark_failure(exc, obj) from exc
                raise
            if attempt >= retries:
                raise WriteConflict(
                    f"{what}: a concurrent commit to the Delta table at {obj.location} conflicts with this "
                    f"upsert after {attempt} retr{'y' if attempt == 1 else 'ies'} (max_retries={retries}); "
                    f"nothing was committed. Retry the upsert. ({_first_line(str(exc))})"
                ) from exc
            log.info("%s: Delta commit conflict (attempt %d); retrying the MERGE", obj.full_name, attempt + 1)
    counts = out.first().asDict() if out is not None else {}
    return _merge_result(itf, obj, counts)


def _with_user_metadata(spark: Any, value: Any, run: Any) -> Any:
    """``run()`` with delta-spark's commit userMetadata set for this commit only (a MERGE takes it
    from the session, not from an option)."""
    if value is None:
        return run()
    before = spark.conf.get(_USER_METADATA, None)
    spark.conf.set(_USER_METADATA, str(value))
    try:
        return run()
    finally:
        if before is None:
            spark.conf.unset(_USER_METADATA)
        else:
            spark.conf.set(_USER_METADATA, before)


def _merge_result(itf: Any, obj: DataObject, counts: Mapping[str, Any]) -> WriteResult:
    """Rows from the MERGE's own result; files and the version from the newest commit's metrics."""
    def num(source: Mapping[str, Any], key: str) -> int:
        try:
            return int(source.get(key) or 0)
        except (TypeError, ValueError):
            return 0

    metrics: Mapping[str, Any] = {}
    version = None
    try:
        newest = itf.latest_commit(obj)
        if newest.get("operation") == "MERGE":
            metrics, version = newest.get("operationMetrics") or {}, newest.get("version")
    except Exception as exc:  # noqa: BLE001 - the upsert landed; only the file numbers are missing
        log.warning("%s: merged with delta-spark; could not read its commit metrics: %s", obj.full_name, exc)
    result = WriteResult(
        object=obj.full_name, mode="upsert",
        location=obj.location if version is None else f"{obj.location} (version {version})",
        rows_inserted=num(counts, "num_inserted_rows"), rows_updated=num(counts, "num_updated_rows"),
        rows_deleted=num(counts, "num_deleted_rows"), files_added=num(metrics, "numTargetFilesAdded"),
        files_removed=num(metrics, "numTargetFilesRemoved"), files_rewritten=num(metrics, "numTargetFilesRemoved"),
    )
    log.info("%s: MERGE committed with delta-spark: %s", obj.full_name, result)
    return result


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "?")
