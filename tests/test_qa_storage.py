"""QA storage defects: unreadable write locks, missing buckets, a store path that is a file, and
symlinks leading out of a local store during listing. Local folders and S3 (moto)."""

from __future__ import annotations

import logging
import os
import shlex
import time
from pathlib import Path

import pyarrow as pa
import pytest

from spark_dao import DaoError, DataAccessObject, WriteConflict

ROWS = {"id": [1, 2, 3], "v": ["a", "b", "c"]}


def files_dao(root: Path) -> DataAccessObject:
    return DataAccessObject({"stores": {"s": {"interface": "files", "path": str(root)}},
                             "objects": {"s.t": {"keys": ["id"]}}})


def s3_store(endpoint: str, bucket: str, interface: str = "files") -> dict:
    return {"interface": interface, "bucket": bucket, "prefix": "p", "endpoint_url": endpoint,
            "region": "us-east-1", "access_key": "testing", "secret_key": "testing"}


def ids(dao: DataAccessObject, name: str = "s.t") -> list[int]:
    return sorted(dao.read(name, engine="arrow")["id"].to_pylist())


# --------------------------------------------------------------------------- 1. unreadable lock
@pytest.mark.parametrize("op", ["overwrite", "upsert"])
def test_dangling_symlink_lock_times_out_instead_of_spinning(tmp_path, op):
    root = tmp_path / "s"
    dao = files_dao(root)
    dao.write(pa.table(ROWS), "s.t", mode="overwrite")
    lock = root / "_dao_lock.t"
    os.symlink("/nonexistent/x", lock)
    t0 = time.monotonic()
    with pytest.raises(WriteConflict) as err:
        if op == "overwrite":
            dao.write(pa.table({"id": [9], "v": ["z"]}), "s.t", mode="overwrite", options={"lock_timeout": 1})
        else:
            dao.upsert(pa.table({"id": [9], "v": ["z"]}), "s.t", keys=["id"], options={"lock_timeout": 1})
    waited = time.monotonic() - t0
    assert 1.0 <= waited < 6, waited
    msg = str(err.value)
    assert "object 's.t' (store 's')" in msg
    assert f"the lock {lock} is unreadable (a symbolic link to the missing /nonexistent/x)" in msg
    assert msg.endswith(f"remove it: rm {shlex.quote(str(lock))}")
    assert "lock_timeout=1" in msg and "nothing was written" in msg
    # nothing written, no temp files left next to the lock, the foreign entry untouched
    assert ids(dao) == [1, 2, 3]
    assert sorted(p.name for p in root.iterdir() if p.name.startswith("_dao_lock")) == ["_dao_lock.t"]
    assert os.path.islink(lock)
    # removing it as the message says makes the write go through
    os.unlink(lock)
    dao.write(pa.table({"id": [9], "v": ["z"]}), "s.t", mode="overwrite", options={"lock_timeout": 1})
    assert ids(dao) == [9]


def test_lock_vanishing_between_link_and_read_does_not_spin(tmp_path, monkeypatch):
    """create fails (the name exists), then every read finds nothing: must still honour lock_timeout."""
    from spark_dao.interfaces import _lock

    root = tmp_path / "s"
    dao = files_dao(root)
    dao.write(pa.table(ROWS), "s.t", mode="overwrite")
    creates = []
    monkeypatch.setattr(_lock._LocalBackend, "create", lambda self, data: creates.append(1))
    monkeypatch.setattr(_lock._LocalBackend, "read", lambda self: None)
    t0 = time.monotonic()
    with pytest.raises(WriteConflict) as err:
        dao.write(pa.table({"id": [9], "v": ["z"]}), "s.t", mode="overwrite", options={"lock_timeout": 1})
    assert 1.0 <= time.monotonic() - t0 < 6
    assert "object 's.t' (store 's')" in str(err.value) and "lock_timeout=1" in str(err.value)
    assert len(creates) < 200  # backed off, not a busy loop (was hundreds of thousands)
    assert ids(dao) == [1, 2, 3]


