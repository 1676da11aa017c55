"""Arrow schema helpers shared by interfaces: type names, normalisation, conforming batches."""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from ..errors import SchemaMismatch

UTC_US = pa.timestamp("us", tz="UTC")

_SIMPLE_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "str": pa.string(),
    "binary": pa.binary(),
    "bool": pa.bool_(),
    "boolean": pa.bool_(),
    "byte": pa.int8(),
    "tinyint": pa.int8(),
    "short": pa.int16(),
    "smallint": pa.int16(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "long": pa.int64(),
    "bigint": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "date": pa.date32(),
    "timestamp": UTC_US,
    "timestamp_ntz": pa.timestamp("us"),
}
_DECIMAL_RE = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def type_from_name(name: str) -> pa.DataType:
    """``"long"`` -> ``pa.int64()``; ``"decimal(10,2)"`` -> ``pa.decimal128(10, 2)``."""
    key = name.strip().lower()
    if key in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[key]
    match = _DECIMAL_RE.match(key)
    if match:
        return pa.decimal128(int(match.group(1)), int(match.group(2)))
    raise ValueError(f"unknown type {name!r}")


def schema_from_catalog(schema: dict[str, str]) -> pa.Schema:
    return pa.schema([pa.field(col, type_from_name(typ)) for col, typ in schema.items()])


def normalize_type(t: pa.DataType) -> pa.DataType:
    """The type Spark round-trips exactly: UTC microsecond timestamps, no large/dictionary/unsigned types."""
    if pa.types.is_timestamp(t):
        # naive timestamps (pandas' default) are taken as UTC, as the Spark source reports them
        return UTC_US
    if pa.types.is_dictionary(t):
        return normalize_type(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t) or pa.types.is_fixed_size_binary(t):
        return pa.binary()
    if pa.types.is_uint8(t):
        return pa.int16()
    if pa.types.is_uint16(t):
        return pa.int32()
    if pa.types.is_uint32(t) or pa.types.is_uint64(t):
        return pa.int64()
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_date64(t):
        return pa.date32()
    if pa.types.is_large_list(t) or pa.types.is_list_view(t) or pa.types.is_fixed_size_list(t):
        return pa.list_(normalize_field(t.value_field))
    if pa.types.is_list(t):
        return pa.list_(normalize_field(t.value_field))
    if pa.types.is_struct(t):
        return pa.struct([normalize_field(f) for f in t])
    if pa.types.is_map(t):
        return pa.map_(normalize_type(t.key_type), normalize_field(t.item_field))
    if pa.types.is_null(t):
        return pa.string()
    return t


def normalize_field(f: pa.Field) -> pa.Field:
    return pa.field(f.name, normalize_type(f.type), nullable=True)


def normalize_schema(schema: pa.Schema) -> pa.Schema:
    """All fields nullable, Spark-exact types (see :func:`normalize_type`); metadata dropped."""
    return pa.schema([normalize_field(f) for f in schema])


def cast_array(arr: pa.Array | pa.ChunkedArray, target: pa.DataType) -> Any:
    if arr.type.equals(target):
        return arr
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
        if arr.type.equals(target):
            return arr
    if pa.types.is_timestamp(arr.type) and pa.types.is_timestamp(target):
        # Naive timestamps are taken as UTC; a finer unit is truncated to microseconds (as Spark does).
        if arr.type.tz is None and target.tz is not None:
            arr = arr.cast(pa.timestamp(arr.type.unit, tz="UTC"))
        return arr.cast(target, safe=False)
    return arr.cast(target)


def conform(batch: pa.RecordBatch, schema: pa.Schema, *, constants: dict[str, Any] | None = None) -> pa.RecordBatch:
    """Reorder/cast ``batch`` to exactly ``schema``; columns missing become nulls or ``constants``."""
    if batch.schema.equals(schema) and not constants:
        return batch
    n = batch.num_rows
    arrays = []
    names = batch.schema.names
    for f in schema:
        if constants and f.name in constants:
            arrays.append(constant_array(constants[f.name], f.type, n))
        elif f.name in names:
            arrays.append(cast_array(batch.column(names.index(f.name)), f.type))
        else:
            arrays.append(pa.nulls(n, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def constant_array(value: Any, type_: pa.DataType, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, type_)
    one = pa.array([value]).cast(type_) if not isinstance(value, pa.Scalar) else pa.array([value.as_py()], type_)
    if n == 1:
        return one
    import numpy as np

    return one.take(pa.array(np.zeros(n, dtype=np.int32)))


_WIDENING = {
    (pa.int8(), pa.int16()),
    (pa.int8(), pa.int32()),
    (pa.int8(), pa.int64()),
    (pa.int16(), pa.int32()),
    (pa.int16(), pa.int64()),
    (pa.int32(), pa.int64()),
    (pa.float32(), pa.float64()),
    (pa.int8(), pa.float64()),
    (pa.int16(), pa.float64()),
    (pa.int32(), pa.float64()),
    (pa.date32(), UTC_US),
}


def _widens(src: pa.DataType, dst: pa.DataType) -> bool:
    """True when every ``src`` value fits ``dst`` exactly (a safe cast on append)."""
    if (src, dst) in _WIDENING:
        return True
    if pa.types.is_decimal(src) and pa.types.is_decimal(dst):
        # pyarrow infers decimal(3, 2) from Decimal("1.10"): it must fit a declared decimal(10, 2)
        return dst.scale >= src.scale and dst.precision - dst.scale >= src.precision - src.scale
    return False


def check_mismatch(missing: list[str], extra: list[str], changed: list[str], *, what: str, against: str,
                   fix: str) -> None:
    """Raise ``SchemaMismatch`` listing the missing, new and retyped columns, if there are any."""
    if missing or extra or changed:
        problems = []
        if missing:
            problems.append(f"missing columns {missing}")
        if extra:
            problems.append(f"new columns {extra}")
        if changed:
            problems.append(f"changed types {changed}")
        raise SchemaMismatch(
            f"{what}: the data does not match {against}: {'; '.join(problems)}. "
            f"Select/cast the columns to match, or {fix}."
        )


def compatible_schema(
    incoming: pa.Schema,
    existing: pa.Schema,
    *,
    what: str,
    against: str = "the stored schema",
    fix: str = "write with mode='overwrite' to replace the data",
) -> pa.Schema:
    """The schema to write ``incoming`` data with so it appends cleanly to ``existing``.

    Same column names (any order) and equal or safely widening types; otherwise
    :class:`SchemaMismatch` naming every offending column.
    """
    inc = {f.name: normalize_type(f.type) for f in incoming}
    ext = {f.name: normalize_type(f.type) for f in existing}
    missing = [c for c in ext if c not in inc]
    extra = [c for c in inc if c not in ext]
    changed = [
        f"{c} ({inc[c]} -> stored {ext[c]})"
        for c in inc
        if c in ext and not inc[c].equals(ext[c]) and not _widens(inc[c], ext[c])
        and not pa.types.is_null(incoming.field(c).type)
    ]
    check_mismatch(missing, extra, changed, what=what, against=against, fix=fix)
    return pa.schema([pa.field(name, typ) for name, typ in ext.items()])
