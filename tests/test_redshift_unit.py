"""The Redshift interface without a server: its SQL, its settings, staging to S3 and abort (moto)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sys
import uuid

import pyarrow as pa
import pytest

from spark_dao import BackendNotInstalled, CatalogError, DaoError, DataAccessObject, SchemaMismatch
from spark_dao.catalog import DataStore, InterfaceSpec
from spark_dao.interfaces import StagedPart, WriteSpec, get_interface
from spark_dao.interfaces import _redshift_sql as q
from spark_dao.interfaces._redshift_conn import RedshiftOptions, _redshift_connector, is_conflict

SEED_GOLD = {
    "interface_class": "RedshiftSparkInterface",
    "interface_class_location": "interface_classes.redshift.spark",
    "default_configs": {
        "host": "redshift.company.redshift.amazonaws.com",
        "user": "pipeline_user",
        "password": "***",
        "database": "analytics",
        "s3_temp_dir": "s3://my-company-temp/redshift/",
        "iam_role_arn": "arn:aws:iam::123456789:role/redshift-role",
    },
}


# --------------------------------------------------------------------------- identifiers and literals
@pytest.mark.parametrize("name,quoted", [
    ("users", '"users"'),
    ("select", '"select"'),  # a reserved word
    ('a"b', '"a""b"'),
    ('x"; DROP TABLE users; --', '"x""; DROP TABLE users; --"'),
    ("Grüße %s", '"Grüße %s"'),
])
def test_identifiers_are_always_quoted_and_embedded_quotes_doubled(name, quoted):
    assert q.ident(name) == quoted


@pytest.mark.parametrize("bad", ["", "a\x00b", "x" * 128, None])
def test_identifiers_redshift_cannot_hold_are_refused(bad):
    with pytest.raises(DaoError, match="identifier"):
        q.ident(bad)


def test_literals_are_quoted_and_unsafe_values_refused():
    assert q.literal("O'Brien") == "'O''Brien'"
    assert q.literal("x'; DROP TABLE t; --") == "'x''; DROP TABLE t; --'"
    assert q.literal(5) == "5" and q.literal(True) == "TRUE" and q.literal(2.5) == "2.5"
    assert q.literal(decimal.Decimal("1.20")) == "1.20"
    assert q.literal(dt.date(2025, 1, 8)) == "'2025-01-08'::date"
    assert q.literal(dt.datetime(2025, 1, 8, 10, 30)) == "'2025-01-08 10:30:00'::timestamp"
    aware = dt.datetime(2025, 1, 8, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert q.literal(aware) == "'2025-01-08 10:00:00+00'::timestamptz"
    for bad in ("a\\'; DROP", "bell\x07", float("nan"), object()):
        with pytest.raises(q.Unsafe):
            q.literal(bad)


def test_unload_query_nests_quotes_twice():
    where, params = q.filter_sql("name", "=", "O'Brien", literals=True)
    assert (where, params) == ("\"name\" = 'O''Brien'", [])
    sql = q.unload_sql(f'SELECT "id" FROM "s"."t" WHERE {where}', "s3://b/p/job/", "IAM_ROLE 'arn:x'")
    assert sql == ("UNLOAD ('SELECT \"id\" FROM \"s\".\"t\" WHERE \"name\" = ''O''''Brien''') TO 's3://b/p/job/' "
                   "IAM_ROLE 'arn:x' FORMAT AS PARQUET MANIFEST ALLOWOVERWRITE")
    # bound parameters everywhere else
    assert q.filter_sql("a%b", "in", [1, 2], literals=False) == ('"a%b" IN (%s, %s)', [1, 2])
    assert q.filter_sql("n", "<=", 5, literals=False) == ('"n" <= %s', [5])
    assert q.filter_sql("n", "not_null", None, literals=True) == ('"n" IS NOT NULL', [])


def test_credentials_are_redacted_from_logged_sql():
    auth = q.auth_clause(None, {"access_key": "AKIAXXXXXXXX", "secret_key": "s3cr3t/key", "session_token": "tok"})
    sql = q.copy_sql('"stage"', ["id", "v"], "s3://b/job/manifest.json", auth)
    assert "s3cr3t/key" in sql and "token=tok" in sql
    shown = q.redact_sql(sql)
    assert "s3cr3t" not in shown and "AKIA" not in shown and "CREDENTIALS '***'" in shown
    assert shown.startswith('COPY "stage" ("id", "v") FROM \'s3://b/job/manifest.json\'')
    assert q.redact_sql("ALTER USER u PASSWORD 'pw'") == "ALTER USER u PASSWORD '***'"
    assert q.auth_clause("arn:aws:iam::1:role/r", None) == "IAM_ROLE 'arn:aws:iam::1:role/r'"
    with pytest.raises(DaoError, match="iam_role_arn"):
        q.auth_clause(None, None)


# --------------------------------------------------------------------------- types and DDL
def test_varchar_sized_from_the_longest_value_in_bytes():
    assert q.varchar_size(0) == q.MIN_VARCHAR == 64
    assert q.varchar_size(65) == 128
    assert q.varchar_size(300) == 512
    assert q.varchar_size(40000) == 65535
    f = pa.field("s", pa.string())
    assert q.redshift_type(f, longest=200, what="w") == "VARCHAR(256)"
    with pytest.raises(SchemaMismatch, match="65535"):
        q.redshift_type(f, longest=70000, what="w")


def test_arrow_types_map_to_redshift_and_back():
    cases = [
        (pa.bool_(), "BOOLEAN", pa.bool_()),
        (pa.int16(), "SMALLINT", pa.int16()),
        (pa.int32(), "INTEGER", pa.int32()),
        (pa.int64(), "BIGINT", pa.int64()),
        (pa.float32(), "REAL", pa.float32()),
        (pa.float64(), "DOUBLE PRECISION", pa.float64()),
        (pa.decimal128(12, 3), "DECIMAL(12,3)", pa.decimal128(12, 3)),
        (pa.date32(), "DATE", pa.date32()),
        (pa.timestamp("us"), "TIMESTAMP", pa.timestamp("us")),
        (pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ", pa.timestamp("us", tz="UTC")),
        (pa.string(), "VARCHAR(64)", pa.string()),
    ]
    for arrow, sql, back in cases:
        assert q.redshift_type(pa.field("c", arrow), what="w") == sql
        assert q.arrow_type(sql.lower()) == back
    assert q.arrow_type("timestamp without time zone") == pa.timestamp("us")
    assert q.arrow_type("timestamp with time zone") == pa.timestamp("us", tz="UTC")
    assert q.arrow_type("numeric", precision=10, scale=2) == pa.decimal128(10, 2)
    with pytest.raises(SchemaMismatch, match="column_types"):
        q.redshift_type(pa.field("l", pa.list_(pa.int64())), what="w")


def test_create_table_quotes_every_name_and_places_dist_and_sort_keys():
    sql = q.create_table(q.table_ident("public", "order"), [("select", "BIGINT"), ('we"ird', "VARCHAR(64)")],
                         dist_key="select", dist_style="key", sort_key=["we\"ird", "select"])
    assert sql == ('CREATE TABLE IF NOT EXISTS "public"."order" ("select" BIGINT, "we""ird" VARCHAR(64)) '
                   'DISTSTYLE KEY DISTKEY("select") SORTKEY("we""ird", "select")')
    assert q.check_type_override("c", "varchar(1024) ENCODE zstd", what="w") == "varchar(1024) ENCODE zstd"
    with pytest.raises(DaoError, match="column_types"):
        q.check_type_override("c", "INT); DROP TABLE x; --", what="w")


def test_upsert_sql_uses_the_batch_order_and_the_newest_row():
    sql = q.dedupe_sql('"b"', '"s"', ["id", "v"], ["id"], "ts", {"abc": 0, "def": 1})
    assert 'PARTITION BY "id" ORDER BY "ts" DESC NULLS LAST' in sql
    assert "CASE \"__dao_task__\" WHEN 'abc' THEN 0 WHEN 'def' THEN 1 ELSE -1 END DESC" in sql
    merge = q.merge_sql('"p"."t"', '"b"', ["id", "v"], ["id"])
    assert merge == ('MERGE INTO "p"."t" USING "b" AS s ON "p"."t"."id" = s."id" WHEN MATCHED THEN UPDATE SET '
                     '"v" = s."v" WHEN NOT MATCHED THEN INSERT ("id", "v") VALUES (s."id", s."v")')


# --------------------------------------------------------------------------- settings
def test_seed_gold_config_loads_and_parses():
    dao = DataAccessObject({"gold": SEED_GOLD})
    store = dao.catalog.store("gold")
    itf = get_interface(store)
    assert type(itf).__name__ == "RedshiftInterface"
    o = RedshiftOptions.from_store(store)
    assert (o.host, o.port, o.database, o.schema, o.ssl) == ("redshift.company.redshift.amazonaws.com", 5439,
                                                             "analytics", "public", True)
    assert o.s3_temp_dir == "s3://my-company-temp/redshift" and o.job_prefix("j") == "s3://my-company-temp/redshift/j"
    assert o.iam_role_arn == "arn:aws:iam::123456789:role/redshift-role"


def test_secrets_never_in_reprs():
    store = DataStore("w", (InterfaceSpec("redshift"),), {
        "host": "h", "database": "d", "user": "u", "password": "pw-very-secret", "s3_temp_dir": "s3://b/t",
        "access_key": "AKIA-secret-id", "secret_key": "sk-very-secret"})
    for text in (repr(RedshiftOptions.from_store(store)), repr(store), repr(get_interface(store))):
        assert "pw-very-secret" not in text and "sk-very-secret" not in text and "AKIA-secret-id" not in text


def test_unknown_and_missing_settings_are_named():
    with pytest.raises(DaoError, match=r"unknown setting 'hots'.*Did you mean 'host'"):
        RedshiftOptions.from_store(DataStore("w", (InterfaceSpec("redshift"),), {"hots": "h"}))
    with pytest.raises(DaoError, match="s3_temp_dir"):
        RedshiftOptions.from_store(DataStore("w", (InterfaceSpec("redshift"),), {"host": "h", "database": "d"}))
    with pytest.raises(CatalogError, match="hots"):
        DataAccessObject({"w": {"interface": "redshift", "default_configs": {"hots": "h"}}})
    with pytest.raises(CatalogError, match="dist_kye"):
        DataAccessObject({"stores": {"w": {"interface": "redshift", "host": "h", "database": "d",
                                           "s3_temp_dir": "s3://b/t"}},
                          "objects": {"w.t": {"dist_kye": "id"}}})


def test_temp_store_gives_the_staging_bucket_and_its_settings():
    dao = DataAccessObject({"stores": {
        "wh": {"interface": "redshift", "host": "h", "database": "d", "temp_store": "tmp"},
        "tmp": {"interface": "files", "bucket": "scratch", "prefix": "rs", "endpoint_url": "http://127.0.0.1:9",
                "access_key": "k", "secret_key": "s"}},
        "objects": {"wh.users": {"table": "crm.users", "keys": ["id"], "dist_key": "id", "sort_key": ["id"]}}})
    o = RedshiftOptions.from_store(dao.catalog.store("wh"))
    assert o.s3_temp_dir == "s3://scratch/rs/_dao_redshift_temp"  # a folder of its own in the temp store
    assert dict(o.staging) == {"endpoint_url": "http://127.0.0.1:9", "access_key": "k", "secret_key": "s"}
    assert o.copy_credentials() == {"access_key": "k", "secret_key": "s"}
    obj = dao.catalog.get("wh.users")
    assert obj.options["dist_key"] == "id" and obj.table == "crm.users"
    target = get_interface(obj.store)._target(obj)
    assert (target.schema, target.table, target.dist_key, target.sort_key) == ("crm", "users", "id", ("id",))
    with pytest.raises(CatalogError, match="temp_store 'nope'"):
        DataAccessObject({"wh": {"interface": "redshift", "default_configs": {"host": "h", "temp_store": "nope"}}})


def test_a_missing_driver_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "redshift_connector", None)
    with pytest.raises(BackendNotInstalled, match=r"spark-dao\[redshift\]"):
        _redshift_connector()


def test_serialization_conflicts_are_recognised():
    assert is_conflict(Exception({"C": "XX000", "M": "1023 Serializable isolation violation on table - 1234"}))
    assert is_conflict(Exception({"C": "40001", "M": "could not serialize access"}))
    assert not is_conflict(Exception({"C": "23505", "M": "duplicate key"}))


# --------------------------------------------------------------------------- staging (moto S3, no cluster)
def _store(endpoint: str, bucket: str) -> DataStore:
    return DataStore("wh", (InterfaceSpec("redshift"),), {
        "host": "127.0.0.1", "port": 1, "database": "d", "s3_temp_dir": f"s3://{bucket}/tmp/",
        "endpoint_url": endpoint, "access_key": "testing", "secret_key": "testing", "region": "us-east-1"})


def test_stage_writes_parquet_under_the_job_prefix_and_abort_removes_it(s3_server, s3_bucket, s3_client):
    from spark_dao.catalog import DataObject

    itf = get_interface(_store(s3_server, s3_bucket))
    obj = DataObject("t", itf.store)
    schema = pa.schema([("id", pa.int64()), ("s", pa.string())])
    spec = WriteSpec(mode="append", format="parquet", schema=schema,
                     options={"compression": "snappy", "max_rows_per_file": 2, "row_group_size": 1000,
                              "table": ("public", "t")})
    job = uuid.uuid4().hex
    data = pa.table({"id": [1, 2, 3], "s": ["a", "ééé", None]})
    part = itf.stage(obj, data.to_batches(), spec, job)
    keys = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket, Prefix=f"tmp/{job}/")["Contents"])
    assert keys == [f"tmp/{job}/{f.path}" for f in part.files] and len(keys) == 2
    assert part.rows == 3 and all(f.path.startswith(f"part-{job[:8]}-") for f in part.files)
    assert json.loads(part.files[0].stats) == {"max_len": {"s": 6}}  # bytes, not characters
    itf.abort(obj, [StagedPart(job_id=job)], spec)
    assert s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="tmp/").get("KeyCount") == 0


def test_iam_authentication_goes_through_redshift_connector(monkeypatch):
    """iam: true passes the cluster and identity to redshift_connector (GetClusterCredentials), no password."""
    import redshift_connector

    seen: dict = {}

    class Conn:
        autocommit = True

    monkeypatch.setattr(redshift_connector, "connect", lambda **kw: seen.update(kw) or Conn())
    store = DataStore("wh", (InterfaceSpec("redshift"),), {
        "iam": "true", "cluster_identifier": "analytics", "db_user": "pipeline", "region": "eu-west-1",
        "profile": "etl", "database": "analytics", "s3_temp_dir": "s3://b/t", "password": "unused-secret"})
    conn = RedshiftOptions.from_store(store).connect()
    assert conn.autocommit is False  # every write runs in an explicit transaction
    assert seen == {"database": "analytics", "ssl": True, "application_name": "spark_dao", "iam": True,
                    "cluster_identifier": "analytics", "db_user": "pipeline", "region": "eu-west-1", "profile": "etl"}


def test_distribution_settings_are_checked_before_any_connection() -> None:
    """_target runs before the interface connects: a dist_key needs dist_style 'key' (or none), and an
    unknown style is named. Redshift rejects DISTSTYLE EVEN with a DISTKEY."""
    catalog = {"stores": {"gold": {"interface": "redshift", "host": "h", "database": "d", "s3_temp_dir": "s3://b/t"}},
               "objects": {"gold.a": {"dist_key": "id", "dist_style": "even"},
                           "gold.b": {"dist_style": "bogus"},
                           "gold.c": {"dist_key": "id", "dist_style": "KEY"},
                           "gold.d": {"dist_key": "id"}}}
    dao = DataAccessObject(catalog)
    itf = get_interface(dao.catalog.store("gold"))
    with pytest.raises(DaoError, match=r"object 'gold.a' \(store 'gold'\): dist_key 'id' needs dist_style 'key'"):
        itf._target(dao.catalog.get("gold.a"))
    with pytest.raises(DaoError, match=r"object 'gold.b' \(store 'gold'\): dist_style 'bogus' is not one of"):
        itf._target(dao.catalog.get("gold.b"))
    assert itf._target(dao.catalog.get("gold.c")).dist_style == "key"
    assert itf._target(dao.catalog.get("gold.d")).dist_key == "id"
