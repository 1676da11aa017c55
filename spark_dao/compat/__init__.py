"""Seed 000's path-based API (the "Reader Writer S3 Framework") as a thin layer over spark_dao.

The seed's modules are here under ``spark_dao.compat``; prefix its imports with it::

    from core.data_reader_writer import DataReaderWriter      # seed
    from spark_dao.compat.core.data_reader_writer import DataReaderWriter
    from spark_dao.compat import DataReaderWriter, Upsert     # the same classes, shorter

A bucket becomes an ad-hoc files store (:class:`S3Client`), a path inside it a data object, and
every ``read`` / ``write`` / ``upsert`` one :class:`~spark_dao.DataAccessObject` call (the ``pandas``
engine for ``backend='pandas'``, Spark for ``'pyspark'``). See docs/seed000.md.
"""

from .backends import (
    PandasDataReader,
    PandasDataWriter,
    PandasUpserter,
    PySparkDataReader,
    PySparkDataWriter,
    PySparkUpserter,
)
from .client import S3Client
from .core import DataReaderWriter, Upsert
from .factory import DataReaderWriterFactory, UpsertFactory
from .interfaces import DataReader, DataWriter, Upserter

__all__ = [
    "DataReader",
    "DataReaderWriter",
    "DataReaderWriterFactory",
    "DataWriter",
    "PandasDataReader",
    "PandasDataWriter",
    "PandasUpserter",
    "PySparkDataReader",
    "PySparkDataWriter",
    "PySparkUpserter",
    "S3Client",
    "Upsert",
    "UpsertFactory",
    "Upserter",
]
