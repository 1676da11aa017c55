"""The Arrow contract every backend implements, and the plain data that travels with it.

Driver:   ``plan_read`` -> :class:`ReadPlan`;  ``prepare_write`` -> :class:`WriteSpec`;
          ``commit`` -> :class:`WriteResult`;  ``abort``.
Executor: ``read(task)`` -> RecordBatches;  ``stage(obj, batches, spec, job_id)`` -> :class:`StagedPart`.

Everything here is plain, picklable data: it crosses from the driver to Spark executors and back.
Clients (filesystems, boto3, database connections) are created inside the calls, never stored.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ..catalog.builtins import BUILTINS, entry_point_names
from ..catalog.model import DataObject, DataStore, InterfaceSpec
from ..errors import BackendNotInstalled, DaoError, did_you_mean
from . import filters

if TYPE_CHECKING:
    import pyarrow as pa

    from ._s3 import PendingUpload

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


@dataclass(frozen=True)
class StagedFile:
    """One staged data file. ``path`` is relative to the job's staging folder, or, when ``upload``
    is set, to the object's location: the file is an uncompleted S3 multipart upload at its final
    key, which the commit completes."""

    path: str  # e.g. "country=DE/part-ab12-0.parquet"
    rows: int
    size: int = 0
    upload: PendingUpload | None = None


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

    def __str__(self) -> str:
        if self.skipped:
            return f"{self.object}: skipped (mode={self.mode}, target already has data)"
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
    """The contract every backend implements (see module docstring)."""

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


def get_interface(store: DataStore, spec: InterfaceSpec | None = None) -> Any:
    """An interface instance for ``store`` (its primary interface unless ``spec`` is given).

    Built-ins take the store (``FilesInterface.from_store(store)``); a custom class without
    ``from_store`` is called with the store's ``default_configs`` as keyword arguments, as in the
    user's original design.
    """
    spec = spec or store.interface
    cls = interface_class(spec, store.name)
    if hasattr(cls, "from_store"):
        return cls.from_store(store)
    return cls(**store.configs)
