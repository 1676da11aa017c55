"""The Redshift interface against the local Redshift test server (PostgreSQL 18 behind a Redshift
wire proxy) and moto S3, with the real redshift_connector and boto3: every mode and upsert strategy
in both engines, table creation, reads (direct and UNLOAD), names and values that try SQL injection."""

from __future__ import annotations

import datetime as dt
import decimal
import logging

import pyarrow as pa
import pytest
from _redshift import redshift_store, temp_keys

from spark_dao import DaoError, DataAccessObject, DuplicateKeys, ObjectNotFound, SchemaMismatch

ROWS = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["ann", "bob", None],
                 "score": pa.array([1.5, None, 3.25], pa.float64())})


@pytest.fixture
def wh(redshift_server, s3_server, s3_bucket):
    """A DataAccessObject with one Redshift store ``wh`` on a fresh schema."""
    store = redshift_store(redshift_server, s3_server, s3_bucket)
    catalog = {"stores": {"wh": store}, "objects": {
        "wh.users": {"keys": ["id"]},
        "wh.events": {"keys": ["id"], "order_by": "ts", "dist_key": "id", "sort_key": ["ts"],
                      "column_types": {"note": "VARCHAR(1024)"}},
        "wh.odd": {"table": 'we"ird table', "keys": ["select"]},
        "wh.top_users": {"query": "SELECT id, name FROM {schema}.users WHERE score > 1".format(
            schema=store["schema"])},
    }}
    dao = DataAccessObject(catalog)
    dao.schema = store["schema"]  # type: ignore[attr-defined]
    return dao


def sql(server, query: str) -> list[tuple]:
    conn = server.connect()
    try:
        cur = conn.cursor()
        cur.execute(query)
        return [tuple(r) for r in cur.fetchall()] if cur.description else []
    finally:
        conn.rollback()
        conn.close()


def rows(dao, name: str, **kw) -> list[dict]:
    return sorted(dao.read(name, engine="arrow", **kw).to_pylist(), key=lambda r: repr(sorted(r.items())))


# --------------------------------------------------------------------------- modes, pandas engine
def test_every_mode_through_pandas(wh, redshift_server, s3_client, s3_bucket):
    r = wh.write(ROWS.to_pandas(), "wh.users", mode="errorifexists", engine="pandas")
    assert (r.rows_written, r.mode) == (3, "errorifexists")
    assert rows(wh, "wh.users") == sorted(ROWS.to_pylist(), key=lambda r: repr(sorted(r.items())))
    with pytest.raises(DaoError, match=r"'wh\.users' already has a table .*use mode='append'"):
        wh.write(ROWS, "wh.users", engine="pandas")
    assert wh.write(ROWS, "wh.users", mode="ignore", engine="pandas").skipped
    r = wh.write(ROWS.slice(0, 1), "wh.users", mode="append", engine="pandas")
    assert r.rows_written == 1 and len(rows(wh, "wh.users")) == 4
    r = wh.write(ROWS.slice(1), "wh.users", mode="overwrite", engine="pandas")
    assert (r.rows_written, r.rows_deleted) == (2, 4)
    assert [x["id"] for x in rows(wh, "wh.users")] == [2, 3]
    assert temp_keys(s3_client, s3_bucket) == []


