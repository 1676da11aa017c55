"""The seed's pandas backend: reads return pandas DataFrames; everything runs in-process (no Spark).

    reader = PandasDataReader(S3Client("my-bucket", endpoint_url=..., access_key=..., secret_key=...))
    pdf = reader.read("users/clean.parquet")
"""

from __future__ import annotations

from ._common import PathReader, PathUpserter, PathWriter


class PandasDataReader(PathReader):
    """``PandasDataReader(client).read("users/2025-01-07.csv")`` -> a pandas DataFrame."""

    backend = "pandas"
    engine = "pandas"


class PandasDataWriter(PathWriter):
    """``PandasDataWriter(client).write(pdf, "users/clean.parquet")`` (default mode ``overwrite``)."""

    backend = "pandas"
    engine = "pandas"


class PandasUpserter(PathUpserter):
    """``PandasUpserter(client).upsert(changes, "users/clean.parquet", "merge", ["id"], "updated_at")``."""

    backend = "pandas"
    engine = "pandas"
