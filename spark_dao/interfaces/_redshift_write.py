"""The commit of a Redshift write: one transaction that loads the staged Parquet files.

    BEGIN;                                   -- (redshift_connector: autocommit off)
    CREATE TABLE IF NOT EXISTS target (...)  -- a missing table, from the Arrow schema
    LOCK target;                             -- writers of one table queue here
    CREATE TEMP TABLE stage (LIKE target);
    COPY stage (col, ...) FROM '<manifest>' IAM_ROLE '...' FORMAT AS PARQUET MANIFEST;
    INSERT INTO target (cols) SELECT cols FROM stage;            -- append
    DELETE FROM target; INSERT ...;                              -- overwrite (never TRUNCATE/DROP)
    ... dedupe, stale rows, MERGE / DELETE USING + INSERT ...    -- upsert
    COMMIT;

A serialization conflict (Redshift error 1023) reruns the whole transaction with backoff, then is a
:class:`~spark_dao.errors.WriteConflict`. A failed COPY is reported with its ``stl_load_errors``
rows. Whatever happens, the job's staged files and manifest are deleted afterwards.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..catalog.model import DataObject
from ..errors import DaoError, DuplicateKeys
from . import _redshift_sql as q
from ._redshift_conn import (
    Race,
    RedshiftOptions,
    connection,
    describe_load_errors,
    driver_errors,
    error_fields,
    error_text,
    execute,
    fetch,
    is_conflict,
    load_errors,
    with_retries,
)
from .base import StagedFile, StagedPart, WriteResult, WriteSpec

log = logging.getLogger("spark_dao.redshift")

_TASK_RE = re.compile(r"^part-[0-9a-f]{8}-([0-9a-f]{10})-\d+\.parquet$")


@dataclass(frozen=True)
class Column:
    """A stored column: name, ``information_schema`` data type, VARCHAR length, numeric precision/scale."""

    name: str
    data_type: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None

    @property
    def sql_type(self) -> str:
        if self.length and "char" in self.data_type:
            return f"VARCHAR({self.length})"
        if self.data_type in ("numeric", "decimal") and self.precision:
            return f"DECIMAL({self.precision},{self.scale or 0})"
        return self.data_type.upper()


def stored_columns(cursor: Any, schema: str, table: str) -> list[Column]:
    """The table's columns in order; ``[]`` when there is no such table."""
    rows = fetch(cursor, "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale "
                         "FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                         "ORDER BY ordinal_position", [schema, table])
    return [Column(str(r[0]), str(r[1]), *(int(v) if v is not None else None for v in r[2:5])) for r in rows]


class _CopyFailed(Exception):
    def __init__(self, exc: BaseException) -> None:
        super().__init__(error_text(exc))


def _staged_lengths(files: Sequence[StagedFile]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in files:
        for col, n in (json.loads(f.stats).get("max_len", {}) if f.stats else {}).items():
            out[col] = max(out.get(col, 0), int(n))
    return out


def write_manifest(options: RedshiftOptions, job_id: str, files: Sequence[StagedFile], *, what: str) -> str:
    """The COPY manifest naming exactly ``files`` (with their sizes); returns its URL."""
    from ._s3 import put_marker

    prefix = options.job_prefix(job_id)
    entries = [{"url": f"{prefix}/{f.path}", "mandatory": True, "meta": {"content_length": int(f.size)}}
               for f in files]
    url = f"{prefix}/manifest.json"
    put_marker(options.staging_store(), url, json.dumps({"entries": entries}).encode(), what=what)
    return url


LIVE_MARKER = "_live"


def _marker(options: RedshiftOptions, job_id: str) -> tuple[Any, str, str]:
    from ._s3settings import S3Settings, split_location

    bucket, key = split_location(options.job_prefix(job_id))
    return S3Settings.from_store(options.staging_store()).boto3_client(), bucket, f"{key}/{LIVE_MARKER}"


def mark_job_live(options: RedshiftOptions, job_id: str) -> None:
    """Write the job's live marker (the driver, before any Spark task stages)."""
    client, bucket, key = _marker(options, job_id)
    client.put_object(Bucket=bucket, Key=key, Body=b"")


def job_is_live(options: RedshiftOptions, job_id: str) -> bool:
    """Whether the job's live marker is still there (a task, before and after it stages)."""
    client, bucket, key = _marker(options, job_id)
    try:
        client.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        from ._s3 import MISSING_CODES, error_code

        if error_code(exc) in MISSING_CODES:
            return False
        raise
    return True


def remove_prefix(options: RedshiftOptions, job_id: str, *, what: str) -> int:
    """End the job (its live marker goes first, so a task still staging removes its own files),
    then delete everything under ``<s3_temp_dir>/<job id>/``; returns how many objects."""
    from ._s3 import delete_paths, list_keys

    store = options.staging_store()
    client, bucket, key = _marker(options, job_id)
    try:
        client.delete_object(Bucket=bucket, Key=key)
    except Exception as exc:  # noqa: BLE001 - the listing below deletes it too
        log.debug("%s: could not delete the live marker %s: %s", what, key, type(exc).__name__)
    keys = [k for k, _ in list_keys(store, options.job_prefix(job_id), what=what)]
    if keys:
        delete_paths(store, keys, what=what)
    return len(keys)


def commit_write(itf: Any, obj: DataObject, parts: list[StagedPart], spec: WriteSpec) -> WriteResult:
    """Load the parts in one transaction (module docstring); staged files are removed in every case."""
    options = RedshiftOptions.from_store(itf.store)
    parts = [p for p in parts if p is not None]
    files = [f for p in parts for f in p.files]
    job_ids = sorted({p.job_id for p in parts})
    what = f"writing {obj.full_name!r} (store {obj.store_name!r})"
    try:
        manifest = write_manifest(options, job_ids[0], files, what=what) if files else None
        tasks = _task_order(parts)
        lengths = _staged_lengths(files)
        _widen_varchars(options, spec, lengths, what=what)
        try:
            staged_rows = sum(f.rows for f in files)
            result = with_retries(lambda attempt: _transaction(options, obj, spec, manifest, tasks, lengths,
                                                               staged_rows),
                                  what=what, retries=int(spec.options.get("max_retries", 4)))
        except driver_errors() as exc:  # the server's fields, not the driver's dict, and no SQL text
            raise DaoError(f"{what}: {error_text(exc)}. Nothing was committed; the table is unchanged") from None
        except _CopyFailed as exc:
            rows = load_errors(options, options.job_prefix(job_ids[0]))
            raise DaoError(
                f"{what}: COPY of the staged data into {_table_name(spec)} failed: {exc}. {describe_load_errors(rows)}. "
                "Nothing was committed; the table is unchanged"
            ) from None
    finally:
        for job in job_ids:
            try:
                remove_prefix(options, job, what=what)
            except DaoError as exc:
                log.warning("%s: could not remove the staged files under %s (a lifecycle rule or "
                            "dao.cleanup_temp removes them): %s", what, options.job_prefix(job), exc)
    log.info("%s", result)
    return result


def _table_name(spec: WriteSpec) -> str:
    schema, table = spec.options["table"]
    return f"{schema}.{table}"


def _task_order(parts: list[StagedPart]) -> dict[str, int]:
    """Task id (from the staged file names) -> its part's position: the batch order across tasks."""
    order: dict[str, int] = {}
    for i, p in enumerate(parts):
        for f in p.files:
            m = _TASK_RE.match(f.path.rsplit("/", 1)[-1])
            if m:
                order.setdefault(m.group(1), i)
    return order


def _widen_varchars(options: RedshiftOptions, spec: WriteSpec, lengths: dict[str, int], *, what: str) -> None:
    """VARCHAR columns of an existing table too short for the staged values are widened first, each
    in its own statement: Redshift cannot alter a column inside a transaction block."""
    if not lengths:
        return
    schema, table = spec.options["table"]
    with connection(options) as conn:
        cur = conn.cursor()
        stored = {c.name: c for c in stored_columns(cur, schema, table)}
        conn.rollback()
        conn.autocommit = True
        for col, longest in sorted(lengths.items()):
            c = stored.get(col)
            if c is None or not c.length or "char" not in c.data_type or longest <= c.length:
                continue
            size = q.varchar_size(longest)
            log.info("%s: widening %s.%s from VARCHAR(%d) to VARCHAR(%d) (a staged value has %d bytes)",
                     what, table, col, c.length, size, longest)
            try:
                execute(cur, f"ALTER TABLE {q.table_ident(schema, table)} ALTER COLUMN {q.ident(col)} "
                             f"TYPE VARCHAR({size})")
            except driver_errors() as exc:
                raise DaoError(
                    f"{what}: column {col!r} is VARCHAR({c.length}) but the data has values of {longest} bytes, and "
                    f"widening it failed: {error_text(exc)}. Widen it by hand (ALTER TABLE ... ALTER COLUMN ... "
                    f"TYPE VARCHAR({size})); nothing was written"
                ) from None


def _copy(cur: Any, sql: str) -> None:
    """One COPY; a failure other than a serialization conflict is a load failure (``stl_load_errors``)."""
    try:
        execute(cur, sql)
    except driver_errors() as exc:
        if is_conflict(exc):
            raise
        raise _CopyFailed(exc) from None


def _transaction(options: RedshiftOptions, obj: DataObject, spec: WriteSpec, manifest: str | None,
                 tasks: dict[str, int], lengths: dict[str, int], staged_rows: int = 0) -> WriteResult:
    o = spec.options
    schema, table = o["table"]
    target = q.table_ident(schema, table)
    columns = [f.name for f in spec.schema]
    upsert = o.get("upsert")
    mode = "upsert" if upsert is not None else spec.mode
    location = f"redshift://{options.host}:{options.port}/{options.database}/{schema}.{table}"
    with connection(options) as conn:
        cur = conn.cursor()
        existed = bool(stored_columns(cur, schema, table))
        if existed and spec.mode == "errorifexists":
            raise DaoError(f"object {obj.full_name!r} already has a table {schema}.{table} (store "
                           f"{obj.store_name!r}); use mode='append', 'overwrite' or 'ignore'. Nothing was written")
        if existed and spec.mode == "ignore":
            return WriteResult(object=obj.full_name, mode=spec.mode, location=location, skipped=True)
        if not existed:
            try:
                execute(cur, create_table_sql(spec, lengths))
            except driver_errors() as exc:
                f = error_fields(exc)
                if f.get("C") in ("23505", "42P07") or "already exists" in f.get("M", ""):
                    # another load created the table meanwhile: rerun, now appending to it
                    raise Race(f"table {schema}.{table} was created by a concurrent load") from None
                raise
        execute(cur, f"LOCK {target}")
        stage = q.ident(f"dao_stage_{o['job_tag']}")
        stored = {c.name: c.sql_type for c in stored_columns(cur, schema, table)}
        if not stored:
            # a concurrent load created the table after this transaction's snapshot: CREATE TABLE IF
            # NOT EXISTS skipped it and LOCK found it, but its columns stay invisible to this
            # (serializable) transaction: rerun, now appending to it
            raise Race(f"table {schema}.{table} was created by a concurrent load")
        copy_cols = [*columns, q.TASK_COL, q.ROW_COL] if upsert is not None else columns
        if upsert is None and list(stored) == copy_cols:
            # the staged files hold exactly the table's columns in its order: COPY straight into it
            # (no stage table, no second pass); a failed COPY aborts the transaction, the DELETE of
            # an overwrite with it, so the table is unchanged
            deleted = max(execute(cur, f"DELETE FROM {target}").rowcount, 0) if spec.mode == "overwrite" else 0
            if manifest is not None:
                _copy(cur, q.copy_sql(target, copy_cols, manifest,
                                      q.auth_clause(options.iam_role_arn, options.copy_credentials())))
            conn.commit()
            return WriteResult(object=obj.full_name, mode=mode, location=location, rows_written=staged_rows,
                               rows_inserted=staged_rows, rows_deleted=deleted)
        if list(stored) == copy_cols:
            execute(cur, f"CREATE TEMP TABLE {stage} (LIKE {target})")
        else:
            # the staged files' columns, in their order: a Parquet COPY matches the file's columns to the
            # table's by position and count (an upsert's batch also carries its task and row number)
            types = {**stored, q.TASK_COL: "VARCHAR(16)", q.ROW_COL: "BIGINT"}
            execute(cur, f"CREATE TEMP TABLE {stage} ({', '.join(f'{q.ident(c)} {types[c]}' for c in copy_cols)})")
        if manifest is not None:
            _copy(cur, q.copy_sql(stage, copy_cols, manifest,
                                  q.auth_clause(options.iam_role_arn, options.copy_credentials())))
        if upsert is not None:
            result = _upsert(cur, obj, target, stage, columns, upsert, tasks)
            result = WriteResult(object=obj.full_name, mode="upsert", location=location, **result)
        else:
            deleted = 0
            if spec.mode == "overwrite":
                deleted = max(execute(cur, f"DELETE FROM {target}").rowcount, 0)
            execute(cur, f"INSERT INTO {target} ({q.columns_sql(columns)}) SELECT {q.columns_sql(columns)} FROM {stage}")
            written = max(cur.rowcount, 0)
            result = WriteResult(object=obj.full_name, mode=mode, location=location, rows_written=written,
                                 rows_inserted=written, rows_deleted=deleted)
        execute(cur, f"DROP TABLE {stage}")
        conn.commit()
    return result


def create_table_sql(spec: WriteSpec, lengths: dict[str, int]) -> str:
    """The DDL of a missing table: types from the Arrow schema, VARCHAR sized from the staged data,
    the catalog's ``column_types`` overrides, DISTKEY / DISTSTYLE / SORTKEY."""
    o = spec.options
    schema, table = o["table"]
    overrides = o.get("column_types") or {}
    what = f"creating table {schema}.{table}"
    cols = [(f.name, overrides.get(f.name) or q.redshift_type(f, longest=lengths.get(f.name, 0), what=what))
            for f in spec.schema]
    return q.create_table(q.table_ident(schema, table), cols, dist_key=o.get("dist_key"),
                          dist_style=o.get("dist_style"), sort_key=o.get("sort_key") or ())


def _count(cur: Any, sql: str) -> int:
    return int(fetch(cur, sql)[0][0] or 0)


def _upsert(cur: Any, obj: DataObject, target: str, stage: str, columns: list[str], opts: Any,
            tasks: dict[str, int]) -> dict[str, int]:
    """The shared upsert semantics (``upsert.py``) in SQL, inside the load's transaction."""
    keys, order_by = list(opts.keys), opts.order_by
    what = f"upsert into {obj.full_name!r} (store {obj.store_name!r})"
    nulls = fetch(cur, "SELECT " + ", ".join(f"SUM(CASE WHEN {q.ident(k)} IS NULL THEN 1 ELSE 0 END)" for k in keys)
                  + f" FROM {stage}")[0]
    for key, n in zip(keys, nulls, strict=True):
        if n:
            raise DaoError(f"{what}: {int(n)} row(s) have a null key in column {key!r}; keys must not be null")
    grouped = f"SELECT {q.columns_sql(keys)} FROM {stage} GROUP BY {q.columns_sql(keys)} HAVING COUNT(*) > 1"
    dup_count = _count(cur, f"SELECT COUNT(*) FROM ({grouped}) AS d")
    if dup_count and opts.on_duplicates == "error":
        sample = fetch(cur, f"{grouped} ORDER BY {q.columns_sql(keys)} LIMIT 5")
        shown = ", ".join(repr(r[0]) if len(keys) == 1 else repr(tuple(r)) for r in sample)
        raise DuplicateKeys(
            f"{what}: {dup_count} key(s) appear more than once in the batch, e.g. {shown}. Deduplicate first, or pass "
            "on_duplicates='keep_latest'" + (f" (the newest {order_by!r} wins)" if order_by else " (the last row wins)")
        )
    batch = q.ident(f"{stage.strip(chr(34))}_batch")
    execute(cur, q.dedupe_sql(batch, stage, columns, keys, order_by, tasks))
    match = q.key_match(keys, target, batch)
    deleted = 0
    if opts.delete_unmatched:
        deleted = max(execute(cur, f"DELETE FROM {target} WHERE NOT EXISTS (SELECT 1 FROM {batch} WHERE {match})").rowcount, 0)
    # one pass over the target: the batch's keys it holds, and whether its stored row is newer (stale)
    hits = q.ident(f"{stage.strip(chr(34))}_hits")
    stale = order_by and opts.strategy != "insert_only"
    flag = f"MAX(CASE WHEN {q.older_sql(order_by, batch, target)} THEN 1 ELSE 0 END)" if stale else "0"
    bkeys = q.columns_sql(keys, batch + ".")
    execute(cur, f"CREATE TEMP TABLE {hits} AS SELECT {bkeys}, {flag} AS __dao_stale__ FROM {batch} JOIN {target} "
                 f"ON {match} GROUP BY {bkeys}")
    if stale:
        execute(cur, f"DELETE FROM {batch} USING {hits} WHERE {q.key_match(keys, batch, hits)} AND "
                     f"{hits}.__dao_stale__ = 1")
    total = _count(cur, f"SELECT COUNT(*) FROM {batch}")
    matched = _count(cur, f"SELECT COUNT(*) FROM {hits} WHERE __dao_stale__ = 0")
    cols = q.columns_sql(columns)
    insert_new = (f"INSERT INTO {target} ({cols}) SELECT {q.columns_sql(columns, batch + '.')} FROM {batch} "
                  f"WHERE NOT EXISTS (SELECT 1 FROM {target} WHERE {match})")
    if opts.strategy == "insert_only":
        execute(cur, insert_new)
        updated = 0
    elif opts.strategy == "merge" and set(columns) - set(keys):
        execute(cur, q.merge_sql(target, batch, columns, keys))
        updated = matched
    else:  # delete_insert (and a merge of key columns only, where an update changes nothing)
        execute(cur, f"DELETE FROM {target} USING {batch} WHERE {match}")
        execute(cur, f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {batch}")
        updated = matched
    execute(cur, f"DROP TABLE {hits}")
    execute(cur, f"DROP TABLE {batch}")
    return {"rows_inserted": total - matched, "rows_updated": updated, "rows_deleted": deleted,
            "rows_written": total - matched + updated}
