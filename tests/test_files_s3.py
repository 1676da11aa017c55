"""The files interface on S3 (moto's real HTTP server), through pandas, Arrow and Spark."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from spark_dao import DaoError, DataAccessObject, ObjectNotFound
from spark_dao.interfaces.files import STAGING


def s3_keys(client, bucket: str, prefix: str = "") -> list[str]:
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(o["Key"] for o in page.get("Contents", []))
    return sorted(out)


@pytest.fixture
def s3_catalog(s3_server, s3_bucket):
    return {
        "stores": {
            "silver": {
                "interface": "files",
                "bucket": s3_bucket,
                "prefix": "datasets",
                "endpoint_url": s3_server,
                "region": "us-east-1",
                # catalog credentials travel with the store to Spark executors
                "access_key": "testing",
                "secret_key": "${env:TEST_S3_SECRET:-testing}",
            }
        },
        "objects": {"silver.events": {"partition_by": ["country"], "keys": ["id"]}},
    }


@pytest.fixture
def events():
    return pa.table({"id": [1, 2, 3, 4], "country": ["DE", "FR", "DE", "US"], "amount": [1.0, 2.0, 3.0, 4.0]})


def test_every_mode_on_s3_with_pandas_engine(s3_catalog, s3_client, s3_bucket, events):
    dao = DataAccessObject(s3_catalog)
    dao.write(events, "silver.events", mode="overwrite")
    keys = s3_keys(s3_client, s3_bucket)
    assert {k.rsplit("/", 1)[0] for k in keys if k.endswith(".parquet")} == {
        "datasets/events/country=DE", "datasets/events/country=FR", "datasets/events/country=US"
    }
    dao.write(events, "silver.events", mode="append")
    assert dao.read("silver.events", engine="arrow").num_rows == 8
    fr_keys = s3_keys(s3_client, s3_bucket, "datasets/events/country=FR")
    dao.write(events.slice(0, 1), "silver.events", mode="dynamic")  # replaces only country=DE
    assert s3_keys(s3_client, s3_bucket, "datasets/events/country=FR") == fr_keys
    got = sorted(dao.read("silver.events", engine="arrow").column("id").to_pylist())
    assert got == [1, 2, 2, 4, 4]
    dao.write(events, "silver.events", mode="overwrite")
    assert sorted(dao.read("silver.events", engine="pandas")["id"]) == [1, 2, 3, 4]
    assert not [k for k in s3_keys(s3_client, s3_bucket) if STAGING in k]
    r = dao.upsert(pa.table({"id": [2, 9], "country": ["FR", "DE"], "amount": [20.0, 9.0]}), "silver.events")
    assert (r.rows_updated, r.rows_inserted) == (1, 1)
    assert dict(zip(*dao.read("silver.events", engine="arrow").select(["id", "amount"]).to_pydict().values(), strict=True))[2] == 20.0
    assert dao.exists("silver.events") and dao.list("silver") == ["silver.events"]
    assert dao.delete("silver.events")
    # pyarrow keeps an empty "datasets/" folder marker for the store prefix; no data is left
    assert [k for k in s3_keys(s3_client, s3_bucket) if not k.endswith("/")] == []


def test_missing_object_and_missing_bucket(s3_catalog, s3_server):
    dao = DataAccessObject(s3_catalog)
    with pytest.raises(ObjectNotFound, match="silver.nothing"):
        dao.read("silver.nothing", engine="arrow")
    s3_catalog["stores"]["silver"]["bucket"] = "no-such-bucket-dao"
    dao = DataAccessObject(s3_catalog)
    with pytest.raises(DaoError, match="no-such-bucket-dao"):
        dao.write(pa.table({"id": [1], "country": ["DE"]}), "silver.events", mode="overwrite")


def test_unreachable_endpoint_fails_fast_with_clear_error(s3_catalog):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    s3_catalog["stores"]["silver"].update(endpoint_url=f"http://127.0.0.1:{port}", max_attempts=2, connect_timeout=1)
    dao = DataAccessObject(s3_catalog)
    start = time.monotonic()
    with pytest.raises(DaoError) as err:
        dao.write(pa.table({"id": [1], "country": ["DE"]}), "silver.events", mode="overwrite")
    # 2 attempts of a refused connection take ~1 s; the default 5 attempts with backoff take ~8 s
    assert time.monotonic() - start < 5
    msg = str(err.value)
    assert msg.startswith("writing 'silver.events' (store 'silver') at s3://")
    assert "NETWORK_CONNECTION" in msg and "testing" not in msg


def test_spark_reads_and_writes_s3_with_catalog_credentials(spark, s3_catalog, s3_client, s3_bucket, events):
    import spark_dao

    spark_dao.register(spark, s3_catalog)
    df = spark.createDataFrame(events.to_pandas())
    df.write.format("dao").mode("overwrite").save("silver.events")
    back = spark.read.format("dao").load("silver.events")
    assert sorted(r.id for r in back.collect()) == [1, 2, 3, 4]
    assert sorted(r.id for r in back.filter("country = 'DE'").collect()) == [1, 3]

    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    before = s3_keys(s3_client, s3_bucket)

    @F.udf("long")
    def fail_on_4(x):
        if x == 4:
            raise ValueError("boom on S3")
        return x

    with pytest.raises(PySparkException, match="boom on S3"):
        df.repartition(3).withColumn("id", fail_on_4("id")).write.format("dao").mode("overwrite").save("silver.events")
    assert s3_keys(s3_client, s3_bucket) == before  # visible objects unchanged, staging removed
    # the tasks' uncompleted uploads (the failed attempts' too) were aborted
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert sorted(r.id for r in spark.read.format("dao").load("silver.events").collect()) == [1, 2, 3, 4]


@pytest.mark.parametrize("commit", ["multipart", "copy"])
def test_spark_abort_removes_what_other_tasks_staged_on_s3(spark, s3_catalog, s3_client, s3_bucket, s3_server,
                                                           events, tmp_path, commit):
    """Partition 1 fails only once partition 0 has an upload pending (or a staged object): the
    driver's abort must remove it, leaving exactly the previous keys and no upload."""
    from pyspark.errors import PySparkException

    import spark_dao

    s3_catalog["stores"]["silver"]["s3_commit"] = commit
    spark_dao.register(spark, s3_catalog)
    df = spark.createDataFrame(events.to_pandas())
    df.write.format("dao").mode("overwrite").save("silver.events")
    before = s3_keys(s3_client, s3_bucket)
    seen = tmp_path / "seen.txt"
    bucket, endpoint = s3_bucket, s3_server

    def staged_now():
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        pending = [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
        staged = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="datasets/events/_dao_staging/")
                  .get("Contents", []) if not o["Key"].endswith(".live")]
        return pending + staged

    def fail_once_partition_0_staged(batches):
        import time

        from pyspark import TaskContext

        if TaskContext.get().partitionId() == 1:
            list(batches)
            deadline = time.monotonic() + 60
            while not staged_now() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)  # partition 0's task returns its commit message
            seen.write_text("\n".join(staged_now()))
            raise ValueError("boom on S3: partition 1 fails after partition 0 staged")
        yield from batches

    bad = df.repartition(2).mapInArrow(fail_once_partition_0_staged, df.schema)
    with pytest.raises(PySparkException, match="boom on S3: partition 1 fails after partition 0 staged"):
        bad.write.format("dao").mode("append").save("silver.events")
    assert seen.read_text().strip(), "partition 0 had staged something when partition 1 failed"
    assert s3_keys(s3_client, s3_bucket) == before  # no staged object, live marker or folder marker left
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert sorted(r.id for r in spark.read.format("dao").load("silver.events").collect()) == [1, 2, 3, 4]


def test_reading_from_a_bucket_that_does_not_exist_names_the_bucket(s3_server: str) -> None:
    from spark_dao import DataAccessObject, ObjectNotFound

    dao = DataAccessObject({"stores": {"raw": {"interface": "files", "bucket": "no-such-bucket-xyz",
                                               "endpoint_url": s3_server, "region": "us-east-1",
                                               "access_key": "testing", "secret_key": "testing"}}})
    with pytest.raises(ObjectNotFound, match=r"object 'raw.users' has no data at s3://no-such-bucket-xyz/users "
                                             r"\(store 'raw'\): bucket 'no-such-bucket-xyz' does not exist at http"):
        dao.read("raw.users", engine="pandas")
