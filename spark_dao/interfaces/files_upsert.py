"""Upserts on file datasets: copy-on-write of only the files the batch touches.

Runs in the driver's ``commit`` after the tasks staged the incoming rows:

1. read the staged incoming rows; reject null keys and duplicates (or keep the latest);
2. scan only the key (+ ``order_by``) columns of the stored files — of the partitions present in
   the batch when every partition column is a key (a key cannot move partitions then), else of all;
3. decide the merge with :mod:`spark_dao.interfaces.upsert` (the rules shared by every store);
4. rewrite each file holding a replaced (or, for ``delete_unmatched``, deleted) key without those
   rows, stage the incoming rows, then publish: new files in, rewritten files out.

Files holding none of the batch's keys are never rewritten. A failure at any step leaves the target
as it was: the new files are published first, then the rewritten ones are retired (renamed aside
locally, copied to a hidden backup on object stores, then deleted); if retiring fails midway, the
new files are removed and every retired file is put back under its own name before the error is
raised. Only after that are the backups deleted.

Concurrency: the commit holds the object's write lock (``_lock.py``), so the keys it scans are the
state it replaces. As a second line (stores without the lock, a lease lost in a stall), the files
whose keys were read are checked again just before publishing (same name, size and modification
time); if one changed, nothing is published and :class:`~spark_dao.errors.WriteConflict` is raised.
"""

from __future__ import annotations

import bisect
import logging
import posixpath
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from ..catalog.model import DataObject
from ..errors import DaoError, WriteConflict
from . import _key_index
from ._fs import IO_THREADS, _file_error, _is_object_store, io_errors
from ._layout import STAGING, _partition_values, _remove_empty_dirs, _typed
from ._read import FileSlice, FilesReadPayload
from ._schema import _parquet_fragment, record_partition_types
from .base import ReadTask, StagedFile, StagedPart, WriteResult, WriteSpec
from .upsert import UpsertOptions, affected_rows, plan_merge, prepare_incoming, split_stored

if TYPE_CHECKING:
    from ._lock import ObjectLock
    from .files import FilesInterface

import pyarrow.fs as pafs

log = logging.getLogger("spark_dao.files")
_FILE = "__dao_file__"


def _read(itf: FilesInterface, obj: DataObject, spec: WriteSpec, root: str, rels: list[str],
          columns: list[str] | None = None, sizes: dict[str, int] | None = None) -> pa.Table:
    """Rows of ``rels`` (relative to ``root``) with partition values from their paths."""
    part_cols = list(spec.partition_by)
    full = spec.schema
    out_schema = pa.schema([full.field(c) for c in (columns or full.names)])
    data_schema = pa.schema([f for f in full if f.name not in part_cols])
    batches: list[pa.RecordBatch] = []
    for rel in rels:
        values = dict(_partition_values(rel))
        partition = tuple((c, _typed(values.get(c), full.field(c).type)) for c in part_cols)
        payload = FilesReadPayload(
            spec.format, root, (FileSlice(rel, None, partition, (sizes or {}).get(rel, 0)),), out_schema, data_schema,
            spec.options.get("header", True), spec.options.get("delimiter", ","),
        )
        batches.extend(itf.read(ReadTask(obj=obj, payload=payload)))
    return pa.Table.from_batches(batches, schema=out_schema)


def _may_hold(stats: Any, probe: list[Any]) -> bool:
    """Can a row group whose key statistics are ``stats`` hold one of the sorted ``probe`` keys?"""
    if stats is None or not stats.has_min_max:
        return True
    try:
        i = bisect.bisect_left(probe, stats.min)
        return i < len(probe) and probe[i] <= stats.max
    except TypeError:  # statistics of a type that does not compare with the keys: read it
        return True


