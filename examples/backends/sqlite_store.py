"""A tiny example backend: one SQLite table per data object, in one database file per store.

Register it in a catalog as a custom interface (the database is the store's ``path``, or
``database``)::

    stores:
      lite:
        interface_class: SQLiteInterface
        interface_class_location: examples.backends.sqlite_store
        default_configs: {path: data/lake.db}

The contract (``spark_dao/interfaces/base.py``, walked through in docs/contributing.md):

* ``plan_read`` (driver): the stored Arrow schema and one task per rowid range;
  ``read`` (executor) yields Arrow batches of one range;
* ``prepare_write`` (driver): options, mode and schema checked before any task runs;
* ``stage`` (executor): one transaction inserts a task's rows into the job's staging table
  ``_dao_stage_<job>``, tagged with the task's part id; readers never look there;
* ``commit`` (driver): the mode in ONE SQLite transaction, using only the rows of the parts it was
  given (a failed task attempt's rows are ignored), then the staging table is dropped;
* ``abort`` (driver): drops the staging table.

Limits (it is an example): no partitions (no ``dynamic`` mode); column types int, float, bool,
string, binary; a task that stages after the abort leaves its staging table until the next abort.
"""

from __future__ import annotations

import os
import re
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from typing import Any

import pyarrow as pa

from spark_dao.catalog.model import DataObject, DataStore
from spark_dao.catalog.settings import Setting
from spark_dao.errors import DaoError, ObjectNotFound, SchemaMismatch, did_you_mean
from spark_dao.interfaces.base import (
    BaseInterface,
    PartitionFilter,
    ReadPlan,
    ReadTask,
    StagedFile,
    StagedPart,
    WriteResult,
    WriteSpec,
)
from spark_dao.interfaces.filters import validate as validate_filters
from spark_dao.interfaces.upsert import merge_tables

