"""The Delta store on local folders: one Delta commit per write in every mode, pinned-snapshot reads,
time travel, pruning by partitions and file statistics, refusal of unsupported reader features,
failed writes leaving no version, and the tables readable by delta-rs itself (interop)."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from spark_dao import DaoError, DataAccessObject, SchemaMismatch, WriteConflict
from spark_dao.catalog import Catalog
from spark_dao.interfaces import StagedPart, get_interface
from spark_dao.interfaces.delta import DeltaInterface


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def catalog(lake: Path) -> Catalog:
    return Catalog.load(
        {
            "stores": {"lake": {"interface": "delta", "path": str(lake)}},
            "objects": {
                "lake.users": {"keys": ["id"]},
                "lake.events": {"partition_by": ["country"]},
                "lake.typed": {"schema": {"id": "long", "name": "string"}},
            },
        }
    )


@pytest.fixture
def dao(catalog: Catalog) -> DataAccessObject:
    return DataAccessObject(catalog)


def users(*ids: int, name: str = "u") -> pd.DataFrame:
    return pd.DataFrame({"id": list(ids), "name": [f"{name}{i}" for i in ids]})


def events(rows: list[tuple[int, str]]) -> pd.DataFrame:
    return pd.DataFrame({"id": [r[0] for r in rows], "country": [r[1] for r in rows]})


def table_rows(path: Path, version: int | None = None) -> list[dict[str, Any]]:
    """What delta-rs itself reads: the ground truth for our writes."""
    t = DeltaTable(str(path), version=version)
    return sorted(pa.table(t.to_pyarrow_table()).to_pylist(), key=lambda r: json.dumps(r, default=str, sort_keys=True))


def ids(df: pd.DataFrame) -> list[int]:
    return sorted(int(i) for i in df["id"])


def data_files(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*.parquet"))


# --------------------------------------------------------------------------- writes, every mode
def test_first_write_creates_the_table_and_each_write_is_one_version(dao: DataAccessObject, lake: Path) -> None:
    result = dao.write(users(1, 2), "lake.users", engine="pandas")
    assert result.rows_written == 2 and "version 0" in result.location
    assert DeltaTable(str(lake / "users")).version() == 0
    assert table_rows(lake / "users") == [{"id": 1, "name": "u1"}, {"id": 2, "name": "u2"}]

    dao.write(users(3), "lake.users", engine="pandas", mode="append")
    assert DeltaTable(str(lake / "users")).version() == 1
    assert ids(dao.read("lake.users", engine="pandas")) == [1, 2, 3]

    dao.write(users(7, 8), "lake.users", engine="pandas", mode="overwrite")
    table = DeltaTable(str(lake / "users"))
    assert table.version() == 2
    assert ids(dao.read("lake.users", engine="pandas")) == [7, 8]
    assert table_rows(lake / "users") == [{"id": 7, "name": "u7"}, {"id": 8, "name": "u8"}]
    assert [h["operation"] for h in table.history()] == ["WRITE", "WRITE", "CREATE TABLE"]


def test_errorifexists_and_ignore(dao: DataAccessObject, lake: Path) -> None:
    dao.write(users(1), "lake.users", engine="pandas")
    with pytest.raises(DaoError, match=r"object 'lake.users' already has a Delta table at .*version 0.*mode='append'"):
        dao.write(users(2), "lake.users", engine="pandas", mode="errorifexists")
    before = data_files(lake / "users")
    result = dao.write(users(2), "lake.users", engine="pandas", mode="ignore")
    assert result.skipped
    assert DeltaTable(str(lake / "users")).version() == 0
    assert data_files(lake / "users") == before  # the ignored write's files were removed
    assert ids(dao.read("lake.users", engine="pandas")) == [1]


def test_partitioned_table_and_dynamic_overwrite_replace_only_written_partitions(dao: DataAccessObject, lake: Path) -> None:
    dao.write(events([(1, "DE"), (2, "US"), (3, "FR")]), "lake.events", engine="pandas")
    assert DeltaTable(str(lake / "events")).metadata().partition_columns == ["country"]
    assert all("country=" in f for f in data_files(lake / "events"))
    dao.write(events([(20, "US"), (21, "US")]), "lake.events", engine="pandas", mode="dynamic")
    rows = table_rows(lake / "events")
    assert sorted((r["country"], r["id"]) for r in rows) == [("DE", 1), ("FR", 3), ("US", 20), ("US", 21)]
    # static overwrite replaces everything
    dao.write(events([(9, "DE")]), "lake.events", engine="pandas", mode="overwrite")
    assert [(r["country"], r["id"]) for r in table_rows(lake / "events")] == [("DE", 9)]


def test_empty_writes_keep_the_schema(dao: DataAccessObject, lake: Path) -> None:
    empty = pa.table({"id": pa.array([], pa.int64()), "name": pa.array([], pa.string())})
    dao.write(empty, "lake.users", engine="pandas")
    table = DeltaTable(str(lake / "users"))
    assert table.version() == 0 and pa.schema(table.schema().to_arrow()).names == ["id", "name"]
    got = dao.read("lake.users", engine="arrow")
    assert got.num_rows == 0 and got.schema.names == ["id", "name"] and got.schema.field("id").type == pa.int64()
    dao.write(users(1), "lake.users", engine="pandas", mode="append")
    dao.write(empty, "lake.users", engine="pandas", mode="overwrite")  # empties the table, new version
    assert DeltaTable(str(lake / "users")).version() == 2 and dao.read("lake.users", engine="arrow").num_rows == 0


# --------------------------------------------------------------------------- bad input, nothing written
def test_schema_mismatch_is_refused_before_anything_is_written(dao: DataAccessObject, lake: Path) -> None:
    dao.write(users(1), "lake.users", engine="pandas")
    before = data_files(lake / "users")
    bad = pd.DataFrame({"id": ["not a number"], "name": ["x"]})
    with pytest.raises(SchemaMismatch, match=r"lake.users.*Delta version 0"):
        dao.write(bad, "lake.users", engine="pandas", mode="append")
    assert DeltaTable(str(lake / "users")).version() == 0 and data_files(lake / "users") == before


def test_catalog_partitioning_must_match_the_table(catalog: Catalog, lake: Path) -> None:
    write_deltalake(str(lake / "events"), pa.table({"id": [1], "country": ["DE"]}))  # unpartitioned
    with pytest.raises(SchemaMismatch, match=r"partitions it by \['country'\] but the Delta table .* is partitioned by \[\]"):
        DataAccessObject(catalog).write(events([(2, "US")]), "lake.events", engine="pandas", mode="append")


def test_bad_options_name_the_option_and_the_store(dao: DataAccessObject) -> None:
    with pytest.raises(DaoError, match=r"writing 'lake.users' \(store 'lake'\): unknown option 'compresion'. Did you mean 'compression'"):
        dao.write(users(1), "lake.users", engine="pandas", options={"compresion": "zstd"})
    dao.write(users(1), "lake.users", engine="pandas")
    with pytest.raises(DaoError, match=r"reading 'lake.users' \(store 'lake'\): option versionAsOf='three' is not valid: expected a non-negative integer"):
        dao.read("lake.users", engine="pandas", options={"versionAsOf": "three"})
    with pytest.raises(DaoError, match=r"give versionAsOf or timestampAsOf, not both"):
        dao.read("lake.users", engine="pandas", version=0, timestamp="2026-01-01 00:00:00")


def test_a_folder_of_plain_files_is_not_taken_for_a_table(dao: DataAccessObject, lake: Path) -> None:
    (lake / "users").mkdir(parents=True)
    pa.parquet = __import__("pyarrow.parquet").parquet
    pa.parquet.write_table(pa.table({"id": [1]}), lake / "users" / "old.parquet")
    with pytest.raises(DaoError, match=r"holds files but no _delta_log \(e.g. old.parquet\), so it is not a Delta table"):
        dao.write(users(1), "lake.users", engine="pandas", mode="overwrite")
    assert data_files(lake / "users") == ["old.parquet"]


def test_reading_a_missing_table_says_so(dao: DataAccessObject) -> None:
    with pytest.raises(DaoError, match=r"object 'lake.users' has no Delta table at .* \(store 'lake'\)"):
        dao.read("lake.users", engine="pandas")
    assert not dao.exists("lake.users")


# --------------------------------------------------------------------------- failures leave no version
def test_a_failed_commit_removes_the_staged_files_and_makes_no_version(catalog: Catalog, lake: Path, monkeypatch) -> None:
    dao = DataAccessObject(catalog)
    dao.write(users(1), "lake.users", engine="pandas")
    obj = catalog.get("lake.users")
    itf = get_interface(obj.store)
    spec = itf.prepare_write(obj, pa.schema([("id", pa.int64()), ("name", pa.string())]), {"mode": "append"})
    part = itf.stage(obj, pa.table({"id": [5], "name": ["x"]}).to_batches(), spec, "job-fail")
    staged = [f.path for f in part.files]
    assert staged and all((lake / "users" / p).exists() for p in staged)  # something was staged
    import deltalake

    def boom(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full while writing the log")

    monkeypatch.setattr(deltalake.DeltaTable, "create_write_transaction", boom)
    with pytest.raises(DaoError, match=r"committing the write to 'lake.users' \(store 'lake'\).*disk full"):
        itf.commit(obj, [part], spec)
    assert not any((lake / "users" / p).exists() for p in staged)
    assert DeltaTable(str(lake / "users")).version() == 0


def test_abort_removes_what_was_staged(catalog: Catalog, lake: Path) -> None:
    DataAccessObject(catalog).write(users(1), "lake.users", engine="pandas")
    obj = catalog.get("lake.users")
    itf = get_interface(obj.store)
    spec = itf.prepare_write(obj, pa.schema([("id", pa.int64()), ("name", pa.string())]), {"mode": "overwrite"})
    part = itf.stage(obj, pa.table({"id": [5, 6], "name": ["x", "y"]}).to_batches(), spec, "job-abort")
    assert len(data_files(lake / "users")) == 2  # staged, invisible
    assert ids(DataAccessObject(catalog).read("lake.users", engine="pandas")) == [1]
    itf.abort(obj, [part, StagedPart(job_id="job-abort")], spec)
    assert len(data_files(lake / "users")) == 1
    assert DeltaTable(str(lake / "users")).version() == 0 and table_rows(lake / "users") == [{"id": 1, "name": "u1"}]


def test_a_concurrent_overwrite_is_retried_on_the_new_version_or_a_write_conflict(catalog: Catalog, lake: Path) -> None:
    dao = DataAccessObject(catalog)
    dao.write(users(1, 2), "lake.users", engine="pandas")
    obj = catalog.get("lake.users")
    itf = get_interface(obj.store)
    schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
    # max_retries=0: the conflict is a WriteConflict naming the commit that won; nothing committed
    spec = itf.prepare_write(obj, schema, {"mode": "overwrite", "max_retries": 0})  # reads version 0
    part = itf.stage(obj, pa.table({"id": [5], "name": ["x"]}).to_batches(), spec, "job-slow")
    dao.write(users(9), "lake.users", engine="pandas", mode="overwrite")  # version 1 meanwhile
    with pytest.raises(WriteConflict, match=r"a concurrent commit to the Delta table \(version 1, WRITE\) conflicts "
                                            r"with this overwrite after 0 retries \(max_retries=0\)"):
        itf.commit(obj, [part], spec)
    assert DeltaTable(str(lake / "users")).version() == 1
    assert table_rows(lake / "users") == [{"id": 9, "name": "u9"}]
    assert not any((lake / "users" / f.path).exists() for f in part.files)
    # by default the overwrite is retried against the new version: it replaces that version's data
    spec = itf.prepare_write(obj, schema, {"mode": "overwrite"})  # reads version 1
    part = itf.stage(obj, pa.table({"id": [6], "name": ["y"]}).to_batches(), spec, "job-retry")
    dao.write(users(10, 11), "lake.users", engine="pandas", mode="overwrite")  # version 2 meanwhile
    result = itf.commit(obj, [part], spec)
    assert "version 3" in result.location and result.files_removed == 1  # version 2's file, not version 1's
    assert table_rows(lake / "users") == [{"id": 6, "name": "y"}]
    # a blind append meanwhile does not conflict (Delta's WriteSerializable): it lands after the overwrite
    spec = itf.prepare_write(obj, schema, {"mode": "overwrite"})
    part = itf.stage(obj, pa.table({"id": [7], "name": ["z"]}).to_batches(), spec, "job-append")
    dao.write(users(12), "lake.users", engine="pandas", mode="append")
    itf.commit(obj, [part], spec)
    assert table_rows(lake / "users") == [{"id": 12, "name": "u12"}, {"id": 7, "name": "z"}]


def test_concurrent_appends_both_land(catalog: Catalog, lake: Path) -> None:
    dao = DataAccessObject(catalog)
    dao.write(users(1), "lake.users", engine="pandas")
    obj = catalog.get("lake.users")
    itf = get_interface(obj.store)
    schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
    a = itf.prepare_write(obj, schema, {"mode": "append"})
    b = itf.prepare_write(obj, schema, {"mode": "append"})
    pa_ = itf.stage(obj, pa.table({"id": [2], "name": ["a"]}).to_batches(), a, "job-a")
    pb = itf.stage(obj, pa.table({"id": [3], "name": ["b"]}).to_batches(), b, "job-b")
    itf.commit(obj, [pa_], a)
    itf.commit(obj, [pb], b)
    assert ids(dao.read("lake.users", engine="pandas")) == [1, 2, 3]
    assert DeltaTable(str(lake / "users")).version() == 2


# --------------------------------------------------------------------------- reads
def test_time_travel_by_version_and_timestamp(dao: DataAccessObject, lake: Path) -> None:
    dao.write(users(1), "lake.users", engine="pandas")
    time.sleep(0.05)
    between = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    dao.write(users(2), "lake.users", engine="pandas", mode="append")
    dao.write(users(3), "lake.users", engine="pandas", mode="overwrite")
    assert ids(dao.read("lake.users", engine="pandas", version=0)) == [1]
    assert ids(dao.read("lake.users", engine="pandas", version=1)) == [1, 2]
    assert ids(dao.read("lake.users", engine="pandas")) == [3]
    assert ids(dao.read("lake.users", engine="pandas", timestamp=between)) == [1]
    assert ids(dao.read("lake.users", engine="pandas", options={"timestampAsOf": between.strftime("%Y-%m-%d %H:%M:%S.%f")})) == [1]
    with pytest.raises(DaoError, match=r"version 7 does not exist; the table's versions are 0 to 2 \(its latest\)"):
        dao.read("lake.users", engine="pandas", version=7)
    with pytest.raises(DaoError, match=r"no version of the table exists at 2001-01-01"):
        dao.read("lake.users", engine="pandas", timestamp="2001-01-01 00:00:00")


def test_the_snapshot_is_pinned_when_the_read_is_planned(catalog: Catalog) -> None:
    dao = DataAccessObject(catalog)
    dao.write(users(1, 2), "lake.users", engine="pandas")
    obj = catalog.get("lake.users")
    itf = get_interface(obj.store)
    plan = itf.plan_read(obj, {})
    dao.write(users(5), "lake.users", engine="pandas", mode="overwrite")  # commits while the "job" runs
    rows = [r for t in plan.tasks for b in itf.read(t) for r in b.to_pylist()]
    assert sorted(r["id"] for r in rows) == [1, 2]  # the old files are still there (no VACUUM)


def test_partition_and_statistics_pruning(catalog: Catalog) -> None:
    dao = DataAccessObject(catalog)
    for rows in ([(1, "DE"), (2, "DE")], [(10, "US"), (11, "US")], [(20, "FR")]):
        dao.write(events(rows), "lake.events", engine="pandas", mode="append")
    obj = catalog.get("lake.events")
    itf = get_interface(obj.store)

    def files_read(filters: list[tuple[str, str, Any]]) -> int:
        plan = itf.plan_read(obj, {}, filters)
        return sum(len(t.payload.slices) for t in plan.tasks)

    assert files_read([]) == 3
    assert files_read([("country", "=", "US")]) == 1
    assert files_read([("id", ">=", 11)]) == 2  # min/max stats: the DE file (ids 1-2) is skipped
    assert files_read([("id", ">", 11)]) == 1
    assert files_read([("id", "<=", 2)]) == 1  # boundary: max 2 <= 2 keeps the DE file only
    assert files_read([("id", "<", 2)]) == 1
    assert files_read([("id", "<", 1)]) == 0
    assert files_read([("id", "=", 10)]) == 1
    # every operator at its boundary (files: DE ids 1-2, US 10-11, FR 20)
    assert files_read([("id", "<=", 1)]) == 1 and files_read([("id", "<=", 0)]) == 0
    assert files_read([("id", "<", 10)]) == 1 and files_read([("id", "<", 11)]) == 2
    assert files_read([("id", ">=", 20)]) == 1 and files_read([("id", ">=", 21)]) == 0
    assert files_read([("id", ">", 19)]) == 1 and files_read([("id", ">", 20)]) == 0
    assert files_read([("id", "=", 11)]) == 1 and files_read([("id", "=", 12)]) == 0
    assert files_read([("id", "in", [3, 12])]) == 0
    assert files_read([("id", "in", [2, 20])]) == 2
    plan = itf.plan_read(obj, {}, [("country", "=", "US"), ("id", ">", 0)])
    assert plan.applied_filters == (("country", "=", "US"),)  # stats prune; the engine re-checks rows
    got = dao.read("lake.events", engine="pandas", filters=[("id", ">", 10)])
    assert sorted(got["id"]) == [11, 20]
    got = dao.read("lake.events", engine="pandas", columns=["id"], filters=[("country", "=", "DE")])
    assert list(got.columns) == ["id"] and sorted(got["id"]) == [1, 2]


def test_tables_written_by_delta_rs_are_read_with_types_and_partitions(catalog: Catalog, lake: Path) -> None:
    data = pa.table({
        "id": pa.array([1, 2, 3], pa.int64()),
        "country": ["DE", None, "US"],
        "born": pa.array([dt.date(2000, 1, 1), None, dt.date(2001, 2, 3)], pa.date32()),
        "seen": pa.array([dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)] * 3, pa.timestamp("us", "UTC")),
    })
    write_deltalake(str(lake / "events"), data, partition_by=["country"])
    got = DataAccessObject(catalog).read("lake.events", engine="arrow")
    assert sorted(got.to_pylist(), key=lambda r: r["id"]) == data.to_pylist()
    assert got.schema.field("born").type == pa.date32()


def test_unsupported_features_are_refused_by_name(catalog: Catalog, lake: Path) -> None:
    """Deletion vectors are honoured by reads and writes (tests/test_delta_native.py makes real ones
    with delta-spark) but refused by upserts; column mapping is refused by all."""
    write_deltalake(str(lake / "users"), pa.table({"id": [1, 2], "name": ["a", "b"]}),
                    configuration={"delta.enableDeletionVectors": "true"})
    protocol = DeltaTable(str(lake / "users")).protocol()
    assert "deletionVectors" in (protocol.reader_features or [])
    assert ids(DataAccessObject(catalog).read("lake.users", engine="pandas")) == [1, 2]
    with pytest.raises(DaoError, match=r"writing 'lake.users' \(store 'lake'\): the table uses Delta features this "
                                       r"interface does not implement for writing \(deletionVectors: deletion vectors"):
        DataAccessObject(catalog).upsert(users(3), "lake.users", engine="pandas")
    DataAccessObject(catalog).write(users(3), "lake.users", engine="pandas", mode="append")  # adds only: fine
    assert ids(DataAccessObject(catalog).read("lake.users", engine="pandas")) == [1, 2, 3]
    # an overwrite: one commit written by spark_dao, its removes naming each file's deletion vector
    DataAccessObject(catalog).write(users(4), "lake.users", engine="pandas", mode="overwrite")
    assert ids(DataAccessObject(catalog).read("lake.users", engine="pandas")) == [4]
    assert DeltaTable(str(lake / "users")).history(1)[0]["engineInfo"] == "spark_dao"
    write_deltalake(str(lake / "typed"), pa.table({"id": [1], "name": ["a"]}),
                    configuration={"delta.columnMapping.mode": "name"})
    if (DeltaTable(str(lake / "typed")).protocol().min_reader_version or 0) >= 2:
        with pytest.raises(DaoError, match=r"for reading \(columnMapping: column mapping"):
            DataAccessObject(catalog).read("lake.typed", engine="pandas")


# --------------------------------------------------------------------------- the interface itself
def test_interface_basics(catalog: Catalog, lake: Path) -> None:
    itf = get_interface(catalog.store("lake"))
    assert isinstance(itf, DeltaInterface)
    dao = DataAccessObject(catalog)
    dao.write(users(1), "lake.users", engine="pandas")
    dao.write(events([(1, "DE")]), "lake.events", engine="pandas")
    assert dao.list("lake") == ["lake.events", "lake.typed", "lake.users"] or "lake.users" in dao.list("lake")
    assert itf.list_objects() == ["events", "users"]
    assert [h["version"] for h in itf.history(catalog.get("lake.users"))] == [0]
    assert dao.exists("lake.users") and dao.delete("lake.users")
    assert not dao.exists("lake.users") and not os.path.exists(lake / "users")
    assert dao.delete("lake.users") is False


def test_declared_schema_types_are_the_tables(dao: DataAccessObject, lake: Path) -> None:
    dao.write(pa.table({"id": pa.array([1], pa.int32()), "name": ["a"]}), "lake.typed", engine="pandas")
    assert pa.schema(DeltaTable(str(lake / "typed")).schema().to_arrow()).field("id").type == pa.int64()


# --------------------------------------------------------------------------- Spark
def test_spark_writes_one_version_and_reads_with_time_travel(spark: Any, catalog: Catalog, lake: Path) -> None:
    dao = DataAccessObject(catalog, spark=spark)
    df = spark.createDataFrame([(i, "DE" if i % 2 else "US") for i in range(40)], "id long, country string")
    dao.write(df.repartition(4), "lake.events", mode="overwrite")
    table = DeltaTable(str(lake / "events"))
    assert table.version() == 0 and len(table_rows(lake / "events")) == 40
    dao.write(spark.createDataFrame([(100, "FR")], "id long, country string"), "lake.events", mode="append")
    fmt = dao._format_name(spark)
    v0 = spark.read.format(fmt).option("versionAsOf", 0).load("lake.events")
    assert v0.count() == 40
    latest = spark.read.format(fmt).load("lake.events")
    assert latest.count() == 41 and latest.filter("country = 'FR'").count() == 1


def test_a_failed_spark_task_leaves_no_version_and_no_files(spark: Any, catalog: Catalog, lake: Path) -> None:
    from pyspark.sql import functions as F

    dao = DataAccessObject(catalog, spark=spark)
    dao.write(spark.createDataFrame([(1, "a")], "id long, name string"), "lake.users", mode="overwrite")
    before = data_files(lake / "users")
    bad = spark.range(0, 200, numPartitions=4).select(
        F.col("id"),
        F.when(F.col("id") == 150, F.raise_error("task failed on purpose")).otherwise(F.lit("x")).alias("name"),
    )
    with pytest.raises(Exception, match="task failed on purpose"):
        # the Python path (also when the session has Delta): it removes what the failed job staged;
        # delta-spark leaves such files unreferenced for VACUUM (tests/test_delta_native.py)
        dao.write(bad, "lake.users", mode="overwrite", options={"engine_path": "python"})
    assert DeltaTable(str(lake / "users")).version() == 0
    assert table_rows(lake / "users") == [{"id": 1, "name": "a"}]
    assert data_files(lake / "users") == before  # the other tasks' staged files were removed


def test_a_task_failing_mid_stage_removes_its_own_partial_files(catalog: Catalog, lake: Path) -> None:
    DataAccessObject(catalog).write(users(1), "lake.users", engine="pandas")
    obj = catalog.get("lake.users")
    itf = get_interface(obj.store)
    schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
    spec = itf.prepare_write(obj, schema, {"mode": "append", "max_rows_per_file": 1})
    written: list[int] = []

    def batches():
        for i in range(3):
            if i == 2:
                written.append(len(data_files(lake / "users")))
                raise OSError("the source went away")
            yield pa.record_batch({"id": [10 + i], "name": ["x"]}, schema=schema)

    with pytest.raises(DaoError, match=r"writing 'lake.users' \(store 'lake'\).*the source went away"):
        itf.stage(obj, batches(), spec, "job-partial")
    assert written and written[0] > 1  # this task had written files before it failed
    assert len(data_files(lake / "users")) == 1  # only the committed one is left


@pytest.mark.parametrize("value", ["a b", "a/b", "100%", "x=y", "ü&?#", None])
def test_partition_values_that_need_escaping_round_trip_with_delta_rs(catalog: Catalog, lake: Path, value) -> None:
    dao = DataAccessObject(catalog)
    dao.write(events([(1, value), (2, "plain")]), "lake.events", engine="pandas")
    assert sorted(table_rows(lake / "events"), key=lambda r: r["id"]) == [
        {"id": 1, "country": value}, {"id": 2, "country": "plain"}]
    # a dynamic overwrite of that partition removes exactly its file (the remove names the same path)
    dao.write(events([(3, value)]), "lake.events", engine="pandas", mode="dynamic")
    assert sorted(table_rows(lake / "events"), key=lambda r: r["id"]) == [
        {"id": 2, "country": "plain"}, {"id": 3, "country": value}]
    got = dao.read("lake.events", engine="arrow")
    assert sorted(got.to_pylist(), key=lambda r: r["id"]) == [{"id": 2, "country": "plain"}, {"id": 3, "country": value}]
    # and delta-rs's own writes of such values read back through the DAO
    write_deltalake(str(lake / "events"), pa.table({"id": [4], "country": [value]}), mode="append")
    assert sorted(r["id"] for r in dao.read("lake.events", engine="arrow").to_pylist()) == [2, 3, 4]


# --------------------------------------------------------------------------- late tasks (the staging protocol)
@pytest.mark.parametrize("operation", ["write", "upsert"])
def test_a_task_of_an_aborted_job_removes_its_own_files(catalog: Catalog, lake: Path, operation: str) -> None:
    DataAccessObject(catalog).write(users(1), "lake.users", engine="pandas")
    obj = catalog.get("lake.users")
    itf = get_interface(obj.store)
    schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
    options = {"mode": "append"} if operation == "write" else {"operation": "upsert", "keys": ["id"]}
    before = sorted(p for p in (lake / "users").rglob("*") if p.is_file() and "_delta_log" not in p.parts)
    spec = itf.start_job(obj, itf.prepare_write(obj, schema, options), "job-late")
    assert spec.options["lease"]

    def batches():
        yield pa.record_batch({"id": [2], "name": ["x"]}, schema=schema)
        itf.abort(obj, [], spec, job_id="job-late")  # the driver aborts while this task stages
        yield pa.record_batch({"id": [3], "name": ["y"]}, schema=schema)

    with pytest.raises(DaoError, match=r"job job-late ended \(aborted or committed\) while this task was staging"):
        itf.stage(obj, batches(), spec, "job-late")
    after = sorted(p for p in (lake / "users").rglob("*") if p.is_file() and "_delta_log" not in p.parts)
    assert after == before
    # a task that starts after the abort writes nothing at all
    with pytest.raises(DaoError, match=r"ended \(aborted or committed\) before this task staged anything"):
        itf.stage(obj, pa.table({"id": [4], "name": ["z"]}).to_batches(), spec, "job-late")
    assert DeltaTable(str(lake / "users")).version() == 0


def test_without_deltalake_the_error_names_the_extra(monkeypatch) -> None:
    import sys

    from spark_dao.errors import BackendNotInstalled
    from spark_dao.interfaces._delta_commit import _deltalake

    monkeypatch.setitem(sys.modules, "deltalake", None)
    with pytest.raises(BackendNotInstalled, match=r"pip install 'spark-dao\[delta\]'"):
        _deltalake()


# --------------------------------------------------------------------------- management
def test_history_optimize_vacuum_restore(dao: DataAccessObject, lake: Path) -> None:
    for i in range(4):
        dao.write(events([(i, "DE"), (10 + i, "US")]), "lake.events", engine="pandas", mode="append",
                  options={"userMetadata": f"load {i}"})
    history = dao.history("lake.events")
    assert [h["version"] for h in history] == [3, 2, 1, 0]
    assert history[0]["userMetadata"] == "load 3" and history[0]["operationMetrics"]["numOutputRows"] == "2"
    assert len(dao.history("lake.events", limit=2)) == 2
    files_before = len(DeltaTable(str(lake / "events")).file_uris())
    assert files_before == 8
    metrics = dao.optimize("lake.events", where=[("country", "=", "DE")])
    assert metrics["numFilesRemoved"] == 4 and metrics["numFilesAdded"] == 1
    assert len(DeltaTable(str(lake / "events")).file_uris()) == 5  # DE compacted, US untouched
    assert sorted(dao.read("lake.events", engine="pandas")["id"]) == [0, 1, 2, 3, 10, 11, 12, 13]
    dao.optimize("lake.events", zorder_by=["id"])
    assert len(DeltaTable(str(lake / "events")).file_uris()) == 2
    # vacuum: the compacted-away files are listed (dry run) then deleted; time travel to them stops
    listed = dao.vacuum("lake.events", retention_hours=0)
    # the 8 written files and the DE file the first optimize made (both optimizes rewrote them)
    assert len(listed) == 9 and all((lake / "events" / p).exists() for p in listed)
    assert sorted(dao.vacuum("lake.events", retention_hours=0, dry_run=False)) == sorted(listed)
    assert not any((lake / "events" / p).exists() for p in listed)
    assert sorted(dao.read("lake.events", engine="pandas")["id"]) == [0, 1, 2, 3, 10, 11, 12, 13]
    # restore: version 1's data, as a new version
    version = DeltaTable(str(lake / "events")).version()
    dao.write(events([(99, "FR")]), "lake.events", engine="pandas", mode="overwrite")
    dao.restore("lake.events", version=version)
    assert sorted(dao.read("lake.events", engine="pandas")["id"]) == [0, 1, 2, 3, 10, 11, 12, 13]
    assert DeltaTable(str(lake / "events")).version() == version + 2


def test_management_errors_are_clear(dao: DataAccessObject, tmp_path: Path) -> None:
    dao.write(events([(1, "DE")]), "lake.events", engine="pandas")
    with pytest.raises(DaoError, match=r"where may name partition columns only \(\['country'\]\), not 'id'"):
        dao.optimize("lake.events", where=[("id", "=", 1)])
    with pytest.raises(DaoError, match=r"zorder_by columns \['nope'\] are not in the table"):
        dao.optimize("lake.events", zorder_by=["nope"])
    with pytest.raises(DaoError, match=r"version 5 does not exist; the table's versions are 0 to 0"):
        dao.restore("lake.events", version=5)
    with pytest.raises(DaoError, match=r"retention_hours=-1 must be 0 or more"):
        dao.vacuum("lake.events", retention_hours=-1)
    with pytest.raises(DaoError, match=r"object 'lake.users' has no Delta table"):
        dao.history("lake.users")
    files = DataAccessObject({"stores": {"f": {"interface": "files", "path": str(tmp_path / "f")}}})
    with pytest.raises(DaoError, match=r"history needs a table format with versions \(interface: delta\); "
                                       r"the store's interface FilesInterface has none"):
        files.history("f.t")


def test_a_first_write_in_progress_is_not_taken_for_a_foreign_folder(catalog: Catalog, lake: Path) -> None:
    """While the first write of a table stages its files (no log yet), readers see no table and a
    second writer may still create it; only files this interface did not stage mean 'not Delta'."""
    obj = catalog.get("lake.events")
    itf = get_interface(obj.store)
    schema = pa.schema([("id", pa.int64()), ("country", pa.string())])
    spec = itf.prepare_write(obj, schema, {"mode": "append"})
    itf.stage(obj, pa.table({"id": [1], "country": ["DE"]}).to_batches(), spec, "0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    assert data_files(lake / "events") and not (lake / "events" / "_delta_log").exists()
    assert not itf.exists(obj)
    with pytest.raises(DaoError, match=r"has no Delta table"):
        DataAccessObject(catalog).read("lake.events", engine="pandas")
    DataAccessObject(catalog).write(events([(2, "US")]), "lake.events", engine="pandas", mode="append")
    assert table_rows(lake / "events") == [{"id": 2, "country": "US"}]


def test_replace_where_overwrites_only_the_matching_partitions(dao: DataAccessObject, lake: Path) -> None:
    dao.write(events([(1, "DE"), (2, "FR"), (3, "US"), (4, "IT")]), "lake.events", engine="pandas")
    dao.write(events([(20, "FR"), (21, "DE")]), "lake.events", engine="pandas", mode="overwrite",
              options={"replaceWhere": "country IN ('DE', 'FR', 'ES')"})
    assert sorted((r["country"], r["id"]) for r in table_rows(lake / "events")) == [
        ("DE", 21), ("FR", 20), ("IT", 4), ("US", 3)]
    # boundaries: a comparison on the partition column, and nothing written when a row lies outside
    dao.write(events([(30, "GB")]), "lake.events", engine="pandas", mode="overwrite",
              options={"replaceWhere": "country >= 'FR' AND country < 'IT'"})
    assert sorted((r["country"], r["id"]) for r in table_rows(lake / "events")) == [
        ("DE", 21), ("GB", 30), ("IT", 4), ("US", 3)]  # FR (= lower bound) replaced, IT (= upper) kept
    version = DeltaTable(str(lake / "events")).version()
    with pytest.raises(DaoError, match=r"with replaceWhere: 1 row\(s\) do not match the predicate"):
        dao.write(events([(40, "DE"), (41, "US")]), "lake.events", engine="pandas", mode="overwrite",
                  options={"replaceWhere": "country = 'DE'"})
    assert DeltaTable(str(lake / "events")).version() == version
    with pytest.raises(DaoError, match=r"'id' is not a partition column \(\['country'\]\); on the Python path "
                                       r"replaceWhere takes partition columns only.*native path"):
        dao.write(events([(1, "DE")]), "lake.events", engine="pandas", mode="overwrite", options={"replaceWhere": "id > 3"})
    with pytest.raises(DaoError, match=r"replaceWhere applies to mode='overwrite', not 'append'"):
        dao.write(events([(1, "DE")]), "lake.events", engine="pandas", mode="append", options={"replaceWhere": "country = 'DE'"})
    with pytest.raises(DaoError, match=r"cannot read \"country = 'DE' OR country = 'FR'\""):
        dao.write(events([(1, "DE")]), "lake.events", engine="pandas", mode="overwrite",
                  options={"replaceWhere": "country = 'DE' OR country = 'FR'"})
    assert DeltaTable(str(lake / "events")).version() == version


def test_parse_predicate() -> None:
    from spark_dao.interfaces.filters import parse_predicate

    assert parse_predicate("day >= '2025-01-01' AND country IN ('DE', 'O''Brien') and `a b` <> 2.5 AND x IS NOT NULL",
                           what="t") == [("day", ">=", "2025-01-01"), ("country", "in", ["DE", "O'Brien"]),
                                         ("a b", "!=", 2.5), ("x", "not_null", None)]
    assert parse_predicate("name = 'x AND y'", what="t") == [("name", "=", "x AND y")]
    assert parse_predicate("n == -3 and b = true AND c is null", what="t") == [
        ("n", "=", -3), ("b", "=", True), ("c", "is_null", None)]
    for bad in ("a = 1 OR b = 2", "f(a) = 1", "a = b", "", "a BETWEEN 1 AND 2"):
        with pytest.raises(DaoError, match=r"t: "):
            parse_predicate(bad, what="t")


def test_drop_deleted_across_batch_boundaries() -> None:
    from spark_dao.interfaces._read import drop_deleted

    batches = [pa.record_batch({"i": list(range(k, k + 4))}) for k in (0, 4, 8)]  # rows 0..11 in batches of 4
    for deleted in [(), (0,), (3, 4), (11,), (0, 3, 4, 7, 8, 11), tuple(range(12)), (5,)]:
        kept = [v for b in drop_deleted(iter(batches), deleted) for v in b.column(0).to_pylist()]
        assert kept == [i for i in range(12) if i not in deleted], deleted


# --------------------------------------------------------------------------- a killed driver's data files
def _data_files(lake: Path) -> list[str]:
    return sorted(str(p.relative_to(lake)) for p in (lake / "events").rglob("*.parquet")
                  if "_delta_log" not in p.parts and "_dao_staging" not in p.parts)


def _age(path: Path, hours: float) -> None:
    old = time.time() - hours * 3600
    os.utime(path, (old, old))


def test_cleanup_removes_the_data_files_of_a_killed_driver_that_the_log_never_referenced(
        catalog: Catalog, lake: Path) -> None:
    dao = DataAccessObject(catalog)
    dao.write(events([(1, "2025-01-01"), (2, "2025-01-02")]), "lake.events", engine="pandas")
    committed = _data_files(lake)
    obj = catalog.get("lake.events")
    itf = get_interface(obj.store)
    data = pa.Table.from_pandas(events([(3, "2025-01-01"), (4, "2025-01-03")]), preserve_index=False)
    spec = itf.start_job(obj, itf.prepare_write(obj, data.schema, {"mode": "append"}), "c0ffee11" * 4)
    itf.stage(obj, data.to_batches(), spec, "c0ffee11" * 4)  # the task ran; then the driver was killed
    orphans = sorted(set(_data_files(lake)) - set(committed))
    assert len(orphans) == 2 and all("part-c0ffee11-" in p for p in orphans)  # staged into the table folder
    marker = lake / "events" / "_dao_staging" / f"{'c0ffee11' * 4}.live"
    assert marker.exists()

    # a job still marked live is left alone
    assert dao.cleanup("lake.events", older_than=24) == []
    assert _data_files(lake) == sorted(committed + orphans)
    # once its marker is older than older_than the job is dead: its files and marker go
    _age(marker, 48)
    removed = dao.cleanup("lake.events", older_than=24)
    assert sorted(os.path.relpath(r, lake) for r in removed if r.endswith(".parquet")) == orphans
    assert any(r.endswith(".live") for r in removed)
    assert _data_files(lake) == committed and not marker.exists()
    assert sorted(r["id"] for r in dao.read("lake.events", engine="arrow").to_pylist()) == [1, 2]
    assert DeltaTable(str(lake / "events")).version() == 0


def test_cleanup_keeps_the_files_of_a_job_that_committed_before_its_driver_died(catalog: Catalog, lake: Path) -> None:
    dao = DataAccessObject(catalog)
    obj = catalog.get("lake.events")
    itf = get_interface(obj.store)
    data = pa.Table.from_pandas(events([(1, "2025-01-01"), (2, "2025-01-02")]), preserve_index=False)
    job = "feedbeef" * 4
    spec = itf.start_job(obj, itf.prepare_write(obj, data.schema, {"mode": "append"}), job)
    itf.commit(obj, [itf.stage(obj, data.to_batches(), spec, job)], spec)
    files = _data_files(lake)
    assert files and all("part-feedbeef-" in p for p in files)
    # the driver died after the commit, before removing its marker: a stale marker, committed files
    marker = lake / "events" / "_dao_staging" / f"{job}.live"
    marker.parent.mkdir(exist_ok=True)
    marker.write_text("")
    _age(marker, 48)
    removed = dao.cleanup("lake.events", older_than=24)
    assert [r for r in removed if r.endswith(".parquet")] == [] and _data_files(lake) == files
    assert sorted(r["id"] for r in dao.read("lake.events", engine="arrow").to_pylist()) == [1, 2]
    # also once a checkpoint stands for the commits (their JSON may be cleaned up later)
    DeltaTable(str(lake / "events")).create_checkpoint()
    for commit in (lake / "events" / "_delta_log").glob("*.json"):
        commit.unlink()
    marker.parent.mkdir(exist_ok=True)
    marker.write_text("")
    _age(marker, 48)
    dao.cleanup("lake.events", older_than=24)
    assert _data_files(lake) == files


def test_a_killed_pandas_writer_is_marked_live_so_cleanup_removes_its_files(tmp_path: Path) -> None:
    """The pandas engine marks its job live as a Spark job is: a process killed (-9) in the middle
    of a Delta write leaves files in the table folder that dao.cleanup then finds and removes."""
    import signal
    import subprocess
    import sys
    import textwrap

    lake = tmp_path / "lake"
    job = tmp_path / "writer.py"
    job.write_text(textwrap.dedent(f"""
        import pyarrow as pa
        from spark_dao import DataAccessObject
        dao = DataAccessObject({{"stores": {{"lake": {{"interface": "delta", "path": {str(lake)!r}}}}},
                                "objects": {{"lake.k": {{"options": {{"max_rows_per_file": 20000}}}}}}}})
        table = pa.table({{"id": list(range(4_000_000))}})
        dao.write(table, "lake.k", mode="append", engine="pandas")
    """))
    proc = subprocess.Popen([sys.executable, str(job)])
    deadline = time.time() + 120
    while len(list((lake / "k").glob("*.parquet"))) < 5 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    staged = list((lake / "k").glob("*.parquet"))
    assert len(staged) >= 5 and not (lake / "k" / "_delta_log").exists()  # killed mid-write: no commit
    assert len(list((lake / "k" / "_dao_staging").glob("*.live"))) == 1  # the job was marked live
    dao = DataAccessObject({"stores": {"lake": {"interface": "delta", "path": str(lake)}}})
    assert dao.cleanup("lake.k") == []  # a live-looking job is kept (stale_staging_hours: 24)
    removed = dao.cleanup("lake.k", older_than=0)
    assert sum(r.endswith(".parquet") for r in removed) == len(staged)
    assert list((lake / "k").rglob("*.parquet")) == [] and list((lake / "k").rglob("*.live")) == []
