"""The Arrow contract every backend implements, and the plain data that travels with it.

Driver:   ``plan_read`` -> :class:`ReadPlan`;  ``prepare_write`` -> :class:`WriteSpec`;
          ``commit`` -> :class:`WriteResult`;  ``abort``.
Executor: ``read(task)`` -> RecordBatches;  ``stage(obj, batches, spec, job_id)`` -> :class:`StagedPart`.

Everything here is plain, picklable data: it crosses from the driver to Spark executors and back.
Clients (filesystems, boto3, database connections) are created inside the calls, never stored.
"""

from __future__ import annotations

import abc
import functools
import importlib
import inspect
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from ..catalog.builtins import BUILTINS, entry_point_names
from ..catalog.model import DataObject, DataStore, InterfaceSpec
from ..errors import BackendNotInstalled, CatalogError, DaoError, SchemaMismatch, did_you_mean
from . import filters

if TYPE_CHECKING:
    import pyarrow as pa

    from .upsert import UpsertOptions

log = logging.getLogger("spark_dao")

WriteMode = Literal["append", "overwrite", "dynamic", "errorifexists", "ignore"]
WRITE_MODES: tuple[str, ...] = ("append", "overwrite", "dynamic", "errorifexists", "ignore")
_MODE_ALIASES = {
    "error": "errorifexists",
    "errorifexists": "errorifexists",
    "default": "errorifexists",
    "append": "append",
    "overwrite": "overwrite",
    "ignore": "ignore",
    "dynamic": "dynamic",
    "overwrite_partitions": "dynamic",
}

#: A partition filter: (column, op, value); the operators are in :mod:`spark_dao.interfaces.filters`.
PartitionFilter = filters.PartitionFilter


def parse_mode(mode: str | None, *, obj: str = "") -> str:
    """Normalise a save mode (``"error"`` -> ``"errorifexists"``); unknown ones raise :class:`DaoError`."""
    if mode is None:
        return "errorifexists"
    key = str(mode).strip().lower().replace("-", "_")
    if key not in _MODE_ALIASES:
        raise DaoError(
            f"unknown write mode {mode!r}{' for ' + obj if obj else ''}."
            f"{did_you_mean(key, _MODE_ALIASES)} Valid modes: {', '.join(WRITE_MODES)} "
            "(dynamic = overwrite only the partitions present in the data)"
        )
    return _MODE_ALIASES[key]


@dataclass(frozen=True)
class ReadTask:
    """One unit of read work (a Spark input partition): plain data for one interface."""

    obj: DataObject
    payload: Any
    columns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ReadPlan:
    """What ``plan_read`` returns: the exact Arrow schema batches will have, and the tasks."""

    schema: pa.Schema
    tasks: list[ReadTask]
    partition_columns: tuple[str, ...] = ()
    #: partition filters the plan applied exactly (an engine need not re-check them)
    applied_filters: tuple[PartitionFilter, ...] = ()
    #: columns the sampled stored file keeps in a type Spark's own parquet reader refuses where Arrow
    #: reads it (``{column: what}``: INT64 nanosecond timestamps, unsigned 64-bit integers); the
    #: Spark engine then reads the object on the Python path
    spark_refuses: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WriteSpec:
    """A write's parsed options, resolved once on the driver and shipped to every task."""

    mode: str
    format: str
    schema: pa.Schema  # the schema staged files will have (incl. partition columns)
    partition_by: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    operation: str = "write"
    #: stage and commit run in one process (the pandas/arrow engine): an interface may then keep
    #: data that its commit reads back (an upsert's incoming rows) in memory instead of storage
    in_process: bool = False
    #: an engine's own rewrite of the files an upsert touches (the native files path: Spark reads them,
    #: drops the replaced rows and stages the rest with the batch's rows), called by the files commit;
    #: None: the commit streams them through this process
    rewrite: Any = None


