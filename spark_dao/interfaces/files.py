"""Tabular files (parquet, csv, newline-delimited json) in a folder: local or any pyarrow filesystem.

Layout: ``<store root>/<object path>/[col=value/...]part-<job>-<task>-<n>.<ext>`` (hive-style
partitions from the object's ``partition_by``). Names starting with ``_`` or ``.`` are invisible to
readers, which is what makes staging safe.

Write guarantees (every mode):

* tasks write under ``<object>/_dao_staging/<job_id>/``; nothing is visible before ``commit``. On S3
  (``s3_commit="multipart"``, the default with boto3) tasks instead upload each file to its final
  key as a multipart upload left uncompleted, which is just as invisible; ``commit`` completes the
  uploads (no copy) and aborts any other upload of the job (failed attempts): see ``_s3.py``;
* ``commit`` moves the staged files into place (a rename on local disks), then, for ``overwrite``
  and dynamic partition overwrite, removes the files that were there before. A reader running
  during that instant may see old and new files together; it never sees a partial file.
* ``abort`` (a failed task or job) removes the job's staging folder: the target is unchanged.
* the staging protocol (late tasks, dead jobs, concurrent writers): a job marks itself live
  (``_dao_staging/<job>.live``) before anything is staged (Spark: the driver's ``writer()``,
  :meth:`FilesInterface.start_job`); a Spark task checks the marker before staging and again
  after, and removes its own output if the job ended meanwhile. ``commit``/``abort`` remove the
  marker first, then the job's staging and uploads, then *sweep* dead jobs: staging and
  ``part-<8 hex>-`` uploads of jobs with no marker, and of marked jobs with nothing newer than
  ``stale_staging_hours`` (24). ``dao.cleanup(name)`` runs the same sweep. The staging folder is
  never deleted recursively (concurrent writers share it); see docs/backends/files.md for the window.
* ``append`` checks the incoming schema against the stored one first (``SchemaMismatch``, nothing
  written); ``errorifexists`` and ``ignore`` check for existing data before and at commit.
"""

from __future__ import annotations

import datetime
import functools
import logging
import os
import posixpath
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import chain
from typing import Any
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.fs as pafs

from ..catalog import settings as _settings
from ..catalog.model import DataObject, DataStore
from ..errors import DaoError, ObjectNotFound, SchemaMismatch, did_you_mean
from . import _arrow
from ._lock import LockSettings, acquire_for_commit
from .base import (
    PartitionFilter,
    ReadPlan,
    ReadTask,
    StagedFile,
    StagedPart,
    WriteResult,
    WriteSpec,
    parse_mode,
)
from .upsert import UpsertOptions, is_upsert, split_upsert_options

log = logging.getLogger("spark_dao.files")

STAGING = "_dao_staging"
#: ``<object>/_dao_staging/<job>.live``: the job is running; tasks stage only while it exists
LIVE = ".live"
#: a job whose marker and staged data are all older than this many hours is dead (its driver died):
#: the next write sweeps it (store config ``stale_staging_hours``; ``dao.cleanup(older_than=...)``)
STALE_STAGING_HOURS = 24.0
_UPLOAD_TAG = re.compile(r"^part-([0-9a-f]{8})-")
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
FORMATS = ("parquet", "csv", "json")
_EXT = {"parquet": "parquet", "csv": "csv", "json": "json"}
MB = 1024 * 1024
#: the largest files (at most this many, not the empty ones) whose schemas reads and the append check
#: sample: csv/json types are unified over them; parquet takes the largest file's schema
_SCHEMA_SAMPLE_FILES = 16
OPEN_COST = 4 * MB  # what opening one file is worth, in bytes, when packing read tasks (Spark's default)

# The option tables live with the catalog, which validates object ``options`` against them at load.
READ_OPTIONS = _settings.READ_OPTIONS
WRITE_OPTIONS = _settings.WRITE_OPTIONS
S3_COMMITS = _settings.S3_COMMITS


def _check_options(options: Mapping[str, Any], valid: dict[str, str], *, what: str) -> dict[str, Any]:
    """Lower-cased keys, typed values; a :class:`DaoError` naming the option otherwise."""
    try:
        return _settings.check_options(options, valid)
    except KeyError as exc:
        key = str(exc.args[0])
        raise DaoError(
            f"{what}: unknown option {key!r}.{did_you_mean(key, valid)} "
            f"Valid options: {', '.join(sorted(valid))}"
        ) from None
    except _settings.SettingTypeError as exc:
        key = getattr(exc, "key", "?")
        value = {str(k).lower(): v for k, v in options.items()}.get(str(key).lower())
        raise DaoError(f"{what}: option {key}={_settings.shown(key, value)} is not valid: {exc}") from None


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


def _schema_sample(files: list[tuple[str, int]], fmt: str) -> list[tuple[str, int]]:
    """The files whose schemas reads and the append check open: the largest, at most
    ``_SCHEMA_SAMPLE_FILES``; empty files (an empty csv/json write) only when nothing else is there
    (an empty parquet file still has a schema)."""
    by_size = sorted(files, key=lambda f: (-f[1], f[0]))
    if by_size and by_size[0][1] == 0:
        return by_size[:1] if fmt == "parquet" else []
    return [f for f in by_size if f[1] > 0][:_SCHEMA_SAMPLE_FILES]


_TS_UNITS = ("s", "ms", "us", "ns")


def _unify_text_type(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type a csv/json column inferred as ``a`` in one file and ``b`` in another reads as: both
    files' values must convert to it. int+int -> int64, numbers -> float64, date+timestamp ->
    timestamp, anything else that differs -> string (nested json types: the first; a mismatch
    there is reported by the read)."""
    t = pa.types
    if a.equals(b) or t.is_null(b):
        return a
    if t.is_null(a):
        return b
    nested = (t.is_struct, t.is_list, t.is_large_list)
    if any(f(a) or f(b) for f in nested):
        return a
    if t.is_integer(a) and t.is_integer(b):
        return pa.int64()
    if all(t.is_integer(x) or t.is_floating(x) or t.is_decimal(x) for x in (a, b)):
        return pa.float64()
    if t.is_timestamp(a) and t.is_timestamp(b) and a.tz == b.tz:
        return pa.timestamp(max(a.unit, b.unit, key=_TS_UNITS.index), a.tz)
    if t.is_timestamp(a) and t.is_date(b):
        return a
    if t.is_date(a) and t.is_timestamp(b):
        return b
    return pa.string()


def _unify_text_schemas(a: pa.Schema, b: pa.Schema) -> pa.Schema:
    """Column by column, by name: ``a``'s columns (the largest file's, as Spark without mergeSchema)."""
    return pa.schema([pa.field(f.name, _unify_text_type(f.type, b.field(f.name).type)) if f.name in b.names
                      else f for f in a])


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, OSError) else str(exc)


def _file_error(obj: DataObject, path: str, fmt: str, exc: BaseException, *, action: str) -> DaoError:
    """A corrupt or unparsable data file: name the object, store and file, and say what to do."""
    return DaoError(
        f"{action} {obj.full_name!r} (store {obj.store_name!r}): cannot read {path} as {fmt}: {_describe(exc)}. "
        f"The file is corrupt or not {fmt}: replace or remove it (or overwrite the object)"
    )


# --------------------------------------------------------------------------- schema sidecar
#: hidden file an empty write leaves next to its (empty) data file: csv and json files with no rows
#: cannot carry column types (json not even names), so reads take them from here
SCHEMA_SIDECAR = "_dao_schema.json"


def _write_sidecar(fs: pafs.FileSystem, base: str, schema: pa.Schema) -> None:
    import base64
    import json

    doc = {
        "columns": [{"name": f.name, "type": str(f.type)} for f in schema],  # for people
        "arrow_schema": base64.b64encode(schema.serialize().to_pybytes()).decode("ascii"),
    }
    with fs.open_output_stream(f"{base}/{SCHEMA_SIDECAR}") as f:
        f.write(json.dumps(doc, indent=1).encode("utf-8"))


def _read_sidecar(fs: pafs.FileSystem, base: str, obj: DataObject) -> pa.Schema | None:
    import base64
    import json

    path = f"{base}/{SCHEMA_SIDECAR}"
    try:
        with fs.open_input_stream(path) as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(raw)
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(doc["arrow_schema"])))
    except (ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        raise DaoError(
            f"reading {obj.full_name!r} (store {obj.store_name!r}): the schema file {path} is corrupt "
            f"({_describe(exc)}); delete it, or overwrite the object"
        ) from exc


def _text_compatible(incoming: pa.Schema, stored: pa.Schema, *, what: str, by_position: bool) -> pa.Schema:
    """``incoming`` may be appended to csv/json files whose inferred schema is ``stored`` when every
    stored column still parses: same names (csv without header: same count), and no value that the
    type reads infer (``stored``) would fail to convert. Returns the schema to write with: ``incoming``,
    with integers going to a float column and values going to a string column cast to that type."""
    if by_position:
        pairs = list(zip(incoming.names, stored.names, strict=False))
        missing = stored.names[len(incoming):]
        extra = incoming.names[len(stored):]
    else:
        pairs = [(c, c) for c in incoming.names if c in stored.names]
        missing = [c for c in stored.names if c not in incoming.names]
        extra = [c for c in incoming.names if c not in stored.names]
    changed = []
    cast: dict[str, pa.DataType] = {}
    for inc_name, st_name in pairs:
        inc, st = _arrow.normalize_type(incoming.field(inc_name).type), stored.field(st_name).type
        if not _text_readable(inc, st):
            changed.append(f"{inc_name} ({inc} -> stored {st})")
        elif ((pa.types.is_floating(st) and (pa.types.is_integer(inc) or pa.types.is_decimal(inc)))
              or (pa.types.is_string(st) and not pa.types.is_string(inc) and not pa.types.is_null(inc))):
            # written as the stored type ("2.0", "\"2\""): reads infer types from a sample of the
            # files, and a file of "2" would make them read the column as int64 and fail on "1.5"
            cast[inc_name] = st
    if missing or extra or changed:
        problems = []
        if missing:
            problems.append(f"missing columns {missing}")
        if extra:
            problems.append(f"new columns {extra}")
        if changed:
            problems.append(f"changed types {changed}")
        raise SchemaMismatch(
            f"{what}: the data does not match the stored schema (as reads infer it from the files): "
            f"{'; '.join(problems)}. Select/cast the columns to match, or write with mode='overwrite' "
            "to replace the data."
        )
    return pa.schema([pa.field(f.name, cast[f.name]) if f.name in cast else f for f in incoming])


def _text_readable(inc: pa.DataType, st: pa.DataType) -> bool:
    """Can a csv/json reader that infers ``st`` for a column convert values written from ``inc``?"""
    t = pa.types
    if t.is_null(st) or t.is_null(inc) or t.is_string(st) or t.is_large_string(st) or inc.equals(st):
        return True
    if t.is_integer(st):
        return t.is_integer(inc)
    if t.is_floating(st) or t.is_decimal(st):
        return t.is_integer(inc) or t.is_floating(inc) or t.is_decimal(inc)
    if t.is_boolean(st):
        return t.is_boolean(inc)
    if t.is_temporal(st):
        return t.is_temporal(inc)
    if t.is_struct(st) or t.is_list(st) or t.is_large_list(st):
        return inc.id == st.id
    return False


# --------------------------------------------------------------------------- path safety (local stores)
#: what a partition column name cannot hold: each changes how the hive folder name ``col=value`` reads
_PARTITION_NAME_BREAKERS = {"/": "'/'", "\\": "'\\'", "=": "'='", "%": "'%'"}


def check_partition_columns(obj: DataObject, columns: Iterable[str], *, action: str) -> None:
    """Refuse partition column names that cannot round-trip through hive folder names (``col=value``).

    ``a=b`` or ``a/b`` would be written, then read back as another column full of nulls; a name
    starting with ``_`` or ``.`` makes its folders hidden, so every row would vanish from reads.
    """
    for col in columns:
        col = str(col)
        problem = None
        if not col.strip() or col in (".", ".."):
            problem = "is empty or a path component ('.' or '..')"
        elif col.startswith(("_", ".")):
            problem = "starts with '_' or '.', which marks the folder hidden: readers would skip all its rows"
        else:
            bad = [shown for ch, shown in _PARTITION_NAME_BREAKERS.items() if ch in col]
            if any(ord(ch) < 32 or ord(ch) == 127 for ch in col):
                bad.append("a control character")
            if bad:
                problem = f"contains {', '.join(bad)}, which breaks the hive folder name '{col}=<value>'"
        if problem:
            suggestion = re.sub(r"[^0-9A-Za-z]+", "_", col).strip("_") or "part"
            raise SchemaMismatch(
                f"{action} {obj.full_name!r} (store {obj.store_name!r}): partition column {col!r} {problem}, "
                f"so its values could not be read back. Rename the column (e.g. to {suggestion!r}) in the data "
                f"and in 'partition_by' of {obj.full_name!r} in the catalog "
                f"({getattr(obj.store, 'source', 'the catalog file')})"
            )


def _store_root(store: DataStore) -> str | None:
    root = store.location
    if not root:
        return None
    if "://" in root:
        scheme, _, rest = root.partition("://")
        return "/" + rest.lstrip("/") if scheme == "file" else None
    return os.path.abspath(root)


def _escapes(real_root: str, path: str) -> bool:
    """True when ``path``'s real location (symlinks resolved) is outside ``real_root``."""
    real = os.path.realpath(path)
    return real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep)


