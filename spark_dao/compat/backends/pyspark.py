"""The seed's PySpark backend: reads return Spark DataFrames; reads and writes run as Spark jobs
(the ``dao`` data source on the active SparkSession, or ``S3Client(..., spark=session)``).

    reader = PySparkDataReader(S3Client("my-bucket", endpoint_url=..., access_key=..., secret_key=...))
    df = reader.read("users/clean.parquet")
"""

from __future__ import annotations

from ._common import PathReader, PathUpserter, PathWriter


class PySparkDataReader(PathReader):
    """``PySparkDataReader(client).read("users/2025-01-07.csv")`` -> a Spark DataFrame."""

    backend = "pyspark"
    engine = "spark"


class PySparkDataWriter(PathWriter):
    """``PySparkDataWriter(client).write(df, "users/clean.parquet")`` (default mode ``overwrite``)."""

    backend = "pyspark"
    engine = "spark"


class PySparkUpserter(PathUpserter):
    """``PySparkUpserter(client).upsert(changes, "users/clean.parquet", "merge", ["id"], "updated_at")``."""

    backend = "pyspark"
    engine = "spark"
