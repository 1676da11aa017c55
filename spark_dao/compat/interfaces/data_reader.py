"""``DataReader``: what every backend's reader does (the seed's ``interfaces/data_reader.py``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class DataReader(ABC):
    """Reads the data at a path of a bucket.

    >>> DataReaderWriterFactory.create_reader("pandas", S3Client("my-bucket")).read("users/clean.parquet")  # doctest: +SKIP
    """

    @abstractmethod
    def read(self, path: str, **kwargs: Any) -> Any:
        """The data at ``path`` (a key inside the bucket, or ``s3://bucket/key``) as the backend's DataFrame."""
