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
from conftest import DELTA_JARS, REQUIRE_NATIVE_DELTA, require_s3a
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
    """Which native functions ran: 'read' / 'write' / 'upsert'."""
    seen: list[str] = []
    for name in ("read", "write", "upsert"):
        real = getattr(delta_native, name)

        def spy(*a: Any, _name: str = name, _real: Any = real, **k: Any) -> Any:
            seen.append(_name)
            return _real(*a, **k)

        monkeypatch.setattr(delta_native, name, spy)
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
    # files stores take it too (their native path is Spark's own files reader and writer)
    files = DataAccessObject({"stores": {"f": {"interface": "files", "path": str(lake)}}})
    assert files.write(pd.DataFrame({"id": [1]}), "f.t", engine="pandas", options={"engine_path": "python"}).rows_written == 1
    with pytest.raises(DaoError, match=r"'f.t' \(store 'f'\): engine_path='native' needs engine='spark'"):
        files.write(pd.DataFrame({"id": [1]}), "f.t", engine="pandas", options={"engine_path": "native"})


def test_s3_tables_without_s3a_or_with_a_profile_stay_on_the_python_path(spark: Any,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = Catalog.load({"stores": {"lake": {"interface": "delta", "bucket": "b", "prefix": "p"},
                                       "prof": {"interface": "delta", "bucket": "b", "profile": "dev"}}})
    obj = catalog.get("lake.users")
    monkeypatch.setattr(delta_native, "has_s3a", lambda session: False)
    assert delta_native.choose(spark, obj, "auto", action="reading") is False
    with pytest.raises(DaoError, match=r"engine_path='native' cannot run on s3://b/p/users: the Spark session "
                                       r"has no S3A \(hadoop-aws\).*jars/README.md"):
        delta_native.choose(spark, obj, "native", action="reading")
    monkeypatch.setattr(delta_native, "has_s3a", lambda session: True)
    assert delta_native.choose(spark, catalog.get("prof.users"), "auto", action="reading") is False
    with pytest.raises(DaoError, match=r"names an AWS profile, which S3A does not read"):
        delta_native.choose(spark, catalog.get("prof.users"), "native", action="writing")


def test_s3a_options_come_from_the_store() -> None:
    catalog = Catalog.load({"stores": {
        "lake": {"interface": "delta", "bucket": "bkt", "prefix": "lake", "endpoint_url": "http://127.0.0.1:9000",
                 "region": "eu-west-1", "access_key": "AK", "secret_key": "SK"},
        "temp": {"interface": "delta", "bucket": "bkt", "access_key": "AK", "secret_key": "SK",
                 "session_token": "TOK"},
        "chain": {"interface": "delta", "bucket": "bkt"},
        "local": {"interface": "delta", "path": "/data/lake"}}})
    lake = catalog.get("lake.users")
    assert delta_native.table_path(lake) == "s3a://bkt/lake/users"
    assert delta_native.hadoop_options(lake) == {
        "fs.s3a.path.style.access": "true", "fs.s3a.endpoint": "http://127.0.0.1:9000",
        "fs.s3a.connection.ssl.enabled": "false", "fs.s3a.endpoint.region": "eu-west-1",
        "fs.s3a.access.key": "AK", "fs.s3a.secret.key": "SK",
        "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"}
    temp = delta_native.hadoop_options(catalog.get("temp.users"))
    assert temp["fs.s3a.session.token"] == "TOK"
    assert temp["fs.s3a.aws.credentials.provider"].endswith("TemporaryAWSCredentialsProvider")
    # no keys in the catalog: S3A's default chain (instance profile, environment)
    assert delta_native.hadoop_options(catalog.get("chain.users")) == {"fs.s3a.path.style.access": "false"}
    assert delta_native.hadoop_options(catalog.get("local.users")) == {}


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


def test_upserts_go_native_and_format_dao_stays_on_the_python_path(native: Any, lake: Path, calls: list[str]) -> None:
    dao = DataAccessObject(catalog_for(lake), spark=native)
    # an upsert runs natively (a MERGE through delta-spark), here creating the table
    result = dao.upsert(native.createDataFrame([(1, "a")], "id long, name string"), "lake.users", keys=["id"])
    assert result.rows_inserted == 1 and calls == ["upsert"]
    dao.write(native.createDataFrame([(1, "a")], "id long, name string"), "lake.users", mode="overwrite")
    fmt = dao._format_name(native)
    native.createDataFrame([(2, "b")], "id long, name string").write.format(fmt).mode("append").save("lake.users")
    assert calls == ["upsert", "write"]  # format("dao") did not go native
    newest_first = DeltaTable(str(lake / "users")).history()
    # format("dao") (deltalake) after the native overwrite and the native upsert (delta-spark)
    assert "Delta-Lake" in (newest_first[1].get("engineInfo") or "")
    assert "Delta-Lake" in (newest_first[2].get("engineInfo") or "")
    assert "Delta-Lake" not in (newest_first[0].get("engineInfo") or "")
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
    # an upsert on the Python path (a deltalake MERGE) cannot honour the vectors: refused, nothing written
    version = DeltaTable(path).version()
    with pytest.raises(DaoError, match=r"for writing \(deletionVectors"):
        dao.upsert(pa.table({"id": [1], "country": ["DE"]}), "lake.events", engine="pandas", keys=["id"])
    assert DeltaTable(path).version() == version
    # a dynamic overwrite removes the DE files, each named with its deletion vector: delta-spark agrees
    # (a remove without the vector would leave the file active for it: the DE rows would come back)
    dao.write(pa.table({"id": [2000, 2001], "country": ["DE", "DE"]}), "lake.events", engine="pandas", mode="dynamic")
    kept_us = [i for i in expected if i % 2 == 1]
    assert sorted(dao.read("lake.events", engine="pandas")["id"]) == kept_us + [2000, 2001]
    assert sorted(r.id for r in native.read.format("delta").load(path).collect()) == kept_us + [2000, 2001]
    # after a checkpoint (delta-spark's) the vectors are found in it; a full overwrite, then delta-spark
    # writes on top: the log stays valid for it
    native.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.checkpointInterval' = '1')")
    native.sql(f"DELETE FROM delta.`{path}` WHERE id = 3")
    assert any(p.name.endswith(".checkpoint.parquet") for p in (lake / "events" / "_delta_log").iterdir())
    dao.write(pa.table({"id": [1], "country": ["US"]}), "lake.events", engine="pandas", mode="overwrite")
    assert [r.id for r in native.read.format("delta").load(path).collect()] == [1]
    native.sql(f"INSERT INTO delta.`{path}` VALUES (5, 'DE')")
    assert sorted(r.id for r in native.read.format("delta").load(path).collect()) == [1, 5]
    assert sorted(dao.read("lake.events", engine="pandas")["id"]) == [1, 5]


# --------------------------------------------------------------------------- native upserts (delta-spark MERGE)
UPSERT_CATALOG = {
    "stores": {"native": {"interface": "delta", "path": "NATIVE"},
               "python": {"interface": "delta", "path": "PYTHON", "engine_path": "python"}},
    "objects": {f"{store}.{name}": spec for store in ("native", "python") for name, spec in {
        "users": {"keys": ["id"], "order_by": "ts"},
        "plain": {"keys": ["id"]},
        "events": {"keys": ["country", "id"], "partition_by": ["country"], "order_by": "ts"},
    }.items()},
}


def twin_dao(spark: Any, tmp_path: Path) -> DataAccessObject:
    """Two Delta stores with the same objects: 'native' (auto: delta-spark) and 'python' (deltalake)."""
    import json

    text = json.dumps(UPSERT_CATALOG).replace("NATIVE", str(tmp_path / "n")).replace("PYTHON", str(tmp_path / "p"))
    return DataAccessObject(Catalog.load(json.loads(text)), spark=spark)


USERS = "id long, ts long, name string"
STORED = [(1, 5, "one"), (2, 5, "two"), (3, None, "three"), (4, 5, "four"), (5, 5, "five")]
# id 1 newer, id 2 older (stays), id 3 stored null ts (replaced), id 4 a tie (incoming wins), id 6 new
BATCH = [(1, 6, "one!"), (2, 4, "two?"), (3, 1, "three!"), (4, 5, "four!"), (6, None, "six")]


@pytest.mark.parametrize("settings", [
    {},
    {"strategy": "insert_only"},
    {"strategy": "delete_insert"},
    {"delete_unmatched": True},
    {"order_by": None},
], ids=["merge", "insert_only", "delete_insert", "delete_unmatched", "no_order_by"])
def test_a_native_upsert_means_what_the_python_path_means(native: Any, tmp_path: Path, calls: list[str],
                                                          settings: dict[str, Any]) -> None:
    from spark_dao.interfaces.upsert import UpsertOptions, merge_tables

    dao = twin_dao(native, tmp_path)
    kwargs = dict(settings)
    name = "plain" if kwargs.pop("order_by", "ts") is None else "users"  # 'plain' has no order_by
    results = {}
    for store in ("native", "python"):
        dao.write(native.createDataFrame(STORED, USERS), f"{store}.{name}", mode="overwrite")
        results[store] = dao.upsert(native.createDataFrame(BATCH, USERS), f"{store}.{name}", **kwargs)
    assert calls == ["write", "upsert"]  # the python store never went native
    got = {s: rows(tmp_path / s[0] / name) for s in ("native", "python")}
    assert got["native"] == got["python"]
    # and both are the reference semantics
    opts = UpsertOptions(keys=("id",), order_by=None if "order_by" in settings else "ts",
                         strategy=settings.get("strategy", "merge"),
                         delete_unmatched=settings.get("delete_unmatched", False))
    schema = pa.schema([("id", pa.int64()), ("ts", pa.int64()), ("name", pa.string())])
    expected, counts = merge_tables(pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in STORED],
                                                         schema),
                                    pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in BATCH],
                                                         schema), opts)
    assert got["native"] == sorted(tuple(r.values()) for r in expected.to_pylist())
    n, p = results["native"], results["python"]
    assert (n.rows_inserted, n.rows_updated, n.rows_deleted) == (p.rows_inserted, p.rows_updated, p.rows_deleted)
    assert (n.rows_inserted, n.rows_deleted) == (counts["inserted"], counts["deleted"])
    assert DeltaTable(str(tmp_path / "n" / name)).history(1)[0]["operation"] == "MERGE"


