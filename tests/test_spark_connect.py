"""Spark Connect: a client session (``SparkSession.builder.remote(...)``, no ``_jvm``) reads,
writes and upserts through the DAO and through ``format("dao")``, on files and Delta (the Python
path: Delta detection must not touch a JVM it does not have). Runs in a subprocess: a local
Connect server cannot share the JVM of the suite's classic session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

JOB = textwrap.dedent("""
    import json, logging, os, sys, tempfile
    from pyspark.sql import SparkSession
    import spark_dao
    from spark_dao import DataAccessObject

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    root = sys.argv[1]
    spark = SparkSession.builder.remote("local[1]").getOrCreate()
    out = {"session": type(spark).__module__}
    catalog = {"stores": {"silver": {"interface": "files", "path": root + "/silver"},
                          "lake": {"interface": "delta", "path": root + "/lake"}},
               "objects": {"silver.notes": {"keys": ["id"]}, "lake.notes": {"keys": ["id"]}}}
    dao = DataAccessObject(catalog, spark=spark)
    df = spark.createDataFrame([(1, "x"), (2, "y")], "id long, read string")
    out["df"] = type(df).__module__
    for name in ("silver.notes", "lake.notes"):
        w = dao.write(df, name, mode="overwrite")
        u = dao.upsert(spark.createDataFrame([(2, "z"), (3, "n")], "id long, read string"), name)
        got = dao.read(name, engine="spark", filters=[("id", ">=", 2)])
        out[name] = {"written": w.rows_written, "metrics": w.metrics_available,
                     "upsert": [u.rows_inserted, u.rows_updated],
                     "rows": sorted((r.id, r.read) for r in got.collect()),
                     "pandas": sorted(dao.read(name, engine="pandas")["read"].tolist())}
    # the files upsert took the native path: Spark rewrote the touched file (no _jvm needed)
    out["native_rewrite"] = any("-rewrite-" in f for f in os.listdir(root + "/silver/notes"))
    spark_dao.register(spark, catalog)
    spark.createDataFrame([(7, "s")], "id long, read string").write.format("dao").mode("append").save("silver.notes")
    out["format_dao"] = sorted(r.id for r in spark.read.format("dao").load("silver.notes").collect())

    # a remote server: the result file the client made is not on the driver's machine
    real = tempfile.mkstemp
    def elsewhere(*a, **k):
        fd, path = real(*a, **k)
        os.unlink(path)
        return fd, path
    import spark_dao.dao as dao_module
    dao_module.tempfile.mkstemp = elsewhere
    r = dao.write(spark.createDataFrame([(9, "r")], "id long, read string"), "silver.notes", mode="append",
                  options={"engine_path": "python"})  # (the native path reads no result file)
    dao_module.tempfile.mkstemp = real
    out["remote"] = {"metrics": r.metrics_available, "str": str(r),
                     "ids": sorted(dao.read("silver.notes", engine="pandas")["id"].tolist())}
    print("RESULT " + json.dumps(out))
    spark.stop()
""")


def test_spark_connect_clients_read_write_and_upsert(tmp_path: Path) -> None:
    job = tmp_path / "job.py"
    job.write_text(JOB)
    env = {**os.environ, "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable)}
    proc = subprocess.run([sys.executable, str(job), str(tmp_path)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=400)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, proc.stdout[-3000:] + proc.stderr[-4000:]
    out = json.loads(line[len("RESULT "):])
    assert out["session"] == "pyspark.sql.connect.session" and out["df"] == "pyspark.sql.connect.dataframe"
    for name in ("silver.notes", "lake.notes"):
        assert out[name] == {"written": 2, "metrics": True, "upsert": [1, 1],
                             "rows": [[2, "z"], [3, "n"]], "pandas": ["n", "x", "z"]}, name
    assert out["format_dao"] == [1, 2, 3, 7]
    assert out["native_rewrite"] is True
    assert out["remote"]["metrics"] is False
    assert "rows and files not known here" in out["remote"]["str"]
    assert out["remote"]["ids"] == [1, 2, 3, 7, 9]  # committed all the same
    assert "its metrics (rows, files) cannot come back to this client" in proc.stderr
    # a server without Delta configured is not probed with format("delta"), whose failure it would log
    # as a long DATA_SOURCE_NOT_FOUND stack trace; the Delta store takes the Python path
    assert "DATA_SOURCE_NOT_FOUND" not in proc.stderr
