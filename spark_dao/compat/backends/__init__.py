"""The seed's ``backends``: pandas (in-process) and PySpark (Spark jobs), each a reader, a writer and an
upserter delegating to :class:`~spark_dao.DataAccessObject` with its engine."""

from .pandas import PandasDataReader, PandasDataWriter, PandasUpserter
from .pyspark import PySparkDataReader, PySparkDataWriter, PySparkUpserter

__all__ = [
    "PandasDataReader",
    "PandasDataWriter",
    "PandasUpserter",
    "PySparkDataReader",
    "PySparkDataWriter",
    "PySparkUpserter",
]
