"""The native Delta path: ``dao.read`` / ``dao.write`` with the Spark engine through delta-spark.

Where the Spark session has Delta Lake on the JVM (Databricks, EMR, a session started with the
delta-spark JARs, see jars/README.md), reading and writing a Delta store's table with the Spark
engine runs ``spark.read.format("delta")`` / ``df.write.format("delta")``: the work stays in the
JVM. Everywhere else (no JARs, Spark Connect without Delta on the server, pandas/arrow engines,
``format("dao")``, S3 tables on a session without S3A) the Python path of
:class:`~spark_dao.interfaces.delta.DeltaInterface` runs. Both write the same tables.

    >>> dao.read("lake.users", engine="spark", version=3)                       # doctest: +SKIP
    >>> dao.write(df, "lake.users", mode="dynamic")                             # doctest: +SKIP
    >>> dao.write(df, "lake.users", options={"engine_path": "python"})         # force a path

Which path: the ``engine_path`` option of the call, else the store's ``engine_path`` setting,
else ``auto`` (native when the session has Delta). Delta is detected per session without
``_jvm`` (so it works on Spark Connect): reading ``format("delta")`` from a missing path fails
with ``DATA_SOURCE_NOT_FOUND`` when Delta is absent, ``PATH_NOT_FOUND`` when it is present.
The answer is cached per session; the chosen path is logged once at DEBUG.

Before a native write, the same checks as the Python path run (``DeltaInterface.prepare_write``:
unknown options, the data's schema against the table's, the catalog's partitioning against the
table's, errorifexists): nothing is written when they fail.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from ..catalog.model import DataObject
from ..errors import DaoError, ObjectNotFound
from ..interfaces.base import PartitionFilter, WriteResult
from ._delta_native_merge import upsert  # noqa: F401 - the native MERGE, public here
from ._failures import run_spark_write

log = logging.getLogger("spark_dao.delta")

ENGINE_PATHS = ("auto", "native", "python")
OPTION = "engine_path"

#: id(session) -> (session, has Delta); the session is kept so its id is not reused
_DETECTED: dict[Any, tuple[Any, bool]] = {}
_LOGGED: set[tuple[int, str, str]] = set()
_LOCK = threading.Lock()


# --------------------------------------------------------------------------- detection
def probe_outcome(exc: BaseException | None) -> bool:
    """Whether the probe's outcome means Delta is on the session (``exc`` None: the load worked).

    ``DATA_SOURCE_NOT_FOUND`` (classic: in the Py4J error's text; Spark Connect: the error's
    condition) means absent; ``PATH_NOT_FOUND`` or any other failure of the load means the
    ``delta`` source was found and tried to read the path, so present.
    """
    if exc is None:
        return True
    condition = None
    get = getattr(exc, "getCondition", None)
    if callable(get):
        try:
            condition = get()
        except Exception:  # noqa: BLE001 - a broken accessor: fall back to the text
            condition = None
    text = f"{condition or ''} {exc}"
    return "DATA_SOURCE_NOT_FOUND" not in text


def _probe(spark: Any) -> bool:
    missing = os.path.join(tempfile.gettempdir(), f"spark_dao_delta_probe_{uuid.uuid4().hex}")
    try:
        spark.read.format("delta").load(missing).schema  # noqa: B018 - .schema forces analysis (Connect)
    except Exception as exc:  # noqa: BLE001 - every failure is an answer, see probe_outcome
        found = probe_outcome(exc)
        log.debug("Delta probe on the Spark session: %s (%s)", "present" if found else "absent",
                  str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__)
        return found and _works(spark)
    return probe_outcome(None) and _works(spark)


def _local_master(spark: Any) -> bool:
    try:
        return str(spark.conf.get("spark.master", "") or "").startswith("local")
    except Exception:  # noqa: BLE001 - Spark Connect may not expose it
        return False


def _works(spark: Any) -> bool:
    """A Delta found by the probe really reads (a Delta build for another Spark version loads the
    source and writes, then fails to read with ``NoSuchMethodError``): on local masters only, where
    a temp folder is visible to every task, write and read back a one-row table."""
    if not _local_master(spark):
        return True
    import shutil

    folder = tempfile.mkdtemp(prefix="spark_dao_delta_check_")
    try:
        spark.range(1).write.format("delta").save(os.path.join(folder, "t"))
        return len(spark.read.format("delta").load(os.path.join(folder, "t")).collect()) == 1
    except Exception as exc:  # noqa: BLE001 - any failure: this Delta cannot be used
        log.warning("the Spark session has a Delta Lake that does not work with this Spark (%s); "
                    "Delta stores use the Python path. See jars/README.md for matching versions",
                    _first_line(str(exc))[:300])
        return False
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def has_delta(spark: Any) -> bool:
    """True when ``spark`` can read and write ``format("delta")`` (cached per session)."""
    key = id(spark)
    with _LOCK:
        known = _DETECTED.get(key)
    if known is not None and known[0] is spark:
        return known[1]
    found = _probe(spark) if _worth_probing(spark) else False
    with _LOCK:
        _DETECTED[key] = (spark, found)
    return found


def _worth_probing(spark: Any) -> bool:
    """Classic sessions: always probe. Spark Connect: only when the server says it has Delta (its
    session extension or catalog configured, or a Databricks runtime): a failed probe there makes
    the server log a long DATA_SOURCE_NOT_FOUND stack trace, and without them the Python path runs."""
    if not type(spark).__module__.startswith("pyspark.sql.connect"):
        return True
    try:
        def conf(key: str) -> str:
            return str(spark.conf.get(key, "") or "")

        configured = "delta" in (conf("spark.sql.extensions") + conf("spark.sql.catalog.spark_catalog")).lower()
        databricks = bool(conf("spark.databricks.clusterUsageTags.sparkVersion"))
    except Exception:  # noqa: BLE001 - a server that will not say: ask the probe
        return True
    if configured or databricks:
        return True
    log.debug("Spark Connect session without Delta configured (spark.sql.extensions): the Python path")
    return False


def forget(spark: Any = None) -> None:
    """Drop the cached detection (of one session, or all): the next call probes again."""
    with _LOCK:
        if spark is None:
            _DETECTED.clear()
        else:
            _DETECTED.pop(id(spark), None)
            _DETECTED.pop(("s3a", id(spark)), None)


# --------------------------------------------------------------------------- the choice
def is_delta_store(obj: DataObject) -> bool:
    store = obj.store
    return store is not None and store.interface.kind == "delta"


def requested_path(obj: DataObject, opts: dict[str, Any]) -> str:
    """``auto``, ``native`` or ``python``: the call's ``engine_path`` (removed from ``opts``), else the
    store's setting, else ``auto``."""
    given = [opts.pop(k) for k in [k for k in opts if str(k).lower() == OPTION]]
    value = given[-1] if given else (obj.store.configs.get("engine_path") if obj.store is not None else None)
    if value is None:
        return "auto"
    text = str(value).strip().lower()
    if text not in ENGINE_PATHS:
        from ..errors import did_you_mean

        raise DaoError(
            f"object {obj.full_name!r} (store {obj.store_name!r}): {OPTION}={value!r} is not valid."
            f"{did_you_mean(text, ENGINE_PATHS)} Valid: {', '.join(ENGINE_PATHS)}"
        )
    return text


