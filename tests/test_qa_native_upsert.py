"""QA of the native files upsert (spark_dao/engines/files_native.py ``upsert``): cases where it must
give what the Python path (``engine_path='python'``, the reference) gives, or keep a documented
guarantee (a failure leaves the target unchanged and no staging; errors name object and store)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_files_native import calls, data_files  # noqa: F401  (calls: a fixture)

from spark_dao import DaoError, DataAccessObject
from spark_dao.catalog import Catalog

SCHEMA = "id long, v string, ts long, p string"


def make_dao(spark: Any, root: Path, **obj: Any) -> DataAccessObject:
    cat = Catalog.load({
        "stores": {"lake": {"interface": "files", "path": str(root), "format": "parquet"}},
        "objects": {"lake.o": {"keys": ["id"], **obj}},
    })
    return DataAccessObject(cat, spark=spark)


def snapshot(root: Path) -> dict[str, bytes]:
    return {f: (root / f).read_bytes() for f in data_files(root)}


def no_staging(root: Path) -> bool:
    staging = root / "_dao_staging"
    return not staging.exists() or [p for p in staging.rglob("*") if p.is_file() and p.suffix != ".live"] == []


def rows(dao: DataAccessObject) -> list[dict]:
    return sorted(dao.read("lake.o", engine="arrow").to_pylist(), key=repr)


def counts(res: Any) -> tuple[int, ...]:
    return (res.rows_inserted, res.rows_updated, res.rows_deleted, res.files_rewritten, res.rows_written)


# --------------------------------------------------------------------------- D1
@pytest.mark.parametrize("stored_type", [pa.timestamp("ns"), pa.timestamp("ns", tz="UTC"), pa.uint64()])
def test_d1_files_with_types_spark_cannot_read_fall_back_on_auto_and_are_refused_on_native(
        spark: Any, tmp_path: Path, stored_type: pa.DataType) -> None:
    """Parquet written by pandas (nanosecond timestamps) or with unsigned 64-bit ints: Arrow reads
    them, Spark's reader refuses them. ``auto`` must rewrite them on the Python path (same answer);
    ``native`` must refuse by name before anything is written."""
    t0 = dt.datetime(2025, 1, 1)
    col = pa.array([t0] * 3, stored_type) if pa.types.is_timestamp(stored_type) else pa.array([7, 8, 9], stored_type)
    batch_schema = "id long, c timestamp" if pa.types.is_timestamp(stored_type) else "id long, c long"
    new_value = t0 + dt.timedelta(days=1) if pa.types.is_timestamp(stored_type) else 70
    results = {}
    for path in ("python", "auto", "native"):
        root = tmp_path / path
        (root / "o").mkdir(parents=True)
        pq.write_table(pa.table({"id": pa.array([1, 2, 3], pa.int64()), "c": col}), root / "o" / "ext.parquet")
        dao = make_dao(spark, root)
        batch = spark.createDataFrame([(1, new_value)], batch_schema)
        if path == "native":
            before = snapshot(root / "o")
            with pytest.raises(DaoError, match=r"upserting into 'lake.o' \(store 'lake'\) natively: .*"
                                               r"ext.parquet stores column 'c' .*engine_path='auto' or 'python'"):
                dao.upsert(batch, "lake.o", options={"engine_path": path})
            assert snapshot(root / "o") == before and no_staging(root / "o")
            continue
        res = dao.upsert(batch, "lake.o", options={"engine_path": path})
        results[path] = (counts(res), rows(dao))
    assert results["auto"] == results["python"]
    assert results["python"][0] == (0, 1, 0, 1, 3)


# --------------------------------------------------------------------------- D2
@pytest.mark.parametrize("path", ["native", "python"])
def test_d2_a_full_sync_with_an_empty_batch_deletes_everything_natively_too(spark: Any, tmp_path: Path,
                                                                            path: str) -> None:
    """``delete_unmatched`` with an empty batch: every stored row is unmatched. The native rewrite
    observed its row count under a semi join with no keys, which Spark prunes: a Py4J assertion."""
    dao = make_dao(spark, tmp_path, partition_by=["p"])
    dao.write(spark.createDataFrame([(i, f"v{i}", 1, "ab"[i % 2]) for i in range(6)], SCHEMA), "lake.o",
              mode="overwrite", options={"engine_path": "python"})
    stored = len(data_files(tmp_path / "o"))
    res = dao.upsert(spark.createDataFrame([], SCHEMA), "lake.o", delete_unmatched=True,
                     options={"engine_path": path})
    assert counts(res) == (0, 0, 6, stored, 0)
    assert rows(dao) == []
    assert no_staging(tmp_path / "o")


def test_d1_int96_timestamps_are_still_rewritten_natively(spark: Any, tmp_path: Path) -> None:
    """INT96 timestamps (older Spark writers; Arrow shows them as nanoseconds), which Spark reads: the
    check of D1 must not take them for the INT64 nanosecond timestamps Spark cannot read."""
    t0 = dt.datetime(2025, 1, 1, 12)
    for p in "ab":
        (tmp_path / "o" / f"p={p}").mkdir(parents=True)
        table = pa.table({"id": pa.array([i for i in range(6) if "ab"[i % 2] == p], pa.int64()),
                          "at": pa.array([t0] * 3, pa.timestamp("us", tz="UTC"))})
        pq.write_table(table, tmp_path / "o" / f"p={p}" / "old.parquet", use_deprecated_int96_timestamps=True)
    assert pq.ParquetFile(tmp_path / "o" / "p=b" / "old.parquet").schema.column(1).physical_type == "INT96"
    dao = make_dao(spark, tmp_path, partition_by=["p"], schema={"id": "long", "at": "timestamp", "p": "string"})
    schema = "id long, at timestamp, p string"
    for i in (1, 3):  # the first rewrites the INT96 file natively, the second the file Spark wrote
        res = dao.upsert(spark.createDataFrame([(i, t0 + dt.timedelta(days=i), "b")], schema), "lake.o",
                         options={"engine_path": "native"})
        assert (res.rows_updated, res.files_rewritten) == (1, 1)
    got = {r["id"]: r["at"].replace(tzinfo=None) for r in rows(dao)}
    assert got == {0: t0, 1: t0 + dt.timedelta(days=1), 2: t0, 3: t0 + dt.timedelta(days=3), 4: t0, 5: t0}


# --------------------------------------------------------------------------- D3
@pytest.fixture
def new_york(spark: Any) -> Any:
    """The session in a time zone with an offset and DST (restored after the test)."""
    before = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    yield spark
    spark.conf.set("spark.sql.session.timeZone", before)


def test_d3_naive_timestamps_are_taken_as_utc_natively_whatever_the_session_time_zone(
        new_york: Any, tmp_path: Path) -> None:
    """The files interface takes naive (``timestamp_ntz``) values as UTC. The native path cast them
    with Spark, in the session's time zone: values shifted by the offset, and an NTZ key no longer
    matched its stored row (an insert, so a duplicate key, instead of an update)."""
    spark = new_york
    schema = "k timestamp_ntz, v string"
    stored = [dt.datetime(2025, 3, 9, 2, 30, 0, 123456),   # in New York's DST gap
              dt.datetime(2025, 11, 2, 1, 30),              # in New York's DST overlap
              dt.datetime(1850, 1, 1), dt.datetime(2025, 6, 1, 12)]
    results = {}
    for path in ("python", "native"):
        dao = make_dao(spark, tmp_path / path, keys=["k"])
        dao.write(spark.createDataFrame([(k, "old") for k in stored], schema), "lake.o", mode="overwrite",
                  options={"engine_path": path})
        res = dao.upsert(spark.createDataFrame([(stored[0], "new"), (stored[1], "new")], schema), "lake.o",
                         options={"engine_path": path})
        results[path] = (counts(res)[:2], rows(dao))
    assert results["native"] == results["python"]
    utc = dt.UTC
    assert {r["k"].astimezone(utc).replace(tzinfo=None): r["v"] for r in results["python"][1]} == {
        stored[0]: "new", stored[1]: "new", stored[2]: "old", stored[3]: "old"}


def test_d3_dates_into_a_timestamp_column_are_midnight_utc_natively(new_york: Any, tmp_path: Path) -> None:
    """A date appended to a timestamp column widens to its midnight UTC on the Python path; the native
    path cast it at midnight in the session's time zone (05:00 UTC here): a date key did not match."""
    spark = new_york
    t0 = dt.datetime(2025, 1, 1)
    results = {}
    for path in ("python", "native"):
        dao = make_dao(spark, tmp_path / path, keys=["k"])
        dao.write(spark.createDataFrame([(t0 + dt.timedelta(days=i), "old") for i in range(3)], "k timestamp, v string"),
                  "lake.o", mode="overwrite", options={"engine_path": "python"})
        res = dao.upsert(spark.createDataFrame([(dt.date(2025, 1, 2), "new")], "k date, v string"), "lake.o",
                         options={"engine_path": path})
        results[path] = (counts(res)[:2], rows(dao))
    assert results["native"] == results["python"]
    assert results["python"][0] == (0, 1)