def test_garbled_local_lock_times_out_then_is_taken_over_after_a_lease(tmp_path):
    root = tmp_path / "s"
    dao = files_dao(root)
    dao.write(pa.table(ROWS), "s.t", mode="overwrite")
    lock = root / "_dao_lock.t"
    lock.write_bytes(b"{not json")
    with pytest.raises(WriteConflict) as err:
        dao.write(pa.table({"id": [9], "v": ["z"]}), "s.t", mode="overwrite",
                  options={"lock_timeout": 0.5, "lock_lease": 60})
    assert f"the lock {lock} is unreadable (not a spark_dao lock, or damaged)" in str(err.value)
    assert ids(dao) == [1, 2, 3]
    # unchanged for a whole lease: taken over like an expired one
    dao.write(pa.table({"id": [9], "v": ["z"]}), "s.t", mode="overwrite",
              options={"lock_timeout": 5, "lock_lease": 0.5})
    assert ids(dao) == [9]
    assert not lock.exists()


def test_garbled_s3_lock_times_out_with_clear_message(s3_server, s3_bucket, s3_client):
    dao = DataAccessObject({"stores": {"s": s3_store(s3_server, s3_bucket)}, "objects": {"s.t": {"keys": ["id"]}}})
    dao.write(pa.table(ROWS), "s.t", mode="overwrite")
    s3_client.put_object(Bucket=s3_bucket, Key="p/_dao_lock.t", Body=b"garbage{")
    t0 = time.monotonic()
    with pytest.raises(WriteConflict) as err:
        dao.upsert(pa.table({"id": [9], "v": ["z"]}), "s.t", keys=["id"], options={"lock_timeout": 1})
    assert 1.0 <= time.monotonic() - t0 < 8
    msg = str(err.value)
    loc = f"s3://{s3_bucket}/p/_dao_lock.t"
    assert "object 's.t' (store 's')" in msg
    assert f"the lock {loc} is unreadable (not a spark_dao lock, or damaged)" in msg
    assert f"remove it: aws s3 rm {loc}" in msg
    assert "testing" not in msg
    assert ids(dao) == [1, 2, 3]
    assert s3_client.get_object(Bucket=s3_bucket, Key="p/_dao_lock.t")["Body"].read() == b"garbage{"


# --------------------------------------------------------------------------- 2. lock in a missing bucket
def test_s3_lock_in_missing_bucket_names_object_and_store(s3_server):
    dao = DataAccessObject({"stores": {"s": s3_store(s3_server, "nobucket")}, "objects": {"s.t": {"keys": ["id"]}}})
    with pytest.raises(DaoError) as err:
        dao.upsert(pa.table(ROWS), "s.t", keys=["id"])
    msg = str(err.value)
    assert type(err.value) is DaoError
    # the write's first S3 call (the job's live marker, then the lock) names the object, store and bucket
    assert msg.startswith("writing the live marker of a write to 's.t' (store 's'), bucket 'nobucket', key "
                          "'p/t/_dao_staging/"), msg
    assert "failed: bucket 'nobucket' does not exist at http" in msg and "create it or fix 'bucket'" in msg


# --------------------------------------------------------------------------- 3. nothing there vs broken store
def test_files_delete_in_missing_bucket_raises(s3_server):
    dao = DataAccessObject({"stores": {"s": s3_store(s3_server, "nobucket")}, "objects": {"s.t": {}}})
    with pytest.raises(DaoError) as err:
        dao.delete("s.t")
    assert type(err.value) is DaoError
    assert str(err.value).startswith(
        "deleting 's.t' (store 's'), bucket 'nobucket', key 'p/t' failed: bucket 'nobucket' does not exist"
    ), str(err.value)


def test_files_delete_of_missing_object_in_existing_bucket_is_false(s3_server, s3_bucket):
    dao = DataAccessObject({"stores": {"s": s3_store(s3_server, s3_bucket)}, "objects": {"s.t": {}}})
    assert dao.delete("s.t") is False


def test_objects_delete_in_missing_bucket_raises(s3_server):
    dao = DataAccessObject({"stores": {"o": s3_store(s3_server, "nobucket", "objects")}, "objects": {"o.t": {}}})
    for call in (lambda: dao.delete("o.t"), lambda: dao.list_files("o.t")):
        with pytest.raises(DaoError, match=r"object 'o.t' \(store 'o'\), bucket 'nobucket', key 'p/t/' failed: "
                                            r"bucket 'nobucket' does not exist"):
            call()