def _scan_parquet_keys(fs: pafs.FileSystem, base: str, rel: str, size: int, spec: WriteSpec,
                       key_cols: list[str], first_key: str, probe: list[Any], *, obj: DataObject,
                       ranges: dict[str, Any] | None = None) -> pa.Table:
    """Key columns of one parquet file, reading only the row groups the statistics cannot exclude.

    The size from the listing is passed on, so object stores need no HEAD request per file: one
    ranged GET for the footer, then (if any row group may hold a key) coalesced column reads.
    """
    from . import _arrow

    schema = pa.schema([spec.schema.field(c) for c in key_cols])
    try:
        frag = _parquet_fragment(fs, f"{base}/{rel}", size)
        frag.ensure_complete_metadata()  # the footer
        names = frag.physical_schema.names
        groups = [rg.id for rg in frag.row_groups]
        if first_key in names:
            idx = names.index(first_key)
            meta = frag.metadata
            if ranges is not None:  # for the key index (_key_index.py)
                ranges[rel] = _key_index.file_range(meta, idx)
            groups = [g for g in groups if _may_hold(meta.row_group(g).column(idx).statistics, probe)]
        if not groups:
            return schema.empty_table()
        table = frag.subset(row_group_ids=groups).to_table(columns=[c for c in key_cols if c in names])
    except io_errors() as exc:
        raise _file_error(obj, f"{base}/{rel}", "parquet", exc, action="upserting into") from exc
    values = dict(_partition_values(rel))
    constants = {c: _typed(values.get(c), schema.field(c).type) for c in key_cols if c in spec.partition_by}
    batches = [_arrow.conform(b, schema, constants=constants) for b in table.to_batches()]
    return pa.Table.from_batches(batches, schema=schema)


def _map(fn: Any, items: Any, fs: pafs.FileSystem) -> list[Any]:
    """``[fn(x) for x in items]``, concurrently on object stores (each read is a few round trips)."""
    items = list(items)
    if len(items) < 2 or not _is_object_store(fs):
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="spark_dao_upsert") as pool:
        return list(pool.map(fn, items))


class _Stop(DaoError):
    """Ends the stream of rewritten rows after a failed read (the commit raises the read's error)."""


def _map_ahead(fn: Any, items: list[Any], fs: pafs.FileSystem, ahead: int = 4) -> Iterator[Any]:
    """``fn(x)`` for each item, in order, as they are consumed: on object stores up to ``ahead`` run
    concurrently (bounded memory); a failure is yielded as its exception (the caller decides)."""
    if len(items) < 2 or not _is_object_store(fs):
        for x in items:
            try:
                yield fn(x)
            except (OSError, DaoError) as exc:
                yield exc
                return
        return
    from collections import deque

    with ThreadPoolExecutor(max_workers=min(ahead, IO_THREADS), thread_name_prefix="spark_dao_upsert") as pool:
        pending: deque = deque(pool.submit(fn, x) for x in items[:ahead])
        rest = iter(items[ahead:])
        while pending:
            fut = pending.popleft()
            try:
                value = fut.result()
            except (OSError, DaoError) as exc:
                for other in pending:
                    other.cancel()
                yield exc
                return
            nxt = next(rest, None)
            if nxt is not None:
                pending.append(pool.submit(fn, nxt))
            yield value


def _snapshot(fs: pafs.FileSystem, base: str, rels: list[str]) -> dict[str, tuple[int, int | None]]:
    """(size, mtime in ns) of the files ``rels`` that exist: one listing (one LIST request on S3)."""
    if not rels:
        return {}
    if rels == [""]:  # the object is a single file
        infos = fs.get_file_info([base])
        prefix = base
    else:
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        prefix = base + "/"
    wanted = set(rels)
    out = {}
    for fi in infos:
        rel = fi.path[len(prefix):] if fi.path.startswith(prefix) else ("" if fi.path == base else None)
        if rel in wanted and fi.type == pafs.FileType.File:
            out[rel] = (fi.size or 0, fi.mtime_ns)
    return out


def _check_unchanged(what: str, obj: DataObject, fs: pafs.FileSystem, base: str,
                     read: dict[str, tuple[int, int | None]], sizes: dict[str, int],
                     cause: BaseException | None = None) -> None:
    """Optimistic check: raise ``WriteConflict`` if a file whose keys were read changed since."""
    now = _snapshot(fs, base, sorted(read))
    changed = [rel for rel, (size, mtime) in read.items()
               if rel not in now or now[rel][0] != size or now[rel][0] != sizes.get(rel, size)
               or (mtime is not None and now[rel][1] is not None and now[rel][1] != mtime)]
    missing = [rel for rel in sizes if rel not in read]
    if changed or missing:
        files = (changed + missing)[:5]
        raise WriteConflict(
            f"{what}: another writer changed {len(changed) + len(missing)} file(s) this upsert read, "
            f"e.g. {', '.join(repr(f) for f in files)} under {obj.location}; nothing was published and the "
            "object is as the other writer left it. Retry the upsert."
        ) from cause


def _backup_path(path: str, tag: str) -> str:
    folder, name = posixpath.split(path)
    return f"{folder}/.{name}.dao-old-{tag}"  # hidden: readers skip names starting with "."