# --------------------------------------------------------------------------- D4
# (fixed: Spark stages the batch's rows with the survivors, one writer per partition)
@pytest.mark.parametrize("partition_by", [["p"], []])
def test_d4_native_upserts_leave_as_many_files_as_the_python_path(spark: Any, tmp_path: Path,
                                                                   partition_by: list[str]) -> None:
    import random

    schema = "id long, v string, p string"
    layout = {}
    for path in ("python", "native"):
        random.seed(1)
        dao = make_dao(spark, tmp_path / path, partition_by=partition_by)
        dao.write(spark.createDataFrame([(i, "v", "ab"[i % 2]) for i in range(1000)], schema), "lake.o",
                  mode="overwrite", options={"engine_path": "python"})
        for k in range(5):
            ids = random.sample(range(1000), 20) + [1000 + 10 * k + j for j in range(5)]
            dao.upsert(spark.createDataFrame([(i, f"u{k}", "ab"[i % 2]) for i in ids], schema), "lake.o",
                       options={"engine_path": path})
        layout[path] = (len(data_files(tmp_path / path / "o")), rows(dao))
    assert layout["native"][1] == layout["python"][1]
    # one file per partition on both paths; unpartitioned one file (Spark: one writer per 128 MB rewritten)
    assert layout["native"][0] == layout["python"][0] == (2 if partition_by else 1)


