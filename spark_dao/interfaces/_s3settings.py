"""One reading of a store's S3 settings, for both S3 clients the project uses.

:class:`S3Settings` validates a store's S3 keys once, with the catalog's typed settings (so a
``DataStore`` built by hand gets the errors a loaded catalog gives), and builds from the same values
the pyarrow filesystem (:meth:`S3Settings.arrow_filesystem`) and the boto3 client
(:meth:`S3Settings.boto3_client`): same endpoint, region, credentials, addressing style, retries and
timeouts. It is plain frozen data (picklable, no client inside, secrets masked in its repr); clients
are cached per settings (and, for boto3, per process).

Locations: ``s3://``, ``s3a://`` and ``s3n://`` all name S3 (:data:`S3_SCHEMES`, :func:`split_location`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

from ..catalog.model import DataStore
from ..errors import DaoError, require

#: the location schemes that name S3, for pyarrow and boto3 alike (Hadoop's s3a/s3n spellings included)
S3_SCHEMES = ("s3", "s3a", "s3n")

#: the store keys S3Settings reads (all typed in ``catalog.settings.SETTING_TYPES``)
_S3_KEYS = (
    "endpoint_url",
    "region",
    "access_key",
    "secret_key",
    "session_token",
    "profile",
    "path_style",
    "max_attempts",
    "connect_timeout",
    "request_timeout",
)
_SECRET_FIELDS = ("access_key", "secret_key", "session_token")


def is_s3_location(location: str) -> bool:
    return "://" in location and location.partition("://")[0].lower() in S3_SCHEMES


def split_location(location: str) -> tuple[str, str]:
    """``"s3://bucket/a/b"`` (``s3a://``, ``s3n://``, or pyarrow's ``"bucket/a/b"``) -> ``("bucket", "a/b")``.

    Any other scheme is refused with a :class:`DaoError`.
    """
    if "://" in location:
        scheme, _, rest = location.partition("://")
        if scheme.lower() not in S3_SCHEMES:
            raise DaoError(f"{location!r} is not an S3 location (use s3://, s3a:// or s3n://)")
    else:
        rest = location
    bucket, _, key = rest.partition("/")
    return bucket, key.strip("/")


def _typed(store: DataStore, key: str, value: Any) -> Any:
    """``value`` checked and converted by the catalog's type for ``key``; a DaoError naming the store."""
    from ..catalog.settings import SETTING_TYPES, SettingTypeError, coerce

    try:
        return coerce(key, value, SETTING_TYPES[key])
    except SettingTypeError as exc:
        raise DaoError(f"store {store.name!r}: {key}: {exc}") from None


@dataclass(frozen=True)
class S3Settings:
    """A store's S3 connection settings, validated; see the module docstring."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    profile: str | None = None
    path_style: bool = False  # unset in the store: True exactly when endpoint_url is set
    max_attempts: int = 5
    connect_timeout: float = 5.0
    request_timeout: float = 60.0
    max_pool: int = 18

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            shown.append(f"{f.name}={'***' if f.name in _SECRET_FIELDS and value else value!r}")
        return f"S3Settings({', '.join(shown)})"

    __str__ = __repr__

    @classmethod
    def from_store(cls, store: DataStore) -> S3Settings:
        """The validated S3 settings of ``store`` (its configs win over the module defaults)."""
        from . import _s3  # defaults live there (tests lower them)

        cfg = store.configs
        values: dict[str, Any] = {}
        for key in _S3_KEYS:
            raw = cfg.get(key)
            if raw is None or raw == "":
                continue
            values[key] = _typed(store, key, raw)
        if "endpoint_url" not in cfg:
            # as boto3 does (so uploads and tabular reads agree): the service's variable, then the general one
            env = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            if env:
                values["endpoint_url"] = _typed(store, "endpoint_url", env)
        path_style = values.pop("path_style", None)
        values.setdefault("max_attempts", _typed(store, "max_attempts", _s3.MAX_ATTEMPTS))
        values.setdefault("connect_timeout", _typed(store, "connect_timeout", _s3.CONNECT_TIMEOUT))
        values.setdefault("request_timeout", _typed(store, "request_timeout", _s3.REQUEST_TIMEOUT))
        values["connect_timeout"] = float(values["connect_timeout"])
        values["request_timeout"] = float(values["request_timeout"])
        # MinIO, moto and most S3-compatible endpoints want path-style URLs; an explicit setting wins.
        values["path_style"] = bool(values.get("endpoint_url")) if path_style is None else bool(path_style)
        values["max_pool"] = max(_s3._transfer_settings(store).concurrency + 2, 18)
        return cls(**values)

    # ------------------------------------------------------------------ clients
    def arrow_filesystem(self) -> Any:
        """The pyarrow ``S3FileSystem`` of these settings (cached per settings)."""
        return _arrow_filesystem(self)

    def boto3_client(self) -> Any:
        """The boto3 S3 client of these settings in this process (cached per settings and process)."""
        return _boto3_client(self, os.getpid())

    def arrow_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``pyarrow.fs.S3FileSystem`` for these settings."""
        import pyarrow.fs as pafs

        kwargs: dict[str, Any] = {
            "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=self.max_attempts),
            "connect_timeout": self.connect_timeout,
            "request_timeout": self.request_timeout,
        }
        endpoint = self.endpoint_url
        region = self.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if endpoint:
            scheme, _, host = endpoint.partition("://")
            kwargs["endpoint_override"] = host.rstrip("/") if host else scheme
            kwargs["scheme"] = scheme if host else "https"
        elif self.path_style:
            # pyarrow addresses AWS virtual-hosted unless given an endpoint: name the regional one
            kwargs["endpoint_override"] = f"s3.{region or 'us-east-1'}.amazonaws.com"
            kwargs["scheme"] = "https"
        if region or endpoint:
            kwargs["region"] = region or "us-east-1"
        # pyarrow is path-style with an endpoint and virtual-hosted without, unless forced virtual
        kwargs["force_virtual_addressing"] = not self.path_style
        if self.access_key:
            kwargs["access_key"] = self.access_key
            kwargs["secret_key"] = self.secret_key
            if self.session_token:
                kwargs["session_token"] = self.session_token
        elif self.profile:
            kwargs.update(_profile_credentials(self.profile))
        return kwargs


def _profile_credentials(profile: str) -> dict[str, Any]:
    """Credentials of a named AWS profile (resolved where the filesystem is built)."""
    boto3 = require("boto3", "s3")
    creds = boto3.session.Session(profile_name=profile).get_credentials()
    if creds is None:
        raise DaoError(f"AWS profile {profile!r} has no credentials")
    frozen = creds.get_frozen_credentials()
    out = {"access_key": frozen.access_key, "secret_key": frozen.secret_key}
    if frozen.token:
        out["session_token"] = frozen.token
    return out


@lru_cache(maxsize=32)
def _arrow_filesystem(settings: S3Settings) -> Any:
    import pyarrow.fs as pafs

    return pafs.S3FileSystem(**settings.arrow_kwargs())


@lru_cache(maxsize=32)
def _boto3_client(settings: S3Settings, pid: int) -> Any:
    # One client per settings and process: boto3 clients are thread-safe but must not cross a fork.
    boto3 = require("boto3", "s3")
    from botocore.config import Config

    from .._redact import protect

    # botocore's DEBUG log quotes the signed headers (key id, session token): mask them, and the
    # store's own secrets, in every record of botocore/boto3/s3transfer/urllib3/spark_dao.
    protect(getattr(settings, k) for k in _SECRET_FIELDS)
    session_kwargs: dict[str, Any] = {}
    if settings.profile:
        session_kwargs["profile_name"] = settings.profile
    if settings.access_key:
        session_kwargs["aws_access_key_id"] = settings.access_key
        session_kwargs["aws_secret_access_key"] = settings.secret_key
        if settings.session_token:
            session_kwargs["aws_session_token"] = settings.session_token
    session = boto3.session.Session(**session_kwargs)
    config = Config(
        retries={"total_max_attempts": settings.max_attempts, "mode": "standard"},  # first try included
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.request_timeout,
        max_pool_connections=settings.max_pool,
        s3={"addressing_style": "path" if settings.path_style else "virtual"},
    )
    return session.client(
        "s3", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config
    )
