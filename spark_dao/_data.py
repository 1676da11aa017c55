"""What a DAO call was given: a Spark, pandas or Arrow table, or raw bytes/files, and conversions."""

from __future__ import annotations

from typing import Any

from .errors import DaoError


def _is_spark_df(data: Any) -> bool:
    mod = type(data).__module__
    return mod.startswith("pyspark.sql") and hasattr(data, "sparkSession")


def _is_pandas_df(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and type(data).__name__ == "DataFrame"


def _is_raw(data: Any) -> bool:
    """Bytes, a binary file object or a local path: a raw upload, not a table."""
    import pathlib

    if isinstance(data, bytes | bytearray | memoryview | pathlib.PurePath):
        return True
    if _is_spark_df(data) or _is_pandas_df(data) or type(data).__module__.startswith("pyarrow"):
        return False
    # the type's attribute, not the instance's: a DataFrame's __getattr__ answers for any column name
    # (a column named "read"), and a Spark Connect DataFrame's for any name at all
    return callable(getattr(type(data), "read", None))


def _to_arrow(data: Any) -> Any:
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if _is_pandas_df(data):
        return pa.Table.from_pandas(data, preserve_index=False)
    if _is_spark_df(data):
        return data.toArrow()
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return pa.Table.from_pylist(data)
    raise DaoError(
        f"cannot write a {type(data).__module__}.{type(data).__name__}: pass a Spark or pandas "
        "DataFrame, a pyarrow Table/RecordBatch, or a list of dicts"
    )


def _to_pandas_or_arrow(data: Any) -> Any:
    if _is_pandas_df(data):
        return data
    return _to_arrow(data).to_pandas()
