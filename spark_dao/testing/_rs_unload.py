"""UNLOAD's output: the inner SELECT's rows as Parquet (or CSV) part files and a manifest on S3,
named and shaped like Redshift's (see :mod:`._rs_commands`)."""

from __future__ import annotations

import io
import json
from typing import Any

from ..errors import require
from ._pgwire import Result
from ._rs_commands import CommandContext, RedshiftError, _list, _split, text_value
from ._rs_sql import UnloadCommand

#: slices of the emulated cluster: PARALLEL ON writes one file per non-empty slice
SLICES = 2
#: Redshift's default MAXFILESIZE (6.2 GB)
DEFAULT_MAX_FILE_SIZE = int(6.2 * 1024**3)
NOT_EMPTY = ("Specified unload destination on S3 is not empty. Consider using a different bucket / prefix, "
             "manually removing the target files in S3, or using the ALLOWOVERWRITE option.")

_SIMPLE_TYPES = {16: "boolean", 20: "bigint", 21: "smallint", 23: "integer", 700: "real",
                 701: "double precision", 1082: "date", 1083: "time without time zone",
                 1114: "timestamp without time zone", 1184: "timestamp with time zone", 25: "character varying"}


def _arrow_type(pa: Any, type_oid: int, typmod: int, values: list) -> Any:
    simple = {16: pa.bool_(), 20: pa.int64(), 21: pa.int16(), 23: pa.int32(), 26: pa.int64(),
              700: pa.float32(), 701: pa.float64(), 1082: pa.date32(), 1083: pa.time64("us"),
              1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC")}
    if type_oid in simple:
        return simple[type_oid]
    if type_oid == 1700:
        if typmod >= 4:
            return pa.decimal128((typmod - 4) >> 16, (typmod - 4) & 0xFFFF)
        scale = max((-v.as_tuple().exponent for v in values if v is not None and v.is_finite()), default=0)
        return pa.decimal128(38, max(scale, 0))
    return pa.string()


def _schema_element(name: str, type_oid: int, typmod: int) -> dict:
    if type_oid == 1700:
        base: dict = {"base": "numeric"}
        if typmod >= 4:
            base.update(precision=(typmod - 4) >> 16, scale=(typmod - 4) & 0xFFFF)
    elif type_oid in (1043, 1042):
        base = {"base": "character varying" if type_oid == 1043 else "character"}
        if typmod >= 4:
            base["max_length"] = typmod - 4
    else:
        base = {"base": _SIMPLE_TYPES.get(type_oid, "character varying")}
    return {"name": name, "type": base}


def to_arrow(result: Result) -> Any:
    pa = require("pyarrow", "redshift-test")
    arrays, fields = [], []
    for i, col in enumerate(result.columns):
        values = [text_value(col.type_oid, row[i]) for row in result.rows]
        typ = _arrow_type(pa, col.type_oid, col.typmod, values)
        arrays.append(pa.array(values, type=typ))
        fields.append(pa.field(col.name, typ))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _encode(table: Any, fmt: str, cmd: UnloadCommand) -> bytes:
    buf = io.BytesIO()
    if fmt == "PARQUET":
        import pyarrow.parquet as pq

        pq.write_table(table, buf, compression="snappy")
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=cmd.header, delimiter=cmd.delimiter or ","))
    return buf.getvalue()


def _parts(table: Any, cmd: UnloadCommand) -> list[tuple[str, Any]]:
    """(file suffix, rows) of every file to write."""
    n = table.num_rows
    if n == 0:
        return []
    limit = cmd.max_file_size or DEFAULT_MAX_FILE_SIZE
    per_row = max(1, table.nbytes // n)
    rows_per_file = max(1, limit // per_row)
    ext = cmd.extension if cmd.extension is not None else ("parquet" if cmd.format == "PARQUET" else "")
    dot_ext = f".{ext.lstrip('.')}" if ext else ""
    out = []
    if cmd.parallel:
        bounds = [(s * n // SLICES, (s + 1) * n // SLICES) for s in range(SLICES)]
        for s, (lo, hi) in enumerate(bounds):
            for part, start in enumerate(range(lo, hi, rows_per_file)):
                out.append((f"{s:04d}_part_{part:02d}{dot_ext}", table.slice(start, min(rows_per_file, hi - start))))
    else:
        for part, start in enumerate(range(0, n, rows_per_file)):
            out.append((f"{part:03d}{dot_ext}", table.slice(start, min(rows_per_file, n - start))))
    return out


def unload(ctx: CommandContext, cmd: UnloadCommand, result: Result) -> int:
    table = to_arrow(result)
    bucket, prefix = _split(cmd.target)
    client = ctx.s3.client()
    existing = _list(ctx, cmd.target)
    if existing and cmd.clean_path:
        for url, _size in existing:
            client.delete_object(Bucket=bucket, Key=_split(url)[1])
    elif existing and not cmd.allow_overwrite:
        raise RedshiftError(NOT_EMPTY, detail=f"context: {cmd.target}")
    entries = []
    for suffix, rows in _parts(table, cmd):
        body = _encode(rows, cmd.format, cmd)
        key = prefix + suffix
        try:
            client.put_object(Bucket=bucket, Key=key, Body=body)
        except Exception as exc:
            raise RedshiftError(f"S3ServiceException:{exc} (s3://{bucket}/{key})") from None
        entries.append({"url": f"s3://{bucket}/{key}",
                        "meta": {"content_length": len(body), "record_count": rows.num_rows}})
    if cmd.manifest:
        manifest = {
            "entries": entries,
            "schema": {"elements": [_schema_element(c.name, c.type_oid, c.typmod) for c in result.columns]},
            "meta": {"content_length": sum(e["meta"]["content_length"] for e in entries),
                     "record_count": table.num_rows},
            "author": {"name": "Amazon Redshift", "version": "1.0.0"},
        }
        client.put_object(Bucket=bucket, Key=prefix + "manifest", Body=json.dumps(manifest, indent=1).encode())
    return table.num_rows
