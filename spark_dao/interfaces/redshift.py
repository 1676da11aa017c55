"""Amazon Redshift tables: bulk loads through S3 + COPY in one transaction, upserts, UNLOAD reads.

    >>> dao.write(users_agg, "gold.users_agg", mode="overwrite")              # doctest: +SKIP
    >>> dao.upsert(changes, "gold.users_agg", keys=["user_id"])              # doctest: +SKIP
    >>> spark.read.format("dao").load("gold.users_agg")                      # doctest: +SKIP

An object is a table ``<schema>.<table>`` (``table`` defaults to the object's name; ``schema.table``
allowed) or, read-only, a ``query``. Everything goes through ``redshift_connector``: no JDBC, no JARs.

Writes (every engine): ``stage`` (Spark tasks, in parallel; pandas: in-process) writes the rows as
Parquet under ``<s3_temp_dir>/<job id>/``; ``commit`` (the driver) writes a manifest naming exactly
the files of the successful tasks and runs ONE transaction: create a missing table, LOCK, COPY into
a temporary stage table, then INSERT / DELETE+INSERT / the upsert, COMMIT (see
``_redshift_write.py``). The staged files are deleted after the commit and after any failure.

Reads: the pushed-down filters and the columns become one SELECT; small results are fetched over the
connection (``read_mode=direct``), large ones UNLOADed as Parquet under ``<s3_temp_dir>/<job id>/``
and read by the tasks (``unload``); ``auto`` (the default) chooses by the number of cells.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from ..catalog.model import DataObject
from ..catalog.settings import Setting
from ..errors import DaoError, ObjectNotFound, SchemaMismatch
from . import _arrow
from . import _redshift_sql as q
from ._redshift_conn import RedshiftOptions, connection, driver_errors, execute, fetch
from ._redshift_write import commit_write, job_is_live, mark_job_live, remove_prefix, stored_columns
from .base import (
    BaseInterface,
    PartitionFilter,
    ReadPlan,
    ReadTask,
    StagedFile,
    StagedPart,
    WriteResult,
    WriteSpec,
)
from .filters import coerce as coerce_filter
from .filters import validate as validate_filters

log = logging.getLogger("spark_dao.redshift")

READ_OPTIONS = {
    "columns": "comma-separated columns to read (the SELECT list)",
    "read_mode": "auto (default: by size) | direct (fetch over the connection) | unload (UNLOAD to s3_temp_dir)",
    "direct_max_cells": "auto: results of at most this many cells (rows x columns) are fetched directly",
    "parallelism": "number of cores to plan read tasks for (unload)",
    "batch_size": "rows per batch of a direct read (default 100000)",
}
WRITE_OPTIONS = {
    "mode": "append | overwrite | errorifexists | ignore",
    "compression": "staged parquet: snappy (default), zstd, gzip, none",
    "max_rows_per_file": "staged parquet: roll to a new file after this many rows",
    "row_group_size": "staged parquet: rows per row group",
    "max_retries": "times a transaction that hit a serialization conflict (error 1023) is retried (default 4)",
}
OPTION_TYPES = {
    "read_mode": Setting("choice", "auto", ("auto", "direct", "unload")),
    "direct_max_cells": Setting("pos_int", "350000"),
    "batch_size": Setting("pos_int", "100000"),
    "max_retries": Setting("nonneg_int", "4"),
}
#: object keys of Redshift objects (catalog), carried in the object's options
OBJECT_KEYS = ("dist_key", "dist_style", "sort_key", "column_types", "query")
DIST_STYLES = ("auto", "even", "key", "all")
#: auto: results up to this many cells are fetched over the connection (bench/bench_redshift.py)
DIRECT_MAX_CELLS = 350_000


@dataclass(frozen=True)
class _Target:
    schema: str
    table: str | None
    query: str | None
    dist_key: str | None = None
    dist_style: str | None = None
    sort_key: tuple[str, ...] = ()
    column_types: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}" if self.table else "(query)"

    def source(self) -> str:
        return q.table_ident(self.schema, self.table) if self.table else f"({self.query}) AS dao_query"


@dataclass(frozen=True)
class _DirectRead:
    sql: str
    params: tuple[Any, ...]
    schema: pa.Schema
    batch_size: int


@dataclass(frozen=True)
class _UnloadRead:
    prefix: str  # the job's prefix under s3_temp_dir
    files: tuple[str, ...]
    schema: pa.Schema


class RedshiftInterface(BaseInterface):
    """Redshift tables of one database schema (see the module docstring).

    >>> dao.read("gold.users_agg", engine="pandas", filters=[("country", "=", "DE")])   # doctest: +SKIP
    """

    read_options = READ_OPTIONS
    write_options = WRITE_OPTIONS
    option_types = OPTION_TYPES
    supports_partitions = False

    @property
    def extra_errors(self) -> tuple[type[BaseException], ...]:  # type: ignore[override]
        return driver_errors()

    def __repr__(self) -> str:
        return f"RedshiftInterface(store={self.store.name!r}, host={self.store.configs.get('host')!r})"

    def _options(self) -> RedshiftOptions:
        return RedshiftOptions.from_store(self.store)

    def _target(self, obj: DataObject) -> _Target:
        o = {k: v for k, v in obj.options.items() if k in OBJECT_KEYS}
        opts = self._options()
        what = f"object {obj.full_name!r} (store {obj.store_name!r})"
        query = o.get("query")
        if query is not None and (not isinstance(query, str) or not query.strip()):
            raise DaoError(f"{what}: query must be a non-empty SELECT statement")
        name = obj.table or (None if query else obj.name)
        schema, table = opts.schema, name
        if name and "." in name:
            schema, table = name.split(".", 1)
        style = o.get("dist_style")
        if style is not None and str(style).lower() not in DIST_STYLES:
            raise DaoError(f"{what}: dist_style {style!r} is not one of {', '.join(DIST_STYLES)}")
        if o.get("dist_key") and style is not None and str(style).lower() != "key":
            raise DaoError(f"{what}: dist_key {o['dist_key']!r} needs dist_style 'key' (or no dist_style), not "
                           f"{style!r}: Redshift distributes a table by one key or by a style")
        sort_key = o.get("sort_key") or ()
        sort_key = tuple(c.strip() for c in sort_key.split(",")) if isinstance(sort_key, str) else tuple(sort_key)
        types = o.get("column_types") or {}
        if not isinstance(types, Mapping):
            raise DaoError(f"{what}: column_types must be a mapping of column -> Redshift type")
        checked = tuple((str(c), q.check_type_override(str(c), t, what=what)) for c, t in types.items())
        return _Target(schema, table, query.strip().rstrip(";") if query else None, o.get("dist_key"),
                       str(style).lower() if style else None, sort_key, checked)

    def _read_opts(self, obj: DataObject, options: Mapping[str, Any]) -> dict[str, Any]:
        return self.check_options(obj, {k: v for k, v in options.items() if k not in OBJECT_KEYS},
                                  READ_OPTIONS, action="reading")

    def check_options(self, obj: DataObject, options: Mapping[str, Any], valid: Mapping[str, str], *,
                      action: str) -> dict[str, Any]:
        bare = obj.with_(options={k: v for k, v in obj.options.items() if k not in OBJECT_KEYS})
        return super().check_options(bare, options, valid, action=action)

    # ------------------------------------------------------------------ schema
    def _schema(self, conn: Any, obj: DataObject, target: _Target) -> pa.Schema:
        """The object's Arrow schema, from the table's columns (or the query's); ObjectNotFound."""
        cur = conn.cursor()
        if target.table:
            cols = stored_columns(cur, target.schema, target.table)
            if not cols:
                raise ObjectNotFound(
                    f"object {obj.full_name!r} has no table {target.name} in Redshift database "
                    f"{self._options().database!r} (store {obj.store_name!r}). Write it first, or check the name "
                    "(and the store's schema) in the catalog."
                )
        else:
            probe = f"dao_q_{uuid.uuid4().hex[:12]}"
            execute(cur, f"CREATE TEMP TABLE {q.ident(probe)} AS SELECT * FROM {target.source()} LIMIT 0")
            rows = fetch(cur, "SELECT column_name, data_type, character_maximum_length, numeric_precision, "
                              "numeric_scale FROM information_schema.columns WHERE table_name = %s "
                              "ORDER BY ordinal_position", [probe])
            conn.rollback()  # the probe table goes
            from ._redshift_write import Column

            cols = [Column(str(r[0]), str(r[1]), *(int(v) if v is not None else None for v in r[2:5])) for r in rows]
        fields = []
        for c in cols:
            try:
                fields.append(pa.field(c.name, q.arrow_type(c.sql_type.lower(), precision=c.precision, scale=c.scale)))
            except ValueError:
                raise DaoError(
                    f"reading {obj.full_name!r} (store {obj.store_name!r}): column {c.name!r} has Redshift type "
                    f"{c.data_type!r}, which this interface does not read; select it cast (a query object)"
                ) from None
        return pa.schema(fields)

    def table_name(self, obj: DataObject) -> str:
        """The table ``obj`` is, as ``schema.table`` (``"(query)"`` for a query object):
        ``itf.table_name(catalog.get("gold.users_agg"))`` -> ``'analytics.users_agg'``."""
        return self._target(obj).name

    def read_schema(self, obj: DataObject, options: Mapping[str, Any]) -> pa.Schema:
        """The schema a read of ``obj`` with ``options`` returns, without unloading anything (the
        Spark engine asks for it first)."""
        opts = self._read_opts(obj, options)
        target = self._target(obj)
        with connection(self._options()) as conn:
            full = self._schema(conn, obj, target)
        return self._pruned(obj, full, opts.get("columns"))

    @staticmethod
    def _pruned(obj: DataObject, full: pa.Schema, columns: Any) -> pa.Schema:
        from ._read import _columns_option, output_schema

        return output_schema(obj, full, _columns_option(columns))

    # ------------------------------------------------------------------ reading
    def plan_read(self, obj: DataObject, options: Mapping[str, Any],
                  filters: Iterable[PartitionFilter] = ()) -> ReadPlan:
        """One SELECT of the columns with the pushed filters: fetched directly, or UNLOADed to S3."""
        opts = self._read_opts(obj, options)
        target, ro = self._target(obj), self._options()
        filters = tuple(filters)
        validate_filters(filters, what=f"reading {obj.full_name!r}")
        with connection(ro) as conn:
            full = self._schema(conn, obj, target)
            cur = conn.cursor()
            schema = self._pruned(obj, full, opts.get("columns"))
            mode = str(opts.get("read_mode") or "auto")
            where, params, pushed = self._where(full, filters, literals=False)
            if mode == "auto":
                # count no further than the threshold: a big table costs no full count
                cap = int(opts.get("direct_max_cells") or DIRECT_MAX_CELLS) // max(len(schema), 1) + 1
                rows = int(fetch(cur, f"SELECT COUNT(*) FROM (SELECT 1 FROM {target.source()}{where} LIMIT {cap}) "
                                      "AS dao_count", params)[0][0])
                mode = "direct" if rows < cap else "unload"
                log.debug("%s: %s rows x %d columns: read_mode=%s", obj.full_name, rows if rows < cap else f">={cap}",
                          len(schema), mode)
            select = f"SELECT {q.columns_sql(schema.names)} FROM {target.source()}"
            if mode == "direct":
                task = _DirectRead(select + where, tuple(params), schema, int(opts.get("batch_size") or 100_000))
                return ReadPlan(schema=schema, tasks=[ReadTask(obj, task)], applied_filters=pushed)
            where, _, pushed = self._where(full, filters, literals=True)
            job = uuid.uuid4().hex
            prefix = ro.job_prefix(job)
            auth = q.auth_clause(ro.iam_role_arn, ro.copy_credentials())
            started = time.monotonic()
            execute(cur, q.unload_sql(select + where, prefix + "/", auth))
            conn.commit()
        files = self._manifest(ro, prefix, obj)
        log.info("%s: unloaded %d file(s) to %s/ in %.1fs", obj.full_name, len(files), prefix,
                 time.monotonic() - started)
        groups = max(1, min(len(files), int(opts.get("parallelism") or 8)))
        tasks = [ReadTask(obj, _UnloadRead(prefix, tuple(files[i::groups]), schema)) for i in range(groups) if files[i::groups]]
        if not tasks:
            remove_prefix(ro, job, what=f"reading {obj.full_name!r}")
        return ReadPlan(schema=schema, tasks=tasks, applied_filters=pushed)

    @staticmethod
    def _where(schema: pa.Schema, filters: tuple[PartitionFilter, ...], *,
               literals: bool) -> tuple[str, list[Any], tuple[PartitionFilter, ...]]:
        """The WHERE clause of the filters that can be pushed (columns of the object, values that fit
        the column's type and, for literals, render safely); the rest stays with the engine."""
        clauses, params, pushed = [], [], []
        for f in filters:
            if f[0] not in schema.names:
                continue
            typed = coerce_filter(f, schema.field(f[0]).type)
            if typed is None:
                continue
            try:
                sql, values = q.filter_sql(*typed, literals=literals)
            except q.Unsafe:
                continue
            clauses.append(sql)
            params.extend(values)
            pushed.append(f)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        return where, params, tuple(pushed)

    def _manifest(self, ro: RedshiftOptions, prefix: str, obj: DataObject) -> list[str]:
        """The unloaded files named by UNLOAD's manifest (``<prefix>/manifest``), as S3 URLs."""
        from ._s3 import client_for, split_location

        bucket, key = split_location(f"{prefix}/manifest")
        body = client_for(ro.staging_store()).get_object(Bucket=bucket, Key=key)["Body"].read()
        return [e["url"] for e in json.loads(body).get("entries", []) if int(e.get("meta", {}).get("content_length", 1))]

    def read(self, task: ReadTask) -> Iterator[pa.RecordBatch]:
        """Direct: fetch the SELECT's rows in batches; unload: the task's Parquet files from S3."""
        p = task.payload
        if isinstance(p, _DirectRead):
            with connection(self._options()) as conn:
                cur = execute(conn.cursor(), p.sql, list(p.params))
                while True:
                    rows = cur.fetchmany(p.batch_size)
                    if not rows:
                        break
                    yield _rows_to_batch(rows, p.schema)
            return
        import pyarrow.parquet as pq

        from ._s3settings import S3Settings

        fs = S3Settings.from_store(self._options().staging_store()).arrow_filesystem()
        for url in p.files:
            path = url.split("://", 1)[1]
            with fs.open_input_file(path) as f:
                pf = pq.ParquetFile(f)
                for batch in pf.iter_batches(batch_size=65536, columns=[c for c in p.schema.names if c in pf.schema_arrow.names]):
                    yield _arrow.conform(batch, p.schema)

    def finish_read(self, obj: DataObject, plan: ReadPlan) -> None:
        """After an in-process read: delete what the plan unloaded (Spark reads cannot tell when
        they end: a lifecycle rule on s3_temp_dir, or ``dao.cleanup_temp``, removes those)."""
        prefixes = {t.payload.prefix for t in plan.tasks if isinstance(t.payload, _UnloadRead)}
        ro = self._options()
        for prefix in prefixes:
            self._remove_quietly(ro, prefix.rsplit("/", 1)[-1], what=f"reading {obj.full_name!r}")

    @staticmethod
    def _remove_quietly(ro: RedshiftOptions, job: str, *, what: str) -> None:
        """Best effort (it runs after a failure too, whose error must not be replaced): a prefix that
        cannot be deleted is logged; the lifecycle rule or ``dao.cleanup_temp`` removes it."""
        try:
            remove_prefix(ro, job, what=what)
        except DaoError as exc:
            log.warning("%s: could not remove %s/ (a lifecycle rule on s3_temp_dir or dao.cleanup_temp removes "
                        "it): %s", what, ro.job_prefix(job), exc)

    # ------------------------------------------------------------------ writing
    def prepare_write(self, obj: DataObject, schema: pa.Schema, options: Mapping[str, Any]) -> WriteSpec:
        """Mode, options and the data's columns checked against the table (by name); nothing written."""
        request = self.start_write(obj, schema, options)
        target, opts = self._target(obj), request.options
        what = f"writing {obj.full_name!r} (store {obj.store_name!r})"
        if target.query is not None:
            raise DaoError(f"{what}: the object is defined by a query (read-only); write to a table object")
        if request.mode == "dynamic":
            raise DaoError(f"{what}: Redshift tables have no partitions; use mode='overwrite' or an upsert")
        raw = {f.name: f.type for f in schema}
        incoming = pa.schema([pa.field(f.name, raw.get(f.name, f.type) if pa.types.is_timestamp(f.type) else f.type)
                              for f in request.schema])
        overrides = dict(target.column_types)
        with connection(self._options()) as conn:
            stored = stored_columns(conn.cursor(), target.schema, target.table)
        if stored and request.mode == "errorifexists":
            raise DaoError(f"object {obj.full_name!r} already has a table {target.name} (store {obj.store_name!r}); "
                           "use mode='append', 'overwrite' or 'ignore'")
        if stored:
            staging = self._against_stored(obj, incoming, stored, what=what)
        else:
            fields = []
            for f in incoming:
                sql_type = overrides.get(f.name) or q.redshift_type(f, what=what)
                try:
                    typ = q.arrow_type(sql_type.split(" ENCODE")[0].split(" encode")[0].lower())
                except ValueError:
                    typ = _arrow.normalize_type(f.type)
                fields.append(pa.field(f.name, typ))
            staging = pa.schema(fields)
            for col in [target.dist_key, *target.sort_key, *overrides]:
                if col and col not in staging.names:
                    raise SchemaMismatch(f"{what}: column {col!r} (dist_key, sort_key or column_types in the catalog) "
                                         f"is not in the data; columns: {', '.join(staging.names)}")
        if request.upsert is not None:
            missing = [c for c in (*request.upsert.keys, request.upsert.order_by) if c and c not in staging.names]
            if missing:
                raise SchemaMismatch(f"upsert into {obj.full_name!r}: columns {missing} are not in the table")
        write_opts = {
            "table": (target.schema, target.table),
            "compression": str(opts.get("compression") or "snappy").lower(),
            "max_rows_per_file": int(opts.get("max_rows_per_file") or opts.get("maxrecordsperfile") or 0),
            "row_group_size": int(opts.get("row_group_size") or 1 << 20),
            "max_retries": int(opts["max_retries"]) if opts.get("max_retries") is not None else 4,
            "dist_key": target.dist_key, "dist_style": target.dist_style, "sort_key": target.sort_key,
            "column_types": overrides, "upsert": request.upsert, "job_tag": uuid.uuid4().hex[:12],
        }
        return WriteSpec(mode=request.mode, format="parquet", schema=staging, options=write_opts,
                         operation=request.operation)

    @staticmethod
    def _against_stored(obj: DataObject, incoming: pa.Schema, stored: list[Any], *, what: str) -> pa.Schema:
        """The staging schema for an existing table: the data's columns (matched by name, in the
        table's order) with the stored columns' types; SchemaMismatch naming what does not fit."""
        types: dict[str, pa.DataType] = {}
        for c in stored:
            try:
                types[c.name] = q.arrow_type(c.sql_type.lower(), precision=c.precision, scale=c.scale)
            except ValueError:
                types[c.name] = pa.string()
        extra = [n for n in incoming.names if n not in types]
        changed = [f"{f.name} ({f.type} -> stored {types[f.name]})" for f in incoming
                   if f.name in types and not q.fits(f.type, types[f.name])]
        _arrow.check_mismatch([], extra, changed, what=what, against="the Redshift table's columns",
                              fix="write with mode='overwrite' into a new table, or ALTER the table")
        return pa.schema([pa.field(c.name, types[c.name]) for c in stored if c.name in incoming.names])

    def stage(self, obj: DataObject, batches: Iterable[pa.RecordBatch], spec: WriteSpec, job_id: str) -> StagedPart:
        """The task's rows as Parquet under ``<s3_temp_dir>/<job id>/`` (invisible to readers), with
        the longest value of each string column (the commit sizes VARCHARs from it)."""
        import pyarrow.compute as pc

        from ._s3settings import S3Settings
        from ._staging import _stage_parquet

        ro = self._options()
        task = uuid.uuid4().hex[:10]
        upsert = spec.operation == "upsert"
        schema = spec.schema
        if upsert:
            schema = schema.append(pa.field(q.TASK_COL, pa.string())).append(pa.field(q.ROW_COL, pa.int64()))
        strings = [f.name for f in spec.schema if pa.types.is_string(f.type)]
        longest: dict[str, int] = dict.fromkeys(strings, 0)
        rows = 0

        def prepared() -> Iterator[pa.RecordBatch]:
            nonlocal rows
            for b in batches:
                if not b.num_rows:
                    continue
                b = _arrow.conform(b, spec.schema)
                for c in strings:
                    n = pc.max(pc.binary_length(b.column(c))).as_py()
                    longest[c] = max(longest[c], n or 0)
                if upsert:
                    b = pa.RecordBatch.from_arrays(
                        [*b.columns, pa.array([task] * b.num_rows, pa.string()),
                         pa.array(range(rows, rows + b.num_rows), pa.int64())], schema=schema)
                rows += b.num_rows
                yield b

        fs = S3Settings.from_store(ro.staging_store()).arrow_filesystem()
        base = ro.job_prefix(job_id).split("://", 1)[1]
        lease = bool(spec.options.get("lease"))  # a Spark job: its driver marked it live (start_job)
        if lease and not job_is_live(ro, job_id):
            raise self._ended(obj, job_id, before=True)
        files = _stage_parquet(fs, base, prepared(), replace(spec, schema=schema), f"part-{job_id[:8]}-{task}")
        if lease and not job_is_live(ro, job_id):
            # the job ended (an abort: another task failed) while this task staged; the abort may
            # have listed the prefix before these files existed, so this task removes its own
            from ._s3 import delete_paths

            delete_paths(ro.staging_store(), [f"{base}/{f.path}" for f in files], what=repr(obj.full_name))
            raise self._ended(obj, job_id)
        stats = json.dumps({"max_len": longest})
        return StagedPart(job_id=job_id, files=tuple(StagedFile(f.path, f.rows, f.size, stats=stats) for f in files),
                          rows=rows)

    def start_job(self, obj: DataObject, spec: WriteSpec, job_id: str) -> WriteSpec:
        """Spark writes: mark the job live (``<s3_temp_dir>/<job id>/_live``) before any task runs.
        Commit and abort remove the marker before they list and delete the job's prefix, and a task
        that finds it gone after staging deletes its own files: a task still running when its job
        was aborted leaves nothing behind."""
        mark_job_live(self._options(), job_id)
        return replace(spec, options={**spec.options, "lease": True})

    @staticmethod
    def _ended(obj: DataObject, job_id: str, *, before: bool = False) -> DaoError:
        when = "before this task staged anything; nothing was written" if before else \
            "while this task was staging; the task's staged files were removed"
        return DaoError(f"writing {obj.full_name!r} (store {obj.store_name!r}): job {job_id} ended "
                        f"(aborted or committed) {when}")

    def commit(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec) -> WriteResult:
        """One transaction: create / LOCK / COPY / apply the mode / COMMIT (``_redshift_write.py``)."""
        return commit_write(self, obj, parts, spec)

    def abort(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec) -> None:
        """Delete everything the job staged (its prefix under s3_temp_dir); the table is untouched."""
        ro = self._options()
        for job in sorted({p.job_id for p in parts if p is not None}):
            self._remove_quietly(ro, job, what=f"aborting the write to {obj.full_name!r}")
        log.info("aborted write to %s; staged files removed", obj.full_name)

    # ------------------------------------------------------------------ management
    def exists(self, obj: DataObject) -> bool:
        target = self._target(obj)
        with connection(self._options()) as conn:
            if target.query is not None:
                execute(conn.cursor(), f"SELECT * FROM {target.source()} LIMIT 0")
                return True
            return bool(stored_columns(conn.cursor(), target.schema, target.table))

    def delete(self, obj: DataObject) -> bool:
        """DROP the table (after a LOCK); False when there was none. Query objects are refused."""
        target = self._target(obj)
        if target.query is not None:
            raise DaoError(f"deleting {obj.full_name!r}: the object is defined by a query; there is no table to drop")
        with connection(self._options()) as conn:
            cur = conn.cursor()
            if not stored_columns(cur, target.schema, target.table):
                return False
            execute(cur, f"DROP TABLE {q.table_ident(target.schema, target.table)}")
            conn.commit()
        log.info("dropped Redshift table %s (%s)", target.name, obj.full_name)
        return True

    def list_objects(self) -> list[str]:
        """The tables of the store's schema."""
        ro = self._options()
        with connection(ro) as conn:
            rows = fetch(conn.cursor(), "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                                        "AND table_type = 'BASE TABLE' ORDER BY table_name", [ro.schema])
        return [str(r[0]) for r in rows]

    def cleanup_temp(self, *, older_than: float | None = 24.0) -> list[str]:
        """Delete what jobs left under the store's ``s3_temp_dir`` (staged loads of killed drivers,
        files Spark reads unloaded) older than ``older_than`` hours (0: everything, also a running
        job's). Returns the removed URLs."""
        import re

        from ._s3 import delete_paths, list_keys

        ro = self._options()
        store = ro.staging_store()
        cutoff = time.time() - float(older_than or 0) * 3600
        # only what this store's jobs write: <s3_temp_dir>/<job id (32 hex)>/..., never other keys
        # of a temp dir that is shared with something else
        job = re.compile(r"^[0-9a-f]{32}/")
        root = ro.s3_temp_dir.split("://", 1)[1].rstrip("/") + "/"
        old = [k for k, mtime in list_keys(store, ro.s3_temp_dir, what=f"the temp dir of store {self.store.name!r}")
               if mtime <= cutoff and k.startswith(root) and job.match(k[len(root):])]
        if old:
            delete_paths(store, old, what=f"the temp dir of store {self.store.name!r}")
        log.info("store %s: removed %d object(s) under %s", self.store.name, len(old), ro.s3_temp_dir)
        return [f"s3://{k}" for k in old]

    def cleanup(self, obj: DataObject, *, older_than: float | None = None) -> list[str]:
        """``dao.cleanup(obj)``: the store's temp dir (see :meth:`cleanup_temp`)."""
        return self.cleanup_temp(older_than=24.0 if older_than is None else older_than)


def _rows_to_batch(rows: Any, schema: pa.Schema) -> pa.RecordBatch:
    """Fetched rows (lists) as a batch of ``schema`` (aware datetimes converted to UTC by pyarrow)."""
    columns = list(zip(*rows, strict=True))
    return pa.RecordBatch.from_arrays([pa.array(v, type=f.type) for f, v in zip(schema, columns, strict=True)],
                                      schema=schema)