def test_a_missing_table_is_created_from_the_arrow_schema(wh, redshift_server):
    data = pa.table({
        "id": pa.array([1, 2], pa.int64()), "small": pa.array([1, 2], pa.int16()), "i": pa.array([1, 2], pa.int32()),
        "ok": [True, False], "amount": pa.array([decimal.Decimal("12.34"), None], pa.decimal128(10, 2)),
        "day": pa.array([dt.date(2025, 1, 8), None]), "at": pa.array([dt.datetime(2025, 1, 8, 10)] * 2, pa.timestamp("us")),
        "at_utc": pa.array([dt.datetime(2025, 1, 8, 10, tzinfo=dt.UTC)] * 2, pa.timestamp("us", tz="UTC")),
        "ts": pa.array([1, 2], pa.int64()), "note": ["x" * 300, "é" * 200], "tiny": ["a", "b"]})
    wh.write(data, "wh.events", mode="overwrite", engine="pandas")
    types = dict(sql(redshift_server, "SELECT column_name, format_type(a.atttypid, a.atttypmod) FROM "
                     f"information_schema.columns c JOIN pg_attribute a ON a.attname = c.column_name AND "
                     f"a.attrelid = '\"{wh.schema}\".events'::regclass WHERE table_schema = '{wh.schema}' "
                     "AND table_name = 'events'"))
    assert types == {
        "id": "bigint", "small": "smallint", "i": "integer", "ok": "boolean", "amount": "numeric(10,2)",
        "day": "date", "at": "timestamp without time zone", "at_utc": "timestamp with time zone", "ts": "bigint",
        "note": "character varying(1024)",  # the catalog's column_types override
        "tiny": "character varying(64)",  # the smallest size; 'é' * 200 would be 400 bytes
    }
    back = wh.read("wh.events", engine="arrow")
    assert back.schema.field("at").type == pa.timestamp("us") and back.schema.field("amount").type == pa.decimal128(10, 2)
    assert back.sort_by("id").column("note").to_pylist() == ["x" * 300, "é" * 200]


def test_varchar_sized_from_the_longest_value_in_bytes_and_widened_on_append(wh, redshift_server):
    wh.write(pa.table({"id": [1], "name": ["é" * 100]}), "wh.users", mode="overwrite", engine="pandas")  # 200 bytes
    length = f"SELECT character_maximum_length FROM information_schema.columns WHERE table_schema = '{wh.schema}' " \
             "AND table_name = 'users' AND column_name = 'name'"
    assert sql(redshift_server, length) == [(256,)]
    wh.write(pa.table({"id": [2], "name": ["y" * 3000]}), "wh.users", mode="append", engine="pandas")
    assert sql(redshift_server, length) == [(4096,)]
    assert sorted(len(r["name"]) for r in rows(wh, "wh.users")) == [100, 3000]


def test_columns_are_matched_by_name_not_position(wh):
    wh.write(ROWS, "wh.users", mode="overwrite", engine="pandas")
    wh.write(pa.table({"score": [9.5], "id": pa.array([9], pa.int64()), "name": ["zed"]}), "wh.users", mode="append",
             engine="pandas")
    assert {"id": 9, "name": "zed", "score": 9.5} in rows(wh, "wh.users")
    with pytest.raises(SchemaMismatch, match=r"new columns \['extra'\]"):
        wh.write(ROWS.append_column("extra", pa.array([1, 2, 3])), "wh.users", mode="append", engine="pandas")
    with pytest.raises(SchemaMismatch, match=r"name \(int64 -> stored string\)"):
        wh.write(pa.table({"id": [1], "name": [5]}), "wh.users", mode="append", engine="pandas")


# --------------------------------------------------------------------------- upserts, pandas engine
STORED = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "v": ["s1", "s2", "s3"], "ts": pa.array([5, 5, None], pa.int64())})
CHANGES = pa.table({"id": pa.array([1, 2, 3, 4], pa.int64()), "v": ["old", "tie", "n3", "new"],
                    "ts": pa.array([4, 5, 0, None], pa.int64())})


@pytest.mark.parametrize("strategy,expected,metrics", [
    ("merge", {1: "s1", 2: "tie", 3: "n3", 4: "new"}, (1, 2, 0)),
    ("delete_insert", {1: "s1", 2: "tie", 3: "n3", 4: "new"}, (1, 2, 0)),
    ("insert_only", {1: "s1", 2: "s2", 3: "s3", 4: "new"}, (1, 0, 0)),
])
def test_upsert_strategies_through_pandas(wh, strategy, expected, metrics, s3_client, s3_bucket):
    wh.write(STORED, "wh.users", mode="overwrite", engine="pandas")
    r = wh.upsert(CHANGES, "wh.users", order_by="ts", strategy=strategy, engine="pandas")
    assert {x["id"]: x["v"] for x in rows(wh, "wh.users")} == expected
    assert (r.rows_inserted, r.rows_updated, r.rows_deleted) == metrics
    assert temp_keys(s3_client, s3_bucket) == []


