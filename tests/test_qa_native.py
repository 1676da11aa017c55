"""QA of the native files path (dao.read / dao.write with the Spark engine on files stores): cases
tests/test_files_native.py does not cover. Each test asserts what the docs promise (the same answers
as the Python path); the first group shows defects found by QA (they fail until fixed), the second
pins behaviour verified to work."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from test_files_native import collect, data_files

from spark_dao import DaoError, DataAccessObject
from spark_dao.catalog import Catalog

PATHS = ["native", "python"]


def dao_for(root: Path, spark: Any, fmt: str = "parquet", **objects: Any) -> DataAccessObject:
    return DataAccessObject(Catalog.load({
        "stores": {"lake": {"interface": "files", "path": str(root), "format": fmt}},
        "objects": {f"lake.{k}": v for k, v in (objects or {"t": {}}).items()},
    }), spark=spark)


# =========================================================================== defects
def test_native_read_decodes_non_ascii_partition_values(spark: Any, tmp_path: Path) -> None:
    """D1: folders are named s=%C3%BC (UTF-8 percent-escaped); Spark's reader decodes each %XX as one
    character, so the native read returned 'Ã¼' and a filter s='ü' found nothing."""
    dao = dao_for(tmp_path, spark, t={"partition_by": ["s"]})
    rows = [(1, "ü"), (2, "日本")]
    for writer in PATHS:
        dao.write(spark.createDataFrame(rows, "id long, s string"), "lake.t", mode="overwrite",
                  options={"engine_path": writer})
        for reader in ("auto", "python"):  # auto takes the Python path for such folders
            opts = {"engine_path": reader}
            assert collect(dao.read("lake.t", engine="spark", options=opts)) == rows, (writer, reader)
            got = dao.read("lake.t", engine="spark", filters=[("s", "=", "ü")], options=opts)
            assert collect(got) == [(1, "ü")], (writer, reader)
        with pytest.raises(DaoError, match=r"'lake.t' \(store 'lake'\): engine_path='native' cannot run here: "
                                           r"the folder of .* holds a non-ASCII partition value"):
            dao.read("lake.t", engine="spark", options={"engine_path": "native"})


def test_native_write_keeps_empty_string_partition_values(spark: Any, tmp_path: Path) -> None:
    """D2: the Python path writes '' to folder s= and reads '' back; the native writer turned '' into
    null (folder s=__HIVE_DEFAULT_PARTITION__): the data changed."""
    dao = dao_for(tmp_path, spark, t={"partition_by": ["s"]})
    dao.write(spark.createDataFrame([(1, ""), (2, "a")], "id long, s string"), "lake.t", mode="overwrite",
              options={"engine_path": "native"})
    assert [os.path.dirname(f) for f in data_files(tmp_path / "t")] == ["s=", "s=a"]
    back = dao.read("lake.t", engine="pandas").sort_values("id")
    assert back["s"].tolist() == ["", "a"]


def test_native_read_of_an_empty_string_partition_folder(spark: Any, tmp_path: Path) -> None:
    """D3: after the Python path wrote s= (an empty string), dao.read with the Spark engine (auto)
    failed with a raw SparkRuntimeException [EMPTY_PARTITION_COLUMN_VALUE]; it must return the rows
    (auto: the Python path reads it) and 'native' must be refused with a DaoError."""
    from spark_dao import DaoError

    dao = dao_for(tmp_path, spark, t={"partition_by": ["s"]})
    dao.write(spark.createDataFrame([(1, ""), (2, "a")], "id long, s string"), "lake.t", mode="overwrite",
              options={"engine_path": "python"})
    assert collect(dao.read("lake.t", engine="spark")) == [(1, ""), (2, "a")]
    with pytest.raises(DaoError, match=r"'lake.t' \(store 'lake'\)"):
        dao.read("lake.t", engine="spark", options={"engine_path": "native"}).collect()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_native_read_after_an_empty_partitioned_write(spark: Any, tmp_path: Path, fmt: str) -> None:
    """D4: an empty write to a partitioned object (either path) leaves part-<job>-empty-0.<fmt> at the
    object's root; from then on the native read is refused ('not in the object's partition folders'),
    so auto silently falls back to the Python path for good, and engine_path='native' raises."""
    dao = dao_for(tmp_path, spark, fmt, t={"partition_by": ["k"]})
    dao.write(spark.createDataFrame([], "id long, k string"), "lake.t", mode="overwrite",
              options={"engine_path": "native"})
    dao.write(spark.createDataFrame([(1, "a")], "id long, k string"), "lake.t", mode="append",
              options={"engine_path": "native"})
    got = dao.read("lake.t", engine="spark", options={"engine_path": "native"})
    assert collect(got) == [(1, "a")]


CONNECT_JOB = textwrap.dedent("""
    import json, sys
    from pyspark.sql import SparkSession
    from spark_dao import DataAccessObject
    from spark_dao.engines import files_native

    root = sys.argv[1]
    spark = SparkSession.builder.remote("local[1]").getOrCreate()
    calls = []
    for name in ("read", "write"):
        real = getattr(files_native, name)
        setattr(files_native, name, lambda *a, _n=name, _r=real, **k: (calls.append(_n), _r(*a, **k))[1])
    dao = DataAccessObject({"stores": {"lake": {"interface": "files", "path": root + "/lake"}},
                            "objects": {"lake.t": {"partition_by": ["k"]}}}, spark=spark)
    out = {}
    try:
        dao.write(spark.createDataFrame([(1, "a"), (2, "b")], "id long, k string"), "lake.t", mode="overwrite")
        dao.write(spark.createDataFrame([(3, "a")], "id long, k string"), "lake.t", mode="dynamic")
        out["rows"] = sorted(tuple(r) for r in dao.read("lake.t", engine="spark").collect())
    except Exception as e:
        out["error"] = f"{type(e).__name__}: {e}"[:500]
    out["calls"] = calls
    print("RESULT " + json.dumps(out))