@dataclass(frozen=True)
class StagedFile:
    """One staged data file. ``path`` is relative to the job's staging folder, or, when ``upload``
    is set, to the object's location: the file is an uncompleted S3 multipart upload at its final
    key, which the commit completes."""

    path: str  # e.g. "country=DE/part-ab12-0.parquet"
    rows: int
    size: int = 0
    #: the backend's handle on an upload left uncompleted (e.g. ``_s3.PendingUpload``), or None
    upload: Any = None
    #: the file's statistics as the backend's commit records them (Delta: the ``stats`` JSON), or None
    stats: str | None = None
    #: where the file is in the job's staging folder when that differs from ``path`` (a file Spark's
    #: own writer staged under its names: the commit moves it to ``path``), else None
    source: str | None = None


@dataclass(frozen=True)
class StagedPart:
    """What one task staged: invisible to readers until ``commit``."""

    job_id: str
    files: tuple[StagedFile, ...] = ()
    rows: int = 0
    #: rows kept in memory instead of staged files (only when ``WriteSpec.in_process``)
    table: pa.Table | None = None


@dataclass(frozen=True)
class WriteResult:
    """Metrics of a committed write; ``str(result)`` is the line that gets logged."""

    object: str
    mode: str
    location: str = ""
    rows_written: int = 0
    files_added: int = 0
    files_removed: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0
    files_rewritten: int = 0
    partitions: tuple[str, ...] = ()
    skipped: bool = False
    #: False when the write committed but its metrics could not come back (a Spark Connect server
    #: on another machine); the counts above are then 0, not measured
    metrics_available: bool = True

    def __str__(self) -> str:
        if self.skipped:
            return f"{self.object}: skipped (mode={self.mode}, target already has data)"
        if not self.metrics_available:
            return (f"{self.object}: mode={self.mode} committed; rows and files not known here (the Spark "
                    f"Connect server committed it on another machine) -> {self.location}")
        parts = f", partitions={len(self.partitions)}" if self.partitions else ""
        if self.mode == "upsert":
            return (
                f"{self.object}: upsert inserted={self.rows_inserted} updated={self.rows_updated} "
                f"deleted={self.rows_deleted} files_rewritten={self.files_rewritten} "
                f"files_added={self.files_added}{parts} -> {self.location}"
            )
        return (
            f"{self.object}: mode={self.mode} rows_written={self.rows_written} "
            f"files_added={self.files_added} files_removed={self.files_removed}{parts} -> {self.location}"
        )


@runtime_checkable
class Interface(Protocol):
    """The contract every backend implements, as a structural type (see :class:`BaseInterface`)."""

    def plan_read(
        self, obj: DataObject, options: Mapping[str, Any], filters: Iterable[PartitionFilter] = ()
    ) -> ReadPlan: ...

    def read(self, task: ReadTask) -> Iterator[pa.RecordBatch]: ...

    def prepare_write(self, obj: DataObject, schema: pa.Schema, options: Mapping[str, Any]) -> WriteSpec: ...

    def stage(
        self, obj: DataObject, batches: Iterable[pa.RecordBatch], spec: WriteSpec, job_id: str
    ) -> StagedPart: ...

    def commit(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec) -> WriteResult: ...

    def abort(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec) -> None: ...

    def exists(self, obj: DataObject) -> bool: ...

    def delete(self, obj: DataObject) -> bool: ...


# --------------------------------------------------------------------------- the error boundary
@lru_cache(maxsize=1)
def library_errors() -> tuple[type[BaseException], ...]:
    """What storage and parsing libraries raise at the I/O boundary: turned into :class:`DaoError`.

    ``OSError`` (local files, pyarrow's filesystems), pyarrow's ``ArrowException`` family (corrupt
    parquet, csv/json parse and conversion errors), ``ValueError`` (json and text decoding, bad
    values), ``EOFError`` and, when installed, botocore's errors. A backend adds its own library's
    errors with :attr:`BaseInterface.extra_errors`.
    """
    import pyarrow as pa

    errors: list[type[BaseException]] = [OSError, pa.ArrowException, ValueError, EOFError]
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        errors += [BotoCoreError, ClientError]
    except ImportError:
        pass
    return tuple(errors)