def test_upsert_duplicates_and_delete_unmatched(wh):
    wh.write(STORED, "wh.users", mode="overwrite", engine="pandas")
    dup = pa.table({"id": pa.array([7, 7, 8], pa.int64()), "v": ["a", "b", "c"], "ts": pa.array([2, 1, 1], pa.int64())})
    with pytest.raises(DuplicateKeys, match=r"1 key\(s\) appear more than once in the batch, e.g. 7"):
        wh.upsert(dup, "wh.users", engine="pandas")
    r = wh.upsert(dup, "wh.users", engine="pandas", order_by="ts", on_duplicates="keep_latest", delete_unmatched=True)
    assert {x["id"]: x["v"] for x in rows(wh, "wh.users")} == {7: "a", 8: "c"}
    assert (r.rows_inserted, r.rows_updated, r.rows_deleted) == (2, 0, 3)
    with pytest.raises(DaoError, match="null key"):
        wh.upsert(pa.table({"id": pa.array([None], pa.int64()), "v": ["x"], "ts": [1]}), "wh.users", engine="pandas")


# --------------------------------------------------------------------------- Spark engine
def test_every_mode_and_strategy_through_spark(spark, wh, s3_client, s3_bucket):
    import spark_dao

    spark_dao.register(spark, wh.catalog)
    df = spark.createDataFrame(STORED.to_pandas()).repartition(2)
    df.write.format("dao").mode("overwrite").save("wh.users")
    assert wh.write(df, "wh.users", mode="ignore", engine="spark").skipped
    with pytest.raises(DaoError, match="already has"):
        wh.write(df, "wh.users", mode="errorifexists", engine="spark")
    df.limit(1).write.format("dao").mode("append").save("wh.users")
    assert len(rows(wh, "wh.users")) == 4
    changes = spark.createDataFrame(CHANGES.to_pandas()).repartition(2)
    for strategy, expected in [("insert_only", {1: "s1", 2: "s2", 3: "s3", 4: "new"}),
                               ("merge", {1: "s1", 2: "tie", 3: "n3", 4: "new"}),
                               ("delete_insert", {1: "s1", 2: "tie", 3: "n3", 4: "new"})]:
        wh.write(STORED, "wh.users", mode="overwrite", engine="pandas")
        (changes.write.format("dao").mode("append").option("operation", "upsert").option("keys", "id")
         .option("order_by", "ts").option("strategy", strategy).save("wh.users"))
        assert {x["id"]: x["v"] for x in rows(wh, "wh.users")} == expected, strategy
    back = spark.read.format("dao").option("read_mode", "unload").load("wh.users").where("id >= 3")
    assert sorted(r.id for r in back.collect()) == [3, 4]
    # Spark reads cannot tell when they end: what they unloaded stays until cleanup_temp
    assert temp_keys(s3_client, s3_bucket)
    removed = wh.cleanup_temp("wh", older_than=0)
    assert removed and temp_keys(s3_client, s3_bucket) == []


