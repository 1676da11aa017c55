"""The user's own documents (shared/seeds/004_*.txt) work as written, on local folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spark_dao import DaoError, DataAccessObject, DataObject, DataStoreRegistry
from spark_dao.catalog import Catalog

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
    # the gold store is Redshift (its writes: tests/test_redshift_seed.py, against the local server)
    gold = dao.resolve(data_object=DataObject("users_agg", DataStoreRegistry.get("gold")))
    assert type(dao._interface(gold)).__name__ == "RedshiftInterface"


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
        path=str(tmp_path / "silver" / "datasets" / "users_clean"),  # the seed: s3://my-company-silver/datasets/users_clean/
        spark_options={"mode": "overwrite"},
    )
    users_clean_data = dao.read(data_object=users_clean_obj, format="parquet")
    # --------------------------------------------------------------------------------------
    assert sorted((r.id, r.name) for r in users_clean_data.collect()) == [(1, "Ada"), (3, "Linus")]
    assert sorted(p.suffix for p in (tmp_path / "silver" / "datasets" / "users_clean").iterdir()) == [".parquet"]
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


def test_seed_bronze_upload_call_verbatim_on_s3(s3_server, s3_client, tmp_path, monkeypatch):
    """Step 2 of the seed, as written, against a real S3 endpoint (moto) holding my-company-bronze."""
    try:
        s3_client.create_bucket(Bucket="my-company-bronze")
    except s3_client.exceptions.BucketAlreadyOwnedByYou:
        pass
    config = json.loads(json.dumps(SEED_CONFIG))
    config["bronze"]["default_configs"].update(endpoint_url=s3_server, region="us-east-1")
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "users.csv").write_text("id,name,email\n1,Ada,ada@example.com\n2,Grace,grace@example.com\n")
    monkeypatch.chdir(tmp_path)

    # --- the seed's Step 2, as written ----------------------------------------------------
    dao = DataAccessObject(config)
    bronze_store = DataStoreRegistry.get('bronze')
    users_raw = DataObject('users_raw', bronze_store)
    with open('sample/users.csv', 'rb') as f:
        dao.write(
            data_object=users_raw,
            data=f,
            path='s3://my-company-bronze/users_raw/2025-01-07/'
        )
    # ---------------------------------------------------------------------------------------
    body = s3_client.get_object(Bucket="my-company-bronze", Key="users_raw/2025-01-07/users.csv")["Body"].read()
    assert body == (sample / "users.csv").read_bytes()
    # and the raw CSVs read back as a table (Step 3's dao.read(data_object=users_raw, format='csv'))
    table = dao.read(data_object=users_raw, format="csv", engine="pandas")
    assert table["name"].tolist() == ["Ada", "Grace"]
    assert [i.key for i in dao.list_files("bronze.users_raw")] == ["2025-01-07/users.csv"]
    with pytest.raises(DaoError, match="my-company-silver"):
        with open("sample/users.csv", "rb") as f:
            dao.write(data_object=users_raw, data=f, path="s3://my-company-silver/users_raw/")
    for obj in s3_client.list_objects_v2(Bucket="my-company-bronze").get("Contents", []):
        s3_client.delete_object(Bucket="my-company-bronze", Key=obj["Key"])


def test_raw_upload_needs_an_objects_interface(tmp_path):
    dao = DataAccessObject(local_seed_config(tmp_path))
    users_raw = DataObject("users_raw", DataStoreRegistry.get("bronze"))
    with pytest.raises(DaoError, match="no raw-objects interface.*interfaces: \\[objects\\]"):
        dao.write(data_object=users_raw, data=b"id\n1\n", path="users_raw/2025-01-07/")
    assert Catalog.load(local_seed_config(tmp_path)).stores["bronze"].interface.kind == "files"


def test_local_bronze_store_with_files_and_objects(tmp_path):
    dao = DataAccessObject(
        {"stores": {"bronze": {"interface": "files", "interfaces": ["objects"], "path": str(tmp_path / "b"),
                               "format": "csv"}}}
    )
    result = dao.write(b"id,v\n1,a\n2,b\n", "bronze.users_raw", path="2025-01-07/users.csv")
    assert result.files_added == 1 and result.object == "bronze.users_raw"
    assert (tmp_path / "b" / "users_raw" / "2025-01-07" / "users.csv").read_bytes() == b"id,v\n1,a\n2,b\n"
    assert dao.read("bronze.users_raw", engine="pandas")["v"].tolist() == ["a", "b"]
    assert dao.get_bytes("bronze.users_raw", "2025-01-07/users.csv").startswith(b"id,v")
