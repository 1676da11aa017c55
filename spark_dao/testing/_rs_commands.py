"""COPY FROM S3 and UNLOAD, executed by the Redshift test server on the client's own backend
connection (so they are part of the client's transaction), against the configured S3 endpoint.

COPY: the authorization is checked (a role must be one the server was started with, keys must be
the endpoint's), the Parquet files named by the manifest (or under the prefix) are read with pyarrow,
written as CSV into the server's temporary directory and loaded with a server-side
``COPY t (cols) FROM '<file>' WITH (FORMAT csv)``. Columns map by position, as in Redshift. CSV
files are handed to PostgreSQL as they are (decompressed, header lines dropped). A data
error becomes Redshift's "Load into table 'x' failed" error plus a row in ``stl_load_errors``,
written on a separate connection so it survives the client's rollback.

UNLOAD: the inner SELECT runs on the client's connection; its rows become Parquet (or CSV) part
files named like Redshift's (``<prefix>0000_part_00.parquet``; ``<prefix>000.parquet`` with
PARALLEL OFF) and, with MANIFEST, a ``<prefix>manifest`` JSON.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import require
from ._pgwire import Column, PgError, QueryRunner, error_fields, quote_ident, quote_literal
from ._rs_sql import Authorization, CopyCommand, UnloadCommand

_log = logging.getLogger("spark_dao.testing.redshift")

LOAD_FAILED = "Load into table '{table}' failed.  Check 'stl_load_errors' system table for details."
#: PostgreSQL SQLSTATE of a COPY data error -> Redshift load error code (stl_load_errors.err_code)
_ERR_CODES = {"22P02": 1207, "22003": 1216, "22001": 1204, "23502": 1213, "22007": 1206, "22008": 1206,
              "22021": 1220, "22P04": 1214}
_query_ids = iter(range(100_000, 10**9))
_query_lock = threading.Lock()


def _next_query_id() -> int:
    with _query_lock:
        return next(_query_ids)


class RedshiftError(Exception):
    """An error the proxy sends to the client as an ErrorResponse (``fields``: S, C, M, D...)."""

    def __init__(self, message: str, *, sqlstate: str = "XX000", detail: str | None = None) -> None:
        super().__init__(message)
        self.fields = error_fields(sqlstate, message, detail=detail)


@dataclass
class S3Config:
    endpoint_url: str | None
    access_key: str | None
    secret_key: str | None = field(repr=False)
    region: str
    iam_roles: tuple[str, ...]
    _client: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                boto3 = require("boto3", "redshift-test")
                from botocore.config import Config

                self._client = boto3.session.Session().client(
                    "s3", endpoint_url=self.endpoint_url, region_name=self.region,
                    aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
                )
            return self._client


@dataclass
class CommandContext:
    """What a command needs from the proxy connection it runs on."""

    runner: QueryRunner  # the client's backend connection, protocol state 'ready'
    s3: S3Config
    tempdir: Path
    user: str
    session_pid: int
    record_load_error: Callable[[dict[str, Any]], None]  # writes one stl_load_errors row elsewhere


@dataclass
class Outcome:
    tag: str
    notices: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------- S3 helpers
def _split(url: str) -> tuple[str, str]:
    rest = url.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    return bucket, key


def check_authorization(ctx: CommandContext, auth: Authorization, what: str) -> None:
    s3 = ctx.s3
    if not s3.endpoint_url:
        raise RedshiftError(f"{what} needs S3, and this Redshift test server has no S3 endpoint: start "
                            "RedshiftTestServer(s3_endpoint_url=..., aws_access_key_id=..., "
                            "aws_secret_access_key=...)")
    principal = f"arn:aws:redshift:{s3.region}:123456789012:dbuser:local/{ctx.user}"
    if auth.default_role and not s3.iam_roles:
        raise RedshiftError("No default IAM role is associated with the cluster (the Redshift test server "
                            "was started without iam_roles)")
    for role in auth.iam_roles:
        if role not in s3.iam_roles:
            raise RedshiftError(f"User {principal} is not authorized to assume IAM Role {role}",
                                detail=f"error:  User {principal} is not authorized to assume IAM Role {role}\n"
                                       f"code:      8001\ncontext:   IAM Role={role}")
    if auth.access_key is not None:
        if auth.access_key != s3.access_key:
            raise RedshiftError("S3ServiceException:The AWS Access Key Id you provided does not exist in our "
                                "records.,Status 403,Error InvalidAccessKeyId")
        if auth.secret_key != s3.secret_key:
            raise RedshiftError("S3ServiceException:The request signature we calculated does not match the "
                                "signature you provided. Check your key and signing method.,Status 403,"
                                "Error SignatureDoesNotMatch")


def _s3_error(exc: Exception, url: str) -> RedshiftError:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
    status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", "")
    return RedshiftError(f"S3ServiceException:{code},Status {status},Error {code} ({url})")


def _get(ctx: CommandContext, url: str) -> bytes:
    bucket, key = _split(url)
    try:
        return ctx.s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:  # botocore ClientError and friends
        raise _s3_error(exc, url) from None


def _list(ctx: CommandContext, url: str) -> list[tuple[str, int]]:
    bucket, prefix = _split(url)
    found: list[tuple[str, int]] = []
    try:
        for page in ctx.s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found += [(f"s3://{bucket}/{o['Key']}", o["Size"]) for o in page.get("Contents", [])]
    except Exception as exc:
        raise _s3_error(exc, url) from None
    return found


def _abort_transaction(ctx: CommandContext) -> None:
    """Redshift aborts the transaction a failed statement ran in: make PostgreSQL's match."""
    if ctx.runner.status == b"T":
        try:
            ctx.runner.query("DO $$BEGIN RAISE EXCEPTION 'statement failed'; END$$")
        except PgError:
            pass


