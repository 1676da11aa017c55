"""What a failed Redshift write leaves: nothing. Each test first proves the failure path ran (files
were staged, the COPY ran), then that it was undone (the table unchanged, the temp prefix empty).
Also: serialization conflicts retried, two loads at once, and secrets at DEBUG."""

from __future__ import annotations

import logging
import sys
import threading
import time

import pyarrow as pa
import pytest
from _redshift import redshift_store, temp_keys

from spark_dao import DaoError, DataAccessObject, WriteConflict
from spark_dao.interfaces import _redshift_write

ROWS = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "n": pa.array([10, 20, 30], pa.int64()),
                 "s": ["a", "b", "c"]})


@pytest.fixture
def wh(redshift_server, s3_server, s3_bucket):
    store = redshift_store(redshift_server, s3_server, s3_bucket)
    dao = DataAccessObject({"stores": {"wh": store}, "objects": {
        "wh.t": {"keys": ["id"], "column_types": {"n": "SMALLINT"}}}})
    dao.write(ROWS, "wh.t", mode="overwrite", engine="pandas")
    return dao


def table_rows(dao) -> list[tuple]:
    return sorted((r["id"], r["n"]) for r in dao.read("wh.t", engine="arrow").to_pylist())


BEFORE = [(1, 10), (2, 20), (3, 30)]


@pytest.mark.parametrize("how", ["append", "overwrite", "upsert"])
def test_a_copy_failing_on_bad_data_shows_the_load_error_and_changes_nothing(wh, how, s3_client, s3_bucket):
    # valid Arrow, refused by the warehouse: a NUL character in a VARCHAR
    bad = pa.table({"id": pa.array([4, 5], pa.int64()), "n": pa.array([40, 50], pa.int64()), "s": ["ok", "a\x00b"]})
    with pytest.raises(DaoError) as err:
        if how == "upsert":
            wh.upsert(bad, "wh.t", engine="pandas")
        else:
            wh.write(bad, "wh.t", mode=how, engine="pandas")
    msg = str(err.value)
    # the COPY ran on the staged files: Redshift's load errors name the line, the column and the reason
    assert "COPY of the staged data" in msg and "stl_load_errors: line 2" in msg and "0x00" in msg, msg
    assert "/rs-temp/" in msg  # the staged file the COPY read
    assert "the table is unchanged" in msg
    assert table_rows(wh) == BEFORE
    assert temp_keys(s3_client, s3_bucket) == []


@pytest.mark.parametrize("after", ["COPY ", "DROP TABLE "], ids=["after-copy", "just-before-commit"])
@pytest.mark.parametrize("how", ["overwrite", "upsert"])
def test_connection_dropped_between_copy_and_commit_rolls_everything_back(wh, redshift_server, monkeypatch,
                                                                         s3_client, s3_bucket, after, how):
    ran: list[str] = []
    real = _redshift_write.execute
    if how == "overwrite" and after == "DROP TABLE ":
        after = "COPY "  # an overwrite COPYs straight into the table: the COPY is its last statement

    def execute(cursor, sql, params=None):
        result = real(cursor, sql, params)
        if sql.startswith("COPY "):
            ran.append("copy")
            assert temp_keys(s3_client, s3_bucket)  # the staged files and manifest
        if sql.startswith(after) and not ran[-1:] == ["dropped"]:
            pid = real(cursor, "SELECT pg_backend_pid()").fetchone()[0]
            redshift_server.admin_query(f"SELECT pg_terminate_backend({int(pid)})")
            ran.append("dropped")
        return result

    monkeypatch.setattr(_redshift_write, "execute", execute)
    data = pa.table({"id": pa.array([1, 7], pa.int64()), "n": [70, 70], "s": ["x", "y"]})
    with pytest.raises(DaoError) as err:
        if how == "upsert":
            wh.upsert(data, "wh.t", engine="pandas", delete_unmatched=True)
        else:
            wh.write(data, "wh.t", mode=how, engine="pandas")
    assert ran == ["copy", "dropped"], ran
    assert "'wh.t'" in str(err.value)
    monkeypatch.setattr(_redshift_write, "execute", real)
    assert table_rows(wh) == BEFORE  # none of the DELETE / INSERT / MERGE happened
    assert temp_keys(s3_client, s3_bucket) == []


def test_serialization_conflicts_are_retried_then_a_write_conflict(wh, redshift_server, s3_client, s3_bucket, caplog):
    redshift_server.inject_error(r"^\s*(INSERT INTO|COPY)", times=1)  # Redshift's 1023 on the first attempt
    with caplog.at_level(logging.INFO, logger="spark_dao"):
        r = wh.write(pa.table({"id": [4], "n": [40], "s": ["d"]}), "wh.t", mode="append", engine="pandas")
    assert "(attempt 1): serialization conflict" in caplog.text and r.rows_written == 1
    assert table_rows(wh) == [*BEFORE, (4, 40)]
    redshift_server.inject_error(r"^\s*(INSERT INTO|COPY)", times=None)
    try:
        with pytest.raises(WriteConflict, match=r"gave up after 1 retries.*Nothing was committed"):
            wh.write(pa.table({"id": [5], "n": [50], "s": ["e"]}), "wh.t", mode="overwrite", engine="pandas",
                     options={"max_retries": 1})
    finally:
        redshift_server.clear_injected_errors()
    assert table_rows(wh) == [*BEFORE, (4, 40)]
    assert temp_keys(s3_client, s3_bucket) == []


