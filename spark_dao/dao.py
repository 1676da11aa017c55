"""``DataAccessObject``: the one entry point. Name the data; the catalog says where and how.

    dao = DataAccessObject("conf/catalog.yaml")
    pdf = dao.read("silver.users_clean", engine="pandas")
    dao.write(pdf, "silver.users_clean", mode="overwrite")

Every call resolves the name through the catalog and routes to the store's interface, run either
in-process (pandas / pyarrow) or by Spark through the ``dao`` data source.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from ._call_args import (
    _location,
    _one_mode,
    _partition_overwrite_mode,
    _similar,
    _spark_filtered,
    _spark_value,
)
from ._data import _is_raw, _is_spark_df, _to_arrow, _to_pandas_or_arrow
from .catalog import Catalog, DataObject
from .catalog.model import join_inside
from .engines._failures import raised_in_worker, run_spark_write, worker_hint
from .errors import DaoError, ObjectNotFound, close_matches, did_you_mean
from .interfaces import WriteResult, get_interface, parse_mode
from .interfaces.base import PartitionFilter
from .registry import DataStoreRegistry

log = logging.getLogger("spark_dao")

Engine = Literal["auto", "spark", "pandas", "arrow"]
_ENGINES = ("auto", "spark", "pandas", "arrow")
_REGISTERING = threading.Lock()


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
        self._warned: set[str] = set()  # undeclared names already warned about (near a declared one)
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

    def _near_declared(self, obj: DataObject) -> list[str]:
        """Declared objects of the same store whose name is close to an undeclared ``obj`` (a likely typo)."""
        if obj.declared or obj.full_name in self.catalog.objects:
            return []
        same_store = [n for n, o in self.catalog.objects.items() if o.store_name == obj.store_name]
        return [m for m in close_matches(obj.full_name, same_store) if _similar(obj.full_name, m)]

    def _warn_near_miss(self, obj: DataObject) -> None:
        """A write to an undeclared name close to a declared one creates a new object (by design);
        say so once per name, as it is most likely a typo."""
        if obj.full_name in self._warned:
            return
        near = self._near_declared(obj)
        if near:
            self._warned.add(obj.full_name)
            log.warning(
                "writing %r: %r is not declared in the catalog; did you mean %s? "
                "The write goes to a new object at %s",
                obj.full_name, obj.full_name, " or ".join(repr(n) for n in near), _location(obj),
            )

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
        with _REGISTERING:  # threads of one job share the session: register each source once
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
        version: int | None = None,
        timestamp: Any = None,
    ) -> Any:
        """Read a data object as a Spark DataFrame, a pandas DataFrame or an Arrow table.

        >>> dao.read("silver.users_clean", engine="pandas", columns=["id", "email"])   # doctest: +SKIP
        >>> dao.read(data_object=users_raw, format="csv")                              # doctest: +SKIP

        ``engine="auto"`` uses Spark when a SparkSession is active, else pandas. ``filters`` are
        partition filters such as ``[("country", "=", "DE")]`` (only matching partitions are read).
        ``version`` / ``timestamp`` read a Delta table as it was (time travel; Spark's
        ``versionAsOf`` / ``timestampAsOf``): ``dao.read("lake.users", version=3)``.
        """
        if engine not in _ENGINES:
            raise DaoError(f"unknown engine {engine!r}.{did_you_mean(str(engine), _ENGINES)} Valid: {', '.join(_ENGINES)}")
        obj = self.resolve(name, data_object=data_object, path=path, format=format)
        opts = {**(options or {}), **(spark_options or {})}
        opts.pop("mode", None)
        if version is not None:
            opts["versionAsOf"] = version
        if timestamp is not None:
            opts["timestampAsOf"] = timestamp.isoformat(sep=" ") if hasattr(timestamp, "isoformat") else timestamp
        if columns is not None:
            if not isinstance(columns, str):
                columns = list(columns)
                if not all(isinstance(c, str) and c for c in columns):
                    raise DaoError(
                        f"reading {obj.full_name!r}: columns must be a column name or a list of column names, "
                        f"got list {columns!r}; e.g. columns=['id', 'email']"
                    )
                columns = ",".join(columns)
            opts["columns"] = columns
        filters = tuple(filters or ())
        if engine == "auto":
            engine = "spark" if (self._spark is not None or _active_spark() is not None) else "pandas"
        from .engines.native import take_request

        delta_path = take_request(obj, opts, engine)  # Delta and files stores: engine_path (native / python)
        if engine == "spark":
            return self._read_spark(obj, opts, filters, delta_path)
        from .engines.local import read_table, to_pandas

        table = read_table(obj, opts, filters)
        if engine == "arrow":
            return table
        from .errors import require

        require("pandas", "pandas")
        return to_pandas(table)

    def _read_spark(self, obj: DataObject, opts: dict[str, Any], filters: tuple[PartitionFilter, ...],
                    delta_path: str | None = None) -> Any:
        from .engines import native
        from .engines.spark import default_parallelism, object_overrides

        spark = self._spark_session()
        df, filtered = native.read(spark, self._interface(obj), obj, opts, filters, delta_path)
        if filtered:
            return df
        if df is not None:
            return _spark_filtered(df, obj, opts, filters)
        reader = spark.read.format(self._format_name(spark)).option("_dao_object", object_overrides(obj))
        opts.setdefault("parallelism", default_parallelism(spark))
        for key, value in opts.items():
            if value is not None:  # unset, as on the local engine
                reader = reader.option(key, _spark_value(value))
        try:
            df = reader.load(obj.full_name)
        except Exception as exc:  # the planner ran in a Python worker: its DaoError, not Spark's wrapper
            hint = worker_hint(exc)
            if hint is not None:
                raise DaoError(f"reading {obj.full_name!r} (store {obj.store_name!r}) with Spark failed: {hint}") from exc
            raise (raised_in_worker(exc) or exc) from exc
        return _spark_filtered(df, obj, opts, filters)

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
        self._warn_near_miss(obj)
        mode = _one_mode(mode, options, spark_options, obj=obj)
        opts = {k: v for k, v in {**(options or {}), **(spark_options or {})}.items() if str(k).lower() != "mode"}
        opts.pop("path", None)
        for key in [k for k in opts if str(k).lower() == "partitionoverwritemode"]:
            if _partition_overwrite_mode(opts.pop(key), obj=obj) == "dynamic" and mode == "overwrite":
                mode = "dynamic"

        use_spark = engine == "spark" or (engine == "auto" and _is_spark_df(data))
        from .engines.native import take_request

        delta_path = take_request(obj, opts, "spark" if use_spark else "pandas")  # engine_path, as in read
        if use_spark:
            sdf = data if _is_spark_df(data) else self._spark_session().createDataFrame(_to_pandas_or_arrow(data))
            result = self._write_spark(sdf, obj, mode, opts, delta_path)
        else:
            from .engines.local import write_table

            result = write_table(obj, _to_arrow(data), {**opts, "mode": mode})
        log.info("%s", result)
        return result

    def _write_spark(self, sdf: Any, obj: DataObject, mode: str, opts: dict[str, Any],
                     delta_path: str | None = None) -> WriteResult:
        from .engines import native
        from .engines.spark import object_overrides

        itf = self._interface(obj)
        done = native.write(sdf, itf, obj, mode, opts, delta_path)  # None: the Python path
        if done is not None:
            return done
        if mode in ("errorifexists", "ignore") and itf.exists(obj):
            if mode == "ignore":
                return WriteResult(object=obj.full_name, mode=mode, location=_location(obj), skipped=True)
            raise DaoError(
                f"object {obj.full_name!r} already has data at {_location(obj)} (store {obj.store_name!r}); "
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
                if value is not None:  # unset, as on the local engine
                    writer = writer.option(key, _spark_value(value))
            save_mode = "overwrite" if mode in ("overwrite", "dynamic") else "append"
            run_spark_write(lambda: writer.mode(save_mode).save(obj.full_name), obj)
            try:
                with open(result_file, encoding="utf-8") as f:
                    raw = f.read()
            except FileNotFoundError:
                raw = ""
            data = json.loads(raw) if raw else {}
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(result_file)
        if not data:
            # the commit ran on a driver that cannot see this machine's files: a remote Spark Connect server
            log.warning("%s: the write committed on a Spark Connect server on another machine; its metrics "
                        "(rows, files) cannot come back to this client", obj.full_name)
            return WriteResult(object=obj.full_name, mode=mode, location=_location(obj), metrics_available=False)
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
        self._warn_near_miss(obj)
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
        strategy: str | None = None,
        on_duplicates: str | None = None,
        delete_unmatched: bool | str | None = None,
        engine: Engine = "auto",
        path: str | None = None,
        options: Mapping[str, Any] | None = None,
        **aliases: Any,
    ) -> WriteResult:
        """Merge ``data`` into an object by key: update matched rows, insert new ones.

        >>> dao.upsert(changes, "silver.users_clean", keys=["id"], order_by="updated_at")   # doctest: +SKIP

        ``keys`` and ``order_by`` default from the catalog object. ``order_by`` makes the newest row
        per key win, inside the batch and against the stored rows. ``strategy``: ``merge`` (default),
        ``insert_only`` or ``delete_insert``; ``on_duplicates``: ``error`` (default) or ``keep_latest``;
        ``delete_unmatched=True`` deletes stored rows whose key is not in ``data`` (full sync); it takes
        the forms an option does (``"false"``, ``"0"``, ``False``...), anything else is an error.
        Each setting may also come in ``options`` (as with Spark); given twice, the values must agree.
        The earlier framework's ``upsert_method``, ``id_columns`` and ``modification_column`` are
        accepted as aliases. Returns a :class:`WriteResult` with rows inserted/updated/deleted.
        """
        from .interfaces.upsert import UPSERT_ALIASES, UPSERT_SETTINGS, normalize_upsert_option

        unknown = [k for k in aliases if k not in UPSERT_ALIASES]
        if unknown:
            raise DaoError(
                f"upsert got unknown argument(s) {unknown}.{did_you_mean(unknown[0], list(UPSERT_ALIASES) + list(UPSERT_SETTINGS))}"
            )
        obj = self.resolve(name, data_object=data_object, path=path)
        what = f"upsert into {obj.full_name!r} (store {obj.store_name!r})"
        # every place a setting was given: (label, value), keywords first
        given: dict[str, list[tuple[str, Any]]] = {k: [] for k in UPSERT_SETTINGS}
        keywords = {"keys": keys, "order_by": order_by, "strategy": strategy, "on_duplicates": on_duplicates,
                    "delete_unmatched": delete_unmatched}
        for key, value in keywords.items():
            if value is not None:
                given[key].append(("keyword", value))
        for alias, value in aliases.items():
            if value is not None:
                given[UPSERT_ALIASES[alias]].append((f"keyword {alias}", value))
        rest: dict[str, Any] = {}
        for raw_key, value in (options or {}).items():
            low = str(raw_key).lower()
            canonical = UPSERT_ALIASES.get(low, low)
            if canonical in given:
                if value is not None:
                    given[canonical].append((f"options[{raw_key!r}]", value))
            elif low == "mode":
                if parse_mode(value, obj=repr(obj.full_name)) != "append":
                    raise DaoError(
                        f"{what}: an upsert runs as mode 'append' (it merges into the existing data), "
                        f"not {value!r} (options[{raw_key!r}]); drop the mode"
                    )
            else:
                rest[raw_key] = value
        opts: dict[str, Any] = {**rest, "operation": "upsert"}
        for key, sources in given.items():
            if not sources:
                continue
            values = [normalize_upsert_option(key, value, what=what) for _, value in sources]
            if len(set(values)) > 1:
                (first_label, first), *others = sources
                shown = " and ".join([f"{key}={first!r} ({first_label})"]
                                     + [f"{v!r} ({label})" for label, v in others])
                raise DaoError(f"{what}: {key} is given twice with different values: {shown}; keep one")
            value = values[0]
            if key == "keys":
                if not value:
                    continue
                value = ",".join(value)
            elif key == "delete_unmatched":
                value = "true" if value else "false"
            opts[key] = value
        if "keys" not in opts and not obj.keys:
            near = self._near_declared(obj)
            hint = f" (did you mean {' or '.join(repr(n) for n in near)}? {obj.full_name!r} is not declared)" if near else ""
            raise DaoError(
                f"{what}: no keys: pass keys=['id'] (Spark: .option('keys', 'id')) or declare "
                f"'keys' on the object in the catalog{hint}"
            )
        return self.write(data, data_object=obj, mode="append", engine=engine, options=opts)

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

    def cleanup_temp(self, store: str, *, older_than: float | None = 24.0) -> list[str]:
        """Delete what jobs left in a warehouse store's S3 temp dir (files Spark reads unloaded, loads of
        killed drivers) older than ``older_than`` hours (0: all): ``dao.cleanup_temp("gold")``."""
        itf = get_interface(self.catalog.store(store))
        if not hasattr(itf, "cleanup_temp"):
            raise DaoError(f"store {store!r}: its interface {type(itf).__name__} has no temp dir to clean up")
        return list(itf.cleanup_temp(older_than=older_than))

    # ------------------------------------------------------------------ table management (Delta)
    def _table_op(self, name: str | DataObject, op: str) -> tuple[Any, DataObject]:
        obj = self.resolve(name)
        itf = self._interface(obj)
        if not hasattr(itf, op):
            raise DaoError(
                f"object {obj.full_name!r} (store {obj.store_name!r}): {op} needs a table format with versions "
                f"(interface: delta); the store's interface {type(itf).__name__} has none"
            )
        return itf, obj

    def history(self, name: str | DataObject, limit: int | None = None) -> list[dict[str, Any]]:
        """The commits of a Delta table, newest first: version, timestamp, operation, parameters, metrics.

        >>> dao.history("lake.users", limit=1)[0]["operation"]          # doctest: +SKIP
        'MERGE'
        """
        itf, obj = self._table_op(name, "history")
        return itf.history(obj, limit)

    def optimize(self, name: str | DataObject, *, zorder_by: list[str] | None = None,
                 where: list[PartitionFilter] | None = None) -> dict[str, Any]:
        """Compact a Delta table's small files (Z-order by ``zorder_by``), in one commit.

        >>> dao.optimize("lake.events", where=[("day", "=", "2025-01-08")])   # doctest: +SKIP
        """
        itf, obj = self._table_op(name, "optimize")
        return itf.optimize(obj, zorder_by=zorder_by, where=where)

    def vacuum(self, name: str | DataObject, *, retention_hours: float = 168, dry_run: bool = True) -> list[str]:
        """Files of a Delta table that no version within ``retention_hours`` needs; deleted unless ``dry_run``.

        >>> dao.vacuum("lake.events", retention_hours=168, dry_run=False)    # doctest: +SKIP
        """
        itf, obj = self._table_op(name, "vacuum")
        return itf.vacuum(obj, retention_hours=retention_hours, dry_run=dry_run)

    def restore(self, name: str | DataObject, *, version: int) -> dict[str, Any]:
        """Make a Delta table's data that of ``version`` again, as a new version.

        >>> dao.restore("lake.users", version=3)                          # doctest: +SKIP
        """
        itf, obj = self._table_op(name, "restore")
        return itf.restore(obj, version)

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
                if store is not None:  # the store asked for: say why; all stores: its declared objects
                    raise
                continue
            if (lister := getattr(itf, "list_objects", None)) is not None:
                names.update(f"{st.name}.{n}" for n in lister())
        return sorted(names)

    def describe(self, name: str | DataObject) -> dict[str, Any]:
        """What the catalog says of an object (no secrets): location, format, partitioning, keys."""
        obj = self.resolve(name)
        return {
            "name": obj.full_name,
            "store": obj.store_name,
            "interface": obj.store.interface.label,  # type: ignore[union-attr]
            "location": _location(obj),
            "format": obj.format,
            "partition_by": list(obj.partition_by),
            "keys": list(obj.keys),
            "order_by": obj.order_by,
            "schema": obj.schema,
            "declared": obj.declared,
        }


__all__ = ["DataAccessObject", "ObjectNotFound"]