def _refuse_in_failed_transaction(ctx: CommandContext) -> None:
    if ctx.runner.status == b"E":
        raise RedshiftError("current transaction is aborted, commands ignored until end of transaction block",
                            sqlstate="25P02")


# ----------------------------------------------------------------------------------------- COPY
def run_copy(ctx: CommandContext, cmd: CopyCommand) -> Outcome:
    _refuse_in_failed_transaction(ctx)
    try:
        check_authorization(ctx, cmd.auth, "COPY")
        if cmd.format not in ("PARQUET", "CSV"):
            raise RedshiftError(f"COPY format {cmd.format} is not supported by the Redshift test server "
                                "(use FORMAT AS PARQUET or CSV)")
        if cmd.region and cmd.format == "PARQUET":
            raise RedshiftError("REGION argument is not supported for PARQUET based COPY")
        if cmd.region and cmd.region != ctx.s3.region:
            raise RedshiftError(f"S3ServiceException:The bucket you are attempting to access must be addressed "
                                f"using the specified endpoint (REGION '{cmd.region}', the endpoint's is "
                                f"'{ctx.s3.region}'),Status 301,Error PermanentRedirect")
        files = _copy_files(ctx, cmd)
    except RedshiftError:
        _abort_transaction(ctx)
        raise
    return _load(ctx, cmd, files)


def _copy_files(ctx: CommandContext, cmd: CopyCommand) -> list[str]:
    if cmd.manifest:
        try:
            manifest = json.loads(_get(ctx, cmd.source))
        except RedshiftError as exc:
            raise RedshiftError(f"Problem reading manifest file - {exc}") from None
        except ValueError:
            raise RedshiftError(f"Manifest file is not in correct json format ({cmd.source})") from None
        files = []
        for entry in manifest.get("entries", []):
            url = entry.get("url", "")
            if cmd.format == "PARQUET" and "content_length" not in (entry.get("meta") or {}):
                raise RedshiftError(f"Manifest entry for {url} is missing meta.content_length, which COPY "
                                    "from PARQUET requires")
            if not entry.get("mandatory", False):
                bucket, key = _split(url)
                try:
                    ctx.s3.client().head_object(Bucket=bucket, Key=key)
                except Exception:
                    continue
            files.append(url)
        return files
    files = [url for url, size in _list(ctx, cmd.source) if not url.endswith("/")]
    if not files:
        raise RedshiftError(f"The specified S3 prefix '{_split(cmd.source)[1]}' does not exist",
                            detail=f"context: {cmd.source}")
    return files


