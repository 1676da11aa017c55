"""The ``dao`` PySpark data source: names from the catalog in, Arrow batches through the contract.

    spark.read.format("dao").load("silver.users_clean")
    df.write.format("dao").mode("overwrite").save("silver.users_clean")

``schema()`` resolves the catalog and the object once on the driver and plans the read;
``partitions()`` re-lists the files so every action sees the latest data; executors call the
interface's ``read``/``stage``; the driver's ``commit``/``abort`` make a write visible or remove it.
Everything kept on these objects is plain data (they are cloudpickled to other processes).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any

from ..errors import require

require("pyspark", "spark")

import pyarrow as pa  # noqa: E402
from pyspark.sql.datasource import (  # noqa: E402
    DataSource,
    DataSourceArrowWriter,
    DataSourceReader,
    InputPartition,
    WriterCommitMessage,
)
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema  # noqa: E402
from pyspark.sql.types import StructType  # noqa: E402

from ..catalog import Catalog, DataObject  # noqa: E402
from ..errors import DaoError  # noqa: E402
from ..interfaces import ReadTask, StagedPart, WriteSpec, get_interface  # noqa: E402
from ..interfaces._arrow import conform  # noqa: E402
from ..interfaces.filters import from_spark  # noqa: E402

log = logging.getLogger("spark_dao.spark")

PUSHDOWN_CONF = "spark.sql.python.filterPushdown.enabled"
#: options the engine consumes; everything else goes to the interface, which rejects unknown ones
ENGINE_OPTIONS = {"catalog", "path", "object", "_dao_object", "_dao_result_file", "_dao_mode"}


# --------------------------------------------------------------------------- object overrides
def object_overrides(obj: DataObject) -> str:
    """The object's own properties as JSON (never the store's configs, which may hold secrets)."""
    data = {
        "name": obj.name,
        "store": obj.store_name,
        "path": obj.path,
        "table": obj.table,
        "format": obj.format,
        "partition_by": list(obj.partition_by),
        "keys": list(obj.keys),
        "order_by": obj.order_by,
        "schema": obj.schema,
        "options": obj.options,
    }
    return json.dumps(data, default=str)


def _resolve(catalog: Catalog, options: dict[str, str]) -> DataObject:
    raw = options.get("_dao_object")
    if raw:
        data = json.loads(raw)
        store = catalog.store(data.pop("store"))
        return catalog.resolve(DataObject(store=store, **data))
    name = options.get("object") or options.get("path")
    if not name:
        raise DaoError('no data object named: use .load("store.object") or .save("store.object")')
    return catalog.get(name)


class DaoDataSource(DataSource):
    """The ``dao`` data source. Bind a catalog with :func:`spark_dao.register`, the ``catalog``
    option, or ``SPARK_DAO_CATALOG``.

    >>> spark.read.format("dao").option("catalog", "conf/catalog.yaml").load("silver.users_clean")  # doctest: +SKIP
    """

    _bound_catalog: Catalog | None = None
    _source_name: str = "dao"
    _pushdown: bool = False
    #: cores of the cluster, recorded by register(): read tasks are planned for them, not for the
    #: driver's CPU count
    _parallelism: int | None = None

    @classmethod
    def name(cls) -> str:
        return cls._source_name

    def __init__(self, options: dict[str, str]) -> None:
        super().__init__(options)
        self._obj: DataObject | None = None

    # Resolution happens once per DataSource instance (schema() on the driver), then travels pickled.
    def _object(self) -> DataObject:
        if self._obj is None:
            opts = dict(self.options)
            if opts.get("catalog"):
                source = opts["catalog"]
                catalog = Catalog.load(json.loads(source) if source.lstrip().startswith("{") else source)
            elif self._bound_catalog is not None:
                catalog = self._bound_catalog
            else:
                catalog = Catalog.load(None)
            self._obj = _resolve(catalog, opts)
        return self._obj

    def _interface_options(self) -> dict[str, str]:
        return {k: v for k, v in self.options.items() if k.lower() not in ENGINE_OPTIONS}

    def _read_options(self) -> dict[str, str]:
        opts = self._interface_options()
        if self._parallelism and not any(k.lower() == "parallelism" for k in opts):
            opts["parallelism"] = str(self._parallelism)
        return opts

    def schema(self) -> StructType:
        obj = self._object()
        itf = get_interface(obj.store)
        if hasattr(itf, "read_schema"):  # the schema without planning (a warehouse would unload)
            return from_arrow_schema(itf.read_schema(obj, self._read_options()))
        return from_arrow_schema(itf.plan_read(obj, self._read_options()).schema)

    def reader(self, schema: StructType) -> DataSourceReader:
        cls = DaoPushdownReader if self._pushdown else DaoReader
        return cls(self._object(), self._read_options(), schema)

    def writer(self, schema: StructType, overwrite: bool) -> DaoWriter:
        obj = self._object()
        opts = self._interface_options()
        mode = self.options.get("_dao_mode") or ("overwrite" if overwrite else "append")
        opts["mode"] = mode
        arrow_schema = to_arrow_schema(schema, timezone="UTC")
        itf = get_interface(obj.store)
        spec = itf.prepare_write(obj, arrow_schema, opts)
        job_id = uuid.uuid4().hex
        start = getattr(itf, "start_job", None)
        if start is not None:  # the job is live until commit/abort; late tasks check it
            spec = start(obj, spec, job_id)
        return DaoWriter(obj, spec, job_id, self.options.get("_dao_result_file"))


class DaoPartition(InputPartition):
    def __init__(self, task: ReadTask) -> None:
        super().__init__(None)
        self.task = task


class DaoReader(DataSourceReader):
    def __init__(self, obj: DataObject, options: dict[str, str], schema: StructType) -> None:
        self.obj = obj
        self.options = options
        self.target = to_arrow_schema(schema, timezone="UTC")
        self.filters: list[tuple[str, str, Any]] = []

    def partitions(self) -> Sequence[InputPartition]:
        plan = get_interface(self.obj.store).plan_read(self.obj, self.options, self.filters)
        return [DaoPartition(t) for t in plan.tasks]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        task = getattr(partition, "task", None)
        if task is None:  # Spark runs one task even when there is nothing to read
            return
        target = self.target
        for batch in get_interface(self.obj.store).read(task):
            if not batch.schema.equals(target):
                batch = conform(batch, target)
            yield batch


class DaoPushdownReader(DaoReader):
    """Prunes partitions with the query's filters on partition columns.

    Used only when ``spark.sql.python.filterPushdown.enabled`` is true (``register()`` sets it):
    PySpark refuses a reader with ``pushFilters`` while that conf is off.
    """

    def pushFilters(self, filters: list[Any]) -> Any:
        for f in filters:
            converted = from_spark(f)
            if converted is not None:
                self.filters.append(converted)
        # Pruning is by partition, so Spark keeps evaluating every filter on the rows read.
        return filters


class DaoCommitMessage(WriterCommitMessage):
    def __init__(self, part: StagedPart) -> None:
        self.part = part


class DaoWriter(DataSourceArrowWriter):
    """Executors stage, the driver commits: a failed job leaves the target unchanged."""

    def __init__(self, obj: DataObject, spec: WriteSpec, job_id: str, result_file: str | None) -> None:
        self.obj = obj
        self.spec = spec
        self.job_id = job_id
        self.result_file = result_file

    def write(self, iterator: Iterator[pa.RecordBatch]) -> DaoCommitMessage:
        part = get_interface(self.obj.store).stage(self.obj, iterator, self.spec, self.job_id)
        return DaoCommitMessage(part)

    def _parts(self, messages: list[Any]) -> list[StagedPart]:
        parts = [m.part for m in messages if isinstance(m, DaoCommitMessage)]
        return parts or [StagedPart(job_id=self.job_id)]

    def commit(self, messages: list[Any]) -> None:
        result = get_interface(self.obj.store).commit(self.obj, self._parts(messages), self.spec)
        if self.result_file:
            # the file the caller created; never created here: under Spark Connect this driver may run
            # on another machine, where the path means nothing (the caller then says so)
            try:
                fd = os.open(self.result_file, os.O_WRONLY | os.O_TRUNC)
            except OSError:
                log.debug("%s: the result file %s is not on this machine; metrics stay here",
                          self.obj.full_name, self.result_file)
                return
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(asdict(result), f)

    def abort(self, messages: list[Any]) -> None:
        get_interface(self.obj.store).abort(self.obj, self._parts(messages), self.spec)


# --------------------------------------------------------------------------- registration
def bound_source(catalog: Catalog | None, *, name: str = "dao", pushdown: bool = True,
                 parallelism: int | None = None) -> type[DaoDataSource]:
    """A ``DaoDataSource`` subclass carrying ``catalog`` (pickled by value to Spark's workers)."""
    attrs = {"_bound_catalog": catalog, "_source_name": name, "_pushdown": pushdown,
             "_parallelism": parallelism, "__module__": __name__}
    suffix = catalog.fingerprint if catalog is not None else "env"
    return type(f"DaoDataSource_{name}_{suffix}", (DaoDataSource,), attrs)


def register(spark: Any, catalog: Any = None, *, name: str = "dao") -> str:
    """Bind ``catalog`` (path, dict or Catalog) to ``spark`` as the ``dao`` format.

    >>> spark_dao.register(spark, catalog="conf/catalog.yaml")          # doctest: +SKIP
    >>> spark.read.format("dao").load("silver.users_clean")             # doctest: +SKIP

    Also enables ``spark.sql.python.filterPushdown.enabled`` so reads prune partitions. In local
    mode, when neither ``PYSPARK_PYTHON`` nor ``spark.pyspark.python`` chose one, Python workers
    run this interpreter (the one that has spark_dao; Spark's default is ``python3`` from the
    PATH). On a cluster the executors need spark_dao installed (``_failures.WORKER_HINT``).
    Returns the format name.
    """
    cat = Catalog.load(catalog) if catalog is not None else None
    spark.conf.set(PUSHDOWN_CONF, "true")
    _use_this_interpreter(spark)
    source = bound_source(cat, name=name, pushdown=True, parallelism=default_parallelism(spark))
    with _quiet_jvm_logger(spark, "org.apache.spark.sql.execution.datasources.DataSourceManager"):
        # Spark warns "replaced a statically registered data source" (pyspark_dao's) on every call
        spark.dataSource.register(source)
    log.debug("registered format %r for catalog %s", name, cat.source if cat else "$SPARK_DAO_CATALOG")
    return name


def _use_this_interpreter(spark: Any) -> None:
    """Local mode: Python workers run ``sys.executable`` unless the user chose an interpreter."""
    import sys

    if _is_connect(spark):  # the server starts its workers
        return
    sc = spark.sparkContext
    if os.environ.get("PYSPARK_PYTHON") or sc.getConf().get("spark.pyspark.python"):
        return
    if not str(sc.master).startswith("local"):
        log.debug("Spark master %s: Python workers run %r; they need spark_dao installed",
                  sc.master, sc.pythonExec)
        return
    if sc.pythonExec != sys.executable:
        log.debug("Python workers will run %s (was %s)", sys.executable, sc.pythonExec)
        sc.pythonExec = sys.executable


class _quiet_jvm_logger:
    """Raise one JVM logger to ERROR for the duration (classic sessions; a no-op under Connect)."""

    def __init__(self, spark: Any, name: str) -> None:
        self.spark, self.name, self.saved = spark, name, None

    def __enter__(self) -> None:
        if _is_connect(self.spark):
            return
        try:
            jvm = self.spark.sparkContext._jvm
            self.configurator = jvm.org.apache.logging.log4j.core.config.Configurator
            self.saved = jvm.org.apache.logging.log4j.LogManager.getLogger(self.name).getLevel()
            self.configurator.setLevel(self.name, jvm.org.apache.logging.log4j.Level.ERROR)
        except Exception:  # Connect, or another logging backend: leave it
            self.saved = None

    def __exit__(self, *exc: Any) -> None:
        if self.saved is not None:
            try:
                self.configurator.setLevel(self.name, self.saved)
            except Exception:  # noqa: BLE001 - logging only
                pass


def default_parallelism(spark: Any) -> int:
    if _is_connect(spark):  # no SparkContext to ask
        return os.cpu_count() or 2
    try:
        return int(spark.sparkContext.defaultParallelism)
    except Exception:  # noqa: BLE001 - a stopped context
        return os.cpu_count() or 2


def _is_connect(spark: Any) -> bool:
    """A Spark Connect session: no ``sparkContext`` and no ``_jvm`` to touch."""
    return type(spark).__module__.startswith("pyspark.sql.connect")
