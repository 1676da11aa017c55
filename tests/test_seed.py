"""The user's own documents (shared/seeds/004_*.txt) work as written, on local folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spark_dao import DaoError, DataAccessObject, DataObject, DataStoreRegistry
from spark_dao.catalog import Catalog

pytest.importorskip("pyspark")

# The seed's JSON config, verbatim (only read, never used for I/O: its stores are S3 and Redshift).
SEED_CONFIG = json.loads(
    """
{
  "bronze": {
    "interface_class": "S3Boto3Interface",
    "interface_class_location": "interface_classes.s3.s3_boto3",
    "default_configs": { "bucket": "my-company-bronze" }
  },
  "silver": {
    "interface_class": "S3SparkInterface",
    "interface_class_location": "interface_classes.s3.spark",
    "default_configs": { "bucket": "my-company-silver", "prefix": "datasets" }
  },
  "gold": {
    "interface_class": "RedshiftSparkInterface",
    "interface_class_location": "interface_classes.redshift.spark",
    "default_configs": {
      "host": "redshift.company.redshift.amazonaws.com",
      "user": "pipeline_user",
      "password": "***",
      "database": "analytics",
      "s3_temp_dir": "s3://my-company-temp/redshift/",
      "iam_role_arn": "arn:aws:iam::123456789:role/redshift-role"
    }
  }
}
"""
)


def test_seed_config_loads_as_written_and_maps_to_builtins():
    dao = DataAccessObject(SEED_CONFIG)
    assert [s.interface.kind for s in dao.catalog.stores.values()] == ["objects", "files", "redshift"]
    silver = DataStoreRegistry.get("silver")
    assert silver.location == "s3://my-company-silver/datasets"
    users_clean = DataObject("users_clean", silver)
    assert dao.resolve(data_object=users_clean).location == "s3://my-company-silver/datasets/users_clean"
    # a backend not built yet: loading is fine, using it is a clear error naming the store
    with pytest.raises(DaoError, match="store 'gold' uses the 'redshift' interface"):
        dao.exists(DataObject("users_agg", DataStoreRegistry.get("gold")))


def local_seed_config(root: Path) -> dict:
    """The seed's shape and class names, with stores on local folders instead of S3."""
    return {
        "bronze": {
            "interface_class": "S3SparkInterface",
            "interface_class_location": "interface_classes.s3.spark",
            "default_configs": {"path": str(root / "bronze")},
        },
        "silver": {
            "interface_class": "S3SparkInterface",
            "interface_class_location": "interface_classes.s3.spark",
            "default_configs": {"path": str(root / "silver"), "prefix": "datasets"},
        },
    }


def test_seed_pipeline_calls_verbatim(spark, tmp_path):
    raw = tmp_path / "bronze" / "users_raw" / "2025-01-07"
    raw.mkdir(parents=True)
    (raw / "users.csv").write_text(
        "id,name,email,created_at\n"
        "1,Ada,ada@example.com,2025-01-01T10:00:00\n"
        "2,Grace,,2025-01-02T10:00:00\n"
        "1,Ada,ada@example.com,2025-01-01T10:00:00\n"
        "3,Linus,linus@example.com,2025-01-03T10:00:00\n"
    )
    config = local_seed_config(tmp_path)

    # --- the seed's Step 1-3, as written -------------------------------------------------
    dao = DataAccessObject(config)
    bronze_store = DataStoreRegistry.get("bronze")
    users_raw = DataObject("users_raw", bronze_store)

    users_df = dao.read(
        data_object=users_raw,
        format="csv",
    )
    users_clean = (
        users_df.dropDuplicates(["id"])  # remove duplicates
        .select("id", "name", "email", "created_at")  # trim columns
        .filter("email IS NOT NULL")  # remove nulls
    )
    silver_store = DataStoreRegistry.get("silver")
    users_clean_obj = DataObject("users_clean", silver_store)
    dao.write(
        data=users_clean,
        data_object=users_clean_obj,
        format="parquet",
        path=str(tmp_path / "silver" / "users_clean"),
        spark_options={"mode": "overwrite"},
    )
    users_clean_data = dao.read(data_object=users_clean_obj, format="parquet")
    # --------------------------------------------------------------------------------------
    assert sorted((r.id, r.name) for r in users_clean_data.collect()) == [(1, "Ada"), (3, "Linus")]
    assert sorted(p.suffix for p in (tmp_path / "silver" / "users_clean").iterdir()) == [".parquet"]
    # The same object through pandas, no Spark involved.
    pdf = dao.read(data_object=users_clean_obj, engine="pandas").sort_values("id")
    assert pdf["email"].tolist() == ["ada@example.com", "linus@example.com"]


def test_seed_write_path_outside_store_is_refused(spark, tmp_path):
    dao = DataAccessObject(local_seed_config(tmp_path))
    obj = DataObject("users_clean", DataStoreRegistry.get("silver"))
    df = spark.createDataFrame([(1,)], "id long")
    with pytest.raises(DaoError, match="escapes its store"):
        dao.write(data=df, data_object=obj, path=str(tmp_path / "elsewhere"), spark_options={"mode": "overwrite"})
    assert not (tmp_path / "elsewhere").exists()


def test_seed_raw_upload_is_reported_as_not_available_yet(tmp_path):
    dao = DataAccessObject(local_seed_config(tmp_path))
    users_raw = DataObject("users_raw", DataStoreRegistry.get("bronze"))
    with pytest.raises(DaoError, match="'objects' interface"):
        dao.write(data_object=users_raw, data=b"id\n1\n", path="users_raw/2025-01-07/")
    assert Catalog.load(local_seed_config(tmp_path)).stores["bronze"].interface.kind == "files"