def test_two_loads_into_one_table_at_once_both_land_serialised_by_lock(wh, monkeypatch):
    real = _redshift_write.execute
    times: dict[str, float] = {}

    def execute(cursor, sql, params=None):
        result = real(cursor, sql, params)
        name = threading.current_thread().name
        if sql.startswith("LOCK "):
            times[f"{name} locked"] = time.monotonic()
            if name == "first":
                time.sleep(1.5)  # hold the lock: the second load must wait for this commit
        if sql.startswith("COPY "):
            times[f"{name} copied"] = time.monotonic()
        return result

    monkeypatch.setattr(_redshift_write, "execute", execute)
    errors: list[BaseException] = []

    def load(name: str, ids: list[int]) -> None:
        try:
            wh.write(pa.table({"id": pa.array(ids, pa.int64()), "n": pa.array(ids, pa.int64())}), "wh.t",
                     mode="append", engine="pandas")
            times[f"{name} done"] = time.monotonic()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    first = threading.Thread(target=load, args=("first", [100, 101]), name="first")
    first.start()
    while "first locked" not in times and first.is_alive():
        time.sleep(0.01)
    second = threading.Thread(target=load, args=("second", [200]), name="second")
    second.start()
    first.join()
    second.join()
    assert not errors, errors
    # the second got the lock only after the first's COPY (and its commit, which follows it), though it
    # asked for it while the first held it
    assert times["second locked"] >= times["first copied"]
    assert [r for r in table_rows(wh) if r[0] >= 100] == [(100, 100), (101, 101), (200, 200)]


def test_a_spark_task_failing_mid_stage_leaves_nothing(spark, wh, s3_server, s3_bucket, s3_client):
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    import spark_dao

    spark_dao.register(spark, wh.catalog)
    endpoint, bucket = s3_server, s3_bucket

    @F.udf("long")
    def fail_after_others_staged(x):
        if x != 13:
            return x
        import time as _t

        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
        for _ in range(200):  # wait until another task of the job has staged its files
            listed = s3.list_objects_v2(Bucket=bucket, Prefix="rs-temp/").get("Contents", [])
            staged = sum(o["Key"].endswith(".parquet") for o in listed)  # not the job's live marker
            if staged:
                raise ValueError(f"task boom after {staged} staged file(s)")
            _t.sleep(0.1)
        raise ValueError("task boom, nothing staged")

    data = spark.createDataFrame([(i, i, "x") for i in range(1, 21)], "id long, n long, s string").repartition(2, "id")
    with pytest.raises(PySparkException, match=r"task boom after [1-9]\d* staged file") as err:
        data.withColumn("n", fail_after_others_staged("n")).write.format("dao").mode("overwrite").save("wh.t")
    assert "nothing staged" not in str(err.value)
    assert table_rows(wh) == BEFORE
    assert temp_keys(s3_client, s3_bucket) == []


def test_secrets_never_in_logs_or_errors_at_debug(s3_server, s3_bucket, s3_client, caplog):
    """COPY/UNLOAD authorised with the staging credentials (no IAM role): the CREDENTIALS clause is
    masked in every logged SQL statement; the password and keys appear nowhere."""
    from spark_dao.testing.redshift import RedshiftTestServer

    key_id, secret, password = "AKIADAOLEAKCHECK0001", "dao-s3-secret-never-logged-93ab", "Rs-pw-leak-check-51c2"
    with RedshiftTestServer(s3_endpoint_url=s3_server, aws_access_key_id=key_id, aws_secret_access_key=secret,
                            password=password) as server:
        store = redshift_store(server, s3_server, s3_bucket, access_key=key_id, secret_key=secret)
        store.pop("iam_role_arn")
        dao = DataAccessObject({"stores": {"wh": store}, "objects": {"wh.t": {"column_types": {"n": "SMALLINT"}}}})
        messages = []
        with caplog.at_level(logging.DEBUG):
            dao.write(ROWS, "wh.t", mode="overwrite", engine="pandas")
            dao.upsert(ROWS, "wh.t", keys=["id"], engine="pandas")
            dao.read("wh.t", engine="pandas", options={"read_mode": "unload"})
            with pytest.raises(DaoError) as err:
                dao.write(pa.table({"id": [9], "n": [9], "s": ["\x00"]}), "wh.t", mode="append", engine="pandas")
            messages.append(str(err.value))
            bad = dict(store, password="wrong-" + password)
            with pytest.raises(DaoError) as err:
                DataAccessObject({"wh": {"interface": "redshift", "default_configs": bad}}).exists(
                    "wh.t")
            messages.append(str(err.value))
    ours = [r.getMessage() for r in caplog.records if r.name == "spark_dao.redshift"]
    assert any(m.startswith("SQL: COPY ") and "CREDENTIALS '***'" in m for m in ours)  # masked by the interface
    assert any(m.startswith("SQL: UNLOAD ") and "CREDENTIALS '***'" in m for m in ours)
    for text in [caplog.text, *messages, repr(dao.catalog)]:
        for value in (secret, password, key_id):
            assert value not in text
    assert temp_keys(s3_client, s3_bucket) == []


