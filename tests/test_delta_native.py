"""The native Delta path (spark_dao/engines/delta_native.py): with the delta-spark JARs in the
session (jars/pom.xml -> jars/lib/, picked up by conftest.py), dao.read / dao.write with the Spark
engine run format("delta"); tables interoperate with the Python path (format("dao"), pandas) and
with plain deltalake. Without the JARs these tests skip, unless SPARK_DAO_REQUIRE_NATIVE_DELTA=1
(CI), which turns the skip into a failure. The detection logic is tested without Delta too."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from conftest import DELTA_JARS, REQUIRE_NATIVE_DELTA
from deltalake import DeltaTable, write_deltalake

from spark_dao import DaoError, DataAccessObject, ObjectNotFound, SchemaMismatch
from spark_dao.catalog import Catalog
from spark_dao.engines import delta_native


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


def catalog_for(lake: Path, **store: Any) -> Catalog:
    return Catalog.load(
        {
            "stores": {"lake": {"interface": "delta", "path": str(lake), **store}},
            "objects": {"lake.users": {"keys": ["id"]}, "lake.events": {"partition_by": ["country"]}},
        }
    )


@pytest.fixture
def native(spark: Any) -> Any:
    """The session, known to have Delta Lake; skip (or fail in CI) otherwise."""
    if not delta_native.has_delta(spark):
        reason = (
            "the Spark session has no Delta Lake: fetch the JARs with "
            "`mvn -q -f jars/pom.xml dependency:copy-dependencies -DoutputDirectory=lib` (jars/README.md)"
        )
        if REQUIRE_NATIVE_DELTA:
            pytest.fail(f"SPARK_DAO_REQUIRE_NATIVE_DELTA is set but {reason}")
        pytest.skip(reason)
    return spark


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which native functions ran: 'read' / 'write'."""
    seen: list[str] = []
    real_read, real_write = delta_native.read, delta_native.write

    def read(*a: Any, **k: Any) -> Any:
        seen.append("read")
        return real_read(*a, **k)

    def write(*a: Any, **k: Any) -> Any:
        seen.append("write")
        return real_write(*a, **k)

    monkeypatch.setattr(delta_native, "read", read)
    monkeypatch.setattr(delta_native, "write", write)
    return seen


def rows(path: Path, version: int | None = None) -> list[tuple]:
    """What deltalake itself reads (the independent reader)."""
    table = pa.table(DeltaTable(str(path), version=version).to_pyarrow_table())
    return sorted(tuple(r.values()) for r in table.to_pylist())


def sdf_rows(df: Any) -> list[tuple]:
    return sorted(tuple(r) for r in df.collect())


def events_df(spark: Any, data: list[tuple[int, str]]) -> Any:
    return spark.createDataFrame(data, "id long, country string")


# --------------------------------------------------------------------------- detection (no Delta needed)
class _Captured(Exception):
    """Like pyspark's captured errors: a condition, and a text."""

    def __init__(self, condition: str | None, text: str) -> None:
        super().__init__(text)
        self._condition = condition

    def getCondition(self) -> str | None:  # noqa: N802 - pyspark's name
        return self._condition


def test_probe_outcomes_as_the_research_note_found_them() -> None:
    # classic Spark without the JARs: a Py4JJavaError (not converted), the condition only in the text
    classic = Exception("An error occurred while calling o42.load.\n: org.apache.spark.SparkClassNotFoundException: "
                        "[DATA_SOURCE_NOT_FOUND] Failed to find the data source: delta. SQLSTATE: 42K02")
    assert delta_native.probe_outcome(classic) is False
    # Spark Connect without Delta on the server: UnknownException with the condition
    assert delta_native.probe_outcome(_Captured("DATA_SOURCE_NOT_FOUND", "Failed to find the data source")) is False
    # with Delta: the missing path is the failure, so the source was found
    assert delta_native.probe_outcome(_Captured("PATH_NOT_FOUND", "[PATH_NOT_FOUND] Path does not exist")) is True
    assert delta_native.probe_outcome(None) is True

    class Broken(Exception):
        def getCondition(self) -> str:  # noqa: N802
            raise RuntimeError("no condition")

    assert delta_native.probe_outcome(Broken("[DATA_SOURCE_NOT_FOUND] delta")) is False


