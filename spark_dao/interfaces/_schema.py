"""Schemas of stored files: which files reads and the append check sample, how csv/json
schemas unify across them, the schema sidecar an empty write leaves, and whether incoming data
fits stored csv/json files (text compatibility).
"""

from __future__ import annotations

import json
import logging
import posixpath
import uuid
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from ..catalog.model import DataObject
from ..errors import DaoError
from . import _arrow
from ._fs import _describe, _file_error, _is_object_store, io_errors
from ._layout import (
    _ambiguous_partitions,
    _infer_partition_type,
    _known_partition_type,
    _list_files,
    _partition_values,
)
from .base import StagedFile, WriteSpec

log = logging.getLogger("spark_dao.files")

MB = 1024 * 1024
#: the largest files (at most this many, not the empty ones) whose schemas reads and the append check
#: sample: csv/json types are unified over them; parquet takes the largest file's schema
_SCHEMA_SAMPLE_FILES = 16


def _schema_sample(files: list[tuple[str, int]], fmt: str) -> list[tuple[str, int]]:
    """The files whose schemas reads and the append check open: the largest, at most
    ``_SCHEMA_SAMPLE_FILES``; empty files (an empty csv/json write) only when nothing else is there
    (an empty parquet file still has a schema)."""
    by_size = sorted(files, key=lambda f: (-f[1], f[0]))
    if by_size and by_size[0][1] == 0:
        return by_size[:1] if fmt == "parquet" else []
    return [f for f in by_size if f[1] > 0][:_SCHEMA_SAMPLE_FILES]


_TS_UNITS = ("s", "ms", "us", "ns")


def _unify_text_type(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type a csv/json column inferred as ``a`` in one file and ``b`` in another reads as: both
    files' values must convert to it. int+int -> int64, numbers -> float64, date+timestamp ->
    timestamp, anything else that differs -> string (nested json types: the first; a mismatch
    there is reported by the read)."""
    t = pa.types
    if a.equals(b) or t.is_null(b):
        return a
    if t.is_null(a):
        return b
    nested = (t.is_struct, t.is_list, t.is_large_list)
    if any(f(a) or f(b) for f in nested):
        return a
    if t.is_integer(a) and t.is_integer(b):
        return pa.int64()
    if all(t.is_integer(x) or t.is_floating(x) or t.is_decimal(x) for x in (a, b)):
        return pa.float64()
    if t.is_timestamp(a) and t.is_timestamp(b) and a.tz == b.tz:
        return pa.timestamp(max(a.unit, b.unit, key=_TS_UNITS.index), a.tz)
    if t.is_timestamp(a) and t.is_date(b):
        return a
    if t.is_date(a) and t.is_timestamp(b):
        return b
    return pa.string()


def _unify_text_schemas(a: pa.Schema, b: pa.Schema) -> pa.Schema:
    """Column by column, by name: ``a``'s columns (the largest file's, as Spark without mergeSchema)."""
    return pa.schema([pa.field(f.name, _unify_text_type(f.type, b.field(f.name).type)) if f.name in b.names
                      else f for f in a])


# --------------------------------------------------------------------------- schema sidecar
#: hidden file an empty write leaves next to its (empty) data file: csv and json files with no rows
#: cannot carry column types (json not even names), so reads take them from here
SCHEMA_SIDECAR = "_dao_schema.json"


def _write_sidecar(fs: pafs.FileSystem, base: str, schema: pa.Schema) -> None:
    import base64

    doc = {
        "columns": [{"name": f.name, "type": str(f.type)} for f in schema],  # for people
        "arrow_schema": base64.b64encode(schema.serialize().to_pybytes()).decode("ascii"),
    }
    data = json.dumps(doc, indent=1).encode("utf-8")
    if _is_object_store(fs):  # one PUT: readers see the old object or the new one
        with fs.open_output_stream(f"{base}/{SCHEMA_SIDECAR}") as f:
            f.write(data)
        return
    # a local file is written in place: write a hidden temporary one and rename it over the sidecar,
    # so that a concurrent read never meets a half-written one
    tmp = f"{base}/.{SCHEMA_SIDECAR}.{uuid.uuid4().hex[:12]}"
    try:
        with fs.open_output_stream(tmp) as f:
            f.write(data)
        fs.move(tmp, f"{base}/{SCHEMA_SIDECAR}")
    except BaseException:
        try:
            fs.delete_file(tmp)
        except OSError:
            pass
        raise


def record_partition_types(obj: DataObject, fs: pafs.FileSystem, base: str, spec: WriteSpec,
                           staged: list[tuple[str, StagedFile]], recorded: bool) -> bool:
    """Record the written schema in the sidecar when inference would misread the new partition folders
    (``"001"`` in a string column reads as int64): reads, appends, upserts use it. True if it had to.
    ``recorded``: the commit's listing holds a sidecar, which appends already matched (kept as is)."""
    if not spec.partition_by or not staged or obj.schema:
        return False
    if not _ambiguous_partitions(spec.schema, spec.partition_by, [f.path for _, f in staged]):
        return False
    if recorded and spec.mode != "overwrite":
        return True
    try:
        _write_sidecar(fs, base, spec.schema)
    except (OSError, DaoError) as exc:  # reads then infer the types
        log.warning("%s: could not record the partition types in %s/%s: %s", obj.full_name, base, SCHEMA_SIDECAR, exc)
    return True


