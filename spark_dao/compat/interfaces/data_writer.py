"""``DataWriter``: what every backend's writer does (the seed's ``interfaces/data_writer.py``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class DataWriter(ABC):
    """Writes data to a path of a bucket.

    >>> DataReaderWriterFactory.create_writer("pyspark", S3Client("my-bucket")).write(df, "users/clean.parquet")  # doctest: +SKIP
    """

    @abstractmethod
    def write(self, data: Any, path: str, **kwargs: Any) -> Any:
        """Write ``data`` (pandas or Spark DataFrame, Arrow table) to ``path``; returns a ``WriteResult``."""