""")


def test_native_files_path_on_spark_connect(tmp_path: Path) -> None:
    """D5: on Spark Connect the native writer runs .mode("errorifexists"), which the Connect client
    does not know ("error" is its spelling): every native write on Connect failed with
    [UNSUPPORTED_OPERATION] errorifexists is not supported."""
    job = tmp_path / "job.py"
    job.write_text(CONNECT_JOB)
    env = {**os.environ, "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
           "SPARK_TESTING": "1"}  # an ephemeral Connect port: 15002 may be taken on a shared machine
    proc = subprocess.run([sys.executable, str(job), str(tmp_path)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=400)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, proc.stdout[-3000:] + proc.stderr[-4000:]
    out = json.loads(line[len("RESULT "):])
    assert out.get("error") is None, out
    assert out["rows"] == [[2, "b"], [3, "a"]]
    assert out["calls"] == ["write", "write", "read"]


def test_concurrent_python_path_writes_from_threads(spark: Any, tmp_path: Path) -> None:
    """D6: writers in threads (one session, one catalog): the Python path's writes failed with
    AnalysisException [DATA_SOURCE_ALREADY_EXISTS] Data source 'dao_<hash>' already exists (the
    data source registration races); every write must land."""
    dao = dao_for(tmp_path, spark, t={"partition_by": ["k"]})
    dao.write(spark.createDataFrame([(0, "a")], "id long, k string"), "lake.t", mode="overwrite",
              options={"engine_path": "native"})  # nothing registered yet: the threads register
    errors: list[str] = []
    start = threading.Barrier(8)

    def write(i: int) -> None:
        df = spark.createDataFrame([(i, "c")], "id long, k string")
        start.wait()
        try:
            dao.write(df, "lake.t", mode="append", options={"engine_path": "python"})
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(f"{type(e).__name__}: {e}"[:300])

    threads = [threading.Thread(target=write, args=(i,)) for i in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r[0] for r in dao.read("lake.t", engine="spark").collect()) == list(range(9))


def test_native_write_adds_no_empty_data_files(spark: Any, tmp_path: Path) -> None:
    """D7: an unpartitioned native write leaves a zero-row file for an empty Spark task (a 1-row
    DataFrame of 2 partitions gave files_added=2, one file with 0 rows); the Python path writes
    only files with rows, and appends would pile the empty files up."""
    import pyarrow.parquet as pq

    dao = dao_for(tmp_path, spark)
    df = spark.createDataFrame([(1, "a")], "id long, s string").repartition(2)
    result = dao.write(df, "lake.t", mode="overwrite", options={"engine_path": "native"})
    rows = {f: pq.ParquetFile(tmp_path / "t" / f).metadata.num_rows for f in data_files(tmp_path / "t")}
    assert result.files_added == 1 and list(rows.values()) == [1], rows


def test_a_cancelled_native_write_says_so_and_leaves_the_target_unchanged(spark: Any, tmp_path: Path) -> None:
    """D8: a Spark job cancelled mid-write (sc.cancelAllJobs) leaves the target unchanged and no
    staging (verified), but the DaoError only says 'An error occurred while calling o327.save.':
    it must carry Spark's reason (SPARK_JOB_CANCELLED)."""
    import time

    from pyspark.sql import functions as F

    from spark_dao import DaoError

    dao = dao_for(tmp_path, spark, t={"partition_by": ["k"]})
    dao.write(spark.createDataFrame([(1, "a")], "id long, k string"), "lake.t", mode="overwrite")
    before = {f: (tmp_path / "t" / f).read_bytes() for f in data_files(tmp_path / "t")}

    @F.udf("long")
    def slow(i):  # noqa: ANN001, ANN202 - a Spark UDF
        import time

        time.sleep(0.5)
        return i

    df = spark.range(40).repartition(4).selectExpr("id", "cast(id % 2 as string) k").withColumn("id", slow("id"))
    canceller = threading.Timer(4, spark.sparkContext.cancelAllJobs)
    canceller.start()
    with pytest.raises(DaoError, match=r"writing 'lake.t' \(store 'lake'\) with Spark failed.*cancel"):
        dao.write(df, "lake.t", mode="overwrite", options={"engine_path": "native"})
    canceller.join()
    time.sleep(2)  # the killed tasks' late aborts
    assert {f: (tmp_path / "t" / f).read_bytes() for f in data_files(tmp_path / "t")} == before
    staging = tmp_path / "t" / "_dao_staging"
    assert not staging.exists() or [p for p in staging.iterdir() if not p.name.endswith(".live")] == []


