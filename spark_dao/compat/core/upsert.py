"""``Upsert``: the seed's entry point for merging new rows into the data at a path of an S3 bucket.

    from spark_dao.compat.core.upsert import Upsert       # seed: from core.upsert import Upsert

    upserter = Upsert(backend='pyspark', bucket_name='your-bucket-name', endpoint_url='https://s3.amazonaws.com',
                      access_key='your-access-key', secret_key='your-secret-key')
    upserter.upsert(new_df, 'users/clean.parquet', upsert_method='merge', id_columns=['id'],
                    modification_column='updated_at')

Each call is one ``DataAccessObject.upsert`` (docs/upserts.md): ``upsert_method`` is the strategy
(``merge``, ``insert_only``, ``delete_insert``, or their aliases ``upsert``, ``update_insert``,
``insert``, ``append_new``, ``replace``), ``id_columns`` the keys, ``modification_column`` the
``order_by`` column (the newest row per key wins, in the batch and against the stored rows).
"""

from __future__ import annotations

from typing import Any

from ..factory import UpsertFactory
from ._entry import BucketEntry


class Upsert(BucketEntry):
    """Upserts into the data at paths of one S3 bucket with pandas or PySpark.

    >>> Upsert(backend="pandas", bucket_name="my-company-silver").upsert(
    ...     changes, "users/clean.parquet", "merge", ["id"], "updated_at")          # doctest: +SKIP

    The constructor takes what :class:`~spark_dao.compat.core.data_reader_writer.DataReaderWriter` takes.
    ``upsert`` also accepts ``on_duplicates`` (``error`` | ``keep_latest``), ``delete_unmatched``,
    ``format`` and ``partition_by`` (for a target that does not exist yet). A missing target is created.
    """

    def _open(self) -> None:
        self.upserter = UpsertFactory.create_upserter(self.backend, self.client)

    def upsert(
        self,
        new_data: Any,
        target_path: str,
        upsert_method: str,
        id_columns: list[str] | str,
        modification_column: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Merge ``new_data`` into ``target_path``; returns the ``WriteResult`` (rows inserted/updated)."""
        return self.upserter.upsert(new_data, target_path, upsert_method, id_columns, modification_column, **kwargs)

    @property
    def dao(self) -> Any:
        """The :class:`~spark_dao.DataAccessObject` over the bucket's store (the catalog API)."""
        return self.client.dao