# --------------------------------------------------------------------------- D5
@pytest.mark.parametrize("path", ["python", "native"])
def test_d5_spark_stores_timestamps_as_the_python_path_does(spark: Any, tmp_path: Path, path: str) -> None:
    """Spark wrote timestamps as legacy INT96, which pyarrow, pandas and other readers of the lake take
    as naive nanoseconds; the Python path writes INT64 microseconds adjusted to UTC. After an upsert
    (and a write) on either path, every file stores them alike, and plain pyarrow reads UTC values."""
    t0 = dt.datetime(2025, 1, 1, 12)
    schema = "id long, at timestamp, p string"
    dao = make_dao(spark, tmp_path, partition_by=["p"])
    dao.write(spark.createDataFrame([(i, t0, "ab"[i % 2]) for i in range(6)], schema), "lake.o", mode="overwrite",
              options={"engine_path": path})
    dao.upsert(spark.createDataFrame([(1, t0, "b"), (9, t0, "a")], schema), "lake.o", options={"engine_path": path})
    physical = set()
    for rel in data_files(tmp_path / "o"):
        column = pq.ParquetFile(tmp_path / "o" / rel).schema.column(1)
        logical = json.loads(column.logical_type.to_json())
        physical.add((column.physical_type, logical.get("Type"), logical.get("isAdjustedToUTC")))
    assert physical == {("INT64", "Timestamp", True)}
    assert pq.read_table(tmp_path / "o").schema.field("at").type == pa.timestamp("us", tz="UTC")