# --------------------------------------------------------------------------- reads
def test_reads_direct_and_unload_with_pushed_filters_and_columns(wh, s3_client, s3_bucket, caplog):
    wh.write(ROWS, "wh.users", mode="overwrite", engine="pandas")
    itf = wh._interface(wh.resolve("wh.users"))
    for mode in ("direct", "unload"):
        plan = itf.plan_read(wh.resolve("wh.users"), {"read_mode": mode, "columns": "name,id"},
                             [("score", ">", 1), ("name", "in", ["ann", "zed"])])
        assert plan.schema.names == ["name", "id"] and len(plan.applied_filters) == 2
        got = [b for t in plan.tasks for b in itf.read(t)]
        assert pa.Table.from_batches(got, schema=plan.schema).to_pylist() == [{"name": "ann", "id": 1}]
        if mode == "unload":
            assert temp_keys(s3_client, s3_bucket)  # the unloaded files ...
            itf.finish_read(wh.resolve("wh.users"), plan)
    assert temp_keys(s3_client, s3_bucket) == []  # ... removed when an in-process read finishes
    # the pandas engine: UNLOAD, then the files go
    pdf = wh.read("wh.users", engine="pandas", options={"read_mode": "unload"})
    assert sorted(pdf["id"]) == [1, 2, 3] and temp_keys(s3_client, s3_bucket) == []
    # auto: a small result is fetched directly (no UNLOAD)
    with caplog.at_level(logging.DEBUG, logger="spark_dao"):
        wh.read("wh.users", engine="arrow")
    assert "read_mode=direct" in caplog.text and "UNLOAD" not in caplog.text
    with caplog.at_level(logging.DEBUG, logger="spark_dao"):
        wh.read("wh.users", engine="arrow", options={"direct_max_cells": 1})
    assert "read_mode=unload" in caplog.text


def test_query_objects_are_read_only(wh):
    wh.write(ROWS, "wh.users", mode="overwrite", engine="pandas")
    for mode in ("direct", "unload"):
        got = wh.read("wh.top_users", engine="arrow", options={"read_mode": mode})
        assert sorted(got.to_pylist(), key=lambda r: r["id"]) == [{"id": 1, "name": "ann"}, {"id": 3, "name": None}]
    with pytest.raises(DaoError, match="defined by a query"):
        wh.write(ROWS, "wh.top_users", mode="append", engine="pandas")


def test_missing_table_is_object_not_found(wh):
    with pytest.raises(ObjectNotFound, match=r"'wh\.users' has no table"):
        wh.read("wh.users", engine="arrow")
    assert not wh.exists("wh.users") and not wh.delete("wh.users")


# --------------------------------------------------------------------------- SQL injection
INJECT = "x'); DROP TABLE users; --"