def test_native_keep_latest_keeps_the_newest_then_the_last_row(native: Any, tmp_path: Path) -> None:
    dao = twin_dao(native, tmp_path)
    batch = [(1, 1, "old"), (1, 3, "newest"), (1, 2, "mid"), (2, 7, "first"), (2, 7, "last"), (3, None, "n1"),
             (3, None, "n2")]
    for store in ("native", "python"):
        df = native.createDataFrame(batch, USERS).coalesce(1)  # one partition: the list's order
        result = dao.upsert(df, f"{store}.users", on_duplicates="keep_latest")
        assert result.rows_inserted == 3
    assert rows(tmp_path / "n" / "users") == rows(tmp_path / "p" / "users") == [
        (1, 3, "newest"), (2, 7, "last"), (3, None, "n2")]


def test_native_upsert_checks_fail_before_anything_is_written(native: Any, tmp_path: Path) -> None:
    from spark_dao import DuplicateKeys

    dao = twin_dao(native, tmp_path)
    dao.write(native.createDataFrame(STORED, USERS), "native.users", mode="overwrite")
    table = tmp_path / "n" / "users"
    files_before = sorted(p.name for p in table.glob("*.parquet"))
    with pytest.raises(DuplicateKeys, match=r"'native.users' \(store 'native'\): 1 key\(s\) appear more than once.*"
                                            r"e\.g\. 7.*on_duplicates='keep_latest'"):
        dao.upsert(native.createDataFrame([(7, 1, "a"), (7, 2, "b"), (8, 1, "c")], USERS), "native.users")
    with pytest.raises(DaoError, match=r"'native.users'.*2 row\(s\) have a null key in column 'id'"):
        dao.upsert(native.createDataFrame([(None, 1, "a"), (None, 2, "b"), (8, 1, "c")], USERS), "native.users")
    with pytest.raises(SchemaMismatch, match=r"upsert columns \['ts'\] are not in the data"):
        dao.upsert(native.createDataFrame([(8, "c")], "id long, name string"), "native.users")
    with pytest.raises(DaoError, match=r"unknown strategy 'mrege'.*merge"):
        dao.upsert(native.createDataFrame([(8, 1, "c")], USERS), "native.users", strategy="mrege")
    with pytest.raises(SchemaMismatch):
        dao.upsert(native.createDataFrame([(8, 1, 5)], "id long, ts long, name long"), "native.users",
                   options={"max_retries": 0})
    assert DeltaTable(str(table)).version() == 0
    assert sorted(p.name for p in table.glob("*.parquet")) == files_before
    assert rows(table) == sorted(STORED, key=lambda r: r[0])


