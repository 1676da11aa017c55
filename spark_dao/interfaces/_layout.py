"""The files layout, as pure functions: hive partition paths (``col=value`` segments, their
escaping, typing and the checks on partition names and values), hidden names and the listing of
visible data files, partition filters (matching, coercion), paths that must stay inside a local
store (symlinks), data file names (job tags) and the removal of empty folders.
"""

from __future__ import annotations

import datetime
import os
import posixpath
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.fs as pafs

from ..catalog.model import DataObject, DataStore
from ..errors import DaoError, SchemaMismatch
from ._fs import _is_object_store
from .base import WriteSpec

STAGING = "_dao_staging"
#: ``<object>/_dao_staging/<job>.live``: the job is running; tasks stage only while it exists
LIVE = ".live"
_UPLOAD_TAG = re.compile(r"^part-([0-9a-f]{8})-")
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
FORMATS = ("parquet", "csv", "json")
_EXT = {"parquet": "parquet", "csv": "csv", "json": "json"}


# --------------------------------------------------------------------------- path safety (local stores)
#: what a partition column name cannot hold: each changes how the hive folder name ``col=value`` reads
_PARTITION_NAME_BREAKERS = {"/": "'/'", "\\": "'\\'", "=": "'='", "%": "'%'"}


def check_partition_columns(obj: DataObject, columns: Iterable[str], *, action: str) -> None:
    """Refuse partition column names that cannot round-trip through hive folder names (``col=value``).

    ``a=b`` or ``a/b`` would be written, then read back as another column full of nulls; a name
    starting with ``_`` or ``.`` makes its folders hidden, so every row would vanish from reads.
    """
    for col in columns:
        col = str(col)
        problem = None
        if not col.strip() or col in (".", ".."):
            problem = "is empty or a path component ('.' or '..')"
        elif col.startswith(("_", ".")):
            problem = "starts with '_' or '.', which marks the folder hidden: readers would skip all its rows"
        else:
            bad = [shown for ch, shown in _PARTITION_NAME_BREAKERS.items() if ch in col]
            if any(ord(ch) < 32 or ord(ch) == 127 for ch in col):
                bad.append("a control character")
            if bad:
                problem = f"contains {', '.join(bad)}, which breaks the hive folder name '{col}=<value>'"
        if problem:
            suggestion = re.sub(r"[^0-9A-Za-z]+", "_", col).strip("_") or "part"
            raise SchemaMismatch(
                f"{action} {obj.full_name!r} (store {obj.store_name!r}): partition column {col!r} {problem}, "
                f"so its values could not be read back. Rename the column (e.g. to {suggestion!r}) in the data "
                f"and in 'partition_by' of {obj.full_name!r} in the catalog "
                f"({getattr(obj.store, 'source', 'the catalog file')})"
            )


#: compressions of csv and json files: gzip files are named ``.csv.gz`` / ``.json.gz``, as Spark's
#: native writer names them, and both read paths decompress them by that suffix
TEXT_COMPRESSIONS = ("none", "uncompressed", "gzip")


def check_write_layout(obj: DataObject, fmt: str, compression: str, schema: pa.Schema) -> None:
    """Refuse, before anything is written, a write whose files could not hold its rows: a
    compression the format's files cannot have, or partition columns that leave no data column."""
    where = f"writing {obj.full_name!r} (store {obj.store_name!r})"
    if fmt in ("csv", "json") and compression not in TEXT_COMPRESSIONS:
        raise DaoError(
            f"{where}: compression {compression!r} is not available for {fmt} files; use 'gzip' "
            f"(files named .{fmt}.gz) or 'none'. snappy, zstd, brotli and lz4 are for parquet"
        )
    part_cols = [c for c in obj.partition_by if c in schema.names]
    if part_cols and len(part_cols) == len(schema.names):
        raise DaoError(
            f"{where}: every column of the data ({', '.join(map(repr, schema.names))}) is a partition "
            f"column, so the data files would hold no column at all (Spark refuses this layout too); "
            f"nothing was written. Keep at least one column out of 'partition_by' of {obj.full_name!r} "
            f"in the catalog ({getattr(obj.store, 'source', 'the catalog file')}), or add a data column"
        )


def _store_root(store: DataStore) -> str | None:
    root = store.location
    if not root:
        return None
    if "://" in root:
        scheme, _, rest = root.partition("://")
        return "/" + rest.lstrip("/") if scheme == "file" else None
    return os.path.abspath(root)


def _escapes(real_root: str, path: str) -> bool:
    """True when ``path``'s real location (symlinks resolved) is outside ``real_root``."""
    real = os.path.realpath(path)
    return real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep)