SCHEMAS = "_dao_schemas"  # object table -> its serialized Arrow schema
_SQL_TYPES = {"int64": "INTEGER", "double": "REAL", "bool": "INTEGER", "string": "TEXT", "binary": "BLOB"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column_type(field: pa.Field) -> pa.DataType:
    """The stored type of an incoming column (ints -> int64, floats -> double); others are refused."""
    t = field.type
    if pa.types.is_integer(t) and t != pa.uint64():
        return pa.int64()
    if pa.types.is_floating(t):
        return pa.float64()
    for ok, stored in ((pa.types.is_boolean, pa.bool_()), (pa.types.is_string, pa.string()),
                       (pa.types.is_large_string, pa.string()), (pa.types.is_binary, pa.binary()),
                       (pa.types.is_large_binary, pa.binary())):
        if ok(t):
            return stored
    raise SchemaMismatch(f"column {field.name!r} has type {t}, which the sqlite example does not store "
                         "(int, float, bool, string, binary)")


class SQLiteInterface(BaseInterface):
    """The Arrow contract on SQLite: ``get_interface(catalog.store("lite"))``.

    ``BaseInterface`` wraps every contract method in its error boundary (``sqlite3.Error``, listed
    in ``extra_errors``, and ``OSError`` become a ``DaoError`` naming object and store), checks
    options against ``read_options``/``write_options``, and ``start_write`` does the shared start
    of ``prepare_write`` (mode, upsert options, partitions refused: ``supports_partitions``).
    """

    read_options = {"columns": "comma-separated columns to read", "parallelism": "number of read tasks",
                    "batch_size": "rows per Arrow batch (default 10000)"}
    write_options = {"mode": BaseInterface.write_options["mode"]}
    option_types = {"batch_size": Setting("pos_int", "10000")}
    supports_partitions = False
    extra_errors = (sqlite3.Error,)

    def __init__(self, store: DataStore) -> None:
        super().__init__(store)  # plain data: pickles to executors; connections are opened per call
        self.database = str(store.configs.get("database") or store.configs.get("path") or "")
        if not self.database:
            raise DaoError(f"store {store.name!r}: the sqlite interface needs 'path' (the database file)")

    # ------------------------------------------------------------------ helpers
    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode: transactions are explicit (BEGIN ... COMMIT)."""
        with closing(sqlite3.connect(self.database, timeout=60, isolation_level=None)) as conn:
            yield conn

    @staticmethod
    def _table(obj: DataObject) -> str:
        return obj.table or obj.name.replace("/", "__")

    def _schema(self, conn: sqlite3.Connection, obj: DataObject) -> pa.Schema | None:
        """The object's Arrow schema, None when it was never written."""
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (SCHEMAS,)).fetchone() is None:
            return None
        row = conn.execute(f"SELECT schema FROM {SCHEMAS} WHERE name = ?", (self._table(obj),)).fetchone()
        return pa.ipc.read_schema(pa.py_buffer(row[0])) if row else None

    def _stored(self, obj: DataObject) -> pa.Schema | None:
        if not os.path.exists(self.database):  # connecting would create it
            return None
        with self._db() as conn:
            return self._schema(conn, obj)

    # ------------------------------------------------------------------ reading
    def plan_read(self, obj: DataObject, options: Mapping[str, Any],
                  filters: Iterable[PartitionFilter] = ()) -> ReadPlan:
        opts = self.check_options(obj, options, self.read_options, action="reading")
        validate_filters(tuple(filters), what=f"reading {obj.full_name!r}")  # engines apply them to rows
        if not os.path.exists(self.database):
            raise ObjectNotFound(f"object {obj.full_name!r} has no data: database {self.database} does not "
                                 f"exist (store {obj.store_name!r}). Write it first.")
        with self._db() as conn:
            schema = self._schema(conn, obj)
            if schema is None:
                raise ObjectNotFound(f"object {obj.full_name!r} has no data in {self.database} "
                                     f"(store {obj.store_name!r}). Write it first.")
            lo, hi = conn.execute(f"SELECT min(rowid), max(rowid) FROM {_q(self._table(obj))}").fetchone()
        columns = opts.get("columns")
        if columns:  # "" or []: every column
            names = [c.strip() for c in columns.split(",") if c.strip()] if isinstance(columns, str) else columns
            unknown = [c for c in names if c not in schema.names]
            if unknown:
                raise DaoError(f"reading {obj.full_name!r} (store {obj.store_name!r}): unknown columns {unknown}."
                               f"{did_you_mean(unknown[0], schema.names)} Columns: {', '.join(schema.names)}")
            schema = pa.schema([schema.field(c) for c in names])
        tasks = []
        if lo is not None:
            n = max(1, min(int(opts.get("parallelism") or 1), hi - lo + 1))
            step = -(-(hi - lo + 1) // n)
            batch = int(opts.get("batch_size") or 10_000)
            tasks = [ReadTask(obj, (self.database, self._table(obj), schema, s, s + step - 1, batch),
                              tuple(schema.names)) for s in range(lo, hi + 1, step)]
        return ReadPlan(schema=schema, tasks=tasks)

    def read(self, task: ReadTask) -> Iterator[pa.RecordBatch]:
        database, table, schema, lo, hi, batch = task.payload
        cols = ", ".join(_q(c) for c in schema.names) or "1"
        with self._db() as conn:
            cur = conn.execute(f"SELECT {cols} FROM {_q(table)} WHERE rowid BETWEEN ? AND ? ORDER BY rowid",
                               (lo, hi))
            while rows := cur.fetchmany(batch):
                arrays = [pa.array([r[i] if r[i] is None or not pa.types.is_boolean(f.type) else bool(r[i])
                                    for r in rows], f.type) for i, f in enumerate(schema)]
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    # ------------------------------------------------------------------ writing
    def prepare_write(self, obj: DataObject, schema: pa.Schema, options: Mapping[str, Any]) -> WriteSpec:
        req = self.start_write(obj, schema, options)  # mode, options, upsert options, no partitions
        mode, upsert, what = req.mode, req.upsert, f"writing {obj.full_name!r} (store {obj.store_name!r})"
        try:
            target = pa.schema([pa.field(f.name, _column_type(f)) for f in req.schema])
        except SchemaMismatch as exc:
            raise SchemaMismatch(f"{what}: {exc}") from None
        stored = self._stored(obj)
        if stored is not None and mode == "errorifexists":
            raise DaoError(f"object {obj.full_name!r} already has data in {self.database} (store "
                           f"{obj.store_name!r}); use mode='append', 'overwrite' or 'ignore'")
        new = {f.name: str(f.type) for f in target}
        old = {f.name: str(f.type) for f in stored or ()}
        if stored is not None and mode == "append" and new == old:
            target = stored  # the same columns in another order
        elif stored is not None and mode == "append":
            diff = sorted(n for n in set(new) | set(old) if new.get(n) != old.get(n))
            raise SchemaMismatch(f"{'upserting into' if upsert else 'appending to'} {obj.full_name!r} (store "
                                 f"{obj.store_name!r}): columns {diff} differ from the stored schema "
                                 f"({', '.join(f'{n} {t}' for n, t in old.items())})")
        write_opts: dict[str, Any] = {"upsert": upsert} if upsert else {}
        return WriteSpec(mode=mode, format="sqlite", schema=target, options=write_opts,
                         operation="upsert" if upsert else "write")

    def stage(self, obj: DataObject, batches: Iterable[pa.RecordBatch], spec: WriteSpec,
              job_id: str) -> StagedPart:
        if not re.fullmatch(r"\w+", job_id):
            raise DaoError(f"writing {obj.full_name!r}: invalid job id {job_id!r}")
        part_id, rows = uuid.uuid4().hex, 0
        cols = ", ".join(_q(f.name) for f in spec.schema)
        defs = ", ".join(f"{_q(f.name)} {_SQL_TYPES[str(f.type)]}" for f in spec.schema)
        with self._db() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(f"CREATE TABLE IF NOT EXISTS _dao_stage_{job_id} (_dao_part TEXT, {defs})")
                insert = (f"INSERT INTO _dao_stage_{job_id} (_dao_part, {cols}) "
                          f"VALUES (?, {', '.join('?' * len(spec.schema))})")
                for batch in batches:
                    batch = pa.Table.from_batches([batch]).select(spec.schema.names).cast(spec.schema)
                    values = [c.to_pylist() for c in batch.columns]
                    conn.executemany(insert, ((part_id, *r) for r in zip(*values, strict=True)))
                    rows += batch.num_rows
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # sqlite may have rolled back already
                    conn.execute("ROLLBACK")
                raise
        return StagedPart(job_id=job_id, files=(StagedFile(path=part_id, rows=rows),), rows=rows)

    def commit(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec) -> WriteResult:
        table, cols = _q(self._table(obj)), ", ".join(_q(f.name) for f in spec.schema)
        job_ids = sorted({p.job_id for p in parts})
        part_ids = [f.path for p in parts for f in p.files]
        staged = f"SELECT {cols or 'NULL'} FROM _dao_stage_{{}} WHERE _dao_part IN ({', '.join('?' * len(part_ids))})"
        mode = "upsert" if spec.operation == "upsert" else spec.mode
        result: dict[str, Any] = {"object": obj.full_name, "mode": mode, "location": self.database}
        with self._db() as conn:
            conn.execute("BEGIN IMMEDIATE")  # one transaction: all of the write or nothing
            try:
                stored = self._schema(conn, obj)
                if stored is not None and spec.mode == "ignore":
                    result["skipped"] = True
                elif stored is not None and spec.mode == "errorifexists":
                    raise DaoError(f"object {obj.full_name!r} already has data in {self.database} (store "
                                   f"{obj.store_name!r}); use mode='append', 'overwrite' or 'ignore'")
                else:
                    sources = [staged.format(j) for j in job_ids if part_ids and self._has(conn, j)]
                    params = part_ids * len(sources)
                    if spec.mode == "overwrite" or stored is None:
                        conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMAS} (name TEXT PRIMARY KEY, schema BLOB)")
                        conn.execute(f"DROP TABLE IF EXISTS {table}")
                        defs = ", ".join(f"{_q(f.name)} {_SQL_TYPES[str(f.type)]}" for f in spec.schema)
                        conn.execute(f"CREATE TABLE {table} ({defs})")
                        conn.execute(f"INSERT OR REPLACE INTO {SCHEMAS} VALUES (?, ?)",
                                     (self._table(obj), spec.schema.serialize().to_pybytes()))
                    if spec.operation == "upsert" and sources:
                        result.update(self._upsert(conn, obj, spec, " UNION ALL ".join(sources), params))
                    elif sources:
                        cur = conn.execute(f"INSERT INTO {table} ({cols}) {' UNION ALL '.join(sources)}", params)
                        result["rows_written"] = cur.rowcount
                for j in job_ids:
                    conn.execute(f"DROP TABLE IF EXISTS _dao_stage_{j}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # sqlite may have rolled back already
                    conn.execute("ROLLBACK")
                raise
        return WriteResult(**result)

    def _upsert(self, conn: sqlite3.Connection, obj: DataObject, spec: WriteSpec, select: str,
                params: list[str]) -> dict[str, int]:
        """The shared upsert rules (spark_dao/interfaces/upsert.py) on the whole table, in memory."""
        def fetch(sql: str, args: Any = ()) -> pa.Table:
            rows = conn.execute(sql, args).fetchall()
            cols = [[r[i] if not pa.types.is_boolean(f.type) or r[i] is None else bool(r[i]) for r in rows]
                    for i, f in enumerate(spec.schema)]
            return pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(cols, spec.schema, strict=True)],
                                        schema=spec.schema)
        table = _q(self._table(obj))
        names = ", ".join(_q(f.name) for f in spec.schema)
        merged, metrics = merge_tables(fetch(f"SELECT {names} FROM {table} ORDER BY rowid"), fetch(select, params),
                                       spec.options["upsert"],
                                       what=f"upsert into {obj.full_name!r} (store {obj.store_name!r})")
        conn.execute(f"DELETE FROM {table}")
        conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(spec.schema))})",
                         zip(*[c.to_pylist() for c in merged.columns], strict=True))
        return {"rows_written": metrics["inserted"] + metrics["updated"], "rows_inserted": metrics["inserted"],
                "rows_updated": metrics["updated"], "rows_deleted": metrics["deleted"]}

    @staticmethod
    def _has(conn: sqlite3.Connection, job_id: str) -> bool:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (f"_dao_stage_{job_id}",)).fetchone() is not None

    def abort(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec) -> None:
        if not os.path.exists(self.database):
            return
        with self._db() as conn:
            for job_id in sorted({p.job_id for p in parts if re.fullmatch(r"\w+", p.job_id)}):
                conn.execute(f"DROP TABLE IF EXISTS _dao_stage_{job_id}")

    # ------------------------------------------------------------------ management
    def exists(self, obj: DataObject) -> bool:
        return self._stored(obj) is not None

    def delete(self, obj: DataObject) -> bool:
        if not os.path.exists(self.database):
            return False
        with self._db() as conn:
            conn.execute("BEGIN IMMEDIATE")
            if self._schema(conn, obj) is None:
                conn.execute("ROLLBACK")
                return False
            conn.execute(f"DROP TABLE {_q(self._table(obj))}")
            conn.execute(f"DELETE FROM {SCHEMAS} WHERE name = ?", (self._table(obj),))
            conn.execute("COMMIT")
        return True

    def list_objects(self) -> list[str]:
        if not os.path.exists(self.database):
            return []
        with closing(sqlite3.connect(self.database)) as conn:
            try:
                return sorted(r[0] for r in conn.execute(f"SELECT name FROM {SCHEMAS}"))
            except sqlite3.OperationalError:  # no object written yet
                return []