def _read_sidecar(fs: pafs.FileSystem, base: str, obj: DataObject) -> pa.Schema | None:
    import base64

    path = f"{base}/{SCHEMA_SIDECAR}"
    try:
        with fs.open_input_stream(path) as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(raw)
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(doc["arrow_schema"])))
    except (ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        raise DaoError(
            f"reading {obj.full_name!r} (store {obj.store_name!r}): the schema file {path} is corrupt "
            f"({_describe(exc)}); delete it, or overwrite the object"
        ) from exc


def _text_compatible(incoming: pa.Schema, stored: pa.Schema, *, what: str, by_position: bool) -> pa.Schema:
    """``incoming`` may be appended to csv/json files whose inferred schema is ``stored`` when every
    stored column still parses: same names (csv without header: same count), and no value that the
    type reads infer (``stored``) would fail to convert. Returns the schema to write with: ``incoming``,
    with integers going to a float column and values going to a string column cast to that type."""
    if by_position:
        pairs = list(zip(incoming.names, stored.names, strict=False))
        missing = stored.names[len(incoming):]
        extra = incoming.names[len(stored):]
    else:
        pairs = [(c, c) for c in incoming.names if c in stored.names]
        missing = [c for c in stored.names if c not in incoming.names]
        extra = [c for c in incoming.names if c not in stored.names]
    changed = []
    cast: dict[str, pa.DataType] = {}
    for inc_name, st_name in pairs:
        inc, st = _arrow.normalize_type(incoming.field(inc_name).type), stored.field(st_name).type
        if not _text_readable(inc, st):
            changed.append(f"{inc_name} ({inc} -> stored {st})")
        elif ((pa.types.is_floating(st) and (pa.types.is_integer(inc) or pa.types.is_decimal(inc)))
              or (pa.types.is_string(st) and not pa.types.is_string(inc) and not pa.types.is_null(inc))):
            # written as the stored type ("2.0", "\"2\""): reads infer types from a sample of the
            # files, and a file of "2" would make them read the column as int64 and fail on "1.5"
            cast[inc_name] = st
    _arrow.check_mismatch(missing, extra, changed, what=what,
                          against="the stored schema (as reads infer it from the files)",
                          fix="write with mode='overwrite' to replace the data")
    return pa.schema([pa.field(f.name, cast[f.name]) if f.name in cast else f for f in incoming])


def _text_readable(inc: pa.DataType, st: pa.DataType) -> bool:
    """Can a csv/json reader that infers ``st`` for a column convert values written from ``inc``?"""
    t = pa.types
    if t.is_null(st) or t.is_null(inc) or t.is_string(st) or t.is_large_string(st) or inc.equals(st):
        return True
    if t.is_integer(st):
        return t.is_integer(inc)
    if t.is_floating(st) or t.is_decimal(st):
        return t.is_integer(inc) or t.is_floating(inc) or t.is_decimal(inc)
    if t.is_boolean(st):
        return t.is_boolean(inc)
    if t.is_temporal(st):
        return t.is_temporal(inc)
    if t.is_struct(st) or t.is_list(st) or t.is_large_list(st):
        return inc.id == st.id
    return False


def _parquet_fragment(fs: pafs.FileSystem, path: str, size: int, row_groups: Iterable[int] | None = None) -> Any:
    """A parquet file opened with its listed size (no HEAD request on object stores); column chunks
    of a row group are fetched with coalesced, parallel range requests."""
    import pyarrow.dataset as ds

    fmt = ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=True))
    return fmt.make_fragment(path, filesystem=fs, file_size=size or None,
                             row_groups=list(row_groups) if row_groups is not None else None)