def check_inside_store(store: DataStore, paths: Iterable[str], *, what: str) -> None:
    """Refuse local ``paths`` whose real path (symlinks resolved) leaves the store's real root:
    a symlink inside a store must not let a write, delete or read reach files outside it."""
    root = _store_root(store)
    if root is None:
        return
    real_root = os.path.realpath(root)
    for path in paths:
        if _escapes(real_root, path):
            raise DaoError(
                f"{what} (store {store.name!r}): {path} resolves to {os.path.realpath(path)}, outside the "
                f"store's folder {real_root} (a symbolic link leads out of it); nothing was "
                "done. Remove the link, or point the store's path at the real folder"
            )


def _file_in_the_way(store: DataStore, path: str) -> str | None:
    """The store root or a folder between it and ``path`` that is a regular file (local stores)."""
    root = _store_root(store)
    if root is None:
        return None
    current = os.path.dirname(os.path.abspath(path))
    chain_ = [current]
    while current.startswith(root.rstrip(os.sep) + os.sep) and current != root:
        current = os.path.dirname(current)
        chain_.append(current)
    for folder in reversed(chain_):
        if os.path.isfile(folder):
            return folder
    return None


def not_a_folder_error(store: DataStore, path: str, *, what: str) -> DaoError | None:
    """A clear error when a regular file stands where the store's folders should be; else None."""
    blocker = _file_in_the_way(store, path)
    if blocker is None:
        return None
    whose = "the store's path" if blocker == _store_root(store) else "a folder on the way"
    return DaoError(
        f"{what} (store {store.name!r}): {whose} {blocker} is a regular file, not a folder. Point the "
        f"store's 'path' in the catalog ({getattr(store, 'source', 'the catalog')}) at a folder, or move the file away"
    )


def _hidden(rel: str) -> bool:
    return any(part.startswith(("_", ".")) for part in rel.split("/"))


def _list_files(fs: pafs.FileSystem, base: str, *, mtimes: dict[str, int | None] | None = None,
                hidden: set[str] | None = None) -> list[tuple[str, int]]:
    """Visible data files under ``base`` as (relative path, size), sorted; ``mtimes`` (if given)
    receives each one's modification time in ns, from the same listing; ``hidden`` (if given) the
    names of the hidden files directly in ``base`` (e.g. the schema sidecar)."""
    listing = None
    if _is_object_store(fs):
        # one LIST request in the common case (a folder of files), instead of HEAD + LIST + LIST
        listing = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    if not listing:
        info = fs.get_file_info(base)
        if info.type == pafs.FileType.NotFound:
            return []
        if info.type == pafs.FileType.File:
            if mtimes is not None:
                mtimes[""] = info.mtime_ns
            return [("", info.size or 0)]
    if listing is None:
        listing = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    out = []
    for fi in listing:
        if fi.type != pafs.FileType.File:
            continue
        rel = fi.path[len(base) :].lstrip("/")
        if _hidden(rel):
            if hidden is not None and "/" not in rel:
                hidden.add(rel)
            continue
        out.append((rel, fi.size or 0))
        if mtimes is not None:
            mtimes[rel] = fi.mtime_ns
    if not out and listing and _is_object_store(fs):
        # only hidden entries under "base/" (a write's staging): "base" itself may be one file, e.g.
        # uploaded as-is; it is the object's data (an overwrite replaces it, see CommitProtocol._commit)
        info = fs.get_file_info(base)
        if info.type == pafs.FileType.File:
            if mtimes is not None:
                mtimes[""] = info.mtime_ns
            return [("", info.size or 0)]
    out.sort()
    return out


def _partition_values(rel: str) -> list[tuple[str, str | None]]:
    values = []
    for seg in rel.split("/")[:-1]:
        if "=" in seg:
            k, _, v = seg.partition("=")
            v = unquote(v)
            values.append((unquote(k), None if v == HIVE_NULL else v))
    return values


def _partition_segment(col: str, value: Any, type_: pa.DataType | None = None) -> str:
    """``col=value``, written as pyarrow's hive partitioning writes it (the csv/parquet writer):
    booleans ``true``/``false``, timestamps ``2020-01-01 01:02:03.000000Z``, floats as Arrow
    prints them (``1`` for 1.0; pass the column's ``type_``)."""
    if value is None:
        return f"{col}={HIVE_NULL}"
    if isinstance(value, float):
        text = pa.array([value], type_ or pa.float64()).cast(pa.string())[0].as_py()
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, datetime.datetime):
        text = pa.array([value]).cast(pa.string())[0].as_py()
        if value.tzinfo is not None and not text.endswith("Z"):
            text = pa.array([value], pa.timestamp("us", "UTC")).cast(pa.string())[0].as_py()
    else:
        text = str(value)
    return f"{col}={quote(text, safe='')}"


