"""The commit protocols of the files interface: publishing staged files (local moves, S3
multipart completes or copies), settling or undoing a commit whose deletes failed, the live markers
of running jobs, and sweeping the staging and uploads of ended or dead jobs (see the staging
protocol in :mod:`spark_dao.interfaces.files`).
"""

from __future__ import annotations

import logging
import os
import posixpath
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pyarrow.fs as pafs

from ..catalog.model import DataObject, DataStore
from ..catalog.settings import S3_COMMITS
from ..errors import DaoError, did_you_mean
from ._fs import IO_THREADS, _is_object_store, _wrap_io
from ._layout import (
    _UPLOAD_TAG,
    LIVE,
    STAGING,
    _job_tag,
    _list_files,
    _remove_empty_dirs,
    _rmdir,
)
from ._schema import SCHEMA_SIDECAR, record_partition_types
from ._staging import _write_empty
from .base import StagedFile, StagedPart, WriteResult, WriteSpec

log = logging.getLogger("spark_dao.files")

#: a job whose marker and staged data are all older than this many hours is dead (its driver died):
#: the next write sweeps it (store config ``stale_staging_hours``; ``dao.cleanup(older_than=...)``)
STALE_STAGING_HOURS = 24.0
#: rounds of deletes (each with the client's own retries) to finish or undo a commit whose last step
#: failed, and the pause before the second round (doubling)
SETTLE_ATTEMPTS = 3
SETTLE_BACKOFF = 0.5