def test_a_failed_task_in_a_native_merge_makes_no_new_version(native: Any, tmp_path: Path) -> None:
    from pyspark.sql import functions as F

    dao = twin_dao(native, tmp_path)
    dao.write(native.createDataFrame(STORED, USERS), "native.users", mode="overwrite")
    table = tmp_path / "n" / "users"
    # a batch whose row 150 fails while Spark computes it
    bad = native.range(0, 200, numPartitions=4).select(
        F.col("id"), F.lit(9).cast("long").alias("ts"),
        F.when(F.col("id") == 150, F.raise_error("task failed on purpose")).otherwise(F.lit("x")).alias("name"))
    with pytest.raises(DaoError, match="task failed on purpose"):
        dao.upsert(bad, "native.users")
    assert DeltaTable(str(table)).version() == 0
    # target files that cannot be read fail the MERGE's own scan: still no new version
    saved = {p: p.read_bytes() for p in table.glob("*.parquet")}
    for victim in saved:
        victim.write_bytes(b"not parquet")
    try:
        with pytest.raises(DaoError, match=r"'native.users' \(store 'native'\)"):
            dao.upsert(native.createDataFrame([(1, 9, "x")], USERS), "native.users")
        assert DeltaTable(str(table)).version() == 0
    finally:
        for victim, body in saved.items():
            victim.write_bytes(body)
    assert rows(table) == sorted(STORED, key=lambda r: r[0])