def take_request(obj: DataObject, opts: dict[str, Any], engine: str) -> str | None:
    """For a Delta store: the requested path (``engine_path`` removed from ``opts``); None otherwise.

    ``engine_path='native'`` given in the call with the pandas/arrow engine is an error (only the
    Spark engine has a native path); a store's ``engine_path: native`` just does not apply there.
    """
    if not is_delta_store(obj):
        return None
    in_call = any(str(k).lower() == OPTION for k in opts)
    requested = requested_path(obj, opts)
    if engine != "spark" and in_call and requested == "native":
        raise DaoError(
            f"object {obj.full_name!r} (store {obj.store_name!r}): {OPTION}='native' needs engine='spark' "
            f"(the pandas and arrow engines read and write Delta with deltalake); drop {OPTION}"
        )
    return requested


def _is_local(location: str) -> bool:
    return "://" not in location or location.startswith("file://")


def has_s3a(spark: Any) -> bool:
    """True when the session's JVM has Hadoop's S3A file system (hadoop-aws: EMR, Databricks, or
    the JARs of jars/pom.xml). Asked through Py4J, so on Spark Connect (no ``_jvm``) the answer is
    False and ``auto`` keeps S3 tables on the Python path; cached per session."""
    key = ("s3a", id(spark))
    with _LOCK:
        known = _DETECTED.get(key)
    if known is not None and known[0] is spark:
        return known[1]
    found = False
    jvm = getattr(spark, "_jvm", None)
    if jvm is not None:
        try:
            from py4j.java_gateway import JavaClass

            found = isinstance(jvm.org.apache.hadoop.fs.s3a.S3AFileSystem, JavaClass)
        except Exception:  # noqa: BLE001 - no answer: the Python path
            found = False
    with _LOCK:
        _DETECTED[key] = (spark, found)
    return found