def check_inside_store(store: DataStore, paths: Iterable[str], *, what: str) -> None:
    """Refuse local ``paths`` whose real path (symlinks resolved) leaves the store's real root:
    a symlink inside a store must not let a write, delete or read reach files outside it."""
    root = _store_root(store)
    if root is None:
        return
    real_root = os.path.realpath(root)
    for path in paths:
        if _escapes(real_root, path):
            raise DaoError(
                f"{what} (store {store.name!r}): {path} resolves to {os.path.realpath(path)}, outside the "
                f"store's folder {real_root} (a symbolic link leads out of it); nothing was "
                "done. Remove the link, or point the store's path at the real folder"
            )


def _file_in_the_way(store: DataStore, path: str) -> str | None:
    """The store root or a folder between it and ``path`` that is a regular file (local stores)."""
    root = _store_root(store)
    if root is None:
        return None
    current = os.path.dirname(os.path.abspath(path))
    chain_ = [current]
    while current.startswith(root.rstrip(os.sep) + os.sep) and current != root:
        current = os.path.dirname(current)
        chain_.append(current)
    for folder in reversed(chain_):
        if os.path.isfile(folder):
            return folder
    return None


def not_a_folder_error(store: DataStore, path: str, *, what: str) -> DaoError | None:
    """A clear error when a regular file stands where the store's folders should be; else None."""
    blocker = _file_in_the_way(store, path)
    if blocker is None:
        return None
    whose = "the store's path" if blocker == _store_root(store) else "a folder on the way"
    return DaoError(
        f"{what} (store {store.name!r}): {whose} {blocker} is a regular file, not a folder. Point the "
        f"store's 'path' in the catalog ({getattr(store, 'source', 'the catalog')}) at a folder, or move the file away"
    )


#: concurrent requests for latency-bound object-store work (commit moves/deletes, key scans, reads)
IO_THREADS = 16
#: rounds of deletes (each with the client's own retries) to finish or undo a commit whose last step
#: failed, and the pause before the second round (doubling)
SETTLE_ATTEMPTS = 3
SETTLE_BACKOFF = 0.5


def _is_object_store(fs: pafs.FileSystem) -> bool:
    return fs.type_name != "local"


def _hidden(rel: str) -> bool:
    return any(part.startswith(("_", ".")) for part in rel.split("/"))


def _list_files(fs: pafs.FileSystem, base: str) -> list[tuple[str, int]]:
    """Visible data files under ``base`` as (relative path, size), sorted."""
    listing = None
    if _is_object_store(fs):
        # one LIST request in the common case (a folder of files), instead of HEAD + LIST + LIST
        listing = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    if not listing:
        info = fs.get_file_info(base)
        if info.type == pafs.FileType.NotFound:
            return []
        if info.type == pafs.FileType.File:
            return [("", info.size or 0)]
    if listing is None:
        listing = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    out = []
    for fi in listing:
        if fi.type != pafs.FileType.File:
            continue
        rel = fi.path[len(base) :].lstrip("/")
        if _hidden(rel):
            continue
        out.append((rel, fi.size or 0))
    out.sort()
    return out


def _partition_values(rel: str) -> list[tuple[str, str | None]]:
    values = []
    for seg in rel.split("/")[:-1]:
        if "=" in seg:
            k, _, v = seg.partition("=")
            v = unquote(v)
            values.append((unquote(k), None if v == HIVE_NULL else v))
    return values


def _partition_segment(col: str, value: Any) -> str:
    """``col=value``, written as pyarrow's hive partitioning writes it (the csv/parquet writer):
    booleans ``true``/``false``, timestamps ``2020-01-01 01:02:03.000000Z``."""
    if value is None:
        return f"{col}={HIVE_NULL}"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, datetime.datetime):
        text = pa.array([value]).cast(pa.string())[0].as_py()
        if value.tzinfo is not None and not text.endswith("Z"):
            text = pa.array([value], pa.timestamp("us", "UTC")).cast(pa.string())[0].as_py()
    else:
        text = str(value)
    return f"{col}={quote(text, safe='')}"


def _check_partition_values(obj: DataObject, spec: WriteSpec, batch: pa.RecordBatch) -> None:
    """A string partition value equal to Hive's null marker would read back as null: refuse it."""
    import pyarrow.compute as pc

    for col in spec.partition_by:
        column = batch.column(batch.schema.get_field_index(col))
        if (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)) and \
                pc.any(pc.equal(column, HIVE_NULL)).as_py():
            raise DaoError(
                f"writing {obj.full_name!r} (store {obj.store_name!r}): partition column {col!r} holds the "
                f"value {HIVE_NULL!r}, Hive's marker for a null partition value: it would read back as "
                "null. Change the value (or write a null) before writing"
            )


def _infer_partition_type(values: list[str | None]) -> pa.DataType:
    present = [v for v in values if v is not None]
    if not present:
        return pa.string()
    try:
        for v in present:
            int(v)
        return pa.int64()
    except ValueError:
        pass
    try:
        for v in present:
            float(v)
        return pa.float64()
    except ValueError:
        pass
    if all(_DATE_RE.match(v) for v in present):
        return pa.date32()
    if all(v.lower() in ("true", "false") for v in present):
        return pa.bool_()
    if all(_TIMESTAMP_RE.match(v) for v in present):
        return pa.timestamp("us", "UTC")  # as timestamp columns read (naive values taken as UTC)
    return pa.string()


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: pyarrow's hive writer: ``2020-01-01 01:02:03.000000Z``; Spark's: ``2020-01-01 01:02:03`` (session time zone)
_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}(:?\d{2})?)?$")


def _typed(value: str | None, type_: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_timestamp(type_) and type_.tz is not None and not re.search(r"(Z|[+-]\d{2}(:?\d{2})?)$",
                                                                               value[10:]):
        # a naive value (Spark's layout) is taken as UTC, as naive timestamp columns are
        return pa.array([value]).cast(pa.timestamp(type_.unit)).cast(type_)[0].as_py()
    return pa.array([value]).cast(type_)[0].as_py()


_OPS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
}


def _matches(values: dict[str, Any], filters: Iterable[PartitionFilter]) -> bool:
    for col, op, ref in filters:
        value = values.get(col)
        if op == "is_null":
            if value is not None:
                return False
            continue
        if op == "not_null":
            if value is None:
                return False
            continue
        if value is None or ref is None:
            return False  # SQL: a comparison with null is never true
        try:
            if not _OPS[op](value, ref):
                return False
        except TypeError:
            continue  # incomparable: this filter keeps the file, the others still apply
    return True


def _coerce_filter(f: PartitionFilter, type_: pa.DataType) -> PartitionFilter | None:
    """``("day", "=", "1")`` on an int partition compares as ``1``: a mistyped value must not prune all.

    None when the value does not convert to the partition's type.
    """
    col, op, ref = f
    if op in ("is_null", "not_null") or ref is None:
        return f
    try:
        if op == "in":
            return (col, op, tuple(pa.array(list(ref)).cast(type_).to_pylist()))
        return (col, op, pa.array([ref]).cast(type_)[0].as_py())
    except (pa.ArrowException, TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- read tasks
@dataclass(frozen=True)
class FileSlice:
    rel: str
    row_groups: tuple[int, ...] | None
    partition: tuple[tuple[str, Any], ...]
    size: int = 0  # from the listing: object stores then need no HEAD request to open the file


def _parquet_fragment(fs: pafs.FileSystem, path: str, size: int, row_groups: Iterable[int] | None = None) -> Any:
    """A parquet file opened with its listed size (no HEAD request on object stores); column chunks
    of a row group are fetched with coalesced, parallel range requests."""
    import pyarrow.dataset as ds

    fmt = ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=True))
    return fmt.make_fragment(path, filesystem=fs, file_size=size or None,
                             row_groups=list(row_groups) if row_groups is not None else None)


@dataclass(frozen=True)
class FilesReadPayload:
    format: str
    base: str
    slices: tuple[FileSlice, ...]
    schema: pa.Schema  # output schema (selected columns, partition columns included)
    data_schema: pa.Schema  # types of the columns read from the files
    header: bool = True
    delimiter: str = ","