class CommitProtocol:
    """The commit side of :class:`~spark_dao.interfaces.files.FilesInterface` (a base class of it):
    ``commit``'s publish and rollback, ``abort``, ``start_job``, ``cleanup`` and the sweep. Uses the
    interface's ``store``, ``_where`` and ``_check_local``."""

    store: DataStore

    def _commit(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec, fs: pafs.FileSystem,
                base: str, lock: Any) -> WriteResult:
        parts = [p for p in parts if p is not None]
        job_ids = sorted({p.job_id for p in parts})
        mtimes: dict[str, int | None] = {}
        hidden: set[str] = set()
        try:
            existing = _list_files(fs, base, mtimes=mtimes, hidden=hidden)
            recorded = SCHEMA_SIDECAR in hidden
            if existing and spec.mode == "errorifexists":
                raise DaoError(
                    f"object {obj.full_name!r} already has data at {obj.location} (store {obj.store_name!r}); "
                    "use mode='append', 'overwrite' or 'ignore'"
                )
            if existing and spec.mode == "ignore":
                return WriteResult(object=obj.full_name, mode=spec.mode, location=obj.location, skipped=True)
            if [rel for rel, _ in existing] == [""] and (spec.mode in ("append", "dynamic") or spec.operation == "upsert"):
                how = "an upsert" if spec.operation == "upsert" else f"mode {spec.mode!r}"
                raise DaoError(
                    f"writing {obj.full_name!r} (store {obj.store_name!r}): {obj.location} is a single file (stored "
                    f"as-is), not a dataset folder; {how} would add files beside it and hide it from readers. "
                    "Replace it with mode='overwrite', or write to another path"
                )
            # every folder a file is moved into, rewritten or deleted in must be inside the store (symlinks)
            self._check_local(obj, fs, base, [*(f.path for p in parts for f in p.files), *(rel for rel, _ in existing)],
                              action="committing the write to")
            if spec.operation == "upsert":
                from .files_upsert import commit_upsert

                return commit_upsert(self, obj, parts, spec, fs, base, existing, lock=lock, mtimes=mtimes,
                                     recorded=recorded)
            staged = [(p.job_id, f) for p in parts for f in p.files]
            touched = sorted({posixpath.dirname(f.path) for _, f in staged})
            if spec.mode == "overwrite":
                doomed = [rel for rel, _ in existing]
            elif spec.mode == "dynamic":
                touched_set = set(touched)
                doomed = [rel for rel, _ in existing if posixpath.dirname(rel) in touched_set]
            else:
                doomed = []
            write_empty = not staged and (spec.mode in ("overwrite", "errorifexists") or not existing)
            if lock is not None:
                lock.check()  # still ours after the listing: else stop before publishing anything
            # partition types inference would misread: recorded before the files appear (no reader sees them
            # mistyped), but after an overwrite of other data (a failed publish leaves that data as it was)
            before = not (spec.mode == "overwrite" and existing)
            noted = before and record_partition_types(obj, fs, base, spec, staged, recorded)
            added = self._publish(obj, fs, base, spec, staged, doomed, job_ids, write_empty=write_empty)
            noted = noted or (not before and record_partition_types(obj, fs, base, spec, staged, recorded))
            if recorded and not noted and spec.mode == "overwrite" and staged:
                # the listing showed an earlier write's schema sidecar (an empty write's, or partition
                # types): the new files and folders say the types now
                self._drop_sidecar(obj, fs, base, spec)
        finally:
            self._end_jobs(obj, fs, base, job_ids, spec)
        rows = sum(p.rows for p in parts)
        result = WriteResult(
            object=obj.full_name,
            mode=spec.mode,
            location=obj.location,
            rows_written=rows,
            rows_inserted=rows,
            files_added=added,
            files_removed=len(doomed),
            partitions=tuple(t for t in touched if t),
        )
        log.info("committed %s", result)
        return result

    def _publish(
        self,
        obj: DataObject,
        fs: pafs.FileSystem,
        base: str,
        spec: WriteSpec,
        staged: list[tuple[str, StagedFile]],
        doomed: list[str],
        job_ids: list[str],
        *,
        write_empty: bool = False,
    ) -> int:
        """Move staged files into place, then remove ``doomed`` ones; undo the moves on failure.

        Old files are removed only after every new file is in place, so a failure while moving
        leaves the previous data exactly as it was. Returns the number of files added.
        """
        remote = _is_object_store(fs)
        moved: list[str] = []
        new_dirs: set[str] = set()

        def move(item: tuple[str, StagedFile]) -> str:
            job_id, f = item
            dst = f"{base}/{f.path}"
            if f.upload is not None:  # an S3 multipart upload at its final key: complete it
                from ._s3 import complete_upload

                complete_upload(self.store, dst, f.upload, what=repr(obj.full_name))
                return dst
            src = f"{base}/{STAGING}/{job_id}/{f.source or f.path}"
            if remote:  # object stores have no folders to create
                fs.move(src, dst)  # S3: server-side copy + delete
                return dst
            for attempt in range(5):
                fs.create_dir(posixpath.dirname(dst), recursive=True)
                try:
                    fs.move(src, dst)
                    return dst
                except FileNotFoundError:
                    # another writer's commit removed the folder while it was empty: create it again
                    if attempt == 4 or not os.path.exists(src):
                        raise
            return dst

        try:
            new_dirs.update(posixpath.dirname(f.path) for _, f in staged)
            if remote and len(staged) > 1:
                # S3 commits are latency-bound: move files concurrently, keep track of each success
                with ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="spark_dao_commit") as pool:
                    futures = [pool.submit(move, item) for item in staged]
                    errors = []
                    for fut in futures:
                        try:
                            moved.append(fut.result())
                        except Exception as exc:  # collected: every finished move must be undone
                            errors.append(exc)
                    if errors:
                        raise errors[0]
            else:
                for item in staged:
                    moved.append(move(item))
            if write_empty:
                moved.append(_write_empty(fs, base, spec, job_ids[0] if job_ids else uuid.uuid4().hex))
        except Exception as exc:
            # Old files are still in place: undo the new ones. A move that failed may have been
            # applied all the same (its answer lost), so remove every destination of this commit;
            # their names are unique to the job, and one that does not exist costs nothing.
            moved = sorted(set(moved) | {f"{base}/{f.path}" for _, f in staged})
            try:
                self._delete_retrying(obj, fs, spec, moved)
            except (OSError, DaoError) as undo:
                log.warning("could not roll back %d new file(s) of %s: %s", len(moved), obj.full_name, undo)
                raise DaoError(
                    f"writing {obj.full_name!r} (store {obj.store_name!r}): commit failed while moving files "
                    f"into {obj.location} ({exc}), and the file(s) it had already published could not "
                    f"be removed ({undo}): the object holds the previous data plus some of these files: "
                    f"{', '.join(sorted(moved)[:5])}{' ...' if len(moved) > 5 else ''}; delete them, or re-run "
                    "the write"
                ) from exc
            # (uploads not completed yet are aborted by _cleanup)
            # and the partition folders this commit created for them
            if not remote:
                _remove_empty_dirs(fs, base, new_dirs)
            raise DaoError(
                f"writing {obj.full_name!r} (store {obj.store_name!r}): commit failed while moving "
                f"files into {obj.location}; the previous data is unchanged: {exc}"
            ) from exc
        doomed_paths = [f"{base}/{rel}" if rel else base for rel in doomed]
        try:
            self._delete(obj, fs, spec, doomed_paths)
        except (OSError, DaoError) as exc:
            self._settle(obj, fs, base, spec, doomed_paths, moved, exc)
        if doomed and not remote:
            _remove_empty_dirs(fs, base, {posixpath.dirname(r) for r in doomed})
        return len(moved)

    def _settle(self, obj: DataObject, fs: pafs.FileSystem, base: str, spec: WriteSpec, doomed: list[str],
                moved: list[str], exc: BaseException) -> None:
        """The new files are in place but removing the old ones failed: never leave both visible.

        The failed request may have been applied (its answer lost), wholly or in part: look. If
        every old file is still there, remove the new ones (the previous data, and an error); else
        finish removing the old ones (the new data: the commit succeeded). Only when the storage
        keeps failing through this too does a ``DaoError`` say that both are visible, and which.
        """
        what = f"writing {obj.full_name!r} (store {obj.store_name!r})"
        try:
            present = {f"{base}/{rel}" if rel else base for rel, _ in _list_files(fs, base)}
            remaining = [p for p in doomed if p in present]
            if remaining and len(remaining) == len(doomed):
                self._delete_retrying(obj, fs, spec, moved)
                raise DaoError(
                    f"{what}: commit failed while removing the previous files of {obj.location}; the new "
                    f"files were removed again and the previous data is unchanged: {exc}"
                ) from exc
            self._delete_retrying(obj, fs, spec, remaining)
            log.warning("%s: removing the previous files needed a second try (%s); the commit is complete",
                        what, exc)
        except DaoError as fail:
            if fail.__cause__ is exc:
                raise
            raise self._mixed(what, obj, doomed, exc, fail) from exc
        except OSError as fail:
            raise self._mixed(what, obj, doomed, exc, fail) from exc

    @staticmethod
    def _mixed(what: str, obj: DataObject, doomed: list[str], exc: BaseException, fail: BaseException) -> DaoError:
        return DaoError(
            f"{what}: the new files are in place but the previous ones could not be removed ({exc}; then "
            f"{fail}): {obj.location} may hold old and new data together. Re-run the write, or delete the "
            f"previous files: {', '.join(sorted(doomed)[:5])}{' ...' if len(doomed) > 5 else ''}"
        )

    def _delete_retrying(self, obj: DataObject, fs: pafs.FileSystem, spec: WriteSpec, paths: list[str]) -> None:
        """:meth:`_delete`, a few more times on failure: it is idempotent, and undoing or finishing a
        commit is worth more patience than one request's retries (a missing file is not an error)."""
        for attempt in range(SETTLE_ATTEMPTS):
            try:
                self._delete(obj, fs, spec, paths)
                return
            except FileNotFoundError:  # local disks: one already gone stopped the loop; go on with the rest
                paths = [p for p in paths if fs.get_file_info(p).type != pafs.FileType.NotFound]
                if not paths:
                    return
            except (OSError, DaoError):
                if attempt == SETTLE_ATTEMPTS - 1:
                    raise
                time.sleep(SETTLE_BACKOFF * 2**attempt)
        if paths:
            self._delete(obj, fs, spec, paths)

    def _delete(self, obj: DataObject, fs: pafs.FileSystem, spec: WriteSpec, paths: list[str]) -> None:
        if not paths:
            return
        if spec.options.get("s3_commit") == "multipart":
            from ._s3 import delete_paths

            delete_paths(self.store, paths, what=repr(obj.full_name))  # batched, no folder markers
        elif _is_object_store(fs) and len(paths) > 1:
            with ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="spark_dao_commit") as pool:
                list(pool.map(fs.delete_file, paths))
        else:
            for path in paths:
                fs.delete_file(path)

    def _drop_sidecar(self, obj: DataObject, fs, base: str, spec: WriteSpec) -> None:
        path = f"{base}/{SCHEMA_SIDECAR}"
        try:
            if spec.options.get("s3_commit") == "multipart":
                from ._s3 import delete_paths

                delete_paths(self.store, [path], what=repr(obj.full_name))  # no folder marker re-created
            else:
                fs.delete_file(path)
        except FileNotFoundError:
            pass
        except (OSError, DaoError) as exc:  # a stale sidecar only types columns the files leave untyped
            log.warning("could not remove %s: %s", path, exc)

    def _use_boto3(self, obj: DataObject, fs: pafs.FileSystem) -> bool:
        """S3 staging is listed and deleted with boto3 when it is installed: batched, and without
        the folder-marker objects pyarrow re-creates after each delete."""
        import importlib.util

        from ._s3 import S3_SCHEMES

        return (_is_object_store(fs) and "://" in obj.location
                and obj.location.partition("://")[0].lower() in S3_SCHEMES
                and importlib.util.find_spec("boto3") is not None)

    def _mark_live(self, obj: DataObject, fs, base: str, job_id: str) -> None:
        path = f"{base}/{STAGING}/{job_id}{LIVE}"
        if self._use_boto3(obj, fs):
            from ._s3 import put_marker

            put_marker(self.store, path, b"", what=f"the live marker of a write to {obj.full_name!r}")
        elif _is_object_store(fs):
            with fs.open_output_stream(path) as f:
                f.write(b"")
        else:
            for attempt in range(10):
                try:
                    os.makedirs(posixpath.dirname(path), exist_ok=True)
                    with open(path, "wb"):
                        pass
                    return
                except (FileNotFoundError, FileExistsError):
                    # another writer removed the empty staging folder just now (makedirs then sees
                    # EEXIST for a folder that is gone by the time it checks): create it again
                    if attempt == 9:
                        raise

    def _is_live(self, obj: DataObject, fs, base: str, job_id: str) -> bool:
        path = f"{base}/{STAGING}/{job_id}{LIVE}"
        if self._use_boto3(obj, fs):
            from ._s3 import key_exists

            return key_exists(self.store, path, what=f"the live marker of a write to {obj.full_name!r}")
        return fs.get_file_info(path).type == pafs.FileType.File

    def _unmark(self, obj: DataObject, fs, base: str, job_ids: list[str]) -> None:
        paths = [f"{base}/{STAGING}/{j}{LIVE}" for j in job_ids]
        if self._use_boto3(obj, fs):
            from ._s3 import delete_paths

            delete_paths(self.store, paths, what=repr(obj.full_name))
            return
        for path in paths:
            try:
                fs.delete_file(path)
            except FileNotFoundError:
                pass

    def _remove_own(self, obj: DataObject, fs, staging: str, stem: str, multipart: Any) -> None:
        """A task whose job ended while it staged: remove what it wrote, the files named ``stem*``
        (best effort, logged: the next write or ``dao.cleanup`` removes what remains)."""
        try:
            if multipart is not None:
                multipart.abort_quietly()
                return
            infos = fs.get_file_info(pafs.FileSelector(staging, recursive=True, allow_not_found=True))
            mine = [fi.path for fi in infos
                    if fi.type == pafs.FileType.File and posixpath.basename(fi.path).startswith(stem)]
            if mine and self._use_boto3(obj, fs):
                from ._s3 import delete_paths

                delete_paths(self.store, mine, what=repr(obj.full_name))
            else:
                for path in mine:
                    fs.delete_file(path)
            if not _is_object_store(fs):
                _remove_empty_dirs(fs, staging, {posixpath.dirname(p[len(staging) + 1:]) for p in mine})
                if _rmdir(staging):  # and the shared staging folder, only if no other job uses it
                    _rmdir(posixpath.dirname(staging))
        except (OSError, DaoError) as exc:
            log.warning("%s: could not remove the output of a task of an ended job (the next write or "
                        "dao.cleanup removes it): %s", obj.full_name, exc)

    def _end_jobs(self, obj: DataObject, fs, base: str, job_ids: list[str], spec: WriteSpec | None) -> None:
        """Unmark the jobs, then remove their staging and uploads, and any dead job's (best effort:
        a failure here is logged, never raised over a commit that succeeded)."""
        try:
            self._unmark(obj, fs, base, job_ids)
        except (OSError, DaoError) as exc:
            log.warning("%s: could not remove the live marker of job(s) %s: %s", obj.full_name, job_ids, exc)
        try:
            self._sweep(obj, fs, base, own=job_ids, older_than=self._stale_hours(), spec=spec)
        except (OSError, DaoError) as exc:
            log.warning("%s; the next write or dao.cleanup(%r) retries; on S3 also add a bucket lifecycle "
                        "rule (AbortIncompleteMultipartUpload)", exc, obj.full_name)

    def _dead_job_data(self, obj: DataObject, fs, base: str, jobs: list[str]) -> list[str]:
        """Data a dead job wrote outside the staging folder (none here: files stage inside it;
        Delta tasks write into the table folder), removed by the sweep; returns what was removed."""
        return []

    def _stale_hours(self) -> float:
        value = self.store.configs.get("stale_staging_hours", STALE_STAGING_HOURS)
        try:
            hours = float(value)
        except (TypeError, ValueError):
            hours = -1.0
        if hours < 0 or isinstance(value, bool):
            raise DaoError(f"store {self.store.name!r}: stale_staging_hours={value!r} must be a number of "
                           "hours >= 0")
        return hours

    def _sweep(self, obj: DataObject, fs, base: str, *, own: list[str], older_than: float,
               spec: WriteSpec | None) -> list[str]:
        """Remove the staged files and uploads of the jobs in ``own`` and of every dead job.

        Safe next to running writers: the uploads are listed first, then the staging folder, and a
        job that looks dead is checked again just before removal; a running job marks itself live
        before it stages anything, so its marker is always seen.
        """
        import time

        now = time.time()
        boto = self._use_boto3(obj, fs)
        root = f"{base}/{STAGING}"
        uploads: list[tuple[str, str, float]] = []
        if boto:
            from ._s3 import list_uploads

            uploads = [u for u in list_uploads(self.store, base, what=repr(obj.full_name))
                       if _UPLOAD_TAG.match(posixpath.basename(u[0]))
                       or posixpath.basename(u[0]).startswith(tuple(_job_tag(j) for j in own))]
        staged, markers, loose = self._scan_staging(obj, fs, root, boto)
        newest: dict[str, float] = {j: max(t for _, t in items) for j, items in staged.items() if items}
        for key, _, initiated in uploads:
            m = _UPLOAD_TAG.match(posixpath.basename(key))
            if m:
                newest[m.group(1)] = max(newest.get(m.group(1), 0.0), initiated)
        limit = now - older_than * 3600
        own_set = set(own)

        def live(job: str) -> bool:
            if job in own_set or job not in markers:
                return False
            return max(markers[job], newest.get(job, 0.0), newest.get(job[:8], 0.0)) > limit

        live_jobs = {j for j in markers if live(j)}
        dead_dirs = [j for j in staged if j not in live_jobs]
        # a job that started after the listing: its marker exists now
        dead_dirs = [j for j in dead_dirs if j in own_set or j in markers
                     or not self._is_live(obj, fs, base, j)]
        live_tags = {j[:8] for j in live_jobs}
        own_tags = tuple(_job_tag(j) for j in own)
        dead_uploads = []
        for key, upload_id, _ in uploads:
            name = posixpath.basename(key)
            m = _UPLOAD_TAG.match(name)
            if (own_tags and name.startswith(own_tags)) or (m and m.group(1) not in live_tags):
                dead_uploads.append((key, upload_id))
        stale_markers = [j for j in markers if j not in live_jobs and j not in own_set]

        removed: list[str] = []
        scheme = obj.location.partition("://")[0] + "://" if "://" in obj.location else ""
        # before the markers go: they are how a dead job's data outside the staging is found
        removed += self._dead_job_data(obj, fs, base, stale_markers)
        if dead_uploads:
            from ._s3 import abort_uploads

            abort_uploads(self.store, dead_uploads, what=repr(obj.full_name))
            removed += [f"{scheme}{k} (uncompleted upload)" for k, _ in dead_uploads]
            log.info("%s: aborted %d uncompleted upload(s) of ended or dead jobs", obj.full_name, len(dead_uploads))
        doomed = [p for j in dead_dirs for p, _ in staged[j]]
        doomed += [f"{root}/{j}{LIVE}" for j in stale_markers] + loose
        if doomed:
            if boto:
                from ._s3 import delete_paths

                delete_paths(self.store, doomed, what=repr(obj.full_name))
            elif _is_object_store(fs):  # pyarrow alone (no boto3): it may leave folder markers
                for job in dead_dirs:
                    fs.delete_dir(f"{root}/{job}")
                for path in [f"{root}/{j}{LIVE}" for j in stale_markers]:
                    fs.delete_file(path)
            else:
                import shutil

                for job in dead_dirs:
                    shutil.rmtree(f"{root}/{job}", ignore_errors=True)
                for path in [f"{root}/{j}{LIVE}" for j in stale_markers] + loose:
                    try:
                        os.remove(path)
                    except FileNotFoundError:
                        pass
            removed += [f"{scheme}{root}/{j}/" for j in dead_dirs]
            removed += [f"{scheme}{root}/{j}{LIVE}" for j in stale_markers] + [f"{scheme}{p}" for p in loose]
        if not _is_object_store(fs):
            _rmdir(root)  # only when empty: never removes what a concurrent writer just created
        elif not boto:
            # pyarrow re-creates the parent's folder marker after each delete; without boto3 there is
            # no marker-free delete, so remove the empty staging folder as pyarrow does (not safe
            # next to a concurrent writer: install boto3 for that)
            try:
                if not fs.get_file_info(pafs.FileSelector(root, allow_not_found=True)):
                    fs.delete_dir(root)
            except OSError:
                pass
        return removed

    def _scan_staging(self, obj: DataObject, fs, root: str, boto: bool
                      ) -> tuple[dict[str, list[tuple[str, float]]], dict[str, float], list[str]]:
        """The staging folder: ({job: [(path, mtime)]}, {job: live marker's mtime}, loose paths)."""
        staged: dict[str, list[tuple[str, float]]] = {}
        markers: dict[str, float] = {}
        loose: list[str] = []
        if boto:
            from ._s3 import list_keys

            entries = list_keys(self.store, root, what=repr(obj.full_name))
        else:
            try:
                infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
            except (NotADirectoryError, FileNotFoundError):
                infos = []
            entries = []
            for fi in infos:
                mtime = fi.mtime.timestamp() if fi.mtime else 0.0
                if fi.type == pafs.FileType.File:
                    entries.append((fi.path, mtime))
                elif fi.type == pafs.FileType.Directory and "/" not in fi.path[len(root):].strip("/"):
                    entries.append((fi.path + "/", mtime))  # a job folder (its age counts, even empty)
        for path, mtime in entries:
            rel = path[len(root):].lstrip("/") if path.startswith(root) else ""
            if not rel:
                loose.append(path)  # the staging folder's own marker object
                continue
            job, sep, _ = rel.partition("/")
            if sep:
                staged.setdefault(job, []).append((path, mtime))
            elif rel.endswith(LIVE):
                markers[rel[: -len(LIVE)]] = mtime
            else:
                staged.setdefault(job, []).append((path, mtime))
        return staged, markers, loose

    def _s3_commit(self, obj: DataObject, opts: Mapping[str, Any]) -> str:
        """How a write to S3 becomes visible: ``multipart`` or ``copy``; ``""`` off S3."""
        from ._s3 import S3_SCHEMES

        value = opts.get("s3_commit", self.store.configs.get("s3_commit"))
        if value is not None:
            value = str(value).strip().lower()
            if value not in S3_COMMITS:
                raise DaoError(
                    f"writing {obj.full_name!r} (store {obj.store_name!r}): s3_commit={value!r} is not valid."
                    f"{did_you_mean(value, S3_COMMITS)} Valid: multipart (the default), copy"
                )
        if obj.location.partition("://")[0].lower() not in S3_SCHEMES or "://" not in obj.location:
            return ""
        if value == "multipart":
            from ..errors import require

            require("boto3", "s3")
            return value
        if value is None:
            import importlib.util

            # boto3 drives the multipart protocol; without it, fall back to staging + server-side copy
            return "multipart" if importlib.util.find_spec("boto3") is not None else "copy"
        return value

    def abort(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec | None = None, *,
              job_id: str | None = None) -> None:
        """End the job and remove what it staged; the target is left as it was.

        The job's live marker goes first, so a task still staging removes its own output when it
        finds the marker gone (see :meth:`stage`); then the job's staging and uploads are removed.
        """
        fs, base = self._where(obj)
        job_ids = {p.job_id for p in parts if p is not None}
        if job_id:
            job_ids.add(job_id)
        self._end_jobs(obj, fs, base, sorted(job_ids), spec)
        log.info("aborted write to %s; staging removed", obj.full_name)

    # ------------------------------------------------------------------ the staging protocol
    def start_job(self, obj: DataObject, spec: WriteSpec, job_id: str) -> WriteSpec:
        """Driver side, before any task runs (Spark): mark the job live; tasks then check it.

        Returns the spec to ship to the tasks. ``commit``/``abort`` end the job.
        """
        fs, base = self._where(obj)
        self._mark_live(obj, fs, base, job_id)
        return replace(spec, options={**spec.options, "lease": True})

    @_wrap_io("cleaning up the staging of")
    def cleanup(self, obj: DataObject, *, older_than: float | None = None) -> list[str]:
        """Remove the staging and uncompleted uploads of dead jobs: ended ones (committed or aborted,
        whatever a late task left), and running ones with nothing newer than ``older_than`` hours
        (default: the store's ``stale_staging_hours``, 24). Returns what was removed.

        >>> dao.cleanup("silver.events", older_than=48)          # doctest: +SKIP
        """
        hours = self._stale_hours() if older_than is None else float(older_than)
        if hours < 0:
            raise DaoError(f"cleaning up {obj.full_name!r}: older_than={older_than!r} must be >= 0 hours")
        fs, base = self._where(obj)
        return self._sweep(obj, fs, base, own=[], older_than=hours, spec=None)
