"""Which path the Spark engine takes: native (Spark's own readers and writers: delta-spark for Delta
stores, Spark's parquet/csv/json for files stores) or the Python path (``format("dao")``).

``engine_path`` — in the call's options, else the store's setting, else ``auto`` — picks it:
``auto`` takes the native path wherever it applies, ``native`` insists (a clear error where it
cannot run), ``python`` forces the Python path. See :mod:`.delta_native` and :mod:`.files_native`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..catalog.model import DataObject
from ..errors import DaoError
from ..interfaces.base import PartitionFilter, WriteResult
from . import delta_native, files_native


def take_request(obj: DataObject, opts: dict[str, Any], engine: str) -> str | None:
    """The requested path (``engine_path`` removed from ``opts``) for Delta and files stores, None
    for other stores. ``engine_path='native'`` in the call with the pandas/arrow engine is an error."""
    if delta_native.is_delta_store(obj):
        return delta_native.take_request(obj, opts, engine)
    if not files_native.is_files_store(obj):
        return None
    in_call = any(str(k).lower() == delta_native.OPTION for k in opts)
    requested = delta_native.requested_path(obj, opts)
    if engine != "spark" and in_call and requested == "native":
        raise DaoError(
            f"object {obj.full_name!r} (store {obj.store_name!r}): {delta_native.OPTION}='native' needs "
            f"engine='spark' (the pandas and arrow engines read and write files with pyarrow); drop "
            f"{delta_native.OPTION}"
        )
    return requested


def read(spark: Any, itf: Any, obj: DataObject, opts: dict[str, Any], filters: tuple[PartitionFilter, ...],
         requested: str | None) -> tuple[Any, bool]:
    """``(DataFrame, filtered)`` from the native path, or ``(None, False)`` for the Python path.
    ``filtered``: the filters are applied already (Delta); else the caller applies them."""
    if requested is None:
        return None, False
    if delta_native.is_delta_store(obj):
        if delta_native.choose(spark, obj, requested, action="reading"):
            return delta_native.read(spark, itf, obj, opts, filters), True
        return None, False
    if requested == "python":
        files_native.choose(spark, obj, requested, action="reading", why_not=None)
        return None, False
    read_plan = files_native.plan(itf, obj, opts, filters)
    why_not = files_native.read_refusal(itf, obj, opts, read_plan)
    if not files_native.choose(spark, obj, requested, action="reading", why_not=why_not):
        return None, False
    return files_native.read(spark, itf, obj, opts, read_plan), False


def write(sdf: Any, itf: Any, obj: DataObject, mode: str, opts: Mapping[str, Any],
          requested: str | None) -> WriteResult | None:
    """The native write (or upsert), or None for the Python path."""
    if requested is None:
        return None
    upsert = str(opts.get("operation", "")).lower() == "upsert"
    if delta_native.is_delta_store(obj):
        if not delta_native.choose(sdf.sparkSession, obj, requested, action="writing"):
            return None
        if upsert:
            return delta_native.upsert(sdf, itf, obj, opts)
        return delta_native.write(sdf, itf, obj, mode, opts)
    spark = sdf.sparkSession
    if requested == "python":
        files_native.choose(spark, obj, requested, action="writing", why_not=None)
        return None
    from pyspark.sql.pandas.types import to_arrow_schema

    spec = itf.prepare_write(obj, to_arrow_schema(sdf.schema, timezone="UTC"), {**opts, "mode": mode})
    explicit = {str(k).lower() for k in (*opts, *obj.options)}
    why_not = files_native.refusal(
        obj, spec.format, spec.schema, operation="upsert" if upsert else "write",
        partition_columns=tuple(spec.partition_by),
        options={"compression": spec.options.get("compression"),
                 **({"row_group_size": True} if "row_group_size" in explicit else {})},
    )
    if not files_native.choose(spark, obj, requested, action="upserting into" if upsert else "writing",
                               why_not=why_not):
        return None
    if upsert:
        return files_native.upsert(sdf, itf, obj, spec, requested)
    return files_native.write(sdf, itf, obj, mode, opts, spec)
