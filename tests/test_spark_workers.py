"""Where Spark's Python workers come from: a job started as ``.venv/bin/python job.py`` with
nothing set (Spark's default worker is ``python3`` from the PATH, which lacks spark_dao) works
after ``register()``; a worker interpreter without spark_dao that the user chose gets an error
saying how to fix it. Runs the job in a subprocess: the interpreter is fixed when Spark starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

JOB = textwrap.dedent("""
    import json, os, sys
    from pyspark.sql import SparkSession
    import spark_dao
    from spark_dao import DaoError, DataAccessObject

    out = {}
    spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "1").getOrCreate())
    out["before"] = spark.sparkContext.pythonExec
    catalog = {"stores": {"silver": {"interface": "files", "path": sys.argv[1]}}}
    df = spark.createDataFrame([(1, "a"), (2, "b")], "id long, name string")
    if sys.argv[2] == "register":
        spark_dao.register(spark, catalog)
        out["after"] = spark.sparkContext.pythonExec
        df.write.format("dao").mode("overwrite").save("silver.users")
        out["rows"] = sorted(r.id for r in spark.read.format("dao").load("silver.users").collect())
    else:  # the user chose the worker interpreter (PYSPARK_PYTHON): kept, and without spark_dao it fails
        try:
            # the Python path (the native one runs no Python workers: it would just work)
            DataAccessObject(catalog, spark=spark).write(df, "silver.other", mode="overwrite",
                                                         options={"engine_path": "python"})
            out["error"] = None
        except DaoError as exc:
            out["error"] = str(exc)
        out["after"] = spark.sparkContext.pythonExec
        out["exists"] = os.path.exists(os.path.join(sys.argv[1], "other"))
    print("RESULT " + json.dumps(out))
""")


def test_register_makes_local_workers_run_this_interpreter(tmp_path: Path) -> None:
    # "python3" on the PATH: an interpreter whose spark_dao cannot be imported
    shadow = tmp_path / "shadow" / "spark_dao"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'spark_dao'\", name='spark_dao')\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "python3"
    shim.write_text(f"#!/bin/sh\nexport PYTHONPATH={tmp_path / 'shadow'}:$PYTHONPATH\nexec {sys.executable} \"$@\"\n")
    shim.chmod(0o755)
    job = tmp_path / "job.py"
    job.write_text(JOB)
    env = {k: v for k, v in os.environ.items() if k not in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"

    def run(mode: str, **extra: str) -> dict:
        proc = subprocess.run([sys.executable, str(job), str(tmp_path / "silver"), mode], env={**env, **extra}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        assert line, proc.stdout[-3000:] + proc.stderr[-3000:]
        # register() no longer makes Spark warn that it replaced the statically registered source
        assert "replaced a statically registered data source" not in proc.stderr
        return json.loads(line[len("RESULT "):])

    out = run("register")
    assert out["before"] == "python3" and out["after"] == sys.executable
    assert out["rows"] == [1, 2]

    out = run("chosen", PYSPARK_PYTHON=str(shim))
    assert out["before"] == out["after"] == str(shim)
    assert out["error"].startswith("writing 'silver.other' (store 'silver') with Spark failed: Spark's Python "
                                   "workers could not import spark_dao")
    assert "spark.pyspark.python" in out["error"] and not out["exists"]
