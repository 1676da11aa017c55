"""The in-process engine: the same Arrow contract, run without Spark (pandas / pyarrow users).

Reads run the plan's tasks on a thread pool (pyarrow releases the GIL) and concatenate; a write
stages once and commits, aborting on any failure so the target is left unchanged.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from ..catalog import DataObject
from ..errors import DaoError
from ..interfaces import StagedPart, WriteResult, get_interface
from ..interfaces.base import PartitionFilter

log = logging.getLogger("spark_dao.local")


def read_table(
    obj: DataObject, options: Mapping[str, Any] | None = None, filters: Iterable[PartitionFilter] = ()
) -> pa.Table:
    """Read ``obj`` into one Arrow table: ``read_table(catalog.get("silver.users_clean"))``."""
    itf = get_interface(obj.store)
    plan = itf.plan_read(obj, dict(options or {}), tuple(filters))
    if len(plan.tasks) <= 1:
        batches = [b for t in plan.tasks for b in itf.read(t)]
    else:
        # Object stores are latency-bound: more concurrent tasks than cores pay off there.
        remote = "://" in str(obj.location) and not str(obj.location).startswith("file://")
        workers = min(len(plan.tasks), 8 if remote else (os.cpu_count() or 2))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spark_dao_read") as pool:
            chunks = list(pool.map(lambda t: list(itf.read(t)), plan.tasks))
        batches = [b for chunk in chunks for b in chunk]
    table = pa.Table.from_batches(batches, schema=plan.schema)
    # The plan prunes by partition only; the rest is applied to the rows, as Spark does.
    remaining = [f for f in filters if f not in plan.applied_filters]
    return _apply_filters(obj, table, remaining) if remaining else table


_FILTER_OPS = ("=", "!=", "<", "<=", ">", ">=", "in", "is_null", "not_null")


def _apply_filters(obj: DataObject, table: pa.Table, filters: list[PartitionFilter]) -> pa.Table:
    import pyarrow.compute as pc

    mask = None
    for col, op, value in filters:
        if col not in table.column_names:
            raise DaoError(
                f"reading {obj.full_name!r}: filter column {col!r} is not in the data read; "
                f"columns: {', '.join(table.column_names)}"
            )
        if op not in _FILTER_OPS:
            raise DaoError(
                f"reading {obj.full_name!r}: unknown filter operator {op!r} in ({col!r}, {op!r}, {value!r}); "
                f"valid: {', '.join(_FILTER_OPS)}"
            )
        try:
            cond = _condition(table[col], op, value)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise DaoError(
                f"reading {obj.full_name!r}: cannot apply filter ({col!r}, {op!r}, {value!r}) to column "
                f"{col!r} of type {table.schema.field(col).type}: {exc}"
            ) from exc
        mask = cond if mask is None else pc.and_(mask, cond)
    return table.filter(mask)


def _condition(column: pa.ChunkedArray, op: str, value: Any) -> pa.ChunkedArray:
    import pyarrow.compute as pc

    if op == "is_null":
        return pc.is_null(column)
    if op == "not_null":
        return pc.is_valid(column)
    if op == "in":
        return pc.is_in(column, value_set=pa.array(list(value)).cast(column.type))
    compare = {"=": pc.equal, "!=": pc.not_equal, "<": pc.less, "<=": pc.less_equal,
               ">": pc.greater, ">=": pc.greater_equal}[op]
    return compare(column, value)


def write_table(obj: DataObject, table: pa.Table, options: Mapping[str, Any] | None = None) -> WriteResult:
    """Write an Arrow table to ``obj`` with the interface's staging + commit guarantees."""
    itf = get_interface(obj.store)
    spec = dataclasses.replace(itf.prepare_write(obj, table.schema, dict(options or {})), in_process=True)
    job_id = uuid.uuid4().hex
    try:
        part = itf.stage(obj, table.to_batches(), spec, job_id)
        result = itf.commit(obj, [part], spec)
    except BaseException:
        itf.abort(obj, [StagedPart(job_id=job_id)], spec)
        raise
    log.info("%s", result)
    return result
