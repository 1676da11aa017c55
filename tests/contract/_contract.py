"""Helpers of the contract suite: drive an interface as an engine does, and a reference upsert model."""

from __future__ import annotations

import pickle
import uuid
from typing import Any

import pyarrow as pa

from spark_dao.interfaces import StagedPart, WriteResult

SCHEMA = pa.schema([("id", pa.int64()), ("p", pa.string()), ("v", pa.float64()), ("s", pa.string()),
                    ("b", pa.bool_())])


def table(*rows: tuple, schema: pa.Schema = SCHEMA) -> pa.Table:
    """``table((1, "x", 1.5, "a", True), ...)``: rows in ``schema``'s column order."""
    return pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows], schema=schema)


A = table((1, "x", 1.5, "a", True), (2, "y", 2.5, None, False), (3, "x", None, "c", None))
B = table((4, "y", 4.5, "d", True), (5, "z", 5.5, "e", False))


def roundtrip(value: Any) -> Any:
    """What crosses between driver and executors must pickle (plain data, no clients)."""
    return pickle.loads(pickle.dumps(value))


def canon(data: pa.Table | list[dict]) -> list[tuple]:
    """Rows as sorted tuples of (column, value) pairs: independent of row and column order."""
    rows = data.to_pylist() if isinstance(data, pa.Table) else data
    return sorted((tuple(sorted(r.items())) for r in rows), key=repr)


def types(schema: pa.Schema) -> dict[str, str]:
    return {f.name: str(f.type) for f in schema}


def read(kind: Any, obj: Any, **options: Any) -> pa.Table:
    """Plan on the "driver", read every task after a pickle round trip, as Spark does."""
    itf = kind.itf
    plan = itf.plan_read(obj, {"parallelism": 3, **options})
    batches = []
    for task in plan.tasks:
        for batch in itf.read(roundtrip(task)):
            assert batch.schema.equals(plan.schema), f"{kind}: a batch's schema differs from the plan's"
            batches.append(batch)
    return pa.Table.from_batches(batches, schema=plan.schema)


def split(data: pa.Table, parts: int) -> list[pa.Table]:
    """``data`` in ``parts`` slices (the tasks of a job; some may be empty)."""
    size = -(-data.num_rows // parts) if data.num_rows else 0
    return [data.slice(i * size, size) for i in range(parts)]


def write(kind: Any, obj: Any, data: pa.Table, mode: str = "append", options: dict | None = None,
          parts: int = 2) -> WriteResult:
    """prepare_write -> stage (one call per task, each a fresh interface) -> commit; abort on any failure."""
    itf = kind.itf
    spec = roundtrip(itf.prepare_write(obj, data.schema, {**(options or {}), "mode": mode}))
    job_id = uuid.uuid4().hex
    staged: list[StagedPart] = []
    try:
        for chunk in split(data, parts):
            staged.append(roundtrip(kind.itf.stage(obj, iter(chunk.to_batches()), spec, job_id)))
        return itf.commit(obj, staged, spec)
    except BaseException:
        itf.abort(obj, staged or [StagedPart(job_id=job_id)], spec)
        raise


# --------------------------------------------------------------------------- the reference upsert model
def older(a: Any, b: Any) -> bool:
    """Is order_by value ``a`` older than ``b``? A null is older than any value."""
    if a is None:
        return b is not None
    return b is not None and a < b


def model(stored: list[dict], incoming: list[dict], keys: tuple[str, ...], strategy: str = "merge",
          order_by: str | None = None, on_duplicates: str = "error",
          delete_unmatched: bool = False) -> tuple[list[dict], dict[str, int]] | None:
    """The documented upsert rules (docs/upserts.md) in plain Python: (rows, metrics), or None when
    the batch must be refused for duplicate keys.

    keep_latest keeps the greatest ``order_by`` (among equals, and without it, the last row in
    batch order); an incoming row replaces the stored row of its key unless it is older (a tie goes
    to the incoming row); ``insert_only`` never replaces; ``delete_unmatched`` removes stored keys
    absent from the batch.
    """
    key = lambda r: tuple(r[k] for k in keys)  # noqa: E731
    latest: dict[tuple, dict] = {}
    for r in incoming:
        k = key(r)
        if k in latest:
            if on_duplicates == "error":
                return None
            if order_by and older(r[order_by], latest[k][order_by]):
                continue
        latest[k] = r
    by_key = {key(r): r for r in stored}
    result = dict(by_key)
    inserted = updated = deleted = 0
    for k, r in latest.items():
        if k not in by_key:
            result[k] = r
            inserted += 1
        elif strategy != "insert_only" and not (order_by and older(r[order_by], by_key[k][order_by])):
            result[k] = r
            updated += 1
    if delete_unmatched:
        for k in by_key:
            if k not in latest:
                del result[k]
                deleted += 1
    return list(result.values()), {"inserted": inserted, "updated": updated, "deleted": deleted}
