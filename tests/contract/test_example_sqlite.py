"""What only the SQLite example backend promises (the contract itself is tested for every kind):
library errors through BaseInterface's boundary, its column types, concurrent tasks."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from spark_dao import DaoError, DataAccessObject, SchemaMismatch
from spark_dao.interfaces import get_interface

from ._contract import A


def _dao(db: Path) -> DataAccessObject:
    return DataAccessObject({
        "stores": {"lite": {"interface": "examples.backends.sqlite_store:SQLiteInterface",
                            "default_configs": {"path": str(db)}}},
        "objects": {"lite.t": {"keys": ["id"]}},
    })


def test_a_database_that_cannot_be_opened_is_a_dao_error_naming_object_and_store(tmp_path):
    dao = _dao(tmp_path / "no-such-folder" / "lake.db")
    with pytest.raises(DaoError) as err:
        dao.write(A, "lite.t", mode="overwrite", engine="pandas")
    msg = str(err.value)
    assert "'lite.t'" in msg and "store 'lite'" in msg and "unable to open database" in msg, msg
    assert isinstance(err.value.__cause__, Exception)  # chained to sqlite3's error


def test_a_column_type_it_does_not_store_is_refused_before_any_task(tmp_path):
    dao = _dao(tmp_path / "lake.db")
    data = pa.table({"id": [1], "at": pa.array([0], pa.timestamp("us"))})
    with pytest.raises(SchemaMismatch, match=r"'lite\.t'.*column 'at' has type timestamp"):
        dao.write(data, "lite.t", mode="overwrite", engine="pandas")
    assert not dao.exists("lite.t")


def test_tasks_staging_concurrently_all_land_once(tmp_path):
    dao = _dao(tmp_path / "lake.db")
    itf, obj = get_interface(dao.catalog.store("lite")), dao.catalog.get("lite.t")
    spec = itf.prepare_write(obj, A.schema, {"mode": "overwrite"})
    job_id, parts, errors = uuid.uuid4().hex, [], []

    def task(i: int) -> None:
        rows = pa.table({n: (A[n] if n != "id" else pa.array([i * 10 + k for k in range(3)])) for n in A.schema.names})
        try:
            parts.append(get_interface(dao.catalog.store("lite")).stage(obj, rows.cast(A.schema).to_batches(),
                                                                        spec, job_id))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=task, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    itf.commit(obj, parts, spec)
    got = dao.read("lite.t", engine="arrow")
    assert sorted(got["id"].to_pylist()) == sorted(i * 10 + k for i in range(6) for k in range(3))
    assert got.num_rows == 18 and sorted(got["s"].to_pylist(), key=str) == sorted(A["s"].to_pylist() * 6, key=str)