def test_a_native_merge_touches_only_the_batch_partitions(native: Any, tmp_path: Path) -> None:
    dao = twin_dao(native, tmp_path)
    ev = "id long, country string, ts long"
    dao.write(native.createDataFrame([(i, c, 1) for c in ("DE", "FR", "US") for i in range(10)], ev), "native.events",
              mode="overwrite")
    table = tmp_path / "n" / "events"
    before = {p for p in pa.table(DeltaTable(str(table)).get_add_actions(flatten=True))["path"].to_pylist()}
    result = dao.upsert(native.createDataFrame([(3, "DE", 2), (42, "DE", 2)], ev), "native.events")
    assert (result.rows_inserted, result.rows_updated) == (1, 1)
    after = {p for p in pa.table(DeltaTable(str(table)).get_add_actions(flatten=True))["path"].to_pylist()}
    removed = before - after
    assert removed and all(p.startswith("country=DE/") for p in removed)
    assert {p for p in before if not p.startswith("country=DE/")} <= after  # FR, US files untouched
    newest = DeltaTable(str(table)).history(1)[0]
    on = newest["operationParameters"]["predicate"]  # the ON clause: narrowed to DE (the first key's range)
    assert "= DE" in on and "FR" not in on and "US" not in on, on
    assert result.files_removed == len(removed)
    assert rows(table).count((3, "DE", 2)) == 1 and (42, "DE", 2) in rows(table)