def _check_partition_values(obj: DataObject, spec: WriteSpec, batch: pa.RecordBatch) -> None:
    """A string partition value equal to Hive's null marker would read back as null: refuse it."""
    import pyarrow.compute as pc

    for col in spec.partition_by:
        column = batch.column(batch.schema.get_field_index(col))
        if (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)) and \
                pc.any(pc.equal(column, HIVE_NULL)).as_py():
            raise DaoError(
                f"writing {obj.full_name!r} (store {obj.store_name!r}): partition column {col!r} holds the "
                f"value {HIVE_NULL!r}, Hive's marker for a null partition value: it would read back as "
                "null. Change the value (or write a null) before writing"
            )


def _infer_partition_type(values: list[str | None]) -> pa.DataType:
    present = [v for v in values if v is not None]
    if not present:
        return pa.string()
    try:
        for v in present:
            int(v)
        return pa.int64()
    except ValueError:
        pass
    try:
        for v in present:
            float(v)
        return pa.float64()
    except ValueError:
        pass
    if all(_DATE_RE.match(v) for v in present):
        return pa.date32()
    if all(v.lower() in ("true", "false") for v in present):
        return pa.bool_()
    if all(_TIMESTAMP_RE.match(v) for v in present):
        return pa.timestamp("us", "UTC")  # as timestamp columns read (naive values taken as UTC)
    return pa.string()


def _known_partition_type(known: pa.Schema | None, col: str, values: list[str | None]) -> pa.DataType | None:
    """The type the schema sidecar records for partition column ``col`` (the type it was written
    with: a string column of ``"001"`` stays a string), if it reads every folder value; else None
    (inference decides, as for files another writer added)."""
    if known is None or col not in known.names:
        return None
    type_ = known.field(col).type
    try:
        for v in set(values):
            _typed(v, type_)
    except (pa.ArrowException, ValueError, TypeError):
        return None
    return type_


def _ambiguous_partitions(schema: pa.Schema, partition_by: Iterable[str], rels: Iterable[str]) -> list[str]:
    """The partition columns whose type inference from these files' folder values would not give
    back ``schema``'s type (``"001"`` in a string column reads as int64, decimals as double)."""
    values: dict[str, list[str | None]] = {c: [] for c in partition_by}
    for rel in rels:
        for k, v in _partition_values(rel):
            if k in values:
                values[k].append(v)
    # (a column of nulls only infers as string: its written type is lost unless recorded)
    return [c for c, vs in values.items() if _family(_infer_partition_type(vs)) != _family(schema.field(c).type)]


def _family(t: pa.DataType) -> str:
    """Types whose values inference reads back alike (int32 folders read as int64: same values)."""
    for name, test in (("int", pa.types.is_integer), ("float", pa.types.is_floating), ("date", pa.types.is_date),
                       ("timestamp", pa.types.is_timestamp), ("bool", pa.types.is_boolean)):
        if test(t):
            return name
    return str(t)  # strings, decimals, ...: only the same type


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: pyarrow's hive writer: ``2020-01-01 01:02:03.000000Z``; Spark's: ``2020-01-01 01:02:03`` (session time zone)
_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}(:?\d{2})?)?$")


def _typed(value: str | None, type_: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_timestamp(type_) and type_.tz is not None and not re.search(r"(Z|[+-]\d{2}(:?\d{2})?)$",
                                                                               value[10:]):
        # a naive value (Spark's layout) is taken as UTC, as naive timestamp columns are
        return pa.array([value]).cast(pa.timestamp(type_.unit)).cast(type_)[0].as_py()
    return pa.array([value]).cast(type_)[0].as_py()


def _file_stem(job_id: str, task: str) -> str:
    """``part-<job>-<task>``: data file names start with their job's tag (see :func:`_job_tag`)."""
    return f"{_job_tag(job_id)}{task}"


def _job_tag(job_id: str) -> str:
    return f"part-{job_id[:8]}-"


def _remove_empty_dirs(fs, base: str, rels: set[str]) -> None:
    """Remove the local folders ``rels`` (and their parents below ``base``) that are empty.

    ``rmdir`` removes a folder only if it is empty at that instant: a file another writer has just
    moved in is never deleted (a recursive delete after an emptiness check would race).
    """
    for rel in sorted(rels, key=lambda r: -r.count("/")):
        while rel:
            if not _rmdir(f"{base}/{rel}"):
                break
            rel = posixpath.dirname(rel)


def _rmdir(path: str) -> bool:
    try:
        os.rmdir(path)
        return True
    except OSError:
        return False