def _target_columns(ctx: CommandContext, cmd: CopyCommand) -> tuple[list[Column], int]:
    """(the columns the files' columns load into, in order; the table's oid for stl_load_errors.tbl)."""
    listed = ", ".join(cmd.columns) if cmd.columns is not None else "*"
    described = ctx.runner.query(f"SELECT {listed} FROM {cmd.table} LIMIT 0")
    oid = ctx.runner.query(f"SELECT {quote_literal(cmd.table)}::regclass::oid").rows[0][0]
    return described.columns, int(oid or 0)


#: Parquet type families each PostgreSQL column type accepts. Redshift refuses the rest ("incompatible
#: Parquet schema"); integer widths and decimal precisions are not checked here (more lenient).
_ACCEPTS = {
    21: ("int",), 23: ("int",), 20: ("int",), 1700: ("int", "decimal"),
    700: ("float", "int", "decimal"), 701: ("float", "int", "decimal"),
    25: ("string",), 1043: ("string",), 1042: ("string",), 16: ("bool",),
    1082: ("date", "timestamp"), 1114: ("timestamp", "date"), 1184: ("timestamp", "date"), 1083: ("time",),
}
_TYPE_NAMES = {21: "SMALLINT", 23: "INTEGER", 20: "BIGINT", 1700: "NUMERIC", 700: "REAL", 701: "DOUBLE PRECISION",
               25: "VARCHAR", 1043: "VARCHAR", 1042: "CHAR", 16: "BOOLEAN", 1082: "DATE", 1114: "TIMESTAMP",
               1184: "TIMESTAMPTZ", 1083: "TIME"}


def _family(typ: Any) -> str:
    import pyarrow.types as pat

    if pat.is_dictionary(typ):
        typ = typ.value_type
    for name, test in (("int", pat.is_integer), ("decimal", pat.is_decimal), ("float", pat.is_floating),
                       ("string", lambda t: pat.is_string(t) or pat.is_large_string(t)), ("bool", pat.is_boolean),
                       ("date", pat.is_date), ("timestamp", pat.is_timestamp), ("time", pat.is_time)):
        if test(typ):
            return name
    return "other"


def _check_types(url: str, table: Any, targets: list[Column]) -> None:
    for field_, column in zip(table.schema, targets, strict=True):
        accepted = _ACCEPTS.get(column.type_oid)
        if accepted is not None and _family(field_.type) not in accepted:
            raise RedshiftError(
                f"Spectrum Scan Error: File '{url}' has an incompatible Parquet schema for column "
                f"'{url}.{field_.name}'. Column type: {_TYPE_NAMES[column.type_oid]}, "
                f"Parquet schema: optional {field_.type} {field_.name}",
                detail=f"context: target column {column.name!r}")


