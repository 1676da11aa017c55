"""``DataReaderWriter``: the seed's entry point for reading and writing paths of an S3 bucket.

    from spark_dao.compat.core.data_reader_writer import DataReaderWriter   # seed: from core.data_reader_writer ...

    reader_writer = DataReaderWriter(
        backend='pandas',                      # or 'pyspark'
        bucket_name='your-bucket-name',
        endpoint_url='https://s3.amazonaws.com',
        access_key='your-access-key',
        secret_key='your-secret-key'
    )
    df = reader_writer.read("users/2025-01-07.csv")
    reader_writer.write(df, "users/clean.parquet")

A thin layer: the bucket becomes an ad-hoc spark_dao store (:class:`~spark_dao.compat.client.S3Client`),
each path a data object in it, and every call one :class:`~spark_dao.DataAccessObject` call.
"""

from __future__ import annotations

from typing import Any

from ...catalog import DataObject
from ..factory import DataReaderWriterFactory
from ._entry import BucketEntry


class DataReaderWriter(BucketEntry):
    """Read and write the data at paths of one S3 bucket with pandas or PySpark.

    >>> rw = DataReaderWriter(backend="pandas", bucket_name="my-company-silver")   # doctest: +SKIP
    >>> rw.write(pdf, "users/clean.parquet")                                        # doctest: +SKIP
    >>> rw.read("users/clean.parquet", columns=["id", "email"])                     # doctest: +SKIP

    ``read(path, **kwargs)``: ``format=`` (else from the extension: ``.csv``, ``.json``/``.jsonl``,
    ``.parquet``; parquet without one), ``columns=``, ``filters=`` (partition filters) and the files
    interface's read options (``header``, ``delimiter``, ``inferSchema``). Returns a pandas DataFrame
    (``backend='pandas'``) or a Spark DataFrame (``'pyspark'``).

    ``write(data, path, **kwargs)``: ``mode=`` (default ``'overwrite'``: the path's data is replaced;
    ``append``, ``dynamic``, ``errorifexists``, ``ignore``), ``format=``, ``partition_by=`` and the
    write options (``compression``, ``header``, ...). A path is a dataset folder of part files, as Spark
    writes it; bytes or a binary file are stored as-is at the path. Returns the ``WriteResult``.

    ``region=``, ``session_token=``, ``spark=`` (a SparkSession) and the catalog's S3 store settings
    (``path_style=``, ``max_attempts=`` ...) are optional keyword arguments. The catalog API on the
    same data: :attr:`dao` and :meth:`data_object`.
    """

    def _open(self) -> None:
        self.reader, self.writer = DataReaderWriterFactory.create(self.backend, self.client)

    def read(self, path: str, **kwargs: Any) -> Any:
        """The data at ``path``: ``rw.read("users/2025-01-07.csv")``, ``rw.read("events/", format="json")``."""
        return self.reader.read(path, **kwargs)

    def write(self, data: Any, path: str, **kwargs: Any) -> Any:
        """Write ``data`` to ``path``: ``rw.write(df, "users/clean.parquet", mode="append")``."""
        return self.writer.write(data, path, **kwargs)

    @property
    def dao(self) -> Any:
        """The :class:`~spark_dao.DataAccessObject` over the bucket's store (the catalog API)."""
        return self.client.dao

    def data_object(self, path: str, *, format: str | None = None) -> DataObject:
        """The catalog's data object for ``path``: ``rw.dao.read(data_object=rw.data_object("users/clean.parquet"))``."""
        return self.client.data_object(path, format=format)
