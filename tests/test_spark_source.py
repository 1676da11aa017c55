"""The ``dao`` Spark data source end to end on local folders (one shared local[2] session)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest
from pyspark.errors import PySparkException
from pyspark.sql import functions as F

import spark_dao
from spark_dao.interfaces.files import STAGING


def files_under(root: Path) -> list[str]:
    """Every file below ``root`` (hidden ones included), relative, sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def rows(df, *cols) -> list[tuple]:
    return sorted(tuple(r[c] for c in cols) for r in df.collect())


@pytest.fixture
def registered(spark, catalog_dict, tmp_path):
    spark_dao.register(spark, catalog_dict)
    return tmp_path


@pytest.fixture
def events(spark):
    return spark.createDataFrame(
        [
            (1, "DE", 10.5, dt.datetime(2025, 1, 7, 10, 0)),
            (2, "FR", 20.0, dt.datetime(2025, 1, 7, 11, 0)),
            (3, "DE", 30.25, dt.datetime(2025, 1, 8, 12, 0)),
            (4, "US", None, dt.datetime(2025, 1, 8, 13, 0)),
        ],
        "id long, country string, amount double, ts timestamp",
    )


def test_overwrite_then_read_back_exact_rows_and_schema(spark, registered, events):
    events.write.format("dao").mode("overwrite").save("silver.users_clean")
    back = spark.read.format("dao").load("silver.users_clean")
    assert back.schema.simpleString() == "struct<id:bigint,country:string,amount:double,ts:timestamp>"
    assert rows(back, "id", "country", "amount", "ts") == rows(events, "id", "country", "amount", "ts")


def test_append_adds_rows_and_overwrite_replaces_files(spark, registered, events):
    events.write.format("dao").mode("overwrite").save("silver.users_clean")
    events.write.format("dao").mode("append").save("silver.users_clean")
    assert spark.read.format("dao").load("silver.users_clean").count() == 8
    before = files_under(registered / "silver" / "users_clean")
    events.limit(1).write.format("dao").mode("overwrite").save("silver.users_clean")
    after = files_under(registered / "silver" / "users_clean")
    assert spark.read.format("dao").load("silver.users_clean").count() == 1
    assert not set(before) & set(after), "overwrite must remove every old file"


def test_partitioned_write_layout_and_partition_column(spark, registered, events):
    events.write.format("dao").mode("overwrite").save("silver.events")
    root = registered / "silver" / "events"
    assert sorted(p.name for p in root.iterdir()) == ["country=DE", "country=FR", "country=US"]
    back = spark.read.format("dao").load("silver.events")
    assert back.columns == ["id", "amount", "ts", "country"]  # partition columns last, as in Spark
    assert rows(back, "id", "country") == [(1, "DE"), (2, "FR"), (3, "DE"), (4, "US")]


def test_dynamic_partition_overwrite_replaces_only_touched_partitions(spark, registered, events):
    events.write.format("dao").mode("overwrite").save("silver.events")
    root = registered / "silver" / "events"
    fr_files = files_under(root / "country=FR")
    fix = spark.createDataFrame([(30, "DE", 99.0, dt.datetime(2025, 1, 9))], events.schema)
    fix.write.format("dao").mode("overwrite").option("partitionOverwriteMode", "dynamic").save("silver.events")
    back = spark.read.format("dao").load("silver.events")
    assert rows(back, "id", "country") == [(2, "FR"), (4, "US"), (30, "DE")]
    assert files_under(root / "country=FR") == fr_files  # untouched partition: same files


def test_partition_filters_prune_tasks(spark, registered, events):
    events.coalesce(1).write.format("dao").mode("overwrite").save("silver.events")
    assert spark.conf.get("spark.sql.python.filterPushdown.enabled") == "true"
    all_df = spark.read.format("dao").option("split_bytes", 1).load("silver.events")
    de = all_df.filter(F.col("country") == "DE")
    assert all_df.rdd.getNumPartitions() == 3
    assert de.rdd.getNumPartitions() == 1
    assert rows(de, "id") == [(1,), (3,)]
    # a filter on a data column is not pruned but still applied by Spark
    assert rows(all_df.filter("amount > 15"), "id") == [(2,), (3,)]
    assert rows(all_df.filter(F.col("country").isin("FR", "US")), "id") == [(2,), (4,)]


