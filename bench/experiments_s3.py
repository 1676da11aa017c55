"""Scratch (bench/, not a test): monkeypatched variants of spark_dao's S3 code paths, timed against
the unpatched code and awswrangler on moto. Nothing under spark_dao/ is edited.

    .venv/bin/python bench/experiments_s3.py write  --rows 3000000 --repeat 3
    .venv/bin/python bench/experiments_s3.py read   --rows 3000000 --repeat 3
    .venv/bin/python bench/experiments_s3.py upsert --rows 3000000 --repeat 3

Variants (each a proposed change, see docs/benchmarks_s3.md):

* ``publish``  FilesInterface._publish: no ``create_dir`` on S3 (object stores have no folders; pyarrow
  turns each call into HEAD + PUT of empty "dir/" marker objects for every level), moves (CopyObject +
  DeleteObject) and deletes of replaced files on a thread pool instead of one by one.
* ``stage``    FilesInterface._stage_dataset: ``write_dataset(create_dir=False)`` on S3, and
  ``use_threads=True, preserve_order=True`` (encoding off the calling thread, same row order).
* ``upsert``   files_upsert.commit_upsert: the key-column scan and the reads of the rewritten files on
  a thread pool; the stored keys pre-filtered to the batch's keys before plan_merge (its joins and
  group_by then run on ~batch-size rows instead of the whole table's keys).
* read: ``DataAccessObject.read``'s ``table.to_pandas()`` against ``split_blocks=True, self_destruct=True``
  and ``deduplicate_objects=False`` (timed on the arrow engine's result).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import posixpath
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.fs as pafs  # noqa: E402
from bench_s3 import FAKE_AWS_ENV, MotoS3, daily_data, events_table, s3_client, verify_daily, wait_for_quiet  # noqa: E402

from spark_dao.interfaces import files as files_mod  # noqa: E402
from spark_dao.interfaces import files_upsert as fu  # noqa: E402

IO_THREADS = 8


def _is_object_store(fs: Any) -> bool:
    return isinstance(fs, pafs.S3FileSystem)


# --------------------------------------------------------------------------- variant: _publish
def publish_parallel(self, obj, fs, base, spec, staged, doomed, job_ids, *, write_empty=False,
                     copy_only: bool = False) -> int:
    """FilesInterface._publish with no folder markers on S3 and the copies/deletes on a thread pool.

    ``copy_only``: on S3, CopyObject the staged files into place and leave them for ``_cleanup``'s
    ``delete_dir`` of the staging folder (one batched DeleteObjects) instead of ``fs.move`` — whose
    per-file DeleteObject also makes pyarrow re-PUT the staging folder's marker each time.
    """
    from spark_dao.errors import DaoError

    STAGING = files_mod.STAGING
    moved: list[str] = []
    new_dirs: set[str] = set()
    for _, f in staged:
        new_dirs.add(posixpath.dirname(f.path))
    try:
        if not _is_object_store(fs):
            for d in sorted(new_dirs):
                fs.create_dir(posixpath.dirname(f"{base}/{d}/x"), recursive=True)

        def move(item: tuple[str, Any]) -> str:
            job_id, f = item
            dst = f"{base}/{f.path}"
            src = f"{base}/{STAGING}/{job_id}/{f.path}"
            if copy_only and _is_object_store(fs):
                fs.copy_file(src, dst)
            else:
                fs.move(src, dst)
            return dst

        errors: list[BaseException] = []
        with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
            for fut in as_completed([pool.submit(move, item) for item in staged]):
                try:
                    moved.append(fut.result())
                except Exception as exc:  # keep collecting: every success must be rolled back
                    errors.append(exc)
        if errors:
            raise errors[0]
        if write_empty:
            moved.append(self._write_empty(fs, base, spec, job_ids[0] if job_ids else "empty"))
    except Exception as exc:
        for dst in moved:
            with contextlib.suppress(OSError):
                fs.delete_file(dst)
        files_mod._remove_empty_dirs(fs, base, new_dirs)
        raise DaoError(
            f"writing {obj.full_name!r} (store {obj.store_name!r}): commit failed while moving "
            f"files into {obj.location}; the previous data is unchanged: {exc}"
        ) from exc
    if doomed:
        with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
            list(pool.map(lambda rel: fs.delete_file(f"{base}/{rel}" if rel else base), doomed))
        files_mod._remove_empty_dirs(fs, base, {posixpath.dirname(r) for r in doomed})
    return len(moved)


def publish_copy(self, *args, **kwargs) -> int:
    return publish_parallel(self, *args, copy_only=True, **kwargs)


# --------------------------------------------------------------------------- variant: S3 filesystem options
_orig_filesystem = files_mod._filesystem


def filesystem_delayed_open(location_scheme: str, settings: tuple) -> Any:
    """files._filesystem with ``allow_delayed_open=True`` on S3 (no round trip when opening a file to write)."""
    return _filesystem_cached(location_scheme, settings)


@__import__("functools").lru_cache(maxsize=32)
def _filesystem_cached(location_scheme: str, settings: tuple) -> Any:
    fs = _orig_filesystem(location_scheme, settings)
    if not _is_object_store(fs):
        return fs
    cfg = dict(settings)
    scheme, _, host = str(cfg["endpoint_url"]).partition("://")
    return pafs.S3FileSystem(
        access_key=cfg.get("access_key"), secret_key=cfg.get("secret_key"), region=cfg.get("region") or "us-east-1",
        endpoint_override=host, scheme=scheme, allow_delayed_open=True,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=5), connect_timeout=5.0, request_timeout=60.0,
    )


# --------------------------------------------------------------------------- variant: _stage_dataset
def stage_dataset_fast(self, fs, staging, batches, spec, stem):
    """FilesInterface._stage_dataset with create_dir=False on S3 and a threaded, order-preserving writer."""
    import pyarrow.dataset as ds

    o = spec.options
    if spec.format == "parquet":
        fmt = ds.ParquetFileFormat()
        compression = None if o["compression"] in ("none", "uncompressed") else o["compression"]
        file_options = fmt.make_write_options(compression=compression)
    else:
        fmt = ds.CsvFileFormat()
        file_options = fmt.make_write_options(include_header=o["header"], delimiter=o["delimiter"])
    written: list = []

    def visit(wf: Any) -> None:
        rel = wf.path[len(staging):].lstrip("/")
        rows = wf.metadata.num_rows if wf.metadata is not None else -1
        written.append(files_mod.StagedFile(rel, rows, wf.size or 0))

    partitioning = None
    if spec.partition_by:
        partitioning = ds.partitioning(pa.schema([spec.schema.field(c) for c in spec.partition_by]), flavor="hive")
    reader = pa.RecordBatchReader.from_batches(spec.schema, batches)
    max_rows = o["max_rows_per_file"] or 0
    row_group = min(o["row_group_size"], max_rows) if max_rows else o["row_group_size"]
    ds.write_dataset(
        reader, base_dir=staging, filesystem=fs, format=fmt, file_options=file_options,
        partitioning=partitioning, basename_template=f"{stem}-{{i}}.{files_mod._EXT[spec.format]}",
        existing_data_behavior="overwrite_or_ignore", max_rows_per_file=max_rows,
        max_rows_per_group=row_group, min_rows_per_group=min(row_group, 128 * 1024),
        use_threads=True, preserve_order=True,
        create_dir=not _is_object_store(fs),
        file_visitor=visit,
    )
    return written


def stage_parquet_writer(self, fs, staging, batches, spec, stem):
    """FilesInterface._stage_dataset writing unpartitioned parquet with pq.ParquetWriter straight to the
    output stream (the dataset writer re-slices batches into small morsels and concatenates them back
    into row groups: about twice the encode time); partitioned or csv data: as stage_dataset_fast."""
    import pyarrow.parquet as pq

    if spec.format != "parquet" or spec.partition_by:
        return stage_dataset_fast(self, fs, staging, batches, spec, stem)
    o = spec.options
    compression = None if o["compression"] in ("none", "uncompressed") else o["compression"]
    max_rows = o["max_rows_per_file"] or 0
    row_group = min(o["row_group_size"], max_rows) if max_rows else o["row_group_size"]
    written: list = []
    state: dict[str, Any] = {"writer": None, "stream": None, "rows": 0, "rel": ""}
    pending: list[pa.RecordBatch] = []
    pending_rows = 0

    def close_file() -> None:
        if state["writer"] is not None:
            state["writer"].close()
            size = state["stream"].tell()
            state["stream"].close()
            written.append(files_mod.StagedFile(state["rel"], state["rows"], size))
            state.update(writer=None, stream=None, rows=0)

    def write_rows(table: pa.Table) -> None:
        while table.num_rows:
            if state["writer"] is None:
                state["rel"] = f"{stem}-{len(written)}.parquet"
                state["stream"] = fs.open_output_stream(f"{staging}/{state['rel']}")
                state["writer"] = pq.ParquetWriter(state["stream"], spec.schema, compression=compression)
            room = (max_rows - state["rows"]) if max_rows else table.num_rows
            part, table = table.slice(0, room), table.slice(room)
            state["writer"].write_table(part, row_group_size=row_group)
            state["rows"] += part.num_rows
            if max_rows and state["rows"] >= max_rows:
                close_file()

    for b in batches:
        pending.append(b)
        pending_rows += b.num_rows
        if pending_rows >= row_group:
            t = pa.Table.from_batches(pending, schema=spec.schema)
            full = (t.num_rows // row_group) * row_group
            write_rows(t.slice(0, full))
            rest = t.slice(full)
            pending, pending_rows = rest.to_batches(), rest.num_rows
    if pending_rows:
        write_rows(pa.Table.from_batches(pending, schema=spec.schema))
    close_file()
    return written


# --------------------------------------------------------------------------- variant: commit_upsert
def _scan_keys_direct(fs, base: str, rel: str, size: int, key_cols: list[str], schema: pa.Schema,
                      incoming_sorted: Any | None) -> pa.Table | None:
    """Key columns of one stored parquet file, or None when its footer statistics rule out every
    incoming key. The size from the listing spares the HEAD; pre_buffer coalesces the column reads."""
    import numpy as np
    import pyarrow.dataset as ds

    fmt = ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=True))
    frag = fmt.make_fragment(f"{base}/{rel}", filesystem=fs, file_size=size)  # known size: no HEAD
    if incoming_sorted is not None:
        frag.ensure_complete_metadata()  # the footer: one ranged GET
        keep = []
        for rg in frag.row_groups:
            st = (rg.statistics or {}).get(key_cols[0]) or {}
            if st.get("min") is None or st.get("max") is None:
                keep.append(rg.id)
                continue
            lo = np.searchsorted(incoming_sorted, st["min"], "left")
            hi = np.searchsorted(incoming_sorted, st["max"], "right")
            if hi > lo:
                keep.append(rg.id)
        if not keep:
            return None
        frag = frag.subset(row_group_ids=keep)
    t = frag.to_table(columns=key_cols)
    return t.cast(pa.schema([schema.field(c) for c in key_cols]))


def commit_upsert_fast(itf, obj, parts, spec, fs, base, existing, *, direct_scan: bool = False):
    """files_upsert.commit_upsert with parallel scans and stored keys pre-filtered to the batch's keys.

    ``direct_scan``: read the key columns without the HEAD per file, coalesced, and skip files (row
    groups) whose min/max statistics of a single key column hold none of the batch's keys.
    """
    import numpy as np

    from spark_dao.interfaces.base import WriteResult, WriteSpec
    from spark_dao.interfaces.upsert import _membership, plan_merge, prepare_incoming

    STAGING = files_mod.STAGING
    opts = spec.options["upsert"]
    what = f"upsert into {obj.full_name!r} (store {obj.store_name!r})"
    job_id = parts[0].job_id if parts else "upsert"
    staged_rels = [(p.job_id, f.path) for p in parts for f in p.files]
    pool = ThreadPoolExecutor(max_workers=IO_THREADS)
    try:
        incoming = pa.concat_tables(
            list(pool.map(lambda jr: fu._read(itf, obj, spec, f"{base}/{STAGING}/{jr[0]}", [jr[1]]), staged_rels))
            or [spec.schema.empty_table()]
        )
        incoming, dropped = prepare_incoming(incoming, opts, what=what)

        scan = [rel for rel, _ in existing]
        part_cols = list(spec.partition_by)
        if part_cols and set(part_cols) <= set(opts.keys) and not opts.delete_unmatched:
            present = {posixpath.dirname(rel) for _, rel in staged_rels}
            scan = [rel for rel in scan if posixpath.dirname(rel) in present]
        key_cols = list(opts.keys) + ([opts.order_by] if opts.order_by and opts.order_by not in opts.keys else [])

        sizes = dict(existing)
        direct = (direct_scan and spec.format == "parquet" and not set(key_cols) & set(part_cols))
        incoming_sorted = None
        if direct and len(opts.keys) == 1 and not opts.delete_unmatched and incoming.num_rows:
            incoming_sorted = np.sort(incoming[opts.keys[0]].to_numpy())

        def scan_one(i_rel: tuple[int, str]) -> pa.Table:
            i, rel = i_rel
            if direct:
                t = _scan_keys_direct(fs, base, rel, sizes[rel], key_cols, spec.schema, incoming_sorted)
                if t is None:
                    t = pa.schema([spec.schema.field(c) for c in key_cols]).empty_table()
            else:
                t = fu._read(itf, obj, spec, base, [rel], key_cols)
            return t.append_column(fu._FILE, pa.array([i] * t.num_rows, pa.int32()))

        pieces = list(pool.map(scan_one, enumerate(scan)))
        stored_keys = (
            pa.concat_tables(pieces) if pieces
            else pa.schema([spec.schema.field(c) for c in key_cols] + [pa.field(fu._FILE, pa.int32())]).empty_table()
        )
        # Only stored rows whose key is in the batch can be matched: plan on those.
        keys = list(opts.keys)
        if stored_keys.num_rows and incoming.num_rows:
            candidates = stored_keys.filter(_membership(stored_keys, incoming.select(keys), keys))
        else:
            candidates = stored_keys.slice(0, 0)
        plan = plan_merge(incoming, candidates.drop_columns([fu._FILE]), opts)

        hit = pa.array([False] * stored_keys.num_rows, pa.bool_())
        if plan.replace_keys.num_rows and candidates.num_rows:
            hit = _membership(stored_keys, plan.replace_keys, keys)
        if plan.keep_keys is not None and stored_keys.num_rows:
            hit = pc.or_(hit, pc.invert(_membership(stored_keys, plan.keep_keys, keys)))
        affected = sorted(set(pc.filter(stored_keys[fu._FILE], hit).to_pylist())) if stored_keys.num_rows else []
        rewritten = [scan[i] for i in affected]

        def survivors_of(rel: str) -> tuple[pa.Table, int]:
            kept = fu._read(itf, obj, spec, base, [rel])
            if plan.replace_keys.num_rows:
                kept = kept.filter(pc.invert(_membership(kept, plan.replace_keys, keys)))
            gone = 0
            if plan.keep_keys is not None:
                before = kept.num_rows
                kept = kept.filter(_membership(kept, plan.keep_keys, keys))
                gone = before - kept.num_rows
            return kept, gone

        results = list(pool.map(survivors_of, rewritten))
    finally:
        pool.shutdown()
    survivors = [t for t, _ in results]
    deleted = sum(g for _, g in results)
    new_rows = pa.concat_tables(survivors + [plan.incoming.select(spec.schema.names).cast(spec.schema)])
    write_spec = WriteSpec(mode="append", format=spec.format, schema=spec.schema,
                           partition_by=spec.partition_by, options=spec.options)
    part = itf.stage(obj, new_rows.to_batches(), write_spec, job_id)
    staged = [(part.job_id, f) for f in part.files]
    added = itf._publish(obj, fs, base, spec, staged, rewritten, [job_id],
                         write_empty=not staged and not existing and not rewritten)
    del dropped
    return WriteResult(
        object=obj.full_name, mode="upsert", location=obj.location, rows_written=new_rows.num_rows,
        rows_inserted=plan.inserted, rows_updated=plan.updated, rows_deleted=deleted, files_added=added,
        files_removed=len(rewritten), files_rewritten=len(rewritten),
        partitions=tuple(sorted({posixpath.dirname(f.path) for _, f in staged} - {""})),
    )


def commit_upsert_direct(*args, **kwargs):
    return commit_upsert_fast(*args, direct_scan=True, **kwargs)


# --------------------------------------------------------------------------- patching
@contextlib.contextmanager
def patched(*names: str) -> Iterator[None]:
    saved: list[tuple[Any, str, Any]] = []

    def put(owner: Any, attr: str, value: Any) -> None:
        saved.append((owner, attr, getattr(owner, attr)))
        setattr(owner, attr, value)

    for name in names:
        if name == "publish":
            put(files_mod.FilesInterface, "_publish", publish_parallel)
        elif name == "stage2":
            put(files_mod.FilesInterface, "_stage_dataset", stage_parquet_writer)
        elif name == "publish2":
            put(files_mod.FilesInterface, "_publish", publish_copy)
        elif name == "upsert2":
            put(fu, "commit_upsert", commit_upsert_direct)
        elif name == "delayed_open":
            put(files_mod, "_filesystem", filesystem_delayed_open)
        elif name == "stage":
            put(files_mod.FilesInterface, "_stage_dataset", stage_dataset_fast)
        elif name == "upsert":
            put(fu, "commit_upsert", commit_upsert_fast)
        else:
            raise ValueError(name)
    try:
        yield
    finally:
        for owner, attr, value in reversed(saved):
            setattr(owner, attr, value)


def _to_pandas_split(table: pa.Table) -> Any:
    return table.to_pandas(split_blocks=True, self_destruct=True)


def run_interleaved(ops: list[tuple[str, Callable[[], Any], Callable[[], Any] | None]], repeat: int,
                    quiet_wait: float, check: Callable[[str, Any], None] | None = None) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {n: [] for n, _, _ in ops}
    for rnd in range(repeat + 1):
        for name, fn, setup in ops:
            if setup:
                setup()
            gc.collect()
            if rnd and quiet_wait:
                wait_for_quiet(quiet_wait)
            t0 = time.perf_counter()
            out = fn()
            dt = time.perf_counter() - t0
            if rnd:
                times[name].append(dt)
            print(f"   {'warm-up' if not rnd else f'round {rnd}'}: {name}: {dt:.2f}s", flush=True)
            if check:
                check(name, out)
            del out
    return times


def report(times: dict[str, list[float]], base: str) -> None:
    print()
    b = min(times[base])
    for name, ts in times.items():
        print(f"{name:58s} best {min(ts):6.2f}s  median {statistics.median(ts):6.2f}s  "
              f"{b / min(ts):5.2f}x vs {base} (best)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("write", "read", "upsert"))
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quiet-wait", type=float, default=10.0)
    args = ap.parse_args()

    import awswrangler as wr
    import boto3

    from spark_dao import DataAccessObject

    os.environ.update(FAKE_AWS_ENV)
    with MotoS3() as server:
        bucket = "dao-exp-s3"
        s3_client(server.endpoint).create_bucket(Bucket=bucket)
        wr.config.s3_endpoint_url = server.endpoint
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
        dao = DataAccessObject({
            "stores": {"silver": {"interface": "files", "bucket": bucket, "prefix": "bench",
                                  "endpoint_url": server.endpoint, "region": "us-east-1",
                                  "access_key": "testing", "secret_key": "testing"}},
            "objects": {"silver.events": {"path": "events"}, "silver.events2": {"path": "events2"},
                        "silver.daily": {"path": "daily", "partition_by": ["day"], "keys": ["id"],
                                         "order_by": "updated_at"}},
        })

        def with_patch(names: tuple[str, ...], fn: Callable[[], Any]) -> Callable[[], Any]:
            def run() -> Any:
                with patched(*names):
                    return fn()
            return run

        if args.what in ("write", "read"):
            events = events_table(args.rows).to_pandas()
            path = f"s3://{bucket}/wr/events/"
            if args.what == "write":
                ops = [("wr.s3.to_parquet", lambda: wr.s3.to_parquet(events, path=path, dataset=True, mode="overwrite",
                                                                     boto3_session=session), None),
                       ("dao.write (as is)", lambda: dao.write(events, "silver.events", mode="overwrite"), None),
                       ("dao.write +stage2", with_patch(("stage2",), lambda: dao.write(events, "silver.events", mode="overwrite")), None),
                       ("dao.write +stage2 +publish2 +delayed_open",
                        with_patch(("stage2", "publish2", "delayed_open"), lambda: dao.write(events, "silver.events2", mode="overwrite")), None)]
                times = run_interleaved(ops, args.repeat, args.quiet_wait)
                a = dao.read("silver.events", engine="arrow").sort_by("id")
                b = dao.read("silver.events2", engine="arrow").sort_by("id")
                assert a.num_rows == b.num_rows == args.rows and a.equals(b), "patched write differs"
                report(times, "wr.s3.to_parquet")
            else:
                wr.s3.to_parquet(events, path=path, dataset=True, mode="overwrite", boto3_session=session)
                dao.write(events, "silver.events", mode="overwrite")
                ops = [("wr.s3.read_parquet", lambda: wr.s3.read_parquet(path, dataset=True, boto3_session=session), None),
                       ('dao.read(engine="pandas") (as is)', lambda: dao.read("silver.events", engine="pandas"), None),
                       ('dao.read(engine="arrow")', lambda: dao.read("silver.events", engine="arrow"), None),
                       ("arrow read + to_pandas(split_blocks, self_destruct)",
                        lambda: _to_pandas_split(dao.read("silver.events", engine="arrow")), None),
                       ("arrow read + to_pandas(deduplicate_objects=False)",
                        lambda: dao.read("silver.events", engine="arrow").to_pandas(deduplicate_objects=False), None)]
                times = run_interleaved(ops, args.repeat, args.quiet_wait,
                                        check=lambda n, out: None if len(out) == args.rows else sys.exit(f"{n}: {len(out)} rows"))
                report(times, "wr.s3.read_parquet")
        else:
            daily = daily_data(args.rows, 30, 4)
            base_pdf, merged_pdf, changes_pdf = daily.base.to_pandas(), daily.merged.to_pandas(), daily.changes.to_pandas()
            wopts = {"max_rows_per_file": daily.rows_per_file}

            def rebuild() -> None:
                dao.write(base_pdf, "silver.daily", mode="overwrite", options=wopts)

            def rewrite() -> Any:
                return dao.write(merged_pdf, "silver.daily", mode="overwrite", options=wopts)

            def upsert() -> Any:
                return dao.upsert(changes_pdf, "silver.daily")

            ops = [("rewrite (as is)", rewrite, rebuild),
                   ("upsert (as is)", upsert, rebuild),
                   ("upsert +upsert", with_patch(("upsert",), upsert), rebuild),
                   ("upsert +upsert2", with_patch(("upsert2",), upsert), rebuild),
                   ("rewrite +publish2 +stage", with_patch(("publish2", "stage"), rewrite), rebuild),
                   ("upsert +upsert2 +publish2 +stage", with_patch(("upsert2", "publish2", "stage"), upsert), rebuild),
                   ("upsert keys=[id, day] (as is)",
                    lambda: dao.upsert(changes_pdf, "silver.daily", keys=["id", "day"]), rebuild)]

            def check(name: str, out: Any) -> None:
                if name.startswith("upsert"):
                    verify_daily(dao, daily, out)
                    print(f"      verified; {out}", flush=True)

            times = run_interleaved(ops, args.repeat, args.quiet_wait, check=check)
            report(times, "rewrite (as is)")
            print("\nupsert share of the rewrite (best):")
            for up, rw in (("upsert (as is)", "rewrite (as is)"), ("upsert +upsert", "rewrite (as is)"),
                           ("upsert +upsert2", "rewrite (as is)"),
                           ("upsert +upsert2 +publish2 +stage", "rewrite +publish2 +stage"),
                           ("upsert +upsert2 +publish2 +stage", "rewrite (as is)"),
                           ("upsert keys=[id, day] (as is)", "rewrite (as is)")):
                print(f"   {up} / {rw}: {min(times[up]) / min(times[rw]):.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
