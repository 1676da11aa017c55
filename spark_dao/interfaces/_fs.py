"""Filesystems and the I/O error boundary of the files interface: the pyarrow filesystem of a
location (local, S3 with the store's settings), which library errors become :class:`DaoError`.
"""

from __future__ import annotations

import functools
import os
from functools import lru_cache
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from ..catalog.model import DataObject, DataStore
from ..errors import DaoError


def _bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


# --------------------------------------------------------------------------- filesystems
#: S3 retry/timeout defaults: transient errors (5xx, throttling, dropped connections) are retried
#: with the AWS standard backoff; a dead endpoint fails within about a minute, never hangs.
S3_MAX_ATTEMPTS = 5
S3_CONNECT_TIMEOUT = 5.0
S3_REQUEST_TIMEOUT = 60.0
_S3_KEYS = ("endpoint_url", "region", "access_key", "secret_key", "session_token", "profile", "path_style",
            "max_attempts", "connect_timeout", "request_timeout")


@lru_cache(maxsize=32)
def _filesystem(location_scheme: str, settings: tuple[tuple[str, Any], ...]) -> pafs.FileSystem:
    cfg = dict(settings)
    if location_scheme in ("s3", "s3a"):
        kwargs: dict[str, Any] = {
            "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=int(cfg.get("max_attempts", S3_MAX_ATTEMPTS))),
            "connect_timeout": float(cfg.get("connect_timeout", S3_CONNECT_TIMEOUT)),
            "request_timeout": float(cfg.get("request_timeout", S3_REQUEST_TIMEOUT)),
        }
        endpoint = cfg.get("endpoint_url")
        if endpoint:
            scheme, _, host = str(endpoint).partition("://")
            kwargs["endpoint_override"] = host.rstrip("/") if host else scheme
            kwargs["scheme"] = scheme if host else "https"
        region = cfg.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region or endpoint:
            kwargs["region"] = region or "us-east-1"
        if cfg.get("access_key"):
            kwargs["access_key"] = cfg["access_key"]
            kwargs["secret_key"] = cfg.get("secret_key")
            if cfg.get("session_token"):
                kwargs["session_token"] = cfg["session_token"]
        elif cfg.get("profile"):
            kwargs.update(_profile_credentials(str(cfg["profile"])))
        if _bool(cfg.get("path_style"), False):
            kwargs["force_virtual_addressing"] = False
        return pafs.S3FileSystem(**kwargs)
    if location_scheme == "file":
        return pafs.LocalFileSystem()
    fs, _ = pafs.FileSystem.from_uri(f"{location_scheme}://")
    return fs


def _profile_credentials(profile: str) -> dict[str, Any]:
    """Credentials of a named AWS profile (resolved where the filesystem is built)."""
    from ..errors import require

    boto3 = require("boto3", "s3")
    creds = boto3.session.Session(profile_name=profile).get_credentials()
    if creds is None:
        raise DaoError(f"AWS profile {profile!r} has no credentials")
    frozen = creds.get_frozen_credentials()
    out = {"access_key": frozen.access_key, "secret_key": frozen.secret_key}
    if frozen.token:
        out["session_token"] = frozen.token
    return out


def filesystem_for(store: DataStore, location: str) -> tuple[pafs.FileSystem, str]:
    """(pyarrow filesystem, path inside it) for a location of ``store``.

    S3 settings come from the store's configs (so executors get catalog credentials without
    needing the driver's environment); without keys, pyarrow uses the default AWS chain where it
    runs (instance profile on EMR, env vars, ~/.aws).
    """
    if "://" in location:
        scheme, _, rest = location.partition("://")
        if scheme == "file":
            return _filesystem("file", ()), "/" + rest.lstrip("/")
        settings = tuple((k, store.configs.get(k)) for k in _S3_KEYS if store.configs.get(k) is not None)
        return _filesystem(scheme, settings), rest.rstrip("/")
    return _filesystem("file", ()), os.path.abspath(location)


@lru_cache(maxsize=1)
def io_errors() -> tuple[type[BaseException], ...]:
    """What a storage or parsing library raises at the I/O boundary: turned into :class:`DaoError`.

    ``OSError`` (local files, pyarrow's filesystems), pyarrow's ``ArrowException`` family (corrupt
    parquet, csv/json parse and conversion errors), ``ValueError`` (json decoding, text decoding,
    bad values) and, when installed, botocore's errors.
    """
    errors: list[type[BaseException]] = [OSError, pa.ArrowException, ValueError, EOFError]
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        errors += [BotoCoreError, ClientError]
    except ImportError:
        pass
    return tuple(errors)


def _wrap_io(action: str) -> Any:
    """Turn a library error at the I/O boundary (see :func:`io_errors`) into a :class:`DaoError`
    naming the object, store and location (the file, when the library's message names it)."""

    def deco(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(self: Any, obj: DataObject, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, obj, *args, **kwargs)
            except DaoError:
                raise
            except io_errors() as exc:
                raise DaoError(
                    f"{action} {obj.full_name!r} (store {obj.store_name!r}) at {obj.location} failed: "
                    f"{_describe(exc)}"
                ) from exc

        return wrapper

    return deco


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, OSError) else str(exc)


def _file_error(obj: DataObject, path: str, fmt: str, exc: BaseException, *, action: str) -> DaoError:
    """A corrupt or unparsable data file: name the object, store and file, and say what to do."""
    return DaoError(
        f"{action} {obj.full_name!r} (store {obj.store_name!r}): cannot read {path} as {fmt}: {_describe(exc)}. "
        f"The file is corrupt or not {fmt}: replace or remove it (or overwrite the object)"
    )


#: concurrent requests for latency-bound object-store work (commit moves/deletes, key scans, reads)
IO_THREADS = 16


def _is_object_store(fs: pafs.FileSystem) -> bool:
    return fs.type_name != "local"