def test_columns_option_reads_only_those_columns(spark, registered, events):
    events.write.format("dao").mode("overwrite").save("silver.events")
    df = spark.read.format("dao").option("columns", "id,country").load("silver.events")
    assert df.columns == ["id", "country"]
    assert rows(df, "id", "country") == [(1, "DE"), (2, "FR"), (3, "DE"), (4, "US")]


def test_unknown_object_error_names_object_and_hint(spark, registered, events):
    events.write.format("dao").mode("overwrite").save("silver.events")
    with pytest.raises(PySparkException) as err:
        spark.read.format("dao").load("silver.evnts")
    msg = str(err.value)
    assert "ObjectNotFound" in msg and "silver.evnts" in msg and "Did you mean 'events'" in msg


def test_unknown_store_and_bad_option_errors(spark, registered, events):
    with pytest.raises(PySparkException, match="unknown store 'silvr'.*Did you mean 'silver'"):
        spark.read.format("dao").load("silvr.events")
    with pytest.raises(PySparkException, match="unknown option 'compresion'.*Did you mean 'compression'"):
        events.write.format("dao").mode("append").option("compresion", "zstd").save("silver.users_clean")
    assert not (registered / "silver" / "users_clean").exists()


def test_spark_default_save_mode_is_refused_by_spark(spark, registered, events):
    with pytest.raises(PySparkException, match="ErrorIfExists"):
        events.write.format("dao").save("silver.users_clean")
    assert not (registered / "silver" / "users_clean").exists()


def test_schema_mismatch_on_append_writes_nothing(spark, registered, events):
    events.write.format("dao").mode("overwrite").save("silver.users_clean")
    before = files_under(registered / "silver" / "users_clean")
    bad = events.withColumn("id", F.col("id").cast("string")).withColumn("extra", F.lit(1))
    with pytest.raises(PySparkException) as err:
        bad.write.format("dao").mode("append").save("silver.users_clean")
    msg = str(err.value)
    assert "SchemaMismatch" in msg and "id (string -> stored int64)" in msg and "extra" in msg
    assert files_under(registered / "silver" / "users_clean") == before


@pytest.mark.parametrize("mode", ["append", "overwrite", "upsert"])
def test_failed_task_leaves_target_unchanged_and_no_staging(spark, registered, events, mode):
    events.write.format("dao").mode("overwrite").save("silver.events")
    root = registered / "silver" / "events"
    before_files = files_under(root)
    before_rows = rows(spark.read.format("dao").load("silver.events"), "id", "country", "amount")

    @F.udf("long")
    def explode_on_3(x):
        if x == 3:
            raise ValueError("boom: simulated task failure")
        return x

    # Many partitions so some tasks stage files before the failing one runs.
    bad = events.repartition(4).withColumn("id", explode_on_3("id"))
    writer = bad.write.format("dao")
    if mode == "upsert":
        writer = writer.mode("append").option("operation", "upsert").option("keys", "id")
    else:
        writer = writer.mode(mode)
    with pytest.raises(PySparkException, match="boom"):
        writer.save("silver.events")
    assert files_under(root) == before_files
    assert not (root / STAGING).exists()
    assert rows(spark.read.format("dao").load("silver.events"), "id", "country", "amount") == before_rows


@pytest.mark.parametrize("mode", ["append", "overwrite", "upsert"])
def test_abort_removes_what_other_tasks_staged(spark, registered, events, mode):
    """Partition 1 fails only once partition 0 has staged its file: the driver's abort must remove it."""
    # (defined here: Spark's workers cannot import this test module, closures travel by value)
    def staged_files(staging):
        return sorted(str(p.relative_to(staging)) for p in staging.rglob("*.parquet")) if staging.exists() else []

    def wait_for(condition, timeout=60.0):
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return False

    events.write.format("dao").mode("overwrite").save("silver.events")
    root = registered / "silver" / "events"
    before_files = files_under(root)
    before_rows = rows(spark.read.format("dao").load("silver.events"), "id", "country", "amount")
    staging, seen = root / STAGING, registered / "seen.txt"

    def fail_once_partition_0_staged(batches):
        from pyspark import TaskContext

        if TaskContext.get().partitionId() == 1:
            list(batches)
            wait_for(lambda: staged_files(staging), timeout=60)
            __import__("time").sleep(1.0)  # partition 0's task returns its commit message
            seen.write_text("\n".join(staged_files(staging)))
            raise ValueError("boom: partition 1 fails after partition 0 staged")
        yield from batches

    bad = events.repartition(2).mapInArrow(fail_once_partition_0_staged, events.schema)
    writer = bad.write.format("dao")
    if mode == "upsert":
        writer = writer.mode("append").option("operation", "upsert").option("keys", "id")
    else:
        writer = writer.mode(mode)
    with pytest.raises(PySparkException, match="boom: partition 1 fails after partition 0 staged"):
        writer.save("silver.events")
    assert seen.read_text().strip(), "partition 0 had staged a file when partition 1 failed"
    assert files_under(root) == before_files  # staging (and the job's live marker) removed
    assert not staging.exists()
    assert rows(spark.read.format("dao").load("silver.events"), "id", "country", "amount") == before_rows


