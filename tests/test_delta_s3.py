"""The Delta store on S3 (moto's HTTP server): writes, upserts, time travel and concurrent commits
(S3 conditional PUT), with the catalog's credentials only, read back by delta-rs itself."""

from __future__ import annotations

import threading
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from spark_dao import DaoError, DataAccessObject
from spark_dao.catalog import Catalog


@pytest.fixture
def catalog(s3_server: str, s3_bucket: str) -> Catalog:
    return Catalog.load({
        "stores": {
            "lake": {
                "interface": "delta",
                "bucket": s3_bucket,
                "prefix": "lake",
                "endpoint_url": s3_server,
                "region": "us-east-1",
                "access_key": "testing",
                "secret_key": "${env:TEST_S3_SECRET:-testing}",
            }
        },
        "objects": {"lake.events": {"partition_by": ["country"], "keys": ["country", "id"]}},
    })


def storage(s3_server: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": s3_server, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def rows(s3_server: str, bucket: str, version: int | None = None) -> list[tuple]:
    table = DeltaTable(f"s3://{bucket}/lake/events", version=version, storage_options=storage(s3_server))
    return sorted(tuple(r.values()) for r in pa.table(table.to_pyarrow_table()).select(["id", "country", "v"]).to_pylist())


def data(ids: list[int], country: str, v: str) -> pa.Table:
    return pa.table({"id": ids, "country": [country] * len(ids), "v": [v] * len(ids)})


def test_write_upsert_and_time_travel_on_s3(catalog: Catalog, s3_server: str, s3_bucket: str, s3_client: Any) -> None:
    dao = DataAccessObject(catalog)
    dao.write(pa.concat_tables([data([1, 2], "DE", "a"), data([3], "US", "a")]), "lake.events", engine="pandas")
    dao.write(data([4], "FR", "a"), "lake.events", engine="pandas", mode="append")
    result = dao.upsert(data([3, 5], "US", "b"), "lake.events", engine="pandas")
    assert (result.rows_inserted, result.rows_updated) == (1, 1)
    assert rows(s3_server, s3_bucket) == [(1, "DE", "a"), (2, "DE", "a"), (3, "US", "b"), (4, "FR", "a"), (5, "US", "b")]
    assert rows(s3_server, s3_bucket, version=0) == [(1, "DE", "a"), (2, "DE", "a"), (3, "US", "a")]
    got = dao.read("lake.events", engine="arrow", version=1, filters=[("country", "=", "FR")])
    assert got.select(["id", "v"]).to_pylist() == [{"id": 4, "v": "a"}]
    dao.write(data([9], "DE", "c"), "lake.events", engine="pandas", mode="dynamic")
    assert [r for r in rows(s3_server, s3_bucket) if r[1] == "DE"] == [(9, "DE", "c")]
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="lake/events/").get("Contents", [])]
    assert any(k.startswith("lake/events/_delta_log/") for k in keys)
    assert not [k for k in keys if "_dao_staging" in k and not k.endswith(".live")]


def test_concurrent_appends_on_s3_all_land(catalog: Catalog, s3_server: str, s3_bucket: str) -> None:
    DataAccessObject(catalog).write(data([0], "DE", "x"), "lake.events", engine="pandas")
    errors: list[BaseException] = []

    def append(i: int) -> None:
        try:
            DataAccessObject(catalog).write(data([i], "DE", "x"), "lake.events", engine="pandas", mode="append")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(i,)) for i in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [r[0] for r in rows(s3_server, s3_bucket)] == list(range(7))
    table = DeltaTable(f"s3://{s3_bucket}/lake/events", storage_options=storage(s3_server))
    assert table.version() == 6  # one commit each, none lost to a race on the log


def test_spark_write_and_read_on_s3(spark: Any, catalog: Catalog, s3_server: str, s3_bucket: str) -> None:
    dao = DataAccessObject(catalog, spark=spark)
    df = spark.createDataFrame([(i, "DE" if i % 2 else "US", "s") for i in range(20)], "id long, country string, v string")
    dao.write(df.repartition(3), "lake.events", mode="overwrite")
    assert len(rows(s3_server, s3_bucket)) == 20
    assert dao.read("lake.events").filter("country = 'US'").count() == 10


def test_bad_credentials_are_a_clear_error_and_nothing_is_written(catalog: Catalog, s3_auth_enforced: Any,
                                                                  s3_server: str, s3_bucket: str) -> None:
    config = {"stores": {"lake": {**catalog.store("lake").configs, "interface": "delta", "secret_key": "wrong"}}}
    dao = DataAccessObject(config)
    with pytest.raises(DaoError) as info:
        dao.write(data([1], "DE", "x"), "lake.events", engine="pandas")
    message = str(info.value)
    assert "'lake.events'" in message and "(store 'lake')" in message and "INVALID_ACCESS_KEY_ID" in message
    assert "wrong" not in message  # the secret never shows
    assert info.value.__cause__ is not None and "wrong" not in str(info.value.__cause__)


