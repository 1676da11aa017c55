"""The S3 commit protocol of the files interface (moto's real HTTP server, the real boto3/pyarrow).

Tasks upload each data file as a multipart upload to its *final* key and leave it uncompleted:
invisible to readers. The driver's commit completes the uploads (no copy); an abort, a failed
attempt or a failed commit leaves no visible object and no upload behind.
"""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
import pytest
from _helpers import s3_keys, uploads

from spark_dao import Catalog, DaoError, DataAccessObject
from spark_dao.interfaces import _s3
from spark_dao.interfaces.base import StagedPart, get_interface
from spark_dao.interfaces.files import STAGING


@pytest.fixture
def catalog(s3_server, s3_bucket) -> Catalog:
    return Catalog.load({
        "stores": {
            "silver": {"interface": "files", "bucket": s3_bucket, "prefix": "lake", "endpoint_url": s3_server,
                       "access_key": "testing", "secret_key": "testing"},
        },
        "objects": {"silver.events": {"partition_by": ["country"]}, "silver.flat": {}},
    })


TABLE = pa.table({"id": [1, 2, 3, 4], "country": ["DE", "FR", "DE", "US"], "amount": [1.0, 2.0, 3.0, 4.0]})


def stage(catalog, name, table, job_id, **options):
    obj = catalog.get(name)
    itf = get_interface(obj.store)
    spec = itf.prepare_write(obj, table.schema, {"mode": "overwrite", **options})
    return itf, obj, spec, itf.stage(obj, table.to_batches(max_chunksize=2), spec, job_id)


def test_staged_files_are_uncompleted_uploads_at_final_keys(catalog, s3_client, s3_bucket):
    itf, obj, spec, part = stage(catalog, "silver.events", TABLE, "a" * 32)
    assert spec.options["s3_commit"] == "multipart"
    # nothing visible, no staged objects (only the job's live marker): three uploads pending at the final keys
    assert s3_keys(s3_client, s3_bucket) == [f"lake/events/{STAGING}/{'a' * 32}.live"]
    assert [k.rsplit("/", 1)[0] for k in uploads(s3_client, s3_bucket)] == [
        "lake/events/country=DE", "lake/events/country=FR", "lake/events/country=US"]
    assert all(f.upload is not None and f.upload.parts for f in part.files)
    assert pickle.loads(pickle.dumps(part)) == part  # commit messages travel from executors

    result = itf.commit(obj, [part], spec)
    assert (result.rows_written, result.files_added) == (4, 3)
    assert uploads(s3_client, s3_bucket) == []
    keys = s3_keys(s3_client, s3_bucket)
    assert len(keys) == 3 and not [k for k in keys if STAGING in k]
    back = DataAccessObject(catalog).read("silver.events", engine="arrow")
    assert sorted(back["id"].to_pylist()) == [1, 2, 3, 4]


def test_abort_leaves_nothing(catalog, s3_client, s3_bucket):
    itf, obj, spec, part = stage(catalog, "silver.events", TABLE, "b" * 32)
    assert len(uploads(s3_client, s3_bucket)) == 3
    itf.abort(obj, [part], spec)
    assert uploads(s3_client, s3_bucket) == [] and s3_keys(s3_client, s3_bucket) == []


def test_commit_aborts_uploads_of_attempts_it_was_not_told_about(catalog, s3_client, s3_bucket):
    job = "c" * 32
    itf, obj, spec, _lost = stage(catalog, "silver.flat", TABLE, job)  # a failed attempt's file
    _, _, _, kept = stage(catalog, "silver.flat", TABLE.slice(0, 2), job)  # the successful attempt
    assert len(uploads(s3_client, s3_bucket)) == 2
    result = itf.commit(obj, [kept], spec)
    assert result.rows_written == 2 and uploads(s3_client, s3_bucket) == []
    assert sorted(DataAccessObject(catalog).read("silver.flat", engine="arrow")["id"].to_pylist()) == [1, 2]


