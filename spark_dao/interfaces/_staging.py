"""The staged writers: a task's rows written invisibly as parquet (a ``ParquetWriter`` per
file), partitioned parquet and csv (the dataset writer), or json lines and gzip-compressed csv
(the text writer); and the empty file (plus schema sidecar) an empty write publishes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from ._fs import _is_object_store
from ._layout import _EXT, _partition_segment
from ._schema import _write_sidecar
from .base import StagedFile, WriteSpec


def _stage_parquet(fs, staging: str, batches, spec: WriteSpec, stem: str) -> list[StagedFile]:
    """Unpartitioned parquet: one ``ParquetWriter`` per file, streamed to the filesystem.

    About twice as fast to encode as the dataset writer (which re-slices batches into small
    morsels); small incoming batches (Spark sends 10k rows) are buffered into full row groups.
    Each incoming batch is copied into Arrow's allocator as it arrives (``_own``), and the columns
    to dictionary-encode are chosen from the first row group (``_dictionary_columns``); see
    docs/benchmarks.md, "Issue 12: the unpartitioned Python-path write".
    """
    import pyarrow.parquet as pq

    o = spec.options
    compression = None if o["compression"] in ("none", "uncompressed") else o["compression"]
    max_rows = o["max_rows_per_file"] or 0
    row_group = min(o["row_group_size"], max_rows) if max_rows else o["row_group_size"]
    written: list[StagedFile] = []
    current: dict[str, Any] = {}
    dictionary: list[Any] = []  # use_dictionary, decided on the first rows written

    def close_file() -> None:
        if current:
            current["writer"].close()
            size = current["stream"].tell()
            current["stream"].close()
            written.append(StagedFile(current["rel"], current["rows"], size))
            current.clear()

    def write_rows(table: pa.Table) -> None:
        if not dictionary:
            dictionary.append(_dictionary_columns(table))
        while table.num_rows:
            if not current:
                rel = f"{stem}-{len(written)}.parquet"
                stream = fs.open_output_stream(f"{staging}/{rel}")
                current.update(rel=rel, stream=stream, rows=0,
                               writer=pq.ParquetWriter(stream, spec.schema, compression=compression,
                                                       use_dictionary=dictionary[0]))
            room = (max_rows - current["rows"]) if max_rows else table.num_rows
            part, table = table.slice(0, room), table.slice(room)
            current["writer"].write_table(part, row_group_size=row_group)
            current["rows"] += part.num_rows
            if max_rows and current["rows"] >= max_rows:
                close_file()

    if not _is_object_store(fs):
        fs.create_dir(staging, recursive=True)
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    try:
        for batch in batches:
            pending.append(_own(batch))
            pending_rows += batch.num_rows
            if pending_rows >= row_group:
                table = pa.Table.from_batches(pending, schema=spec.schema)
                full = (table.num_rows // row_group) * row_group
                write_rows(table.slice(0, full))
                rest = table.slice(full)
                pending, pending_rows = rest.to_batches(), rest.num_rows
        if pending_rows:
            write_rows(pa.Table.from_batches(pending, schema=spec.schema))
    finally:
        close_file()
    return written


def _own(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch``'s values copied into Arrow's memory pool.

    Spark's batches arrive in Python ``bytes`` read from the socket; buffering a row group's worth
    of them (tens of MB) and freeing them at once lets the C allocator hand the memory back to the
    kernel, and every row group then page-faults its memory in again (about 0.2 CPU s per 4M rows
    of the benchmark, as kernel time). A copy costs a tenth of that and frees each ``bytes`` at once.
    """
    concat = getattr(pa, "concat_batches", None)  # pyarrow >= 19
    if concat is not None:
        return concat([batch])
    if not batch.num_columns:  # nothing to copy (and from_arrays would lose the row count)
        return batch
    return pa.RecordBatch.from_arrays([pa.concat_arrays([c]) for c in batch.columns], schema=batch.schema)


