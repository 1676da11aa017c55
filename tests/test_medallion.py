"""The seed's medallion example (examples/medallion/): run end to end by its launcher, its silver
layer switched to Delta, its docker-compose file, and the seed's "let DAO pick" reads of raw files."""

from __future__ import annotations

import gzip
import json
import os
import re
import runpy
import subprocess
import sys
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from spark_dao import Catalog, DaoError, DataAccessObject, DataObject, DataStoreRegistry, ObjectNotFound

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "medallion"
STEPS = ("01_ingest_bronze.py", "02_transform_silver.py", "03_load_gold.py")

#: gold.users_agg from the sample data: (id, total_purchases, avg_order_value, last_purchase_date)
USERS_AGG = [
    (1, 3, 20.0, "2025-01-08 09:00:00"), (2, 2, 37.5, "2025-01-08 10:10:00"), (4, 1, 12.0, "2025-01-07 11:30:00"),
    (5, 1, 60.0, "2025-01-07 13:00:00"), (6, 1, 30.0, "2025-01-08 08:30:00"), (7, 2, 25.0, "2025-01-08 14:00:00"),
    (9, 1, 18.25, "2025-01-08 13:30:00"),
]
SALES_DAILY = [("2025-01-07", "EU", 151.99, 4), ("2025-01-07", "US", 100.0, 2), ("2025-01-08", "EU", 50.0, 2),
               ("2025-01-08", "US", 103.25, 4)]
#: every variable catalog.json reads
CATALOG_VARS = ("BRONZE_BUCKET", "SILVER_BUCKET", "TEMP_BUCKET", "SILVER_INTERFACE", "S3_ENDPOINT_URL", "S3_PATH_STYLE",
                "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "REDSHIFT_HOST",
                "REDSHIFT_PORT", "REDSHIFT_SSL", "REDSHIFT_USER", "REDSHIFT_PASSWORD", "REDSHIFT_DATABASE",
                "REDSHIFT_IAM_ROLE_ARN", "MEDALLION_CATALOG")


def _table(stdout: str, title: str) -> list[list[str]]:
    """The rows of a table run_local.py printed under ``title`` (header and rule skipped)."""
    lines = stdout.split(title + "\n", 1)[1].splitlines()[3:]  # the query, the header, the rule
    rows = []
    for line in lines:
        if not line.strip():
            break
        rows.append([cell.strip() for cell in line.split("|")])
    return rows


