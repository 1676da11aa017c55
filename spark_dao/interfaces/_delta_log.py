"""What the Delta interface writes into and reads from the Delta log: option parsing for time travel,
partition values as the log spells them, the ``stats`` JSON of a written file, pruning by the log's
min/max statistics, and the types Delta stores.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import pyarrow as pa

from ..catalog.model import DataObject
from ..errors import DaoError
from ._layout import HIVE_NULL, _partition_values, _typed
from .base import PartitionFilter, WriteSpec
from .filters import validate


def _version_option(obj: DataObject, value: Any) -> int | None:
    if value is None:
        return None
    try:
        version = int(str(value).strip())
    except ValueError:
        raise DaoError(f"reading {obj.full_name!r}: versionAsOf={value!r} is not a version number") from None
    if version < 0:
        raise DaoError(f"reading {obj.full_name!r}: versionAsOf={value!r} must be 0 or more")
    return version


def _timestamp_option(obj: DataObject, value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, dt.date):
        when = dt.datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip().replace("Z", "+00:00")
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            raise DaoError(
                f"reading {obj.full_name!r}: timestampAsOf={value!r} is not a timestamp; "
                "use e.g. '2026-01-01 00:00:00' (UTC) or '2026-01-01T00:00:00+01:00'"
            ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _relative(obj: DataObject, path: str) -> str:
    """A data file's path in the log, relative to the table folder, as it is named on disk."""
    if "://" in path or path.startswith("/"):
        raise DaoError(
            f"reading {obj.full_name!r} (store {obj.store_name!r}): the table references a file outside its "
            f"folder ({path}), e.g. a shallow clone; read it with Spark's own Delta reader"
        )
    return unquote(path)


def _as_type(value: Any, type_: pa.DataType) -> Any:
    if value is None or not isinstance(value, str):
        return value
    return _typed(value, type_)


def _partition_string(value: Any) -> str | None:
    """A partition value as the Delta log writes it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return str(value)


def _partition_map(rel: str, spec: WriteSpec) -> dict[str, str | None]:
    """The partition values of a staged file (from its hive folders), as the Delta log writes them."""
    raw = dict(_partition_values(rel))
    out: dict[str, str | None] = {}
    for col in spec.partition_by:
        value = raw.get(col)
        if value is None or value == HIVE_NULL:
            out[col] = None
            continue
        out[col] = _partition_string(_typed(value, spec.schema.field(col).type))
    return out


def _delta_schema(schema: pa.Schema) -> pa.Schema:
    """Types Delta stores: timestamps in microseconds (UTC), no unsigned or large variants."""
    fields = []
    for f in schema:
        t = f.type
        if pa.types.is_timestamp(t):
            t = pa.timestamp("us", "UTC")
        elif pa.types.is_large_string(t):
            t = pa.string()
        elif pa.types.is_large_binary(t):
            t = pa.binary()
        elif pa.types.is_unsigned_integer(t):
            t = {8: pa.int16(), 16: pa.int32(), 32: pa.int64()}.get(t.bit_width, pa.int64())
        fields.append(pa.field(f.name, t, f.nullable))
    return pa.schema(fields)


_STAT_TYPES = (pa.types.is_integer, pa.types.is_floating, pa.types.is_string, pa.types.is_date,
               pa.types.is_timestamp, pa.types.is_boolean)


def _file_stats(fs: Any, path: str, columns: list[pa.Field], rows: int) -> str:
    """The Delta ``stats`` JSON of one written Parquet file, from its footer."""
    import pyarrow.parquet as pq

    stats: dict[str, Any] = {"numRecords": rows, "minValues": {}, "maxValues": {}, "nullCount": {}}
    try:
        with fs.open_input_file(path) as f:
            meta = pq.ParquetFile(f).metadata
    except OSError:
        return json.dumps({"numRecords": rows})
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    for field in columns:
        if field.name not in names or not any(check(field.type) for check in _STAT_TYPES):
            continue
        i = names.index(field.name)
        lo = hi = None
        nulls = 0
        complete = True
        for g in range(meta.num_row_groups):
            st = meta.row_group(g).column(i).statistics
            if st is None or not st.has_min_max:
                if st is not None and st.null_count == meta.row_group(g).num_rows:
                    nulls += st.null_count
                    continue
                complete = False
                break
            nulls += st.null_count or 0
            lo = st.min if lo is None else min(lo, st.min)
            hi = st.max if hi is None else max(hi, st.max)
        if not complete:
            continue
        stats["nullCount"][field.name] = nulls
        if lo is not None:
            stats["minValues"][field.name] = _json_value(lo, field.type)
            stats["maxValues"][field.name] = _json_value(hi, field.type)
    return json.dumps(stats)


def _json_value(value: Any, type_: pa.DataType) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _stats_may_match(row: Mapping[str, Any], names: set[str], filters: tuple[PartitionFilter, ...]) -> bool:
    """False only when the file's min/max prove no row can pass every filter (conservative)."""
    for col, op, value in filters:
        lo, hi = row.get(f"min.{col}"), row.get(f"max.{col}")
        if f"min.{col}" not in names or lo is None or hi is None or value is None:
            continue
        try:
            if op in ("=", "==") and not (lo <= value <= hi):
                return False
            if op == "<" and not lo < value:
                return False
            if op == "<=" and not lo <= value:
                return False
            if op == ">" and not hi > value:
                return False
            if op == ">=" and not hi >= value:
                return False
            if op == "in" and not any(v is not None and lo <= v <= hi for v in value):
                return False
        except TypeError:  # values the stats cannot compare with: keep the file
            continue
    return True