def _sample_schema(fs, base: str, files: list[tuple[str, int]], fmt: str, *, header: bool,
                   delimiter: str, infer: bool, obj: DataObject,
                   action: str = "reading the schema of") -> pa.Schema:
    """The data schema of the sampled files (:meth:`_sample_files`: parquet the largest, csv/json
    unified over the largest ones, not the zero-byte file an empty write leaves); a csv/json
    column that is all null in all of them takes its type from the schema sidecar an empty write
    leaves (``_dao_schema.json``)."""
    schema = _sample_files(fs, base, files, fmt, header=header, delimiter=delimiter, infer=infer, obj=obj,
                                action=action)
    if fmt != "parquet" and (not len(schema) or any(pa.types.is_null(t) for t in schema.types)):
        known = _read_sidecar(fs, base, obj)
        if known is not None:
            if not len(schema):
                return known
            schema = pa.schema([
                known.field(f.name) if pa.types.is_null(f.type) and f.name in known.names else f
                for f in schema
            ])
    return schema


def _sample_files(fs, base: str, files: list[tuple[str, int]], fmt: str, *, header: bool,
                  delimiter: str, infer: bool, obj: DataObject, every: bool = False,
                  action: str = "reading the schema of") -> pa.Schema:
    """Parquet: the largest file's schema (``every``: the other sampled files' footers are opened
    too, so the append check reports a corrupt file among them as a read would). csv/json: the
    schemas of the (up to ``_SCHEMA_SAMPLE_FILES``) largest files, unified column by column
    (:func:`_unify_text_type`), so that one file of ``"1"`` next to a file of ``"apple"`` does
    not make the column int64. Reads and the append check sample the same files."""
    by_size = _schema_sample(files, fmt)
    if not by_size:
        return pa.schema([])  # only empty csv/json files: no columns to find
    schema: pa.Schema | None = None
    for rel, size in by_size:
        found = _infer_schema(fs, posixpath.join(base, rel) if rel else base, fmt,
                                   header=header, delimiter=delimiter, infer=infer, size=size, obj=obj,
                                   action=action)
        if schema is None:
            schema = found
            if fmt == "parquet" and not every:
                break
        elif fmt != "parquet":
            schema = _unify_text_schemas(schema, found)
    assert schema is not None
    return schema


#: schema metadata under which :func:`_infer_schema` records a parquet file's columns Spark's reader
#: refuses (JSON ``{column: what}``); ``plan_read`` moves it to ``ReadPlan.spark_refuses``
SPARK_REFUSES = b"dao:spark_refuses"


def spark_cannot_read(column: Any) -> str | None:
    """What makes a parquet leaf column (``pq.ParquetSchema.column(i)``) unreadable to Spark's
    parquet reader where Arrow reads it, or None: INT64 nanosecond timestamps (pandas writes them),
    unsigned 64-bit integers, times of day and 16-bit floats. (Not INT96, which Spark itself writes and Arrow also shows as
    nanoseconds.)"""
    logical = json.loads(column.logical_type.to_json() or "{}")
    if logical.get("Type") == "Time":
        return "times of day (parquet TIME)"
    if logical.get("Type") == "Float16":
        return "16-bit floats"
    if column.physical_type != "INT64":
        return None
    if logical.get("Type") == "Timestamp" and logical.get("timeUnit") == "nanoseconds":
        return "INT64 nanosecond timestamps"
    if column.converted_type == "UINT_64":
        return "unsigned 64-bit integers"
    return None


def spark_refused_columns(parquet_schema: Any) -> dict[str, str]:
    """``{top-level column: what}`` of the columns of a parquet schema Spark cannot read."""
    out: dict[str, str] = {}
    for i in range(len(parquet_schema)):
        column = parquet_schema.column(i)
        why = spark_cannot_read(column)
        if why is not None:
            out.setdefault(column.path.split(".")[0], f"stores column {column.path!r} as {why}")
    return out