# --------------------------------------------------------------------------- the launcher, end to end
@pytest.mark.parametrize("spark_mode", ["classic", "connect"])
def test_run_local_fills_bronze_silver_gold_and_queries_gold(spark_mode: str):
    """The README's command; and the same steps through Spark Connect (``--connect``: the scripts'
    ``SparkSession.builder.getOrCreate()`` returns a ``remote("local[2]")`` session)."""
    env = {k: v for k, v in os.environ.items() if k not in CATALOG_VARS and not k.startswith("AWS_")}
    env["PYSPARK_PYTHON"] = sys.executable
    done = subprocess.run([sys.executable, str(EXAMPLE / "run_local.py")] + (["--connect"] if spark_mode == "connect"
                                                                            else []),
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    # per step, what was written where, read back from storage
    assert "silver as Parquet files" in out
    assert ("Spark through Spark Connect" in out) == (spark_mode == "connect")
    assert ("bronze.users_raw: 2 files, 614 bytes at s3://my-company-bronze/users_raw "
            "(2025-01-07/users.csv, 2025-01-08/users.csv)") in out
    assert "bronze.events_raw: 2 files, 1351 bytes at s3://my-company-bronze/events_raw" in out
    assert "bronze.orders_raw: 2 files, 561 bytes at s3://my-company-bronze/orders_raw" in out
    assert ("silver.users_clean: 7 rows in 2 files (parquet) at s3://my-company-silver/datasets/users_clean, "
            "partitions by year/month/day: 2") in out
    assert "silver.events_enriched: 11 rows in 2 files (parquet)" in out
    assert "silver.orders_clean: 12 rows in 1 file (parquet) at s3://my-company-silver/datasets/orders_clean" in out
    assert re.search(r"gold\.users_agg: 7 rows in Redshift table analytics\.public\.users_agg \(127\.0\.0\.1:\d+\)", out)
    assert "gold.sales_daily_agg: 4 rows in Redshift table analytics.public.sales_daily_agg" in out
    assert out.index("== 01_ingest_bronze.py") < out.index("== 02_transform_silver.py") < out.index("== 03_load_gold.py")
    # the closing queries of the gold tables
    users = _table(out, "gold.users_agg in Redshift:")
    assert [(int(i), int(n), float(avg), ts) for i, n, avg, ts in users] == [
        (i, n, avg, f"{ts}+00:00") for i, n, avg, ts in USERS_AGG]
    sales = _table(out, "gold.sales_daily_agg in Redshift:")
    assert [(d, r, float(rev), int(n)) for d, r, rev, n in sales] == SALES_DAILY
    assert "Traceback" not in done.stderr and "WARNING spark_dao" not in done.stderr


def test_run_local_on_a_running_s3_endpoint_sets_the_variables_and_keeps_existing_buckets(s3_server, s3_client):
    """``--s3-endpoint`` (docker-compose's MinIO): the catalog is pointed there with the given keys,
    and the buckets minio-init already made are kept (creating them again is no error)."""
    launcher = runpy.run_path(str(EXAMPLE / "run_local.py"), run_name="run_local")
    saved = dict(os.environ)
    tag = uuid.uuid4().hex[:8]
    try:
        for key in CATALOG_VARS:
            os.environ.pop(key, None)
        os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", BRONZE_BUCKET=f"b-{tag}",
                          SILVER_BUCKET=f"s-{tag}", TEMP_BUCKET=f"t-{tag}")
        args = launcher["_parse"](["--s3-endpoint", s3_server, "--silver", "delta"])
        launcher["_environment"](args, args.s3_endpoint)
        catalog = Catalog.load(str(EXAMPLE / "catalog.json"))
        s3_client.create_bucket(Bucket=f"b-{tag}")  # as minio-init would have
        client = launcher["_s3_client"](s3_server)
        launcher["_create_buckets"](client, launcher["_buckets"](catalog))
        launcher["_create_buckets"](client, launcher["_buckets"](catalog))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    names = {b["Name"] for b in s3_client.list_buckets()["Buckets"]}
    assert {f"b-{tag}", f"s-{tag}", f"t-{tag}"} <= names
    assert launcher["_buckets"](catalog) == [f"b-{tag}", f"s-{tag}", f"t-{tag}"]
    assert catalog.stores["silver"].interface.kind == "delta"
    for store in catalog.stores.values():
        assert (store.configs["endpoint_url"], store.configs["access_key"]) == (s3_server, "testing")


# --------------------------------------------------------------------------- silver as Delta
def test_the_same_scripts_with_silver_as_delta(spark, s3_server, s3_client, redshift_server, monkeypatch, capsys):
    """The catalog's switch (SILVER_INTERFACE=DeltaSparkInterface): the scripts run unchanged, silver
    becomes Delta tables, gold is the same. In-process, on the shared Spark session and servers."""
    from conftest import REDSHIFT_ROLE

    tag = uuid.uuid4().hex[:8]
    buckets = {"BRONZE_BUCKET": f"bronze-{tag}", "SILVER_BUCKET": f"silver-{tag}", "TEMP_BUCKET": f"temp-{tag}"}
    for name in buckets.values():
        s3_client.create_bucket(Bucket=name)
    env = {**buckets, "SILVER_INTERFACE": "DeltaSparkInterface", "S3_ENDPOINT_URL": s3_server,
           "REDSHIFT_HOST": redshift_server.host, "REDSHIFT_PORT": str(redshift_server.port),
           "REDSHIFT_USER": redshift_server.user, "REDSHIFT_PASSWORD": redshift_server.password,
           "REDSHIFT_DATABASE": redshift_server.database, "REDSHIFT_IAM_ROLE_ARN": REDSHIFT_ROLE}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # the Delta path run_local.py's session takes (no hadoop-aws: deltalake); this session's native
    # delta-spark path over S3A is tested in tests/test_delta_native.py, and is slow against moto
    from spark_dao.engines import delta_native

    monkeypatch.setattr(delta_native, "has_s3a", lambda spark: False)
    for step in STEPS:
        runpy.run_path(str(EXAMPLE / step), run_name="__main__")
    assert "gold: users_agg, sales_daily_agg -> Redshift" in capsys.readouterr().out

    dao = DataAccessObject(str(EXAMPLE / "catalog.json"))
    assert dao.catalog.stores["silver"].interface.kind == "delta"
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=f"silver-{tag}")["Contents"]]
    for name in ("users_clean", "events_enriched", "orders_clean"):
        assert f"datasets/{name}/_delta_log/00000000000000000000.json" in keys
    assert any(re.fullmatch(r"datasets/users_clean/year=2025/month=01/day=08/[^/]+\.parquet", k) for k in keys)
    users = dao.read("silver.users_clean", engine="arrow").sort_by("id")
    assert users.column("id").to_pylist() == [1, 2, 4, 5, 6, 7, 9]
    assert dao.read("silver.orders_clean", engine="arrow").num_rows == 12
    conn = redshift_server.connect()
    try:
        cur = conn.cursor()
        cur.execute("SELECT id, total_purchases, avg_order_value, last_purchase_date FROM public.users_agg ORDER BY id")
        got = [(r[0], r[1], r[2], r[3].strftime("%Y-%m-%d %H:%M:%S")) for r in cur.fetchall()]
        cur.execute('SELECT "date", region, revenue, orders FROM public.sales_daily_agg ORDER BY "date", region')
        sales = [(str(r[0]), r[1], r[2], r[3]) for r in cur.fetchall()]
    finally:
        conn.close()
    assert got == USERS_AGG
    assert sales == SALES_DAILY
    listed = s3_client.list_objects_v2(Bucket=f"temp-{tag}", Prefix="redshift/")
    assert listed.get("KeyCount", 0) == 0  # the loads' staged files are gone


