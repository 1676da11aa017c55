"""The contract through Spark's ``dao`` data source: executors stage, the driver commits or aborts.
Few tests (Spark is slow here): read-your-writes, an upsert, and a failing task."""

from __future__ import annotations

import pyarrow as pa
import pytest

import spark_dao
from spark_dao import DaoError, SchemaMismatch

from ._contract import A, B, canon


def _spark_rows(df) -> list[dict]:
    return [r.asDict() for r in df.collect()]


def test_spark_read_your_writes(spark, store_kind):
    store_kind.require("spark")
    spark_dao.register(spark, store_kind.catalog)
    df = spark.createDataFrame(A.to_pandas()).repartition(2)
    df.write.format("dao").mode("overwrite").save("lake.t")
    spark.createDataFrame(B.to_pandas()).write.format("dao").mode("append").save("lake.t")
    back = spark.read.format("dao").load("lake.t")
    assert canon(_spark_rows(back)) == canon(pa.concat_tables([A, B]))
    assert canon(store_kind.dao.read("lake.t", engine="arrow")) == canon(pa.concat_tables([A, B]))
    assert store_kind.dao.write(df, "lake.t", mode="ignore", engine="spark").skipped
    with pytest.raises(DaoError, match=r"'lake\.t'.*already has .*store 'lake'"):
        store_kind.dao.write(df, "lake.t", mode="errorifexists", engine="spark")
    assert store_kind.leftovers() == []


def test_spark_upsert(spark, store_kind):
    store_kind.require("spark")
    store_kind.require("upsert")
    spark_dao.register(spark, store_kind.catalog)
    store_kind.dao.write(pa.concat_tables([A, B]), "lake.t", mode="overwrite", engine="pandas")
    changes = spark.createDataFrame([(1, "x", 10.5, "new", True), (9, "z", 9.5, "i", False)], A.schema.names)
    result = store_kind.dao.upsert(changes, "lake.t", engine="spark")
    assert (result.rows_inserted, result.rows_updated) == (1, 1)
    got = {r["id"]: r["s"] for r in _spark_rows(spark.read.format("dao").load("lake.t"))}
    assert got == {1: "new", 2: None, 3: "c", 4: "d", 5: "e", 9: "i"}
    assert store_kind.leftovers() == []


def test_a_failing_spark_task_leaves_the_target_unchanged(spark, store_kind):
    store_kind.require("spark")
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    store_kind.dao.write(A, "lake.t", mode="overwrite", engine="pandas")
    spark_dao.register(spark, store_kind.catalog)

    @F.udf("long")
    def fail_on_5(x):
        if x == 5:
            raise ValueError("task boom")
        return x

    # a schema that does not fit is refused on the driver (prepare_write), before any task
    other = spark.createDataFrame([("7", "x")], "id string, p string")
    with pytest.raises(SchemaMismatch, match="lake.t"):
        store_kind.dao.write(other, "lake.t", mode="append", engine="spark")
    assert canon(store_kind.dao.read("lake.t", engine="arrow")) == canon(A)
    assert store_kind.leftovers() == []

    df = spark.createDataFrame(pa.concat_tables([B, B]).to_pandas()).repartition(3)
    with pytest.raises(PySparkException, match="task boom"):
        df.withColumn("id", fail_on_5("id")).write.format("dao").mode("overwrite").save("lake.t")
    assert canon(store_kind.dao.read("lake.t", engine="arrow")) == canon(A)
    assert store_kind.leftovers() == []