def test_task_still_staging_after_the_abort_leaves_nothing(spark, registered, catalog_dict):
    """Partition 0 stages a file, waits until the job is aborted, then stages more: nothing of it may stay."""
    # (defined here: Spark's workers cannot import this test module, closures travel by value)
    def staged_files(staging):
        return sorted(str(p.relative_to(staging)) for p in staging.rglob("*.parquet")) if staging.exists() else []

    def wait_for(condition, timeout=60.0):
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return False

    # a partitioned object: the dataset writer creates its folders as it goes, so a task that runs
    # on after the abort would put files back under _dao_staging/<job>/ if nothing stopped it
    catalog_dict["objects"]["silver.late"] = {"partition_by": ["country"]}
    spark_dao.register(spark, catalog_dict)
    df = spark.createDataFrame([(i, ["DE", "FR"][i % 2], "x") for i in range(1, 5)], "id long, country string, pad string")
    df.write.format("dao").mode("overwrite").save("silver.late")
    root = registered / "silver" / "late"
    before_files = files_under(root)
    staging, seen, done = root / STAGING, registered / "seen.txt", registered / "late-task-done.txt"

    def late_partition_0(batches):
        import pyarrow as pa
        from pyspark import TaskContext

        table = pa.Table.from_batches(list(batches))
        if TaskContext.get().partitionId() == 1:
            wait_for(lambda: staged_files(staging), timeout=60)
            seen.write_text("\n".join(staged_files(staging)))
            raise ValueError("boom: partition 1 fails while partition 0 is still staging")

        def pushers():
            # Python workers buffer their output: big rows push the small ones through to the writer
            for _ in range(3):
                yield pa.record_batch([pa.array([0]), pa.array(["DE"]), pa.array(["y" * (1 << 20)])],
                                      schema=table.schema)

        yield table.slice(0, 1).to_batches()[0]
        yield from pushers()
        # the first files are staged; go on only once the abort has ended the job
        wait_for(lambda: not list(staging.glob("*.live")), timeout=60)
        yield table.slice(1).to_batches()[0]
        yield from pushers()
        done.write_text("all rows handed to the writer")

    bad = df.repartition(2).mapInArrow(late_partition_0, df.schema)
    # one row per Arrow batch into the writer, so partition 0's first row is staged while it waits
    conf = "spark.sql.execution.arrow.maxRecordsPerBatch"
    previous = spark.conf.get(conf)
    spark.conf.set(conf, "1")
    try:
        with pytest.raises(PySparkException, match="boom: partition 1 fails while partition 0 is still staging"):
            bad.write.format("dao").mode("append").option("max_rows_per_file", 1).save("silver.late")
    finally:
        spark.conf.set(conf, previous)
    assert seen.read_text().strip(), "partition 0 had staged a file when partition 1 failed"
    wait_for(done.exists, timeout=20)  # (unless Spark killed the late task first)
    # the late task finds the job ended after staging and removes its own files
    assert wait_for(lambda: not staging.exists(), timeout=30), files_under(staging)
    assert files_under(root) == before_files
    assert rows(spark.read.format("dao").load("silver.late"), "id", "country", "pad") == \
        rows(df, "id", "country", "pad")