def test_merge_schema_on_s3_is_one_conditional_commit(catalog: Catalog, s3_server: str, s3_bucket: str,
                                                      s3_client: Any) -> None:
    from spark_dao import WriteConflict
    from spark_dao.interfaces import get_interface

    dao = DataAccessObject(catalog)
    dao.write(data([1], "DE", "a"), "lake.events", engine="pandas")
    wide = data([2], "DE", "b").append_column("score", pa.array([1.5]))
    dao.write(wide, "lake.events", engine="pandas", mode="append", options={"mergeSchema": True})
    table = DeltaTable(f"s3://{s3_bucket}/lake/events", storage_options=storage(s3_server))
    assert table.version() == 1 and "score" in pa.schema(table.schema().to_arrow()).names
    assert sorted(pa.table(table.to_pyarrow_table()).select(["id", "score"]).to_pylist(), key=lambda r: r["id"]) == [
        {"id": 1, "score": None}, {"id": 2, "score": 1.5}]
    # the version taken meanwhile: the conditional PUT refuses it -> WriteConflict (max_retries=0)
    obj = catalog.get("lake.events")
    itf = get_interface(obj.store)
    wider = wide.append_column("tag", pa.array(["t"]))
    spec = itf.prepare_write(obj, wider.schema, {"mode": "append", "mergeSchema": True, "max_retries": 0})
    part = itf.stage(obj, wider.to_batches(), spec, "job-s3-slow")
    fill = {"mergeSchema": True}  # the table now has 'score': fill it with nulls
    dao.write(data([3], "US", "c"), "lake.events", engine="pandas", mode="append", options=fill)  # version 2
    with pytest.raises(WriteConflict, match="after 0 retries"):
        itf.commit(obj, [part], spec)
    log = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="lake/events/_delta_log/")["Contents"]]
    assert sorted(k.rsplit("/", 1)[1] for k in log if k.endswith(".json")) == [f"{v:020d}.json" for v in range(3)]
    # retried by default: lands as version 4 on top of version 3
    spec = itf.prepare_write(obj, wider.schema, {"mode": "append", "mergeSchema": True})
    part = itf.stage(obj, wider.to_batches(), spec, "job-s3-retry")
    dao.write(data([4], "US", "d"), "lake.events", engine="pandas", mode="append", options=fill)  # version 3
    assert "version 4" in itf.commit(obj, [part], spec).location
    table = DeltaTable(f"s3://{s3_bucket}/lake/events", storage_options=storage(s3_server))
    assert pa.schema(table.schema().to_arrow()).names == ["id", "country", "v", "score", "tag"]
    assert sorted(r["id"] for r in pa.table(table.to_pyarrow_table()).select(["id"]).to_pylist()) == [1, 2, 2, 3, 4]


def test_time_travel_by_timestamp_on_s3(catalog: Catalog, s3_server: str, s3_bucket: str) -> None:
    """The version at a time is found from the commits' own log files (DeltaTable.history() holds
    the GIL while it waits on S3, which stalled this in-process S3 server for minutes)."""
    import datetime as dt
    import time

    dao = DataAccessObject(catalog)
    dao.write(data([1], "DE", "a"), "lake.events", engine="pandas")
    time.sleep(1.1)
    between = dt.datetime.now(dt.UTC)
    time.sleep(1.1)
    dao.write(data([2], "DE", "b"), "lake.events", engine="pandas", mode="overwrite")
    started = time.monotonic()
    old = dao.read("lake.events", engine="arrow", timestamp=between)
    assert old.select(["id", "v"]).to_pylist() == [{"id": 1, "v": "a"}]
    assert dao.read("lake.events", engine="arrow", timestamp=dt.datetime.now(dt.UTC)).column("id").to_pylist() == [2]
    with pytest.raises(DaoError, match=r"no version of the table exists at .*its first commit is at"):
        dao.read("lake.events", engine="arrow", timestamp="2001-01-01 00:00:00")
    assert time.monotonic() - started < 30


def test_cleanup_removes_a_killed_drivers_data_files_on_s3(catalog: Catalog, s3_server: str, s3_bucket: str,
                                                           s3_client: Any) -> None:
    from spark_dao.interfaces import get_interface

    dao = DataAccessObject(catalog)
    dao.write(data([1], "DE", "a"), "lake.events", engine="pandas")

    def data_keys() -> list[str]:
        return sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="lake/events/")
                      .get("Contents", []) if o["Key"].endswith(".parquet") and "_delta_log" not in o["Key"])

    committed = data_keys()
    obj = catalog.get("lake.events")
    itf = get_interface(obj.store)
    job = "0badc0de" * 4
    spec = itf.start_job(obj, itf.prepare_write(obj, data([2], "US", "b").schema, {"mode": "append"}), job)
    itf.stage(obj, data([2, 3], "US", "b").to_batches(), spec, job)  # then the driver is killed
    orphans = sorted(set(data_keys()) - set(committed))
    assert orphans and all("part-0badc0de-" in k for k in orphans)
    removed = dao.cleanup("lake.events", older_than=0)
    assert sorted(r.removeprefix(f"s3://{s3_bucket}/") for r in removed if r.endswith(".parquet")) == orphans
    assert data_keys() == committed
    assert rows(s3_server, s3_bucket) == [(1, "DE", "a")]
