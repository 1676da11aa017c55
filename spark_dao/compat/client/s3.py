"""``S3Client``: one bucket as an ad-hoc spark_dao store, and the paths inside it as data objects.

    client = S3Client("my-company-silver", endpoint_url="http://localhost:9000",
                      access_key="minio", secret_key="minio123")
    client.data_object("users/2025-01-07.csv")      # DataObject 'my-company-silver.users/2025-01-07'
    client.upload(open("users.csv", "rb"), "raw/users.csv")
    client.list("raw/")

The store is what a catalog entry would make of the same settings (``interface: files`` with
``interfaces: [objects]``, ``bucket``, ``endpoint_url``, credentials), loaded through
:class:`~spark_dao.DataAccessObject`: the same validation, S3 settings (path-style URLs with an
endpoint, retries, timeouts), staging and commit protocols, and errors as a catalog store. Nothing is
implemented twice. Credentials live only in the store's configs, which never show them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ...catalog import DataObject
from ...dao import DataAccessObject
from ...errors import DaoError
from ..utils.paths import bucket_key, infer_format, normalize_bucket, object_name, store_name

#: store keys the path API sets itself (the store *is* the bucket; folders go into the paths)
_OWN_KEYS = ("interface", "interfaces", "interface_class", "bucket", "bucket_name", "path", "root", "base_path", "prefix")


class S3Client:
    """The connection to one bucket (``endpoint_url``, credentials), as a spark_dao store.

    >>> client = S3Client("my-company-silver", endpoint_url="https://s3.amazonaws.com")   # doctest: +SKIP
    >>> client.dao.read(data_object=client.data_object("users/clean.parquet"))             # doctest: +SKIP

    ``access_key`` / ``secret_key`` (and ``session_token``) go together; without them the default AWS
    credential chain applies (environment, profile, instance role). ``region``, ``spark`` (a pinned
    SparkSession) and any other S3 store setting of the catalog (``path_style``, ``max_attempts``,
    ``connect_timeout``, ``request_timeout``, ``profile`` ...; docs/backends/s3.md) are keyword arguments.
    """

    def __init__(
        self,
        bucket_name: str,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        *,
        region: str | None = None,
        session_token: str | None = None,
        spark: Any = None,
        **store_configs: Any,
    ) -> None:
        self.bucket_name = normalize_bucket(bucket_name)
        self.endpoint_url = endpoint_url
        if (access_key is None) != (secret_key is None):
            raise DaoError(
                f"bucket {self.bucket_name!r}: pass both access_key and secret_key, or neither "
                "(then the default AWS credential chain applies: environment, profile, instance role)"
            )
        own = sorted(k for k in store_configs if k in _OWN_KEYS)
        if own:
            raise DaoError(
                f"bucket {self.bucket_name!r}: {', '.join(own)} cannot be set here: the store is the whole "
                "bucket; put folders into the paths you read and write (e.g. 'datasets/users.parquet')"
            )
        entry: dict[str, Any] = {"interface": "files", "interfaces": ["objects"], "bucket": self.bucket_name}
        given = {"endpoint_url": endpoint_url, "access_key": access_key, "secret_key": secret_key,
                 "session_token": session_token, "region": region}
        entry.update({k: v for k, v in given.items() if v is not None})
        entry.update(store_configs)
        self.store_name = store_name(self.bucket_name)
        #: the DataAccessObject over the bucket's store: the catalog API on the same data
        self.dao = DataAccessObject({"stores": {self.store_name: entry}}, spark=spark)
        self.store = self.dao.catalog.store(self.store_name)
        # the whole bucket as one raw-objects object, for keys anywhere in it
        self._bucket = DataObject("bucket", self.store, path=f"s3://{self.bucket_name}")

    def __repr__(self) -> str:  # never the credentials
        return f"S3Client(bucket_name={self.bucket_name!r}, endpoint_url={self.endpoint_url!r}, store={self.store_name!r})"

    __str__ = __repr__

    # ------------------------------------------------------------------ paths
    def key(self, path: str, *, what: str = "reading") -> str:
        """The key inside the bucket: ``client.key("s3://my-bucket/users/a.csv")`` -> ``"users/a.csv"``."""
        return bucket_key(path, self.bucket_name, what=what)

    def uri(self, path: str, *, what: str = "reading") -> str:
        """``client.uri("users/a.csv")`` -> ``"s3://my-bucket/users/a.csv"``."""
        return f"s3://{self.bucket_name}/{self.key(path, what=what)}"

    def data_object(
        self,
        path: str,
        *,
        format: str | None = None,
        partition_by: Iterable[str] | str | None = None,
        what: str = "reading",
    ) -> DataObject:
        """The data object at ``path`` in the bucket's store, its format from ``format`` or the extension:
        ``client.data_object("users/2025.csv")`` -> ``DataObject('users/2025', path='users/2025.csv', format='csv')``.
        """
        key = self.key(path, what=what)
        where = f"{what} s3://{self.bucket_name}/{key}"
        fmt = infer_format(key, format, what=where)
        if isinstance(partition_by, str):
            partition_by = [partition_by]
        return DataObject(object_name(key), self.store, path=key, format=fmt, partition_by=tuple(partition_by or ()))

    # ------------------------------------------------------------------ raw files (the objects interface)
    def upload(self, data: Any, path: str) -> Any:
        """Store bytes, a binary file object or a local file as-is at ``path`` (one atomic PUT; a local
        folder uploads every file under ``path/``): ``client.upload(open("users.csv", "rb"), "raw/users.csv")``.
        Returns the ``ObjectInfo`` (key, size), or a list of them for a folder."""
        key = self.key(path, what="writing")
        if isinstance(data, str | os.PathLike) and os.path.isdir(data):
            key += "/"
        return self.dao.upload(data, data_object=self._bucket, path=key)

    def download(self, path: str, dest: str | os.PathLike[str]) -> Any:
        """Copy one file to a local file or folder: ``client.download("raw/users.csv", "/tmp/")``."""
        return self.dao.download(self._bucket, self.key(path, what="downloading"), dest)

    def get_bytes(self, path: str) -> bytes:
        """The content of one file: ``client.get_bytes("raw/users.csv")``."""
        return self.dao.get_bytes(self._bucket, self.key(path))

    def list(self, prefix: str | None = None) -> list[Any]:
        """The files in the bucket (``ObjectInfo``: key, size, last_modified), those under ``prefix`` if
        given: ``[i.key for i in client.list("raw/")]``."""
        if prefix:
            prefix = self.key(prefix, what="listing") + ("/" if prefix.endswith("/") else "")
        return self.dao.list_files(self._bucket, prefix=prefix or None)

    # ------------------------------------------------------------------ datasets (the files interface)
    def exists(self, path: str) -> bool:
        """True when ``path`` holds data (a file, or a folder of data files): ``client.exists("users/clean.parquet")``."""
        return self.dao.exists(self.data_object(path, format="parquet", what="checking"))

    def delete(self, path: str) -> bool:
        """Remove the data at ``path`` (a file or a dataset folder); False when there was none."""
        return self.dao.delete(self.data_object(path, format="parquet", what="deleting"))

    @property
    def client(self) -> Any:
        """The boto3 S3 client of this bucket's settings (the one the store itself uses)."""
        from ...interfaces._s3settings import S3Settings

        return S3Settings.from_store(self.store).boto3_client()