def test_catalog_option_overrides_the_registered_catalog_and_inline_json(spark, tmp_path, events):
    # The session's "dao" format is bound to a catalog whose store "lake" lives in registered/;
    # the catalog option names the same store in option/, and must win for reads and writes.
    registered = {"stores": {"lake": {"interface": "files", "path": str(tmp_path / "registered")}}}
    spark_dao.register(spark, registered)
    inline = json.dumps({"stores": {"lake": {"interface": "files", "path": str(tmp_path / "option")}}})
    events.limit(1).write.format("dao").mode("overwrite").save("lake.t1")  # the registered catalog
    events.write.format("dao").option("catalog", inline).mode("overwrite").save("lake.t1")
    assert files_under(tmp_path / "option" / "t1") and files_under(tmp_path / "registered" / "t1")
    back = spark.read.format("dao").option("catalog", inline).load("lake.t1")
    assert rows(back, "id") == [(1,), (2,), (3,), (4,)]
    assert rows(spark.read.format("dao").load("lake.t1"), "id") == [(1,)]  # registered one untouched
    path = tmp_path / "cat.json"
    path.write_text(inline)
    assert rows(spark.read.format("dao").option("catalog", str(path)).load("lake.t1"), "id") == [(1,), (2,), (3,), (4,)]


def test_empty_dataframe_overwrite_keeps_schema(spark, registered, events):
    events.write.format("dao").mode("overwrite").save("silver.users_clean")
    events.filter("id < 0").write.format("dao").mode("overwrite").save("silver.users_clean")
    back = spark.read.format("dao").load("silver.users_clean")
    assert back.count() == 0
    assert back.columns == ["id", "country", "amount", "ts"]


def test_csv_and_json_objects_through_spark(spark, registered, events):
    events.write.format("dao").mode("overwrite").save("bronze.users_raw")  # csv in the catalog
    csv_files = files_under(registered / "bronze" / "users_raw")
    assert csv_files and all(f.endswith(".csv") for f in csv_files)
    back = spark.read.format("dao").load("bronze.users_raw")
    assert rows(back, "id", "country") == [(1, "DE"), (2, "FR"), (3, "DE"), (4, "US")]
    assert back.filter("id = 4").first()["amount"] is None
    events.write.format("dao").mode("overwrite").option("format", "json").save("gold.users_agg")
    jback = spark.read.format("dao").option("format", "json").load("gold.users_agg")
    assert rows(jback, "id", "amount") == rows(events, "id", "amount")


AUTO_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
             .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    df = spark.createDataFrame([(1, "a"), (2, "b")], "id long, v string")
    # no spark_dao.register(): pyspark_dao.DefaultSource is found by PySpark itself
    df.write.format("dao").option("catalog", sys.argv[1]).mode("overwrite").save("silver.t")
    a = spark.read.format("dao").option("catalog", sys.argv[1]).load("silver.t").count()
    b = spark.read.format("dao").load("silver.t").count()   # catalog from SPARK_DAO_CATALOG
    print("RESULT", a, b)
    spark.stop()
    """
)


def test_auto_registration_without_register(tmp_path):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("stores:\n  silver:\n    interface: files\n    path: data/silver\n")
    env = {**os.environ, "SPARK_DAO_CATALOG": str(catalog), "PYSPARK_PYTHON": sys.executable}
    proc = subprocess.run(
        [sys.executable, "-c", AUTO_SCRIPT, str(catalog)],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert "RESULT 2 2" in proc.stdout, proc.stderr[-3000:]
    assert (tmp_path / "data" / "silver" / "t").is_dir()  # relative to the catalog file


def test_read_tasks_are_planned_for_the_cluster_cores(spark, tmp_path):
    from spark_dao.engines.spark import bound_source

    cat = {"stores": {"silver": {"interface": "files", "path": str(tmp_path)}}}
    dao = spark_dao.DataAccessObject(cat)
    for i in range(12):  # 12 tiny files: each "costs" 4 MB to open, so tasks = the cores planned for
        dao.write(pa.table({"id": [i]}), "silver.t", mode="append", engine="arrow")
    catalog = spark_dao.Catalog.load(cat)
    spark.dataSource.register(bound_source(catalog, name="dao_cores6", parallelism=6))
    assert spark.read.format("dao_cores6").load("silver.t").rdd.getNumPartitions() == 6
    # an explicit option wins over the recorded cores
    assert spark.read.format("dao_cores6").option("parallelism", "3").load("silver.t").rdd.getNumPartitions() == 3
    # register() records the session's cores (local[2])
    fmt = spark_dao.register(spark, cat, name="dao_cores_session")
    assert spark.sparkContext.defaultParallelism == 2
    assert spark.read.format(fmt).load("silver.t").rdd.getNumPartitions() == 2
    # writes never receive the read-only option: the files interface would refuse it as unknown
    spark.createDataFrame([(99,)], "id long").write.format("dao_cores6").mode("append").save("silver.t")
    assert sorted(r.id for r in spark.read.format("dao_cores6").load("silver.t").collect()) == [*range(12), 99]
