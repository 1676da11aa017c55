"""The key index of a parquet files object: each file's first-key range, kept by upserts.

An upsert's key scan reads the footer of every stored file it may have to rewrite (one GET per file
on S3) to find the row groups whose key statistics can hold a batch key. For a table of N files that
is N requests per upsert, however small the batch. The index keeps what those footers said:

    <object>/_dao_index/keys-<hash of the key column>.parquet      (hidden: readers skip "_" names)
    rel | size | mtime_ns | min | max          one row per file whose footer an upsert read

The next upsert reads the index (one GET) and opens the footer of a file only when the file is not in
the index, or is listed with another size or modification time than the index recorded, or its
``[min, max]`` can hold a batch key. Files written since the last upsert (appends, that upsert's own
new files) are simply absent: their footers are read as before, and the index then records them.

Safety: an entry is used only while the commit's listing (taken under the object's write lock) shows
the file with the same name, size and modification time as when its footer was read, so a file
replaced or rewritten since is read again. The index is a cache: it is written at the end of an
upsert's commit, under the lock, and a failure to read or write it only costs footer reads (logged
at DEBUG). Only integer and string keys are indexed (their statistics compare exactly).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from ._fs import _is_object_store

log = logging.getLogger("spark_dao.files")

INDEX_DIR = "_dao_index"
_VERSION = b"1"

#: rel -> (size, mtime_ns, min, max); min/max None: the file holds no non-null key
Entry = tuple[int, int, Any, Any]


def indexable(key_type: pa.DataType) -> bool:
    return pa.types.is_integer(key_type) or pa.types.is_string(key_type) or pa.types.is_large_string(key_type)


def _path(base: str, key: str) -> str:
    return f"{base}/{INDEX_DIR}/keys-{hashlib.sha1(key.encode()).hexdigest()[:16]}.parquet"


def _meta(key: str, key_type: pa.DataType) -> dict[bytes, bytes]:
    return {b"spark_dao.key_index": _VERSION, b"key": key.encode(), b"type": str(key_type).encode()}


def load(fs: pafs.FileSystem, base: str, key: str, key_type: pa.DataType) -> dict[str, Entry]:
    """The index of ``key`` (empty when there is none, or it is of another key, type or version)."""
    import pyarrow.parquet as pq

    path = _path(base, key)
    try:
        with fs.open_input_file(path) as f:
            table = pq.read_table(f)
    except FileNotFoundError:
        return {}
    except (OSError, pa.ArrowException) as exc:
        log.debug("%s: key index not read (%s); reading the footers", path, exc)
        return {}
    if (table.schema.metadata or {}) != _meta(key, key_type) or table.schema.field("min").type != key_type:
        return {}
    cols = [table[c].to_pylist() for c in ("rel", "size", "mtime_ns", "min", "max")]
    return {rel: (size, mtime, lo, hi) for rel, size, mtime, lo, hi in zip(*cols, strict=True)}


def save(fs: pafs.FileSystem, base: str, key: str, key_type: pa.DataType, entries: dict[str, Entry]) -> None:
    """Replace the index of ``key`` with ``entries`` (best effort: a failure is logged)."""
    import pyarrow.parquet as pq

    path = _path(base, key)
    rels = sorted(entries)
    schema = pa.schema([("rel", pa.string()), ("size", pa.int64()), ("mtime_ns", pa.int64()),
                        ("min", key_type), ("max", key_type)], metadata=_meta(key, key_type))
    try:
        table = pa.table([rels, [entries[r][0] for r in rels], [entries[r][1] for r in rels],
                          [entries[r][2] for r in rels], [entries[r][3] for r in rels]], schema=schema)
        if _is_object_store(fs):  # one PUT: readers see the old index or the new one
            with fs.open_output_stream(path) as out:
                pq.write_table(table, out)
            return
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
        with fs.open_output_stream(tmp) as out:
            pq.write_table(table, out)
        fs.move(tmp, path)  # a rename: atomic
    except (OSError, pa.ArrowException) as exc:
        log.debug("%s: key index not written (%s); the next upsert reads the footers", path, exc)


def file_range(meta: Any, column: int) -> tuple[Any, Any] | None:
    """``(min, max)`` of a parquet file's column from its row groups' statistics; ``(None, None)``
    when it holds only nulls; None when a row group has no usable statistics."""
    lo = hi = None
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        stats = rg.column(column).statistics
        if stats is not None and stats.has_null_count and stats.null_count == rg.num_rows:
            continue  # only nulls: no key to match
        if stats is None or not stats.has_min_max:
            return None
        lo = stats.min if lo is None or stats.min < lo else lo
        hi = stats.max if hi is None or stats.max > hi else hi
    return lo, hi


def may_hold(entry: Entry, probe: list[Any]) -> bool:
    """Can a file of this ``[min, max]`` hold one of the sorted ``probe`` keys?"""
    import bisect

    lo, hi = entry[2], entry[3]
    if lo is None:
        return False  # no non-null key in the file
    i = bisect.bisect_left(probe, lo)
    return i < len(probe) and probe[i] <= hi