def _s3_refusal(obj: DataObject) -> str | None:
    """Why the native path cannot reach this S3 table with the store's settings, or None."""
    if obj.store is not None and obj.store.configs.get("profile"):
        return "the store names an AWS profile, which S3A does not read; give keys or use the default chain"
    return None


def choose(spark: Any, obj: DataObject, requested: str, *, action: str) -> bool:
    """True for the native path. ``requested`` comes from :func:`take_request`."""
    on_s3 = not _is_local(obj.location)
    refusal = _s3_refusal(obj) if on_s3 else None
    if requested == "python":
        native, why = False, f"{OPTION}=python"
    elif on_s3 and (refusal or not has_s3a(spark)):
        why = refusal or "the Spark session has no S3A (hadoop-aws) for an S3 table"
        if requested == "native":
            raise DaoError(
                f"{action} {obj.full_name!r} (store {obj.store_name!r}): {OPTION}='native' cannot run on "
                f"{obj.location}: {why}. Add hadoop-aws to the session (jars/README.md), or drop {OPTION} "
                "(the Python path reads and writes it)"
            )
        native = False
    elif has_delta(spark):
        native, why = True, f"the Spark session has Delta Lake ({OPTION}={requested})"
    elif requested == "native":
        raise DaoError(
            f"{action} {obj.full_name!r} (store {obj.store_name!r}): {OPTION}='native' but the Spark session "
            "has no Delta Lake (format('delta') is not found). Start Spark with the delta-spark JARs "
            "(jars/README.md), or drop the option to use the Python path"
        )
    else:
        native, why = False, "the Spark session has no Delta Lake"
    path = "native (delta-spark)" if native else "python (deltalake)"
    key = (id(spark), obj.store_name, path)
    if key not in _LOGGED:
        _LOGGED.add(key)
        log.debug("Delta store %r: %s path for the Spark engine: %s", obj.store_name, path, why)
    return native


def table_path(obj: DataObject) -> str:
    """The table's location as delta-spark takes it: an absolute local path, or ``s3a://bucket/key``."""
    location = obj.location
    if not _is_local(location):
        from ..interfaces._s3settings import split_location

        bucket, key = split_location(location)
        return f"s3a://{bucket}/{key}".rstrip("/")
    if location.startswith("file://"):
        location = "/" + location[len("file://"):].lstrip("/")
    return os.path.abspath(location)


def hadoop_options(obj: DataObject) -> dict[str, str]:
    """The store's S3 settings as S3A options for this one read, write or MERGE ({} for local
    tables): endpoint, path-style, region and, when the catalog gives keys, the credentials (else
    S3A's default chain: instance profile, environment). Passed as DataFrame options (delta-spark
    applies ``fs.*`` options to the table's file system), never set on the session."""
    if _is_local(obj.location) or obj.store is None:
        return {}
    from ..interfaces._s3settings import S3Settings

    s3 = S3Settings.from_store(obj.store)
    opts = {"fs.s3a.path.style.access": "true" if s3.path_style else "false"}
    if s3.endpoint_url:
        opts["fs.s3a.endpoint"] = s3.endpoint_url
        opts["fs.s3a.connection.ssl.enabled"] = "false" if s3.endpoint_url.startswith("http://") else "true"
    if s3.region:
        opts["fs.s3a.endpoint.region"] = s3.region
    if s3.access_key and s3.secret_key:
        opts["fs.s3a.access.key"] = s3.access_key
        opts["fs.s3a.secret.key"] = s3.secret_key
        if s3.session_token:
            opts["fs.s3a.session.token"] = s3.session_token
            opts["fs.s3a.aws.credentials.provider"] = "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
        else:
            opts["fs.s3a.aws.credentials.provider"] = "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
    return opts


def with_options(target: Any, options: Mapping[str, str]) -> Any:
    """``target`` (a DataFrameReader or DataFrameWriter) with every option set."""
    for key, value in options.items():
        target = target.option(key, value)
    return target


