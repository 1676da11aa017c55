"""What the built-in interfaces accept: store settings with their types, and object options.

Plain data and pure functions (no I/O library): the catalog validates against these at load, and
the interfaces use the same tables for call options, so both are checked by one set of rules.

Accepted forms (values from ``${env:VAR}`` interpolation are strings, so numeric and boolean strings
are coerced): integers ``5`` or ``"5"``; numbers ``2.5`` or ``"2.5"``; booleans ``true``/``false``
(also ``"true"``, ``"False"``, ``"yes"``, ``"no"``, ``"on"``, ``"off"``, ``1``, ``0``); sizes ``67108864``
or ``"64MB"``; choices case-insensitively. A string setting must be a string (``region: "5"``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import did_you_mean

#: config keys whose values are secrets: never shown in a repr, a log line or an error.
SECRET_KEY_PATTERN = re.compile(
    r"(password|passwd|secret|token|access_key|api_?key|credential|private_key|connection_string)", re.I
)

MB = 1024 * 1024
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.I)
_UNITS = {"": 1, "k": 1024, "m": MB, "g": 1024 * MB, "t": 1024 * 1024 * MB}
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_INT_RE = re.compile(r"^\s*[+-]?\d+\s*$")

COMPRESSIONS = ("snappy", "zstd", "gzip", "brotli", "lz4", "none", "uncompressed")
S3_COMMITS = ("multipart", "copy")


@dataclass(frozen=True)
class Setting:
    """The type of one setting or option: ``kind`` plus an example value used in the fix hint."""

    kind: str  # str | url | path | bool | pos_int | nonneg_int | seconds | nonneg_seconds | nonneg_hours | size | port | choice | char | mapping | columns
    example: str
    choices: tuple[str, ...] = ()

    @property
    def expected(self) -> str:
        return {
            "str": "a string",
            "url": "an http:// or https:// URL with a host",
            "path": "a non-empty string path",
            "bool": "true or false",
            "pos_int": "a positive integer",
            "nonneg_int": "a non-negative integer",
            "seconds": "a positive number of seconds",
            "nonneg_seconds": "a number of seconds, 0 or more",
            "nonneg_hours": "a number of hours, 0 or more",
            "size": "a size (bytes, or a string such as '64MB')",
            "port": "a port number (1-65535)",
            "choice": "one of: " + ", ".join(self.choices),
            "char": "a single character",
            "mapping": "a mapping",
            "columns": "column names (a list, or a comma-separated string)",
        }[self.kind]


def _str(example: str) -> Setting:
    return Setting("str", example)


#: every store setting a built-in interface reads, with its type (builtins.py lists which
#: interface accepts which; a test checks both tables cover every key the backends read)
SETTING_TYPES: dict[str, Setting] = {
    # where
    "path": Setting("path", "data/silver"),
    "root": Setting("path", "data/silver"),
    "base_path": Setting("path", "data/silver"),
    "bucket": _str("my-company-silver"),
    "bucket_name": _str("my-company-silver"),
    "prefix": _str("datasets"),
    # S3 connection
    "endpoint_url": Setting("url", "http://localhost:9000"),  # "" = the default AWS endpoint
    "region": _str("eu-west-1"),
    "access_key": _str("${env:AWS_ACCESS_KEY_ID}"),
    "secret_key": _str("${env:AWS_SECRET_ACCESS_KEY}"),
    "session_token": _str("${env:AWS_SESSION_TOKEN}"),
    "profile": _str("analytics"),
    "storage_options": Setting("mapping", "{}"),
    "path_style": Setting("bool", "true"),
    "max_attempts": Setting("pos_int", "5"),
    "connect_timeout": Setting("seconds", "5"),
    "request_timeout": Setting("seconds", "60"),
    "s3_commit": Setting("choice", "multipart", S3_COMMITS),
    "max_concurrency": Setting("pos_int", "10"),
    "multipart_threshold": Setting("size", "64MB"),
    # files: the per-object write lock of upserts and overwrites (interfaces/_lock.py)
    "lock_timeout": Setting("nonneg_seconds", "300"),
    "lock_lease": Setting("seconds", "60"),
    # files: staging of dead jobs older than this is swept (interfaces/files.py, the staging protocol)
    "stale_staging_hours": Setting("nonneg_hours", "24"),
    # delta and files: which path the Spark engine takes (engines/native.py): auto = native (Spark's
    # own readers/writers) where it applies, else the Python path (deltalake / format("dao"))
    "engine_path": Setting("choice", "auto", ("auto", "native", "python")),
    # data defaults (format is checked against the interface's formats by the loader)
    "format": _str("parquet"),
    "options": Setting("mapping", "{compression: zstd}"),
    "max_rows_per_file": Setting("nonneg_int", "1000000"),
    "compression": Setting("choice", "zstd", COMPRESSIONS),
    "header": Setting("bool", "true"),
    "delimiter": Setting("char", "';'"),
    # redshift
    "host": _str("redshift.example.com"),
    "port": Setting("port", "5439"),
    "user": _str("pipeline_user"),
    "password": _str("${env:REDSHIFT_PASSWORD}"),
    "database": _str("analytics"),
    "db_schema": _str("public"),
    "schema": _str("public"),
    "s3_temp_dir": _str("s3://my-company-temp/redshift/"),
    "iam_role_arn": _str("arn:aws:iam::123456789012:role/redshift"),
    "ssl": Setting("bool", "true"),
    "cluster_identifier": _str("analytics-cluster"),
    "iam": Setting("bool", "true"),
    "db_user": _str("pipeline_user"),
    "temp_store": _str("temp"),
    "timeout": Setting("seconds", "60"),
}

#: store-level settings that are also object options: defaults for every object of the store
STORE_OPTION_KEYS = ("compression", "header", "delimiter", "max_rows_per_file")

# ----------------------------------------------------------------------------- object options
READ_OPTIONS = {
    "columns": "comma-separated columns to read (Python sources get no column pruning from Spark)",
    "header": "csv: first line holds column names (default true)",
    "delimiter": "csv: field separator (default ',')",
    "sep": "csv: alias of delimiter",
    "inferschema": "csv: infer column types (default true); false reads every column as string",
    "split_bytes": "target bytes per read task (default: total/cores, 4-128 MB)",
    "parallelism": "number of cores to plan read tasks for",
    "format": "override the object's format",
}
WRITE_OPTIONS = {
    "mode": "append | overwrite | dynamic | errorifexists | ignore",
    "partitionoverwritemode": "'dynamic' replaces only the partitions present in the data",
    "max_rows_per_file": "roll to a new file after this many rows",
    "maxrecordsperfile": "alias of max_rows_per_file",
    "compression": "parquet: snappy (default), zstd, gzip, brotli, lz4, none; csv/json: none (default) or gzip",
    "header": "csv: write a header line (default true)",
    "delimiter": "csv: field separator (default ',')",
    "sep": "csv: alias of delimiter",
    "row_group_size": "parquet: rows per row group (default 1,048,576)",
    "s3_commit": "S3 only: multipart (default: tasks upload to the final keys, commit completes the uploads) "
                 "or copy (tasks write under _dao_staging/, commit copies into place)",
    "format": "override the object's format",
    "lock_timeout": "seconds an upsert/overwrite waits for the object's write lock (default 300; 0 = fail at once)",
    "lock_lease": "seconds the write lock stays valid without renewal (default 60; renewed every lease/3)",
}
OPTION_ALIASES = {"sep": "delimiter", "maxrecordsperfile": "max_rows_per_file"}
#: the documented spelling of options Spark lower-cases before a data source sees them
OPTION_SPELLINGS = {
    "inferschema": "inferSchema",
    "versionasof": "versionAsOf",
    "timestampasof": "timestampAsOf",
    "overwriteschema": "overwriteSchema",
    "usermetadata": "userMetadata",
    "replacewhere": "replaceWhere",
    "partitionoverwritemode": "partitionOverwriteMode",
    "maxrecordsperfile": "maxRecordsPerFile",
}


def spelled(key: str) -> str:
    """An option name for a message: as written, or its documented spelling when it arrived lower-cased
    (``spelled("partitionoverwritemode") == "partitionOverwriteMode"``)."""
    key = str(key)
    return OPTION_SPELLINGS.get(key, key)

OPTION_TYPES: dict[str, Setting] = {
    "columns": Setting("columns", "[id, email]"),
    "header": SETTING_TYPES["header"],
    "delimiter": SETTING_TYPES["delimiter"],
    "sep": SETTING_TYPES["delimiter"],
    "inferschema": Setting("bool", "false"),
    "split_bytes": Setting("size", "64MB"),
    "parallelism": Setting("pos_int", "8"),
    "format": _str("parquet"),
    "mode": _str("append"),
    "partitionoverwritemode": Setting("choice", "dynamic", ("static", "dynamic")),
    "max_rows_per_file": SETTING_TYPES["max_rows_per_file"],
    "maxrecordsperfile": SETTING_TYPES["max_rows_per_file"],
    "compression": SETTING_TYPES["compression"],
    "row_group_size": Setting("pos_int", "100000"),
    "s3_commit": SETTING_TYPES["s3_commit"],
    "lock_timeout": SETTING_TYPES["lock_timeout"],
    "lock_lease": SETTING_TYPES["lock_lease"],
}
#: options a catalog may not set, and why (they are chosen per call)
CALL_ONLY_OPTIONS = {
    "mode": "the write mode is chosen per call: dao.write(..., mode='overwrite') or .mode('overwrite')",
    "partitionoverwritemode": "the write mode is chosen per call: dao.write(..., mode='dynamic')",
    "format": "use the object's 'format' key instead of options.format",
}
#: what a catalog's ``options`` may hold for the files and objects interfaces
CATALOG_OPTIONS = {k: v for k, v in {**READ_OPTIONS, **WRITE_OPTIONS}.items() if k not in CALL_ONLY_OPTIONS}


# ----------------------------------------------------------------------------- coercion
class SettingTypeError(ValueError):
    """A value of the wrong type; ``str()`` is the user-facing explanation (never the value of a secret)."""


def shown(key: str, value: Any) -> str:
    """``repr(value)`` (shortened) for an error message; only the type when ``key`` names a secret."""
    if SECRET_KEY_PATTERN.search(key):
        return f"a value of type {type(value).__name__} (not shown)"
    text = repr(value)
    return (text[:60] + "...") if len(text) > 63 else text


def _to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.match(value):
        return int(value)
    return None


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if number == number and number not in (float("inf"), float("-inf")) else None
    return None


def _is_http_url(value: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def parse_bool(value: Any) -> bool | None:
    """The one reading of a boolean setting or option: ``True``/``False``, ``1``/``0`` and the strings
    ``true``/``false``, ``yes``/``no``, ``on``/``off``, ``1``/``0`` (any case); None for anything else,
    so a typo (``"flase"``) is an error, never a silent false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    return None