def test_failed_completion_rolls_back_and_keeps_the_previous_data(catalog, s3_client, s3_bucket):
    dao = DataAccessObject(catalog)
    dao.write(TABLE, "silver.flat", mode="overwrite")
    before = s3_keys(s3_client, s3_bucket)
    job = "d" * 32
    itf, obj, spec, first = stage(catalog, "silver.flat", TABLE, job)
    _, _, _, second = stage(catalog, "silver.flat", TABLE, job)
    bad = second.files[0]
    s3_client.abort_multipart_upload(Bucket=s3_bucket, Key=f"lake/flat/{bad.path}", UploadId=bad.upload.upload_id)
    with pytest.raises(DaoError) as err:
        itf.commit(obj, [first, second], spec)
    msg = str(err.value)
    assert "silver.flat" in msg and "previous data is unchanged" in msg and s3_bucket in msg
    assert s3_keys(s3_client, s3_bucket) == before
    assert uploads(s3_client, s3_bucket) == []
    assert sorted(dao.read("silver.flat", engine="arrow")["id"].to_pylist()) == [1, 2, 3, 4]


def test_big_file_is_uploaded_in_parts_and_reads_back(catalog, s3_client, s3_bucket):
    rng = np.random.default_rng(7)
    n = 1_500_000  # ~19 MB (incompressible doubles): three parts of 8 MB or less
    table = pa.table({"id": np.arange(n), "x": rng.random(n)})
    itf, obj, spec, part = stage(catalog, "silver.flat", table, "e" * 32)
    (staged,) = part.files
    assert staged.size > 2 * _s3.STAGE_PART_SIZE
    assert len(staged.upload.parts) == -(-staged.size // _s3.STAGE_PART_SIZE)  # ceil: full parts + the rest
    itf.commit(obj, [part], spec)
    head = s3_client.head_object(Bucket=s3_bucket, Key=f"lake/flat/{staged.path}")
    assert head["ContentLength"] == staged.size
    back = DataAccessObject(catalog).read("silver.flat", engine="arrow")
    assert back.num_rows == n and back["x"].to_numpy().sum() == pytest.approx(table["x"].to_numpy().sum())


def test_a_part_failing_mid_task_aborts_the_task_uploads(catalog, s3_client, s3_bucket, monkeypatch):
    real = _s3.MultipartStaging.upload_part
    calls = []

    def flaky(self, bucket, key, upload_id, number, body):
        calls.append(key)
        if len(calls) == 2:
            raise _s3.s3_error(self.store, "staging 'silver.events' (store 'silver')", bucket, key,
                               RuntimeError("injected part failure"))
        return real(self, bucket, key, upload_id, number, body)

    monkeypatch.setattr(_s3.MultipartStaging, "upload_part", flaky)
    with pytest.raises(DaoError, match="injected part failure") as err:
        DataAccessObject(catalog).write(TABLE, "silver.events", mode="overwrite")
    assert "silver.events" in str(err.value) and s3_bucket in str(err.value)
    assert uploads(s3_client, s3_bucket) == [] and s3_keys(s3_client, s3_bucket) == []


def test_ignore_mode_with_existing_data_aborts_its_uploads(catalog, s3_client, s3_bucket):
    dao = DataAccessObject(catalog)
    dao.write(TABLE, "silver.flat", mode="overwrite")
    before = s3_keys(s3_client, s3_bucket)
    result = dao.write(TABLE.slice(0, 1), "silver.flat", mode="ignore")
    assert result.skipped and s3_keys(s3_client, s3_bucket) == before and uploads(s3_client, s3_bucket) == []


def test_copy_commit_still_available_and_bad_value_is_clear(catalog, s3_client, s3_bucket):
    itf, obj, spec, part = stage(catalog, "silver.flat", TABLE, "f" * 32, s3_commit="copy")
    assert spec.options["s3_commit"] == "copy" and part.files[0].upload is None
    assert uploads(s3_client, s3_bucket) == []
    assert [k for k in s3_keys(s3_client, s3_bucket) if f"/{STAGING}/" in k]  # staged under the hidden folder
    itf.commit(obj, [part], spec)
    assert not [k for k in s3_keys(s3_client, s3_bucket) if STAGING in k]
    assert DataAccessObject(catalog).read("silver.flat", engine="arrow").num_rows == 4
    with pytest.raises(DaoError, match=r"s3_commit='multipar' is not valid.*multipart"):
        DataAccessObject(catalog).write(TABLE, "silver.flat", mode="overwrite", options={"s3_commit": "multipar"})


def test_store_level_s3_commit_and_local_stores_ignore_it(s3_server, s3_bucket, tmp_path):
    cat = Catalog.load({"stores": {
        "s3": {"interface": "files", "bucket": s3_bucket, "endpoint_url": s3_server, "s3_commit": "copy"},
        "local": {"interface": "files", "path": str(tmp_path), "s3_commit": "multipart"},
    }})
    for name, want in (("s3.t", "copy"), ("local.t", "")):
        obj = cat.get(name)
        spec = get_interface(obj.store).prepare_write(obj, TABLE.schema, {})
        assert spec.options["s3_commit"] == want


def test_upsert_on_s3_completes_its_rewrites(catalog, s3_client, s3_bucket):
    dao = DataAccessObject(catalog)
    dao.write(TABLE, "silver.events", mode="overwrite")
    r = dao.upsert(pa.table({"id": [2, 9], "country": ["FR", "DE"], "amount": [20.0, 9.0]}), "silver.events",
                   keys=["id"])
    assert (r.rows_updated, r.rows_inserted) == (1, 1)
    assert uploads(s3_client, s3_bucket) == [] and not [k for k in s3_keys(s3_client, s3_bucket) if STAGING in k]
    got = dict(zip(*dao.read("silver.events", engine="arrow").select(["id", "amount"]).to_pydict().values(),
                   strict=True))
    assert got == {1: 1.0, 2: 20.0, 3: 3.0, 4: 4.0, 9: 9.0}


def test_staged_part_without_files_commits_nothing(catalog, s3_client, s3_bucket):
    obj = catalog.get("silver.flat")
    itf = get_interface(obj.store)
    spec = itf.prepare_write(obj, TABLE.schema, {"mode": "append"})
    result = itf.commit(obj, [StagedPart(job_id="g" * 32)], spec)
    assert result.rows_written == 0 and uploads(s3_client, s3_bucket) == []


def test_without_boto3_writes_fall_back_to_copy_and_explicit_multipart_names_the_extra(
        catalog, s3_client, s3_bucket, monkeypatch):
    import importlib.util
    import sys

    from spark_dao import BackendNotInstalled

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "boto3" else real_find_spec(name, *a))
    obj = catalog.get("silver.flat")
    itf = get_interface(obj.store)
    assert itf.prepare_write(obj, TABLE.schema, {"mode": "overwrite"}).options["s3_commit"] == "copy"
    DataAccessObject(catalog).write(TABLE, "silver.flat", mode="overwrite")  # pyarrow alone
    assert DataAccessObject(catalog).read("silver.flat", engine="arrow").num_rows == 4
    assert not [k for k in s3_keys(s3_client, s3_bucket) if STAGING in k]

    monkeypatch.setitem(sys.modules, "boto3", None)  # "import boto3" now fails
    with pytest.raises(BackendNotInstalled, match=r"spark-dao\[s3\]"):
        itf.prepare_write(obj, TABLE.schema, {"mode": "overwrite", "s3_commit": "multipart"})


def test_object_that_is_a_single_s3_file_reads_back(s3_server, s3_bucket, s3_client):
    import io

    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(TABLE, buf)
    s3_client.put_object(Bucket=s3_bucket, Key="lake/one.parquet", Body=buf.getvalue())
    cat = Catalog.load({
        "stores": {"s": {"interface": "files", "bucket": s3_bucket, "prefix": "lake", "endpoint_url": s3_server}},
        "objects": {"s.one": {"path": "one.parquet"}, "s.none": {}},
    })
    dao = DataAccessObject(cat)
    assert dao.read("s.one", engine="arrow").equals(TABLE)
    assert dao.exists("s.one") and not dao.exists("s.none")