def test_native_upserts_interoperate_with_deltalake_and_the_python_path(native: Any, tmp_path: Path) -> None:
    dao = twin_dao(native, tmp_path)
    table = tmp_path / "n" / "users"
    write_deltalake(str(table), pa.table({"id": [1, 2], "ts": [1, 1], "name": ["a", "b"]}))
    dao.upsert(native.createDataFrame([(2, 2, "b2"), (3, 1, "c")], USERS), "native.users",
               options={"userMetadata": "nightly sync"})
    assert DeltaTable(str(table)).history(1)[0]["userMetadata"] == "nightly sync"
    dao.upsert(native.createDataFrame([(3, 2, "c2")], USERS), "native.users", options={"engine_path": "python"})
    assert "Delta-Lake" not in (DeltaTable(str(table)).history(1)[0].get("engineInfo") or "")
    assert rows(table) == [(1, 1, "a"), (2, 2, "b2"), (3, 2, "c2")]
    pdf = dao.read("native.users", engine="pandas")
    assert sorted(pdf["name"]) == ["a", "b2", "c2"]


def test_concurrent_native_upserts_all_land(native: Any, tmp_path: Path) -> None:
    """Two threads upserting into one table at once: disjoint partitions both land; the same keys
    (overlapping) are retried on a conflict and the newest ts wins."""
    import threading

    dao = twin_dao(native, tmp_path)
    ev = "id long, country string, ts long"
    dao.write(native.createDataFrame([(0, "DE", 0), (0, "FR", 0)], ev), "native.events", mode="overwrite")
    errors: list[BaseException] = []

    def work(country: str, parity: int) -> None:
        try:
            for step in range(3):
                ts = 2 * step + parity
                batch = [(i, country, ts) for i in range(5)] + [(100, "US", ts)]  # id 100/US: both threads
                dao.upsert(native.createDataFrame(batch, ev), "native.events", options={"max_retries": 20})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=("DE", 0)), threading.Thread(target=work, args=("FR", 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = rows(tmp_path / "n" / "events")
    assert [r for r in got if r[1] == "DE"] == [(i, "DE", 4) for i in range(5)]
    assert [r for r in got if r[1] == "FR"] == [(i, "FR", 5) for i in range(5)]
    assert [r for r in got if r[1] == "US"] == [(100, "US", 5)]  # the newest of both threads
    assert DeltaTable(str(tmp_path / "n" / "events")).version() == 6


def test_delta_spark_conflicts_are_recognised() -> None:
    from spark_dao.engines._delta_native_merge import is_conflict

    class ConcurrentAppendException(Exception):
        pass

    assert is_conflict(ConcurrentAppendException("files were added"))
    assert is_conflict(Exception("io.delta.exceptions.ConcurrentDeleteReadException: a file was removed"))
    assert not is_conflict(ValueError("ConcurrentAppend"))
    assert not is_conflict(RuntimeError("task failed"))


def test_schema_changes_interoperate_between_the_paths(native: Any, tmp_path: Path) -> None:
    dao = twin_dao(native, tmp_path)
    table = tmp_path / "n" / "users"
    dao.write(native.createDataFrame([(1, 1, "a")], USERS), "native.users", mode="overwrite")
    # the Python path's mergeSchema commit (written by spark_dao) is read by delta-spark
    dao.write(pa.table({"id": [2], "ts": [1], "name": ["b"], "score": [0.5]}), "native.users", engine="arrow",
              mode="append", options={"mergeSchema": True})
    got = native.read.format("delta").load(str(table))
    assert got.columns == ["id", "ts", "name", "score"]
    assert sdf_rows(got) == [(1, 1, "a", None), (2, 1, "b", 0.5)]
    # natively: mergeSchema on a write and on an upsert, the missing columns written as nulls
    dao.write(native.createDataFrame([(3, 1, "c", True)], "id long, ts long, name string, flag boolean"),
              "native.users", mode="append", options={"mergeSchema": True})
    dao.upsert(native.createDataFrame([(1, 2, "A", 9)], "id long, ts long, name string, level int"), "native.users",
               options={"mergeSchema": True})
    assert pa.schema(DeltaTable(str(table)).schema().to_arrow()).names == ["id", "ts", "name", "score", "flag",
                                                                          "level"]
    assert rows(table) == [(1, 2, "A", None, None, 9), (2, 1, "b", 0.5, None, None), (3, 1, "c", None, True, None)]
    # natively: without mergeSchema a new column is refused before anything runs
    with pytest.raises(SchemaMismatch, match=r"new columns \['other'\]"):
        dao.write(native.createDataFrame([(4, 1, "d", None, None, None, 1)],
                                         "id long, ts long, name string, score double, flag boolean, level int, "
                                         "other int"), "native.users", mode="append")
    # natively: overwriteSchema replaces the schema; deltalake reads it
    dao.write(native.createDataFrame([("x",)], "id string"), "native.users", mode="overwrite",
              options={"overwriteSchema": True})
    assert rows(table) == [("x",)]


# --------------------------------------------------------------------------- native on S3 (s3a, moto)
def test_native_path_on_s3_through_s3a(native: Any, s3_server: str, s3_bucket: str, s3_client: Any,
                                       calls: list[str]) -> None:
    require_s3a(native)
    catalog = Catalog.load({
        "stores": {"lake": {"interface": "delta", "bucket": s3_bucket, "prefix": "lake", "endpoint_url": s3_server,
                            "region": "us-east-1", "access_key": "testing", "secret_key": "testing"}},
        "objects": {"lake.events": {"partition_by": ["country"], "keys": ["country", "id"], "order_by": "ts"}},
    })
    dao = DataAccessObject(catalog, spark=native)
    ev = "id long, country string, ts long"
    dao.write(native.createDataFrame([(1, "DE", 1), (2, "FR", 1)], ev), "lake.events", mode="overwrite")
    dao.write(native.createDataFrame([(3, "DE", 1)], ev), "lake.events", mode="append")
    result = dao.upsert(native.createDataFrame([(1, "DE", 2), (4, "US", 1)], ev), "lake.events")
    assert (result.rows_inserted, result.rows_updated) == (1, 1)
    got = dao.read("lake.events", engine="spark", filters=[("country", "in", ["DE", "US"])])
    assert sdf_rows(got) == [(1, "DE", 2), (3, "DE", 1), (4, "US", 1)]
    assert sdf_rows(dao.read("lake.events", engine="spark", version=0)) == [(1, "DE", 1), (2, "FR", 1)]
    assert calls == ["write", "write", "upsert", "read", "read"]
    # the Python path (deltalake over pyarrow's S3) reads what delta-spark committed to S3
    arrow = dao.read("lake.events", engine="arrow")
    assert sorted(tuple(r.values()) for r in arrow.select(["id", "country", "ts"]).to_pylist()) == [
        (1, "DE", 2), (2, "FR", 1), (3, "DE", 1), (4, "US", 1)]
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="lake/events/")["Contents"]]
    assert "lake/events/_delta_log/00000000000000000002.json" in keys
    assert any(k.startswith("lake/events/country=US/") for k in keys)
    # credentials S3 refuses (moto checks them here): the error names the object, never the secret
    from s3_server import _set_auth

    bad = Catalog.load({"stores": {"lake": {**catalog.store("lake").configs, "interface": "delta",
                                            "secret_key": "wrong-secret-123"}},
                        "objects": {"lake.events": {"partition_by": ["country"]}}})
    _set_auth(s3_server, "0")
    try:
        with pytest.raises(DaoError, match=r"'lake.events' \(store 'lake'\)") as info:
            DataAccessObject(bad, spark=native).read("lake.events", engine="spark").collect()
    finally:
        _set_auth(s3_server, "inf")
    assert "wrong-secret-123" not in str(info.value)