def coerce(key: str, value: Any, setting: Setting) -> Any:
    """``value`` converted to ``setting``'s type; :class:`SettingTypeError` explaining the fix otherwise.

    ``coerce("max_attempts", "5", SETTING_TYPES["max_attempts"]) == 5``
    """
    kind = setting.kind
    out: Any = None
    if kind == "str":
        out = value if isinstance(value, str) else None
    elif kind == "url":
        # "" leaves the setting unset (``${env:S3_ENDPOINT:-}`` on AWS)
        out = value if isinstance(value, str) and (value == "" or _is_http_url(value)) else None
    elif kind == "path":
        out = value if isinstance(value, str) and value else None
    elif kind == "bool":
        out = parse_bool(value)
    elif kind in ("pos_int", "nonneg_int", "port"):
        number = _to_int(value)
        low, high = {"pos_int": (1, None), "nonneg_int": (0, None), "port": (1, 65535)}[kind]
        if number is not None and number >= low and (high is None or number <= high):
            out = number
    elif kind in ("seconds", "nonneg_seconds", "nonneg_hours"):
        number = _to_float(value)
        out = number if number is not None and (number > 0 or (kind != "seconds" and number == 0)) else None
    elif kind == "size":
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            out = int(value)
        elif isinstance(value, str):
            match = _SIZE_RE.match(value)
            if match and float(match.group(1)) > 0:
                out = int(float(match.group(1)) * _UNITS[match.group(2).lower()]) or None
    elif kind == "choice":
        if isinstance(value, str) and value.strip().lower() in setting.choices:
            out = value.strip().lower()
    elif kind == "char":
        out = value if isinstance(value, str) and len(value) == 1 else None
    elif kind == "mapping":
        out = value if isinstance(value, dict) else None
    elif kind == "columns":
        # "" or [] means every column, as before
        if isinstance(value, str):
            out = value
        elif isinstance(value, list | tuple) and all(isinstance(c, str) and c for c in value):
            out = list(value)
    if out is None:
        quote = ""
        if kind in ("str", "url") and isinstance(value, int | float) and not isinstance(value, bool):
            quote = f" (quote it: {key}: \"{value}\")" if not SECRET_KEY_PATTERN.search(key) else " (quote it)"
        hint = ""
        if kind == "choice" and isinstance(value, str):
            hint = did_you_mean(value.strip().lower(), setting.choices)
        raise SettingTypeError(
            f"expected {setting.expected}, got {shown(key, value)}{quote}.{hint} Write e.g. {key}: {setting.example}"
        )
    return out