# =========================================================================== verified to work
def test_partition_values_of_every_allowed_type_cross_between_paths(spark: Any, tmp_path: Path) -> None:
    data = spark.createDataFrame(
        [(1, "a b/c=d%e?f&", -5, -3, dt.date(1999, 12, 31), True), (2, "%2F", 2**40, 0, None, False),
         (3, None, None, None, dt.date(2025, 1, 1), None)],
        "id long, s string, n long, i int, d date, b boolean")
    layouts = {}
    for writer in PATHS:
        dao = dao_for(tmp_path / writer, spark, t={"partition_by": ["s", "n", "i", "d", "b"]})
        dao.write(data, "lake.t", mode="overwrite", options={"engine_path": writer})
        layouts[writer] = [os.path.dirname(f) for f in data_files(tmp_path / writer / "t")]
        assert all(os.path.basename(f).startswith("part-") for f in data_files(tmp_path / writer / "t"))
        reads = [dao.read("lake.t", engine="spark", options={"engine_path": r}) for r in PATHS]
        assert reads[0].schema == reads[1].schema
        assert reads[0].schema.simpleString() == "struct<id:bigint,s:string,n:bigint,i:bigint,d:date,b:boolean>"
        assert collect(reads[0]) == collect(reads[1]) == collect(data)
    assert layouts["native"] == layouts["python"]
    assert "s=a%20b%2Fc%3Dd%25e%3Ff%26/n=-5/i=-3/d=1999-12-31/b=true" in layouts["native"]


@pytest.mark.parametrize("compression", ["none", "zstd", "gzip"])
def test_max_rows_per_file_and_compression_on_parquet(spark: Any, tmp_path: Path, compression: str) -> None:
    data = spark.range(100).selectExpr("id", "cast(id % 2 as string) as k").repartition(1)
    for writer in PATHS:
        dao = dao_for(tmp_path / writer, spark, t={"partition_by": ["k"]})
        result = dao.write(data, "lake.t", mode="overwrite",
                           options={"engine_path": writer, "max_rows_per_file": 20, "compression": compression})
        assert (result.rows_written, result.files_added) == (100, 6)
        assert len(data_files(tmp_path / writer / "t")) == 6
        assert sorted(dao.read("lake.t", engine="arrow").column("id").to_pylist()) == list(range(100))


