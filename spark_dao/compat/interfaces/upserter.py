"""``Upserter``: what every backend's upserter does (the seed's ``interfaces/upserter.py``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class Upserter(ABC):
    """Merges new rows into the data at a path of a bucket, by key.

    >>> UpsertFactory.create_upserter("pandas", S3Client("my-bucket")).upsert(
    ...     changes, "users/clean.parquet", "merge", ["id"], "updated_at")              # doctest: +SKIP
    """

    @abstractmethod
    def upsert(
        self,
        new_data: Any,
        target_path: str,
        upsert_method: str | None,
        id_columns: list[str] | str | None,
        modification_column: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Merge ``new_data`` into ``target_path`` matching rows on ``id_columns``; with
        ``modification_column`` the newest row per key wins. Returns a ``WriteResult``."""