def describe_error(exc: BaseException) -> str:
    """A library error in one line: ``OSError`` messages as they are, others with their type."""
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, OSError) else str(exc)


def _where_of(obj: Any) -> str:
    try:
        return f" at {obj.location}"
    except DaoError:  # a store without a location (a database)
        return ""


def error_boundary(action: str, *, extra: tuple[type[BaseException], ...] = ()) -> Any:
    """Decorator: a library error (see :func:`library_errors`) raised by the method becomes a
    :class:`DaoError` naming the object, the store and the location, chained to the original.

    The method's first argument is the :class:`DataObject`, or a :class:`ReadTask` (``read``).
    Generators are wrapped too: errors raised while the caller iterates are converted as well.
    :class:`DaoError` passes unchanged; programming errors (``TypeError``, ``KeyError``...) are not
    library errors and pass unchanged too.
    """

    def deco(fn: Any) -> Any:
        if getattr(fn, "__dao_boundary__", False):
            return fn

        def convert(target: Any, exc: BaseException) -> DaoError:
            obj = target.obj if isinstance(target, ReadTask) else target
            name = getattr(obj, "full_name", repr(obj))
            store = getattr(obj, "store_name", "?")
            return DaoError(f"{action} {name!r} (store {store!r}){_where_of(obj)} failed: {describe_error(exc)}")

        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(self: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    yield from fn(self, target, *args, **kwargs)
                except DaoError:
                    raise
                except library_errors() + extra + tuple(getattr(self, "extra_errors", ())) as exc:
                    raise convert(target, exc) from exc

            gen_wrapper.__dao_boundary__ = True  # type: ignore[attr-defined]
            return gen_wrapper

        @functools.wraps(fn)
        def wrapper(self: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, target, *args, **kwargs)
            except DaoError:
                raise
            except library_errors() + extra + tuple(getattr(self, "extra_errors", ())) as exc:
                raise convert(target, exc) from exc

        wrapper.__dao_boundary__ = True  # type: ignore[attr-defined]
        return wrapper

    return deco


#: the contract methods every subclass gets wrapped in :func:`error_boundary`, with the action
#: its messages start with
BOUNDARY_ACTIONS: dict[str, str] = {
    "plan_read": "reading",
    "read": "reading",
    "prepare_write": "writing",
    "stage": "writing",
    "commit": "committing the write to",
    "abort": "aborting the write to",
    "exists": "checking",
    "delete": "deleting",
}


# --------------------------------------------------------------------------- the shared start of a write
@dataclass(frozen=True)
class WriteRequest:
    """The backend-independent part of a write, parsed once on the driver by
    :meth:`BaseInterface.start_write`; a backend's ``prepare_write`` continues from it."""

    obj: DataObject
    #: append | overwrite | dynamic | errorifexists | ignore (an upsert is "append")
    mode: str
    #: the incoming schema, normalised; cast to the catalog's declared ``schema`` when it has one
    schema: pa.Schema
    #: the object's catalog ``options`` overridden by the call's, lower-cased, typed and checked
    #: against the backend's :attr:`~BaseInterface.write_options`
    options: Mapping[str, Any] = field(default_factory=dict)
    #: the parsed upsert options (keys, order_by, strategy...) for an upsert, else None
    upsert: UpsertOptions | None = None

    @property
    def operation(self) -> str:
        return "upsert" if self.upsert is not None else "write"


class BaseInterface(abc.ABC):
    """The base class of every backend: subclass it, implement the eight contract methods, pass
    ``tests/contract`` (see ``docs/contributing.md``).

    What each method runs where, and what it promises:

    ================  ========  =================================================================
    method            runs on   contract
    ================  ========  =================================================================
    plan_read         driver    the exact Arrow schema of the result and picklable ``ReadTask`` s;
                                pins what is read (a snapshot) where the store can
    read(task)        executor  RecordBatches with exactly the plan's schema
    prepare_write     driver    every check that can fail before data moves (mode, options, schema,
                                existing data for errorifexists): nothing is written when it raises.
                                Start with :meth:`start_write`.
    start_job         driver    optional (Spark only): mark the job live before tasks run
    stage             executor  write the task's batches *invisibly*; return a picklable ``StagedPart``
    commit            driver    make every staged part visible at once and apply the mode
    abort             driver    remove what was staged; the target stays as it was
    exists / delete   driver    whether the object has data; remove it
    ================  ========  =================================================================

    An instance holds only its (picklable) :class:`DataStore`: it is pickled to Spark executors.
    Clients (filesystems, boto3, database connections) are made inside the calls, never stored.

    Every contract method a subclass defines is wrapped in :func:`error_boundary` (a library error
    becomes a :class:`DaoError` naming object, store and location), so a backend raises plain
    library errors and gets clear ones; list its library's exception types in :attr:`extra_errors`.
    """

    #: read and write options (lower-case name -> what it does) the backend accepts in calls and in
    #: the catalog's ``options``; anything else is refused by name, with the close match
    read_options: ClassVar[Mapping[str, str]] = {}
    write_options: ClassVar[Mapping[str, str]] = {
        "mode": "append | overwrite | dynamic | errorifexists | ignore",
        "partitionoverwritemode": "'dynamic' replaces only the partitions present in the data",
    }
    #: the types of the backend's own options (name -> ``settings.Setting``); the built-in ones
    #: (``mode``, ``compression``...) are typed by :data:`spark_dao.catalog.settings.OPTION_TYPES`
    option_types: ClassVar[Mapping[str, Any]] = {}
    #: what the backend supports; ``start_write`` refuses the rest with a clear error
    supports_partitions: ClassVar[bool] = True
    supports_upsert: ClassVar[bool] = True
    #: the backend's own library errors that become :class:`DaoError` (e.g. ``(sqlite3.Error,)``)
    extra_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    store: DataStore

    def __init__(self, store: DataStore) -> None:
        self.store = store

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, action in BOUNDARY_ACTIONS.items():
            fn = getattr(cls, name, None)
            if fn is not None and not getattr(fn, "__isabstractmethod__", False):
                setattr(cls, name, error_boundary(action)(fn))

    @classmethod
    def from_store(cls, store: DataStore) -> BaseInterface:
        """The interface of ``store`` (what :func:`get_interface` calls)."""
        return cls(store)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(store={self.store.name!r}, location={self.store.location!r})"

    # ------------------------------------------------------------------ the contract
    @abc.abstractmethod
    def plan_read(
        self, obj: DataObject, options: Mapping[str, Any], filters: Iterable[PartitionFilter] = ()
    ) -> ReadPlan:
        """Driver: the result's schema and the tasks. ``filters`` may prune; report the ones applied
        exactly in ``ReadPlan.applied_filters`` (the engine re-checks the others on the rows)."""

    @abc.abstractmethod
    def read(self, task: ReadTask) -> Iterator[pa.RecordBatch]:
        """Executor: the task's rows, with exactly the plan's schema."""

    @abc.abstractmethod
    def prepare_write(self, obj: DataObject, schema: pa.Schema, options: Mapping[str, Any]) -> WriteSpec:
        """Driver, before any task: validate everything, return the spec shipped to every task."""

    @abc.abstractmethod
    def stage(
        self, obj: DataObject, batches: Iterable[pa.RecordBatch], spec: WriteSpec, job_id: str
    ) -> StagedPart:
        """Executor: write the batches where readers cannot see them; may run more than once per
        task (Spark retries), so stage under names unique to the attempt."""

    @abc.abstractmethod
    def commit(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec) -> WriteResult:
        """Driver: publish every part at once and apply the mode; on failure leave the target as it was."""

    @abc.abstractmethod
    def abort(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec) -> None:
        """Driver: remove what the parts (and the job) staged; never touch the target's data."""

    @abc.abstractmethod
    def exists(self, obj: DataObject) -> bool:
        """Driver: whether the object has data."""

    @abc.abstractmethod
    def delete(self, obj: DataObject) -> bool:
        """Driver: remove the object's data; False when there was none."""

    def start_job(self, obj: DataObject, spec: WriteSpec, job_id: str) -> WriteSpec:
        """Driver, Spark only, after ``prepare_write`` and before any task: returns the spec to ship."""
        return spec

    # ------------------------------------------------------------------ shared helpers
    def check_options(
        self, obj: DataObject, options: Mapping[str, Any], valid: Mapping[str, str], *, action: str
    ) -> dict[str, Any]:
        """The object's catalog ``options`` overridden by ``options``: lower-cased keys, typed values;
        a :class:`DaoError` naming the option (with a close match) otherwise."""
        from ..catalog import settings

        what = f"{action} {obj.full_name!r}"
        merged = settings.merge_options(obj.options, options, valid)
        try:
            return settings.check_options(merged, valid, types=self.option_types)
        except KeyError as exc:
            key = str(exc.args[0])
            raise DaoError(
                f"{what} (store {obj.store_name!r}): unknown option {key!r}.{did_you_mean(key, valid)} "
                f"Valid options: {', '.join(sorted(valid))}"
            ) from None
        except settings.SettingTypeError as exc:
            key = getattr(exc, "key", "?")
            value = {str(k).lower(): v for k, v in merged.items()}.get(str(key).lower())
            raise DaoError(
                f"{what} (store {obj.store_name!r}): option {key}={settings.shown(key, value)} is not valid: {exc}"
            ) from None

    def check_write_target(self, obj: DataObject, options: Mapping[str, Any]) -> None:  # noqa: B027
        """Backend-specific checks of the object before the schema checks (format, names); a hook."""

    def start_write(self, obj: DataObject, schema: pa.Schema, options: Mapping[str, Any]) -> WriteRequest:
        """The shared start of ``prepare_write``: upsert options, the object's and the call's options,
        the mode (``partitionOverwriteMode=dynamic`` included), partition columns, and the catalog's
        declared schema. Raises :class:`DaoError` / :class:`SchemaMismatch` before anything is written.

        >>> req = self.start_write(obj, schema, {"mode": "overwrite"})   # doctest: +SKIP
        >>> req.mode, req.upsert
        ('overwrite', None)
        """
        import pyarrow as pa

        from . import _arrow
        from .upsert import UpsertOptions, is_upsert, split_upsert_options

        kind = f"{obj.full_name!r} (store {obj.store_name!r})"
        upsert_opts, rest = split_upsert_options(options)
        upsert = None
        if is_upsert(upsert_opts):
            if not self.supports_upsert:
                raise DaoError(
                    f"upsert into {kind}: the store's interface {type(self).__name__} does not support "
                    "upserts; write with mode='append' or 'overwrite', or keep the object in a store that does"
                )
            upsert = UpsertOptions.from_options(upsert_opts, obj)
        elif set(upsert_opts) - {"operation"}:
            raise DaoError(
                f"writing {obj.full_name!r}: options {sorted(set(upsert_opts) - {'operation'})} only apply to "
                "upserts; add operation='upsert' (Spark: .option('operation', 'upsert')) or use dao.upsert()"
            )
        opts = self.check_options(obj, rest, self.write_options, action="writing")
        mode = parse_mode(opts.get("mode", "append"), obj=repr(obj.full_name))
        if str(opts.get("partitionoverwritemode", "")).lower() == "dynamic" and mode == "overwrite":
            mode = "dynamic"
        if upsert is not None:
            if mode != "append":
                raise DaoError(
                    f"upsert into {obj.full_name!r}: an upsert runs as mode 'append' (it merges into the "
                    f"existing data), not {mode!r}"
                )
            upsert.check_schema(schema, what=f"upsert into {kind}")
        self.check_write_target(obj, opts)
        if obj.partition_by and not self.supports_partitions:
            raise DaoError(
                f"writing {kind}: the store's interface {type(self).__name__} does not support partitions; "
                f"remove partition_by {list(obj.partition_by)} from {obj.full_name!r} in the catalog"
            )
        incoming = _arrow.normalize_schema(schema)
        missing = [c for c in obj.partition_by if c not in incoming.names]
        if missing:
            raise SchemaMismatch(
                f"writing {kind}: partition columns {missing} "
                f"(from the catalog's partition_by) are not in the data; columns: {', '.join(incoming.names)}"
            )
        if mode == "dynamic" and not obj.partition_by:
            raise DaoError(
                f"writing {obj.full_name!r}: dynamic partition overwrite needs partition_by on the object "
                "in the catalog; use mode='overwrite' to replace everything"
            )
        target = incoming
        if obj.schema:
            declared = _arrow.schema_from_catalog(obj.schema)
            target = _arrow.compatible_schema(
                incoming, declared, what=f"writing {obj.full_name!r}", against="the schema declared in the catalog",
                fix=f"change the 'schema' of {obj.full_name!r} in the catalog ({obj.store.source})",
            )
            target = pa.schema([pa.field(f.name, declared.field(f.name).type) for f in target])
        return WriteRequest(obj=obj, mode=mode, schema=target, options=opts, upsert=upsert)


def _import_target(target: str) -> type:
    module_name, _, cls_name = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, cls_name)


