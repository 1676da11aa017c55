"""``DataReaderWriterFactory``: the reader and writer of a backend (the seed's ``factory/reader_writer_factory.py``)."""

from __future__ import annotations

from typing import Any, ClassVar

from ..backends import PandasDataReader, PandasDataWriter, PySparkDataReader, PySparkDataWriter
from ..client import S3Client
from ..interfaces import DataReader, DataWriter
from ..utils.paths import normalize_backend


def _client(client: S3Client | None, connection: dict[str, Any]) -> S3Client:
    if client is not None:
        return client
    return S3Client(**connection)


class DataReaderWriterFactory:
    """Creates the :class:`DataReader` / :class:`DataWriter` of a backend (``'pandas'`` or ``'pyspark'``).

    >>> client = S3Client("my-bucket", endpoint_url="http://localhost:9000")       # doctest: +SKIP
    >>> DataReaderWriterFactory.create_reader("pandas", client).read("users/clean.parquet")  # doctest: +SKIP
    >>> DataReaderWriterFactory.create_writer("pyspark", bucket_name="my-bucket")  # doctest: +SKIP

    Pass an :class:`S3Client`, or the connection (``bucket_name=``, ``endpoint_url=``, ``access_key=``,
    ``secret_key=``) to make one. An unknown backend is a ``DaoError`` listing the valid ones.
    """

    readers: ClassVar[dict[str, type[DataReader]]] = {"pandas": PandasDataReader, "pyspark": PySparkDataReader}
    writers: ClassVar[dict[str, type[DataWriter]]] = {"pandas": PandasDataWriter, "pyspark": PySparkDataWriter}

    @classmethod
    def create_reader(cls, backend: str, client: S3Client | None = None, **connection: Any) -> DataReader:
        """The backend's reader over ``client``'s bucket."""
        return cls.readers[normalize_backend(backend)](_client(client, connection))  # type: ignore[call-arg]

    @classmethod
    def create_writer(cls, backend: str, client: S3Client | None = None, **connection: Any) -> DataWriter:
        """The backend's writer over ``client``'s bucket."""
        return cls.writers[normalize_backend(backend)](_client(client, connection))  # type: ignore[call-arg]

    @classmethod
    def create(cls, backend: str, client: S3Client | None = None, **connection: Any) -> tuple[DataReader, DataWriter]:
        """The backend's reader and writer over one bucket: ``reader, writer = DataReaderWriterFactory.create("pandas", client)``."""
        backend = normalize_backend(backend)
        client = _client(client, connection)
        return cls.create_reader(backend, client), cls.create_writer(backend, client)