def _is_conflict(exc: BaseException) -> bool:
    try:
        from deltalake.exceptions import CommitFailedError
    except ImportError:
        return False
    return isinstance(exc, CommitFailedError)


def _remove_quietly(fs: Any, base: str, stems: list[str], spec: WriteSpec) -> None:
    """After a failed stage: delete this task's partial files (best effort)."""
    import pyarrow.fs as pafs

    try:
        infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True, recursive=True))
    except OSError:
        return
    for info in infos:
        if info.type == pafs.FileType.File and any(posixpath.basename(info.path).startswith(s) for s in stems):
            try:
                fs.delete_file(info.path)
            except OSError:
                pass


def _partition_filters(obj: DataObject, table: Any, where: list[PartitionFilter] | None) -> Any:
    """``where`` as delta-rs partition filters (string values); only partition columns."""
    if not where:
        return None
    parts = set(table.metadata().partition_columns)
    validate(tuple(where), what=f"optimizing {obj.full_name!r}")
    out = []
    for col, op, value in where:
        if col not in parts:
            raise DaoError(f"optimizing {obj.full_name!r}: where may name partition columns only "
                           f"({sorted(parts) or 'the table has none'}), not {col!r}")
        if op not in ("=", "!=", "in"):
            raise DaoError(f"optimizing {obj.full_name!r}: where supports =, != and in, not {op!r}")
        out.append((col, op, [_partition_string(v) for v in value] if op == "in" else _partition_string(value)))
    return out

def _check_replace_where(obj: DataObject, batch: pa.RecordBatch, filters: tuple[PartitionFilter, ...]) -> pa.RecordBatch:
    """Every row of a replaceWhere overwrite must match the predicate (as Delta requires)."""
    from .filters import filter_table

    kept = filter_table(pa.Table.from_batches([batch]), filters, what=f"writing {obj.full_name!r}")
    if kept.num_rows != batch.num_rows:
        raise DaoError(
            f"writing {obj.full_name!r} (store {obj.store_name!r}) with replaceWhere: "
            f"{batch.num_rows - kept.num_rows} row(s) do not match the predicate; write only rows inside it "
            "(nothing was committed)"
        )
    return batch


def deleted_rows(uri: str, table: Any) -> dict[str, tuple[int, ...]]:
    """The rows each file's deletion vector removes at the table's version (rel -> positions), read
    on the driver when a read is planned; {} for a table without deletion vectors."""
    if "deletionVectors" not in set(table.protocol().reader_features or ()):
        return {}
    import numpy as np

    uri = uri.rstrip("/")
    out: dict[str, tuple[int, ...]] = {}
    for batch in pa.RecordBatchReader.from_stream(table.deletion_vectors()):
        for path, keep in zip(batch.column("filepath").to_pylist(), batch.column("selection_vector").to_pylist(),
                              strict=True):
            rel = unquote(path.split(uri, 1)[1].lstrip("/")) if uri in path else unquote(path)
            gone = np.flatnonzero(~np.asarray(keep, dtype=bool))
            if len(gone):
                out[rel] = tuple(int(i) for i in gone)
    return out