def _load(ctx: CommandContext, cmd: CopyCommand, files: list[str]) -> Outcome:
    pa = require("pyarrow", "redshift-test")
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    own_transaction = ctx.runner.status == b"I"
    if own_transaction:  # COPY is atomic in Redshift, also outside a transaction block
        ctx.runner.query("BEGIN")
    loaded, table_oid = 0, 0
    csv_path = ctx.tempdir / f"copy-{uuid.uuid4().hex}.csv"
    try:
        targets, table_oid = _target_columns(ctx, cmd)
        n_target = len(targets)
        columns = f" ({', '.join(cmd.columns)})" if cmd.columns is not None else ""
        for url in files:
            if cmd.format == "CSV":
                with open(csv_path, "wb") as out:
                    out.write(_csv_body(cmd, _get(ctx, url)))
                os.chmod(csv_path, 0o644)
                loaded += _copy_file(ctx, cmd, columns, csv_path, url, _csv_options(cmd, targets))
                continue
            try:
                table = pq.read_table(io.BytesIO(_get(ctx, url)))
            except RedshiftError:
                raise
            except Exception as exc:
                raise _LoadFailure(url, 0, "", "", 1200, f"Invalid parquet file: {exc}") from None
            if table.num_columns != n_target:
                raise _LoadFailure(url, 0, "", "", 1202 if table.num_columns > n_target else 1203,
                                   "Unmatched number of columns between table and file. Table columns: "
                                   f"{n_target}, Data columns: {table.num_columns}")
            _check_types(url, table, targets)
            table = _csv_ready(pa, table, url)
            with open(csv_path, "wb") as out:
                pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False))
            os.chmod(csv_path, 0o644)
            loaded += _copy_file(ctx, cmd, columns, csv_path, url, "FORMAT csv")
    except _LoadFailure as failure:
        _finish_failed(ctx, own_transaction)
        failure.record(ctx, table_oid)
        raise RedshiftError(LOAD_FAILED.format(table=cmd.table_name), detail=failure.detail()) from None
    except PgError:
        _finish_failed(ctx, own_transaction)
        raise
    except RedshiftError:
        _finish_failed(ctx, own_transaction)
        raise
    finally:
        csv_path.unlink(missing_ok=True)
    if own_transaction:
        ctx.runner.query("COMMIT")
    return Outcome(f"COPY {loaded}", [f"Load into table '{cmd.table_name}' completed, {loaded} record(s) "
                                      "loaded successfully."])


def _copy_file(ctx: CommandContext, cmd: CopyCommand, columns: str, path: Path, url: str, options: str) -> int:
    """Server-side COPY of one local file on the client's connection; a data error -> _LoadFailure."""
    try:
        result = ctx.runner.query(f"COPY {cmd.table}{columns} FROM {quote_literal(str(path))} WITH ({options})")
    except PgError as exc:
        failure = _LoadFailure.from_pg(exc, url)
        if failure is None:
            raise
        raise failure from None
    return int(result.tag.split()[-1])


def _csv_body(cmd: CopyCommand, data: bytes) -> bytes:
    if cmd.compression == "GZIP":
        import gzip

        data = gzip.decompress(data)
    elif cmd.compression == "BZIP2":
        import bz2

        data = bz2.decompress(data)
    for _ in range(cmd.ignore_header):
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    return data


def _csv_options(cmd: CopyCommand, targets: list[Column]) -> str:
    options = ["FORMAT csv"]
    text_columns = [quote_ident(c.name) for c in targets if c.type_oid in (25, 1043, 1042)]
    if text_columns and cmd.null_as is None and "EMPTYASNULL" not in cmd.options:
        # Redshift loads an empty CHAR/VARCHAR field as '' (other types as NULL) unless EMPTYASNULL
        options.append(f"FORCE_NOT_NULL ({', '.join(text_columns)})")
    if cmd.delimiter is not None:
        options.append(f"DELIMITER {quote_literal(cmd.delimiter)}")
    if cmd.quote is not None:
        options.append(f"QUOTE {quote_literal(cmd.quote)}")
    if cmd.null_as is not None:
        options.append(f"NULL {quote_literal(cmd.null_as)}")
    return ", ".join(options)


def _finish_failed(ctx: CommandContext, own_transaction: bool) -> None:
    if own_transaction:
        ctx.runner.query("ROLLBACK")
    else:
        _abort_transaction(ctx)


def _csv_ready(pa: Any, table: Any, url: str) -> Any:
    """``table`` with dictionary columns decoded; nested and binary columns refused."""
    import pyarrow.types as pat

    arrays = []
    for i, column in enumerate(table.columns):
        typ = column.type
        if pat.is_dictionary(typ):
            column = column.cast(typ.value_type)
            typ = typ.value_type
        if pat.is_nested(typ) or pat.is_binary(typ) or pat.is_large_binary(typ) or pat.is_fixed_size_binary(typ):
            raise _LoadFailure(url, 0, table.column_names[i], str(typ), 1224,
                               f"Unsupported Parquet type {typ} (the test server loads scalar columns only)")
        arrays.append(column)
    return pa.table(arrays, names=[f"c{i}" for i in range(len(arrays))])