def test_catalog_points_at_aws_through_the_variables(monkeypatch):
    """Unchanged scripts on AWS: the variables replace every default (endpoint, buckets, keys, Redshift)."""
    for key in CATALOG_VARS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("S3_ENDPOINT_URL", "https://s3.eu-west-1.amazonaws.com")
    monkeypatch.setenv("S3_PATH_STYLE", "false")
    monkeypatch.setenv("BRONZE_BUCKET", "acme-bronze")
    monkeypatch.setenv("SILVER_BUCKET", "acme-silver")
    monkeypatch.setenv("TEMP_BUCKET", "acme-temp")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("REDSHIFT_HOST", "analytics.abc123.eu-west-1.redshift.amazonaws.com")
    monkeypatch.setenv("REDSHIFT_SSL", "true")
    catalog = Catalog.load(str(EXAMPLE / "catalog.json"))
    assert catalog.get("bronze.users_raw").location == "s3://acme-bronze/users_raw"
    assert catalog.get("silver.users_clean").location == "s3://acme-silver/datasets/users_clean"
    gold = catalog.stores["gold"].configs
    assert (gold["host"], gold["port"], gold["ssl"], gold["s3_temp_dir"]) == (
        "analytics.abc123.eu-west-1.redshift.amazonaws.com", 5439, True, "s3://acme-temp/redshift/")
    for store in catalog.stores.values():
        assert store.configs["endpoint_url"] == "https://s3.eu-west-1.amazonaws.com"
        assert store.configs["path_style"] is False
        assert store.configs["access_key"] == "AKIAEXAMPLE"
    assert "AKIAEXAMPLE" not in repr(catalog)
    # the seed's shape and classes
    raw = json.loads((EXAMPLE / "catalog.json").read_text())
    assert [(n, s["interface_class"]) for n, s in raw.items()] == [
        ("bronze", "S3Boto3Interface"), ("silver", "${env:SILVER_INTERFACE:-S3SparkInterface}"),
        ("gold", "RedshiftSparkInterface")]
    assert raw["silver"]["default_configs"]["prefix"] == "datasets"
    assert {"host", "user", "password", "database", "s3_temp_dir", "iam_role_arn"} <= set(raw["gold"]["default_configs"])


