"""What the pandas and PySpark backends share: each call becomes one ``DataAccessObject`` call on the
data object a path names (:meth:`S3Client.data_object`), run by the backend's engine.

* ``read(path, format=, columns=, filters=, **options)`` -> ``dao.read(data_object=obj, engine=...)``;
* ``write(data, path, mode='overwrite', format=, partition_by=, **options)`` -> ``dao.write(...)``;
  bytes, a binary file object or a ``pathlib.Path`` are stored as-is at ``path`` (``dao.upload``);
* ``upsert(new_data, target_path, upsert_method, id_columns, modification_column)`` ->
  ``dao.upsert(..., strategy=, keys=id_columns, order_by=modification_column)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..._data import _is_raw, _is_spark_df
from ...errors import DaoError, ObjectNotFound
from ..client.s3 import S3Client
from ..interfaces import DataReader, DataWriter, Upserter
from ..utils.paths import upsert_strategy

#: the path API's default write mode: a path is replaced, as writing a file to it would (and atomically)
DEFAULT_WRITE_MODE = "overwrite"


def _pop_partition_by(kwargs: dict[str, Any]) -> Any:
    given = [kwargs.pop(k) for k in ("partition_by", "partitionBy", "partition_cols") if k in kwargs]
    if len(given) > 1:
        raise DaoError("partition_by is given twice (partition_by / partitionBy / partition_cols); keep one")
    return given[0] if given else None


class PathBackend:
    """One backend (``engine``: ``pandas`` or ``spark``) over an :class:`S3Client`'s bucket."""

    backend: ClassVar[str]
    engine: ClassVar[str]

    def __init__(self, client: S3Client) -> None:
        if not isinstance(client, S3Client):
            raise DaoError(
                f"{type(self).__name__} needs an S3Client, got {type(client).__name__}; "
                "e.g. S3Client('my-bucket', endpoint_url=..., access_key=..., secret_key=...)"
            )
        self.client = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client!r})"

    def _read(self, path: str, kwargs: dict[str, Any]) -> Any:
        kw = dict(kwargs)
        obj = self.client.data_object(path, format=kw.pop("format", None), what="reading")
        columns, filters = kw.pop("columns", None), kw.pop("filters", None)
        try:
            return self.client.dao.read(data_object=obj, engine=self.engine, columns=columns, filters=filters,
                                        options=kw)
        except DaoError as exc:
            if obj.format is not None or isinstance(exc, ObjectNotFound) or "parquet" not in str(exc):
                raise
            raise type(exc)(
                f"{exc} (the path {path!r} has no extension, so it was read as parquet; "
                "pass format='csv' or format='json' if its files are not parquet)"
            ) from exc

    def _write(self, data: Any, path: str, kwargs: dict[str, Any]) -> Any:
        kw = dict(kwargs)
        if _is_raw(data) and not _is_spark_df(data):
            if kw:
                raise DaoError(
                    f"writing {self.client.uri(path, what='writing')}: bytes and files are stored as they are; "
                    f"the options {sorted(kw)} do not apply to them (pass a DataFrame to write a dataset)"
                )
            return self.client.upload(data, path)
        mode = kw.pop("mode", DEFAULT_WRITE_MODE)
        obj = self.client.data_object(path, format=kw.pop("format", None), partition_by=_pop_partition_by(kw),
                                      what="writing")
        return self.client.dao.write(data, data_object=obj, mode=mode, engine=self.engine, options=kw)

    def _upsert(self, new_data: Any, target_path: str, upsert_method: Any, id_columns: Any,
                modification_column: str | None, kwargs: dict[str, Any]) -> Any:
        where = f"upsert into {self.client.uri(target_path, what='upsert into')}"
        strategy = upsert_strategy(upsert_method, what=where)
        if id_columns is None or (isinstance(id_columns, str | list | tuple) and not id_columns):
            raise DaoError(f"{where}: pass id_columns, the key column(s) rows are matched on, e.g. id_columns=['id']")
        kw = dict(kwargs)
        obj = self.client.data_object(target_path, format=kw.pop("format", None), partition_by=_pop_partition_by(kw),
                                      what="upsert into")
        return self.client.dao.upsert(
            new_data, data_object=obj, engine=self.engine, options=kw,
            upsert_method=strategy, id_columns=id_columns, modification_column=modification_column,
        )


# the seed's three roles, written once; pandas.py and pyspark.py only choose the engine
class PathReader(PathBackend, DataReader):
    def read(self, path: str, **kwargs: Any) -> Any:
        return self._read(path, kwargs)


class PathWriter(PathBackend, DataWriter):
    def write(self, data: Any, path: str, **kwargs: Any) -> Any:
        return self._write(data, path, kwargs)


class PathUpserter(PathBackend, Upserter):
    def __init__(self, client: Any, upsert_method: str | None = None) -> None:
        super().__init__(client)
        self.upsert_method = upsert_method

    def upsert(self, new_data: Any, target_path: str, upsert_method: str | None = None,
               id_columns: list[str] | str | None = None, modification_column: str | None = None,
               **kwargs: Any) -> Any:
        method = upsert_method if upsert_method is not None else self.upsert_method
        return self._upsert(new_data, target_path, method, id_columns, modification_column, kwargs)
