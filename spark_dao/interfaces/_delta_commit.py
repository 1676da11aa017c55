"""The commit side of the Delta interface: one Delta commit per write (adds, and the removes of an
overwrite), retried against the new version on a conflict; the MERGE of an upsert; ``abort``.

A mixin of :class:`~spark_dao.interfaces.delta.DeltaInterface`, on the files interface's staging
protocol (:class:`~spark_dao.interfaces._publish.CommitProtocol`: live markers, late tasks, the sweep
of dead jobs' staging). Uses the interface's ``store``, ``_table``, ``_uri``, ``_storage_options``,
``_check_features``, ``exists`` and ``stage``.
"""

from __future__ import annotations

import json
import logging
import posixpath
import random
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

import pyarrow as pa

from ..catalog.model import DataObject
from ..errors import BackendNotInstalled, DaoError, WriteConflict
from . import _arrow
from ._delta_log import _is_conflict, _partition_map, _partition_string
from ._fs import filesystem_for
from ._layout import STAGING, _job_tag
from ._publish import CommitProtocol
from .base import StagedFile, StagedPart, WriteResult, WriteSpec

log = logging.getLogger("spark_dao.delta")

#: conflicting commits retried before WriteConflict
MAX_RETRIES = 3


def _deltalake() -> Any:
    try:
        import deltalake
    except ImportError as exc:
        raise BackendNotInstalled(
            "the delta interface needs the deltalake package: pip install 'spark-dao[delta]'"
        ) from exc
    return deltalake


def delta_errors() -> tuple[type[BaseException], ...]:
    """deltalake's errors (``DeltaError`` and its family), for the error boundary."""
    try:
        from deltalake.exceptions import DeltaError, TableNotFoundError
    except ImportError:
        return ()
    return (DeltaError, TableNotFoundError)