def test_store_path_that_is_a_file_raises_for_list_delete_exists(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    dao = DataAccessObject({"stores": {"f": {"interface": "objects", "path": str(f)},
                                       "g": {"interface": "files", "path": str(f)}},
                            "objects": {"f.o": {}, "g.o": {}}})
    expected = f"the store's path {f} is a regular file, not a folder"
    cases = [("listing object 'f.o'", lambda: dao.list_files("f.o")),
             ("listing object 'f.o'", lambda: dao.list_files("f.o", prefix="sub/x")),
             ("deleting object 'f.o'", lambda: dao.delete("f.o")),
             ("checking object 'f.o'", lambda: dao.exists("f.o")),
             ("deleting 'g.o'", lambda: dao.delete("g.o"))]
    for what, call in cases:
        with pytest.raises(DaoError) as err:
            call()
        assert type(err.value) is DaoError
        assert str(err.value).startswith(f"{what} (store '{what.split(chr(39))[1][0]}'): {expected}"), str(err.value)
    assert f.read_text() == "x"


def test_local_delete_and_list_of_missing_object_still_quiet(tmp_path):
    dao = DataAccessObject({"stores": {"f": {"interface": "objects", "path": str(tmp_path / "b")},
                                       "g": {"interface": "files", "path": str(tmp_path / "c")}},
                            "objects": {"f.o": {}, "g.o": {}}})
    assert dao.list_files("f.o") == [] and dao.delete("f.o") is False and dao.exists("f.o") is False
    assert dao.delete("g.o") is False


# --------------------------------------------------------------------------- 4. symlinks out of the store
@pytest.fixture
def linked(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret!")
    root = tmp_path / "b"
    (root / "real").mkdir(parents=True)
    (root / "real" / "ok.txt").write_bytes(b"ok")
    os.symlink(outside, root / "objlink")
    os.symlink(outside / "secret.txt", root / "real" / "leak.txt")
    os.symlink(outside, root / "real" / "leakdir")
    (root / "real" / "inner.txt").symlink_to(root / "real" / "ok.txt")  # stays inside: listed
    dao = DataAccessObject({"stores": {"b": {"interface": "objects", "path": str(root)}},
                            "objects": {"b.objlink": {}, "b.real": {}}})
    return dao, root, outside


def test_list_files_refuses_an_object_folder_that_leads_out(linked):
    dao, root, outside = linked
    for call in (lambda: dao.list_files("b.objlink"), lambda: dao.exists("b.objlink")):
        with pytest.raises(DaoError) as err:
            call()
        assert type(err.value) is DaoError
        msg = str(err.value)
        assert f"(store 'b'): {root / 'objlink'} resolves to {outside}, outside the store's folder {root}" in msg
        assert "secret" not in msg
    assert (outside / "secret.txt").read_bytes() == b"secret!"


def test_list_files_skips_entries_that_lead_out(linked, caplog):
    dao, root, outside = linked
    with caplog.at_level(logging.WARNING, logger="spark_dao.objects"):
        infos = dao.list_files("b.real")
    assert [(i.key, i.size) for i in infos] == [("inner.txt", 2), ("ok.txt", 2)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"listing object 'b.real' (store 'b'): skipped {root / 'real' / 'leak.txt'}: it resolves "
                        f"to {outside / 'secret.txt'}, outside the store's folder {root} (a symbolic link leads "
                        "out of it)"], warnings
    assert dao.list_files("b.real", prefix="leak") == []
    assert dao.exists("b.real") is True


def test_exists_ignores_entries_that_lead_out(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret!")
    root = tmp_path / "b"
    (root / "only").mkdir(parents=True)
    os.symlink(outside / "secret.txt", root / "only" / "leak.txt")
    dao = DataAccessObject({"stores": {"b": {"interface": "objects", "path": str(root)}}, "objects": {"b.only": {}}})
    assert dao.exists("b.only") is False
    assert dao.list_files("b.only") == []