def _move(fs: pafs.FileSystem, src: str, dst: str) -> None:
    fs.move(src, dst)


def _copy(fs: pafs.FileSystem, src: str, dst: str) -> None:
    fs.copy_file(src, dst)


def _retire(itf: FilesInterface, obj: DataObject, fs: pafs.FileSystem, spec: WriteSpec,
            old: list[str], tag: str) -> list[tuple[str, str]]:
    """Take the rewritten files out of the object, keeping each restorable until the upsert is done.

    Local: a rename aside (atomic, no copy). Object stores: a server-side copy to the backup name,
    then a batched delete of the originals. On failure the ones already retired are put back and
    the error is raised. Returns (original, backup) pairs for :func:`_drop_backups`.
    """
    pairs = [(path, _backup_path(path, tag)) for path in old]
    if _is_object_store(fs):
        try:
            _map(lambda p: _copy(fs, *p), pairs, fs)
            itf._delete(obj, fs, spec, [src for src, _ in pairs])
        except BaseException:
            _restore(itf, obj, fs, spec, pairs)
            raise
        return pairs
    done: list[tuple[str, str]] = []
    try:
        for src, dst in pairs:
            _move(fs, src, dst)
            done.append((src, dst))
    except BaseException:
        _restore(itf, obj, fs, spec, done)
        raise
    return pairs


def _restore(itf: FilesInterface, obj: DataObject, fs: pafs.FileSystem, spec: WriteSpec,
             pairs: list[tuple[str, str]]) -> None:
    """Put retired files back under their own names (those whose original is gone)."""
    if not pairs:
        return
    remote = _is_object_store(fs)
    infos = fs.get_file_info([p for pair in pairs for p in pair])
    for i, (src, dst) in enumerate(pairs):
        if infos[2 * i + 1].type == pafs.FileType.File and infos[2 * i].type != pafs.FileType.File:
            (_copy if remote else _move)(fs, dst, src)
    if remote:
        _drop_backups(itf, obj, fs, spec, pairs)


def _drop_backups(itf: FilesInterface, obj: DataObject, fs: pafs.FileSystem, spec: WriteSpec,
                  pairs: list[tuple[str, str]]) -> None:
    """Delete the backups (best effort: a leftover is hidden from readers and only costs space)."""
    backups = [dst for _, dst in pairs]
    if not backups:
        return
    try:
        if _is_object_store(fs):
            itf._delete(obj, fs, spec, backups)  # S3: batched, no folder markers
        else:
            for dst in backups:
                try:
                    fs.delete_file(dst)
                except FileNotFoundError:
                    pass
    except (OSError, DaoError) as exc:
        log.warning("%s: could not delete the hidden backups of rewritten files (e.g. %s): %s",
                    obj.full_name, backups[0], exc)


