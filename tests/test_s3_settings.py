"""One reading of a store's S3 settings (``S3Settings``) for both clients: the pyarrow filesystem and
the boto3 client agree on every setting, and the drifts between the two old factories stay gone."""

from __future__ import annotations

import pickle
from typing import Any

import pyarrow.fs as pafs
import pytest

from spark_dao import DaoError
from spark_dao.catalog.model import DataStore, InterfaceSpec
from spark_dao.interfaces import _objects_s3, _s3
from spark_dao.interfaces import objects as objects_mod
from spark_dao.interfaces._fs import filesystem_for
from spark_dao.interfaces._s3settings import S3Settings, split_location


def store(interface: str = "files", **configs: Any) -> DataStore:
    """A DataStore built by hand (no catalog load, so no catalog-time type checks)."""
    return DataStore(name="s", interfaces=(InterfaceSpec(interface),), configs=configs)


def arrow_options(fs: pafs.FileSystem) -> dict[str, Any]:
    """What a pyarrow S3FileSystem was built with (its pickle state)."""
    assert isinstance(fs, pafs.S3FileSystem)
    return fs.__reduce__()[1][0]


def both(st: DataStore, location: str = "s3://b/k") -> tuple[dict[str, Any], Any]:
    fs, _ = filesystem_for(st, location)
    return arrow_options(fs), _s3.client_for(st)


# --------------------------------------------------------------------------- path_style
def test_path_style_is_honoured_by_both_clients(s3_server: str, s3_bucket: str) -> None:
    # unset with an endpoint: path-style for both, and both reach moto's server
    st = store(bucket=s3_bucket, endpoint_url=s3_server, region="us-east-1")
    opts, client = both(st)
    assert opts["force_virtual_addressing"] is False and opts["endpoint_override"] == s3_server.partition("://")[2]
    assert client.meta.config.s3 == {"addressing_style": "path"}
    fs, _ = filesystem_for(st, f"s3://{s3_bucket}/x")
    with fs.open_output_stream(f"{s3_bucket}/x/a.txt") as out:
        out.write(b"written by pyarrow")
    assert client.get_object(Bucket=s3_bucket, Key="x/a.txt")["Body"].read() == b"written by pyarrow"
    client.put_object(Bucket=s3_bucket, Key="x/b.txt", Body=b"written by boto3")
    with fs.open_input_stream(f"{s3_bucket}/x/b.txt") as src:
        assert src.read() == b"written by boto3"

    # explicitly off: virtual-hosted for both (pyarrow used to ignore the setting)
    opts, client = both(store(bucket=s3_bucket, endpoint_url=s3_server, path_style="false"))
    assert opts["force_virtual_addressing"] is True
    assert client.meta.config.s3 == {"addressing_style": "virtual"}

    # explicitly on without an endpoint (AWS): path-style for both
    opts, client = both(store(bucket="b", region="eu-west-1", path_style=True))
    assert opts["force_virtual_addressing"] is False and opts["endpoint_override"] == "s3.eu-west-1.amazonaws.com"
    assert client.meta.config.s3 == {"addressing_style": "path"}

    # unset without an endpoint: virtual-hosted for both, as before
    opts, client = both(store(bucket="b", region="eu-west-1"))
    assert opts["force_virtual_addressing"] is True and opts["endpoint_override"] == ""
    assert client.meta.config.s3 == {"addressing_style": "virtual"}


# --------------------------------------------------------------------------- typed settings
@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("max_attempts", "abc", "expected a positive integer"),
        ("max_attempts", 0, "expected a positive integer"),
        ("connect_timeout", "soon", "expected"),
        ("request_timeout", -1, "expected"),
        ("path_style", "maybe", "expected"),
        ("endpoint_url", "localhost:9000", "expected"),
    ],
)
def test_bad_setting_on_a_hand_built_store_is_the_same_dao_error_for_both(key: str, value: Any, expected: str) -> None:
    st = store(**{"bucket": "b", "endpoint_url": "http://127.0.0.1:9", key: value})
    with pytest.raises(DaoError, match=expected) as arrow_err:
        filesystem_for(st, "s3://b/k")  # used to be a bare ValueError from int("abc")
    with pytest.raises(DaoError, match=expected) as boto_err:
        _s3.client_for(st)
    assert str(arrow_err.value) == str(boto_err.value)
    assert f"store 's': {key}" in str(arrow_err.value)


def test_typed_values_from_strings_are_accepted_by_both() -> None:
    st = store(bucket="b", endpoint_url="http://127.0.0.1:9", max_attempts="3", connect_timeout="2",
               request_timeout="7.5", path_style="yes")
    opts, client = both(st)
    assert S3Settings.from_store(st).max_attempts == 3
    assert client.meta.config.retries == {"total_max_attempts": 3, "mode": "standard"}
    assert (opts["connect_timeout"], opts["request_timeout"]) == (2.0, 7.5)
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (2.0, 7.5)


