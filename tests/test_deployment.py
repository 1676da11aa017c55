"""Deployment routes, run as a user runs them (docs/deployment.md):

- ``spark-submit`` of a job that only sets ``SPARK_DAO_CATALOG`` (no ``register()``), its workers on
  an interpreter WITHOUT spark_dao, the package shipped with ``--py-files`` (the zip
  ``spark-dao package`` builds);
- the ``pyspark`` shell reading and writing by name with no import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import spark_dao

ROOT = Path(spark_dao.__file__).resolve().parents[1]  # where the installed (editable) package lives
BIN = Path(sys.executable).parent

# a Python for Spark's workers that cannot import spark_dao: this interpreter minus the project root
NODAO = textwrap.dedent("""
    import importlib.util, os, runpy, sys
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != os.environ["NODAO_ROOT"]]
    with open(os.environ["NODAO_LOG"], "a") as f:
        f.write(f"spark_dao importable: {importlib.util.find_spec('spark_dao') is not None}\\n")
    args = sys.argv[1:]
    if args[0] == "-m":
        sys.argv = [args[1]] + args[2:]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = ["-c"] + args[2:]
        exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
""")

JOB = textwrap.dedent("""
    from pyspark.sql import SparkSession
    spark = SparkSession.builder.getOrCreate()
    df = spark.createDataFrame([(1, "a"), (2, "b")], "id long, name string")
    df.write.format("dao").mode("overwrite").save("silver.users")          # no import, no register()
    print("RESULT format", sorted(r.id for r in spark.read.format("dao").load("silver.users").collect()))
    from spark_dao import DataAccessObject
    dao = DataAccessObject()                                                # $SPARK_DAO_CATALOG
    written = dao.write(df, "silver.more", mode="overwrite").rows_written
    print("RESULT dao", written, sorted(r.id for r in dao.read("silver.more", engine="spark").collect()))
""")


def _catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(f"stores:\n  silver:\n    interface: files\n    path: {tmp_path / 'silver'}\n")
    return path


def test_spark_submit_with_the_catalog_in_the_environment_and_the_package_in_py_files(tmp_path: Path) -> None:
    made = subprocess.run([sys.executable, "-m", "spark_dao", "package", "--out", "dist/spark_dao.zip"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0 and made.stdout.startswith("wrote dist/spark_dao.zip ("), made.stderr
    zip_path = tmp_path / "dist" / "spark_dao.zip"
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
    assert {"spark_dao/__init__.py", "spark_dao/engines/spark.py", "pyspark_dao/__init__.py"} <= names
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]
    (tmp_path / "nodao.py").write_text(NODAO)
    shim = tmp_path / "nodao"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} {tmp_path / 'nodao.py'} \"$@\"\n")
    shim.chmod(0o755)
    (tmp_path / "job.py").write_text(JOB)
    log = tmp_path / "workers.log"
    env = {**os.environ, "SPARK_DAO_CATALOG": str(_catalog(tmp_path)), "PYSPARK_PYTHON": str(shim),
           "PYSPARK_DRIVER_PYTHON": sys.executable, "NODAO_ROOT": str(ROOT), "NODAO_LOG": str(log)}
    proc = subprocess.run([str(BIN / "spark-submit"), "--master", "local[1]", "--conf", "spark.ui.enabled=false",
                           "--py-files", str(zip_path), "job.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=400)
    results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert results == ["RESULT format [1, 2]", "RESULT dao 2 [1, 2]"], proc.stdout[-2000:] + proc.stderr[-4000:]
    # the workers really ran an interpreter that could not import spark_dao on its own
    assert log.read_text().splitlines() and set(log.read_text().splitlines()) == {"spark_dao importable: False"}


def test_the_pyspark_shell_reads_and_writes_by_name_with_no_import(tmp_path: Path) -> None:
    script = ('df = spark.createDataFrame([(1, "a")], "id long, name string")\n'
              'df.write.format("dao").mode("overwrite").save("silver.shell")\n'
              'print("RESULT", [r.id for r in spark.read.format("dao").load("silver.shell").collect()])\n')
    env = {**os.environ, "SPARK_DAO_CATALOG": str(_catalog(tmp_path)), "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON_OPTS": "-i"}
    proc = subprocess.run([str(BIN / "pyspark"), "--master", "local[1]", "--conf", "spark.ui.enabled=false"],
                          input=script, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert "RESULT [1]" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert (tmp_path / "silver" / "shell").is_dir()