# --------------------------------------------------------------------------- docker-compose.yml
def test_docker_compose_matches_the_catalog_defaults(monkeypatch):
    for key in CATALOG_VARS:
        monkeypatch.delenv(key, raising=False)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    minio, init = compose["services"]["minio"], compose["services"]["minio-init"]
    catalog = Catalog.load(str(EXAMPLE / "catalog.json"))
    stores = catalog.stores
    # pinned releases, not latest
    for service in (minio, init):
        assert re.fullmatch(r"quay\.io/minio/(minio|mc):RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", service["image"])
    # the catalog's default endpoint is MinIO's published S3 port; its default keys are MinIO's root user
    endpoint = stores["bronze"].configs["endpoint_url"]
    host, port = re.fullmatch(r"http://([\d.]+):(\d+)", endpoint).groups()
    assert f"{host}:{port}:9000" in minio["ports"]
    assert minio["command"].split()[:2] == ["server", "/data"]
    for store in stores.values():
        assert store.configs["endpoint_url"] == endpoint
        assert (store.configs["access_key"], store.configs["secret_key"]) == (
            minio["environment"]["MINIO_ROOT_USER"], minio["environment"]["MINIO_ROOT_PASSWORD"])
    # the init service creates exactly the catalog's three buckets, once MinIO is healthy
    script = init["entrypoint"][-1]
    assert f"mc alias set local http://minio:9000 {minio['environment']['MINIO_ROOT_USER']} " \
           f"{minio['environment']['MINIO_ROOT_PASSWORD']}" in script
    made = re.search(r"mc mb --ignore-existing (.*)", script).group(1).split()
    expected = [stores["bronze"].configs["bucket"], stores["silver"].configs["bucket"],
                stores["gold"].configs["s3_temp_dir"].removeprefix("s3://").split("/")[0]]
    assert made == [f"local/{b}" for b in expected] == [
        "local/my-company-bronze", "local/my-company-silver", "local/my-company-temp"]
    assert init["depends_on"] == {"minio": {"condition": "service_healthy"}}
    assert minio["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    # data kept in a named volume
    assert minio["volumes"] == ["minio-data:/data"] and "minio-data" in compose["volumes"]


# --------------------------------------------------------------------------- "let DAO pick": raw formats
def _bronze(root: Path, **objects) -> tuple[DataAccessObject, DataObject]:
    """A seed-shaped bronze store (S3Boto3Interface) on a local folder, and its users_raw."""
    dao = DataAccessObject({"bronze": {"interface_class": "S3Boto3Interface",
                                       "interface_class_location": "interface_classes.s3.s3_boto3",
                                       "default_configs": {"path": str(root)}, "objects": objects}})
    return dao, DataObject("users_raw", DataStoreRegistry.get("bronze"))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_raw_csv_files_read_as_csv_without_a_format(tmp_path):
    _write(tmp_path / "users_raw" / "2025-01-07" / "users.csv", b"id,name\n1,Ada\n2,Grace\n")
    _write(tmp_path / "users_raw" / "2025-01-08" / "users.CSV", b"id,name\n3,Linus\n")
    dao, users_raw = _bronze(tmp_path)
    got = dao.read(data_object=users_raw, engine="pandas").sort_values("id")
    assert got.to_dict("records") == [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Grace"}, {"id": 3, "name": "Linus"}]


def test_raw_json_lines_and_compressed_files_read_by_their_names(tmp_path):
    _write(tmp_path / "events_raw" / "d1" / "events.json", b'{"id": 1, "t": "a"}\n{"id": 2, "t": "b"}\n')
    _write(tmp_path / "events_raw" / "d2" / "events.ndjson.gz", gzip.compress(b'{"id": 3, "t": "c"}\n'))
    _write(tmp_path / "users_raw" / "d1" / "users.csv.gz", gzip.compress(b"id,name\n1,Ada\n"))
    dao, _ = _bronze(tmp_path)
    events = dao.read("bronze.events_raw", engine="arrow").sort_by("id")
    assert events.to_pylist() == [{"id": 1, "t": "a"}, {"id": 2, "t": "b"}, {"id": 3, "t": "c"}]
    assert dao.read("bronze.users_raw", engine="arrow").to_pylist() == [{"id": 1, "name": "Ada"}]


def test_raw_parquet_files_still_read_without_a_format(tmp_path):
    (tmp_path / "users_raw").mkdir()
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "users_raw" / "part-0.parquet")
    dao, _ = _bronze(tmp_path)
    assert dao.read("bronze.users_raw", engine="arrow").column("id").to_pylist() == [1, 2]


def test_the_catalog_or_the_call_format_wins_over_the_names(tmp_path):
    _write(tmp_path / "users_raw" / "d1" / "export.txt", b"id;name\n1;Ada\n")
    _write(tmp_path / "users_raw" / "d2" / "more.json", b'{"id": 2, "name": "Grace"}\n')
    dao, _ = _bronze(tmp_path, users_raw={"format": "csv", "options": {"delimiter": ";"}})
    assert dao.read("bronze.users_raw", path="users_raw/d1", engine="arrow").to_pylist() == [{"id": 1, "name": "Ada"}]
    # the call's format for one kind of file of a mixed object
    got = dao.read("bronze.users_raw", path="users_raw/d2", format="json", engine="arrow")
    assert got.to_pylist() == [{"id": 2, "name": "Grace"}]


def test_mixed_raw_files_without_a_format_are_refused(tmp_path):
    _write(tmp_path / "users_raw" / "2025-01-07" / "users.csv", b"id\n1\n")
    _write(tmp_path / "users_raw" / "2025-01-08" / "users.json", b'{"id": 2}\n')
    _write(tmp_path / "users_raw" / "2025-01-09" / "users.csv", b"id\n3\n")
    _write(tmp_path / "users_raw" / "2025-01-10" / "users.csv", b"id\n4\n")
    dao, users_raw = _bronze(tmp_path)
    with pytest.raises(DaoError) as err:
        dao.read(data_object=users_raw, engine="pandas")
    assert str(err.value) == (
        f"reading object 'bronze.users_raw' (store 'bronze') at {tmp_path}/users_raw: no format given and its files "
        "are of several kinds: 3 csv (2025-01-07/users.csv, 2025-01-09/users.csv, ...); 1 json "
        "(2025-01-08/users.json). Pass the format, e.g. dao.read('bronze.users_raw', format='csv') (csv, json or "
        "parquet), with path= to read one kind of file, or set 'format' on the object in the catalog")
    # one kind of file, chosen by path: read by its name
    assert dao.read(data_object=users_raw, path="users_raw/2025-01-08", engine="arrow").to_pylist() == [{"id": 2}]


def test_raw_files_whose_names_say_no_format_are_refused(tmp_path):
    _write(tmp_path / "users_raw" / "users.txt", b"id\n1\n")
    _write(tmp_path / "users_raw" / "dump.parquet.gz", b"\x00")
    dao, _ = _bronze(tmp_path)
    with pytest.raises(DaoError, match=re.escape(
            "no format given and the file names do not say it: 2 unknown (dump.parquet.gz, users.txt). Pass the "
            "format, e.g. dao.read('bronze.users_raw', format='csv')")):
        dao.read("bronze.users_raw", engine="pandas")
    assert dao.read("bronze.users_raw", path="users_raw/users.txt", format="csv", engine="arrow").num_rows == 1


def test_a_raw_object_without_files_is_still_not_found(tmp_path):
    (tmp_path / "users_raw").mkdir()
    dao, _ = _bronze(tmp_path)
    with pytest.raises(ObjectNotFound, match="bronze.events_raw"):
        dao.read("bronze.events_raw", engine="pandas")


def test_raw_files_on_s3_read_by_their_names_with_spark(spark, s3_server, s3_bucket, s3_client):
    s3_client.put_object(Bucket=s3_bucket, Key="raw/events_raw/2025-01-07/events.json",
                         Body=b'{"event_id": 1, "kind": "view"}\n{"event_id": 2, "kind": "buy"}\n')
    dao = DataAccessObject({"bronze": {"interface_class": "S3Boto3Interface", "default_configs": {
        "bucket": s3_bucket, "prefix": "raw", "endpoint_url": s3_server, "region": "us-east-1",
        "access_key": "testing", "secret_key": "testing"}}}, spark=spark)
    events_raw = DataObject("events_raw", DataStoreRegistry.get("bronze"))
    df = dao.read(data_object=events_raw)
    assert sorted((r.event_id, r.kind) for r in df.collect()) == [(1, "view"), (2, "buy")]
    s3_client.put_object(Bucket=s3_bucket, Key="raw/events_raw/2025-01-08/events.csv", Body=b"event_id\n3\n")
    with pytest.raises(DaoError, match=r"1 csv \(2025-01-08/events.csv\); 1 json \(2025-01-07/events.json\)"):
        dao.read(data_object=events_raw, engine="pandas")


def test_the_launchers_delta_report_counts_the_latest_versions_files(s3_server, s3_bucket, s3_client):
    """Run twice against one S3, silver's report counted the files an overwrite had replaced
    (still on storage until a vacuum): it counts the latest version's files now."""
    from deltalake import DeltaTable

    launcher = runpy.run_path(str(EXAMPLE / "run_local.py"), run_name="run_local")
    dao = DataAccessObject({"stores": {"lake": {"interface": "delta", "bucket": s3_bucket, "prefix": "lake",
                                                "endpoint_url": s3_server, "region": "us-east-1",
                                                "access_key": "testing", "secret_key": "testing"}}})
    for _ in range(2):
        dao.write(pa.table({"id": [1, 2, 3]}), "lake.t", mode="overwrite", engine="pandas")
    location = dao.resolve("lake.t").location
    keys = launcher["_keys"](s3_client, location)
    assert len(launcher["_data_files"](keys)) == 2  # both versions' files are on storage
    live = launcher["_delta_live_files"](s3_client, location, keys)
    table = DeltaTable(location, storage_options={"AWS_ENDPOINT_URL": s3_server, "AWS_ALLOW_HTTP": "true",
                                                  "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                                                  "AWS_SECRET_ACCESS_KEY": "testing"})
    assert live == sorted(table.get_add_actions(flatten=True).column("path").to_pylist()) and len(live) == 1
