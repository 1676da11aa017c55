"""Tabular files (parquet, csv, newline-delimited json) in a folder: local or any pyarrow filesystem.

Layout: ``<store root>/<object path>/[col=value/...]part-<job>-<task>-<n>.<ext>`` (hive-style
partitions from the object's ``partition_by``). Names starting with ``_`` or ``.`` are invisible to
readers, which is what makes staging safe.

Write guarantees (every mode):

* tasks write under ``<object>/_dao_staging/<job_id>/``; nothing is visible before ``commit``. On S3
  (``s3_commit="multipart"``, the default with boto3) tasks instead upload each file to its final
  key as a multipart upload left uncompleted, which is just as invisible; ``commit`` completes the
  uploads (no copy) and aborts any other upload of the job (failed attempts): see ``_s3.py``;
* ``commit`` moves the staged files into place (a rename on local disks), then, for ``overwrite``
  and dynamic partition overwrite, removes the files that were there before. A reader running
  during that instant may see old and new files together; it never sees a partial file.
* ``abort`` (a failed task or job) removes the job's staging folder: the target is unchanged.
* the staging protocol (late tasks, dead jobs, concurrent writers): a job marks itself live
  (``_dao_staging/<job>.live``) before anything is staged (Spark: the driver's ``writer()``,
  :meth:`FilesInterface.start_job`); a Spark task checks the marker before staging and again
  after, and removes its own output if the job ended meanwhile. ``commit``/``abort`` remove the
  marker first, then the job's staging and uploads, then *sweep* dead jobs: staging and
  ``part-<8 hex>-`` uploads of jobs with no marker, and of marked jobs with nothing newer than
  ``stale_staging_hours`` (24). ``dao.cleanup(name)`` runs the same sweep. The staging folder is
  never deleted recursively (concurrent writers share it); see docs/backends/files.md for the window.
* ``append`` checks the incoming schema against the stored one first (``SchemaMismatch``, nothing
  written); ``errorifexists`` and ``ignore`` check for existing data before and at commit.

This module holds :class:`FilesInterface`, the contract methods (``plan_read``, ``read``,
``prepare_write``, ``stage``, ``commit``, ``exists``, ``delete``), composed from:

* ``_fs.py``: the pyarrow filesystem of a location, the I/O error boundary (``_wrap_io``); S3
  filesystems come from ``_s3settings.S3Settings``, which also builds the boto3 client;
* ``_layout.py``: hive partition paths, hidden names, listing, partition filters, path safety;
* ``_schema.py``: schema sampling and inference, the schema sidecar, csv/json compatibility;
* ``_read.py``: read tasks (file slices) and reading one file;
* ``_staging.py``: the staged writers (parquet, csv, json) and the empty write;
* ``_publish.py``: the commit protocols, ``abort``/``start_job``/``cleanup`` and the sweep of dead
  jobs (:class:`~spark_dao.interfaces._publish.CommitProtocol`, a base class of ``FilesInterface``).

``files_upsert.py`` imports those modules, not this one. Names other modules and tests import from
here are re-exported (``__all__``).
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from itertools import chain
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from ..catalog import settings as _settings
from ..catalog.model import DataObject
from ..errors import DaoError, ObjectNotFound, did_you_mean
from . import _arrow
from ._fs import _bool, _describe, _file_error, _is_object_store, filesystem_for, io_errors
from ._layout import (
    FORMATS,
    HIVE_NULL,
    LIVE,
    STAGING,
    _check_partition_values,
    _file_stem,
    _hidden,
    _infer_partition_type,
    _known_partition_type,
    _list_files,
    _partition_values,
    _typed,
    check_inside_store,
    check_partition_columns,
    check_write_layout,
    not_a_folder_error,
)
from ._lock import LockSettings, acquire_for_commit
from ._publish import STALE_STAGING_HOURS, CommitProtocol
from ._read import (
    OPEN_COST,
    FileSlice,
    FilesReadPayload,
    _columns_option,
    _make_tasks,
    _read_file,
    _type_mismatch,
    output_schema,
)
from ._schema import (
    MB,
    SCHEMA_SIDECAR,
    SPARK_REFUSES,
    _read_sidecar,
    _sample_schema,
    _stored_schema,
    _text_compatible,
)
from ._staging import _stage_dataset, _stage_parquet, _stage_partitioned_parquet, _stage_text
from .base import (
    BaseInterface,
    PartitionFilter,
    ReadPlan,
    ReadTask,
    StagedPart,
    WriteResult,
    WriteSpec,
)
from .filters import coerce as _coerce_filter
from .filters import matches as _matches
from .filters import validate as _validate_filters

#: names other modules and tests import from here (the layout's constants, the listing, filters)
__all__ = [
    "FORMATS", "HIVE_NULL", "LIVE", "STAGING", "STALE_STAGING_HOURS", "FileSlice", "FilesInterface",
    "FilesReadPayload", "_hidden", "_list_files", "_matches", "check_inside_store", "check_partition_columns",
    "filesystem_for", "io_errors", "not_a_folder_error",
]

log = logging.getLogger("spark_dao.files")


# The option tables live with the catalog, which validates object ``options`` against them at load.
READ_OPTIONS = _settings.READ_OPTIONS
WRITE_OPTIONS = _settings.WRITE_OPTIONS
S3_COMMITS = _settings.S3_COMMITS


class FilesInterface(CommitProtocol, BaseInterface):
    """Parquet / CSV / JSON datasets in a store's folder or bucket prefix.

    >>> dao.read("silver.users_clean")               # doctest: +SKIP  (through this interface)

    The contract methods are wrapped in :func:`~spark_dao.interfaces.base.error_boundary` by
    :class:`~spark_dao.interfaces.base.BaseInterface`; the commit side comes from
    :class:`~spark_dao.interfaces._publish.CommitProtocol`.
    """

    read_options = READ_OPTIONS
    write_options = WRITE_OPTIONS

    # ------------------------------------------------------------------ helpers
    def _where(self, obj: DataObject) -> tuple[pafs.FileSystem, str]:
        return filesystem_for(self.store, obj.location)

    @staticmethod
    def _format(obj: DataObject, options: Mapping[str, Any]) -> str:
        fmt = str(options.get("format") or obj.format or "parquet").lower()
        if fmt in ("jsonl", "ndjson"):
            fmt = "json"
        if fmt not in FORMATS:
            raise DaoError(
                f"object {obj.full_name!r} (store {obj.store_name!r}): the files interface cannot handle "
                f"format {fmt!r}.{did_you_mean(fmt, FORMATS)} Supported: {', '.join(FORMATS)}"
            )
        return fmt

    def _missing(self, obj: DataObject, fs: pafs.FileSystem, base: str) -> DaoError:
        if not _is_object_store(fs):
            blocked = not_a_folder_error(self.store, base, what=f"reading {obj.full_name!r}")
            if blocked is not None:
                return blocked
        else:
            gone = _missing_bucket(self.store, base)
            if gone is not None:
                return ObjectNotFound(f"object {obj.full_name!r} has no data at {obj.location} (store "
                                      f"{obj.store_name!r}): {gone}")
        siblings: list[str] = []
        parent = posixpath.dirname(base)
        try:
            for fi in fs.get_file_info(pafs.FileSelector(parent, allow_not_found=True)):
                name = posixpath.basename(fi.path)
                if fi.type == pafs.FileType.Directory and not _hidden(name):
                    siblings.append(name)
        except OSError:
            pass
        return ObjectNotFound(
            f"object {obj.full_name!r} has no data at {obj.location} (store {obj.store_name!r}).{did_you_mean(obj.name, siblings)}"
            " Write it first, or check the name in the catalog."
        )

    def _check_local(self, obj: DataObject, fs: pafs.FileSystem, base: str, rels: Iterable[str] = (), *,
                     action: str) -> None:
        """Local stores: the object's folder, the folders of ``rels`` and symlinked files among them
        must stay inside the store's real folder (see :func:`check_inside_store`)."""
        if _is_object_store(fs):
            return
        paths = {base}
        for rel in rels:
            if not rel:
                continue
            folder = posixpath.dirname(rel)
            if folder:
                paths.add(f"{base}/{folder}")
            if os.path.islink(f"{base}/{rel}"):
                paths.add(f"{base}/{rel}")
        check_inside_store(self.store, sorted(paths), what=f"{action} {obj.full_name!r}")

    # ------------------------------------------------------------------ reading
    def plan_read(
        self, obj: DataObject, options: Mapping[str, Any], filters: Iterable[PartitionFilter] = ()
    ) -> ReadPlan:
        """Plan a read: the exact output schema and tasks split by file (and row groups of big files)."""
        # the object's catalog options, overridden by the call's
        opts = self.check_options(obj, options, READ_OPTIONS, action="reading")
        fmt = self._format(obj, opts)
        check_partition_columns(obj, obj.partition_by, action="reading")
        fs, base = self._where(obj)
        hidden: set[str] = set()
        files = _list_files(fs, base, hidden=hidden)
        self._check_local(obj, fs, base, [rel for rel, _ in files], action="reading")
        declared = _arrow.schema_from_catalog(obj.schema) if obj.schema else None
        if not files and declared is None:
            raise self._missing(obj, fs, base)
        header = _bool(opts.get("header"), True)
        delimiter = str(opts.get("delimiter") or opts.get("sep") or ",")

        # Partition columns and their types.
        part_cols = list(obj.partition_by)
        parsed = [(rel, size, dict(_partition_values(rel))) for rel, size in files]
        if not part_cols and parsed:
            part_cols = [k for k, _ in _partition_values(files[0][0])]
        part_types: dict[str, pa.DataType] = {}
        # the types a write recorded (an empty write, or folder values inference would misread:
        # "001" in a string column), in the sidecar the listing shows
        known = _read_sidecar(fs, base, obj) if part_cols and SCHEMA_SIDECAR in hidden else None
        for col in part_cols:
            values = [p.get(col) for _, _, p in parsed]
            known_type = _known_partition_type(known, col, values)
            if declared is not None and col in declared.names:
                part_types[col] = declared.field(col).type
            elif known_type is not None:
                part_types[col] = known_type
            else:
                part_types[col] = _infer_partition_type(values)

        # Data columns: declared, or from the files (like Spark without mergeSchema): see _sample_schema.
        spark_refuses: dict[str, str] = {}  # (a declared schema: no footer is read to know)
        if declared is not None:
            data_schema = pa.schema([f for f in declared if f.name not in part_types])
            full = pa.schema(
                [f if f.name not in part_types else pa.field(f.name, part_types[f.name]) for f in declared]
                + [pa.field(c, t) for c, t in part_types.items() if c not in declared.names]
            )
        else:
            inferred = _sample_schema(fs, base, files, fmt, header=header, delimiter=delimiter,
                                           infer=_bool(opts.get("inferschema"), True), obj=obj)
            spark_refuses = json.loads((inferred.metadata or {}).get(SPARK_REFUSES, b"{}"))
            data_schema = _arrow.normalize_schema(
                pa.schema([f for f in inferred if f.name not in part_types])
            )
            full = pa.schema(list(data_schema) + [pa.field(c, t) for c, t in part_types.items()])

        columns = _columns_option(opts.get("columns"))
        out_schema = output_schema(obj, full, columns)

        # Prune by partition filters (exactly: values come from the paths).
        filters = tuple(filters)
        _validate_filters(filters, what=f"reading {obj.full_name!r}")
        # A value that does not fit the partition's type prunes nothing and is not reported as applied:
        # the engine then evaluates it on the rows (Spark with its own casts; local raises a clear error).
        pairs = [(f, _coerce_filter(f, part_types[f[0]])) for f in filters if f[0] in part_types]
        filters = tuple(f for f, typed_f in pairs if typed_f is not None)
        typed_filters = tuple(typed_f for _, typed_f in pairs if typed_f is not None)
        slices_in: list[tuple[str, int, tuple[tuple[str, Any], ...]]] = []
        for rel, size, pvals in parsed:
            if size == 0 and fmt != "parquet":
                continue  # an empty csv/json file holds no rows (and pyarrow cannot open it)
            typed = {c: _typed(pvals.get(c), part_types[c]) for c in part_types}
            if typed_filters and not _matches(typed, typed_filters):
                continue
            slices_in.append((rel, size, tuple(typed.items())))

        parallelism = int(opts.get("parallelism") or os.cpu_count() or 2)
        # Spark's rule (FilePartition.maxSplitBytes): every file costs an "open" of OPEN_COST bytes,
        # so many small files get packed into about `parallelism` tasks instead of one task each.
        total = sum(s + OPEN_COST for _, s, _ in slices_in)
        split = int(opts.get("split_bytes") or min(128 * MB, max(4 * MB, -(-total // max(1, parallelism)))))
        tasks = _make_tasks(obj, fs, base, fmt, slices_in, split, out_schema, data_schema,
                                 header, delimiter, columns)
        log.debug("planned %d read tasks for %s (%d files, %d bytes)", len(tasks), obj.full_name, len(files), total)
        return ReadPlan(schema=out_schema, tasks=tasks, partition_columns=tuple(part_types), applied_filters=filters,
                        spark_refuses={c: w for c, w in spark_refuses.items() if c in out_schema.names})


    def read(self, task: ReadTask) -> Iterator[pa.RecordBatch]:
        """Yield the task's rows as RecordBatches with exactly the plan's schema."""
        p: FilesReadPayload = task.payload
        fs, _ = self._where(task.obj)
        wanted = [f.name for f in p.schema if f.name in p.data_schema.names]
        part_names = set()
        for sl in p.slices:
            part_names.update(k for k, _ in sl.partition)
        for sl in p.slices:
            path = posixpath.join(p.base, sl.rel) if sl.rel else p.base
            constants = {k: v for k, v in sl.partition if k in p.schema.names}
            try:
                for batch in _read_file(fs, path, p, sl, wanted):
                    yield _arrow.conform(batch, p.schema, constants=constants)
            except DaoError:
                raise
            except io_errors() as exc:
                mismatch = _type_mismatch(task.obj, fs, path, p, exc)
                if mismatch is not None:
                    raise mismatch from exc
                raise _file_error(task.obj, path, p.format, exc, action="reading") from exc


    # ------------------------------------------------------------------ writing
    def check_write_target(self, obj: DataObject, options: Mapping[str, Any]) -> None:
        """The format is one the files interface writes; partition names survive hive folder names."""
        self._format(obj, options)
        check_partition_columns(obj, obj.partition_by, action="writing")

    def prepare_write(self, obj: DataObject, schema: pa.Schema, options: Mapping[str, Any]) -> WriteSpec:
        """Driver-side checks before any task runs: options, mode, partition columns, schema
        (:meth:`~spark_dao.interfaces.base.BaseInterface.start_write`), then the format, the folder
        and the stored data's schema."""
        request = self.start_write(obj, schema, options)
        opts, mode, upsert, target = request.options, request.mode, request.upsert, request.schema
        fmt = self._format(obj, opts)
        fs, base = self._where(obj)
        if not _is_object_store(fs):
            blocked = not_a_folder_error(self.store, base, what=f"writing {obj.full_name!r}")
            if blocked is not None:
                raise blocked
            self._check_local(obj, fs, base, [STAGING], action="writing")
        hidden: set[str] = set()
        files = _list_files(fs, base, hidden=hidden)
        self._check_local(obj, fs, base, [rel for rel, _ in files], action="writing")
        if files and mode == "errorifexists":
            raise DaoError(
                f"object {obj.full_name!r} already has data at {obj.location} (store {obj.store_name!r}); "
                "use mode='append', 'overwrite' or 'ignore'"
            )
        if files and mode in ("append", "dynamic") and not obj.schema:
            # the files' own schema, found as reads find it: data that does not fit is refused before
            # any task runs (for csv/json, rows the reader could not parse back)
            header = _bool(opts.get("header"), True)
            verb = "upserting into" if upsert is not None else "appending to"
            stored = _stored_schema(fs, base, files, obj, incoming=target, fmt=fmt, header=header,
                                         delimiter=str(opts.get("delimiter") or opts.get("sep") or ","),
                                         action=verb, every=upsert is None,
                                         known=_read_sidecar(fs, base, obj)
                                         if obj.partition_by and SCHEMA_SIDECAR in hidden else None)
            what = f"{verb} {obj.full_name!r} (store {obj.store_name!r}, format {fmt})"
            if fmt == "parquet":
                target = _arrow.compatible_schema(target, stored, what=what)
            elif len(stored):
                target = _text_compatible(target, stored, what=what, by_position=fmt == "csv" and not header)
        compression = str(opts.get("compression") or ("snappy" if fmt == "parquet" else "none")).lower()
        check_write_layout(obj, fmt, compression, target)
        # Partition columns go last in the file layout's eyes; keep the data order otherwise.
        write_opts = {
            "max_rows_per_file": int(opts.get("max_rows_per_file") or opts.get("maxrecordsperfile") or 0),
            "compression": compression,
            "header": _bool(opts.get("header"), True),
            "delimiter": str(opts.get("delimiter") or opts.get("sep") or ","),
            "row_group_size": int(opts.get("row_group_size") or 1 << 20),
            "s3_commit": self._s3_commit(obj, opts),
            "lock": LockSettings.resolve(opts, self.store, what=f"writing {obj.full_name!r}"),
        }
        if upsert is not None:
            write_opts["upsert"] = upsert
        return WriteSpec(
            mode=mode,
            format=fmt,
            schema=target,
            partition_by=tuple(obj.partition_by),
            options=write_opts,
            operation="upsert" if upsert is not None else "write",
        )


    def stage(self, obj: DataObject, batches: Iterable[pa.RecordBatch], spec: WriteSpec, job_id: str) -> StagedPart:
        """Write ``batches`` invisibly (the job's hidden staging folder, or uncompleted S3 multipart
        uploads at the final keys); return what was written, for ``commit``."""
        fs, base = self._where(obj)
        staging = f"{base}/{STAGING}/{job_id}"
        self._check_local(obj, fs, base, [STAGING], action="writing")
        task = uuid.uuid4().hex[:10]
        it = (_arrow.conform(b, spec.schema) for b in batches if b.num_rows)
        first = next(it, None)
        if first is None:
            return StagedPart(job_id=job_id)
        _check_partition_values(obj, spec, first)
        rows = 0

        def counted() -> Iterator[pa.RecordBatch]:
            nonlocal rows
            for i, b in enumerate(chain([first], it)):
                if i:
                    _check_partition_values(obj, spec, b)
                rows += b.num_rows
                yield b

        if spec.operation == "upsert" and spec.in_process:
            # the commit reads the incoming rows back in this same process: keep them in memory
            table = pa.Table.from_batches(list(counted()), schema=spec.schema)
            return StagedPart(job_id=job_id, rows=table.num_rows, table=table)
        lease = bool(spec.options.get("lease"))
        if not lease:  # in-process (or the commit's own rewrites): mark the job live here
            self._mark_live(obj, fs, base, job_id)
        elif not self._is_live(obj, fs, base, job_id):
            raise DaoError(
                f"writing {obj.full_name!r} (store {obj.store_name!r}): job {job_id} already ended "
                "(aborted or committed) before this task staged anything; nothing was written"
            )
        multipart = None
        out_fs, out_root = fs, staging
        if spec.options.get("s3_commit") == "multipart" and spec.operation == "write":
            # S3: upload straight to the final keys without completing the uploads (invisible until
            # commit completes them: no copy). Upsert batches stay in the staging folder: the
            # driver reads them back to merge.
            from ._s3 import MultipartStaging

            multipart = MultipartStaging(self.store, what=repr(obj.full_name))
            out_fs, out_root = multipart.filesystem(), base
        try:
            try:
                if spec.format == "json" or (spec.format == "csv" and spec.options["compression"] == "gzip"):
                    files = _stage_text(out_fs, out_root, counted(), spec, _file_stem(job_id, task))
                else:
                    stage = (_stage_dataset if spec.format != "parquet"
                             else _stage_partitioned_parquet if spec.partition_by else _stage_parquet)
                    files = stage(out_fs, out_root, counted(), spec, _file_stem(job_id, task))
                if multipart is not None:
                    multipart.close()
                    files = [replace(f, upload=multipart.pending(f"{base}/{f.path}")) for f in files]
            except BaseException:
                if multipart is not None:
                    multipart.abort_quietly()
                raise
        except (OSError, pa.ArrowException) as exc:
            if lease and not self._is_live(obj, fs, base, job_id):  # e.g. the abort removed the folder
                self._remove_own(obj, fs, staging, _file_stem(job_id, task), None)
                raise self._ended(obj, job_id) from exc
            raise DaoError(
                f"writing {obj.full_name!r} (store {obj.store_name!r}): staging under {staging} failed: {exc}"
            ) from exc
        if lease and not self._is_live(obj, fs, base, job_id):
            # the driver aborted (or committed without this attempt) while this task staged: the
            # abort may have listed the staging before these files existed, so remove them here
            self._remove_own(obj, fs, staging, _file_stem(job_id, task), multipart)
            raise self._ended(obj, job_id)
        return StagedPart(job_id=job_id, files=tuple(files), rows=rows)

    @staticmethod
    def _ended(obj: DataObject, job_id: str) -> DaoError:
        return DaoError(
            f"writing {obj.full_name!r} (store {obj.store_name!r}): job {job_id} ended (aborted or "
            "committed) while this task was staging; the task's staged files were removed"
        )


    def commit(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec) -> WriteResult:
        """Make the staged files visible and apply the mode (see the module docstring).

        Upserts, overwrites, dynamic overwrites (and the existence checks of errorifexists/ignore)
        read the target and replace what they read, so they hold the object's write lock
        (``_lock.py``) from before that read until after the publish: concurrent ones run one after
        the other, none loses an update. Appends only add
        uniquely named files and do not wait. A writer that cannot get the lock within
        ``lock_timeout`` raises ``WriteConflict`` and its staged data is removed.
        """
        fs, base = self._where(obj)
        try:
            lock = acquire_for_commit(self.store, obj, fs, base, spec)
        except BaseException:
            self._end_jobs(obj, fs, base, sorted({p.job_id for p in parts if p is not None}), spec)
            raise
        try:
            return self._commit(obj, parts, spec, fs, base, lock)
        finally:
            if lock is not None:
                lock.release()




    # ------------------------------------------------------------------ management
    def exists(self, obj: DataObject) -> bool:
        fs, base = self._where(obj)
        if _list_files(fs, base):
            return True
        if not _is_object_store(fs):  # a misconfigured store is an error, not "no data"
            blocked = not_a_folder_error(self.store, base, what=f"checking {obj.full_name!r}")
            if blocked is not None:
                raise blocked
        return False

    def delete(self, obj: DataObject) -> bool:
        """Remove the object's folder and everything in it; False when there was nothing."""
        fs, base = self._where(obj)
        self._check_local(obj, fs, base, action="deleting")
        info = fs.get_file_info(base)
        if info.type == pafs.FileType.NotFound:
            # nothing there only if the place exists: a missing bucket, or a regular file where the
            # store's folder should be, is the same error a read or write of the object gives
            if not _is_object_store(fs):
                blocked = not_a_folder_error(self.store, base, what=f"deleting {obj.full_name!r}")
                if blocked is not None:
                    raise blocked
            else:
                bucket, _, key = base.partition("/")
                if bucket and fs.get_file_info(bucket).type == pafs.FileType.NotFound:
                    endpoint = self.store.configs.get("endpoint_url") or "AWS S3"
                    raise DaoError(
                        f"deleting {obj.full_name!r} (store {obj.store_name!r}), bucket {bucket!r}, key {key!r} "
                        f"failed: bucket {bucket!r} does not exist at {endpoint}; create it or fix 'bucket' in "
                        "the store's configs"
                    )
            return False
        if info.type == pafs.FileType.File:
            fs.delete_file(base)
        else:
            fs.delete_dir(base)
        log.info("deleted %s at %s", obj.full_name, obj.location)
        return True

    def list_objects(self) -> list[str]:
        """Names of the visible top-level folders in the store's location."""
        root = self.store.location
        if root is None:
            return []
        fs, base = filesystem_for(self.store, root)
        out = []
        try:
            listing = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
        except io_errors() as exc:
            if not _is_object_store(fs) and os.path.isfile(base):
                raise DaoError(
                    f"listing store {self.store.name!r}: its path {base} is a regular file, not a folder. Point "
                    f"the store's 'path' in the catalog ({self.store.source}) at a folder"
                ) from exc
            raise DaoError(f"listing store {self.store.name!r} at {root} failed: {_describe(exc)}") from exc
        for fi in listing:
            name = posixpath.basename(fi.path)
            if fi.type == pafs.FileType.Directory and not _hidden(name):
                out.append(name)
        return sorted(out)


def _missing_bucket(store: Any, base: str) -> str | None:
    """Why an object store has nothing at ``base`` when its bucket does not exist (None otherwise,
    or when boto3 cannot tell)."""
    try:
        from . import _s3

        bucket = base.split("/", 1)[0]
        _s3.client_for(store).head_bucket(Bucket=bucket)
    except Exception as exc:  # noqa: BLE001 - only a definite "no such bucket" counts
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket"):
            endpoint = store.configs.get("endpoint_url") or "AWS S3"
            return f"bucket {bucket!r} does not exist at {endpoint}; create it or fix 'bucket' in the store's configs"
    return None
