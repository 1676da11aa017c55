"""Delta Lake tables: ACID writes (one Delta commit per write), pinned-snapshot reads, time travel.

    >>> dao.write(users, "lake.users", mode="overwrite")             # doctest: +SKIP
    >>> dao.read("lake.users", version=3)                            # doctest: +SKIP
    >>> spark.read.format("dao").option("versionAsOf", 3).load("lake.users")   # doctest: +SKIP

An object is the Delta table at ``<store root>/<object name>`` (``path:`` overrides, as for files).
The data files are plain Parquet: the same staged writers and reader as the files interface, and
the Delta log (through ``deltalake``, delta-rs) decides which files are the table.

Write protocol (every engine):

* ``prepare_write`` (driver) pins the table version it checked against (schema, partitioning,
  existing data for errorifexists/ignore);
* ``stage`` (executors) writes Parquet files into the table's folder under names unique to the job
  and task (``part-<job>-<task>-<n>.parquet``, hive folders for partitions), with their statistics.
  Files the log does not reference are not part of the table: nothing is visible yet;
* ``commit`` (driver) makes ONE Delta commit with every staged file as an ``add`` action and, for
  overwrites, ``remove`` actions for the files of the pinned version (dynamic: only those of the
  partitions present in the data). Delta's conflict check runs against the pinned version: a
  concurrent overwrite or delete of what this write read is a :class:`WriteConflict` and nothing
  is committed;
* ``abort``, and a commit that fails, delete the staged files: no new version, target unchanged.

Reads plan from one snapshot (the version is pinned when the read is planned), prune files by
partition values and by the min/max statistics in the log, and read the Parquet files directly.
Tables using reader features this reader does not implement (deletion vectors, column mapping) are
refused with an error naming the feature, never read wrongly.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import posixpath
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ..catalog.model import DataObject
from ..catalog.settings import Setting
from ..errors import DaoError, ObjectNotFound, SchemaMismatch, did_you_mean
from . import _arrow
from ._delta_commit import MAX_RETRIES, DeltaCommit, _deltalake, delta_errors
from ._delta_log import (
    _as_type,
    _check_replace_where,
    _delta_schema,
    _file_stats,
    _relative,
    _remove_quietly,
    _stats_may_match,
    _timestamp_option,
    _version_option,
    deleted_rows,
)
from ._delta_manage import DeltaManagement
from ._fs import _is_object_store, filesystem_for
from ._layout import STAGING, _file_stem, _job_tag, check_partition_columns
from ._read import (
    OPEN_COST,
    FilesReadPayload,
    _columns_option,
    _make_tasks,
    _read_file,
    drop_deleted,
    output_schema,
)
from ._s3settings import S3Settings, is_s3_location, split_location
from ._schema import MB
from ._staging import _stage_parquet, _stage_partitioned_parquet
from .base import (
    BaseInterface,
    PartitionFilter,
    ReadPlan,
    ReadTask,
    StagedFile,
    StagedPart,
    WriteSpec,
)
from .filters import coerce as coerce_filter
from .filters import matches as filter_matches
from .filters import parse_predicate
from .filters import validate as validate_filters

log = logging.getLogger("spark_dao.delta")

READ_OPTIONS = {
    "columns": "comma-separated columns to read",
    "versionasof": "read the table as of this version (Spark's option name)",
    "timestampasof": "read the table as of this time, e.g. '2026-01-01 00:00:00' (UTC unless an offset is given)",
    "split_bytes": "target bytes per read task (default: total/cores, 4-128 MB)",
    "parallelism": "number of cores to plan read tasks for",
}
WRITE_OPTIONS = {
    "mode": "append | overwrite | dynamic | errorifexists | ignore",
    "partitionoverwritemode": "'dynamic' replaces only the partitions present in the data",
    "compression": "parquet: snappy (default), zstd, gzip, brotli, lz4, none",
    "max_rows_per_file": "roll to a new file after this many rows",
    "maxrecordsperfile": "alias of max_rows_per_file",
    "row_group_size": "parquet: rows per row group (default 1,048,576)",
    "max_retries": "times a commit that conflicts with a concurrent one is retried (default 3)",
    "usermetadata": "text recorded in the commit (Delta's userMetadata, shown by history)",
    "overwriteschema": "overwrite only: replace the table's schema with the data's (default false)",
    "mergeschema": "add the data's new columns to the table's schema, in the same commit (default false)",
    "replacewhere": "overwrite only: replace just the partitions matching this predicate, e.g. \"day >= '2025-01-08'\"",
}
#: the types of the options above that the catalog's tables do not know
OPTION_TYPES = {
    "max_retries": Setting("nonneg_int", "3"),
    "usermetadata": Setting("str", "nightly load"),
    "overwriteschema": Setting("bool", "true"),
    "mergeschema": Setting("bool", "true"),
    "versionasof": Setting("nonneg_int", "3"),
}
#: reader features whose meaning this reader does not implement: refused, never read wrongly
UNSUPPORTED_READER_FEATURES = {
    "deletionVectors": "deletion vectors (rows deleted without rewriting their files)",
    "columnMapping": "column mapping (physical column names differ from the schema's)",
    "v2Checkpoint": "v2 checkpoints",
}


@dataclass(frozen=True)
class _TaskOutput:
    """What one task staged, before the live check: its task id (file names), files, rows, table."""

    task: str
    files: tuple[StagedFile, ...]
    rows: int
    table: pa.Table | None = None


#: the data files this interface stages: ``part-<job 8 hex>-<task 10 hex>-<n>.parquet``
_STAGED_NAME = re.compile(r"^part-[0-9a-f]{8}-[0-9a-f]{10}-\d+\.parquet$")


class DeltaInterface(DeltaCommit, DeltaManagement, BaseInterface):
    """Delta Lake tables in a store's folder or bucket prefix (see the module docstring).

    >>> dao.read("lake.users", engine="pandas", version=0)          # doctest: +SKIP
    """

    read_options = READ_OPTIONS
    write_options = WRITE_OPTIONS
    option_types = OPTION_TYPES

    @property
    def extra_errors(self) -> tuple[type[BaseException], ...]:  # type: ignore[override]
        return delta_errors()

    # ------------------------------------------------------------------ locations
    def _uri(self, obj: DataObject) -> str:
        """The table URI deltalake takes: an absolute local path, or ``s3://bucket/key``."""
        location = obj.location
        if is_s3_location(location):
            bucket, key = split_location(location)
            return f"s3://{bucket}/{key}"
        if location.startswith("file://"):
            return "/" + location[len("file://"):].lstrip("/")
        return os.path.abspath(location)

    def _storage_options(self, obj: DataObject) -> dict[str, str] | None:
        if not is_s3_location(obj.location):
            return None
        s3 = S3Settings.from_store(self.store)
        # commits use S3's conditional PUT (no lock service); every key is passed explicitly so the
        # catalog, not the environment, decides
        opts: dict[str, str] = {}
        if s3.endpoint_url:
            opts["AWS_ENDPOINT_URL"] = s3.endpoint_url
            if s3.endpoint_url.startswith("http://"):
                opts["AWS_ALLOW_HTTP"] = "true"
        if s3.region:
            opts["AWS_REGION"] = s3.region
        if s3.access_key:
            opts["AWS_ACCESS_KEY_ID"] = s3.access_key
        if s3.secret_key:
            opts["AWS_SECRET_ACCESS_KEY"] = s3.secret_key
        if s3.session_token:
            opts["AWS_SESSION_TOKEN"] = s3.session_token
        if s3.profile:
            opts["AWS_PROFILE"] = s3.profile
        opts["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false" if s3.path_style else "true"
        return opts

    def _table(self, obj: DataObject, version: int | None = None) -> Any:
        """The table at ``version`` (latest when None); None when there is no table yet."""
        deltalake = _deltalake()
        uri, storage = self._uri(obj), self._storage_options(obj)
        if not self._has_log(obj):
            self._refuse_non_delta(obj)
            return None
        if version is None:
            return deltalake.DeltaTable(uri, storage_options=storage)
        latest = deltalake.DeltaTable(uri, storage_options=storage)
        if not 0 <= version <= latest.version():
            raise DaoError(
                f"reading {obj.full_name!r} (store {obj.store_name!r}): version {version} does not exist; "
                f"the table's versions are 0 to {latest.version()} (its latest)"
            )
        return deltalake.DeltaTable(uri, version=version, storage_options=storage)

    def _version_at(self, obj: DataObject, when: dt.datetime) -> int:
        """The latest version committed at or before ``when`` (Delta's ``timestampAsOf``)."""
        import pyarrow.fs as pafs

        if self._table(obj) is None:
            raise self._missing(obj)
        # the commits' own timestamps, read from their log files by a binary search (commits are in
        # time order): O(log n) reads, and no DeltaTable.history(), which holds the GIL while it
        # waits on the network
        fs, base = filesystem_for(self.store, obj.location)
        names = (posixpath.basename(i.path) for i in fs.get_file_info(pafs.FileSelector(f"{base}/_delta_log")))
        versions = sorted(int(n[:20]) for n in names if len(n) == 25 and n.endswith(".json") and n[:20].isdigit())
        stamp = when.timestamp() * 1000
        seen: dict[int, float] = {}

        def at(i: int) -> float:
            if versions[i] not in seen:
                seen[versions[i]] = float(self._commit_info(obj, versions[i]).get("timestamp") or 0)
            return seen[versions[i]]

        lo, hi = 0, len(versions)  # the first index whose commit is later than ``when``
        while lo < hi:
            mid = (lo + hi) // 2
            if at(mid) <= stamp:
                lo = mid + 1
            else:
                hi = mid
        if lo == 0:
            first = dt.datetime.fromtimestamp(at(0) / 1000, dt.UTC) if versions else None
            raise DaoError(
                f"reading {obj.full_name!r} (store {obj.store_name!r}): no version of the table exists at "
                f"{when.isoformat()}; its first commit is at {first.isoformat() if first else '?'}"
            )
        return versions[lo - 1]

    def _refuse_non_delta(self, obj: DataObject) -> None:
        """A folder with data files but no ``_delta_log`` is not a Delta table: say so, do not overwrite
        it. Files staged by a first write still running (``part-<job>-<task>-<n>.parquet``) are not
        such files: that folder is a table being created."""
        fs, base = filesystem_for(self.store, obj.location)
        import pyarrow.fs as pafs

        for info in fs.get_file_info(pafs.FileSelector(base, allow_not_found=True, recursive=True)):
            rel = info.path[len(base):].strip("/")
            if info.type != pafs.FileType.File or any(p.startswith(("_", ".")) for p in rel.split("/")):
                continue
            if not _STAGED_NAME.match(posixpath.basename(rel)):
                raise DaoError(
                    f"object {obj.full_name!r} (store {obj.store_name!r}): {obj.location} holds files but no "
                    f"_delta_log (e.g. {rel}), so it is not a Delta table. Point the object's 'path' elsewhere, "
                    "move the files, or keep the object in a 'files' store"
                )

    def _missing(self, obj: DataObject) -> ObjectNotFound:
        return ObjectNotFound(
            f"object {obj.full_name!r} has no Delta table at {obj.location} (store {obj.store_name!r}). "
            "Write it first, or check the name in the catalog."
        )

    @staticmethod
    def _check_features(obj: DataObject, table: Any, *, writing: bool = True, adds_only: bool = False,
                        removes: bool = False) -> None:
        """Refuse reader features this interface does not implement. Reads honour deletion vectors,
        and so do writes (``adds_only``: appends, and overwrites, whose removes name each file's
        deletion vector, see ``_delta_schema_commit``); upserts (a deltalake MERGE) refuse them."""
        protocol = table.protocol()
        features = set(protocol.reader_features or ())
        if not writing or adds_only:
            features.discard("deletionVectors")
            if writing and removes and "deletionVectors" in (protocol.reader_features or ()):
                from ._delta_schema_commit import check_writable

                check_writable(obj, table, what="overwrite")
        if protocol.min_reader_version == 2:
            features.add("columnMapping")
        unsupported = sorted(f for f in features if f in UNSUPPORTED_READER_FEATURES)
        if protocol.min_reader_version > 3:
            raise DaoError(
                f"reading {obj.full_name!r} (store {obj.store_name!r}): the table needs Delta reader version "
                f"{protocol.min_reader_version}; this reader supports up to 3"
            )
        if unsupported:
            said = "; ".join(f"{f}: {UNSUPPORTED_READER_FEATURES[f]}" for f in unsupported)
            action = "writing" if writing else "reading"
            raise DaoError(
                f"{action} {obj.full_name!r} (store {obj.store_name!r}): the table uses Delta features this "
                f"interface does not implement for {action} ({said}). Use Spark's own Delta "
                "(spark.read.format('delta') / the native path), or rewrite the table without them"
            )

    # ------------------------------------------------------------------ reading
    def plan_read(
        self, obj: DataObject, options: Mapping[str, Any], filters: Iterable[PartitionFilter] = ()
    ) -> ReadPlan:
        """One snapshot (``versionAsOf`` / ``timestampAsOf``, else the latest), pruned by partition
        values and file statistics; tasks read its Parquet files."""
        opts = self.check_options(obj, options, READ_OPTIONS, action="reading")
        if opts.get("versionasof") is not None and opts.get("timestampasof") is not None:
            raise DaoError(
                f"reading {obj.full_name!r}: give versionAsOf or timestampAsOf, not both"
            )
        version = _version_option(obj, opts.get("versionasof"))
        if opts.get("timestampasof") is not None:
            version = self._version_at(obj, _timestamp_option(obj, opts["timestampasof"]))
        table = self._table(obj, version)
        if table is None:
            raise self._missing(obj)
        self._check_features(obj, table, writing=False)
        full = _arrow.normalize_schema(pa.schema(table.schema().to_arrow()))
        part_cols = [c for c in table.metadata().partition_columns]
        part_types = {c: full.field(c).type for c in part_cols}
        data_schema = pa.schema([f for f in full if f.name not in part_types])

        columns = _columns_option(opts.get("columns"))
        out_schema = output_schema(obj, full, columns)

        filters = tuple(filters)
        validate_filters(filters, what=f"reading {obj.full_name!r}")
        typed_pairs = [(f, coerce_filter(f, full.field(f[0]).type)) for f in filters if f[0] in full.names]
        part_filters = tuple((f, t) for f, t in typed_pairs if t is not None and f[0] in part_types)
        stat_filters = tuple(t for f, t in typed_pairs if t is not None and f[0] not in part_types)

        actions = pa.table(table.get_add_actions(flatten=True))
        slices_in: list[tuple[str, int, tuple[tuple[str, Any], ...]]] = []
        names = set(actions.column_names)
        for row in actions.to_pylist():
            values = {c: row.get(f"partition.{c}") for c in part_cols}
            typed = {c: _as_type(values[c], part_types[c]) for c in part_cols}
            if part_filters and not filter_matches(typed, tuple(t for _, t in part_filters)):
                continue
            if stat_filters and not _stats_may_match(row, names, stat_filters):
                continue
            rel = _relative(obj, row["path"])
            slices_in.append((rel, int(row["size_bytes"]), tuple(typed.items())))

        fs, base = filesystem_for(self.store, obj.location)
        parallelism = int(opts.get("parallelism") or os.cpu_count() or 2)
        total = sum(s + OPEN_COST for _, s, _ in slices_in)
        split = int(opts.get("split_bytes") or min(128 * MB, max(4 * MB, -(-total // max(1, parallelism)))))
        tasks = _make_tasks(obj, fs, base, "parquet", slices_in, split, out_schema, data_schema,
                            True, ",", columns, deleted=deleted_rows(self._uri(obj), table))
        log.debug("planned %d read tasks for %s at version %d (%d of %d files)", len(tasks), obj.full_name,
                  table.version(), len(slices_in), actions.num_rows)
        return ReadPlan(schema=out_schema, tasks=tasks, partition_columns=tuple(part_cols),
                        applied_filters=tuple(f for f, _ in part_filters))

    def read(self, task: ReadTask) -> Iterator[pa.RecordBatch]:
        """The task's Parquet files with exactly the plan's schema (partition values from the log)."""
        p: FilesReadPayload = task.payload
        fs, _ = filesystem_for(self.store, task.obj.location)
        wanted = [f.name for f in p.schema if f.name in p.data_schema.names]
        for sl in p.slices:
            path = posixpath.join(p.base, sl.rel)
            constants = {k: v for k, v in sl.partition if k in p.schema.names}
            batches = _read_file(fs, path, p, sl, wanted)
            if sl.deleted:
                batches = drop_deleted(batches, sl.deleted)
            for batch in batches:
                yield _arrow.conform(batch, p.schema, constants=constants)

    # ------------------------------------------------------------------ writing
    def check_write_target(self, obj: DataObject, options: Mapping[str, Any]) -> None:
        check_partition_columns(obj, obj.partition_by, action="writing")

    def prepare_write(self, obj: DataObject, schema: pa.Schema, options: Mapping[str, Any]) -> WriteSpec:
        """Mode, options and schema checked against the table's latest version, which is pinned:
        the commit's conflict check runs against it."""
        request = self.start_write(obj, schema, options)
        mode, target, opts = request.mode, request.schema, request.options
        table = self._table(obj)
        version = None
        schema_change = False
        if table is not None:
            version = table.version()
            self._check_features(obj, table, adds_only=request.upsert is None, removes=mode != "append")
            stored = _arrow.normalize_schema(pa.schema(table.schema().to_arrow()))
            parts = tuple(table.metadata().partition_columns)
            if obj.partition_by and tuple(obj.partition_by) != parts:
                raise SchemaMismatch(
                    f"writing {obj.full_name!r} (store {obj.store_name!r}): the catalog partitions it by "
                    f"{list(obj.partition_by)} but the Delta table at {obj.location} is partitioned by "
                    f"{list(parts)}; fix partition_by in the catalog, or overwrite into a new table"
                )
            if mode == "errorifexists":
                raise DaoError(
                    f"object {obj.full_name!r} already has a Delta table at {obj.location} (store "
                    f"{obj.store_name!r}, version {version}); use mode='append', 'overwrite' or 'ignore'"
                )
            if mode == "dynamic" and not parts:
                raise DaoError(
                    f"writing {obj.full_name!r}: dynamic partition overwrite needs a partitioned table; "
                    "use mode='overwrite' to replace everything"
                )
            what = f"writing {obj.full_name!r} (store {obj.store_name!r}, Delta version {version})"
            if opts.get("overwriteschema") and mode != "overwrite":
                raise DaoError(f"{what}: overwriteSchema=true only applies to mode='overwrite', not {mode!r}")
            if opts.get("mergeschema") and not (opts.get("overwriteschema") and mode == "overwrite"):
                from ._delta_schema_commit import check_writable, merged_schema

                target = merged_schema(target, stored, what=what)
                schema_change = target.names != stored.names
                if schema_change and request.upsert is None and (mode != "overwrite"
                                                                 or opts.get("replacewhere") is not None):
                    check_writable(obj, table)  # this commit is written by _delta_schema_commit
            elif not (opts.get("overwriteschema") and mode == "overwrite"):
                target = _arrow.compatible_schema(
                    target, stored, what=what,
                    fix="pass mergeSchema=true to add new columns (missing ones are written as nulls), or "
                        "overwriteSchema=true with mode='overwrite' to replace the table's schema")
            partition_by = parts
        else:
            partition_by = tuple(obj.partition_by)
        write_opts = {
            "max_rows_per_file": int(opts.get("max_rows_per_file") or opts.get("maxrecordsperfile") or 0),
            "compression": str(opts.get("compression") or "snappy").lower(),
            "row_group_size": int(opts.get("row_group_size") or 1 << 20),
            "read_version": version,
            "max_retries": int(opts["max_retries"]) if opts.get("max_retries") is not None else MAX_RETRIES,
            "usermetadata": opts.get("usermetadata"),
            "overwrite_schema": bool(opts.get("overwriteschema")) and mode == "overwrite",
            "merge_schema": schema_change,
        }
        if opts.get("replacewhere") is not None:
            write_opts["replace_where"] = self._replace_where(obj, opts["replacewhere"], mode, target, partition_by)
        if request.upsert is not None:
            write_opts["upsert"] = request.upsert
        return WriteSpec(mode=mode, format="parquet", schema=_delta_schema(target), partition_by=partition_by,
                         options=write_opts, operation=request.operation)

    @staticmethod
    def _replace_where(obj: DataObject, predicate: Any, mode: str, schema: pa.Schema,
                       partition_by: tuple[str, ...], *, partitions_only: bool = True) -> tuple[PartitionFilter, ...]:
        """``replaceWhere``: filters, typed; checked before any task runs. The Python path takes
        partition columns only (``partitions_only``); the native path (delta-spark) any column."""
        what = f"writing {obj.full_name!r} (store {obj.store_name!r}) with replaceWhere"
        if mode != "overwrite":
            raise DaoError(f"{what}: replaceWhere applies to mode='overwrite', not {mode!r}")
        typed = []
        for f in parse_predicate(str(predicate), what=what):
            if f[0] not in schema.names:
                raise DaoError(f"{what}: unknown column {f[0]!r}.{did_you_mean(f[0], schema.names)} "
                               f"Columns: {', '.join(schema.names)}")
            if partitions_only and f[0] not in partition_by:
                raise DaoError(
                    f"{what}: {f[0]!r} is not a partition column ({list(partition_by) or 'the table has none'}); "
                    "on the Python path replaceWhere takes partition columns only: use an upsert or a dynamic "
                    "overwrite, or the native path (engine='spark' on a session with Delta), which takes any column"
                )
            t = coerce_filter(f, schema.field(f[0]).type) if f[1] not in ("is_null", "not_null") else f
            if t is None:
                raise DaoError(f"{what}: {f[2]!r} does not fit column {f[0]!r} ({schema.field(f[0]).type})")
            typed.append(t)
        return tuple(typed)

    def stage(self, obj: DataObject, batches: Iterable[pa.RecordBatch], spec: WriteSpec, job_id: str) -> StagedPart:
        """Parquet files in the table's folder, not referenced by the log yet (invisible)."""
        fs, base = filesystem_for(self.store, obj.location)
        it = (_arrow.conform(b, spec.schema) for b in batches if b.num_rows)
        if spec.options.get("replace_where"):
            it = (_check_replace_where(obj, b, spec.options["replace_where"]) for b in it)
        first = next(it, None)
        if first is None:
            return StagedPart(job_id=job_id)
        from itertools import chain

        lease = bool(spec.options.get("lease"))  # a Spark job: its driver marked it live (start_job)
        if lease and not self._is_live(obj, fs, base, job_id):
            raise self._ended(obj, job_id, before=True)
        root = f"{base}/{STAGING}/{job_id}" if spec.operation == "upsert" else base
        try:
            if spec.operation == "upsert":
                part = self._stage_upsert(obj, fs, base, chain([first], it), spec, job_id)
            else:
                part = self._stage_files(obj, fs, base, chain([first], it), spec, job_id)
        except (OSError, pa.ArrowException) as exc:
            if lease and not self._is_live(obj, fs, base, job_id):  # the abort removed the staging folder
                self._remove_own(obj, fs, root, _job_tag(job_id), None)
                raise self._ended(obj, job_id) from exc
            raise
        if lease and not self._is_live(obj, fs, base, job_id):
            # the driver ended the job (an abort: another task failed) while this task staged; its
            # abort may have listed before these files existed, so this task removes its own
            self._remove_own(obj, fs, root, _file_stem(job_id, part.task), None)
            raise self._ended(obj, job_id)
        return StagedPart(job_id=job_id, files=part.files, rows=part.rows, table=part.table)

    @staticmethod
    def _ended(obj: DataObject, job_id: str, *, before: bool = False) -> DaoError:
        when = "before this task staged anything; nothing was written" if before else \
            "while this task was staging; the task's staged files were removed"
        return DaoError(f"writing {obj.full_name!r} (store {obj.store_name!r}): job {job_id} ended "
                        f"(aborted or committed) {when}")

    def _stage_files(self, obj: DataObject, fs: Any, base: str, batches: Iterator[pa.RecordBatch],
                     spec: WriteSpec, job_id: str) -> _TaskOutput:
        rows = 0

        def counted() -> Iterator[pa.RecordBatch]:
            nonlocal rows
            for b in batches:
                rows += b.num_rows
                yield b

        task = uuid.uuid4().hex[:10]
        stem = _file_stem(job_id, task)
        if not _is_object_store(fs):
            fs.create_dir(base, recursive=True)
        stage = _stage_parquet if not spec.partition_by else _stage_partitioned_parquet
        try:
            files = stage(fs, base, counted(), spec, stem)
        except BaseException:
            _remove_quietly(fs, base, [f"{stem}-"], spec)
            raise
        data_cols = [f for f in spec.schema if f.name not in spec.partition_by]
        staged = tuple(
            StagedFile(f.path, f.rows, f.size, stats=_file_stats(fs, f"{base}/{f.path}", data_cols, f.rows))
            for f in files
        )
        return _TaskOutput(task, staged, rows)

    def _stage_upsert(self, obj: DataObject, fs: Any, base: str, batches: Iterator[pa.RecordBatch],
                      spec: WriteSpec, job_id: str) -> _TaskOutput:
        """An upsert's batch: in memory (pandas engine), or Parquet files under ``_dao_staging/<job>/``
        (Spark tasks), which the commit's MERGE reads back."""
        task = uuid.uuid4().hex[:10]
        if spec.in_process:
            table = pa.Table.from_batches(list(batches), schema=spec.schema)
            return _TaskOutput(task, (), table.num_rows, table)
        from dataclasses import replace

        staging = f"{base}/{STAGING}/{job_id}"
        if not _is_object_store(fs):
            fs.create_dir(staging, recursive=True)
        stem = _file_stem(job_id, task)
        flat = replace(spec, partition_by=())
        try:
            files = _stage_parquet(fs, staging, batches, flat, stem)
        except BaseException:
            _remove_quietly(fs, staging, [f"{stem}-"], spec)
            raise
        staged = tuple(replace(f, path=f"{job_id}/{f.path}") for f in files)
        return _TaskOutput(task, staged, sum(f.rows for f in files))

    # ------------------------------------------------------------------ management
    def exists(self, obj: DataObject) -> bool:
        return self._has_log(obj)

    def _has_log(self, obj: DataObject) -> bool:
        """Whether the object's folder holds a Delta log (one listing; ``DeltaTable.is_deltatable``
        holds the GIL while it waits on the network, which stalls every other Python thread)."""
        import pyarrow.fs as pafs

        fs, base = filesystem_for(self.store, obj.location)
        selector = pafs.FileSelector(f"{base}/_delta_log", allow_not_found=True)
        return any(posixpath.basename(i.path).endswith(".json") or ".checkpoint" in i.path
                   for i in fs.get_file_info(selector))

    def delete(self, obj: DataObject) -> bool:
        """Remove the table's folder (log and data); False when there was no table."""
        if not self.exists(obj):
            return False
        fs, base = filesystem_for(self.store, obj.location)
        fs.delete_dir(base)
        log.info("deleted Delta table %s at %s", obj.full_name, obj.location)
        return True

    def list_objects(self) -> list[str]:
        """Names of the Delta tables directly under the store's location."""
        root = self.store.location
        if root is None:
            return []
        import pyarrow.fs as pafs

        fs, base = filesystem_for(self.store, root)
        out = []
        for info in fs.get_file_info(pafs.FileSelector(base, allow_not_found=True)):
            name = posixpath.basename(info.path)
            if info.type == pafs.FileType.Directory and not name.startswith(("_", ".")):
                if fs.get_file_info(f"{info.path}/_delta_log").type == pafs.FileType.Directory:
                    out.append(name)
        return sorted(out)
