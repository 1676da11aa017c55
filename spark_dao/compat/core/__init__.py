"""The seed's ``core``: :class:`DataReaderWriter` and :class:`Upsert`."""

from .data_reader_writer import DataReaderWriter
from .upsert import Upsert

__all__ = ["DataReaderWriter", "Upsert"]