def test_odd_names_and_reserved_words_are_quoted(wh, redshift_server):
    odd = pa.table({"select": pa.array([1, 2], pa.int64()), 'we"ird col': ["a", "b"], "from": [1.0, 2.0],
                    "pct%s": [10, 20]})
    wh.write(odd, "wh.odd", mode="overwrite", engine="pandas")
    wh.upsert(pa.table({"select": pa.array([2, 3], pa.int64()), 'we"ird col': ["B", "c"], "from": [2.5, 3.0],
                        "pct%s": [21, 30]}), "wh.odd", engine="pandas")
    assert {r["select"]: r['we"ird col'] for r in rows(wh, "wh.odd")} == {1: "a", 2: "B", 3: "c"}
    for mode in ("direct", "unload"):  # a filter on a column named like a placeholder
        got = wh.read("wh.odd", engine="arrow", filters=[("pct%s", ">", 20), ("from", ">=", 2.5)],
                      options={"read_mode": mode, "columns": 'select,pct%s'})
        assert sorted(got.to_pylist(), key=lambda r: r["select"]) == [{"select": 2, "pct%s": 21}, {"select": 3, "pct%s": 30}]
    assert sql(redshift_server, f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{wh.schema}'") \
        == [('we"ird table',)]


@pytest.mark.parametrize("mode", ["direct", "unload"])
def test_filter_values_that_try_injection_are_quoted_or_not_pushed(wh, mode):
    wh.write(pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": [INJECT, "o'brien", "back\\slash"]}),
             "wh.users", mode="overwrite", engine="pandas")
    for value in (INJECT, "o'brien", "back\\slash", "' OR '1'='1"):
        got = wh.read("wh.users", engine="arrow", options={"read_mode": mode}, filters=[("name", "=", value)])
        assert got.column("name").to_pylist() == ([value] if value != "' OR '1'='1" else [])
    assert len(rows(wh, "wh.users")) == 3  # nothing dropped


def test_a_table_name_that_tries_injection_is_one_quoted_name(redshift_server, s3_server, s3_bucket):
    store = redshift_store(redshift_server, s3_server, s3_bucket)
    dao = DataAccessObject({"stores": {"wh": store}, "objects": {"wh.t": {"table": 't"; DROP TABLE x; --'}}})
    dao.write(ROWS, "wh.t", mode="overwrite", engine="pandas")
    assert sql(redshift_server, f"SELECT table_name FROM information_schema.tables WHERE table_schema = "
               f"'{store['schema']}'") == [('t"; DROP TABLE x; --',)]
    assert len(dao.read("wh.t", engine="arrow")) == 3


def test_describe_list_and_cleanup_of_a_redshift_store(wh, s3_client, s3_bucket):
    wh.write(ROWS, "wh.users", mode="overwrite", engine="pandas")
    info = wh.describe("wh.users")
    assert info["interface"] == "redshift" and info["keys"] == ["id"]
    assert "wh.users" in wh.list("wh")
    assert wh.cleanup("wh.users") == [] and temp_keys(s3_client, s3_bucket) == []


def test_data_with_fewer_columns_than_the_table_loads_them_by_name(wh):
    wh.write(ROWS, "wh.users", mode="overwrite", engine="pandas")
    wh.write(pa.table({"score": [7.5], "id": pa.array([7], pa.int64())}), "wh.users", mode="append", engine="pandas")
    assert {"id": 7, "name": None, "score": 7.5} in rows(wh, "wh.users")
    wh.upsert(pa.table({"id": pa.array([1], pa.int64()), "score": [0.5]}), "wh.users", engine="pandas")
    assert {"id": 1, "name": "ann", "score": 0.5} in rows(wh, "wh.users")  # a merge updates the given columns


def test_cleanup_temp_with_a_temp_store_never_touches_the_stores_data(redshift_server, s3_server, s3_bucket,
                                                                      s3_client):
    """temp_store: staging goes to a folder of its own in that store, and cleanup_temp removes only
    job folders (it once deleted the temp store's objects)."""
    store = redshift_store(redshift_server, s3_server, s3_bucket, temp_store="bronze")
    store.pop("s3_temp_dir")
    catalog = {"stores": {"gold": store,
                          "bronze": {"interface": "files", "bucket": s3_bucket, "prefix": "bronze",
                                     "endpoint_url": s3_server, "region": "us-east-1", "access_key": "testing",
                                     "secret_key": "testing"}},
               "objects": {"gold.users": {"keys": ["id"]}}}
    dao = DataAccessObject(catalog)
    dao.write(ROWS, "bronze.users_raw", mode="overwrite", engine="pandas")
    dao.write(ROWS, "gold.users", mode="overwrite", engine="pandas")
    # a leftover of a dead job in the staging folder, and a stray key that is not a job folder
    job = "0123456789abcdef0123456789abcdef"
    s3_client.put_object(Bucket=s3_bucket, Key=f"bronze/_dao_redshift_temp/{job}/part-0.parquet", Body=b"x")
    s3_client.put_object(Bucket=s3_bucket, Key="bronze/_dao_redshift_temp/notes.txt", Body=b"keep")
    removed = dao.cleanup_temp("gold", older_than=0)
    assert removed == [f"s3://{s3_bucket}/bronze/_dao_redshift_temp/{job}/part-0.parquet"]
    assert len(dao.read("bronze.users_raw", engine="arrow")) == 3  # the temp store's data is intact
    assert temp_keys(s3_client, s3_bucket, "bronze/_dao_redshift_temp/") == ["bronze/_dao_redshift_temp/notes.txt"]
    assert "_dao_redshift_temp" not in " ".join(dao.list("bronze"))
