"""Shared fixtures: one local Spark session for the whole run, catalogs on tmp folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Python workers must run this interpreter (the venv with spark_dao installed).
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

from spark_dao import DataStoreRegistry  # noqa: E402

pytest_plugins = ["s3_server"]


@pytest.fixture(scope="session")
def spark():
    pyspark = pytest.importorskip("pyspark", reason="the spark extra is part of the test extras")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("spark_dao-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "2g")
        .config("spark.python.worker.reuse", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    assert pyspark.__version__.startswith("4")
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _clean_registry():
    DataStoreRegistry.clear()
    yield
    DataStoreRegistry.clear()


@pytest.fixture
def catalog_dict(tmp_path: Path) -> dict:
    """A full-shape catalog on three local folders under tmp_path."""
    return {
        "stores": {
            "bronze": {"interface": "files", "path": str(tmp_path / "bronze"), "format": "csv"},
            "silver": {"interface": "files", "path": str(tmp_path / "silver"), "format": "parquet"},
            "gold": {"interface": "files", "path": str(tmp_path / "gold"), "format": "parquet"},
        },
        "objects": {
            "bronze.users_raw": {"format": "csv"},
            "silver.users_clean": {"keys": ["id"]},
            "silver.events": {"partition_by": ["country"]},
            "gold.users_agg": {},
        },
    }
