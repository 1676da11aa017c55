"""Upserts into Delta tables: one MERGE commit (delta-rs), with the meaning of ``upsert.py``.

The batch is checked and deduplicated by the semantics module (null keys, ``on_duplicates``), then
merged with:

* ``ON`` the keys, narrowed by literals from the batch so that files the batch cannot touch are
  neither read nor rewritten, and concurrent upserts of other partitions do not conflict: the
  partition columns that are keys (``t.country IN ('DE', 'FR')``) and the range of the first key
  (``t.id >= 5 AND t.id <= 90``);
* ``WHEN MATCHED`` (strategies ``merge`` and ``delete_insert``) update all columns, only if the
  incoming row is not older than the stored one (``order_by``: a tie goes to the incoming row; a
  null is older than any value);
* ``WHEN NOT MATCHED`` insert;
* ``WHEN NOT MATCHED BY SOURCE`` delete, for ``delete_unmatched``.

A conflicting concurrent commit reruns the MERGE against the new version, up to ``max_retries``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .filters import quote_ident
from .upsert import UpsertOptions, prepare_incoming

log = logging.getLogger("spark_dao.delta")

SOURCE, TARGET = "s", "t"


def sql_literal(value: Any, dialect: str = "sql") -> str | None:
    """A SQL literal for the merge predicate, or None when the value has no safe literal form.
    ``dialect="spark"``: Spark SQL escapes with backslashes, so strings holding a quote or a
    backslash get no literal (the predicate is then just not narrowed by them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float | decimal.Decimal):
        return repr(value) if isinstance(value, int) else str(value)
    if isinstance(value, str):
        if dialect == "spark":
            return None if ("'" in value or "\\" in value) else f"'{value}'"
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return f"DATE '{value.isoformat()}'" if dialect == "spark" else f"'{value.isoformat()}'"
    return None


def spark_ident(name: str) -> str:
    """A Spark SQL quoted identifier: ``a`b`` -> ```a``b```."""
    return "`" + name.replace("`", "``") + "`"


def _col(alias: str, name: str, dialect: str = "sql") -> str:
    return f"{alias}.{spark_ident(name) if dialect == 'spark' else quote_ident(name)}"


def merge_predicate(batch: pa.Table, opts: UpsertOptions, partition_by: tuple[str, ...]) -> str:
    """``t.k = s.k AND ...`` narrowed by the batch's partition values and first-key range."""
    values: dict[str, list[Any]] = {}
    bounds = None
    if batch.num_rows:
        for col in narrowing_columns(opts, partition_by):
            values[col] = pc.unique(batch[col]).to_pylist()
        if bounded_type(batch.schema.field(opts.keys[0]).type):
            found = pc.min_max(batch[opts.keys[0]])
            bounds = (found["min"].as_py(), found["max"].as_py())
    return build_predicate(opts, values, bounds)


def narrowing_columns(opts: UpsertOptions, partition_by: tuple[str, ...]) -> list[str]:
    """The partition columns whose batch values narrow the MERGE: only keys (a key that is not a
    partition column may move between partitions, so the whole table may hold it)."""
    return [c for c in partition_by if c in opts.keys]


def bounded_type(type_: pa.DataType) -> bool:
    """Whether the first key's range narrows the MERGE (types with a safe literal form)."""
    return pa.types.is_integer(type_) or pa.types.is_string(type_) or pa.types.is_date(type_)


def build_predicate(opts: UpsertOptions, values: dict[str, list[Any]], bounds: tuple[Any, Any] | None,
                    dialect: str = "sql") -> str:
    """The MERGE's ``ON``: key equality, plus ``t.col IN (...)`` for each partition key column whose
    distinct batch ``values`` all have literals (at most 1000), plus the first key's ``bounds``.
    The Python path computes the inputs with Arrow (``dialect="sql"``, delta-rs), the native path
    with Spark (``dialect="spark"``, delta-spark)."""
    parts = [f"{_col(TARGET, k, dialect)} = {_col(SOURCE, k, dialect)}" for k in opts.keys]
    for col, found in values.items():
        literals = [sql_literal(v, dialect) for v in found if v is not None]
        if len(literals) == len(found) and literals and len(literals) <= 1000:
            parts.append(f"{_col(TARGET, col, dialect)} IN ({', '.join(literals)})")
    if bounds is not None:
        lo, hi = sql_literal(bounds[0], dialect), sql_literal(bounds[1], dialect)
        if lo is not None and hi is not None:
            first = _col(TARGET, opts.keys[0], dialect)
            parts.append(f"{first} >= {lo} AND {first} <= {hi}")
    return " AND ".join(parts)


def update_condition(opts: UpsertOptions, dialect: str = "sql") -> str | None:
    """``WHEN MATCHED`` only if the incoming row is not older (a tie goes to it; a null is older
    than any value); None without ``order_by``."""
    if not opts.order_by:
        return None
    ob = opts.order_by
    return f"{_col(SOURCE, ob, dialect)} >= {_col(TARGET, ob, dialect)} OR {_col(TARGET, ob, dialect)} IS NULL"


def run_merge(table: Any, source: Any, keys: pa.Table, opts: UpsertOptions, partition_by: tuple[str, ...], *,
              what: str, commit_properties: Any = None, merge_schema: bool = False) -> dict[str, Any]:
    """One MERGE commit of ``source`` (a table or a RecordBatchReader, one row per key) into
    ``table``; ``keys`` (the source's key columns) narrow the predicate. Returns Delta's metrics."""
    predicate = merge_predicate(keys, opts, partition_by)
    merger = table.merge(source, predicate=predicate, source_alias=SOURCE, target_alias=TARGET,
                         commit_properties=commit_properties, merge_schema=merge_schema)
    if opts.strategy != "insert_only":
        merger = merger.when_matched_update_all(predicate=update_condition(opts))
    merger = merger.when_not_matched_insert_all()
    if opts.delete_unmatched:
        merger = merger.when_not_matched_by_source_delete()
    log.debug("%s: MERGE ON %s", what, predicate)
    return dict(merger.execute())


def prepare_batch(batch: pa.Table, opts: UpsertOptions, schema: pa.Schema, *, what: str) -> tuple[pa.Table, int]:
    """The batch checked (null keys, duplicates) and cast to the table's schema; rows dropped as
    older duplicates."""
    batch, dropped = prepare_incoming(batch, opts, what=what)
    return batch.select(schema.names).cast(schema), dropped