@pytest.mark.parametrize("options", [{"header": False}, {"delimiter": ";"}, {"delimiter": "\t", "header": False}])
def test_csv_header_and_delimiter_cross_between_paths(spark: Any, tmp_path: Path, options: dict) -> None:
    data = spark.createDataFrame([(1, "a;b", 1.5), (2, None, None)], "id long, s string, x double")
    for writer in PATHS:
        dao = dao_for(tmp_path / writer, spark, "csv", t={"options": options})
        dao.write(data, "lake.t", mode="overwrite", options={"engine_path": writer})
        reads = [dao.read("lake.t", engine="spark", options={"engine_path": r}) for r in PATHS]
        assert reads[0].schema == reads[1].schema
        assert collect(reads[0]) == collect(reads[1]) == [(1, "a;b", 1.5), (2, None, None)]


def test_json_nulls_cross_between_paths(spark: Any, tmp_path: Path) -> None:
    data = spark.createDataFrame([(1, None, None, True), (2, "x", 2.5, None)], "id long, s string, x double, b boolean")
    for writer in PATHS:
        dao = dao_for(tmp_path / writer, spark, "json")
        dao.write(data, "lake.t", mode="overwrite", options={"engine_path": writer})
        for reader in PATHS:
            got = dao.read("lake.t", engine="spark", options={"engine_path": reader})
            assert got.schema.simpleString() == "struct<id:bigint,s:string,x:double,b:boolean>"
            assert collect(got) == [(1, None, None, True), (2, "x", 2.5, None)]


def test_writes_mixing_the_paths(spark: Any, tmp_path: Path) -> None:
    dao = dao_for(tmp_path, spark, t={"partition_by": ["k"]})

    def df(rows: list) -> Any:
        return spark.createDataFrame(rows, "id long, k string")

    dao.write(df([(1, "a"), (2, "b")]), "lake.t", mode="overwrite", options={"engine_path": "native"})
    dao.write(df([(3, "a")]), "lake.t", mode="append", options={"engine_path": "python"})
    dao.write(df([(4, "b")]), "lake.t", mode="append", options={"engine_path": "native"})
    assert sorted(dao.read("lake.t", engine="arrow").column("id").to_pylist()) == [1, 2, 3, 4]
    dao.write(df([(5, "a")]), "lake.t", mode="dynamic", options={"engine_path": "native"})  # over a python file
    assert collect(dao.read("lake.t", engine="spark")) == [(2, "b"), (4, "b"), (5, "a")]
    dao.write(df([(6, "b")]), "lake.t", mode="dynamic", options={"engine_path": "python"})  # over native files
    assert collect(dao.read("lake.t", engine="spark")) == [(5, "a"), (6, "b")]
    dao.write(df([(8, "c")]), "lake.t", mode="overwrite", options={"engine_path": "native"})
    assert collect(dao.read("lake.t", engine="spark", options={"engine_path": "python"})) == [(8, "c")]
    assert [os.path.dirname(f) for f in data_files(tmp_path / "t")] == ["k=c"]


def test_append_with_another_column_order_and_a_declared_schema(spark: Any, tmp_path: Path) -> None:
    dao = dao_for(tmp_path, spark, t={"partition_by": ["k"]},
                  typed={"schema": {"id": "long", "x": "double", "k": "string"}, "partition_by": ["k"]})
    dao.write(spark.createDataFrame([(1, "a", 1.0)], "id long, k string, x double"), "lake.t", mode="overwrite")
    dao.write(spark.createDataFrame([(2.0, "b", 2)], "x double, k string, id long"), "lake.t", mode="append",
              options={"engine_path": "native"})
    assert collect(dao.read("lake.t", engine="spark")) == [(1, 1.0, "a"), (2, 2.0, "b")]
    dao.write(spark.createDataFrame([(1, "a", 1)], "id int, k string, x int"), "lake.typed", mode="overwrite",
              options={"engine_path": "native"})
    got = dao.read("lake.typed", engine="spark", options={"engine_path": "python"})
    assert got.schema.simpleString() == "struct<id:bigint,x:double,k:string>"
    assert collect(got) == [(1, 1.0, "a")]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