@lru_cache(maxsize=64)
def interface_class(spec: InterfaceSpec, store_name: str = "?") -> type:
    """Import the class behind ``spec`` (built-in, entry point or custom), with clear errors."""
    if spec.kind in BUILTINS:
        builtin = BUILTINS[spec.kind]
        if not builtin.available:
            raise DaoError(
                f"store {store_name!r} uses the {spec.kind!r} interface, which this version of spark_dao "
                f"does not provide yet (planned: pip install 'spark-dao[{builtin.extra}]'). "
                "Use the 'files' interface for this store meanwhile."
            )
        try:
            return _import_target(builtin.target)
        except (ImportError, AttributeError) as exc:
            missing = getattr(exc, "name", None) or ""
            if missing == "spark_dao" or missing.startswith("spark_dao.") or isinstance(exc, AttributeError):
                raise  # a broken install or a bug of this package, not a missing optional library
            raise BackendNotInstalled(
                f"store {store_name!r}: interface {spec.kind!r} needs a library that is not installed "
                f"({getattr(exc, 'name', None) or exc}); install it with: pip install 'spark-dao[{builtin.extra or 'all'}]'"
            ) from exc
    if spec.kind == "custom":
        try:
            module = importlib.import_module(str(spec.location))
        except ImportError as exc:
            raise DaoError(
                f"store {store_name!r}: cannot import interface module {spec.location!r} "
                f"(interface_class_location): {exc}"
            ) from exc
        try:
            return getattr(module, str(spec.class_name))
        except AttributeError:
            names = [n for n in dir(module) if not n.startswith("_")]
            raise DaoError(
                f"store {store_name!r}: module {spec.location!r} has no class {spec.class_name!r}."
                f"{did_you_mean(str(spec.class_name), names)}"
            ) from None
    targets = entry_point_names()
    if spec.kind in targets:
        try:
            return _import_target(targets[spec.kind])
        except (ImportError, AttributeError) as exc:
            raise DaoError(
                f"store {store_name!r}: cannot load interface {spec.kind!r} from entry point "
                f"{targets[spec.kind]!r}: {exc}"
            ) from exc
    raise DaoError(f"store {store_name!r}: unknown interface {spec.label!r}")


def get_interface(store: DataStore, spec: InterfaceSpec | None = None) -> BaseInterface:
    """An interface instance for ``store`` (its primary interface unless ``spec`` is given).

    Built-ins take the store (``FilesInterface.from_store(store)``); a custom class without
    ``from_store`` is called with the store's ``default_configs`` as keyword arguments, as in the
    user's original design.
    """
    spec = spec or store.interface
    cls = interface_class(spec, store.name)
    if hasattr(cls, "from_store"):
        return cls.from_store(store)  # type: ignore[no-any-return]
    try:
        return cls(**store.configs)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise CatalogError(
            f"store {store.name!r}: interface class {cls.__module__}.{cls.__qualname__} does not take the store's "
            f"settings ({', '.join(sorted(store.configs)) or 'none'}) as keyword arguments: {exc}. Give it a "
            "from_store(store) classmethod or accept those keywords"
        ) from None
