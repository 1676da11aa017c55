"""What the seed's two entry points share: a backend name and an S3 bucket as an ad-hoc store."""

from __future__ import annotations

from typing import Any

from ..client import S3Client
from ..utils.paths import normalize_backend


class BucketEntry:
    """``backend`` (``pandas`` | ``pyspark``) and the bucket's :class:`S3Client`; reprs never show credentials."""

    def __init__(
        self,
        backend: str,
        bucket_name: str,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        **options: Any,
    ) -> None:
        self.backend = normalize_backend(backend)
        self.client = S3Client(bucket_name, endpoint_url, access_key, secret_key, **options)
        self._open()

    def _open(self) -> None:
        """What the entry point builds on the client (its readers/writers or its upserter)."""

    def __repr__(self) -> str:  # never the credentials
        return (f"{type(self).__name__}(backend={self.backend!r}, bucket_name={self.client.bucket_name!r}, "
                f"endpoint_url={self.client.endpoint_url!r})")

    __str__ = __repr__