def commit_upsert(
    itf: FilesInterface,
    obj: DataObject,
    parts: list[StagedPart],
    spec: WriteSpec,
    fs: pafs.FileSystem,
    base: str,
    existing: list[tuple[str, int]],
    *,
    lock: ObjectLock | None = None,
    mtimes: dict[str, int | None] | None = None,
    recorded: bool = False,
) -> WriteResult:
    """Merge the staged batch into the object (see the module docstring); runs inside ``lock``.
    ``existing``: the commit's listing (under the lock); ``mtimes``: its files' modification times;
    ``recorded``: it holds a schema sidecar."""
    opts: UpsertOptions = spec.options["upsert"]
    what = f"upsert into {obj.full_name!r} (store {obj.store_name!r})"
    job_id = parts[0].job_id if parts else "upsert"
    staged_rels = [(p.job_id, f.path) for p in parts for f in p.files]
    incoming = pa.concat_tables(
        [p.table for p in parts if p.table is not None]  # kept in memory by the in-process engine
        + _map(lambda item: _read(itf, obj, spec, f"{base}/{STAGING}/{item[0]}", [item[1]]), staged_rels, fs)
        or [spec.schema.empty_table()]
    )
    incoming, dropped = prepare_incoming(incoming, opts, what=what)

    # Which stored files can hold the batch's keys?
    scan = [rel for rel, _ in existing]
    sizes = dict(existing)
    part_cols = list(spec.partition_by)
    if part_cols and set(part_cols) <= set(opts.keys) and not opts.delete_unmatched:
        # (compared as typed values, as plan_read types them, not as path strings)
        combos = incoming.select(part_cols).group_by(part_cols).aggregate([]).to_pylist()
        present = {tuple(row[c] for c in part_cols) for row in combos}

        def typed_values(rel: str) -> tuple[Any, ...]:
            values = dict(_partition_values(rel))
            return tuple(_typed(values.get(c), spec.schema.field(c).type) for c in part_cols)

        scan = [rel for rel in scan if typed_values(rel) in present]
    # what this upsert reads, as it reads it: checked again before publishing (the commit's own
    # listing when it passes the times, else one more listing)
    read_state = ({rel: (sizes[rel], mtimes.get(rel)) for rel in scan} if mtimes is not None
                  else _snapshot(fs, base, scan))
    sizes_read = {rel: sizes[rel] for rel in scan}

    def check_no_conflict(cause: BaseException | None = None) -> None:
        """Still our lock (a stalled commit may have lost it), and the files read unchanged."""
        if lock is not None:
            lock.check()
        _check_unchanged(what, obj, fs, base, read_state, sizes_read, cause=cause)
    key_cols = list(opts.keys) + ([opts.order_by] if opts.order_by and opts.order_by not in opts.keys else [])
    # Files whose min/max statistics exclude every incoming key need no key read (ids that grow
    # over time cluster by file, so a daily batch touches few files).
    probe = None
    first_key = opts.keys[0]
    if spec.format == "parquet" and not opts.delete_unmatched and first_key not in part_cols and incoming.num_rows:
        probe = sorted(incoming[first_key].drop_null().to_pylist())

    # Only stored rows whose first key is in the batch can match (a full sync needs every key): the
    # keys kept in memory follow the batch, not the table, also when keys do not cluster by file.
    wanted = None if opts.delete_unmatched else incoming[first_key].combine_chunks()

    # The key index (_key_index.py): files whose recorded [min, max] excludes every batch key need
    # no footer read, while the listing shows them as the index recorded them.
    index: dict[str, _key_index.Entry] | None = None
    ranges: dict[str, Any] = {}
    key_type = spec.schema.field(first_key).type
    if probe is not None and mtimes is not None and _key_index.indexable(key_type):
        index = _key_index.load(fs, base, first_key, key_type)

    def indexed(rel: str) -> _key_index.Entry | None:
        entry = (index or {}).get(rel)
        if entry is None or entry[0] != sizes[rel] or (mtimes or {}).get(rel) is None or entry[1] != mtimes[rel]:
            return None
        return entry

    def keys_of(i: int) -> pa.Table:
        entry = indexed(scan[i]) if index is not None else None
        if entry is not None and probe is not None and not _key_index.may_hold(entry, probe):
            t = pa.schema([spec.schema.field(c) for c in key_cols]).empty_table()
        elif probe is not None:
            t = _scan_parquet_keys(fs, base, scan[i], sizes[scan[i]], spec, key_cols, first_key, probe, obj=obj,
                                   ranges=ranges if index is not None else None)
        else:
            t = _read(itf, obj, spec, base, [scan[i]], key_cols, sizes=sizes)
        if wanted is not None and t.num_rows:
            t = t.filter(pc.is_in(t[first_key], value_set=wanted.cast(t.schema.field(first_key).type)))
        return t.append_column(_FILE, pa.array([i] * t.num_rows, pa.int32()))

    try:
        pieces = _map(keys_of, range(len(scan)), fs)
    except (OSError, DaoError) as exc:  # a file that vanished: a conflict, if another writer did it
        check_no_conflict(exc)
        raise
    stored_keys = (
        pa.concat_tables(pieces)
        if pieces
        else pa.schema([spec.schema.field(c) for c in key_cols] + [pa.field(_FILE, pa.int32())]).empty_table()
    )
    plan = plan_merge(incoming, stored_keys.drop_columns([_FILE]), opts)

    hit = affected_rows(stored_keys, plan, opts)
    affected = sorted(set(pc.filter(stored_keys[_FILE], hit).to_pylist())) if stored_keys.num_rows else []
    rewritten = [scan[i] for i in affected]

    # Survivors of the rewritten files + the incoming rows, streamed into the normal writer: one
    # rewritten file at a time is split (object stores read a few ahead), so the driver never holds
    # every rewritten file at once.
    deleted = 0
    failed: list[BaseException] = []
    engine_staged: list[tuple[str, StagedFile]] = []
    engine_rows = 0
    in_process, incoming_staged = rewritten, False
    if spec.rewrite is not None and rewritten:
        # the engine rewrites the touched files itself (Spark: read, anti-join, write into staging),
        # and stages the batch's rows with them (one file per partition, as below)
        try:
            done = spec.rewrite(rewritten, plan, opts, job_id, sizes={rel: sizes[rel] for rel in rewritten})
        except Exception as exc:  # a file that vanished under Spark: a conflict, if another writer did it
            check_no_conflict(exc)
            raise
        if done is not None:
            engine_part, deleted = done
            engine_staged = [(engine_part.job_id, f) for f in engine_part.files]
            engine_rows = engine_part.rows
            in_process, incoming_staged = [], True

    def new_rows() -> Iterator[pa.RecordBatch]:
        nonlocal deleted
        for stored in _map_ahead(lambda rel: _read(itf, obj, spec, base, [rel], sizes=sizes), in_process, fs):
            if isinstance(stored, BaseException):
                try:
                    check_no_conflict(stored)
                except BaseException as conflict:
                    stored = conflict
                failed.append(stored)
                raise _Stop() from stored
            kept, unmatched = split_stored(stored, plan, opts)
            deleted += unmatched
            yield from kept.to_batches()
        if not incoming_staged:
            yield from plan.incoming.select(spec.schema.names).cast(spec.schema).to_batches()

    write_spec = WriteSpec(mode="append", format=spec.format, schema=spec.schema,
                           partition_by=spec.partition_by, options=spec.options)
    try:
        part = itf.stage(obj, new_rows(), write_spec, job_id)
    except BaseException as exc:
        if failed:  # reading a rewritten file failed: its own error (or the conflict it revealed)
            raise failed[0] from None
        raise exc
    staged: list[tuple[str, StagedFile]] = [(part.job_id, f) for f in part.files] + engine_staged
    check_no_conflict()
    record_partition_types(obj, fs, base, spec, staged, recorded)  # (before the files appear)
    added = itf._publish(obj, fs, base, spec, staged, [], [job_id],
                         write_empty=not staged and not ({rel for rel, _ in existing} - set(rewritten)))
    old = [f"{base}/{rel}" if rel else base for rel in rewritten]
    try:
        retired = _retire(itf, obj, fs, spec, old, job_id[:8])
    except BaseException as exc:
        # the new files are in, the old ones back in place: remove the new ones
        published = [f"{base}/{f.path}" for _, f in staged]
        try:
            itf._delete(obj, fs, spec, published)
        except (OSError, DaoError) as undo:
            log.error("%s: could not remove %d new file(s) after a failed commit: %s", what, len(published), undo)
            raise DaoError(
                f"{what}: commit failed while removing the rewritten files ({exc}), and rolling back the "
                f"{len(published)} new file(s) failed too ({undo}); the object may hold duplicate keys: "
                f"check {obj.location}"
            ) from exc
        if not _is_object_store(fs):
            _remove_empty_dirs(fs, base, {posixpath.dirname(f.path) for _, f in staged})
        if not isinstance(exc, Exception):  # Ctrl-C, SystemExit: rolled back, and still what they are
            raise
        raise DaoError(
            f"{what}: commit failed while removing the rewritten files; the new files were removed and the "
            f"previous data is unchanged: {exc}"
        ) from exc
    _drop_backups(itf, obj, fs, spec, retired)
    if index is not None and mtimes is not None:
        # what the footers said, for the files this upsert leaves in place (its new files are read next time)
        gone = set(rewritten)
        keep: dict[str, _key_index.Entry] = {}
        for rel, _size in existing:
            if rel in gone:
                continue
            entry = indexed(rel)
            if rel in ranges and ranges[rel] is not None and mtimes.get(rel) is not None:
                entry = (sizes[rel], int(mtimes[rel]), *ranges[rel])
            if entry is not None:
                keep[rel] = entry
        if keep != index:
            _key_index.save(fs, base, first_key, key_type, keep)
    if rewritten and not _is_object_store(fs):
        _remove_empty_dirs(fs, base, {posixpath.dirname(r) for r in rewritten})
    result = WriteResult(
        object=obj.full_name,
        mode="upsert",
        location=obj.location,
        rows_written=part.rows + engine_rows,
        rows_inserted=plan.inserted,
        rows_updated=plan.updated,
        rows_deleted=deleted,
        files_added=added,
        files_removed=len(rewritten),
        files_rewritten=len(rewritten),
        partitions=tuple(sorted({posixpath.dirname(f.path) for _, f in staged} - {""})),
    )
    if dropped:
        log.info("%s: %d older duplicate row(s) dropped (on_duplicates='keep_latest')", what, dropped)
    log.info("committed %s", result)
    return result


__all__: list[Any] = ["commit_upsert"]
