"""``DataAccessObject``: the one entry point. Name the data; the catalog says where and how.

    dao = DataAccessObject("conf/catalog.yaml")
    pdf = dao.read("silver.users_clean", engine="pandas")
    dao.write(pdf, "silver.users_clean", mode="overwrite")

Every call resolves the name through the catalog and routes to the store's interface, run either
in-process (pandas / pyarrow) or by Spark through the ``dao`` data source.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from .catalog import Catalog, DataObject
from .catalog.model import join_inside
from .errors import DaoError, ObjectNotFound, did_you_mean
from .interfaces import WriteResult, get_interface, parse_mode
from .interfaces.base import PartitionFilter
from .registry import DataStoreRegistry

log = logging.getLogger("spark_dao")

Engine = Literal["auto", "spark", "pandas", "arrow"]
_ENGINES = ("auto", "spark", "pandas", "arrow")


def _is_spark_df(data: Any) -> bool:
    mod = type(data).__module__
    return mod.startswith("pyspark.sql") and hasattr(data, "sparkSession")


def _is_pandas_df(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and type(data).__name__ == "DataFrame"


def _active_spark() -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    return SparkSession.getActiveSession()


class DataAccessObject:
    """Read, write, list and delete data objects by catalog name, with Spark or pandas.

    >>> dao = DataAccessObject("conf/catalog.yaml")                       # doctest: +SKIP
    >>> dao.read("silver.users_clean", engine="pandas").head()             # doctest: +SKIP
    >>> dao.write(df, "silver.events", mode="overwrite")                   # doctest: +SKIP

    ``catalog`` is a path (``.yaml``/``.json``), a dict (the user's JSON shape works as written),
    a :class:`Catalog`, or ``None`` for ``$SPARK_DAO_CATALOG``. Creating one registers its stores in
    :class:`DataStoreRegistry`. ``spark`` pins a SparkSession (default: the active one).
    """

    def __init__(self, catalog: Any = None, *, spark: Any = None) -> None:
        self.catalog = Catalog.load(catalog)
        self._spark = spark
        self._bound: set[tuple[int, str]] = set()
        DataStoreRegistry.register_catalog(self.catalog)

    def __repr__(self) -> str:
        return f"DataAccessObject({self.catalog!r})"

    # ------------------------------------------------------------------ resolution
    def resolve(
        self,
        name: str | DataObject | None = None,
        *,
        data_object: DataObject | None = None,
        path: str | None = None,
        format: str | None = None,
    ) -> DataObject:
        """The fully described object for a name or ``DataObject``, with ``path``/``format`` overrides.

        ``dao.resolve("silver.users_clean").location`` -> where its files live. A ``path`` must lie
        inside the object's store (``s3://bucket/prefix/...`` for S3 stores, or relative to the root).
        """
        target = data_object if data_object is not None else name
        if target is None:
            raise DaoError("name the data: dao.read('silver.users_clean') or dao.read(data_object=obj)")
        obj = self.catalog.get(target) if isinstance(target, str | DataObject) else None
        if obj is None:
            raise DaoError(f"expected a 'store.object' name or a DataObject, got {type(target).__name__}")
        if path is not None:
            root = obj.store.location  # type: ignore[union-attr]
            if root is None:
                raise DaoError(f"object {obj.full_name!r}: store {obj.store_name!r} has no location for path={path!r}")
            location = join_inside(root, path, what=f"object {obj.full_name!r}")
            obj = obj.with_(path=location[len(root.rstrip('/')) :].strip("/") or None)
        if format is not None:
            obj = obj.with_(format=format)
        return obj

    def _interface(self, obj: DataObject) -> Any:
        return get_interface(obj.store)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ spark plumbing
    def _spark_session(self) -> Any:
        if self._spark is not None:
            return self._spark
        active = _active_spark()
        if active is not None:
            return active
        from .errors import require

        require("pyspark", "spark")
        from pyspark.sql import SparkSession

        return SparkSession.builder.getOrCreate()

    def _format_name(self, spark: Any) -> str:
        from .engines.spark import register

        name = f"dao_{self.catalog.fingerprint}"
        key = (id(spark), name)
        if key not in self._bound:
            register(spark, self.catalog, name=name)
            self._bound.add(key)
        return name

    # ------------------------------------------------------------------ read
    def read(
        self,
        name: str | DataObject | None = None,
        *,
        data_object: DataObject | None = None,
        engine: Engine = "auto",
        format: str | None = None,
        path: str | None = None,
        columns: Iterable[str] | str | None = None,
        filters: Iterable[PartitionFilter] | None = None,
        options: Mapping[str, Any] | None = None,
        spark_options: Mapping[str, Any] | None = None,
    ) -> Any:
        """Read a data object as a Spark DataFrame, a pandas DataFrame or an Arrow table.

        >>> dao.read("silver.users_clean", engine="pandas", columns=["id", "email"])   # doctest: +SKIP
        >>> dao.read(data_object=users_raw, format="csv")                              # doctest: +SKIP

        ``engine="auto"`` uses Spark when a SparkSession is active, else pandas. ``filters`` are
        partition filters such as ``[("country", "=", "DE")]`` (only matching partitions are read).
        """
        if engine not in _ENGINES:
            raise DaoError(f"unknown engine {engine!r}.{did_you_mean(str(engine), _ENGINES)} Valid: {', '.join(_ENGINES)}")
        obj = self.resolve(name, data_object=data_object, path=path, format=format)
        opts = {**(options or {}), **(spark_options or {})}
        opts.pop("mode", None)
        if columns is not None:
            opts["columns"] = columns if isinstance(columns, str) else ",".join(columns)
        filters = tuple(filters or ())
        if engine == "auto":
            engine = "spark" if (self._spark is not None or _active_spark() is not None) else "pandas"
        if engine == "spark":
            return self._read_spark(obj, opts, filters)
        from .engines.local import read_table

        table = read_table(obj, opts, filters)
        if engine == "arrow":
            return table
        from .errors import require

        require("pandas", "pandas")
        return table.to_pandas()

    def _read_spark(self, obj: DataObject, opts: dict[str, Any], filters: tuple[PartitionFilter, ...]) -> Any:
        from pyspark.sql import functions as F

        from .engines.spark import default_parallelism, object_overrides

        spark = self._spark_session()
        reader = spark.read.format(self._format_name(spark)).option("_dao_object", object_overrides(obj))
        opts.setdefault("parallelism", default_parallelism(spark))
        for key, value in opts.items():
            reader = reader.option(key, str(value))
        df = reader.load(obj.full_name)
        for col, op, value in filters:
            df = df.filter(_spark_filter(F.col(col), op, value))
        return df

    # ------------------------------------------------------------------ write
    def write(
        self,
        data: Any = None,
        name: str | DataObject | None = None,
        *,
        data_object: DataObject | None = None,
        mode: str | None = None,
        engine: Engine = "auto",
        format: str | None = None,
        path: str | None = None,
        options: Mapping[str, Any] | None = None,
        spark_options: Mapping[str, Any] | None = None,
    ) -> WriteResult:
        """Write a Spark DataFrame, pandas DataFrame or Arrow table to a data object.

        >>> dao.write(df, "silver.users_clean", mode="overwrite")                      # doctest: +SKIP
        >>> dao.write(df, "silver.events", mode="dynamic")   # replace only the partitions in df  # doctest: +SKIP
        >>> dao.write(data=df, data_object=obj, format="parquet", spark_options={"mode": "overwrite"})  # doctest: +SKIP

        Modes: ``append``, ``overwrite``, ``dynamic`` (partition overwrite), ``errorifexists``
        (the default, as in Spark) and ``ignore``. Nothing becomes visible unless the whole write
        succeeds. Returns the :class:`WriteResult` (rows, files), which is also logged.
        """
        if data is None:
            raise DaoError("nothing to write: pass data=<DataFrame or Arrow table>")
        if engine not in _ENGINES:
            raise DaoError(f"unknown engine {engine!r}.{did_you_mean(str(engine), _ENGINES)} Valid: {', '.join(_ENGINES)}")
        if _is_raw(data):
            # the seed's bronze ingestion: dao.write(data_object=users_raw, data=f, path="s3://.../2025-01-07/")
            info = self.upload(data, name, data_object=data_object, path=path)
            infos = info if isinstance(info, list) else [info]
            full = self.resolve(name, data_object=data_object).full_name
            result = WriteResult(object=full, mode="put", location=infos[0].location if infos else "",
                                 files_added=len(infos))
            log.info("uploaded %d file(s) to %s", len(infos), full)
            return result
        obj = self.resolve(name, data_object=data_object, path=path, format=format)
        opts = {**(options or {}), **(spark_options or {})}
        opts.pop("path", None)
        if "partitionOverwriteMode" in opts:
            opts["partitionoverwritemode"] = opts.pop("partitionOverwriteMode")
        mode = parse_mode(mode or opts.pop("mode", None), obj=repr(obj.full_name))
        if str(opts.get("partitionoverwritemode", "")).lower() == "dynamic" and mode == "overwrite":
            mode = "dynamic"
        opts.pop("partitionoverwritemode", None)

        use_spark = engine == "spark" or (engine == "auto" and _is_spark_df(data))
        if use_spark:
            sdf = data if _is_spark_df(data) else self._spark_session().createDataFrame(_to_pandas_or_arrow(data))
            result = self._write_spark(sdf, obj, mode, opts)
        else:
            from .engines.local import write_table

            result = write_table(obj, _to_arrow(data), {**opts, "mode": mode})
        log.info("%s", result)
        return result

    def _write_spark(self, sdf: Any, obj: DataObject, mode: str, opts: dict[str, Any]) -> WriteResult:
        from .engines.spark import object_overrides

        itf = self._interface(obj)
        if mode in ("errorifexists", "ignore") and itf.exists(obj):
            if mode == "ignore":
                return WriteResult(object=obj.full_name, mode=mode, location=obj.location, skipped=True)
            raise DaoError(
                f"object {obj.full_name!r} already has data at {obj.location} (store {obj.store_name!r}); "
                "use mode='append', 'overwrite' or 'ignore'"
            )
        spark = sdf.sparkSession
        fd, result_file = tempfile.mkstemp(prefix="spark_dao_result_", suffix=".json")
        os.close(fd)
        try:
            writer = (
                sdf.write.format(self._format_name(spark))
                .option("_dao_object", object_overrides(obj))
                .option("_dao_result_file", result_file)
                .option("_dao_mode", mode)
            )
            for key, value in opts.items():
                writer = writer.option(key, str(value))
            try:
                writer.mode("overwrite" if mode in ("overwrite", "dynamic") else "append").save(obj.full_name)
            except DaoError:
                raise
            except Exception as exc:
                if not type(exc).__module__.startswith(("pyspark", "py4j")):
                    raise
                raise _spark_failure(exc, obj) from exc
            with open(result_file, encoding="utf-8") as f:
                raw = f.read()
            data = json.loads(raw) if raw else {}
        finally:
            os.unlink(result_file)
        if not data:
            return WriteResult(object=obj.full_name, mode=mode, location=obj.location)
        data["partitions"] = tuple(data.get("partitions") or ())
        return WriteResult(**data)

    # ------------------------------------------------------------------ raw objects
    def _objects(self, name: str | DataObject | None, data_object: DataObject | None = None) -> tuple[Any, DataObject]:
        obj = self.resolve(name, data_object=data_object)
        store = obj.store
        for spec in store.interfaces:  # type: ignore[union-attr]
            itf = get_interface(store, spec)  # type: ignore[arg-type]
            if hasattr(itf, "put"):
                return itf, obj
        raise DaoError(
            f"store {obj.store_name!r} has no raw-objects interface, so {obj.full_name!r} cannot take files or "
            "bytes; add it to the store in the catalog: 'interfaces: [objects]' (or interface_class: S3Boto3Interface)"
        )

    def upload(
        self,
        data: Any,
        name: str | DataObject | None = None,
        *,
        data_object: DataObject | None = None,
        path: str | None = None,
        filename: str | None = None,
    ) -> Any:
        """Store a file as received: bytes, a binary file object, a local file or folder path.

        >>> with open("users.csv", "rb") as f:                                        # doctest: +SKIP
        ...     dao.upload(f, "bronze.users_raw", path="2025-01-07/")

        ``path`` is a folder (ending in ``/``) or key inside the object's location — relative, or a
        full ``s3://bucket/prefix/...`` URI inside it; nothing can land outside the store. A folder
        path uploads the whole folder. Returns the ``ObjectInfo`` (or a list for a folder).
        """
        itf, obj = self._objects(name, data_object)
        if isinstance(data, str | os.PathLike) and os.path.isdir(data):
            return itf.put_folder(obj, data, path=path)
        return itf.put(obj, data, filename, path=path)

    def download(self, name: str | DataObject, key: str, dest: str | os.PathLike[str]) -> Any:
        """Copy one stored file to a local file or folder: ``dao.download("bronze.users_raw", "2025-01-07/users.csv", "/tmp")``."""
        itf, obj = self._objects(name)
        return itf.download(obj, key, dest)

    def get_bytes(self, name: str | DataObject, key: str) -> bytes:
        """The content of one stored file: ``dao.get_bytes("bronze.users_raw", "2025-01-07/users.csv")``."""
        itf, obj = self._objects(name)
        return itf.get(obj, key)

    def list_files(self, name: str | DataObject, prefix: str | None = None) -> list[Any]:
        """Stored files under an object (``ObjectInfo`` with key, size, last_modified):
        ``dao.list_files("bronze.users_raw", prefix="2025-01-")``."""
        itf, obj = self._objects(name)
        return itf.list(obj, prefix=prefix)

    # ------------------------------------------------------------------ upsert
    def upsert(
        self,
        data: Any = None,
        name: str | DataObject | None = None,
        *,
        data_object: DataObject | None = None,
        keys: Iterable[str] | str | None = None,
        order_by: str | None = None,
        strategy: str = "merge",
        on_duplicates: str = "error",
        delete_unmatched: bool = False,
        engine: Engine = "auto",
        path: str | None = None,
        options: Mapping[str, Any] | None = None,
        **aliases: Any,
    ) -> WriteResult:
        """Merge ``data`` into an object by key: update matched rows, insert new ones.

        >>> dao.upsert(changes, "silver.users_clean", keys=["id"], order_by="updated_at")   # doctest: +SKIP

        ``keys`` and ``order_by`` default from the catalog object. ``order_by`` makes the newest row
        per key win, inside the batch and against the stored rows. ``strategy``: ``merge``,
        ``insert_only`` or ``delete_insert``; ``on_duplicates``: ``error`` or ``keep_latest``;
        ``delete_unmatched=True`` deletes stored rows whose key is not in ``data`` (full sync).
        The earlier framework's ``upsert_method``, ``id_columns`` and ``modification_column`` are
        accepted as aliases. Returns a :class:`WriteResult` with rows inserted/updated/deleted.
        """
        alias_map = {"upsert_method": "strategy", "id_columns": "keys", "modification_column": "order_by"}
        unknown = [k for k in aliases if k not in alias_map]
        if unknown:
            raise DaoError(
                f"upsert got unknown argument(s) {unknown}.{did_you_mean(unknown[0], list(alias_map) + ['keys', 'order_by', 'strategy', 'on_duplicates', 'delete_unmatched'])}"
            )
        keys = aliases.get("id_columns", keys)
        order_by = aliases.get("modification_column", order_by)
        strategy = aliases.get("upsert_method", strategy)
        opts: dict[str, Any] = {**(options or {}), "operation": "upsert", "strategy": strategy,
                                "on_duplicates": on_duplicates, "delete_unmatched": str(bool(delete_unmatched)).lower()}
        if keys is not None:
            opts["keys"] = keys if isinstance(keys, str) else ",".join(keys)
        if order_by is not None:
            opts["order_by"] = order_by
        return self.write(data, name, data_object=data_object, mode="append", engine=engine, path=path, options=opts)

    # ------------------------------------------------------------------ management
    def exists(self, name: str | DataObject) -> bool:
        """True when the object has data: ``dao.exists("silver.users_clean")``."""
        obj = self.resolve(name)
        return bool(self._interface(obj).exists(obj))

    def delete(self, name: str | DataObject) -> bool:
        """Remove an object's data: ``dao.delete("silver.tmp_table")``; False when there was none."""
        obj = self.resolve(name)
        return bool(self._interface(obj).delete(obj))

    def cleanup(self, name: str | DataObject, *, older_than: float | None = None) -> list[str]:
        """Remove what dead write jobs left in an object's hidden staging: staged files, and on S3
        uncompleted multipart uploads. Returns the locations removed.

        >>> dao.cleanup("silver.events")                  # doctest: +SKIP
        ['s3://lake/silver/events/country=DE/part-1f2e3d4c-9a-0.parquet (uncompleted upload)']

        A job is dead when it has ended (committed or aborted: whatever a late task left behind)
        or when nothing of it is newer than ``older_than`` hours (default: the store's
        ``stale_staging_hours``, 24): its driver died. Running jobs are kept. Every write to the
        object runs the same sweep; this is for objects that are not written again soon.
        """
        obj = self.resolve(name)
        itf = self._interface(obj)
        if not hasattr(itf, "cleanup"):
            raise DaoError(
                f"object {obj.full_name!r} (store {obj.store_name!r}): the store's interface "
                f"{type(itf).__name__} stages nothing that could be left behind; there is nothing to clean up"
            )
        return list(itf.cleanup(obj, older_than=older_than))

    def list(self, store: str | None = None) -> list[str]:
        """Full names of the objects in one store or all: declared ones and ones found on storage.

        >>> dao.list("silver")        # doctest: +SKIP
        ['silver.events', 'silver.users_clean']
        """
        stores = [self.catalog.store(store)] if store is not None else list(self.catalog.stores.values())
        names = set()
        for st in stores:
            names.update(self.catalog.list(st.name))
            try:
                itf = get_interface(st)
            except DaoError:
                continue
            lister = getattr(itf, "list_objects", None)
            if lister is not None:
                names.update(f"{st.name}.{n}" for n in lister())
        return sorted(names)

    def describe(self, name: str | DataObject) -> dict[str, Any]:
        """What the catalog says of an object (no secrets): location, format, partitioning, keys."""
        obj = self.resolve(name)
        return {
            "name": obj.full_name,
            "store": obj.store_name,
            "interface": obj.store.interface.label,  # type: ignore[union-attr]
            "location": obj.location,
            "format": obj.format,
            "partition_by": list(obj.partition_by),
            "keys": list(obj.keys),
            "order_by": obj.order_by,
            "schema": obj.schema,
            "declared": obj.declared,
        }


_WORKER_ERROR = re.compile(r"spark_dao\.errors\.(\w+): (.+)")


def _spark_failure(exc: BaseException, obj: DataObject) -> DaoError:
    """A failed Spark write as the DaoError the failing task raised (its class and message, found in
    the Python worker's traceback that Spark forwards), or a DaoError quoting Spark's first line.

    The job's abort has run by then (Spark calls it before raising), so the target is unchanged.
    """
    from . import errors

    text = str(exc)
    found = _WORKER_ERROR.search(text)
    cls = getattr(errors, found.group(1), None) if found else None
    if found and isinstance(cls, type) and issubclass(cls, DaoError):
        return cls(found.group(2).strip())
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return DaoError(f"writing {obj.full_name!r} (store {obj.store_name!r}) with Spark failed: {first}")


def _is_raw(data: Any) -> bool:
    """Bytes, a binary file object or a local path: a raw upload, not a table."""
    import pathlib

    return isinstance(data, bytes | bytearray | memoryview | pathlib.PurePath) or (
        hasattr(data, "read") and not _is_pandas_df(data)
    )


def _spark_filter(c: Any, op: str, value: Any) -> Any:
    """A Spark Column predicate for a ``(column, op, value)`` filter."""
    if op == "=":
        return c == value
    if op == "!=":
        return c != value
    if op == "<":
        return c < value
    if op == "<=":
        return c <= value
    if op == ">":
        return c > value
    if op == ">=":
        return c >= value
    if op == "in":
        return c.isin(list(value))
    if op == "is_null":
        return c.isNull()
    if op == "not_null":
        return c.isNotNull()
    raise DaoError(
        f"unknown filter operator {op!r}; valid: =, !=, <, <=, >, >=, in, is_null, not_null"
    )


def _to_arrow(data: Any) -> Any:
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if _is_pandas_df(data):
        return pa.Table.from_pandas(data, preserve_index=False)
    if _is_spark_df(data):
        return data.toArrow()
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return pa.Table.from_pylist(data)
    raise DaoError(
        f"cannot write a {type(data).__module__}.{type(data).__name__}: pass a Spark or pandas "
        "DataFrame, a pyarrow Table/RecordBatch, or a list of dicts"
    )


def _to_pandas_or_arrow(data: Any) -> Any:
    if _is_pandas_df(data):
        return data
    return _to_arrow(data).to_pandas()


__all__ = ["DataAccessObject", "ObjectNotFound"]
