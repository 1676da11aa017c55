"""``UpsertFactory``: the upserter of a backend and upsert method (the seed's ``factory/upsert_factory.py``)."""

from __future__ import annotations

from typing import Any, ClassVar

from ..backends import PandasUpserter, PySparkUpserter
from ..client import S3Client
from ..interfaces import Upserter
from ..utils.paths import normalize_backend, upsert_strategy
from .reader_writer_factory import _client


class UpsertFactory:
    """Creates the :class:`Upserter` of a backend (``'pandas'`` or ``'pyspark'``), optionally bound to an
    upsert method (``merge``, ``insert_only``, ``delete_insert`` or one of their aliases).

    >>> upserter = UpsertFactory.create_upserter("pandas", client, upsert_method="merge")       # doctest: +SKIP
    >>> upserter.upsert(changes, "users/clean.parquet", id_columns=["id"], modification_column="updated_at")  # doctest: +SKIP

    An unknown backend or method is a ``DaoError`` listing the valid ones, raised here, before any I/O.
    """

    upserters: ClassVar[dict[str, type[Upserter]]] = {"pandas": PandasUpserter, "pyspark": PySparkUpserter}

    @classmethod
    def create_upserter(cls, backend: str, client: S3Client | None = None, upsert_method: str | None = None,
                        **connection: Any) -> Upserter:
        """The backend's upserter over ``client``'s bucket; ``upsert_method`` becomes its default method."""
        backend = normalize_backend(backend)
        if upsert_method is not None:
            upsert_strategy(upsert_method, what=f"UpsertFactory.create_upserter({backend!r})")
        return cls.upserters[backend](_client(client, connection), upsert_method)  # type: ignore[call-arg]