def test_replace_where_natively_on_partition_and_data_columns(native: Any, lake: Path, calls: list[str]) -> None:
    """replaceWhere reaches delta-spark: only matching rows are replaced (on partition columns and,
    natively, on any column); rows outside the predicate fail the write and nothing is committed."""
    dao = DataAccessObject(catalog_for(lake), spark=native)
    dao.write(events_df(native, [(1, "DE"), (2, "FR"), (3, "US"), (4, "IT")]), "lake.events", mode="overwrite")
    dao.write(events_df(native, [(20, "FR"), (21, "DE")]), "lake.events", mode="overwrite",
              options={"replaceWhere": "country IN ('DE', 'FR', 'ES')"})
    assert rows(lake / "events") == [(3, "US"), (4, "IT"), (20, "FR"), (21, "DE")]
    # boundaries: FR (= the lower bound) replaced, IT (= the upper) kept
    dao.write(events_df(native, [(30, "GB")]), "lake.events", mode="overwrite",
              options={"replaceWhere": "country >= 'FR' AND country < 'IT'"})
    assert rows(lake / "events") == [(3, "US"), (4, "IT"), (21, "DE"), (30, "GB")]
    # a data column: the rows with id >= 21 are replaced wherever they are, the others stay
    dao.write(events_df(native, [(25, "DE"), (99, "US")]), "lake.events", mode="overwrite",
              options={"replaceWhere": "id >= 21"})
    assert rows(lake / "events") == [(3, "US"), (4, "IT"), (25, "DE"), (99, "US")]
    assert calls == ["write"] * 4
    version = DeltaTable(str(lake / "events")).version()
    with pytest.raises(DaoError, match=r"'lake.events'"):
        dao.write(events_df(native, [(5, "DE"), (50, "DE")]), "lake.events", mode="overwrite",
                  options={"replaceWhere": "id >= 21"})
    with pytest.raises(DaoError, match=r"unknown column 'idd'"):
        dao.write(events_df(native, [(50, "DE")]), "lake.events", mode="overwrite", options={"replaceWhere": "idd > 1"})
    assert DeltaTable(str(lake / "events")).version() == version
    assert rows(lake / "events") == [(3, "US"), (4, "IT"), (25, "DE"), (99, "US")]


