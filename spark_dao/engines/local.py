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
from ..interfaces.filters import filter_table

log = logging.getLogger("spark_dao.local")


def read_table(
    obj: DataObject, options: Mapping[str, Any] | None = None, filters: Iterable[PartitionFilter] = ()
) -> pa.Table:
    """Read ``obj`` into one Arrow table: ``read_table(catalog.get("silver.users_clean"))``."""
    itf = get_interface(obj.store)
    plan = itf.plan_read(obj, dict(options or {}), tuple(filters))
    try:
        if len(plan.tasks) <= 1:
            batches = [b for t in plan.tasks for b in itf.read(t)]
        else:
            # Object stores are latency-bound: more concurrent tasks than cores pay off there.
            remote = _is_remote(obj)
            workers = min(len(plan.tasks), 8 if remote else (os.cpu_count() or 2))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spark_dao_read") as pool:
                chunks = list(pool.map(lambda t: list(itf.read(t)), plan.tasks))
            batches = [b for chunk in chunks for b in chunk]
    finally:
        finish = getattr(itf, "finish_read", None)  # e.g. files a warehouse unloaded for this read
        if finish is not None:
            finish(obj, plan)
    table = pa.Table.from_batches(batches, schema=plan.schema)
    # The plan prunes by partition only; the rest is applied to the rows, as Spark does.
    remaining = [f for f in filters if f not in plan.applied_filters]
    return filter_table(table, remaining, what=f"reading {obj.full_name!r}") if remaining else table


def _is_remote(obj: DataObject) -> bool:
    try:
        location = str(obj.location)
    except DaoError:  # a store without a location: a database
        return True
    return "://" in location and not location.startswith("file://")


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