@pytest.mark.parametrize("mode", ["overwrite", "append", "errorifexists", "ignore"])
def test_empty_dataframes_unpartitioned_as_on_the_python_path(spark: Any, tmp_path: Path, fmt: str, mode: str) -> None:
    seen = {}
    for writer in PATHS:
        dao = dao_for(tmp_path / writer, spark, fmt)
        empty = spark.createDataFrame([], "id long, k string")
        first = dao.write(empty, "lake.t", mode=mode, options={"engine_path": writer})
        after_first = collect(dao.read("lake.t", engine="spark", options={"engine_path": writer}))
        dao.write(spark.createDataFrame([(1, "a")], "id long, k string"), "lake.t", mode="overwrite")
        again = dao.write(empty, "lake.t", mode="append" if mode == "errorifexists" else mode,
                          options={"engine_path": writer})
        seen[writer] = (first.rows_written, first.files_added, after_first, again.files_removed,
                        collect(dao.read("lake.t", engine="spark")))
    assert seen["native"] == seen["python"]


@pytest.mark.parametrize("mode", ["append", "overwrite"])
def test_concurrent_native_writers_lose_nothing(spark: Any, tmp_path: Path, mode: str) -> None:
    dao = dao_for(tmp_path, spark, t={"partition_by": ["k"]})
    dao.write(spark.createDataFrame([(0, "a")], "id long, k string"), "lake.t", mode="overwrite")
    errors: list[str] = []

    def write(i: int) -> None:
        try:
            rows = [(i * 10 + j, "abc"[(i + j) % 3]) for j in range(5)]
            dao.write(spark.createDataFrame(rows, "id long, k string"), "lake.t", mode=mode,
                      options={"engine_path": "native"})
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(1, 6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = sorted(r[0] for r in dao.read("lake.t", engine="spark").collect())
    if mode == "append":
        assert ids == [0] + [i * 10 + j for i in range(1, 6) for j in range(5)]
    else:  # exactly one writer's rows, complete
        assert len({i // 10 for i in ids}) == 1 and ids == [ids[0] + j for j in range(5)]
    staging = tmp_path / "t" / "_dao_staging"
    assert not staging.exists() or [p for p in staging.iterdir() if not p.name.endswith(".live")] == []


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_native_on_s3_with_escaped_partition_values_and_modes(spark: Any, s3_server: str, s3_bucket: str,
                                                              s3_client: Any, fmt: str) -> None:
    from spark_dao.engines import delta_native

    if not delta_native.has_s3a(spark):
        pytest.skip("the Spark session has no S3A (hadoop-aws): fetch the JARs of jars/pom.xml")
    catalog = {
        "stores": {"lake": {"interface": "files", "bucket": s3_bucket, "prefix": f"qa/{fmt}", "format": fmt,
                            "endpoint_url": s3_server, "region": "us-east-1", "access_key": "testing",
                            "secret_key": "testing"}},
        "objects": {"lake.t": {"partition_by": ["s", "n"]}},
    }
    dao = DataAccessObject(catalog, spark=spark)

    def df(rows: list) -> Any:
        return spark.createDataFrame(rows, "id long, s string, n int")

    dao.write(df([(1, "a b/c%=?", -1), (2, None, 2), (3, "x", None)]), "lake.t", mode="overwrite",
              options={"engine_path": "native"})
    dao.write(df([(4, "x", None)]), "lake.t", mode="append", options={"engine_path": "python"})
    dao.write(df([(5, "a b/c%=?", -1)]), "lake.t", mode="dynamic", options={"engine_path": "native"})
    expected = [(2, None, 2), (3, "x", None), (4, "x", None), (5, "a b/c%=?", -1)]
    for reader in PATHS:
        assert collect(dao.read("lake.t", engine="spark", options={"engine_path": reader})) == expected, reader
    got = dao.read("lake.t", engine="spark", filters=[("s", "=", "a b/c%=?")], options={"engine_path": "native"})
    assert collect(got) == [(5, "a b/c%=?", -1)]
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket, Prefix=f"qa/{fmt}/")["Contents"]]
    folders = sorted({k.rsplit("/", 1)[0] for k in keys if "/_" not in k})
    assert f"qa/{fmt}/t/s=a%20b%2Fc%25%3D%3F/n=-1" in folders
    assert not [k for k in keys if "_dao_staging/" in k and not k.endswith(".live")]
