"""spark_dao: name your data in a catalog; read, write and upsert it on any backend.

    import spark_dao
    spark_dao.register(spark, catalog="conf/catalog.yaml")
    df = spark.read.format("dao").load("silver.users_clean")

    dao = spark_dao.DataAccessObject("conf/catalog.yaml")
    pdf = dao.read("silver.users_clean", engine="pandas")
"""

from __future__ import annotations

import logging
from typing import Any

from ._redact import RedactingFilter
from .catalog import Catalog, DataObject, DataStore
from .dao import DataAccessObject
from .errors import (
    BackendNotInstalled,
    CatalogError,
    DaoError,
    DuplicateKeys,
    ObjectNotFound,
    SchemaMismatch,
    WriteConflict,
)
from .interfaces import WriteResult
from .registry import DataStoreRegistry

__version__ = "0.1.0"

logging.getLogger("spark_dao").addHandler(logging.NullHandler())


def register(spark: Any, catalog: Any = None, *, name: str = "dao") -> str:
    """Bind a catalog (path, dict or :class:`Catalog`) to a SparkSession as ``format("dao")``.

    >>> spark_dao.register(spark, catalog="conf/catalog.yaml")    # doctest: +SKIP
    >>> spark.read.format("dao").load("silver.users_clean")       # doctest: +SKIP
    """
    from .engines.spark import register as _register

    return _register(spark, catalog, name=name)


def load_catalog(source: Any = None) -> Catalog:
    """Load and validate a catalog: ``load_catalog("conf/catalog.yaml")``."""
    return Catalog.load(source)


__all__ = [
    "BackendNotInstalled",
    "Catalog",
    "CatalogError",
    "DaoError",
    "DataAccessObject",
    "DataObject",
    "DataStore",
    "DataStoreRegistry",
    "DuplicateKeys",
    "ObjectNotFound",
    "RedactingFilter",
    "SchemaMismatch",
    "WriteConflict",
    "WriteResult",
    "load_catalog",
    "register",
    "__version__",
]
