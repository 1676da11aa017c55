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
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .filters import quote_ident
from .upsert import UpsertOptions, prepare_incoming

log = logging.getLogger("spark_dao.delta")

SOURCE, TARGET = "s", "t"


def sql_literal(value: Any) -> str | None:
    """A SQL literal for the merge predicate, or None when the value has no safe literal form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | decimal.Decimal):
        return repr(value) if isinstance(value, int) else str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return f"'{value.isoformat()}'"
    return None


def _col(alias: str, name: str) -> str:
    return f"{alias}.{quote_ident(name)}"


def merge_predicate(batch: pa.Table, opts: UpsertOptions, partition_by: tuple[str, ...]) -> str:
    """``t.k = s.k AND ...`` narrowed by the batch's partition values and first-key range."""
    parts = [f"{_col(TARGET, k)} = {_col(SOURCE, k)}" for k in opts.keys]
    if batch.num_rows:
        for col in partition_by:
            if col not in opts.keys:
                continue  # a key may move between partitions: the whole table may hold it
            values = pc.unique(batch[col]).to_pylist()
            literals = [sql_literal(v) for v in values if v is not None]
            if len(literals) == len(values) and literals and len(literals) <= 1000:
                parts.append(f"{_col(TARGET, col)} IN ({', '.join(literals)})")
        first = opts.keys[0]
        column = batch[first]
        if pa.types.is_integer(column.type) or pa.types.is_string(column.type) or pa.types.is_date(column.type):
            bounds = pc.min_max(column)
            lo, hi = sql_literal(bounds["min"].as_py()), sql_literal(bounds["max"].as_py())
            if lo is not None and hi is not None:
                parts.append(f"{_col(TARGET, first)} >= {lo} AND {_col(TARGET, first)} <= {hi}")
    return " AND ".join(parts)


def run_merge(table: Any, source: Any, keys: pa.Table, opts: UpsertOptions, partition_by: tuple[str, ...], *,
              what: str, commit_properties: Any = None) -> dict[str, Any]:
    """One MERGE commit of ``source`` (a table or a RecordBatchReader, one row per key) into
    ``table``; ``keys`` (the source's key columns) narrow the predicate. Returns Delta's metrics."""
    predicate = merge_predicate(keys, opts, partition_by)
    merger = table.merge(source, predicate=predicate, source_alias=SOURCE, target_alias=TARGET,
                         commit_properties=commit_properties)
    if opts.strategy != "insert_only":
        condition = None
        if opts.order_by:
            ob = opts.order_by
            condition = f"{_col(SOURCE, ob)} >= {_col(TARGET, ob)} OR {_col(TARGET, ob)} IS NULL"
        merger = merger.when_matched_update_all(predicate=condition)
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