class FilesInterface:
    """Parquet / CSV / JSON datasets in a store's folder or bucket prefix.

    >>> dao.read("silver.users_clean")               # doctest: +SKIP  (through this interface)
    """

    def __init__(self, store: DataStore) -> None:
        self.store = store

    @classmethod
    def from_store(cls, store: DataStore) -> FilesInterface:
        return cls(store)

    def __repr__(self) -> str:
        return f"FilesInterface(store={self.store.name!r}, location={self.store.location!r})"

    # ------------------------------------------------------------------ helpers
    def _where(self, obj: DataObject) -> tuple[pafs.FileSystem, str]:
        return filesystem_for(self.store, obj.location)

    @staticmethod
    def _format(obj: DataObject, options: Mapping[str, Any]) -> str:
        fmt = str(options.get("format") or obj.format or "parquet").lower()
        if fmt in ("jsonl", "ndjson"):
            fmt = "json"
        if fmt not in FORMATS:
            raise DaoError(
                f"object {obj.full_name!r} (store {obj.store_name!r}): the files interface cannot handle "
                f"format {fmt!r}.{did_you_mean(fmt, FORMATS)} Supported: {', '.join(FORMATS)}"
            )
        return fmt

    def _missing(self, obj: DataObject, fs: pafs.FileSystem, base: str) -> DaoError:
        if not _is_object_store(fs):
            blocked = not_a_folder_error(self.store, base, what=f"reading {obj.full_name!r}")
            if blocked is not None:
                return blocked
        siblings: list[str] = []
        parent = posixpath.dirname(base)
        try:
            for fi in fs.get_file_info(pafs.FileSelector(parent, allow_not_found=True)):
                name = posixpath.basename(fi.path)
                if fi.type == pafs.FileType.Directory and not _hidden(name):
                    siblings.append(name)
        except OSError:
            pass
        return ObjectNotFound(
            f"object {obj.full_name!r} has no data at {obj.location} (store {obj.store_name!r}).{did_you_mean(obj.name, siblings)}"
            " Write it first, or check the name in the catalog."
        )

    def _check_local(self, obj: DataObject, fs: pafs.FileSystem, base: str, rels: Iterable[str] = (), *,
                     action: str) -> None:
        """Local stores: the object's folder, the folders of ``rels`` and symlinked files among them
        must stay inside the store's real folder (see :func:`check_inside_store`)."""
        if _is_object_store(fs):
            return
        paths = {base}
        for rel in rels:
            if not rel:
                continue
            folder = posixpath.dirname(rel)
            if folder:
                paths.add(f"{base}/{folder}")
            if os.path.islink(f"{base}/{rel}"):
                paths.add(f"{base}/{rel}")
        check_inside_store(self.store, sorted(paths), what=f"{action} {obj.full_name!r}")

    # ------------------------------------------------------------------ reading
    @_wrap_io("reading")
    def plan_read(
        self, obj: DataObject, options: Mapping[str, Any], filters: Iterable[PartitionFilter] = ()
    ) -> ReadPlan:
        """Plan a read: the exact output schema and tasks split by file (and row groups of big files)."""
        # the object's catalog options, overridden by the call's
        opts = _check_options(_settings.merge_options(obj.options, options, READ_OPTIONS), READ_OPTIONS,
                              what=f"reading {obj.full_name!r}")
        fmt = self._format(obj, opts)
        check_partition_columns(obj, obj.partition_by, action="reading")
        fs, base = self._where(obj)
        files = _list_files(fs, base)
        self._check_local(obj, fs, base, [rel for rel, _ in files], action="reading")
        declared = _arrow.schema_from_catalog(obj.schema) if obj.schema else None
        if not files and declared is None:
            raise self._missing(obj, fs, base)
        header = _bool(opts.get("header"), True)
        delimiter = str(opts.get("delimiter") or opts.get("sep") or ",")

        # Partition columns and their types.
        part_cols = list(obj.partition_by)
        parsed = [(rel, size, dict(_partition_values(rel))) for rel, size in files]
        if not part_cols and parsed:
            part_cols = [k for k, _ in _partition_values(files[0][0])]
        part_types: dict[str, pa.DataType] = {}
        sidecar: list[pa.Schema | None] = []  # read at most once, only when something is left untyped
        for col in part_cols:
            values = [p.get(col) for _, _, p in parsed]
            if declared is not None and col in declared.names:
                part_types[col] = declared.field(col).type
            elif files and not any(v is not None for v in values):
                # only an empty write so far: its schema sidecar knows the type
                if not sidecar:
                    sidecar.append(_read_sidecar(fs, base, obj))
                known = sidecar[0]
                part_types[col] = (known.field(col).type if known is not None and col in known.names
                                   else _infer_partition_type(values))
            else:
                part_types[col] = _infer_partition_type(values)

        # Data columns: declared, or from the files (like Spark without mergeSchema): see _sample_schema.
        if declared is not None:
            data_schema = pa.schema([f for f in declared if f.name not in part_types])
            full = pa.schema(
                [f if f.name not in part_types else pa.field(f.name, part_types[f.name]) for f in declared]
                + [pa.field(c, t) for c, t in part_types.items() if c not in declared.names]
            )
        else:
            inferred = self._sample_schema(fs, base, files, fmt, header=header, delimiter=delimiter,
                                           infer=_bool(opts.get("inferschema"), True), obj=obj)
            data_schema = _arrow.normalize_schema(
                pa.schema([f for f in inferred if f.name not in part_types])
            )
            full = pa.schema(list(data_schema) + [pa.field(c, t) for c, t in part_types.items()])

        columns = _columns_option(opts.get("columns"))
        if columns is not None:
            unknown = [c for c in columns if c not in full.names]
            if unknown:
                raise DaoError(
                    f"reading {obj.full_name!r} (store {obj.store_name!r}): unknown columns {unknown}."
                    f"{did_you_mean(unknown[0], full.names)} Columns: {', '.join(full.names)}"
                )
            out_schema = pa.schema([full.field(c) for c in columns])
        else:
            out_schema = full

        # Prune by partition filters (exactly: values come from the paths).
        filters = tuple(filters)
        for col, op, ref in filters:
            if op not in _OPS and op not in ("is_null", "not_null"):
                raise DaoError(
                    f"reading {obj.full_name!r}: unknown filter operator {op!r} in ({col!r}, {op!r}, {ref!r})."
                    f"{did_you_mean(str(op), [*_OPS, 'is_null', 'not_null'])} "
                    f"Valid: {', '.join([*_OPS, 'is_null', 'not_null'])}"
                )
        # A value that does not fit the partition's type prunes nothing and is not reported as applied:
        # the engine then evaluates it on the rows (Spark with its own casts; local raises a clear error).
        pairs = [(f, _coerce_filter(f, part_types[f[0]])) for f in filters if f[0] in part_types]
        filters = tuple(f for f, typed_f in pairs if typed_f is not None)
        typed_filters = tuple(typed_f for _, typed_f in pairs if typed_f is not None)
        slices_in: list[tuple[str, int, tuple[tuple[str, Any], ...]]] = []
        for rel, size, pvals in parsed:
            if size == 0 and fmt != "parquet":
                continue  # an empty csv/json file holds no rows (and pyarrow cannot open it)
            typed = {c: _typed(pvals.get(c), part_types[c]) for c in part_types}
            if typed_filters and not _matches(typed, typed_filters):
                continue
            slices_in.append((rel, size, tuple(typed.items())))

        parallelism = int(opts.get("parallelism") or os.cpu_count() or 2)
        # Spark's rule (FilePartition.maxSplitBytes): every file costs an "open" of OPEN_COST bytes,
        # so many small files get packed into about `parallelism` tasks instead of one task each.
        total = sum(s + OPEN_COST for _, s, _ in slices_in)
        split = int(opts.get("split_bytes") or min(128 * MB, max(4 * MB, -(-total // max(1, parallelism)))))
        tasks = self._make_tasks(obj, fs, base, fmt, slices_in, split, out_schema, data_schema,
                                 header, delimiter, columns)
        log.debug("planned %d read tasks for %s (%d files, %d bytes)", len(tasks), obj.full_name, len(files), total)
        return ReadPlan(schema=out_schema, tasks=tasks, partition_columns=tuple(part_types), applied_filters=filters)

    def _sample_schema(self, fs, base: str, files: list[tuple[str, int]], fmt: str, *, header: bool,
                       delimiter: str, infer: bool, obj: DataObject,
                       action: str = "reading the schema of") -> pa.Schema:
        """The data schema of the sampled files (:meth:`_sample_files`: parquet the largest, csv/json
        unified over the largest ones, not the zero-byte file an empty write leaves); a csv/json
        column that is all null in all of them takes its type from the schema sidecar an empty write
        leaves (``_dao_schema.json``)."""
        schema = self._sample_files(fs, base, files, fmt, header=header, delimiter=delimiter, infer=infer, obj=obj,
                                    action=action)
        if fmt != "parquet" and (not len(schema) or any(pa.types.is_null(t) for t in schema.types)):
            known = _read_sidecar(fs, base, obj)
            if known is not None:
                if not len(schema):
                    return known
                schema = pa.schema([
                    known.field(f.name) if pa.types.is_null(f.type) and f.name in known.names else f
                    for f in schema
                ])
        return schema

    def _sample_files(self, fs, base: str, files: list[tuple[str, int]], fmt: str, *, header: bool,
                      delimiter: str, infer: bool, obj: DataObject, every: bool = False,
                      action: str = "reading the schema of") -> pa.Schema:
        """Parquet: the largest file's schema (``every``: the other sampled files' footers are opened
        too, so the append check reports a corrupt file among them as a read would). csv/json: the
        schemas of the (up to ``_SCHEMA_SAMPLE_FILES``) largest files, unified column by column
        (:func:`_unify_text_type`), so that one file of ``"1"`` next to a file of ``"apple"`` does
        not make the column int64. Reads and the append check sample the same files."""
        by_size = _schema_sample(files, fmt)
        if not by_size:
            return pa.schema([])  # only empty csv/json files: no columns to find
        schema: pa.Schema | None = None
        for rel, size in by_size:
            found = self._infer_schema(fs, posixpath.join(base, rel) if rel else base, fmt,
                                       header=header, delimiter=delimiter, infer=infer, size=size, obj=obj,
                                       action=action)
            if schema is None:
                schema = found
                if fmt == "parquet" and not every:
                    break
            elif fmt != "parquet":
                schema = _unify_text_schemas(schema, found)
        assert schema is not None
        return schema

    def _infer_schema(self, fs, path: str, fmt: str, *, header: bool, delimiter: str, infer: bool,
                      size: int = 0, obj: DataObject, action: str = "reading the schema of") -> pa.Schema:
        try:
            if fmt == "parquet":
                return _parquet_fragment(fs, path, size).physical_schema
            if fmt == "csv":
                import pyarrow.csv as pcsv

                with fs.open_input_stream(path, compression="detect") as f:
                    reader = pcsv.open_csv(
                        f,
                        read_options=pcsv.ReadOptions(autogenerate_column_names=not header, block_size=1 * MB),
                        parse_options=pcsv.ParseOptions(delimiter=delimiter),
                    )
                    schema = reader.schema
                if not infer:
                    schema = pa.schema([pa.field(n, pa.string()) for n in schema.names])
                return schema
            import pyarrow.json as pjson

            with fs.open_input_stream(path, compression="detect") as f:
                return pjson.read_json(f).schema
        except io_errors() as exc:
            raise _file_error(obj, path, fmt, exc, action=action) from exc

    def _make_tasks(self, obj, fs, base, fmt, slices_in, split, out_schema, data_schema,
                    header, delimiter, columns) -> list[ReadTask]:
        pieces: list[tuple[FileSlice, int]] = []
        for rel, size, part in slices_in:
            if fmt == "parquet" and size > split:
                path = posixpath.join(base, rel) if rel else base
                try:
                    frag = _parquet_fragment(fs, path, size)
                    frag.ensure_complete_metadata()
                    meta = frag.metadata
                except io_errors() as exc:
                    raise _file_error(obj, path, fmt, exc, action="reading") from exc
                group: list[int] = []
                acc = 0
                for i in range(meta.num_row_groups):
                    rg = meta.row_group(i).total_byte_size
                    if group and acc + rg > split:
                        pieces.append((FileSlice(rel, tuple(group), part, size), acc))
                        group, acc = [], 0
                    group.append(i)
                    acc += rg
                if group:
                    pieces.append((FileSlice(rel, tuple(group), part, size), acc))
            else:
                pieces.append((FileSlice(rel, None, part, size), size))
        # Pack small pieces together (each costs ~4 MB of "open" time, as in Spark).
        tasks: list[ReadTask] = []
        current: list[FileSlice] = []
        acc = 0

        def flush() -> None:
            if current:
                payload = FilesReadPayload(fmt, base, tuple(current), out_schema, data_schema, header, delimiter)
                tasks.append(ReadTask(obj=obj, payload=payload, columns=columns))

        for piece, size in pieces:
            if current and acc + size > split:  # as Spark packs: the open cost counts after the file
                flush()
                current, acc = [], 0
            current.append(piece)
            acc += size + OPEN_COST
        flush()
        return tasks

    def read(self, task: ReadTask) -> Iterator[pa.RecordBatch]:
        """Yield the task's rows as RecordBatches with exactly the plan's schema."""
        p: FilesReadPayload = task.payload
        fs, _ = self._where(task.obj)
        wanted = [f.name for f in p.schema if f.name in p.data_schema.names]
        part_names = set()
        for sl in p.slices:
            part_names.update(k for k, _ in sl.partition)
        for sl in p.slices:
            path = posixpath.join(p.base, sl.rel) if sl.rel else p.base
            constants = {k: v for k, v in sl.partition if k in p.schema.names}
            try:
                for batch in self._read_file(fs, path, p, sl, wanted):
                    yield _arrow.conform(batch, p.schema, constants=constants)
            except DaoError:
                raise
            except io_errors() as exc:
                mismatch = self._type_mismatch(task.obj, fs, path, p, exc)
                if mismatch is not None:
                    raise mismatch from exc
                raise _file_error(task.obj, path, p.format, exc, action="reading") from exc

    def _type_mismatch(self, obj: DataObject, fs, path: str, p: FilesReadPayload,
                       exc: BaseException) -> DaoError | None:
        """A csv/json file whose values do not convert to the type inferred (from the sampled
        files) for a column: a valid file, not a corrupt one. None for any other error."""
        if p.format == "parquet":
            return None
        text = str(exc)
        column = None
        m = re.search(r"In CSV column #(\d+): CSV conversion error", text)
        if p.format == "csv" and m:
            index = int(m.group(1))
            names = p.data_schema.names
            if p.header:
                try:
                    names = self._infer_schema(fs, path, "csv", header=True, delimiter=p.delimiter,
                                               infer=False, obj=obj).names
                except DaoError:
                    return None
            column = names[index] if index < len(names) else None
        m = re.search(r"JSON parse error: Column\(/([^)/]*)[^)]*\) changed from", text)
        if p.format == "json" and m:
            column = m.group(1)
        if column is None or column not in p.data_schema.names:
            return None
        return DaoError(
            f"reading {obj.full_name!r} (store {obj.store_name!r}): {path} does not match the type inferred "
            f"for column {column!r} ({p.data_schema.field(column).type}, from the largest "
            f"{_SCHEMA_SAMPLE_FILES} files): {_describe(exc)}. Declare the column's type in the catalog's "
            "schema, or rewrite the object (mode='overwrite')"
        )

    def _read_file(self, fs, path: str, p: FilesReadPayload, sl: FileSlice, wanted: list[str]):
        if p.format == "parquet" and sl.size and _is_object_store(fs):
            frag = _parquet_fragment(fs, path, sl.size, sl.row_groups)
            present = set(frag.physical_schema.names)
            yield from frag.to_batches(columns=[c for c in wanted if c in present], batch_size=65536,
                                       use_threads=True)
        elif p.format == "parquet":
            import pyarrow.parquet as pq

            with fs.open_input_file(path) as f:
                # on object stores, coalesce each row group's column chunks into few parallel reads
                pf = pq.ParquetFile(f, pre_buffer=_is_object_store(fs))
                present = set(pf.schema_arrow.names)
                cols = [c for c in wanted if c in present]
                row_groups = list(sl.row_groups) if sl.row_groups is not None else None
                if row_groups is None and pf.metadata.num_rows == 0:
                    return
                yield from pf.iter_batches(batch_size=65536, row_groups=row_groups, columns=cols, use_threads=True)
        elif p.format == "csv":
            import pyarrow.csv as pcsv

            with fs.open_input_stream(path, compression="detect") as f:
                reader = pcsv.open_csv(
                    f,
                    read_options=pcsv.ReadOptions(
                        block_size=16 * MB,
                        column_names=None if p.header else p.data_schema.names,
                    ),
                    parse_options=pcsv.ParseOptions(delimiter=p.delimiter),
                    convert_options=pcsv.ConvertOptions(
                        column_types={f.name: f.type for f in p.data_schema if _csv_typed(f.type)},
                        include_columns=wanted,
                        include_missing_columns=True,
                        strings_can_be_null=True,
                    ),
                )
                yield from reader
        else:
            import pyarrow.json as pjson

            with fs.open_input_stream(path, compression="detect") as f:
                table = pjson.read_json(
                    f,
                    parse_options=pjson.ParseOptions(
                        explicit_schema=pa.schema([_json_field(p.data_schema.field(c)) for c in wanted])
                        if wanted else None,
                        unexpected_field_behavior="ignore",
                    ),
                )
            yield from table.select([c for c in wanted if c in table.schema.names]).to_batches(max_chunksize=65536) \
                if wanted else table.select([]).to_batches()

    # ------------------------------------------------------------------ writing
    @_wrap_io("writing")
    def prepare_write(self, obj: DataObject, schema: pa.Schema, options: Mapping[str, Any]) -> WriteSpec:
        """Driver-side checks before any task runs: options, mode, partition columns, schema."""
        upsert_opts, rest = split_upsert_options(options)
        upsert = None
        if is_upsert(upsert_opts):
            upsert = UpsertOptions.from_options(upsert_opts, obj)
        elif set(upsert_opts) - {"operation"}:
            raise DaoError(
                f"writing {obj.full_name!r}: options {sorted(set(upsert_opts) - {'operation'})} only apply to "
                "upserts; add operation='upsert' (Spark: .option('operation', 'upsert')) or use dao.upsert()"
            )
        # the object's catalog options, overridden by the call's
        opts = _check_options(_settings.merge_options(obj.options, rest, WRITE_OPTIONS), WRITE_OPTIONS,
                              what=f"writing {obj.full_name!r}")
        mode = parse_mode(opts.get("mode", "append"), obj=repr(obj.full_name))
        if str(opts.get("partitionoverwritemode", "")).lower() == "dynamic" and mode == "overwrite":
            mode = "dynamic"
        if upsert is not None:
            if mode != "append":
                raise DaoError(
                    f"upsert into {obj.full_name!r}: an upsert runs as mode 'append' (it merges into the "
                    f"existing data), not {mode!r}"
                )
            upsert.check_schema(schema, what=f"upsert into {obj.full_name!r} (store {obj.store_name!r})")
        fmt = self._format(obj, opts)
        incoming = _arrow.normalize_schema(schema)
        check_partition_columns(obj, obj.partition_by, action="writing")
        missing = [c for c in obj.partition_by if c not in incoming.names]
        if missing:
            raise SchemaMismatch(
                f"writing {obj.full_name!r} (store {obj.store_name!r}): partition columns {missing} "
                f"(from the catalog's partition_by) are not in the data; columns: {', '.join(incoming.names)}"
            )
        if mode == "dynamic" and not obj.partition_by:
            raise DaoError(
                f"writing {obj.full_name!r}: dynamic partition overwrite needs partition_by on the object "
                "in the catalog; use mode='overwrite' to replace everything"
            )
        if obj.schema:
            target = _arrow.schema_from_catalog(obj.schema)
            target = _arrow.compatible_schema(
                incoming, target, what=f"writing {obj.full_name!r}", against="the schema declared in the catalog",
                fix=f"change the 'schema' of {obj.full_name!r} in the catalog ({obj.store.source})",
            )
            target = pa.schema([pa.field(f.name, _arrow.schema_from_catalog(obj.schema).field(f.name).type)
                                for f in target])
        else:
            target = incoming
        fs, base = self._where(obj)
        if not _is_object_store(fs):
            blocked = not_a_folder_error(self.store, base, what=f"writing {obj.full_name!r}")
            if blocked is not None:
                raise blocked
            self._check_local(obj, fs, base, [STAGING], action="writing")
        files = _list_files(fs, base)
        self._check_local(obj, fs, base, [rel for rel, _ in files], action="writing")
        if files and mode == "errorifexists":
            raise DaoError(
                f"object {obj.full_name!r} already has data at {obj.location} (store {obj.store_name!r}); "
                "use mode='append', 'overwrite' or 'ignore'"
            )
        if files and mode in ("append", "dynamic") and not obj.schema:
            # the files' own schema, found as reads find it: data that does not fit is refused before
            # any task runs (for csv/json, rows the reader could not parse back)
            header = _bool(opts.get("header"), True)
            verb = "upserting into" if upsert is not None else "appending to"
            stored = self._stored_schema(fs, base, files, obj, incoming=target, fmt=fmt, header=header,
                                         delimiter=str(opts.get("delimiter") or opts.get("sep") or ","),
                                         action=verb)
            what = f"{verb} {obj.full_name!r} (store {obj.store_name!r}, format {fmt})"
            if fmt == "parquet":
                target = _arrow.compatible_schema(target, stored, what=what)
            elif len(stored):
                target = _text_compatible(target, stored, what=what, by_position=fmt == "csv" and not header)
        # Partition columns go last in the file layout's eyes; keep the data order otherwise.
        write_opts = {
            "max_rows_per_file": int(opts.get("max_rows_per_file") or opts.get("maxrecordsperfile") or 0),
            "compression": str(opts.get("compression") or ("snappy" if fmt == "parquet" else "none")).lower(),
            "header": _bool(opts.get("header"), True),
            "delimiter": str(opts.get("delimiter") or opts.get("sep") or ","),
            "row_group_size": int(opts.get("row_group_size") or 1 << 20),
            "s3_commit": self._s3_commit(obj, opts),
            "lock": LockSettings.resolve(opts, self.store, what=f"writing {obj.full_name!r}"),
        }
        if upsert is not None:
            write_opts["upsert"] = upsert
        return WriteSpec(
            mode=mode,
            format=fmt,
            schema=target,
            partition_by=tuple(obj.partition_by),
            options=write_opts,
            operation="upsert" if upsert is not None else "write",
        )

    def _s3_commit(self, obj: DataObject, opts: Mapping[str, Any]) -> str:
        """How a write to S3 becomes visible: ``multipart`` or ``copy``; ``""`` off S3."""
        from ._s3 import S3_SCHEMES

        value = opts.get("s3_commit", self.store.configs.get("s3_commit"))
        if value is not None:
            value = str(value).strip().lower()
            if value not in S3_COMMITS:
                raise DaoError(
                    f"writing {obj.full_name!r} (store {obj.store_name!r}): s3_commit={value!r} is not valid."
                    f"{did_you_mean(value, S3_COMMITS)} Valid: multipart (the default), copy"
                )
        if obj.location.partition("://")[0].lower() not in S3_SCHEMES or "://" not in obj.location:
            return ""
        if value == "multipart":
            from ..errors import require

            require("boto3", "s3")
            return value
        if value is None:
            import importlib.util

            # boto3 drives the multipart protocol; without it, fall back to staging + server-side copy
            return "multipart" if importlib.util.find_spec("boto3") is not None else "copy"
        return value

    def _stored_schema(self, fs, base: str, files: list[tuple[str, int]], obj: DataObject, *,
                       incoming: pa.Schema, fmt: str = "parquet", header: bool = True,
                       delimiter: str = ",", action: str = "appending to") -> pa.Schema:
        for _attempt in range(5):
            try:
                if fmt == "parquet":
                    # the largest file's schema, as reads take it; the other sampled footers are
                    # opened too, so a corrupt file is reported as for csv/json (same sample)
                    schema = self._sample_files(fs, base, files, fmt, header=header, delimiter=delimiter,
                                                infer=True, obj=obj, every=True, action=action)
                else:
                    schema = self._sample_schema(fs, base, files, fmt, header=header, delimiter=delimiter,
                                                 infer=True, obj=obj, action=action)
                break
            except (OSError, DaoError):
                # a concurrent upsert or overwrite replaced a file between the listing and this read:
                # sample the current files instead (an error only if every file read is still listed)
                current = _list_files(fs, base)
                read = [rel for rel, _ in _schema_sample(files, fmt)]
                if not current or all(rel in dict(current) for rel in read):
                    raise
                files = current
        else:
            raise DaoError(f"writing {obj.full_name!r} (store {obj.store_name!r}): the files at {obj.location} "
                           "kept changing while reading their schema; retry")
        if fmt != "parquet" and not len(schema):
            return schema  # only empty files and no schema sidecar: nothing to check against
        # Partition types come from every file's path, as plan_read infers them (one value can mislead:
        # "1" looks like an int in a column that also holds "x").
        values: dict[str, list[str | None]] = {c: [] for c in obj.partition_by}
        for path, _ in files:
            for k, v in _partition_values(path):
                values.setdefault(k, []).append(v)
        part_fields = []
        for k, vs in values.items():
            if k in schema.names:
                continue
            if not any(v is not None for v in vs) and k in incoming.names:
                # only empty or null partitions so far (an empty write): nothing says the type yet
                part_fields.append(incoming.field(k))
            else:
                part_fields.append(pa.field(k, _infer_partition_type(vs)))
        if fmt == "parquet":
            return _arrow.normalize_schema(pa.schema(list(schema) + part_fields))
        # a csv/json column with no value yet stays null-typed: anything may be appended to it
        return pa.schema([f if pa.types.is_null(f.type) else _arrow.normalize_field(f)
                          for f in list(schema) + part_fields])

    def stage(self, obj: DataObject, batches: Iterable[pa.RecordBatch], spec: WriteSpec, job_id: str) -> StagedPart:
        """Write ``batches`` invisibly (the job's hidden staging folder, or uncompleted S3 multipart
        uploads at the final keys); return what was written, for ``commit``."""
        fs, base = self._where(obj)
        staging = f"{base}/{STAGING}/{job_id}"
        self._check_local(obj, fs, base, [STAGING], action="writing")
        task = uuid.uuid4().hex[:10]
        it = (_arrow.conform(b, spec.schema) for b in batches if b.num_rows)
        first = next(it, None)
        if first is None:
            return StagedPart(job_id=job_id)
        _check_partition_values(obj, spec, first)
        rows = 0

        def counted() -> Iterator[pa.RecordBatch]:
            nonlocal rows
            for i, b in enumerate(chain([first], it)):
                if i:
                    _check_partition_values(obj, spec, b)
                rows += b.num_rows
                yield b

        if spec.operation == "upsert" and spec.in_process:
            # the commit reads the incoming rows back in this same process: keep them in memory
            table = pa.Table.from_batches(list(counted()), schema=spec.schema)
            return StagedPart(job_id=job_id, rows=table.num_rows, table=table)
        lease = bool(spec.options.get("lease"))
        if not lease:  # in-process (or the commit's own rewrites): mark the job live here
            self._mark_live(obj, fs, base, job_id)
        elif not self._is_live(obj, fs, base, job_id):
            raise DaoError(
                f"writing {obj.full_name!r} (store {obj.store_name!r}): job {job_id} already ended "
                "(aborted or committed) before this task staged anything; nothing was written"
            )
        multipart = None
        out_fs, out_root = fs, staging
        if spec.options.get("s3_commit") == "multipart" and spec.operation == "write":
            # S3: upload straight to the final keys without completing the uploads (invisible until
            # commit completes them: no copy). Upsert batches stay in the staging folder: the
            # driver reads them back to merge.
            from ._s3 import MultipartStaging

            multipart = MultipartStaging(self.store, what=repr(obj.full_name))
            out_fs, out_root = multipart.filesystem(), base
        try:
            try:
                if spec.format == "json":
                    files = self._stage_json(out_fs, out_root, counted(), spec, _file_stem(job_id, task))
                else:
                    stage = (self._stage_parquet if spec.format == "parquet" and not spec.partition_by
                             else self._stage_dataset)
                    files = stage(out_fs, out_root, counted(), spec, _file_stem(job_id, task))
                if multipart is not None:
                    multipart.close()
                    files = [replace(f, upload=multipart.pending(f"{base}/{f.path}")) for f in files]
            except BaseException:
                if multipart is not None:
                    multipart.abort_quietly()
                raise
        except (OSError, pa.ArrowException) as exc:
            if lease and not self._is_live(obj, fs, base, job_id):  # e.g. the abort removed the folder
                self._remove_own(obj, fs, staging, _file_stem(job_id, task), None)
                raise self._ended(obj, job_id) from exc
            raise DaoError(
                f"writing {obj.full_name!r} (store {obj.store_name!r}): staging under {staging} failed: {exc}"
            ) from exc
        if lease and not self._is_live(obj, fs, base, job_id):
            # the driver aborted (or committed without this attempt) while this task staged: the
            # abort may have listed the staging before these files existed, so remove them here
            self._remove_own(obj, fs, staging, _file_stem(job_id, task), multipart)
            raise self._ended(obj, job_id)
        return StagedPart(job_id=job_id, files=tuple(files), rows=rows)

    @staticmethod
    def _ended(obj: DataObject, job_id: str) -> DaoError:
        return DaoError(
            f"writing {obj.full_name!r} (store {obj.store_name!r}): job {job_id} ended (aborted or "
            "committed) while this task was staging; the task's staged files were removed"
        )

    def _stage_parquet(self, fs, staging: str, batches, spec: WriteSpec, stem: str) -> list[StagedFile]:
        """Unpartitioned parquet: one ``ParquetWriter`` per file, streamed to the filesystem.

        About twice as fast to encode as the dataset writer (which re-slices batches into small
        morsels); small incoming batches (Spark sends 10k rows) are buffered into full row groups.
        """
        import pyarrow.parquet as pq

        o = spec.options
        compression = None if o["compression"] in ("none", "uncompressed") else o["compression"]
        max_rows = o["max_rows_per_file"] or 0
        row_group = min(o["row_group_size"], max_rows) if max_rows else o["row_group_size"]
        written: list[StagedFile] = []
        current: dict[str, Any] = {}

        def close_file() -> None:
            if current:
                current["writer"].close()
                size = current["stream"].tell()
                current["stream"].close()
                written.append(StagedFile(current["rel"], current["rows"], size))
                current.clear()

        def write_rows(table: pa.Table) -> None:
            while table.num_rows:
                if not current:
                    rel = f"{stem}-{len(written)}.parquet"
                    stream = fs.open_output_stream(f"{staging}/{rel}")
                    current.update(rel=rel, stream=stream, rows=0,
                                   writer=pq.ParquetWriter(stream, spec.schema, compression=compression))
                room = (max_rows - current["rows"]) if max_rows else table.num_rows
                part, table = table.slice(0, room), table.slice(room)
                current["writer"].write_table(part, row_group_size=row_group)
                current["rows"] += part.num_rows
                if max_rows and current["rows"] >= max_rows:
                    close_file()

        if not _is_object_store(fs):
            fs.create_dir(staging, recursive=True)
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        try:
            for batch in batches:
                pending.append(batch)
                pending_rows += batch.num_rows
                if pending_rows >= row_group:
                    table = pa.Table.from_batches(pending, schema=spec.schema)
                    full = (table.num_rows // row_group) * row_group
                    write_rows(table.slice(0, full))
                    rest = table.slice(full)
                    pending, pending_rows = rest.to_batches(), rest.num_rows
            if pending_rows:
                write_rows(pa.Table.from_batches(pending, schema=spec.schema))
        finally:
            close_file()
        return written

    def _stage_dataset(self, fs, staging: str, batches, spec: WriteSpec, stem: str) -> list[StagedFile]:
        import pyarrow.dataset as ds

        o = spec.options
        if spec.format == "parquet":
            fmt = ds.ParquetFileFormat()
            compression = None if o["compression"] in ("none", "uncompressed") else o["compression"]
            file_options = fmt.make_write_options(compression=compression)
        else:
            fmt = ds.CsvFileFormat()
            file_options = fmt.make_write_options(include_header=o["header"], delimiter=o["delimiter"])
        written: list[StagedFile] = []

        def visit(wf: Any) -> None:
            rel = wf.path[len(staging) :].lstrip("/")
            rows = wf.metadata.num_rows if wf.metadata is not None else -1
            written.append(StagedFile(rel, rows, wf.size or 0))

        partitioning = None
        if spec.partition_by:
            partitioning = ds.partitioning(
                pa.schema([spec.schema.field(c) for c in spec.partition_by]), flavor="hive"
            )
        reader = pa.RecordBatchReader.from_batches(spec.schema, batches)
        max_rows = o["max_rows_per_file"] or 0
        row_group = min(o["row_group_size"], max_rows) if max_rows else o["row_group_size"]
        ds.write_dataset(
            reader,
            base_dir=staging,
            filesystem=fs,
            format=fmt,
            file_options=file_options,
            partitioning=partitioning,
            basename_template=f"{stem}-{{i}}.{_EXT[spec.format]}",
            existing_data_behavior="overwrite_or_ignore",
            max_rows_per_file=max_rows,
            max_rows_per_group=row_group,
            min_rows_per_group=min(row_group, 128 * 1024),
            # encode columns on pyarrow's thread pool, keeping the rows in order
            use_threads=True,
            preserve_order=True,
            create_dir=not _is_object_store(fs),
            file_visitor=visit,
        )
        return written

    def _stage_json(self, fs, staging: str, batches, spec: WriteSpec, stem: str) -> list[StagedFile]:
        import pyarrow.compute as pc

        table = pa.Table.from_batches(list(batches), schema=spec.schema)
        groups: list[tuple[str, pa.Table]] = []
        if spec.partition_by:
            keys = table.group_by(list(spec.partition_by)).aggregate([])
            for row in keys.to_pylist():
                mask = None
                for col in spec.partition_by:
                    value = row[col]
                    cond = pc.is_null(table[col]) if value is None else pc.equal(table[col], pa.scalar(value, table.schema.field(col).type))
                    mask = cond if mask is None else pc.and_(mask, cond)
                part = table.filter(mask).drop_columns(list(spec.partition_by))
                rel_dir = "/".join(_partition_segment(c, row[c]) for c in spec.partition_by)
                groups.append((rel_dir, part))
        else:
            groups.append(("", table))
        out = []
        for i, (rel_dir, part) in enumerate(groups):
            rel = posixpath.join(rel_dir, f"{stem}-{i}.json") if rel_dir else f"{stem}-{i}.json"
            data = _to_json_lines(part)
            if not _is_object_store(fs):
                fs.create_dir(posixpath.dirname(f"{staging}/{rel}"), recursive=True)
            with fs.open_output_stream(f"{staging}/{rel}") as f:
                f.write(data)
            out.append(StagedFile(rel, part.num_rows, len(data)))
        return out

    @_wrap_io("committing the write to")
    def commit(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec) -> WriteResult:
        """Make the staged files visible and apply the mode (see the module docstring).

        Upserts, overwrites, dynamic overwrites (and the existence checks of errorifexists/ignore)
        read the target and replace what they read, so they hold the object's write lock
        (``_lock.py``) from before that read until after the publish: concurrent ones run one after
        the other, none loses an update. Appends only add
        uniquely named files and do not wait. A writer that cannot get the lock within
        ``lock_timeout`` raises ``WriteConflict`` and its staged data is removed.
        """
        fs, base = self._where(obj)
        try:
            lock = acquire_for_commit(self.store, obj, fs, base, spec)
        except BaseException:
            self._end_jobs(obj, fs, base, sorted({p.job_id for p in parts if p is not None}), spec)
            raise
        try:
            return self._commit(obj, parts, spec, fs, base, lock)
        finally:
            if lock is not None:
                lock.release()

    def _commit(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec, fs: pafs.FileSystem,
                base: str, lock: Any) -> WriteResult:
        parts = [p for p in parts if p is not None]
        job_ids = sorted({p.job_id for p in parts})
        try:
            existing = _list_files(fs, base)
            if existing and spec.mode == "errorifexists":
                raise DaoError(
                    f"object {obj.full_name!r} already has data at {obj.location} (store {obj.store_name!r}); "
                    "use mode='append', 'overwrite' or 'ignore'"
                )
            if existing and spec.mode == "ignore":
                return WriteResult(object=obj.full_name, mode=spec.mode, location=obj.location, skipped=True)
            # every folder a file is moved into, rewritten or deleted in must be inside the store (symlinks)
            self._check_local(obj, fs, base, [*(f.path for p in parts for f in p.files), *(rel for rel, _ in existing)],
                              action="committing the write to")
            if spec.operation == "upsert":
                from .files_upsert import commit_upsert

                return commit_upsert(self, obj, parts, spec, fs, base, existing, lock=lock)
            staged = [(p.job_id, f) for p in parts for f in p.files]
            touched = sorted({posixpath.dirname(f.path) for _, f in staged})
            if spec.mode == "overwrite":
                doomed = [rel for rel, _ in existing]
            elif spec.mode == "dynamic":
                touched_set = set(touched)
                doomed = [rel for rel, _ in existing if posixpath.dirname(rel) in touched_set]
            else:
                doomed = []
            write_empty = not staged and (spec.mode in ("overwrite", "errorifexists") or not existing)
            if lock is not None:
                lock.check()  # still ours after the listing: else stop before publishing anything
            added = self._publish(obj, fs, base, spec, staged, doomed, job_ids, write_empty=write_empty)
            if spec.mode == "overwrite" and staged and any("-empty-" in posixpath.basename(r) for r in doomed):
                # the object held an empty write's file, so maybe its schema sidecar: the new files
                # carry the schema now (no extra request on overwrites of objects that never were empty)
                self._drop_sidecar(obj, fs, base, spec)
        finally:
            self._end_jobs(obj, fs, base, job_ids, spec)
        rows = sum(p.rows for p in parts)
        result = WriteResult(
            object=obj.full_name,
            mode=spec.mode,
            location=obj.location,
            rows_written=rows,
            rows_inserted=rows,
            files_added=added,
            files_removed=len(doomed),
            partitions=tuple(t for t in touched if t),
        )
        log.info("committed %s", result)
        return result

    def _publish(
        self,
        obj: DataObject,
        fs: pafs.FileSystem,
        base: str,
        spec: WriteSpec,
        staged: list[tuple[str, StagedFile]],
        doomed: list[str],
        job_ids: list[str],
        *,
        write_empty: bool = False,
    ) -> int:
        """Move staged files into place, then remove ``doomed`` ones; undo the moves on failure.

        Old files are removed only after every new file is in place, so a failure while moving
        leaves the previous data exactly as it was. Returns the number of files added.
        """
        remote = _is_object_store(fs)
        moved: list[str] = []
        new_dirs: set[str] = set()

        def move(item: tuple[str, StagedFile]) -> str:
            job_id, f = item
            dst = f"{base}/{f.path}"
            if f.upload is not None:  # an S3 multipart upload at its final key: complete it
                from ._s3 import complete_upload

                complete_upload(self.store, dst, f.upload, what=repr(obj.full_name))
                return dst
            src = f"{base}/{STAGING}/{job_id}/{f.path}"
            if remote:  # object stores have no folders to create
                fs.move(src, dst)  # S3: server-side copy + delete
                return dst
            for attempt in range(5):
                fs.create_dir(posixpath.dirname(dst), recursive=True)
                try:
                    fs.move(src, dst)
                    return dst
                except FileNotFoundError:
                    # another writer's commit removed the folder while it was empty: create it again
                    if attempt == 4 or not os.path.exists(src):
                        raise
            return dst

        try:
            new_dirs.update(posixpath.dirname(f.path) for _, f in staged)
            if remote and len(staged) > 1:
                # S3 commits are latency-bound: move files concurrently, keep track of each success
                with ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="spark_dao_commit") as pool:
                    futures = [pool.submit(move, item) for item in staged]
                    errors = []
                    for fut in futures:
                        try:
                            moved.append(fut.result())
                        except Exception as exc:  # collected: every finished move must be undone
                            errors.append(exc)
                    if errors:
                        raise errors[0]
            else:
                for item in staged:
                    moved.append(move(item))
            if write_empty:
                moved.append(self._write_empty(fs, base, spec, job_ids[0] if job_ids else uuid.uuid4().hex))
        except Exception as exc:
            # Old files are still in place: undo the new ones. A move that failed may have been
            # applied all the same (its answer lost), so remove every destination of this commit;
            # their names are unique to the job, and one that does not exist costs nothing.
            moved = sorted(set(moved) | {f"{base}/{f.path}" for _, f in staged})
            try:
                self._delete_retrying(obj, fs, spec, moved)
            except (OSError, DaoError) as undo:
                log.warning("could not roll back %d new file(s) of %s: %s", len(moved), obj.full_name, undo)
                raise DaoError(
                    f"writing {obj.full_name!r} (store {obj.store_name!r}): commit failed while moving files "
                    f"into {obj.location} ({exc}), and the file(s) it had already published could not "
                    f"be removed ({undo}): the object holds the previous data plus some of these files: "
                    f"{', '.join(sorted(moved)[:5])}{' ...' if len(moved) > 5 else ''}; delete them, or re-run "
                    "the write"
                ) from exc
            # (uploads not completed yet are aborted by _cleanup)
            # and the partition folders this commit created for them
            if not remote:
                _remove_empty_dirs(fs, base, new_dirs)
            raise DaoError(
                f"writing {obj.full_name!r} (store {obj.store_name!r}): commit failed while moving "
                f"files into {obj.location}; the previous data is unchanged: {exc}"
            ) from exc
        doomed_paths = [f"{base}/{rel}" if rel else base for rel in doomed]
        try:
            self._delete(obj, fs, spec, doomed_paths)
        except (OSError, DaoError) as exc:
            self._settle(obj, fs, base, spec, doomed_paths, moved, exc)
        if doomed and not remote:
            _remove_empty_dirs(fs, base, {posixpath.dirname(r) for r in doomed})
        return len(moved)

    def _settle(self, obj: DataObject, fs: pafs.FileSystem, base: str, spec: WriteSpec, doomed: list[str],
                moved: list[str], exc: BaseException) -> None:
        """The new files are in place but removing the old ones failed: never leave both visible.

        The failed request may have been applied (its answer lost), wholly or in part: look. If
        every old file is still there, remove the new ones (the previous data, and an error); else
        finish removing the old ones (the new data: the commit succeeded). Only when the storage
        keeps failing through this too does a ``DaoError`` say that both are visible, and which.
        """
        what = f"writing {obj.full_name!r} (store {obj.store_name!r})"
        try:
            present = {f"{base}/{rel}" if rel else base for rel, _ in _list_files(fs, base)}
            remaining = [p for p in doomed if p in present]
            if remaining and len(remaining) == len(doomed):
                self._delete_retrying(obj, fs, spec, moved)
                raise DaoError(
                    f"{what}: commit failed while removing the previous files of {obj.location}; the new "
                    f"files were removed again and the previous data is unchanged: {exc}"
                ) from exc
            self._delete_retrying(obj, fs, spec, remaining)
            log.warning("%s: removing the previous files needed a second try (%s); the commit is complete",
                        what, exc)
        except DaoError as fail:
            if fail.__cause__ is exc:
                raise
            raise self._mixed(what, obj, doomed, exc, fail) from exc
        except OSError as fail:
            raise self._mixed(what, obj, doomed, exc, fail) from exc

    @staticmethod
    def _mixed(what: str, obj: DataObject, doomed: list[str], exc: BaseException, fail: BaseException) -> DaoError:
        return DaoError(
            f"{what}: the new files are in place but the previous ones could not be removed ({exc}; then "
            f"{fail}): {obj.location} may hold old and new data together. Re-run the write, or delete the "
            f"previous files: {', '.join(sorted(doomed)[:5])}{' ...' if len(doomed) > 5 else ''}"
        )

    def _delete_retrying(self, obj: DataObject, fs: pafs.FileSystem, spec: WriteSpec, paths: list[str]) -> None:
        """:meth:`_delete`, a few more times on failure: it is idempotent, and undoing or finishing a
        commit is worth more patience than one request's retries (a missing file is not an error)."""
        for attempt in range(SETTLE_ATTEMPTS):
            try:
                self._delete(obj, fs, spec, paths)
                return
            except FileNotFoundError:  # local disks: one already gone stopped the loop; go on with the rest
                paths = [p for p in paths if fs.get_file_info(p).type != pafs.FileType.NotFound]
                if not paths:
                    return
            except (OSError, DaoError):
                if attempt == SETTLE_ATTEMPTS - 1:
                    raise
                time.sleep(SETTLE_BACKOFF * 2**attempt)
        if paths:
            self._delete(obj, fs, spec, paths)

    def _delete(self, obj: DataObject, fs: pafs.FileSystem, spec: WriteSpec, paths: list[str]) -> None:
        if not paths:
            return
        if spec.options.get("s3_commit") == "multipart":
            from ._s3 import delete_paths

            delete_paths(self.store, paths, what=repr(obj.full_name))  # batched, no folder markers
        elif _is_object_store(fs) and len(paths) > 1:
            with ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="spark_dao_commit") as pool:
                list(pool.map(fs.delete_file, paths))
        else:
            for path in paths:
                fs.delete_file(path)

    def _drop_sidecar(self, obj: DataObject, fs, base: str, spec: WriteSpec) -> None:
        path = f"{base}/{SCHEMA_SIDECAR}"
        try:
            if spec.options.get("s3_commit") == "multipart":
                from ._s3 import delete_paths

                delete_paths(self.store, [path], what=repr(obj.full_name))  # no folder marker re-created
            else:
                fs.delete_file(path)
        except FileNotFoundError:
            pass
        except (OSError, DaoError) as exc:  # a stale sidecar only types columns the files leave untyped
            log.warning("could not remove %s: %s", path, exc)

    def _write_empty(self, fs, base: str, spec: WriteSpec, job_id: str) -> str:
        """An empty file carrying the schema, so an empty write still reads back with its columns."""
        data_schema = pa.schema([f for f in spec.schema if f.name not in spec.partition_by])
        empty = pa.Table.from_batches([], schema=data_schema)
        dst = f"{base}/part-{job_id[:8]}-empty-0.{_EXT[spec.format]}"
        if not _is_object_store(fs):  # on S3 create_dir would leave a zero-byte folder marker
            fs.create_dir(base, recursive=True)
        if spec.format == "parquet":
            import pyarrow.parquet as pq

            with fs.open_output_stream(dst) as f:
                pq.write_table(empty, f)
        elif spec.format == "csv":
            import pyarrow.csv as pcsv

            with fs.open_output_stream(dst) as f:
                pcsv.write_csv(empty, f, write_options=pcsv.WriteOptions(
                    include_header=spec.options["header"], delimiter=spec.options["delimiter"]))
        else:
            with fs.open_output_stream(dst) as f:
                f.write(b"")
        if spec.format != "parquet" or spec.partition_by:
            # csv/json files without rows cannot carry column types (json not even names), and no
            # data file carries the partition columns: say them in a hidden sidecar plan_read reads
            _write_sidecar(fs, base, spec.schema)
        return dst

    def abort(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec | None = None, *,
              job_id: str | None = None) -> None:
        """End the job and remove what it staged; the target is left as it was.

        The job's live marker goes first, so a task still staging removes its own output when it
        finds the marker gone (see :meth:`stage`); then the job's staging and uploads are removed.
        """
        fs, base = self._where(obj)
        job_ids = {p.job_id for p in parts if p is not None}
        if job_id:
            job_ids.add(job_id)
        self._end_jobs(obj, fs, base, sorted(job_ids), spec)
        log.info("aborted write to %s; staging removed", obj.full_name)

    # ------------------------------------------------------------------ the staging protocol
    def start_job(self, obj: DataObject, spec: WriteSpec, job_id: str) -> WriteSpec:
        """Driver side, before any task runs (Spark): mark the job live; tasks then check it.

        Returns the spec to ship to the tasks. ``commit``/``abort`` end the job.
        """
        fs, base = self._where(obj)
        self._mark_live(obj, fs, base, job_id)
        return replace(spec, options={**spec.options, "lease": True})

    def _use_boto3(self, obj: DataObject, fs: pafs.FileSystem) -> bool:
        """S3 staging is listed and deleted with boto3 when it is installed: batched, and without
        the folder-marker objects pyarrow re-creates after each delete."""
        import importlib.util

        from ._s3 import S3_SCHEMES

        return (_is_object_store(fs) and "://" in obj.location
                and obj.location.partition("://")[0].lower() in S3_SCHEMES
                and importlib.util.find_spec("boto3") is not None)

    def _mark_live(self, obj: DataObject, fs, base: str, job_id: str) -> None:
        path = f"{base}/{STAGING}/{job_id}{LIVE}"
        if self._use_boto3(obj, fs):
            from ._s3 import put_marker

            put_marker(self.store, path, b"", what=f"the live marker of a write to {obj.full_name!r}")
        elif _is_object_store(fs):
            with fs.open_output_stream(path) as f:
                f.write(b"")
        else:
            for attempt in range(10):
                try:
                    os.makedirs(posixpath.dirname(path), exist_ok=True)
                    with open(path, "wb"):
                        pass
                    return
                except (FileNotFoundError, FileExistsError):
                    # another writer removed the empty staging folder just now (makedirs then sees
                    # EEXIST for a folder that is gone by the time it checks): create it again
                    if attempt == 9:
                        raise

    def _is_live(self, obj: DataObject, fs, base: str, job_id: str) -> bool:
        path = f"{base}/{STAGING}/{job_id}{LIVE}"
        if self._use_boto3(obj, fs):
            from ._s3 import key_exists

            return key_exists(self.store, path, what=f"the live marker of a write to {obj.full_name!r}")
        return fs.get_file_info(path).type == pafs.FileType.File

    def _unmark(self, obj: DataObject, fs, base: str, job_ids: list[str]) -> None:
        paths = [f"{base}/{STAGING}/{j}{LIVE}" for j in job_ids]
        if self._use_boto3(obj, fs):
            from ._s3 import delete_paths

            delete_paths(self.store, paths, what=repr(obj.full_name))
            return
        for path in paths:
            try:
                fs.delete_file(path)
            except FileNotFoundError:
                pass

    def _remove_own(self, obj: DataObject, fs, staging: str, stem: str, multipart: Any) -> None:
        """A task whose job ended while it staged: remove what it wrote, the files named ``stem*``
        (best effort, logged: the next write or ``dao.cleanup`` removes what remains)."""
        try:
            if multipart is not None:
                multipart.abort_quietly()
                return
            infos = fs.get_file_info(pafs.FileSelector(staging, recursive=True, allow_not_found=True))
            mine = [fi.path for fi in infos
                    if fi.type == pafs.FileType.File and posixpath.basename(fi.path).startswith(stem)]
            if mine and self._use_boto3(obj, fs):
                from ._s3 import delete_paths

                delete_paths(self.store, mine, what=repr(obj.full_name))
            else:
                for path in mine:
                    fs.delete_file(path)
            if not _is_object_store(fs):
                _remove_empty_dirs(fs, staging, {posixpath.dirname(p[len(staging) + 1:]) for p in mine})
                _rmdir(staging)
        except (OSError, DaoError) as exc:
            log.warning("%s: could not remove the output of a task of an ended job (the next write or "
                        "dao.cleanup removes it): %s", obj.full_name, exc)

    def _end_jobs(self, obj: DataObject, fs, base: str, job_ids: list[str], spec: WriteSpec | None) -> None:
        """Unmark the jobs, then remove their staging and uploads, and any dead job's (best effort:
        a failure here is logged, never raised over a commit that succeeded)."""
        try:
            self._unmark(obj, fs, base, job_ids)
        except (OSError, DaoError) as exc:
            log.warning("%s: could not remove the live marker of job(s) %s: %s", obj.full_name, job_ids, exc)
        try:
            self._sweep(obj, fs, base, own=job_ids, older_than=self._stale_hours(), spec=spec)
        except (OSError, DaoError) as exc:
            log.warning("%s; the next write or dao.cleanup(%r) retries; on S3 also add a bucket lifecycle "
                        "rule (AbortIncompleteMultipartUpload)", exc, obj.full_name)

    def _stale_hours(self) -> float:
        value = self.store.configs.get("stale_staging_hours", STALE_STAGING_HOURS)
        try:
            hours = float(value)
        except (TypeError, ValueError):
            hours = -1.0
        if hours < 0 or isinstance(value, bool):
            raise DaoError(f"store {self.store.name!r}: stale_staging_hours={value!r} must be a number of "
                           "hours >= 0")
        return hours

    @_wrap_io("cleaning up the staging of")
    def cleanup(self, obj: DataObject, *, older_than: float | None = None) -> list[str]:
        """Remove the staging and uncompleted uploads of dead jobs: ended ones (committed or aborted,
        whatever a late task left), and running ones with nothing newer than ``older_than`` hours
        (default: the store's ``stale_staging_hours``, 24). Returns what was removed.

        >>> dao.cleanup("silver.events", older_than=48)          # doctest: +SKIP
        """
        hours = self._stale_hours() if older_than is None else float(older_than)
        if hours < 0:
            raise DaoError(f"cleaning up {obj.full_name!r}: older_than={older_than!r} must be >= 0 hours")
        fs, base = self._where(obj)
        return self._sweep(obj, fs, base, own=[], older_than=hours, spec=None)

    def _sweep(self, obj: DataObject, fs, base: str, *, own: list[str], older_than: float,
               spec: WriteSpec | None) -> list[str]:
        """Remove the staged files and uploads of the jobs in ``own`` and of every dead job.

        Safe next to running writers: the uploads are listed first, then the staging folder, and a
        job that looks dead is checked again just before removal; a running job marks itself live
        before it stages anything, so its marker is always seen.
        """
        import time

        now = time.time()
        boto = self._use_boto3(obj, fs)
        root = f"{base}/{STAGING}"
        uploads: list[tuple[str, str, float]] = []
        if boto:
            from ._s3 import list_uploads

            uploads = [u for u in list_uploads(self.store, base, what=repr(obj.full_name))
                       if _UPLOAD_TAG.match(posixpath.basename(u[0]))
                       or posixpath.basename(u[0]).startswith(tuple(_job_tag(j) for j in own))]
        staged, markers, loose = self._scan_staging(obj, fs, root, boto)
        newest: dict[str, float] = {j: max(t for _, t in items) for j, items in staged.items() if items}
        for key, _, initiated in uploads:
            m = _UPLOAD_TAG.match(posixpath.basename(key))
            if m:
                newest[m.group(1)] = max(newest.get(m.group(1), 0.0), initiated)
        limit = now - older_than * 3600
        own_set = set(own)

        def live(job: str) -> bool:
            if job in own_set or job not in markers:
                return False
            return max(markers[job], newest.get(job, 0.0), newest.get(job[:8], 0.0)) > limit

        live_jobs = {j for j in markers if live(j)}
        dead_dirs = [j for j in staged if j not in live_jobs]
        # a job that started after the listing: its marker exists now
        dead_dirs = [j for j in dead_dirs if j in own_set or j in markers
                     or not self._is_live(obj, fs, base, j)]
        live_tags = {j[:8] for j in live_jobs}
        own_tags = tuple(_job_tag(j) for j in own)
        dead_uploads = []
        for key, upload_id, _ in uploads:
            name = posixpath.basename(key)
            m = _UPLOAD_TAG.match(name)
            if (own_tags and name.startswith(own_tags)) or (m and m.group(1) not in live_tags):
                dead_uploads.append((key, upload_id))
        stale_markers = [j for j in markers if j not in live_jobs and j not in own_set]

        removed: list[str] = []
        scheme = obj.location.partition("://")[0] + "://" if "://" in obj.location else ""
        if dead_uploads:
            from ._s3 import abort_uploads

            abort_uploads(self.store, dead_uploads, what=repr(obj.full_name))
            removed += [f"{scheme}{k} (uncompleted upload)" for k, _ in dead_uploads]
            log.info("%s: aborted %d uncompleted upload(s) of ended or dead jobs", obj.full_name, len(dead_uploads))
        doomed = [p for j in dead_dirs for p, _ in staged[j]]
        doomed += [f"{root}/{j}{LIVE}" for j in stale_markers] + loose
        if doomed:
            if boto:
                from ._s3 import delete_paths

                delete_paths(self.store, doomed, what=repr(obj.full_name))
            elif _is_object_store(fs):  # pyarrow alone (no boto3): it may leave folder markers
                for job in dead_dirs:
                    fs.delete_dir(f"{root}/{job}")
                for path in [f"{root}/{j}{LIVE}" for j in stale_markers]:
                    fs.delete_file(path)
            else:
                import shutil

                for job in dead_dirs:
                    shutil.rmtree(f"{root}/{job}", ignore_errors=True)
                for path in [f"{root}/{j}{LIVE}" for j in stale_markers] + loose:
                    try:
                        os.remove(path)
                    except FileNotFoundError:
                        pass
            removed += [f"{scheme}{root}/{j}/" for j in dead_dirs]
            removed += [f"{scheme}{root}/{j}{LIVE}" for j in stale_markers] + [f"{scheme}{p}" for p in loose]
        if not _is_object_store(fs):
            _rmdir(root)  # only when empty: never removes what a concurrent writer just created
        elif not boto:
            # pyarrow re-creates the parent's folder marker after each delete; without boto3 there is
            # no marker-free delete, so remove the empty staging folder as pyarrow does (not safe
            # next to a concurrent writer: install boto3 for that)
            try:
                if not fs.get_file_info(pafs.FileSelector(root, allow_not_found=True)):
                    fs.delete_dir(root)
            except OSError:
                pass
        return removed

    def _scan_staging(self, obj: DataObject, fs, root: str, boto: bool
                      ) -> tuple[dict[str, list[tuple[str, float]]], dict[str, float], list[str]]:
        """The staging folder: ({job: [(path, mtime)]}, {job: live marker's mtime}, loose paths)."""
        staged: dict[str, list[tuple[str, float]]] = {}
        markers: dict[str, float] = {}
        loose: list[str] = []
        if boto:
            from ._s3 import list_keys

            entries = list_keys(self.store, root, what=repr(obj.full_name))
        else:
            try:
                infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
            except (NotADirectoryError, FileNotFoundError):
                infos = []
            entries = []
            for fi in infos:
                mtime = fi.mtime.timestamp() if fi.mtime else 0.0
                if fi.type == pafs.FileType.File:
                    entries.append((fi.path, mtime))
                elif fi.type == pafs.FileType.Directory and "/" not in fi.path[len(root):].strip("/"):
                    entries.append((fi.path + "/", mtime))  # a job folder (its age counts, even empty)
        for path, mtime in entries:
            rel = path[len(root):].lstrip("/") if path.startswith(root) else ""
            if not rel:
                loose.append(path)  # the staging folder's own marker object
                continue
            job, sep, _ = rel.partition("/")
            if sep:
                staged.setdefault(job, []).append((path, mtime))
            elif rel.endswith(LIVE):
                markers[rel[: -len(LIVE)]] = mtime
            else:
                staged.setdefault(job, []).append((path, mtime))
        return staged, markers, loose

    # ------------------------------------------------------------------ management
    @_wrap_io("checking")
    def exists(self, obj: DataObject) -> bool:
        fs, base = self._where(obj)
        if _list_files(fs, base):
            return True
        if not _is_object_store(fs):  # a misconfigured store is an error, not "no data"
            blocked = not_a_folder_error(self.store, base, what=f"checking {obj.full_name!r}")
            if blocked is not None:
                raise blocked
        return False

    @_wrap_io("deleting")
    def delete(self, obj: DataObject) -> bool:
        """Remove the object's folder and everything in it; False when there was nothing."""
        fs, base = self._where(obj)
        self._check_local(obj, fs, base, action="deleting")
        info = fs.get_file_info(base)
        if info.type == pafs.FileType.NotFound:
            # nothing there only if the place exists: a missing bucket, or a regular file where the
            # store's folder should be, is the same error a read or write of the object gives
            if not _is_object_store(fs):
                blocked = not_a_folder_error(self.store, base, what=f"deleting {obj.full_name!r}")
                if blocked is not None:
                    raise blocked
            else:
                bucket, _, key = base.partition("/")
                if bucket and fs.get_file_info(bucket).type == pafs.FileType.NotFound:
                    endpoint = self.store.configs.get("endpoint_url") or "AWS S3"
                    raise DaoError(
                        f"deleting {obj.full_name!r} (store {obj.store_name!r}), bucket {bucket!r}, key {key!r} "
                        f"failed: bucket {bucket!r} does not exist at {endpoint}; create it or fix 'bucket' in "
                        "the store's configs"
                    )
            return False
        if info.type == pafs.FileType.File:
            fs.delete_file(base)
        else:
            fs.delete_dir(base)
        log.info("deleted %s at %s", obj.full_name, obj.location)
        return True

    def list_objects(self) -> list[str]:
        """Names of the visible top-level folders in the store's location."""
        root = self.store.location
        if root is None:
            return []
        fs, base = filesystem_for(self.store, root)
        out = []
        try:
            listing = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
        except io_errors() as exc:
            if not _is_object_store(fs) and os.path.isfile(base):
                raise DaoError(
                    f"listing store {self.store.name!r}: its path {base} is a regular file, not a folder. Point "
                    f"the store's 'path' in the catalog ({self.store.source}) at a folder"
                ) from exc
            raise DaoError(f"listing store {self.store.name!r} at {root} failed: {_describe(exc)}") from exc
        for fi in listing:
            name = posixpath.basename(fi.path)
            if fi.type == pafs.FileType.Directory and not _hidden(name):
                out.append(name)
        return sorted(out)


def _file_stem(job_id: str, task: str) -> str:
    """``part-<job>-<task>``: data file names start with their job's tag (see :func:`_job_tag`)."""
    return f"{_job_tag(job_id)}{task}"


def _job_tag(job_id: str) -> str:
    return f"part-{job_id[:8]}-"


def _remove_empty_dirs(fs, base: str, rels: set[str]) -> None:
    """Remove the local folders ``rels`` (and their parents below ``base``) that are empty.

    ``rmdir`` removes a folder only if it is empty at that instant: a file another writer has just
    moved in is never deleted (a recursive delete after an emptiness check would race).
    """
    for rel in sorted(rels, key=lambda r: -r.count("/")):
        while rel:
            if not _rmdir(f"{base}/{rel}"):
                break
            rel = posixpath.dirname(rel)


def _rmdir(path: str) -> bool:
    try:
        os.rmdir(path)
        return True
    except OSError:
        return False


def _csv_typed(t: pa.DataType) -> bool:
    # Timestamps are left to pyarrow's inference (naive or with offset) and cast afterwards:
    # asking the CSV parser for a UTC type rejects values without an explicit offset.
    return not pa.types.is_timestamp(t)


def _json_field(f: pa.Field) -> pa.Field:
    # pyarrow's JSON reader cannot parse "2024-01-31" as a date or "1.10" as a decimal (they are how
    # dates and decimals are written): read them as text; conform() casts them to the declared type.
    if pa.types.is_date(f.type) or pa.types.is_decimal(f.type):
        return pa.field(f.name, pa.string())
    return f


def _columns_option(value: Any) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        cols = [c.strip() for c in value.split(",") if c.strip()]
    else:
        cols = [str(c) for c in value]
    return cols or None


def _to_json_lines(table: pa.Table) -> bytes:
    import json

    lines = []
    for row in table.to_pylist():
        lines.append(json.dumps(row, default=_json_default, ensure_ascii=False))
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")


def _json_default(value: Any) -> Any:
    import datetime
    import decimal

    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    raise TypeError(f"cannot write {type(value).__name__} to json")