_COPY_CONTEXT = re.compile(r'COPY [^,]+, line (\d+)(?:, column ([^:]+?))?(?:: "(.*)")?$', re.S)


class _LoadFailure(Exception):
    def __init__(self, url: str, line: int, column: str, type_name: str, code: int, reason: str,
                 raw_value: str = "") -> None:
        super().__init__(reason)
        self.url, self.line, self.column, self.type_name = url, line, column, type_name
        self.code, self.reason, self.raw_value = code, reason, raw_value

    @classmethod
    def from_pg(cls, exc: PgError, url: str) -> _LoadFailure | None:
        where = exc.fields.get("W", "")
        for part in where.splitlines():
            m = _COPY_CONTEXT.match(part.strip())
            if m:
                return cls(url, int(m.group(1)), m.group(2) or "", "", _ERR_CODES.get(exc.sqlstate, 1216),
                           exc.message, m.group(3) or "")
        if exc.sqlstate.startswith(("22", "23")):
            return cls(url, 0, "", "", _ERR_CODES.get(exc.sqlstate, 1216), exc.message)
        return None

    def detail(self) -> str:
        return (f"\n-----------------------------------------------\n"
                f"error:  {self.reason}\ncode:      {self.code}\ncontext:   {self.url}\n"
                f"-----------------------------------------------")

    def record(self, ctx: CommandContext, table_oid: int) -> None:
        try:
            ctx.record_load_error({
                "userid": 100, "slice": 0, "tbl": table_oid, "starttime": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                "session": ctx.session_pid, "query": _next_query_id(), "filename": self.url,
                "line_number": self.line, "colname": self.column, "type": self.type_name[:10],
                "col_length": "", "position": 0, "raw_line": "", "raw_field_value": self.raw_value[:1024],
                "err_code": self.code, "err_reason": self.reason[:100], "is_partial": 0, "start_offset": 0,
            })
        except Exception:  # the load error is what the client must see; the log says why the row is missing
            _log.exception("could not record a row in stl_load_errors")


# --------------------------------------------------------------------------------------- UNLOAD
def run_unload(ctx: CommandContext, cmd: UnloadCommand) -> Outcome:
    from ._rs_unload import unload

    _refuse_in_failed_transaction(ctx)
    try:
        check_authorization(ctx, cmd.auth, "UNLOAD")
        if cmd.format not in ("PARQUET", "CSV"):
            raise RedshiftError(f"UNLOAD format {cmd.format} is not supported by the Redshift test server "
                                "(use FORMAT AS PARQUET or CSV)")
    except RedshiftError:
        _abort_transaction(ctx)
        raise
    result = ctx.runner.query(cmd.query)  # a PgError here is the client's error, as in Redshift
    try:
        count = unload(ctx, cmd, result)
    except RedshiftError:
        _abort_transaction(ctx)
        raise
    return Outcome(f"UNLOAD {count}", [f"UNLOAD completed, {count} record(s) unloaded successfully."])


def text_value(type_oid: int, text: str | None) -> Any:
    """A PostgreSQL text-format value as Python (for the Parquet writer)."""
    if text is None:
        return None
    if type_oid == 16:
        return text == "t"
    if type_oid in (20, 21, 23, 26):
        return int(text)
    if type_oid in (700, 701):
        return float(text)
    if type_oid == 1700:
        return decimal.Decimal(text)
    if type_oid == 1082:
        return dt.date.fromisoformat(text)
    if type_oid in (1114, 1184):
        return dt.datetime.fromisoformat(text)
    if type_oid == 1083:
        return dt.time.fromisoformat(text)
    return text
