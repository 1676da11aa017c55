"""The in-process engine: the same Arrow contract, run without Spark (pandas / pyarrow users).

Reads run the plan's tasks on a thread pool (pyarrow releases the GIL) and concatenate; a write
stages once and commits, aborting on any failure so the target is left unchanged.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
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
    return write_batches(obj, table.schema, table.to_batches(), options)


def write_batches(
    obj: DataObject, schema: pa.Schema, batches: Iterable[pa.RecordBatch], options: Mapping[str, Any] | None = None
) -> WriteResult:
    """Write a stream of record batches (all of ``schema``) to ``obj``, staged then committed.

    ``batches`` is consumed lazily, one batch at a time, by the interface's ``stage``: an iterator
    over a big source (:func:`stream_batches`) is written with bounded memory.

    >>> with stream_batches(catalog.get("silver.users_clean")) as (schema, batches):    # doctest: +SKIP
    ...     write_batches(catalog.get("gold.users"), schema, batches, {"mode": "overwrite"})
    """
    itf = get_interface(obj.store)
    spec = dataclasses.replace(itf.prepare_write(obj, schema, dict(options or {})), in_process=True)
    job_id = uuid.uuid4().hex
    try:
        # marked live as a Spark job is: if this process is killed mid-write, dao.cleanup / the next
        # write's sweep finds the job dead and removes what it wrote (Delta writes into the table folder)
        spec = itf.start_job(obj, spec, job_id)
        part = itf.stage(obj, batches, spec, job_id)
        result = itf.commit(obj, [part], spec)
    except BaseException:
        itf.abort(obj, [StagedPart(job_id=job_id)], spec)
        raise
    log.info("%s", result)
    return result


@contextmanager
def stream_batches(
    obj: DataObject, options: Mapping[str, Any] | None = None, filters: Iterable[PartitionFilter] = ()
) -> Iterator[tuple[pa.Schema, Iterator[pa.RecordBatch]]]:
    """``(schema, batches)``: ``obj``'s rows as record batches, read task by task when iterated
    (memory holds a batch or so, not the object). What the read left behind (a warehouse's unloaded
    files) is removed when the block ends.

    >>> with stream_batches(catalog.get("silver.events")) as (schema, batches):    # doctest: +SKIP
    ...     rows = sum(b.num_rows for b in batches)
    """
    itf = get_interface(obj.store)
    filters = tuple(filters)
    plan = itf.plan_read(obj, dict(options or {}), filters)
    remaining = [f for f in filters if f not in plan.applied_filters]
    what = f"reading {obj.full_name!r}"

    def batches() -> Iterator[pa.RecordBatch]:
        for task in plan.tasks:
            for batch in itf.read(task):
                if remaining:
                    kept = filter_table(pa.Table.from_batches([batch], schema=plan.schema), remaining, what=what)
                    yield from kept.to_batches()
                elif batch.num_rows:
                    yield batch

    try:
        yield plan.schema, batches()
    finally:
        finish = getattr(itf, "finish_read", None)
        if finish is not None:
            finish(obj, plan)


def copy_object(
    src: DataObject,
    dst: DataObject,
    *,
    mode: str = "errorifexists",
    options: Mapping[str, Any] | None = None,
    on_batch: Callable[[pa.RecordBatch], None] | None = None,
) -> WriteResult:
    """Stream ``src``'s rows into ``dst`` in record batches (bounded memory), with ``dst``'s write
    guarantees: nothing of it is visible unless the whole copy succeeds.

    >>> copy_object(catalog.get("silver.events"), catalog.get("gold.events"), mode="overwrite")  # doctest: +SKIP

    ``on_batch`` is called with each batch as it goes (a progress bar). With ``errorifexists`` (the
    default) or ``ignore`` and data already in ``dst``, nothing is read.
    """
    from ..interfaces import parse_mode

    mode = parse_mode(mode, obj=repr(dst.full_name))
    itf = get_interface(dst.store)
    if mode in ("errorifexists", "ignore") and itf.exists(dst):
        if mode == "ignore":
            return WriteResult(object=dst.full_name, mode=mode, skipped=True)
        raise DaoError(
            f"copying {src.full_name!r} into {dst.full_name!r}: {dst.full_name!r} already has data "
            f"(store {dst.store_name!r}); use mode 'append', 'overwrite' or 'ignore'"
        )
    with stream_batches(src, options) as (schema, batches):
        if on_batch is not None:
            batches = _observed(batches, on_batch)
        return write_batches(dst, schema, batches, {"mode": mode})


def _observed(batches: Iterable[pa.RecordBatch], on_batch: Callable[[pa.RecordBatch], None]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        on_batch(batch)
        yield batch


#: values sampled per string column to tell a mostly-unique column (ids, free text) from a repetitive one
_SAMPLE = 4096


def to_pandas(table: pa.Table, *, use_threads: bool | None = None) -> Any:
    """``table`` as a pandas DataFrame, the one ``table.to_pandas()`` gives (values, dtypes, index),
    converted faster. ``table`` must not be used afterwards (its buffers are released as it goes).

    Turning strings into Python objects is most of the time. pyarrow shares one object between equal
    values (``deduplicate_objects``): cheap, and memory-saving, in a repetitive column (a country, a
    status), but ~6x the conversion itself in a mostly-unique one (ids, free text), whose values
    here get objects of their own instead. A column is mostly unique when over half of a sample of
    its values (spread over the column) are distinct. Columns are converted on threads only with
    more than 2 cores: the conversion holds the GIL, so on 2 cores (or busy ones) threads only contend.
    """
    import pandas as pd

    if use_threads is None:
        use_threads = (os.cpu_count() or 1) > 2
    opts = {"use_threads": use_threads, "split_blocks": True, "self_destruct": True}
    if getattr(pd.options.future, "infer_string", False):  # pandas' own string dtype: no objects made
        return table.to_pandas(**opts)
    unique = [i for i, typ in enumerate(table.schema.types)
              if (pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ))
              and _mostly_unique(table.column(i))]
    # the frame's columns must be the table's, in order (no pandas metadata turning some into the index)
    if not unique or len(table.slice(0, 0).to_pandas().columns) != table.num_columns:
        return table.to_pandas(**opts)
    own = {i: table.column(i).to_numpy(zero_copy_only=False) for i in unique}
    for i in unique:  # placeholders: a null column converts to None without making objects
        table = table.set_column(i, table.schema.field(i), pa.nulls(table.num_rows, table.schema.types[i]))
    df = table.to_pandas(**opts)
    for i, values in own.items():
        df.isetitem(i, values)
    return df


def _mostly_unique(column: pa.ChunkedArray) -> bool:
    import pyarrow.compute as pc

    n = len(column)
    sample = column if n <= _SAMPLE else column.take(pa.array(range(0, n, n // _SAMPLE)))
    sample = sample.drop_null()
    return len(sample) > 1 and pc.count_distinct(sample).as_py() * 2 > len(sample)
