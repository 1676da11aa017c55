"""Redshift store settings, connections, the retry of serialization conflicts, load errors.

:class:`RedshiftOptions` reads a store's configs once (typed, unknown keys refused by name) into
plain frozen data: the cluster (host, port, database, schema, user and password, or IAM through
``redshift_connector``), the staging location ``s3_temp_dir`` with its S3 settings (the store's own
``endpoint_url``/credentials keys, or those of the S3 store named by ``temp_store``), and how
COPY/UNLOAD authorise (``iam_role_arn``, else the staging credentials). Its repr hides secrets.

``redshift_connector`` and ``boto3`` are imported inside the functions that use them; a missing
``redshift_connector`` is a :class:`~spark_dao.errors.BackendNotInstalled` naming the extra.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from ..catalog._links import TEMP_STORE_CONFIGS
from ..catalog.model import DataStore, InterfaceSpec
from ..errors import BackendNotInstalled, DaoError, WriteConflict, did_you_mean
from ._redshift_sql import redact_sql

log = logging.getLogger("spark_dao.redshift")
#: the folder a ``temp_store``'s location gets for Redshift's staging and unloads
TEMP_SUBDIR = "_dao_redshift_temp"

T = TypeVar("T")

#: the store keys of a Redshift store (S3 keys: the staging bucket's settings)
_S3_KEYS = ("endpoint_url", "region", "access_key", "secret_key", "session_token", "profile", "path_style",
            "max_attempts", "connect_timeout", "request_timeout")
STORE_KEYS = ("host", "port", "user", "password", "database", "schema", "db_schema", "ssl", "iam",
              "cluster_identifier", "db_user", "region", "profile", "s3_temp_dir", "iam_role_arn", "temp_store",
              "timeout", "options", "format", TEMP_STORE_CONFIGS, *_S3_KEYS)
_SECRETS = ("password", "secret_key", "session_token", "access_key")
#: serialization conflicts retried before WriteConflict, and the first backoff (doubling, jittered)
MAX_RETRIES = 4
BACKOFF = 0.5


def _redshift_connector() -> Any:
    try:
        import redshift_connector
    except ImportError as exc:
        raise BackendNotInstalled(
            "the redshift interface needs the redshift_connector package: pip install 'spark-dao[redshift]'"
        ) from exc
    return redshift_connector


def driver_errors() -> tuple[type[BaseException], ...]:
    """redshift_connector's error classes, for the error boundary (empty when not installed)."""
    try:
        from redshift_connector.error import Error, InterfaceError
    except ImportError:
        return ()
    return (Error, InterfaceError)