def test_replace_where_renders_safe_spark_sql() -> None:
    import datetime as dt_

    obj = catalog_for(Path("/tmp/x")).get("lake.events")
    assert delta_native.spark_predicate(obj, [("country", "in", ("DE", "FR")), ("id", ">=", 3),
                                              ("day", "=", dt_.date(2025, 1, 8)), ("x`y", "is_null", None)]) == (
        "`country` IN ('DE', 'FR') AND `id` >= 3 AND `day` = DATE '2025-01-08' AND `x``y` IS NULL")
    with pytest.raises(DaoError, match=r"the value \"it's\" of 'country' has no safe Spark SQL literal"):
        delta_native.spark_predicate(obj, [("country", "=", "it's")])


def test_timestamp_columns_on_the_native_path(native: Any, tmp_path: Path, calls: list[str]) -> None:
    """A timestamp is the usual order_by: native writes and MERGEs take it (they crashed on the
    Arrow schema's missing time zone before)."""
    dao = twin_dao(native, tmp_path)
    schema = "id long, ts timestamp, name string"
    t0, t1, t2 = (dt.datetime(2025, 1, d, tzinfo=dt.UTC) for d in (1, 2, 3))
    dao.write(native.createDataFrame([(1, t1, "a"), (2, t1, "b")], schema), "native.users", mode="overwrite")
    result = dao.upsert(native.createDataFrame([(1, t2, "A"), (2, t0, "old"), (3, t0, "c")], schema),
                        "native.users")
    assert (result.rows_inserted, result.rows_updated) == (1, 1)
    assert calls == ["write", "upsert"]
    got = {r["id"]: r["name"] for r in pa.table(DeltaTable(str(tmp_path / "n" / "users")).to_pyarrow_table()).to_pylist()}
    assert got == {1: "A", 2: "b", 3: "c"}  # id 2's older incoming row lost to the stored one