class DeltaCommit(CommitProtocol):
    """``commit`` and ``abort`` of the Delta interface (see the module docstring)."""

    def commit(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec) -> WriteResult:
        """One Delta commit: every staged file added; for overwrites, the read version's files
        (dynamic: of the partitions written) removed; upserts: one MERGE. A conflicting concurrent
        commit is retried against the new version (``max_retries``), then :class:`WriteConflict`.
        On any failure the staged files are deleted: no new version, no files left behind."""
        parts = [p for p in parts if p is not None]
        files = [f for p in parts for f in p.files]
        fs, base = self._where(obj)
        try:
            if spec.operation == "upsert":
                return self._commit_upsert(obj, parts, spec)
            return self._commit_files(obj, files, spec, sorted({p.job_id for p in parts}))
        except BaseException:
            self._delete_files(obj, files, staging=spec.operation == "upsert")
            raise
        finally:
            # end the job: a late (speculative) task finds its marker gone and removes its output
            self._end_jobs(obj, fs, base, sorted({p.job_id for p in parts}), spec)

    def _commit_files(self, obj: DataObject, files: list[StagedFile], spec: WriteSpec,
                      job_ids: list[str] = ()) -> WriteResult:
        deltalake = _deltalake()
        from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

        uri, storage = self._uri(obj), self._storage_options(obj)
        now = int(time.time() * 1000)
        adds = [
            AddAction(f.path,  # the path as on disk: deltalake encodes it for the log
                      int(f.size), _partition_map(f.path, spec), now, True,
                      f.stats or json.dumps({"numRecords": f.rows}))
            for f in files
        ]
        rows = sum(f.rows for f in files)
        schema = deltalake.Schema.from_arrow(spec.schema)
        partition_by = list(spec.partition_by) or None
        version = spec.options.get("read_version")
        retries = int(spec.options.get("max_retries", MAX_RETRIES))
        removed = 0
        for attempt in range(retries + 1):
            metrics = {"numFiles": str(len(files)), "numOutputRows": str(rows)}
            if version is None:
                if not self._has_log(obj):
                    create_table_with_add_actions(
                        uri, schema, adds, mode="error", partition_by=partition_by, storage_options=storage,
                        commit_properties=self._commit_properties(spec, metrics))
                    new_version = 0
                    break
                # another writer created the table since this write was prepared: commit on top of it
                version = self._rebase(obj, spec, None, attempt, retries)
            table = deltalake.DeltaTable(uri, version=version, storage_options=storage)
            if spec.mode == "errorifexists":
                raise DaoError(
                    f"object {obj.full_name!r} already has a Delta table at {obj.location} (store "
                    f"{obj.store_name!r}, version {version}, created while this write ran); nothing was committed"
                )
            if spec.mode == "ignore":
                self._delete_files(obj, files)
                return WriteResult(object=obj.full_name, mode=spec.mode, location=obj.location, skipped=True)
            replaced = self._replaced_files(table, files, spec)
            removed = len(replaced)
            metrics["numRemovedFiles"] = str(removed)
            full_overwrite = spec.mode == "overwrite" and not spec.options.get("replace_where")
            try:
                # removes of files with deletion vectors must name them: deltalake's removes cannot
                dv_removes = bool(replaced) and "deletionVectors" in (table.protocol().reader_features or ())
                if dv_removes or (spec.options.get("merge_schema") and not full_overwrite):
                    if not self._commit_raw(obj, table, files, replaced, spec, metrics, now):
                        raise FileExistsError(f"Delta version {version + 1} was committed by a concurrent writer")
                elif (spec.options.get("overwrite_schema") or spec.options.get("merge_schema")) and full_overwrite:
                    # every file replaced and the schema changed: deltalake's overwrite does both at once
                    table.create_write_transaction(list(adds), mode="overwrite", schema=schema,
                                                   partition_by=partition_by,
                                                   commit_properties=self._commit_properties(spec, metrics))
                else:
                    actions: list[Any] = list(adds) + [
                        RemoveAction(unquote(row["path"]), True, now, int(row["size_bytes"]), values or None)
                        for row, values in replaced]
                    table.create_write_transaction(actions, mode="append", schema=schema, partition_by=partition_by,
                                                   commit_properties=self._commit_properties(spec, metrics))
            except BaseException as exc:
                if not (_is_conflict(exc) or isinstance(exc, FileExistsError)):
                    raise
                version = self._rebase(obj, spec, exc, attempt, retries)
                continue
            new_version = deltalake.DeltaTable(uri, storage_options=storage).version()
            break
        self._drop_failed_attempts(obj, files, job_ids)
        partitions = tuple(sorted({posixpath.dirname(f.path) for f in files if spec.partition_by}))
        log.info("%s: committed Delta version %d (%s, %d files, %d rows)", obj.full_name, new_version, spec.mode,
                 len(files), rows)
        return WriteResult(object=obj.full_name, mode=spec.mode, location=f"{obj.location} (version {new_version})",
                           rows_written=rows, files_added=len(files), files_removed=removed, partitions=partitions)

    def latest_commit(self, obj: DataObject) -> dict[str, Any]:
        """The newest commit's ``commitInfo`` with its ``version`` ({} without a table)."""
        table = self._table(obj)
        return {} if table is None else self._commit_info(obj, int(table.version()))

    def _commit_info(self, obj: DataObject, version: int) -> dict[str, Any]:
        """The ``commitInfo`` of one commit, read from its log file (``DeltaTable.history`` holds the
        GIL while it waits on the network, stalling an in-process S3 server's threads)."""
        fs, base = filesystem_for(self.store, obj.location)
        try:
            with fs.open_input_stream(f"{base}/_delta_log/{version:020d}.json") as f:
                for line in f.read().decode().splitlines():
                    if line.startswith('{"commitInfo"'):
                        return {**json.loads(line)["commitInfo"], "version": version}
        except (OSError, ValueError):
            pass
        return {"version": version}

    @staticmethod
    def _replaced_files(table: Any, files: list[StagedFile], spec: WriteSpec) -> list[tuple[dict, dict]]:
        """The snapshot's files an overwrite replaces (dynamic: in the partitions written;
        replaceWhere: matching it), each with its partition values as the log spells them."""
        if spec.mode not in ("overwrite", "dynamic"):
            return []
        written = {tuple(sorted(_partition_map(f.path, spec).items())) for f in files}
        where = spec.options.get("replace_where")
        out = []
        for row in pa.table(table.get_add_actions(flatten=True)).to_pylist():
            values = {c: _partition_string(row.get(f"partition.{c}")) for c in spec.partition_by}
            if spec.mode == "dynamic" and tuple(sorted(values.items())) not in written:
                continue
            if where and not _matches_where(row, spec, where):
                continue
            out.append((row, values))
        return out

    def _commit_raw(self, obj: DataObject, table: Any, files: list[StagedFile], replaced: list[tuple[dict, dict]],
                    spec: WriteSpec, metrics: Mapping[str, str], now: int) -> bool:
        """One commit written by ``_delta_schema_commit``: mergeSchema (the new schema with the
        files), or removes of files that carry deletion vectors (each named with its vector, found
        by replaying the log; overwriteSchema then replaces the schema). False when a concurrent
        writer took the version."""
        from . import _delta_schema_commit as sc
        from ._delta_replay import active_files

        stored = _arrow.normalize_schema(pa.schema(table.schema().to_arrow()))
        what = f"writing {obj.full_name!r} (store {obj.store_name!r})"
        sc.check_writable(obj, table, what="mergeSchema" if spec.options.get("merge_schema") else "overwrite")
        if spec.options.get("merge_schema"):
            schema_json: str | None = sc.schema_string(table, sc.merged_schema(spec.schema, stored, what=what))
        elif spec.options.get("overwrite_schema"):
            from deltalake import Schema

            schema_json = Schema.from_arrow(spec.schema).to_json()
        else:
            schema_json = None  # the schema stays: no metaData action
        actions = [sc.add_action(f.path, f.size, _partition_map(f.path, spec),
                                 f.stats or json.dumps({"numRecords": f.rows}), now) for f in files]
        if replaced:
            fs, base = filesystem_for(self.store, obj.location)
            logged = active_files(obj, fs, base, int(table.version()))
            for row, values in replaced:
                path, dv = logged.get(unquote(row["path"]), (row["path"], None))
                actions.append(sc.remove_action(path, int(row["size_bytes"]), values, dv, now))
        mode = {"append": "Append", "dynamic": "Overwrite"}.get(spec.mode, "Overwrite")
        custom = self._commit_properties(spec, metrics).custom_metadata or {}
        info = sc.commit_info(mode, list(spec.partition_by), metrics, int(table.version()), custom,
                              merge_schema=bool(spec.options.get("merge_schema")))
        body = sc.log_lines(table, schema_json, actions, info)
        return sc.put_if_absent(self.store, obj.location, int(table.version()) + 1, body)

    def _drop_failed_attempts(self, obj: DataObject, files: list[StagedFile], job_ids: list[str]) -> None:
        """After the commit: delete the job's files that it did not commit (a task attempt that
        failed or lost a speculative race staged them). They are looked for in the folders the job
        committed into (an attempt of the same task writes the same partitions); with nothing
        committed, in the whole table. Best effort: what remains is invisible, and vacuum removes it."""
        import pyarrow.fs as pafs

        jobs = {_job_tag(j) for j in job_ids}
        if not jobs:
            return
        committed = {f.path for f in files}
        fs, base = self._where(obj)
        folders = sorted({posixpath.dirname(f.path) for f in files}) or [""]
        try:
            for folder in folders:
                root = f"{base}/{folder}" if folder else base
                selector = pafs.FileSelector(root, allow_not_found=True, recursive=not files)
                for info in fs.get_file_info(selector):
                    rel = info.path[len(base):].strip("/")
                    name = posixpath.basename(rel)
                    if (info.type == pafs.FileType.File and rel not in committed and not rel.startswith(("_", "."))
                            and any(name.startswith(tag) for tag in jobs)):
                        fs.delete_file(info.path)
                        log.info("%s: removed %s, staged by a failed task attempt of the committed job",
                                 obj.full_name, rel)
        except OSError as exc:
            log.warning("%s: could not remove the files of failed task attempts (invisible; vacuum removes "
                        "them): %s", obj.full_name, exc)

    def _rebase(self, obj: DataObject, spec: WriteSpec, exc: BaseException | None, attempt: int,
                retries: int) -> int:
        """After a conflict: the latest version to retry against (its schema and partitioning still
        fit), or :class:`WriteConflict` naming the commit that won once the retries are spent."""
        latest = self._table(obj)
        if latest is None:
            raise DaoError(f"writing {obj.full_name!r}: the Delta table at {obj.location} was deleted while "
                           "this write ran; nothing was committed")
        if exc is not None and attempt >= retries:
            won = self._commit_info(obj, int(latest.version()))
            said = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            raise WriteConflict(
                f"writing {obj.full_name!r} (store {obj.store_name!r}): a concurrent commit to the Delta table "
                f"(version {won.get('version', latest.version())}, {won.get('operation', '?')}) conflicts with "
                f"this {spec.operation if spec.operation == 'upsert' else spec.mode} after {attempt} "
                f"retr{'y' if attempt == 1 else 'ies'} (max_retries={retries}); nothing was committed and the "
                f"staged files were removed. Retry the write, or raise max_retries for writers that often "
                f"touch the same files. (Delta: {said})"
            ) from exc
        if exc is not None:  # jittered backoff: writers that collided do not collide again in lockstep
            time.sleep(random.uniform(0, min(2.0, 0.1 * 2 ** attempt)))
        self._check_features(obj, latest, adds_only=spec.operation == "write", removes=spec.mode != "append")
        stored = _arrow.normalize_schema(pa.schema(latest.schema().to_arrow()))
        if tuple(latest.metadata().partition_columns) != tuple(spec.partition_by):
            raise WriteConflict(
                f"writing {obj.full_name!r}: a concurrent commit changed the Delta table's partitioning to "
                f"{latest.metadata().partition_columns}; nothing was committed"
            )
        if spec.options.get("merge_schema"):
            from ._delta_schema_commit import merged_schema

            merged_schema(spec.schema, stored, what=f"writing {obj.full_name!r} (store {obj.store_name!r}, Delta "
                                                    f"version {latest.version()}, after a concurrent commit)")
        elif not spec.options.get("overwrite_schema"):
            _arrow.compatible_schema(spec.schema, stored,
                                     what=f"writing {obj.full_name!r} (store {obj.store_name!r}, Delta version "
                                          f"{latest.version()}, after a concurrent commit)")
        log.info("%s: Delta commit conflict (attempt %d); retrying against version %d", obj.full_name,
                 attempt + 1, latest.version())
        return int(latest.version())

    @staticmethod
    def _commit_properties(spec: WriteSpec, metrics: Mapping[str, str] | None = None) -> Any:
        from deltalake import CommitProperties

        meta: dict[str, Any] = {"engineInfo.dao": f"spark_dao {spec.operation} mode={spec.mode}"}
        if spec.options.get("usermetadata") is not None:
            meta["userMetadata"] = str(spec.options["usermetadata"])
        if metrics:
            meta["operationMetrics"] = dict(metrics)
        if spec.options.get("read_version") is not None:
            meta["readVersion"] = spec.options["read_version"]
        return CommitProperties(custom_metadata=meta)

    def _commit_upsert(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec) -> WriteResult:
        """One MERGE commit of the staged batch (see ``_delta_merge.py``)."""
        from dataclasses import replace

        from ._delta_merge import run_merge

        opts = spec.options["upsert"]
        what = f"upsert into {obj.full_name!r} (store {obj.store_name!r})"
        source, keys, rows = self._merge_source(obj, parts, spec, what=what)
        version = spec.options.get("read_version")
        if version is None and not self.exists(obj):
            # no table yet: the batch creates it (one commit, every row inserted)
            # (staged here on the driver, not by a Spark task: no live-marker lease to check)
            write_spec = replace(spec, operation="write", mode="append",
                                 options={**spec.options, "upsert": None, "lease": False})
            rows_in = source()
            batches = rows_in.to_batches() if isinstance(rows_in, pa.Table) else rows_in
            part = self.stage(obj, batches, write_spec, uuid.uuid4().hex)
            try:
                result = self._commit_files(obj, list(part.files), write_spec)
            except BaseException:
                self._delete_files(obj, list(part.files))
                raise
            self._delete_files(obj, [f for p in parts for f in p.files], staging=True)
            return replace(result, mode="upsert", rows_inserted=rows, rows_written=0)
        retries = int(spec.options.get("max_retries", MAX_RETRIES))
        for attempt in range(retries + 1):
            table = self._table(obj)
            if table is None:
                raise DaoError(f"{what}: the Delta table at {obj.location} was deleted while this upsert ran")
            try:
                metrics = run_merge(table, source(), keys, opts, tuple(spec.partition_by), what=what,
                                    commit_properties=self._commit_properties(spec),
                                    merge_schema=bool(spec.options.get("merge_schema")))
                break
            except BaseException as exc:
                if not _is_conflict(exc):
                    raise
                self._rebase(obj, spec, exc, attempt, retries)
        self._delete_files(obj, [f for p in parts for f in p.files], staging=True)
        version = self._table(obj).version()
        log.info("%s: MERGE committed Delta version %d: %s", obj.full_name, version, metrics)
        return WriteResult(
            object=obj.full_name, mode="upsert", location=f"{obj.location} (version {version})",
            rows_inserted=int(metrics.get("num_target_rows_inserted", 0)),
            rows_updated=int(metrics.get("num_target_rows_updated", 0)),
            rows_deleted=int(metrics.get("num_target_rows_deleted", 0)),
            files_added=int(metrics.get("num_target_files_added", 0)),
            files_removed=int(metrics.get("num_target_files_removed", 0)),
            files_rewritten=int(metrics.get("num_target_files_removed", 0)),
        )

    def _merge_source(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec, *,
                      what: str) -> tuple[Callable[[], Any], pa.Table, int]:
        """(a function giving the MERGE's source, the source's key columns, its rows).

        The pandas engine's batch is in memory. Batches staged by Spark tasks are checked on their
        key columns only (null keys, duplicates) and then streamed from the staged files into the
        MERGE, so the driver never holds the rows; only ``on_duplicates='keep_latest'`` with actual
        duplicates deduplicates the full rows in memory.
        """
        from ._delta_merge import prepare_batch
        from .upsert import prepare_incoming

        opts = spec.options["upsert"]
        files = [f for p in parts for f in p.files]
        if not files:
            tables = [p.table for p in parts if p.table is not None]
            batch = pa.concat_tables(tables) if tables else spec.schema.empty_table()
            batch, _ = prepare_batch(batch, opts, spec.schema, what=what)
            return (lambda: batch), batch, batch.num_rows
        import pyarrow.dataset as ds

        fs, base = filesystem_for(self.store, obj.location)
        staged = ds.dataset([f"{base}/{STAGING}/{f.path}" for f in files], schema=spec.schema, format="parquet",
                            filesystem=fs)
        columns = list(dict.fromkeys([*opts.keys, *([opts.order_by] if opts.order_by else [])]))
        keys, dropped = prepare_incoming(staged.to_table(columns=columns), opts, what=what)
        if dropped:  # keep_latest met duplicates: the full rows are needed to pick the newest
            batch, _ = prepare_batch(staged.to_table(), opts, spec.schema, what=what)
            return (lambda: batch), batch, batch.num_rows
        return (lambda: staged.scanner(batch_size=65536).to_reader()), keys, keys.num_rows

    def abort(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec | None = None, *,
              job_id: str | None = None) -> None:
        """End the job, then delete what it staged (files the log never referenced): the table is
        unchanged. The job's live marker goes first, so a task still staging removes its own files;
        files of the job's tasks that returned no message (a failed task) are found by their names."""
        fs, base = self._where(obj)
        parts = [p for p in parts if p is not None]
        job_ids = sorted({p.job_id for p in parts} | ({job_id} if job_id else set()))
        try:
            self._unmark(obj, fs, base, job_ids)
        except (OSError, DaoError) as exc:
            log.warning("%s: could not remove the live marker of job(s) %s: %s", obj.full_name, job_ids, exc)
        upsert = spec is not None and spec.operation == "upsert"
        self._delete_files(obj, [f for p in parts for f in p.files], staging=upsert)
        if not upsert:
            for job in job_ids:  # tasks that failed after writing some files
                self._remove_own(obj, fs, base, _job_tag(job), None)
        self._end_jobs(obj, fs, base, job_ids, spec)
        log.info("aborted write to %s; staged files removed", obj.full_name)

    # ------------------------------------------------------------------ the staging protocol's hooks
    def _dead_job_data(self, obj: DataObject, fs: Any, base: str, jobs: list[str]) -> list[str]:
        """The data files of dead jobs (a driver killed mid-write): in the table folder under their
        job's tag and never in the log. A job whose tag appears in any commit of the log, or among
        the latest version's files, is left alone (its driver died after committing). Returns the
        removed locations."""
        import posixpath

        import pyarrow.fs as pafs

        from ._layout import STAGING, _job_tag

        if not jobs:
            return []
        tags = tuple(_job_tag(j) for j in jobs)
        hidden = (f"{base}/_delta_log/", f"{base}/{STAGING}/")
        candidates = [fi.path for fi in fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
                      if fi.type == pafs.FileType.File and not fi.path.startswith(hidden)
                      and posixpath.basename(fi.path).startswith(tags)]
        if not candidates:
            return []
        mentioned = self._tags_in_log(obj, fs, base, tags)
        doomed = [p for p in candidates if not posixpath.basename(p).startswith(mentioned)] if mentioned else candidates
        if doomed:
            if self._use_boto3(obj, fs):
                from ._s3 import delete_paths

                delete_paths(self.store, doomed, what=repr(obj.full_name))
            else:
                for path in doomed:
                    fs.delete_file(path)
            log.info("%s: removed %d data file(s) of dead write jobs that the log never referenced",
                     obj.full_name, len(doomed))
        scheme = obj.location.partition("://")[0] + "://" if "://" in obj.location else ""
        return [f"{scheme}{p}" for p in doomed]

    @staticmethod
    def _tags_in_log(obj: DataObject, fs: Any, base: str, tags: tuple[str, ...]) -> tuple[str, ...]:
        """The job tags that some commit of the log (or the latest version's files) mentions."""
        import posixpath

        import pyarrow.fs as pafs

        from ._delta_replay import _CHECKPOINT, _COMMIT, active_files

        log_dir = f"{base}/_delta_log"
        names = [posixpath.basename(i.path) for i in fs.get_file_info(pafs.FileSelector(log_dir, allow_not_found=True))]
        found: set[str] = set()
        versions = []
        for n in names:
            m = _COMMIT.match(n)
            if m:
                versions.append(int(m.group(1)))
                with fs.open_input_stream(f"{log_dir}/{n}") as f:
                    text = f.read().decode("utf-8", "replace")
                found.update(t for t in tags if t in text)
        checkpoints = [int(m.group(1)) for m in map(_CHECKPOINT.match, names) if m]
        if checkpoints:
            # commits before a checkpoint may have been cleaned up: the latest files say the rest
            for path in active_files(obj, fs, base, max(versions + checkpoints)):
                found.update(t for t in tags if posixpath.basename(path).startswith(t))
        return tuple(sorted(found))

    def _where(self, obj: DataObject) -> tuple[Any, str]:
        return filesystem_for(self.store, obj.location)

    def _check_local(self, *args: Any, **kwargs: Any) -> None:
        """Not used by the Delta interface (the files interface's symlink check)."""

    def _delete_files(self, obj: DataObject, files: list[StagedFile], *, staging: bool = False) -> None:
        """Delete staged data files (``staging``: an upsert's batch, under ``_dao_staging/``)."""
        if not files:
            return
        fs, base = filesystem_for(self.store, obj.location)
        root = f"{base}/{STAGING}" if staging else base
        for f in files:
            try:
                fs.delete_file(f"{root}/{f.path}")
            except OSError as exc:  # best effort: unreferenced files are invisible; VACUUM removes them
                log.warning("could not remove staged file %s/%s of %s: %s", base, f.path, obj.full_name, exc)


def _matches_where(row: Mapping[str, Any], spec: WriteSpec, where: Any) -> bool:
    """Whether a file's partition values (typed, from the log) match a replaceWhere predicate."""
    from ._delta_log import _as_type
    from .filters import matches

    typed = {c: _as_type(row.get(f"partition.{c}"), spec.schema.field(c).type) for c in spec.partition_by}
    return matches(typed, where)
