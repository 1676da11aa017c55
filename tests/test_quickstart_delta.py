"""The quickstart's silver layer switched to Delta by changing one catalog line: the same pipeline
runs unchanged, and silver holds Delta tables (the upsert a MERGE, the correction a partition
overwrite) that delta-rs reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_runs_with_silver_on_delta(tmp_path: Path) -> None:
    text = (ROOT / "conf" / "catalog.yaml").read_text()
    switched = text.replace("  silver:\n    interface: files\n", "  silver:\n    interface: delta\n")
    assert switched.count("interface: delta") == 1 and len(switched.splitlines()) == len(text.splitlines())
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(switched)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py"), str(catalog)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "silver.users_clean upsert: 2 updated, 2 inserted" in run.stdout
    silver = tmp_path / "data" / "silver"
    users = DeltaTable(str(silver / "users_clean"))
    assert [h["operation"] for h in users.history()][:1] == ["MERGE"]
    rows = pa.table(users.to_pyarrow_table())
    assert rows.num_rows == len(set(rows["id"].to_pylist()))  # one row per user
    events = DeltaTable(str(silver / "events"))
    assert events.metadata().partition_columns == ["day"]
    assert pa.table(events.to_pyarrow_table()).num_rows == 80
    assert "gold.users_agg: 12 rows" in run.stdout
