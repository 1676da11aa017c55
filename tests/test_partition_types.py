"""Partition columns keep the type they were written with, also where the folder names alone would
read as another type: a string column of zip codes ("001") read back as int64 (leading zeros lost,
appends and upserts of strings refused as a schema change), a decimal one as double. The commit
records the written schema in the hidden sidecar (``_dao_schema.json``) only then; reads, the append
check and upserts take the partition types from it. No catalog ``schema:`` in these objects."""

from __future__ import annotations

import decimal
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from spark_dao import DataAccessObject, SchemaMismatch

SIDECAR = "_dao_schema.json"


def make_dao(root: Path, spark: Any = None) -> DataAccessObject:
    return DataAccessObject({"stores": {"lake": {"interface": "files", "path": str(root)}},
                             "objects": {"lake.z": {"partition_by": ["zip"], "keys": ["id"]},
                                         "lake.m": {"partition_by": ["amt"], "keys": ["id"]}}}, spark=spark)


def rows(dao: DataAccessObject, name: str) -> list[dict]:
    return sorted(dao.read(name, engine="arrow").to_pylist(), key=lambda r: r["id"])


ZIPS = pa.table({"id": pa.array([1, 2], pa.int64()), "zip": ["001", "010"]})


def test_string_partition_values_that_look_like_numbers_stay_strings(tmp_path: Path) -> None:
    dao = make_dao(tmp_path)
    dao.write(ZIPS, "lake.z", mode="overwrite", engine="arrow")
    assert (tmp_path / "z" / SIDECAR).exists()
    got = dao.read("lake.z", engine="arrow")
    assert got.schema.field("zip").type == pa.string()
    assert rows(dao, "lake.z") == [{"id": 1, "zip": "001"}, {"id": 2, "zip": "010"}]
    assert dao.read("lake.z", engine="pandas", filters=[("zip", "=", "001")])["id"].tolist() == [1]
    # appends and upserts of strings fit the stored schema (they were a SchemaMismatch: int64)
    dao.write(pa.table({"id": pa.array([3], pa.int64()), "zip": ["002"]}), "lake.z", mode="append", engine="arrow")
    res = dao.upsert(pa.table({"id": pa.array([1, 4], pa.int64()), "zip": ["001", "100"]}), "lake.z", engine="arrow")
    assert (res.rows_updated, res.rows_inserted) == (1, 1)
    assert [r["zip"] for r in rows(dao, "lake.z")] == ["001", "010", "002", "100"]
    # ... and an int column appended to it is the schema change it is
    with pytest.raises(SchemaMismatch, match=r"zip \(int64 -> stored string\)"):
        dao.write(pa.table({"id": pa.array([5], pa.int64()), "zip": pa.array([7], pa.int64())}), "lake.z",
                  mode="append", engine="arrow")


def test_decimal_partition_values_stay_decimal_and_take_upserts(tmp_path: Path) -> None:
    dao = make_dao(tmp_path)
    amounts = pa.array([decimal.Decimal("1.50"), decimal.Decimal("2.00")], pa.decimal128(10, 2))
    dao.write(pa.table({"id": pa.array([1, 2], pa.int64()), "amt": amounts}), "lake.m", mode="overwrite", engine="arrow")
    assert dao.read("lake.m", engine="arrow").schema.field("amt").type == pa.decimal128(10, 2)
    res = dao.upsert(pa.table({"id": pa.array([2], pa.int64()), "amt": amounts.slice(1)}), "lake.m", engine="arrow")
    assert res.rows_updated == 1
    assert [r["amt"] for r in rows(dao, "lake.m")] == [decimal.Decimal("1.50"), decimal.Decimal("2.00")]