#: the rows of the first row group that decide which columns are dictionary-encoded
_DICTIONARY_SAMPLE = 65_536
#: pyarrow's default ``dictionary_pagesize_limit``: a bigger dictionary falls back to plain encoding
_DICTIONARY_LIMIT = 1 << 20


def _dictionary_columns(table: pa.Table) -> bool | list[str]:
    """``use_dictionary`` for a file whose first rows are ``table``: the columns where a dictionary
    pays, as Spark's parquet-mr decides it on a column's first page.

    pyarrow dictionary-encodes every column until the dictionary outgrows its page limit, then
    falls back to plain encoding, in every row group: on a column of mostly distinct values (ids,
    timestamps, free text) it hashes the first megabyte of values for nothing and writes a
    dictionary page no reader needs. parquet-mr keeps the dictionary only when dictionary plus
    indices are smaller than the plain values on the first page. This applies that rule to the
    first ``_DICTIONARY_SAMPLE`` rows, and also drops a dictionary that already outgrows the page
    limit there. Nested columns keep pyarrow's default (``True`` for every column).
    """
    import math

    import pyarrow.compute as pc

    if any(pa.types.is_nested(f.type) for f in table.schema):
        return True
    sample = table.slice(0, _DICTIONARY_SAMPLE)
    keep: list[str] = []
    for field, col in zip(table.schema, sample.columns, strict=True):
        t = field.type
        binary = (pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t)
                  or pa.types.is_large_binary(t))
        if not binary and not _fixed_width(t):
            keep.append(field.name)  # dictionary arrays, booleans...: pyarrow's default
            continue
        values = col.drop_null()
        n = len(values)
        if n == 0:
            keep.append(field.name)
            continue
        distinct = pc.unique(values)
        d = len(distinct)
        if binary:
            plain = (pc.sum(pc.binary_length(values)).as_py() or 0) + 4 * n
            dict_bytes = (pc.sum(pc.binary_length(distinct)).as_py() or 0) + 4 * d
        else:
            width = max(1, t.bit_width // 8)
            plain, dict_bytes = width * n, width * d
        indices = n * max(1, math.ceil(math.log2(max(d, 2)))) / 8
        if dict_bytes + indices < plain and dict_bytes <= _DICTIONARY_LIMIT:
            keep.append(field.name)
    return keep


def _fixed_width(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return False
    try:
        return t.bit_width >= 8
    except ValueError:
        return False


def _stage_partitioned_parquet(fs, staging: str, batches, spec: WriteSpec, stem: str) -> list[StagedFile]:
    """Partitioned parquet: one ``ParquetWriter`` per open partition file, streamed.

    Each chunk of incoming rows is sorted by the partition columns and cut at the value changes;
    a partition's rows are buffered into full row groups, which a small thread pool encodes (a
    partition's groups in order, different partitions at once). The buffers together hold at
    most ``_PENDING_GROUPS`` row groups or ``_PENDING_BYTES`` (the largest buffer is written early
    when they would hold more), so memory stays bounded by the row group size, not by the data.
    Costs about 20% less CPU than the dataset writer, which re-slices batches into small morsels.
    """
    import itertools
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.parquet as pq

    o = spec.options
    compression = None if o["compression"] in ("none", "uncompressed") else o["compression"]
    max_rows = o["max_rows_per_file"] or 0
    row_group = min(o["row_group_size"], max_rows) if max_rows else o["row_group_size"]
    part_cols = list(spec.partition_by)
    data_schema = pa.schema([f for f in spec.schema if f.name not in part_cols])
    written: list[StagedFile] = []
    parts: dict[str, dict[str, Any]] = {}  # rel_dir -> writer state and pending slices
    counter = itertools.count()
    pending = {"rows": 0, "bytes": 0}
    workers = max(1, min(pa.cpu_count(), 4))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dao-parquet")
    inflight: deque = deque()

    def close_file(st: dict[str, Any]) -> None:
        if st.get("writer") is not None:
            st["writer"].close()
            size = st["stream"].tell()
            st["stream"].close()
            written.append(StagedFile(st["rel"], st["rows"], size))
            st.update(writer=None, stream=None, rows=0)

    def write_out(st: dict[str, Any], table: pa.Table) -> None:  # on the pool; one at a time per partition
        while table.num_rows:
            if st.get("writer") is None:
                rel = posixpath.join(st["dir"], f"{stem}-{next(counter)}.parquet")
                if not _is_object_store(fs):
                    fs.create_dir(f"{staging}/{st['dir']}", recursive=True)
                stream = fs.open_output_stream(f"{staging}/{rel}")
                st.update(rel=rel, stream=stream, rows=0,
                          writer=pq.ParquetWriter(stream, data_schema, compression=compression))
            room = (max_rows - st["rows"]) if max_rows else table.num_rows
            piece, table = table.slice(0, room), table.slice(room)
            st["writer"].write_table(piece, row_group_size=row_group)
            st["rows"] += piece.num_rows
            if max_rows and st["rows"] >= max_rows:
                close_file(st)

    def flush(st: dict[str, Any]) -> None:
        table = pa.Table.from_batches(st["pending"], schema=data_schema)
        pending["rows"] -= st["pending_rows"]
        pending["bytes"] -= st["pending_bytes"]
        st.update(pending=[], pending_rows=0, pending_bytes=0)
        if st.get("future") is not None:
            st["future"].result()  # this partition's previous group first
        st["future"] = pool.submit(write_out, st, table)
        inflight.append(st["future"])
        while len(inflight) > 2 * workers:  # tables handed to the pool count as memory too
            inflight.popleft().result()

    def add(chunk: pa.Table) -> None:
        for rel_dir, piece in _partition_runs(chunk, part_cols):
            st = parts.setdefault(rel_dir, {"dir": rel_dir, "pending": [], "pending_rows": 0, "pending_bytes": 0})
            st["pending"].extend(piece.to_batches())
            st["pending_rows"] += piece.num_rows
            st["pending_bytes"] += piece.nbytes
            pending["rows"] += piece.num_rows
            pending["bytes"] += piece.nbytes
            if st["pending_rows"] >= row_group:
                flush(st)
        while pending["rows"] > _PENDING_GROUPS * row_group or pending["bytes"] > _PENDING_BYTES:
            flush(max(parts.values(), key=lambda s: s["pending_rows"]))

    if not _is_object_store(fs):
        fs.create_dir(staging, recursive=True)
    chunk: list[pa.RecordBatch] = []
    chunk_rows = 0
    try:
        for batch in batches:
            chunk.append(batch)
            chunk_rows += batch.num_rows
            if chunk_rows >= row_group:
                add(pa.Table.from_batches(chunk, schema=spec.schema))
                chunk, chunk_rows = [], 0
        add(pa.Table.from_batches(chunk, schema=spec.schema))
        for st in parts.values():
            if st["pending_rows"]:
                flush(st)
    finally:
        pool.shutdown(wait=True)  # every write done (or failed) before the files close
        for st in parts.values():
            close_file(st)
    for f in inflight:
        f.result()  # a write that failed on the pool fails the stage
    for st in parts.values():
        if st.get("future") is not None:
            st["future"].result()
    return sorted(written, key=lambda f: f.path)


def _partition_runs(chunk: pa.Table, part_cols: list[str]) -> Iterator[tuple[str, pa.Table]]:
    """``chunk``'s rows by partition: (hive folder, rows without the partition columns), the rows
    sorted by the partition columns (stably: a partition's rows keep their order) and cut at the
    value changes. Without partition columns: ("", chunk)."""
    import pyarrow.compute as pc

    if chunk.num_rows == 0:
        return
    if not part_cols:
        yield "", chunk
        return
    order = pc.sort_indices(chunk.select(part_cols), [(c, "ascending") for c in part_cols])
    chunk = chunk.take(order)
    cuts = {0, chunk.num_rows}
    for c in part_cols:
        cuts.update(pc.run_end_encode(chunk.column(c).combine_chunks()).run_ends.to_pylist())
    bounds = sorted(cuts)
    body = chunk.drop_columns(part_cols)
    for start, end in zip(bounds, bounds[1:], strict=False):
        row = chunk.slice(start, 1).select(part_cols)
        rel_dir = "/".join(_partition_segment(c, row.column(c)[0].as_py(), row.schema.field(c).type)
                           for c in part_cols)
        yield rel_dir, body.slice(start, end - start)


# the partition buffers of _stage_partitioned_parquet hold at most this many row groups' rows,
# and at most this many bytes
_PENDING_GROUPS = 16
_PENDING_BYTES = 256 << 20


def _stage_dataset(fs, staging: str, batches, spec: WriteSpec, stem: str) -> list[StagedFile]:
    import pyarrow.dataset as ds

    o = spec.options
    if spec.format == "parquet":
        fmt = ds.ParquetFileFormat()
        compression = None if o["compression"] in ("none", "uncompressed") else o["compression"]
        file_options = fmt.make_write_options(compression=compression)
    else:
        fmt = ds.CsvFileFormat()
        file_options = fmt.make_write_options(include_header=o["header"], delimiter=o["delimiter"])
    written: list[StagedFile] = []

    def visit(wf: Any) -> None:
        rel = wf.path[len(staging) :].lstrip("/")
        rows = wf.metadata.num_rows if wf.metadata is not None else -1
        written.append(StagedFile(rel, rows, wf.size or 0))

    partitioning = None
    if spec.partition_by:
        partitioning = ds.partitioning(
            pa.schema([spec.schema.field(c) for c in spec.partition_by]), flavor="hive"
        )
    reader = pa.RecordBatchReader.from_batches(spec.schema, batches)
    max_rows = o["max_rows_per_file"] or 0
    row_group = min(o["row_group_size"], max_rows) if max_rows else o["row_group_size"]
    ds.write_dataset(
        reader,
        base_dir=staging,
        filesystem=fs,
        format=fmt,
        file_options=file_options,
        partitioning=partitioning,
        basename_template=f"{stem}-{{i}}.{_EXT[spec.format]}",
        existing_data_behavior="overwrite_or_ignore",
        max_rows_per_file=max_rows,
        max_rows_per_group=row_group,
        min_rows_per_group=min(row_group, 128 * 1024),
        # encode columns on pyarrow's thread pool, keeping the rows in order
        use_threads=True,
        preserve_order=True,
        create_dir=not _is_object_store(fs),
        file_visitor=visit,
    )
    return written


def _stage_text(fs, staging: str, batches, spec: WriteSpec, stem: str) -> list[StagedFile]:
    """json lines, and csv when gzip-compressed: streamed, one open file per partition, a new
    file every ``max_rows_per_file`` rows (each csv file with its own header); with
    ``compression: gzip`` the bytes are gzip streams in files named ``.csv.gz`` / ``.json.gz``."""
    import gzip
    import itertools

    import pyarrow.csv as pcsv

    o = spec.options
    compressed = o["compression"] == "gzip"
    max_rows = o["max_rows_per_file"] or 0
    part_cols = list(spec.partition_by)
    ext = _EXT[spec.format] + (".gz" if compressed else "")
    written: list[StagedFile] = []
    files: dict[str, dict[str, Any]] = {}  # partition folder -> its open file
    counter = itertools.count()

    def encode(table: pa.Table, header: bool) -> bytes:
        if spec.format == "json":
            return _to_json_lines(table)
        sink = pa.BufferOutputStream()
        pcsv.write_csv(table, sink, write_options=pcsv.WriteOptions(
            include_header=header, delimiter=o["delimiter"]))
        return sink.getvalue().to_pybytes()

    def close_file(st: dict[str, Any]) -> None:
        if st.get("raw") is not None:
            raw, sink = st.pop("raw"), st.pop("sink")
            if compressed:
                sink.close()  # writes the gzip trailer; the file itself stays open
            raw.close()
            written.append(StagedFile(st["rel"], st["rows"], st["out"].size))

    def write(rel_dir: str, table: pa.Table) -> None:
        while table.num_rows:
            st = files.setdefault(rel_dir, {})
            if st.get("raw") is None:
                name = f"{stem}-{next(counter)}.{ext}"
                rel = posixpath.join(rel_dir, name) if rel_dir else name
                if not _is_object_store(fs):
                    fs.create_dir(posixpath.dirname(f"{staging}/{rel}"), recursive=True)
                # compression=None: Arrow would gzip a ".gz" name itself, and not count the bytes
                raw = fs.open_output_stream(f"{staging}/{rel}", compression=None)
                out = _Counted(raw)
                sink = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) if compressed else out
                st.update(rel=rel, raw=raw, out=out, sink=sink, rows=0)
            room = (max_rows - st["rows"]) if max_rows else table.num_rows
            piece, table = table.slice(0, room), table.slice(room)
            st["sink"].write(encode(piece, header=o["header"] and st["rows"] == 0))
            st["rows"] += piece.num_rows
            if max_rows and st["rows"] >= max_rows:
                close_file(st)

    if not _is_object_store(fs):
        fs.create_dir(staging, recursive=True)
    try:
        for batch in batches:
            for rel_dir, piece in _partition_runs(pa.Table.from_batches([batch], schema=spec.schema), part_cols):
                write(rel_dir, piece)
    finally:
        for st in files.values():
            close_file(st)
    return sorted(written, key=lambda f: f.path)


class _Counted:
    """A write-only file object over an Arrow output stream that counts the bytes written."""

    def __init__(self, raw: Any) -> None:
        self.raw, self.size = raw, 0

    def write(self, data: bytes) -> int:
        self.raw.write(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def _write_empty(fs, base: str, spec: WriteSpec, job_id: str) -> str:
    """An empty file carrying the schema, so an empty write still reads back with its columns."""
    data_schema = pa.schema([f for f in spec.schema if f.name not in spec.partition_by])
    empty = pa.Table.from_batches([], schema=data_schema)
    dst = f"{base}/part-{job_id[:8]}-empty-0.{_EXT[spec.format]}"
    if not _is_object_store(fs):  # on S3 create_dir would leave a zero-byte folder marker
        fs.create_dir(base, recursive=True)
    if spec.format == "parquet":
        import pyarrow.parquet as pq

        with fs.open_output_stream(dst) as f:
            pq.write_table(empty, f)
    elif spec.format == "csv":
        import pyarrow.csv as pcsv

        with fs.open_output_stream(dst) as f:
            pcsv.write_csv(empty, f, write_options=pcsv.WriteOptions(
                include_header=spec.options["header"], delimiter=spec.options["delimiter"]))
    else:
        with fs.open_output_stream(dst) as f:
            f.write(b"")
    if spec.format != "parquet" or spec.partition_by:
        # csv/json files without rows cannot carry column types (json not even names), and no
        # data file carries the partition columns: say them in a hidden sidecar plan_read reads
        _write_sidecar(fs, base, spec.schema)
    return dst


def _to_json_lines(table: pa.Table) -> bytes:
    import json

    lines = []
    for row in table.to_pylist():
        lines.append(json.dumps(row, default=_json_default, ensure_ascii=False))
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")


def _json_default(value: Any) -> Any:
    import datetime
    import decimal

    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    raise TypeError(f"cannot write {type(value).__name__} to json")