# --------------------------------------------------------------------------- D6
@pytest.mark.parametrize("path", ["python", "native"])
def test_d6_a_batch_that_fails_in_spark_is_a_dao_error_naming_the_object(spark: Any, tmp_path: Path,
                                                                         path: str) -> None:
    """The batch's own computation fails (a UDF raising): the Python path says which object and store;
    the native path let pyspark's PythonException through. Nothing is written, no staging is left."""
    from pyspark.sql import functions as F

    @F.udf("string")
    def boom(v):  # noqa: ANN001, ANN202 - a Spark UDF
        raise ValueError("bad input row")

    dao = make_dao(spark, tmp_path, partition_by=["p"])
    dao.write(spark.createDataFrame([(i, f"v{i}", 1, "ab"[i % 2]) for i in range(6)], SCHEMA), "lake.o",
              mode="overwrite", options={"engine_path": "python"})
    before = snapshot(tmp_path / "o")
    batch = spark.createDataFrame([(1, "x", 2, "b")], SCHEMA).withColumn("v", boom("v"))
    with pytest.raises(DaoError, match=r"'lake.o' \(store 'lake'\) with Spark failed.*ValueError: bad input row"):
        dao.upsert(batch, "lake.o", options={"engine_path": path})
    assert snapshot(tmp_path / "o") == before and no_staging(tmp_path / "o")


# --------------------------------------------------------------------------- D7 (the native read, same cause as D1)
# (fixed: the plan's schema sample records the columns of the largest file Spark refuses)
@pytest.mark.parametrize("stored_type", [pa.timestamp("ns"), pa.timestamp("ns", tz="UTC"), pa.uint64()])
def test_d7_the_native_read_of_types_spark_cannot_read_falls_back_on_auto(
        spark: Any, tmp_path: Path, stored_type: pa.DataType, calls: list[str]) -> None:  # noqa: F811 - the fixture
    """Parquet with INT64 nanosecond timestamps (pandas' default) or uint64: Spark's reader fails at
    the first action, after the plan was chosen. ``auto`` must read them on the Python path (same
    rows), ``native`` refuse by name; the other columns do not matter."""
    (tmp_path / "o").mkdir()
    values = [dt.datetime(2025, 1, 1), dt.datetime(2025, 1, 2)] if pa.types.is_timestamp(stored_type) else [7, 2]
    pq.write_table(pa.table({"id": pa.array([1, 2], pa.int64()), "c": pa.array(values, stored_type)}),
                   tmp_path / "o" / "ext.parquet")
    dao = make_dao(spark, tmp_path)
    got = {path: sorted(dao.read("lake.o", engine="spark", options={"engine_path": path}).collect())
           for path in ("python", "auto")}
    assert got["auto"] == got["python"] and len(got["auto"]) == 2
    assert calls == []  # auto did not take the native reader
    what = "INT64 nanosecond timestamps" if pa.types.is_timestamp(stored_type) else "unsigned 64-bit integers"
    with pytest.raises(DaoError, match=rf"reading 'lake.o' \(store 'lake'\).*ext.parquet stores column 'c' as "
                                       rf"{what}, which Spark's parquet reader cannot read"):
        dao.read("lake.o", engine="spark", options={"engine_path": "native"})


def test_d7_int96_and_microsecond_timestamps_are_still_read_natively(spark: Any, tmp_path: Path,
                                                                    calls: list[str]) -> None:  # noqa: F811
    """The check must not take INT96 timestamps (Spark's own legacy writer; Arrow shows them as
    nanoseconds) or microsecond ones for what Spark cannot read."""
    t0 = dt.datetime(2025, 1, 1, 12)
    (tmp_path / "o").mkdir()
    table = pa.table({"id": pa.array([1, 2], pa.int64()), "at": pa.array([t0] * 2, pa.timestamp("us", tz="UTC"))})
    pq.write_table(table, tmp_path / "o" / "old.parquet", use_deprecated_int96_timestamps=True)
    pq.write_table(table, tmp_path / "o" / "new.parquet")
    dao = make_dao(spark, tmp_path)
    assert len(dao.read("lake.o", engine="spark").collect()) == 4
    assert calls == ["read"]