# --------------------------------------------------------------------------- read
def read(spark: Any, itf: Any, obj: DataObject, options: Mapping[str, Any],
         filters: tuple[PartitionFilter, ...]) -> Any:
    """``spark.read.format("delta")`` of the object's table, with the Python path's options."""
    from pyspark.sql import functions as F

    from ..interfaces.delta import READ_OPTIONS, _timestamp_option, _version_option
    from ..interfaces.filters import spark_column
    from ..interfaces.filters import validate as validate_filters

    opts = itf.check_options(obj, options, READ_OPTIONS, action="reading")
    if opts.get("versionasof") is not None and opts.get("timestampasof") is not None:
        raise DaoError(f"reading {obj.full_name!r}: give versionAsOf or timestampAsOf, not both")
    validate_filters(filters, what=f"reading {obj.full_name!r}")
    reader = with_options(spark.read.format("delta"), hadoop_options(obj))
    version = _version_option(obj, opts.get("versionasof"))
    if version is not None:
        reader = reader.option("versionAsOf", version)
    if opts.get("timestampasof") is not None:
        import datetime as dt

        when = _timestamp_option(obj, opts["timestampasof"]).astimezone(dt.UTC)
        reader = reader.option("timestampAsOf", when.strftime("%Y-%m-%d %H:%M:%S.%f") + "Z")
    try:
        df = reader.load(table_path(obj))
        columns = _columns(opts.get("columns"))
        if columns is not None:
            unknown = [c for c in columns if c not in df.columns]
            if unknown:
                from ..errors import did_you_mean

                raise DaoError(
                    f"reading {obj.full_name!r} (store {obj.store_name!r}): unknown columns {unknown}."
                    f"{did_you_mean(unknown[0], df.columns)} Columns: {', '.join(df.columns)}"
                )
            df = df.select(*columns)
        for col, op, value in filters:
            df = df.filter(spark_column(F.col(col), op, value))
    except DaoError:
        raise
    except Exception as exc:
        raise _read_failure(exc, obj, itf) from exc
    return df


def _columns(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    return [str(c) for c in value]


def _condition(exc: BaseException) -> str:
    get = getattr(exc, "getCondition", None)
    try:
        return str(get() or "") if callable(get) else ""
    except Exception:  # noqa: BLE001
        return ""


def _read_failure(exc: BaseException, obj: DataObject, itf: Any) -> BaseException:
    if not type(exc).__module__.startswith(("pyspark", "py4j")):
        return exc
    condition = _condition(exc)
    text = str(exc)
    if condition in ("PATH_NOT_FOUND", "DELTA_TABLE_NOT_FOUND", "DELTA_MISSING_DELTA_TABLE") or any(
        c in text for c in ("[PATH_NOT_FOUND]", "[DELTA_TABLE_NOT_FOUND]", "[DELTA_MISSING_DELTA_TABLE]")
    ):
        if itf.exists(obj):  # a folder that is not a table, or a race with a delete
            return DaoError(f"reading {obj.full_name!r} (store {obj.store_name!r}) with delta-spark failed: "
                            f"{_first_line(text)}")
        return ObjectNotFound(
            f"object {obj.full_name!r} has no Delta table at {obj.location} (store {obj.store_name!r}). "
            "Write it first, or check the name in the catalog."
        )
    return DaoError(f"reading {obj.full_name!r} (store {obj.store_name!r}) with delta-spark failed: "
                    f"{_first_line(text)}")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "?")


# --------------------------------------------------------------------------- write
_SPARK_MODES = {"append": "append", "overwrite": "overwrite", "dynamic": "overwrite",
                "errorifexists": "errorifexists", "ignore": "ignore"}