def test_only_misread_types_write_the_sidecar_and_an_overwrite_drops_a_stale_one(tmp_path: Path) -> None:
    dao = make_dao(tmp_path)
    ints = pa.table({"id": pa.array([1, 2], pa.int64()), "zip": pa.array([1, 10], pa.int32())})
    dao.write(ints, "lake.z", mode="overwrite", engine="arrow")
    assert not (tmp_path / "z" / SIDECAR).exists()  # int32 folders read back as int64: same values
    dao.write(ZIPS, "lake.z", mode="overwrite", engine="arrow")
    assert (tmp_path / "z" / SIDECAR).exists()
    dao.write(ints, "lake.z", mode="overwrite", engine="arrow")
    assert not (tmp_path / "z" / SIDECAR).exists()
    assert rows(dao, "lake.z") == [{"id": 1, "zip": 1}, {"id": 2, "zip": 10}]


def test_a_folder_the_recorded_type_cannot_read_falls_back_to_inference(tmp_path: Path) -> None:
    """Files another writer added under a value the recorded type cannot hold: the folder names decide."""
    dao = make_dao(tmp_path)
    amounts = pa.array([decimal.Decimal("1.50")], pa.decimal128(10, 2))
    dao.write(pa.table({"id": pa.array([1], pa.int64()), "amt": amounts}), "lake.m", mode="overwrite", engine="arrow")
    other = tmp_path / "m" / "amt=n-a"
    other.mkdir()
    shutil.copy(next((tmp_path / "m" / "amt=1.50").glob("*.parquet")), other / "x.parquet")
    got = dao.read("lake.m", engine="arrow")
    assert got.schema.field("amt").type == pa.string()
    assert sorted(got.column("amt").to_pylist()) == ["1.50", "n-a"]


@pytest.mark.parametrize("path", ["python", "native"])
def test_spark_writes_and_reads_keep_string_partitions(spark: Any, tmp_path: Path, path: str) -> None:
    dao = make_dao(tmp_path, spark)
    df = spark.createDataFrame([(1, "001"), (2, "010")], "id long, zip string")
    dao.write(df, "lake.z", mode="overwrite", options={"engine_path": path})
    assert (tmp_path / "z" / SIDECAR).exists()
    for read_path in ("python", "native"):
        back = dao.read("lake.z", engine="spark", options={"engine_path": read_path})
        assert dict(back.dtypes)["zip"] == "string"
        assert sorted(map(tuple, back.collect())) == [(1, "001"), (2, "010")]
    dao.upsert(spark.createDataFrame([(2, "010"), (3, "003")], "id long, zip string"), "lake.z",
               options={"engine_path": path})
    assert [r["zip"] for r in rows(dao, "lake.z")] == ["001", "010", "003"]


def test_readers_never_meet_a_half_written_sidecar(tmp_path: Path) -> None:
    """Every append of such values rewrites the sidecar; a read running meanwhile must never see a
    partial one (the local file is renamed into place)."""
    import threading

    dao = make_dao(tmp_path)
    dao.write(ZIPS, "lake.z", mode="overwrite", engine="arrow")
    done, errors, reads = threading.Event(), [], []

    def reader() -> None:
        while not done.is_set():
            try:
                t = dao.read("lake.z", engine="arrow")
                reads.append(t.schema.field("zip").type)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(30):
            dao.write(pa.table({"id": pa.array([10 + i], pa.int64()), "zip": [f"{i:03d}"]}), "lake.z",
                      mode="append", engine="arrow")
    finally:
        done.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    assert reads and set(reads) == {pa.string()}
    assert len(rows(dao, "lake.z")) == 32


def test_appends_and_upserts_leave_a_recorded_sidecar_as_it_is(tmp_path: Path) -> None:
    """The sidecar is written once: later appends and upserts matched it already (no request each)."""
    dao = make_dao(tmp_path)
    dao.write(ZIPS, "lake.z", mode="overwrite", engine="arrow")
    sidecar = tmp_path / "z" / SIDECAR
    inode = sidecar.stat().st_ino
    dao.write(pa.table({"id": pa.array([3], pa.int64()), "zip": ["002"]}), "lake.z", mode="append", engine="arrow")
    dao.upsert(pa.table({"id": pa.array([1], pa.int64()), "zip": ["001"]}), "lake.z", engine="arrow")
    assert sidecar.stat().st_ino == inode  # (a rewrite renames a new file over it)
    assert [r["zip"] for r in rows(dao, "lake.z")] == ["001", "010", "002"]