def test_two_first_loads_of_a_new_table_at_once_both_land(redshift_server, s3_server, s3_bucket, caplog):
    """Both create the missing table in their transactions; the one that loses the race reruns as an append."""
    dao = DataAccessObject({"stores": {"wh": redshift_store(redshift_server, s3_server, s3_bucket)}})
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def load(i: int) -> None:
        try:
            barrier.wait()
            dao.write(pa.table({"id": pa.array([i], pa.int64())}), "wh.fresh", mode="append", engine="pandas")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    with caplog.at_level(logging.INFO, logger="spark_dao"):
        threads = [threading.Thread(target=load, args=(i,)) for i in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    assert sorted(dao.read("wh.fresh", engine="arrow").column("id").to_pylist()) == [1, 2]



def test_a_first_load_whose_snapshot_predates_the_other_loads_table_reruns_as_an_append(
        redshift_server, s3_server, s3_bucket, monkeypatch, caplog):
    """The interleaving behind the race above, forced: load B's transaction takes its snapshot (it
    finds no table), then load A creates the table, loads and commits. B's CREATE TABLE IF NOT EXISTS
    skips and its LOCK finds the table, but the table's columns stay invisible to B's serializable
    snapshot: B must rerun (a new snapshot) and append, not fail on columns it cannot see."""
    dao = DataAccessObject({"stores": {"wh": redshift_store(redshift_server, s3_server, s3_bucket)}})
    a_done, calls = threading.Event(), []
    original = _redshift_write.stored_columns

    def stored_columns(cursor, schema, table):
        out = original(cursor, schema, table)
        if threading.current_thread().name == "B" and sys._getframe(1).f_code.co_name == "_transaction":
            calls.append(list(out))  # (the load's transaction; not prepare_write's look-up)
            if len(calls) == 1:
                assert a_done.wait(60), "load A did not finish"
        return out

    monkeypatch.setattr(_redshift_write, "stored_columns", stored_columns)
    errors: list[BaseException] = []

    def load(i: int) -> None:
        try:
            dao.write(pa.table({"id": pa.array([i], pa.int64())}), "wh.fresh", mode="append", engine="pandas")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    with caplog.at_level(logging.INFO, logger="spark_dao"):
        b = threading.Thread(target=load, args=(2,), name="B")
        b.start()
        while not calls and b.is_alive():  # B's snapshot is taken (no table yet)
            time.sleep(0.01)
        load(1)  # A: creates the table, loads, commits
        a_done.set()
        b.join()
    assert not errors, errors
    assert calls[0] == [] and calls[1] == []  # B's snapshot never saw A's table ...
    assert any("created by a concurrent load" in r.getMessage() for r in caplog.records)  # ... so B reran
    assert sorted(dao.read("wh.fresh", engine="arrow").column("id").to_pylist()) == [1, 2]



def test_a_task_still_staging_when_its_job_is_aborted_removes_its_own_files(wh, s3_bucket, s3_client):
    """The live-marker protocol: the driver aborts the job while a task stages (Spark does that when
    another task fails; the task may go on): the task finds the marker gone after writing its
    Parquet and deletes it; a task starting after the abort writes nothing."""
    from spark_dao.interfaces import StagedPart, get_interface

    obj = wh.catalog.get("wh.users")
    itf = get_interface(obj.store)
    schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
    job = "0123456789abcdef0123456789abcdef"
    spec = itf.start_job(obj, itf.prepare_write(obj, schema, {"mode": "append"}), job)
    assert spec.options["lease"] and temp_keys(s3_client, s3_bucket) == [f"rs-temp/{job}/_live"]

    def batches():
        yield pa.record_batch({"id": [2], "name": ["x"]}, schema=schema)
        itf.abort(obj, [StagedPart(job_id=job)], spec)  # the driver aborts while this task stages
        assert temp_keys(s3_client, s3_bucket) == []
        yield pa.record_batch({"id": [3], "name": ["y"]}, schema=schema)

    with pytest.raises(DaoError, match=rf"job {job} ended \(aborted or committed\) while this task was staging"):
        itf.stage(obj, batches(), spec, job)
    assert temp_keys(s3_client, s3_bucket) == []
    with pytest.raises(DaoError, match=r"ended \(aborted or committed\) before this task staged anything"):
        itf.stage(obj, pa.table({"id": [4], "name": ["z"]}).to_batches(), spec, job)
    assert temp_keys(s3_client, s3_bucket) == []
