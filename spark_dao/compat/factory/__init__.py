"""The seed's ``factory``: :class:`DataReaderWriterFactory` and :class:`UpsertFactory`."""

from .reader_writer_factory import DataReaderWriterFactory
from .upsert_factory import UpsertFactory

__all__ = ["DataReaderWriterFactory", "UpsertFactory"]
