"""The SQL the Redshift interface sends, built in one place.

* :func:`ident` is the one identifier-quoting helper: every table, schema and column name goes
  through it (double quotes, embedded quotes doubled; NUL and over-long names refused);
* :func:`literal` renders a value as a SQL literal, for the one place where bound parameters
  cannot go: the query text inside ``UNLOAD ('...')``. Values it cannot render safely (strings with
  backslashes or control characters, NaN) raise :class:`Unsafe`: such a filter is not pushed down
  and the engine applies it to the rows instead;
* DDL from an Arrow schema (``VARCHAR(n)`` sized from the data), and the Arrow type of a stored
  column; COPY, UNLOAD and the upsert statements; :func:`redact_sql` for anything logged.

Everything here is pure string building: no driver, no I/O.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from ..errors import DaoError, SchemaMismatch

#: Redshift's limit on VARCHAR and on identifier length (bytes)
MAX_VARCHAR = 65535
MAX_IDENT_BYTES = 127
#: the smallest VARCHAR a created table gets (an empty or short column still takes later, longer values)
MIN_VARCHAR = 64
#: upsert staging columns: which task staged a row, and its position in that task's batch
TASK_COL = "__dao_task__"
ROW_COL = "__dao_row__"


class Unsafe(ValueError):
    """A value with no safe literal form (it stays a bound parameter, or is filtered by the engine)."""


def ident(name: str) -> str:
    """``name`` as a quoted identifier: ``ident('a"b') == '"a""b"'``; reserved words and odd names work."""
    if not isinstance(name, str) or not name:
        raise DaoError(f"invalid SQL identifier {name!r}: a non-empty string is needed")
    if "\x00" in name or len(name.encode("utf-8")) > MAX_IDENT_BYTES:
        raise DaoError(
            f"invalid SQL identifier {name[:40]!r}: NUL characters and names over {MAX_IDENT_BYTES} bytes "
            "are not allowed by Redshift"
        )
    return '"' + name.replace('"', '""') + '"'


def table_ident(schema: str, table: str) -> str:
    """``"schema"."table"``."""
    return f"{ident(schema)}.{ident(table)}"


def columns_sql(names: Iterable[str], prefix: str = "") -> str:
    return ", ".join(f"{prefix}{ident(n)}" for n in names)


_SAFE_TEXT = re.compile(r"^[^\\\x00-\x08\x0b-\x1f\x7f]*$")


def quote_text(text: str) -> str:
    """A string literal: ``'O''Brien'``. Backslashes and control characters are refused (Redshift
    reads backslash escapes in some literals, PostgreSQL does not: no single safe form)."""
    if not _SAFE_TEXT.match(text):
        raise Unsafe("backslash or control character")
    return "'" + text.replace("'", "''") + "'"


def literal(value: Any) -> str:
    """A value as a SQL literal (see the module docstring); :class:`Unsafe` when there is no safe one."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Unsafe("not a finite number")
        return repr(float(value))
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise Unsafe("not a finite number")
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
            return f"'{value.isoformat(sep=' ')}+00'::timestamptz"
        return f"'{value.isoformat(sep=' ')}'::timestamp"
    if isinstance(value, dt.date):
        return f"'{value.isoformat()}'::date"
    if isinstance(value, str):
        return quote_text(value)
    raise Unsafe(f"no literal for {type(value).__name__}")


def filter_sql(column: str, op: str, value: Any, *, literals: bool) -> tuple[str, list[Any]]:
    """One pushed-down filter: SQL text with ``%s`` placeholders and their bound parameters, or
    (``literals``, for UNLOAD) the values inlined through :func:`literal`. Raises :class:`Unsafe`
    when a value has no safe literal. (redshift_connector leaves quoted identifiers alone when it
    replaces placeholders: a ``%`` in a column name stays as it is.)"""
    from .filters import OPERATORS

    spec = OPERATORS[op]
    col = ident(column)
    if not spec.binary:
        return f"{col} {spec.sql}", []
    values = list(value) if op == "in" else [value]
    if op == "in" and not values:
        return "FALSE", []
    if any(v is None for v in values):
        raise Unsafe("a comparison with null")
    rendered = [literal(v) for v in values] if literals else ["%s"] * len(values)
    params = [] if literals else values
    if op == "in":
        return f"{col} IN ({', '.join(rendered)})", params
    return f"{col} {spec.sql} {rendered[0]}", params


# --------------------------------------------------------------------------- types
def varchar_size(longest_bytes: int) -> int:
    """``VARCHAR(n)`` for a column whose longest value has ``longest_bytes`` bytes: the next power of
    two, at least :data:`MIN_VARCHAR`, at most :data:`MAX_VARCHAR`."""
    n = MIN_VARCHAR
    while n < longest_bytes and n < MAX_VARCHAR:
        n *= 2
    return min(n, MAX_VARCHAR)


