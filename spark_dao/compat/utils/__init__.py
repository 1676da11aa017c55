"""The seed's ``utils``: path, format, backend and upsert-method checks (:mod:`.paths`)."""

from .paths import (
    BACKENDS,
    FORMATS,
    FORMATS_BY_EXTENSION,
    UPSERT_METHODS,
    bucket_key,
    infer_format,
    normalize_backend,
    normalize_bucket,
    object_name,
    store_name,
    upsert_strategy,
)

__all__ = [
    "BACKENDS",
    "FORMATS",
    "FORMATS_BY_EXTENSION",
    "UPSERT_METHODS",
    "bucket_key",
    "infer_format",
    "normalize_backend",
    "normalize_bucket",
    "object_name",
    "store_name",
    "upsert_strategy",
]