@dataclass(frozen=True)
class RedshiftOptions:
    """A Redshift store's settings, validated (``RedshiftOptions.from_store(store)``)."""

    store: str
    host: str | None
    port: int
    user: str | None
    password: str | None
    database: str
    schema: str
    ssl: bool
    iam: bool
    cluster_identifier: str | None
    db_user: str | None
    region: str | None
    profile: str | None
    s3_temp_dir: str
    iam_role_arn: str | None
    timeout: float | None
    #: the staging bucket's S3 settings (endpoint, region, credentials...) as sorted items
    staging: tuple[tuple[str, Any], ...] = ()

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "password" and value:
                value = "***"
            elif f.name == "staging":
                value = {k: ("***" if k in _SECRETS and v else v) for k, v in value}
            shown.append(f"{f.name}={value!r}")
        return f"RedshiftOptions({', '.join(shown)})"

    __str__ = __repr__

    @classmethod
    def from_store(cls, store: DataStore) -> RedshiftOptions:
        """Parse ``store.configs``; unknown keys and wrong types are a :class:`DaoError` naming them."""
        from ..catalog.settings import SETTING_TYPES, SettingTypeError, coerce

        cfg = dict(store.configs)
        unknown = sorted(k for k in cfg if k not in STORE_KEYS)
        if unknown:
            valid = [k for k in STORE_KEYS if k != TEMP_STORE_CONFIGS]
            raise DaoError(
                f"store {store.name!r} (redshift): unknown setting {unknown[0]!r}.{did_you_mean(unknown[0], valid)} "
                f"Valid settings: {', '.join(sorted(valid))}"
            )
        typed: dict[str, Any] = {}
        for key, value in cfg.items():
            if value is None or value == "" or key not in SETTING_TYPES or key in ("options", "format"):
                continue
            try:
                typed[key] = coerce(key, value, SETTING_TYPES[key])
            except SettingTypeError as exc:
                raise DaoError(f"store {store.name!r}: {key}: {exc}") from None
        linked = dict(cfg.get(TEMP_STORE_CONFIGS) or {})
        # a temp_store's own objects live at its root: staging goes to a folder of its own there,
        # which cleanup_temp may empty without touching the store's data
        temp_dir = typed.get("s3_temp_dir") or (
            f"{str(linked['location']).rstrip('/')}/{TEMP_SUBDIR}" if linked.get("location") else None)
        if not temp_dir:
            raise DaoError(
                f"store {store.name!r} (redshift): no s3_temp_dir; set s3_temp_dir: s3://<bucket>/<prefix>/ "
                "(where loads are staged and reads unloaded), or temp_store: <an S3 store of the catalog>"
            )
        if not str(temp_dir).startswith(("s3://", "s3a://", "s3n://")):
            raise DaoError(f"store {store.name!r} (redshift): s3_temp_dir={temp_dir!r} must be an s3:// location")
        iam = bool(typed.get("iam", False))
        if not typed.get("host") and not (iam and typed.get("cluster_identifier")):
            raise DaoError(
                f"store {store.name!r} (redshift): no host; set host (the cluster endpoint), or iam: true "
                "with cluster_identifier and region"
            )
        if not typed.get("database"):
            raise DaoError(f"store {store.name!r} (redshift): no database; set database: <name>")
        if linked:
            staging = {k: v for k, v in linked.items() if k in _S3_KEYS}
        else:
            staging = {k: typed[k] for k in _S3_KEYS if k in typed}
        return cls(
            store=store.name,
            host=typed.get("host"),
            port=int(typed.get("port") or 5439),
            user=typed.get("user"),
            password=typed.get("password"),
            database=typed["database"],
            schema=typed.get("schema") or typed.get("db_schema") or "public",
            ssl=bool(typed.get("ssl", True)),
            iam=iam,
            cluster_identifier=typed.get("cluster_identifier"),
            db_user=typed.get("db_user"),
            region=typed.get("region"),
            profile=typed.get("profile"),
            s3_temp_dir=str(temp_dir).rstrip("/"),
            iam_role_arn=typed.get("iam_role_arn"),
            timeout=typed.get("timeout"),
            staging=tuple(sorted(staging.items())),
        )

    # ------------------------------------------------------------------ the staging bucket
    def staging_store(self) -> DataStore:
        """A files store with the staging bucket's S3 settings (for the shared S3 helpers)."""
        return DataStore(name=f"{self.store}.s3_temp_dir", interfaces=(InterfaceSpec("files"),),
                         configs=dict(self.staging))

    def job_prefix(self, job_id: str) -> str:
        """``<s3_temp_dir>/<job id>`` (no trailing slash)."""
        return f"{self.s3_temp_dir}/{job_id}"

    def copy_credentials(self) -> dict[str, str] | None:
        """Credentials COPY/UNLOAD pass when there is no ``iam_role_arn``: the staging bucket's keys,
        else those of the AWS chain (profile, environment, instance role; temporary ones with token)."""
        if self.iam_role_arn:
            return None
        staging = dict(self.staging)
        if staging.get("access_key"):
            return {k: str(staging[k]) for k in ("access_key", "secret_key", "session_token") if staging.get(k)}
        import boto3

        session = boto3.session.Session(profile_name=staging.get("profile") or self.profile or None)
        creds = session.get_credentials()
        if creds is None:
            return None
        frozen = creds.get_frozen_credentials()
        out = {"access_key": frozen.access_key, "secret_key": frozen.secret_key}
        if frozen.token:
            out["session_token"] = frozen.token
        return out

    # ------------------------------------------------------------------ connections
    def connect(self) -> Any:
        """A new ``redshift_connector`` connection (autocommit off: statements run in a transaction)."""
        rc = _redshift_connector()
        from .._redact import protect

        protect([self.password, *(v for k, v in self.staging if k in _SECRETS)])
        kwargs: dict[str, Any] = {"database": self.database, "ssl": self.ssl, "application_name": "spark_dao"}
        if self.host:
            kwargs.update(host=self.host, port=self.port)
        if self.timeout:
            kwargs["timeout"] = int(self.timeout)
        if self.iam:
            kwargs.update(iam=True, cluster_identifier=self.cluster_identifier, db_user=self.db_user or self.user,
                          region=self.region, profile=self.profile)
            kwargs = {k: v for k, v in kwargs.items() if v is not None}
        else:
            kwargs.update(user=self.user, password=self.password)
        try:
            conn = rc.connect(**kwargs)
        except rc.Error as exc:
            raise DaoError(
                f"store {self.store!r}: cannot connect to Redshift at {self.host}:{self.port} database "
                f"{self.database!r} as {self.user or self.db_user!r}: {error_text(exc)}"
            ) from None
        conn.autocommit = False
        return conn