def redshift_type(field: pa.Field, *, longest: int = 0, what: str) -> str:
    """The Redshift column type of an Arrow field (``longest``: bytes of the longest string)."""
    t = field.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "SMALLINT"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "INTEGER"
    if pa.types.is_int64(t) or pa.types.is_uint32(t):
        return "BIGINT"
    if pa.types.is_uint64(t):
        return "DECIMAL(20,0)"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "REAL"
    if pa.types.is_float64(t):
        return "DOUBLE PRECISION"
    if pa.types.is_decimal(t) and t.precision <= 38:
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_null(t):
        if longest > MAX_VARCHAR:
            raise SchemaMismatch(
                f"{what}: column {field.name!r} has a value of {longest} bytes; Redshift's VARCHAR holds at "
                f"most {MAX_VARCHAR}"
            )
        return f"VARCHAR({varchar_size(longest)})"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    raise SchemaMismatch(
        f"{what}: column {field.name!r} has type {t}, which this interface cannot load into Redshift "
        "(supported: booleans, integers, floats, decimals up to 38 digits, strings, dates, timestamps); "
        "cast it, or set its type in the object's column_types"
    )


_NUMERIC = re.compile(r"^(?:numeric|decimal)\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def arrow_type(data_type: str, *, precision: int | None = None, scale: int | None = None) -> pa.DataType:
    """The Arrow type of a stored column (``information_schema.columns.data_type``, or a
    ``format_type`` string); ValueError for a type this interface does not read."""
    t = data_type.strip().lower()
    if t in ("smallint", "int2"):
        return pa.int16()
    if t in ("integer", "int", "int4"):
        return pa.int32()
    if t in ("bigint", "int8"):
        return pa.int64()
    if t in ("real", "float4"):
        return pa.float32()
    if t in ("double precision", "float8", "float"):
        return pa.float64()
    if t in ("boolean", "bool"):
        return pa.bool_()
    if t.startswith(("character", "varchar", "char", "text", "bpchar", "nvarchar", "nchar")) or t == '"char"':
        return pa.string()
    if t == "date":
        return pa.date32()
    if t.startswith("timestamp with time zone") or t == "timestamptz":
        return pa.timestamp("us", tz="UTC")
    if t.startswith("timestamp"):
        return pa.timestamp("us")
    m = _NUMERIC.match(t)
    if m:
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    if t in ("numeric", "decimal"):
        return pa.decimal128(precision or 18, scale or 0)
    raise ValueError(f"unsupported Redshift type {data_type!r}")


_FAMILIES = {"int": pa.types.is_integer, "float": pa.types.is_floating, "decimal": pa.types.is_decimal,
             "string": pa.types.is_string, "bool": pa.types.is_boolean, "date": pa.types.is_date,
             "timestamp": pa.types.is_timestamp}


def family(t: pa.DataType) -> str:
    for name, test in _FAMILIES.items():
        if test(t):
            return name
    return str(t)


def fits(incoming: pa.DataType, stored: pa.DataType) -> bool:
    """Whether values of ``incoming`` load into a column of ``stored`` (integers into any integer
    column and into floats; COPY reports a value that overflows as a load error)."""
    if pa.types.is_null(incoming):
        return True
    a, b = family(incoming), family(stored)
    if a == b:
        if a == "decimal":
            return stored.scale >= incoming.scale and stored.precision - stored.scale >= incoming.precision - incoming.scale
        return True
    return a == "int" and b in ("float", "decimal")


# --------------------------------------------------------------------------- DDL
def create_table(target: str, columns: Sequence[tuple[str, str]], *, dist_key: str | None = None,
                 dist_style: str | None = None, sort_key: Sequence[str] = ()) -> str:
    """``CREATE TABLE IF NOT EXISTS target ("c" TYPE, ...) [DISTSTYLE] [DISTKEY] [SORTKEY]``."""
    body = ", ".join(f"{ident(name)} {typ}" for name, typ in columns)
    sql = f"CREATE TABLE IF NOT EXISTS {target} ({body})"
    if dist_style:
        sql += f" DISTSTYLE {dist_style.upper()}"
    if dist_key:
        sql += f" DISTKEY({ident(dist_key)})"
    if sort_key:
        sql += f" SORTKEY({columns_sql(sort_key)})"
    return sql


_TYPE_OVERRIDE = re.compile(
    r"^[A-Za-z][A-Za-z ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?(\s+ENCODE\s+[A-Za-z0-9_]+)?$"
)


def check_type_override(column: str, typ: str, *, what: str) -> str:
    """A ``column_types`` value: a type name with an optional size and ENCODE, nothing else."""
    if not isinstance(typ, str) or not _TYPE_OVERRIDE.match(typ.strip()):
        raise DaoError(
            f"{what}: column_types.{column}={typ!r} is not a column type; write e.g. 'VARCHAR(1024)', "
            "'DECIMAL(18,2)' or 'BIGINT ENCODE az64'"
        )
    return typ.strip()


# --------------------------------------------------------------------------- COPY / UNLOAD
def auth_clause(iam_role_arn: str | None, credentials: Mapping[str, str] | None) -> str:
    """``IAM_ROLE '<arn>'``, else ``CREDENTIALS 'aws_access_key_id=...;...'`` (temporary: with token)."""
    if iam_role_arn:
        return f"IAM_ROLE {quote_text(iam_role_arn)}"
    if credentials and credentials.get("access_key"):
        text = f"aws_access_key_id={credentials['access_key']};aws_secret_access_key={credentials['secret_key']}"
        if credentials.get("session_token"):
            text += f";token={credentials['session_token']}"
        return f"CREDENTIALS {quote_text(text)}"
    raise DaoError(
        "COPY/UNLOAD need an authorisation: set iam_role_arn on the Redshift store (a role the cluster "
        "may assume, with access to s3_temp_dir), or S3 credentials for the staging bucket"
    )


def copy_sql(stage: str, columns: Sequence[str], manifest_url: str, auth: str) -> str:
    """COPY of the staged Parquet files named by a manifest, by column name."""
    return (f"COPY {stage} ({columns_sql(columns)}) FROM {quote_text(manifest_url)} {auth} "
            "FORMAT AS PARQUET MANIFEST")


def unload_sql(query: str, prefix_url: str, auth: str) -> str:
    """UNLOAD of ``query`` as Parquet files plus a manifest under ``prefix_url``."""
    return (f"UNLOAD ({quote_text(query)}) TO {quote_text(prefix_url)} {auth} "
            "FORMAT AS PARQUET MANIFEST ALLOWOVERWRITE")


_SECRET_CLAUSES = (
    (re.compile(r"(CREDENTIALS\s+)'(?:[^']|'')*'", re.I), r"\1'***'"),
    (re.compile(r"((?:ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|PASSWORD)\s+)'(?:[^']|'')*'", re.I), r"\1'***'"),
)


def redact_sql(sql: str) -> str:
    """``sql`` with credentials (``CREDENTIALS '...'``, keys, passwords) replaced by ``'***'``."""
    for pattern, repl in _SECRET_CLAUSES:
        sql = pattern.sub(repl, sql)
    return sql


# --------------------------------------------------------------------------- upserts
def key_match(keys: Sequence[str], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{ident(k)} = {right}.{ident(k)}" for k in keys)


def older_sql(order_by: str, mine: str, theirs: str) -> str:
    """``mine`` older than ``theirs`` (a null is older than any value)."""
    o = ident(order_by)
    return f"({mine}.{o} < {theirs}.{o} OR ({mine}.{o} IS NULL AND {theirs}.{o} IS NOT NULL))"


def dedupe_sql(batch: str, stage: str, columns: Sequence[str], keys: Sequence[str], order_by: str | None,
               task_order: Mapping[str, int]) -> str:
    """One row per key: the newest ``order_by``, then the last in batch order (task, then row)."""
    order = [f"{ident(order_by)} DESC NULLS LAST"] if order_by else []
    if task_order:
        cases = " ".join(f"WHEN {quote_text(t)} THEN {int(i)}" for t, i in task_order.items())
        order.append(f"CASE {ident(TASK_COL)} {cases} ELSE -1 END DESC")
    order.append(f"{ident(ROW_COL)} DESC")
    cols = columns_sql(columns)
    return (f"CREATE TEMP TABLE {batch} AS SELECT {cols} FROM (SELECT {cols}, ROW_NUMBER() OVER "
            f"(PARTITION BY {columns_sql(keys)} ORDER BY {', '.join(order)}) AS __dao_rank__ FROM {stage}) "
            "AS ranked WHERE __dao_rank__ = 1")


def merge_sql(target: str, batch: str, columns: Sequence[str], keys: Sequence[str]) -> str:
    """MERGE of a one-row-per-key batch: matched rows updated, new ones inserted."""
    values = [c for c in columns if c not in keys]
    sets = ", ".join(f"{ident(c)} = s.{ident(c)}" for c in values)
    return (f"MERGE INTO {target} USING {batch} AS s ON {key_match(keys, target, 's')} "
            f"WHEN MATCHED THEN UPDATE SET {sets} "
            f"WHEN NOT MATCHED THEN INSERT ({columns_sql(columns)}) VALUES ({columns_sql(columns, 's.')})")
