"""The seed's ``interfaces``: the abstract reader, writer and upserter every backend implements.

(Not to be confused with :mod:`spark_dao.interfaces`, the storage backends these delegate to.)
"""

from .data_reader import DataReader
from .data_writer import DataWriter
from .upserter import Upserter

__all__ = ["DataReader", "DataWriter", "Upserter"]
