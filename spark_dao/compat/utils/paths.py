"""The seed 000 path API's vocabulary, checked once: backends, paths inside a bucket, formats, upsert methods.

A path names data inside the reader/writer's bucket: ``"users/2025-01-07.csv"``, ``"/users/"`` or the
full ``"s3://my-bucket/users/2025-01-07.csv"``. :func:`bucket_key` turns it into the key inside the
bucket, :func:`infer_format` reads the format off its extension, :func:`object_name` makes the data
object name it gets in the bucket's ad-hoc store (``users/2025-01-07.csv`` -> ``users/2025-01-07``).
Every mistake is a :class:`~spark_dao.errors.DaoError` that lists what is valid.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from ...errors import DaoError, did_you_mean
from ...interfaces.upsert import _STRATEGY_ALIASES

#: the seed's backends -> the DataAccessObject engine that runs them
BACKENDS = {"pandas": "pandas", "pyspark": "spark"}
_BACKEND_ALIASES = {"spark": "pyspark"}

#: file extensions -> format (the files interface's formats: csv, json lines, parquet)
FORMATS_BY_EXTENSION = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
FORMATS = ("csv", "json", "parquet")

#: the seed's upsert methods -> the upsert strategies of spark_dao/interfaces/upsert.py (docs/upserts.md),
#: which accepts the same aliases
UPSERT_METHODS = dict(_STRATEGY_ALIASES)

_S3_SCHEMES = ("s3", "s3a", "s3n")
_SEGMENT_BAD = re.compile(r"[^A-Za-z0-9_\-]")


def normalize_backend(backend: Any) -> str:
    """``'pandas'`` or ``'pyspark'`` (any case; ``'spark'`` is taken for ``'pyspark'``); a DaoError otherwise.

    >>> normalize_backend("PySpark")
    'pyspark'
    """
    key = backend.strip().lower() if isinstance(backend, str) else None
    key = _BACKEND_ALIASES.get(key, key) if key is not None else None
    if key not in BACKENDS:
        hint = did_you_mean(backend, BACKENDS) if isinstance(backend, str) else ""
        raise DaoError(f"unknown backend {backend!r}.{hint} Valid backends: {', '.join(BACKENDS)}")
    return key


def normalize_bucket(bucket_name: Any) -> str:
    """The bucket's name: ``'my-bucket'`` (an ``s3://my-bucket`` URI is accepted; a folder is not)."""
    if not isinstance(bucket_name, str) or not bucket_name.strip():
        raise DaoError(f"bucket_name must be a bucket's name such as 'my-company-silver', got {bucket_name!r}")
    name = bucket_name.strip()
    scheme, sep, rest = name.partition("://")
    if sep:
        if scheme.lower() not in _S3_SCHEMES:
            raise DaoError(f"bucket_name {bucket_name!r} is not an S3 bucket (use its name, e.g. 'my-bucket')")
        name = rest
    name = name.strip("/")
    if not name or "/" in name:
        raise DaoError(
            f"bucket_name {bucket_name!r} is not a bucket's name: pass the bucket alone "
            "(e.g. 'my-bucket') and put folders into the paths you read and write"
        )
    return name


def bucket_key(path: Any, bucket: str, *, what: str) -> str:
    """The key inside ``bucket`` that ``path`` names: ``"/users/a.csv"`` or ``"s3://bucket/users/a.csv"``
    -> ``"users/a.csv"``. A path in another bucket, leaving the bucket or naming its root is refused."""
    if not isinstance(path, str) or not path.strip():
        raise DaoError(f"{what}: the path must be a key inside bucket {bucket!r} such as 'users/2025-01-07.csv', got {path!r}")
    key = path.strip()
    scheme, sep, rest = key.partition("://")
    if sep:
        if scheme.lower() not in _S3_SCHEMES:
            raise DaoError(f"{what} {path!r}: not an S3 path; use a key inside bucket {bucket!r} or s3://{bucket}/...")
        other, _, key = rest.partition("/")
        if other != bucket:
            raise DaoError(
                f"{what} {path!r}: the path is in bucket {other!r}, but this reader/writer is for bucket {bucket!r}; "
                "create one for that bucket"
            )
    parts = [p for p in key.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DaoError(f"{what} {path!r}: the path contains '..'; use a key inside bucket {bucket!r}")
    if not parts:
        raise DaoError(f"{what} {path!r}: the path names the whole bucket {bucket!r}; name a file or folder inside it")
    return "/".join(parts)


def infer_format(key: str, format: Any = None, *, what: str) -> str | None:
    """The format of the data at ``key``: ``format=`` when given, else the extension's; ``None`` (the
    store's default, parquet) for a key without an extension, such as a folder."""
    if format is not None:
        fmt = str(format).strip().lower()
        fmt = "json" if fmt in ("jsonl", "ndjson") else fmt
        if fmt not in FORMATS:
            raise DaoError(f"{what}: unknown format {format!r}.{did_you_mean(fmt, FORMATS)} Valid formats: {', '.join(FORMATS)}")
        return fmt
    ext = posixpath.splitext(posixpath.basename(key))[1].lower()
    if not ext:
        return None
    if ext not in FORMATS_BY_EXTENSION:
        raise DaoError(
            f"{what}: cannot tell the format of {key!r} from its extension {ext!r} "
            f"(known: {', '.join(FORMATS_BY_EXTENSION)}); pass format='csv', 'json' or 'parquet'"
        )
    return FORMATS_BY_EXTENSION[ext]


def object_name(key: str) -> str:
    """The data object name of a key in the bucket's store: ``"users/2025-01-07.csv"`` -> ``"users/2025-01-07"``
    (the extension dropped, characters a catalog name cannot hold replaced by ``_``)."""
    parts = key.split("/")
    stem, ext = posixpath.splitext(parts[-1])
    if ext.lower() in FORMATS_BY_EXTENSION and stem:
        parts[-1] = stem
    out = []
    for part in parts:
        clean = _SEGMENT_BAD.sub("_", part)
        out.append(clean if clean[:1] not in ("-", "") else "_" + clean)
    return "/".join(out)


def store_name(bucket: str) -> str:
    """The ad-hoc store's name for a bucket: ``"my-company.silver"`` -> ``"my-company_silver"``."""
    name = _SEGMENT_BAD.sub("_", bucket)
    return name if name[:1].isalpha() or name[:1] == "_" else f"s3_{name}"


def upsert_strategy(upsert_method: Any, *, what: str) -> str:
    """The upsert strategy (``merge``, ``insert_only``, ``delete_insert``) of one of the seed's method names."""
    key = upsert_method.strip().lower() if isinstance(upsert_method, str) else None
    if key not in UPSERT_METHODS:
        hint = did_you_mean(upsert_method, UPSERT_METHODS) if isinstance(upsert_method, str) else ""
        raise DaoError(
            f"{what}: unknown upsert_method {upsert_method!r}.{hint} Valid upsert methods: "
            f"{', '.join(UPSERT_METHODS)} (merge/upsert/update_insert: update matched keys and insert new "
            "ones; insert_only/insert/append_new: insert new keys only; delete_insert/replace: replace "
            "every stored row of an incoming key)"
        )
    return UPSERT_METHODS[key]