def test_the_real_probe_matches_the_session_and_is_cached(spark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    delta_native.forget(spark)
    assert delta_native.has_delta(spark) is bool(DELTA_JARS)
    monkeypatch.setattr(delta_native, "_probe", lambda s: pytest.fail("probed twice"))
    assert delta_native.has_delta(spark) is bool(DELTA_JARS)  # from the cache


def test_a_delta_that_loads_but_cannot_read_counts_as_absent(spark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # a Delta build for another Spark version passes the probe (the source loads) and fails to read
    monkeypatch.setattr(delta_native, "_local_master", lambda s: True)

    class Session:
        class conf:  # noqa: N801
            get = staticmethod(lambda *a: "local[2]")

        @staticmethod
        def range(n: int) -> Any:
            raise RuntimeError("java.lang.NoSuchMethodError: 'void LogicalRDD.<init>(...)'")

    assert delta_native._works(Session()) is False
    monkeypatch.setattr(delta_native, "_local_master", lambda s: False)
    assert delta_native._works(Session()) is True  # clusters: the probe's answer stands


def test_without_delta_auto_takes_the_python_path_and_native_is_refused(
    spark: Any, lake: Path, monkeypatch: pytest.MonkeyPatch, calls: list[str]
) -> None:
    monkeypatch.setitem(delta_native._DETECTED, id(spark), (spark, False))  # a session without Delta
    dao = DataAccessObject(catalog_for(lake), spark=spark)
    dao.write(events_df(spark, [(1, "DE")]), "lake.events", mode="overwrite")
    assert calls == [] and rows(lake / "events") == [(1, "DE")]
    assert sdf_rows(dao.read("lake.events", engine="spark")) == [(1, "DE")] and calls == []
    with pytest.raises(DaoError, match=r"engine_path='native' but the Spark session has no Delta Lake.*jars/README.md"):
        dao.read("lake.events", engine="spark", options={"engine_path": "native"})


def test_engine_path_values_are_checked(spark: Any, lake: Path) -> None:
    dao = DataAccessObject(catalog_for(lake), spark=spark)
    with pytest.raises(DaoError, match=r"engine_path='jvm' is not valid.*Valid: auto, native, python"):
        dao.read("lake.users", engine="spark", options={"engine_path": "jvm"})
    with pytest.raises(DaoError, match=r"engine_path='native' needs engine='spark'"):
        dao.read("lake.users", engine="pandas", options={"engine_path": "native"})
    with pytest.raises(Exception, match=r"engine_path"):
        DataAccessObject(catalog_for(lake, engine_path="sometimes"))
    # a files store has no engine_path: the option is unknown there
    files = DataAccessObject({"stores": {"f": {"interface": "files", "path": str(lake)}}})
    with pytest.raises(DaoError, match=r"unknown option 'engine_path'"):
        files.write(pd.DataFrame({"id": [1]}), "f.t", engine="pandas", options={"engine_path": "python"})


def test_s3_locations_stay_on_the_python_path(spark: Any) -> None:
    catalog = Catalog.load({"stores": {"lake": {"interface": "delta", "bucket": "b", "prefix": "p"}}})
    obj = catalog.get("lake.users")
    assert delta_native.choose(spark, obj, "auto", action="reading") is False
    with pytest.raises(DaoError, match=r"engine_path='native' works on local folders only"):
        delta_native.choose(spark, obj, "native", action="reading")


# --------------------------------------------------------------------------- interop
def test_native_write_is_read_by_deltalake_and_by_the_python_path(native: Any, lake: Path, calls: list[str]) -> None:
    dao = DataAccessObject(catalog_for(lake), spark=native)
    result = dao.write(events_df(native, [(1, "DE"), (2, "US"), (3, "DE")]), "lake.events", mode="overwrite")
    assert calls == ["write"]
    assert result.rows_written == 3 and result.files_added >= 2 and "version 0" in result.location
    table = DeltaTable(str(lake / "events"))
    assert table.version() == 0 and table.metadata().partition_columns == ["country"]
    assert "Delta-Lake" in (table.history(1)[0].get("engineInfo") or "")  # delta-spark wrote it
    assert rows(lake / "events") == [(1, "DE"), (2, "US"), (3, "DE")]
    # the Python path: format("dao") (always Python) and the pandas engine
    fmt = dao._format_name(native)
    assert sdf_rows(native.read.format(fmt).load("lake.events").select("id", "country")) == [(1, "DE"), (2, "US"), (3, "DE")]
    assert sorted(dao.read("lake.events", engine="pandas")["id"]) == [1, 2, 3]
    assert calls == ["write"]


def test_python_path_write_is_read_natively_with_columns_and_filters(native: Any, lake: Path, calls: list[str]) -> None:
    dao = DataAccessObject(catalog_for(lake), spark=native)
    dao.write(pd.DataFrame({"id": [1, 2, 3], "country": ["DE", "US", "FR"]}), "lake.events", engine="pandas")
    assert calls == []
    df = dao.read("lake.events", engine="spark", columns=["id"], filters=[("country", "in", ["DE", "FR"])])
    assert calls == ["read"]
    assert df.columns == ["id"] and sdf_rows(df) == [(1,), (3,)]
    with pytest.raises(DaoError, match=r"unknown columns \['idd'\]"):
        dao.read("lake.events", engine="spark", columns=["idd"])
    with pytest.raises(DaoError, match=r"unknown option 'compresion'"):
        dao.read("lake.events", engine="spark", options={"compresion": "x"})


def test_a_deltalake_written_table_is_appended_to_natively(native: Any, lake: Path) -> None:
    write_deltalake(str(lake / "users"), pa.table({"id": pa.array([1], pa.int64()), "name": ["a"]}))
    dao = DataAccessObject(catalog_for(lake), spark=native)
    dao.write(native.createDataFrame([(2, "b")], "id long, name string"), "lake.users", mode="append")
    assert rows(lake / "users") == [(1, "a"), (2, "b")] and DeltaTable(str(lake / "users")).version() == 1


# --------------------------------------------------------------------------- modes and checks
def test_modes(native: Any, lake: Path) -> None:
    dao = DataAccessObject(catalog_for(lake), spark=native)
    path = lake / "events"
    dao.write(events_df(native, [(1, "DE"), (2, "US")]), "lake.events")  # errorifexists on a new table
    dao.write(events_df(native, [(3, "FR")]), "lake.events", mode="append")
    assert rows(path) == [(1, "DE"), (2, "US"), (3, "FR")] and DeltaTable(str(path)).version() == 1
    result = dao.write(events_df(native, [(20, "US"), (21, "US")]), "lake.events", mode="dynamic")
    assert rows(path) == [(1, "DE"), (3, "FR"), (20, "US"), (21, "US")]
    assert result.files_removed == 1
    params = DeltaTable(str(path)).history(1)[0]["operationParameters"]
    assert str(params.get("isDynamicPartitionOverwrite")).lower() == "true"
    dao.write(events_df(native, [(9, "DE")]), "lake.events", mode="overwrite")  # static: replaces everything
    assert rows(path) == [(9, "DE")] and DeltaTable(str(path)).version() == 3
    with pytest.raises(DaoError, match=r"already has a Delta table at .*version 3"):
        dao.write(events_df(native, [(5, "DE")]), "lake.events", mode="errorifexists")
    skipped = dao.write(events_df(native, [(5, "DE")]), "lake.events", mode="ignore")
    assert skipped.skipped and DeltaTable(str(path)).version() == 3 and rows(path) == [(9, "DE")]


def test_checks_run_before_anything_is_written(native: Any, lake: Path) -> None:
    dao = DataAccessObject(catalog_for(lake), spark=native)
    dao.write(native.createDataFrame([(1, "a")], "id long, name string"), "lake.users", mode="overwrite")
    bad = native.createDataFrame([("x", "a")], "id string, name string")
    with pytest.raises(SchemaMismatch, match=r"lake.users.*Delta version 0"):
        dao.write(bad, "lake.users", mode="append")
    with pytest.raises(DaoError, match=r"unknown option 'compresion'"):
        dao.write(bad, "lake.users", mode="append", options={"compresion": "zstd"})
    # the catalog partitions lake.events by country; an unpartitioned table there is refused
    write_deltalake(str(lake / "events"), pa.table({"id": [1], "country": ["DE"]}))
    with pytest.raises(SchemaMismatch, match=r"partitions it by \['country'\] but the Delta table"):
        dao.write(events_df(native, [(2, "US")]), "lake.events", mode="append")
    assert DeltaTable(str(lake / "users")).version() == 0 and DeltaTable(str(lake / "events")).version() == 0
    # types narrower than the table's are cast to them (as on the Python path)
    dao.write(native.createDataFrame([(2, "b")], "id int, name string"), "lake.users", mode="append")
    assert rows(lake / "users") == [(1, "a"), (2, "b")]


def test_a_failed_spark_task_in_a_native_write_makes_no_new_version(native: Any, lake: Path) -> None:
    from pyspark.sql import functions as F

    dao = DataAccessObject(catalog_for(lake), spark=native)
    dao.write(native.createDataFrame([(1, "a")], "id long, name string"), "lake.users", mode="overwrite")
    bad = native.range(0, 200, numPartitions=4).select(
        F.col("id"),
        F.when(F.col("id") == 150, F.raise_error("task failed on purpose")).otherwise(F.lit("x")).alias("name"),
    )
    with pytest.raises(DaoError, match="task failed on purpose"):
        dao.write(bad, "lake.users", mode="overwrite")
    assert DeltaTable(str(lake / "users")).version() == 0
    assert rows(lake / "users") == [(1, "a")]
    assert sdf_rows(dao.read("lake.users", engine="spark")) == [(1, "a")]


# --------------------------------------------------------------------------- reads
def test_time_travel_natively(native: Any, lake: Path, calls: list[str]) -> None:
    dao = DataAccessObject(catalog_for(lake), spark=native)
    dao.write(native.createDataFrame([(1, "a")], "id long, name string"), "lake.users", mode="overwrite")
    time.sleep(1.2)
    between = dt.datetime.now(dt.UTC)
    time.sleep(1.2)
    dao.write(native.createDataFrame([(2, "b")], "id long, name string"), "lake.users", mode="overwrite")
    assert sdf_rows(dao.read("lake.users", engine="spark")) == [(2, "b")]
    assert sdf_rows(dao.read("lake.users", engine="spark", version=0)) == [(1, "a")]
    assert sdf_rows(dao.read("lake.users", engine="spark", timestamp=between)) == [(1, "a")]
    # a naive string is UTC, as on the Python path
    naive = between.replace(tzinfo=None).isoformat(sep=" ")
    assert sdf_rows(dao.read("lake.users", engine="spark", options={"timestampAsOf": naive})) == [(1, "a")]
    assert calls.count("read") == 4
    with pytest.raises(DaoError, match=r"lake.users.*with delta-spark failed.*version 7.*Available versions: \[0, 1\]"):
        dao.read("lake.users", engine="spark", version=7)
    with pytest.raises(DaoError, match=r"give versionAsOf or timestampAsOf, not both"):
        dao.read("lake.users", engine="spark", version=0, timestamp=between)


def test_missing_table_natively(native: Any, lake: Path) -> None:
    dao = DataAccessObject(catalog_for(lake), spark=native)
    with pytest.raises(ObjectNotFound, match=r"object 'lake.users' has no Delta table at"):
        dao.read("lake.users", engine="spark")


# --------------------------------------------------------------------------- the path choice
def test_engine_path_forces_a_path(native: Any, lake: Path, calls: list[str]) -> None:
    dao = DataAccessObject(catalog_for(lake), spark=native)
    dao.write(events_df(native, [(1, "DE")]), "lake.events", mode="overwrite", options={"engine_path": "python"})
    assert calls == []
    assert "Delta-Lake" not in (DeltaTable(str(lake / "events")).history(1)[0].get("engineInfo") or "")
    dao.read("lake.events", engine="spark", options={"engine_path": "python"}).collect()
    assert calls == []
    assert sdf_rows(dao.read("lake.events", engine="spark", options={"engine_path": "native"})) == [(1, "DE")]
    assert calls == ["read"]
    # the store's setting, overridden by the call
    forced = DataAccessObject(catalog_for(lake, engine_path="python"), spark=native)
    forced.write(events_df(native, [(2, "US")]), "lake.events", mode="append")
    assert calls == ["read"]
    forced.write(events_df(native, [(3, "FR")]), "lake.events", mode="append", options={"engine_path": "native"})
    assert calls == ["read", "write"]
    assert rows(lake / "events") == [(1, "DE"), (2, "US"), (3, "FR")]


def test_upserts_and_format_dao_stay_on_the_python_path(native: Any, lake: Path, calls: list[str]) -> None:
    dao = DataAccessObject(catalog_for(lake), spark=native)
    # an upsert runs on the Python path (a MERGE through deltalake), here creating the table
    result = dao.upsert(native.createDataFrame([(1, "a")], "id long, name string"), "lake.users", keys=["id"])
    assert result.rows_inserted == 1 and calls == []
    dao.write(native.createDataFrame([(1, "a")], "id long, name string"), "lake.users", mode="overwrite")
    fmt = dao._format_name(native)
    native.createDataFrame([(2, "b")], "id long, name string").write.format(fmt).mode("append").save("lake.users")
    assert calls == ["write"]  # only dao.write went native
    newest_first = DeltaTable(str(lake / "users")).history()
    # format("dao") (deltalake) after the native overwrite (delta-spark) after the upsert (deltalake)
    assert "Delta-Lake" in (newest_first[1].get("engineInfo") or "")
    assert newest_first[0].get("engineInfo") == newest_first[2].get("engineInfo")
    assert rows(lake / "users") == [(1, "a"), (2, "b")]


def test_the_chosen_path_is_logged_once_at_debug(spark: Any, lake: Path, caplog: pytest.LogCaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    monkeypatch.setattr(delta_native, "_LOGGED", set())
    obj = catalog_for(lake).get("lake.users")
    with caplog.at_level(logging.DEBUG, logger="spark_dao.delta"):
        for _ in range(3):
            delta_native.choose(spark, obj, "python", action="reading")
    said = [r.getMessage() for r in caplog.records if "path for the Spark engine" in r.getMessage()]
    assert said == ["Delta store 'lake': python (deltalake) path for the Spark engine: engine_path=python"]


def test_deletion_vectors_written_by_delta_spark_are_honoured_by_the_python_reader(native: Any, lake: Path) -> None:
    """A table whose rows were deleted with deletion vectors (no file rewritten): the Python path
    (format("dao"), pandas) must not return the deleted rows."""
    path = str(lake / "events")
    native.range(0, 200, numPartitions=2).selectExpr("id", "CASE WHEN id % 2 = 0 THEN 'DE' ELSE 'US' END AS country") \
        .write.format("delta").partitionBy("country").save(path)
    native.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    native.sql(f"DELETE FROM delta.`{path}` WHERE id % 10 = 0 OR id = 7")
    table = DeltaTable(path)
    assert "deletionVectors" in (table.protocol().reader_features or [])
    assert any(len(sv) for sv in pa.RecordBatchReader.from_stream(table.deletion_vectors()).read_all()["selection_vector"].to_pylist())
    expected = sorted(i for i in range(200) if i % 10 != 0 and i != 7)
    dao = DataAccessObject(catalog_for(lake, engine_path="python"), spark=native)
    assert sorted(dao.read("lake.events", engine="pandas")["id"]) == expected
    fmt = dao._format_name(native)
    got = native.read.format(fmt).load("lake.events")
    assert sorted(r.id for r in got.collect()) == expected
    us = dao.read("lake.events", engine="pandas", filters=[("country", "=", "US")], columns=["id"])
    assert sorted(us["id"]) == [i for i in expected if i % 2 == 1]
    # appends only add files: allowed, and delta-spark reads them alongside the deleted rows' vectors
    dao.write(pa.table({"id": [1000], "country": ["DE"]}), "lake.events", engine="pandas", mode="append")
    assert sorted(dao.read("lake.events", engine="pandas")["id"]) == expected + [1000]
    assert native.read.format("delta").load(path).count() == len(expected) + 1
    # an overwrite would have to remove files that carry deletion vectors: refused, nothing written
    version = DeltaTable(path).version()
    with pytest.raises(DaoError, match=r"for writing \(deletionVectors"):
        dao.write(pa.table({"id": [1], "country": ["DE"]}), "lake.events", engine="pandas", mode="overwrite")
    with pytest.raises(DaoError, match=r"for writing \(deletionVectors"):
        dao.upsert(pa.table({"id": [1], "country": ["DE"]}), "lake.events", engine="pandas", keys=["id"])
    assert DeltaTable(path).version() == version
