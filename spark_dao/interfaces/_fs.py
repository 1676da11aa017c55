"""Filesystems and the I/O error boundary of the files interface: the pyarrow filesystem of a
location (local, S3 with the store's settings), which library errors become :class:`DaoError`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import pyarrow.fs as pafs

from ..catalog.model import DataObject, DataStore
from ..catalog.settings import parse_bool
from ..errors import DaoError
from ._s3settings import S3Settings, is_s3_location
from .base import describe_error, error_boundary, library_errors


def _bool(value: Any, default: bool) -> bool:
    """A boolean option (already typed by the option check), or ``default`` when unset."""
    parsed = parse_bool(value) if value is not None else None
    return default if parsed is None else parsed


# --------------------------------------------------------------------------- filesystems
@lru_cache(maxsize=8)
def _filesystem(location_scheme: str) -> pafs.FileSystem:
    """The pyarrow filesystem of a non-S3 scheme (``file``, ``hdfs``...)."""
    if location_scheme == "file":
        return pafs.LocalFileSystem()
    fs, _ = pafs.FileSystem.from_uri(f"{location_scheme}://")
    return fs


def filesystem_for(store: DataStore, location: str) -> tuple[pafs.FileSystem, str]:
    """(pyarrow filesystem, path inside it) for a location of ``store``.

    S3 settings (``s3://``, ``s3a://``, ``s3n://``) come from the store's configs through
    :class:`~spark_dao.interfaces._s3settings.S3Settings` (so executors get catalog credentials
    without needing the driver's environment); without keys, pyarrow uses the default AWS chain
    where it runs (instance profile on EMR, env vars, ~/.aws).
    """
    if "://" in location:
        scheme, _, rest = location.partition("://")
        if scheme == "file":
            return _filesystem("file"), "/" + rest.lstrip("/")
        if is_s3_location(location):
            return S3Settings.from_store(store).arrow_filesystem(), rest.rstrip("/")
        return _filesystem(scheme), rest.rstrip("/")
    return _filesystem("file"), os.path.abspath(location)


#: the I/O error boundary is the base class's (one for every backend): re-exported for this package
io_errors = library_errors
_describe = describe_error


def _wrap_io(action: str) -> Any:
    """:func:`~spark_dao.interfaces.base.error_boundary` for the non-contract methods (``cleanup``, ``put``...)."""
    return error_boundary(action)


def _file_error(obj: DataObject, path: str, fmt: str, exc: BaseException, *, action: str) -> DaoError:
    """A corrupt or unparsable data file: name the object, store and file, and say what to do."""
    text = _describe(exc)
    if "not in range" in text:
        # a valid file whose values do not fit the type the column reads as (uint64 >= 2**63 as int64)
        return DaoError(
            f"{action} {obj.full_name!r} (store {obj.store_name!r}): cannot read {path} as {fmt}: {text}. "
            "A value does not fit the type the column is read as (Spark has no unsigned 64-bit integers); "
            "rewrite the file with a type that holds it (e.g. decimal(20, 0)) or declare the column in the "
            "catalog's schema"
        )
    return DaoError(
        f"{action} {obj.full_name!r} (store {obj.store_name!r}): cannot read {path} as {fmt}: {text}. "
        f"The file is corrupt or not {fmt}: replace or remove it (or overwrite the object)"
    )


#: concurrent requests for latency-bound object-store work (commit moves/deletes, key scans, reads)
IO_THREADS = 16


def _is_object_store(fs: pafs.FileSystem) -> bool:
    return fs.type_name != "local"