def write(sdf: Any, itf: Any, obj: DataObject, mode: str, options: Mapping[str, Any]) -> WriteResult:
    """``df.write.format("delta")`` into the object's table, after the Python path's checks.

    One write is one Delta commit (delta-spark's own protocol): a failed job commits nothing. Files
    that finished tasks of a failed job wrote stay in the folder, unreferenced (invisible to every
    reader) until ``VACUUM`` removes them, as with any delta-spark write.
    """
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(sdf.schema, timezone="UTC")
    rest = {k: v for k, v in options.items() if str(k).lower() != "replacewhere"}
    where = [v for k, v in options.items() if str(k).lower() == "replacewhere" and v is not None]
    spec = itf.prepare_write(obj, schema, {**rest, "mode": mode})  # raises before anything is written
    replace_where = None
    if where:  # delta-spark takes any column (it rewrites the files holding matching rows)
        filters = itf._replace_where(obj, where[-1], mode, spec.schema, tuple(spec.partition_by),
                                     partitions_only=False)
        replace_where = spark_predicate(obj, filters)
    read_version = spec.options.get("read_version")
    if mode == "ignore" and read_version is not None:
        return WriteResult(object=obj.full_name, mode=mode, location=obj.location, skipped=True)
    writer = with_options(conform(sdf, spec.schema).write.format("delta").mode(_SPARK_MODES[mode]),
                          hadoop_options(obj))
    if mode == "dynamic":
        writer = writer.option("partitionOverwriteMode", "dynamic")
    elif mode == "overwrite":
        writer = writer.option("partitionOverwriteMode", "static")
    if spec.partition_by:
        writer = writer.partitionBy(*spec.partition_by)
    if spec.options.get("compression"):
        writer = writer.option("compression", spec.options["compression"])
    if replace_where is not None:
        writer = writer.option("replaceWhere", replace_where)
    if spec.options.get("usermetadata") is not None:
        writer = writer.option("userMetadata", str(spec.options["usermetadata"]))
    if spec.options.get("overwrite_schema"):
        writer = writer.option("overwriteSchema", "true")
    if spec.options.get("merge_schema"):
        writer = writer.option("mergeSchema", "true")
    if spec.options.get("max_rows_per_file"):
        writer = writer.option("maxRecordsPerFile", int(spec.options["max_rows_per_file"]))
    run_spark_write(lambda: writer.save(table_path(obj)), obj)
    return _result(itf, obj, mode, read_version)


def spark_predicate(obj: DataObject, filters: Any) -> str:
    """Typed filters as one Spark SQL predicate (``replaceWhere``), identifiers quoted, values as
    literals; a value without a safe Spark literal (a string holding a quote or a backslash, a
    timestamp) is refused rather than rendered loosely."""
    from ..interfaces._delta_merge import spark_ident, sql_literal

    parts = []
    for col, op, value in filters:
        name = spark_ident(col)
        if op in ("is_null", "not_null"):
            parts.append(f"{name} IS {'NOT ' if op == 'not_null' else ''}NULL")
            continue
        values = list(value) if op == "in" else [value]
        literals = [sql_literal(v, "spark") for v in values]
        if any(lit is None for lit in literals):
            raise DaoError(
                f"writing {obj.full_name!r} (store {obj.store_name!r}) with replaceWhere: the value "
                f"{values[literals.index(None)]!r} of {col!r} has no safe Spark SQL literal here; "
                "use engine_path='python' (partition columns) or another predicate"
            )
        parts.append(f"{name} IN ({', '.join(literals)})" if op == "in" else f"{name} {op} {literals[0]}")
    return " AND ".join(parts)


def conform(sdf: Any, target: Any) -> Any:
    """``sdf`` with the table's (or the catalog's) types, in the table's column order (``target``:
    the Arrow schema ``prepare_write`` settled on)."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_type

    columns = []
    present = set(sdf.columns)
    for field in target:
        want = from_arrow_type(field.type)
        if field.name not in present:  # mergeSchema: a table column the data lacks is written as nulls
            columns.append(F.lit(None).cast(want).alias(field.name))
            continue
        have = sdf.schema[field.name].dataType
        col = F.col(f"`{field.name.replace('`', '``')}`")
        columns.append(col if have == want else col.cast(want).alias(field.name))
    return sdf.select(*columns)


def _result(itf: Any, obj: DataObject, mode: str, read_version: int | None) -> WriteResult:
    """The write's numbers from the newest commit's ``operationMetrics`` (delta-spark records them)."""
    try:
        newest = itf.latest_commit(obj)
    except Exception as exc:  # noqa: BLE001 - the write landed; only the numbers are missing
        log.warning("%s: written with delta-spark; could not read its commit metrics: %s", obj.full_name, exc)
        return WriteResult(object=obj.full_name, mode=mode, location=obj.location)
    version = int(newest.get("version", -1))
    if read_version is not None and version <= read_version:  # ignore/no-op: nothing committed
        return WriteResult(object=obj.full_name, mode=mode, location=obj.location, skipped=mode == "ignore")
    metrics = newest.get("operationMetrics") or {}

    def num(key: str) -> int:
        try:
            return int(metrics.get(key) or 0)
        except (TypeError, ValueError):
            return 0

    log.info("%s: committed Delta version %d with delta-spark (%d files, %d rows)", obj.full_name, version,
             num("numFiles"), num("numOutputRows"))
    return WriteResult(object=obj.full_name, mode=mode, location=f"{obj.location} (version {version})",
                       rows_written=num("numOutputRows"), files_added=num("numFiles"),
                       files_removed=num("numRemovedFiles"))