# --------------------------------------------------------------------------- schemes
@pytest.mark.parametrize("scheme", ["s3", "s3a", "s3n"])
def test_every_s3_scheme_is_accepted_by_both(scheme: str, s3_server: str, s3_bucket: str) -> None:
    st = store(bucket=s3_bucket, endpoint_url=s3_server, region="us-east-1")
    location = f"{scheme}://{s3_bucket}/data/part.txt"
    assert split_location(location) == (s3_bucket, "data/part.txt")
    fs, path = filesystem_for(st, location)  # s3n:// used to fail in pyarrow's FileSystem.from_uri
    assert isinstance(fs, pafs.S3FileSystem) and path == f"{s3_bucket}/data/part.txt"
    with fs.open_output_stream(path) as out:
        out.write(b"x")
    assert _s3.key_exists(st, location, what="t")
    backend = objects_mod._backend(store("objects", bucket=s3_bucket, endpoint_url=s3_server),
                                   f"{scheme}://{s3_bucket}/data", "t")
    assert isinstance(backend, objects_mod._S3Backend)


def test_other_schemes_are_not_s3() -> None:
    with pytest.raises(DaoError, match="not an S3 location"):
        split_location("gs://b/k")
    assert split_location("b/k/") == ("b", "k")  # pyarrow's paths have no scheme


# --------------------------------------------------------------------------- same values for both
def test_credentials_endpoint_region_and_timeouts_are_identical() -> None:
    st = store(bucket="b", endpoint_url="https://minio.example:9000", region="eu-central-1",
               access_key="AKIAEXAMPLE", secret_key="s3cr3t-value", session_token="tok-value",
               max_attempts=4, connect_timeout=3, request_timeout=30)
    settings = S3Settings.from_store(st)
    opts, client = both(st)
    creds = client._request_signer._credentials.get_frozen_credentials()
    assert (opts["access_key"], opts["secret_key"], opts["session_token"]) == (
        creds.access_key, creds.secret_key, creds.token) == ("AKIAEXAMPLE", "s3cr3t-value", "tok-value")
    assert f"{opts['scheme']}://{opts['endpoint_override']}" == client.meta.endpoint_url == "https://minio.example:9000"
    assert opts["region"] == client.meta.region_name == "eu-central-1"
    assert (opts["connect_timeout"], opts["request_timeout"]) == (
        client.meta.config.connect_timeout, client.meta.config.read_timeout) == (3.0, 30.0)
    assert settings.arrow_kwargs()["retry_strategy"].max_attempts == 4
    assert client.meta.config.retries["total_max_attempts"] == 4


def test_a_profile_gives_both_clients_the_same_credentials(tmp_path, monkeypatch) -> None:
    creds_file = tmp_path / "credentials"
    creds_file.write_text("[analytics]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = prof-secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds_file))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    st = store(bucket="b", endpoint_url="http://127.0.0.1:9", region="us-east-1", profile="analytics")
    opts, client = both(st)
    creds = client._request_signer._credentials.get_frozen_credentials()
    assert (opts["access_key"], opts["secret_key"]) == (creds.access_key, creds.secret_key) == (
        "AKIAPROFILE", "prof-secret")


def test_module_defaults_apply_to_both(monkeypatch) -> None:
    monkeypatch.setattr(_s3, "MAX_ATTEMPTS", 2)
    monkeypatch.setattr(_s3, "CONNECT_TIMEOUT", 0.5)
    st = store(bucket="b", endpoint_url="http://127.0.0.1:9")
    opts, client = both(st)
    assert opts["connect_timeout"] == client.meta.config.connect_timeout == 0.5
    assert S3Settings.from_store(st).arrow_kwargs()["retry_strategy"].max_attempts == 2
    assert client.meta.config.retries["total_max_attempts"] == 2


# --------------------------------------------------------------------------- plain data
def test_settings_pickle_cache_and_mask_secrets_in_repr() -> None:
    st = store(bucket="b", endpoint_url="http://127.0.0.1:9", access_key="AKIAEXAMPLE",
               secret_key="s3cr3t-value", session_token="tok-value")
    settings = S3Settings.from_store(st)
    text = repr(settings)
    for secret in ("AKIAEXAMPLE", "s3cr3t-value", "tok-value"):
        assert secret not in text and secret not in str(settings)
    assert "access_key='***'" in text and "secret_key='***'" in text and "profile=None" in text
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert settings.arrow_filesystem() is S3Settings.from_store(st).arrow_filesystem()
    assert settings.boto3_client() is S3Settings.from_store(st).boto3_client()
    assert S3Settings.from_store(store(bucket="b")).arrow_filesystem() is not settings.arrow_filesystem()


# --------------------------------------------------------------------------- batched deletes
def test_one_batched_delete_for_files_and_objects(s3_server: str, s3_bucket: str, s3_client, monkeypatch) -> None:
    calls: list[int] = []
    real = _s3.delete_keys

    def spy(client, bucket, keys, **kwargs):
        calls.append(len(keys))
        return real(client, bucket, keys, **kwargs)

    for i in range(5):
        s3_client.put_object(Bucket=s3_bucket, Key=f"f/{i}", Body=b"x")
        s3_client.put_object(Bucket=s3_bucket, Key=f"o/{i}", Body=b"x")
    monkeypatch.setattr(_s3, "delete_keys", spy)
    monkeypatch.setattr(_objects_s3, "delete_keys", spy)
    monkeypatch.setattr(_s3, "DELETE_BATCH", 2)
    st = store(bucket=s3_bucket, endpoint_url=s3_server, region="us-east-1")
    _s3.delete_paths(st, [f"{s3_bucket}/f/{i}" for i in range(5)], what="t")
    monkeypatch.setattr(_objects_s3, "DELETE_BATCH", 2)
    backend = objects_mod._backend(store("objects", bucket=s3_bucket, endpoint_url=s3_server),
                                   f"s3://{s3_bucket}/o", "t")
    assert backend.remove("") == 5
    assert calls == [5, 5]
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0


# --------------------------------------------------------------------------- AWS_ENDPOINT_URL, prefix under a path
def test_aws_endpoint_url_reaches_tables_and_uploads_alike(s3_server: str, s3_bucket: str, s3_client,
                                                            tmp_path, monkeypatch) -> None:
    """Uploads (boto3) honoured AWS_ENDPOINT_URL and tabular reads (pyarrow) did not: both do now;
    the S3-specific variable wins; a store's own endpoint_url (even "" = AWS) wins over both."""
    import pyarrow as pa

    from spark_dao import DataAccessObject

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    catalog = {"stores": {"raw": {"interfaces": ["files", "objects"], "bucket": s3_bucket, "prefix": "env",
                                  "region": "us-east-1", "access_key": "testing", "secret_key": "testing"}}}
    dao = DataAccessObject(catalog)
    dao.write(pa.table({"id": [1, 2]}), "raw.t", mode="overwrite", engine="pandas")
    assert dao.read("raw.t", engine="arrow")["id"].to_pylist() == [1, 2]
    (tmp_path / "a.csv").write_text("x\n1\n")
    dao.upload(str(tmp_path / "a.csv"), "raw.files")
    keys = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="env/")["Contents"])
    assert "env/files/a.csv" in keys and any(k.startswith("env/t/") and k.endswith(".parquet") for k in keys)
    assert S3Settings.from_store(store(endpoint_url="")).endpoint_url is None
    assert S3Settings.from_store(store(endpoint_url="http://own:9000")).endpoint_url == "http://own:9000"
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    assert S3Settings.from_store(store()).endpoint_url == "http://127.0.0.1:1"
    assert S3Settings.from_store(store()).path_style  # an endpoint means path-style, as when set in the store


