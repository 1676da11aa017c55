"""The seed's pandas backend: reads return pandas DataFrames; everything runs in-process (no Spark).

    reader = PandasDataReader(S3Client("my-bucket", endpoint_url=..., access_key=..., secret_key=...))
    pdf = reader.read("users/clean.parquet")
"""

from __future__ import annotations

from typing import Any

from ..interfaces import DataReader, DataWriter, Upserter
from ._common import PathBackend


class _Pandas(PathBackend):
    backend = "pandas"
    engine = "pandas"


class PandasDataReader(_Pandas, DataReader):
    """``PandasDataReader(client).read("users/2025-01-07.csv")`` -> a pandas DataFrame."""

    def read(self, path: str, **kwargs: Any) -> Any:
        return self._read(path, kwargs)


class PandasDataWriter(_Pandas, DataWriter):
    """``PandasDataWriter(client).write(pdf, "users/clean.parquet")`` (default mode ``overwrite``)."""

    def write(self, data: Any, path: str, **kwargs: Any) -> Any:
        return self._write(data, path, kwargs)


class PandasUpserter(_Pandas, Upserter):
    """``PandasUpserter(client).upsert(changes, "users/clean.parquet", "merge", ["id"], "updated_at")``."""

    def __init__(self, client: Any, upsert_method: str | None = None) -> None:
        super().__init__(client)
        self.upsert_method = upsert_method

    def upsert(self, new_data: Any, target_path: str, upsert_method: str | None = None,
               id_columns: list[str] | str | None = None, modification_column: str | None = None,
               **kwargs: Any) -> Any:
        method = upsert_method if upsert_method is not None else self.upsert_method
        return self._upsert(new_data, target_path, method, id_columns, modification_column, kwargs)