@contextmanager
def connection(options: RedshiftOptions) -> Iterator[Any]:
    """A connection, rolled back (if a transaction is open) and closed at the end."""
    conn = options.connect()
    try:
        yield conn
    finally:
        try:
            conn.rollback()
        except Exception:  # noqa: BLE001 - a dropped connection: nothing left to roll back
            pass
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass


def execute(cursor: Any, sql: str, params: Any = None) -> Any:
    """One statement (bound ``params``), logged at DEBUG without credentials."""
    log.debug("SQL: %s", redact_sql(sql))
    started = time.perf_counter()
    if params:
        cursor.execute(sql, params)
    else:
        cursor.execute(sql)
    log.debug("SQL done in %.0f ms", (time.perf_counter() - started) * 1000)
    return cursor


def fetch(cursor: Any, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    execute(cursor, sql, params)
    return [tuple(r) for r in cursor.fetchall()]


def error_fields(exc: BaseException) -> dict[str, str]:
    """The server's error fields (``C`` SQLSTATE, ``M`` message, ``D`` detail...) of a driver error."""
    arg = exc.args[0] if exc.args else None
    if isinstance(arg, Mapping):
        return {str(k): str(v) for k, v in arg.items()}
    return {"M": str(arg if arg is not None else exc)}


def error_text(exc: BaseException) -> str:
    """A driver error in one line, credentials masked."""
    f = error_fields(exc)
    text = f.get("M", str(exc))
    if f.get("D"):
        text += f" ({f['D']})"
    if f.get("C"):
        text += f" [SQLSTATE {f['C']}]"
    from .._redact import redact

    return redact(redact_sql(text))


def is_conflict(exc: BaseException) -> bool:
    """A serialization conflict: Redshift error 1023, or SQLSTATE 40001."""
    f = error_fields(exc)
    message = f.get("M", "").lower()
    return f.get("C") == "40001" or message.startswith("1023") or "serializable isolation violation" in message


class Race(Exception):
    """A transaction lost a race that a rerun resolves (two first loads creating one table)."""


def with_retries(fn: Callable[[int], T], *, what: str, retries: int = MAX_RETRIES, backoff: float = BACKOFF) -> T:
    """``fn(attempt)``, run again after a serialization conflict (backoff doubling, with jitter) at
    most ``retries`` times; then :class:`WriteConflict`. ``fn`` must run a whole transaction."""
    errors = (*driver_errors(), Race)
    for attempt in range(retries + 1):
        try:
            return fn(attempt)
        except errors as exc:
            if not isinstance(exc, Race) and not is_conflict(exc):
                raise
            if attempt >= retries:
                raise WriteConflict(
                    f"{what}: a concurrent transaction conflicted with this one {attempt + 1} time(s) "
                    f"(serialization conflict, Redshift error 1023); gave up after {retries} retries. Nothing was "
                    f"committed; retry the write. ({exc if isinstance(exc, Race) else error_text(exc)})"
                ) from None
            delay = backoff * (2 ** attempt) * (0.5 + random.random())
            log.info("%s: conflict with a concurrent transaction (attempt %d): %s; retrying in %.2fs", what, attempt + 1,
                     exc if isinstance(exc, Race) else "serialization conflict", delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def load_errors(options: RedshiftOptions, prefix_url: str, *, limit: int = 10) -> list[dict[str, Any]]:
    """The ``stl_load_errors`` rows of COPYs that read files under ``prefix_url`` (newest first):
    line, column, type, reason and the raw value. Looked up on a new connection (the COPY's
    transaction is rolled back); empty when the table cannot be read."""
    sql = ("SELECT line_number, TRIM(colname), TRIM(type), TRIM(err_reason), TRIM(raw_field_value), "
           "TRIM(filename) FROM stl_load_errors WHERE TRIM(filename) LIKE %s ORDER BY starttime DESC LIMIT %s")
    try:
        with connection(options) as conn:
            rows = fetch(conn.cursor(), sql, [prefix_url.replace("%", "\\%") + "%", limit])
    except (DaoError, *driver_errors()) as exc:
        log.warning("could not read stl_load_errors for %s: %s", prefix_url, exc)
        return []
    keys = ("line", "column", "type", "reason", "value", "file")
    return [dict(zip(keys, r, strict=False)) for r in rows]


def describe_load_errors(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no matching rows in stl_load_errors"
    shown = [f"line {r['line']}" + (f", column {r['column']!r} ({r['type']})" if r.get("column") else "")
             + f": {r['reason']}" + (f" (value {str(r['value'])[:60]!r})" if r.get("value") else "") for r in rows[:5]]
    return "stl_load_errors: " + "; ".join(shown)
