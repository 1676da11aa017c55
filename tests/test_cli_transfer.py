"""The ``spark-dao`` command as a user runs it (``python -m spark_dao`` and the console script, in a
subprocess), and ``copy`` end to end: files -> Delta -> Redshift (the local Redshift test server and
moto S3), streamed in Arrow batches with memory bounded by a batch, not by the object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from _redshift import redshift_store, temp_keys

from spark_dao import DataAccessObject
from spark_dao.catalog import Catalog
from spark_dao.cli import main
from spark_dao.engines.local import copy_object, write_batches

ROOT = Path(__file__).resolve().parents[1]
USERS = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["ann", "bob", None],
                  "country": ["DE", "FR", "DE"]})


def spark_dao(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spark_dao", *argv], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, cwd=ROOT)


def local_catalog(root: Path) -> dict:
    return {"stores": {"silver": {"interface": "files", "path": str(root / "silver"), "format": "parquet"},
                       "lake": {"interface": "delta", "path": str(root / "lake")}},
            "objects": {"silver.users_clean": {"keys": ["id"]}, "lake.users": {"keys": ["id"]}}}


# ---------------------------------------------------------------------------- as a user runs it
def test_python_dash_m_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(local_catalog(tmp_path)))
    DataAccessObject(str(path)).write(USERS, "silver.users_clean", mode="overwrite", engine="pandas")
    env = {"SPARK_DAO_CATALOG": str(path)}
    out = spark_dao("copy", "silver.users_clean", "lake.users", "--json", env=env)
    assert (out.returncode, out.stderr) == (0, "")  # stderr is a pipe: no progress bar
    assert json.loads(out.stdout)["rows_written"] == 3
    out = spark_dao("preview", "lake.users", "--where", "country = 'DE'", "--columns", "id,name", "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert sorted(json.loads(out.stdout)["rows"], key=lambda r: r["id"]) == [{"id": 1, "name": "ann"},
                                                                             {"id": 3, "name": None}]
    out = spark_dao("describe", "lake.users", env=env)
    assert out.returncode == 0 and "  delta version:  0\n" in out.stdout
    out = spark_dao("describe", "lakes.users", env=env)
    assert out.returncode == 1 and out.stdout == "" and "Traceback" not in out.stderr
    assert out.stderr.startswith("spark-dao describe: ") and out.stderr.count("\n") == 1
    out = spark_dao("preview", "lake.users", "--where", "country ~ 'DE'", env=env)
    assert out.returncode == 2 and "argument --where: cannot read" in out.stderr


def test_validate_a_bad_catalog_as_a_user_would(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text("stores:\n  silver: {interface: files, path: ./silver, formt: parquet}\n"
                    "  gold: {interface: redshif}\nobjects:\n  bronze.users_raw: {}\n")
    out = spark_dao("catalog", "validate", "--catalog", str(path))
    lines = out.stderr.splitlines()
    assert (out.returncode, out.stdout, len(lines)) == (1, "", 4)
    assert "stores.silver.formt" in lines[0] and "stores.gold.interface" in lines[1]
    assert "object 'bronze.users_raw' names unknown store 'bronze'" in lines[2]
    assert lines[3] == f"spark-dao catalog validate: 3 error(s) in {path}"


def test_the_console_script_and_version() -> None:
    script = Path(sys.executable).parent / "spark-dao"
    if not script.exists():
        pytest.skip("the package is not installed in this interpreter's environment")
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout) == (0, "spark-dao 0.1.0\n")
    out = spark_dao("--version")
    assert (out.returncode, out.stdout) == (0, "spark-dao 0.1.0\n")


def test_the_command_starts_without_spark_or_pandas() -> None:
    code = ("import sys; from spark_dao.cli import main; "
            "print(sorted(m for m in ('pyspark', 'pandas', 'deltalake', 'boto3', 'tqdm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stderr


# ---------------------------------------------------------------------------- memory bounded
BATCH_ROWS = 50_000  # 0.4 MB of int64


def _batches(n: int, peak: list[int]):
    """``n`` batches of fresh Arrow memory (~0.8 MB each); records the most memory held at a pull."""
    for i in range(n):
        ids = pc.add(pa.array(np.arange(BATCH_ROWS, dtype=np.int64)), i * BATCH_ROWS)  # allocated by Arrow
        peak[0] = max(peak[0], pa.total_allocated_bytes())
        yield pa.record_batch([ids], names=["id"])


def _peak_while_writing(name: str, n: int, catalog: Catalog) -> int:
    peak = [0]
    start = pa.total_allocated_bytes()
    result = write_batches(catalog.get(name), pa.schema([("id", pa.int64())]), _batches(n, peak),
                           {"mode": "overwrite", "row_group_size": BATCH_ROWS})
    assert result.rows_written == n * BATCH_ROWS
    return peak[0] - start


def test_writes_consume_batches_lazily(tmp_path: Path) -> None:
    catalog = Catalog.load({"stores": {"silver": {"interface": "files", "path": str(tmp_path)},
                                       "lake": {"interface": "delta", "path": str(tmp_path / "lake")}}})
    for name in ("silver.big", "lake.big"):
        # four times the batches, the same memory at every pull: the writer holds no batch it has written
        small, big = _peak_while_writing(name, 10, catalog), _peak_while_writing(name, 40, catalog)
        assert big - small < BATCH_ROWS * 8, (name, small, big)


def _peak_while_copying(src: str, dst: str, catalog: Catalog) -> tuple[int, int]:
    seen: list[int] = []
    peak = [0]
    start = pa.total_allocated_bytes()

    def on_batch(batch: pa.RecordBatch) -> None:
        seen.append(batch.num_rows)
        peak[0] = max(peak[0], pa.total_allocated_bytes())

    result = copy_object(catalog.get(src), catalog.get(dst), mode="overwrite", on_batch=on_batch)
    assert result.rows_written == sum(seen) and len(seen) > 1
    return peak[0] - start, result.rows_written


def test_copy_streams_with_memory_bounded_by_a_batch(tmp_path: Path) -> None:
    catalog = Catalog.load({
        "stores": {"silver": {"interface": "files", "path": str(tmp_path / "silver")},
                   "lake": {"interface": "delta", "path": str(tmp_path / "lake")}},
        "objects": {"lake.small": {"options": {"row_group_size": BATCH_ROWS}},
                    "lake.big": {"options": {"row_group_size": BATCH_ROWS}}}})
    for name, n in (("silver.small", 10), ("silver.big", 40)):
        write_batches(catalog.get(name), pa.schema([("id", pa.int64())]), _batches(n, [0]),
                      {"mode": "overwrite", "row_group_size": BATCH_ROWS})
    small, rows_small = _peak_while_copying("silver.small", "lake.small", catalog)
    big, rows_big = _peak_while_copying("silver.big", "lake.big", catalog)
    assert (rows_small, rows_big) == (10 * BATCH_ROWS, 40 * BATCH_ROWS)
    # an object four times bigger is copied in the same memory (the writers' fixed buffers and a
    # batch or two), less than the object itself
    assert big - small < 2 * 65536 * 8 and big < 40 * BATCH_ROWS * 8, (small, big)
    back = DataAccessObject(catalog).read("lake.big", engine="arrow")
    assert back.num_rows == 40 * BATCH_ROWS and pc.sum(back["id"]).as_py() == sum(range(40 * BATCH_ROWS))


# ---------------------------------------------------------------------------- into Redshift
def test_copy_files_to_delta_to_redshift(redshift_server, s3_server, s3_bucket, s3_client, tmp_path, capsys) -> None:
    store = redshift_store(redshift_server, s3_server, s3_bucket)
    catalog = {**local_catalog(tmp_path)}
    catalog["stores"]["gold"] = store
    catalog["objects"]["gold.users"] = {"keys": ["id"]}
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    dao = DataAccessObject(str(path))
    dao.write(USERS, "silver.users_clean", mode="overwrite", engine="pandas")

    assert main(["copy", "silver.users_clean", "lake.users", "--catalog", str(path)]) == 0
    assert capsys.readouterr().out.startswith("lake.users: mode=errorifexists rows_written=3 ")
    assert main(["copy", "lake.users", "gold.users", "--mode", "overwrite", "--catalog", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["object"], result["mode"], result["rows_written"]) == ("gold.users", "overwrite", 3)
    back = sorted(dao.read("gold.users", engine="arrow").to_pylist(), key=lambda r: r["id"])
    assert back == USERS.to_pylist()
    assert temp_keys(s3_client, s3_bucket) == []  # staged parquet removed after the COPY

    assert main(["describe", "gold.users", "--catalog", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"  table:          {store['schema']}.users\n" in out and store["password"] not in out
    assert main(["describe", "gold.users", "--catalog", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["table"] == f"{store['schema']}.users" and info["exists"] is True
    assert [c["name"] for c in info["columns"]] == ["id", "name", "country"]

    # Redshift refuses a partition overwrite: one line, nothing changed, nothing left staged
    assert main(["copy", "lake.users", "gold.users", "--mode", "dynamic", "--catalog", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == ("spark-dao copy: writing 'gold.users': dynamic partition overwrite needs partition_by on the "
                   "object in the catalog; use mode='overwrite' to replace everything\n")
    assert main(["copy", "lake.users", "gold.users", "--catalog", str(path)]) == 1
    assert "'gold.users' already has data (store 'gold')" in capsys.readouterr().err
    assert len(dao.read("gold.users", engine="arrow")) == 3 and temp_keys(s3_client, s3_bucket) == []