def _infer_schema(fs, path: str, fmt: str, *, header: bool, delimiter: str, infer: bool,
                  size: int = 0, obj: DataObject, action: str = "reading the schema of") -> pa.Schema:
    try:
        if fmt == "parquet":
            fragment = _parquet_fragment(fs, path, size)
            schema = fragment.physical_schema
            refused = {c: f"{path} {w}"  # (the footer just read: no I/O)
                       for c, w in spark_refused_columns(fragment.metadata.schema).items()}
            if refused:
                schema = schema.with_metadata({**(schema.metadata or {}), SPARK_REFUSES: json.dumps(refused)})
            return schema
        if fmt == "csv":
            import pyarrow.csv as pcsv

            with fs.open_input_stream(path, compression="detect") as f:
                reader = pcsv.open_csv(
                    f,
                    read_options=pcsv.ReadOptions(autogenerate_column_names=not header, block_size=1 * MB),
                    parse_options=pcsv.ParseOptions(delimiter=delimiter),
                )
                schema = reader.schema
            if not infer:
                schema = pa.schema([pa.field(n, pa.string()) for n in schema.names])
            return schema
        import pyarrow.json as pjson

        with fs.open_input_stream(path, compression="detect") as f:
            return pjson.read_json(f).schema
    except io_errors() as exc:
        raise _file_error(obj, path, fmt, exc, action=action) from exc


def _stored_schema(fs, base: str, files: list[tuple[str, int]], obj: DataObject, *,
                   incoming: pa.Schema, fmt: str = "parquet", header: bool = True,
                   delimiter: str = ",", action: str = "appending to", every: bool = True,
                   known: pa.Schema | None = None) -> pa.Schema:
    """The stored files' schema as reads take it (partition columns included), for the append
    check. Parquet: the largest file's; ``every``: the other sampled footers are opened too, so a
    corrupt file is reported as for csv/json (same sample). Upserts pass ``every=False``: their key
    scan opens the footers of the files it needs, and a file it skips is left as it is."""
    for _attempt in range(5):
        try:
            if fmt == "parquet":
                schema = _sample_files(fs, base, files, fmt, header=header, delimiter=delimiter,
                                            infer=True, obj=obj, every=every, action=action)
            else:
                schema = _sample_schema(fs, base, files, fmt, header=header, delimiter=delimiter,
                                             infer=True, obj=obj, action=action)
            break
        except (OSError, DaoError):
            # a concurrent upsert or overwrite replaced a file between the listing and this read:
            # sample the current files instead (an error only if every file read is still listed)
            current = _list_files(fs, base)
            read = [rel for rel, _ in _schema_sample(files, fmt)]
            if not current or all(rel in dict(current) for rel in read):
                raise
            files = current
    else:
        raise DaoError(f"writing {obj.full_name!r} (store {obj.store_name!r}): the files at {obj.location} "
                       "kept changing while reading their schema; retry")
    if fmt != "parquet" and not len(schema):
        return schema  # only empty files and no schema sidecar: nothing to check against
    # Partition types come from every file's path, as plan_read infers them (one value can mislead:
    # "1" looks like an int in a column that also holds "x").
    values: dict[str, list[str | None]] = {c: [] for c in obj.partition_by}
    for path, _ in files:
        for k, v in _partition_values(path):
            values.setdefault(k, []).append(v)
    part_fields = []
    for k, vs in values.items():
        if k in schema.names:
            continue
        known_type = _known_partition_type(known, k, vs)  # (the schema sidecar: as plan_read types them)
        if known_type is not None:
            part_fields.append(pa.field(k, known_type))
        elif not any(v is not None for v in vs) and k in incoming.names:
            # only empty or null partitions so far (an empty write): nothing says the type yet
            part_fields.append(incoming.field(k))
        else:
            part_fields.append(pa.field(k, _infer_partition_type(vs)))
    if fmt == "parquet":
        return _arrow.normalize_schema(pa.schema(list(schema) + part_fields))
    # a csv/json column with no value yet stays null-typed: anything may be appended to it
    return pa.schema([f if pa.types.is_null(f.type) else _arrow.normalize_field(f)
                      for f in list(schema) + part_fields])