def test_a_prefix_applies_under_a_local_path_as_under_a_bucket(tmp_path) -> None:
    import pyarrow as pa

    from spark_dao import DataAccessObject

    dao = DataAccessObject({"stores": {"silver": {"interface": "files", "path": str(tmp_path / "silver"),
                                                  "prefix": "datasets"}}})
    dao.write(pa.table({"id": [1]}), "silver.users_clean", mode="overwrite", engine="pandas")
    assert dao.resolve("silver.users_clean").location == str(tmp_path / "silver" / "datasets" / "users_clean")
    assert (tmp_path / "silver" / "datasets" / "users_clean").is_dir()
    assert dao.list("silver") == ["silver.users_clean"]  # not a bogus "silver.datasets"
    assert store(bucket="b", prefix="/p/").location == "s3://b/p"
    assert store(path="s3://b/root", prefix="p").location == "s3://b/root/p"


def test_a_catalog_file_on_s3_loads_by_url(s3_server: str, s3_bucket: str, s3_client, tmp_path, monkeypatch) -> None:
    """``SPARK_DAO_CATALOG=s3://bucket/conf/catalog.yaml`` (EMR, Databricks): boto3's default chain."""
    from spark_dao import CatalogError, DataAccessObject
    from spark_dao.catalog._remote import local_path

    for k, v in {"AWS_ENDPOINT_URL": s3_server, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    s3_client.put_object(Bucket=s3_bucket, Key="conf/catalog.yaml", Body=(
        f"stores:\n  silver:\n    interface: files\n    path: {tmp_path / 'silver'}\n"
        "objects:\n  silver.users_clean:\n    keys: [id]\n").encode())
    monkeypatch.setenv("SPARK_DAO_CATALOG", f"s3://{s3_bucket}/conf/catalog.yaml")
    dao = DataAccessObject()
    assert dao.catalog.source == f"s3://{s3_bucket}/conf/catalog.yaml"
    assert dao.resolve("silver.users_clean").keys == ("id",)
    with pytest.raises(CatalogError, match=rf"catalog file not found: s3://{s3_bucket}/conf/nope.yaml"):
        DataAccessObject(f"s3://{s3_bucket}/conf/nope.yaml")
    s3_client.put_object(Bucket=s3_bucket, Key="conf/bad.yaml", Body=b"stores: [\n")
    with pytest.raises(CatalogError, match=rf"s3://{s3_bucket}/conf/bad.yaml: cannot parse catalog"):
        DataAccessObject(f"s3://{s3_bucket}/conf/bad.yaml")
    assert str(local_path("dbfs:/FileStore/conf/catalog.yaml")) == "/dbfs/FileStore/conf/catalog.yaml"