def check_options(
    options: Mapping[Any, Any], valid: Mapping[str, str], *, as_written: bool = False,
    types: Mapping[str, Setting] | None = None,
) -> dict[str, Any]:
    """Options with lower-cased keys and typed values (call options and catalog options alike).

    Raises :class:`KeyError` (unknown key, ``args[0]`` the lower-cased key) or :class:`SettingTypeError`
    (``args[0]`` the explanation, the option's name in ``.key``); callers turn them into their own
    errors. Messages name the option as written (``as_written``: a catalog's key path) or, for keys
    that may have been lower-cased on the way (Spark does), by its documented spelling. ``types``
    (a backend's own options) are looked up before :data:`OPTION_TYPES`.
    """
    out: dict[str, Any] = {}
    for raw_key, value in options.items():
        key = str(raw_key).lower()
        if key not in valid:
            raise KeyError(key)
        setting = (types or {}).get(key) or OPTION_TYPES.get(key)
        if setting is not None and value is not None:
            name = str(raw_key) if as_written else spelled(str(raw_key))
            try:
                value = coerce(name, value, setting)
            except SettingTypeError as exc:
                exc.key = name  # type: ignore[attr-defined]
                raise
        out[key] = value
    return out


def merge_options(catalog: Mapping[str, Any], call: Mapping[str, Any], valid: Mapping[str, str]) -> dict[str, Any]:
    """The options of one read or write: the object's catalog ``options`` overridden by the call's.

    Keys are lower-cased and aliases (``sep``, ``maxRecordsPerFile``) folded into their canonical
    name, so a call's ``sep`` overrides a catalog ``delimiter``. A catalog option that only means
    something in the other direction (``compression`` on a read) is left out.
    """
    known = {**READ_OPTIONS, **WRITE_OPTIONS}
    out: dict[str, Any] = {}
    for source, is_catalog in ((catalog, True), (call, False)):
        for raw_key, value in source.items():
            key = str(raw_key).lower()
            if is_catalog and key in known and key not in valid:
                continue
            out[OPTION_ALIASES.get(key, key)] = value
    return out
