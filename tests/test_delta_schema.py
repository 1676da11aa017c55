"""Schema changes on the Delta store's Python path, each in one commit: ``overwriteSchema=true``
(overwrite: the data's schema replaces the table's) and ``mergeSchema=true`` (the data's new columns
join the table's schema; columns the data lacks are written as nulls), with deltalake as the
independent reader, and their failures: a type change, a table feature the commit cannot honour,
a concurrent commit (retried, or a WriteConflict)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from spark_dao import DaoError, DataAccessObject, SchemaMismatch, WriteConflict
from spark_dao.catalog import Catalog
from spark_dao.interfaces import get_interface


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def catalog(lake: Path) -> Catalog:
    return Catalog.load({
        "stores": {"lake": {"interface": "delta", "path": str(lake)}},
        "objects": {"lake.t": {"keys": ["id"]}, "lake.p": {"partition_by": ["k"], "keys": ["id", "k"]}},
    })


@pytest.fixture
def dao(catalog: Catalog) -> DataAccessObject:
    return DataAccessObject(catalog)


def rows(path: Path, version: int | None = None) -> list[dict[str, Any]]:
    t = DeltaTable(str(path), version=version)
    return sorted(pa.table(t.to_pyarrow_table()).to_pylist(), key=lambda r: json.dumps(r, default=str, sort_keys=True))


def names(path: Path) -> list[str]:
    return list(pa.schema(DeltaTable(str(path)).schema().to_arrow()).names)


def parquet_files(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*.parquet"))


def test_overwrite_schema_replaces_the_schema_in_one_commit(dao: DataAccessObject, lake: Path) -> None:
    dao.write(pa.table({"id": [1, 2], "name": ["a", "b"]}), "lake.t", engine="arrow")
    # the types and columns change: without the option it is a SchemaMismatch naming both ways out
    new = pa.table({"id": ["x"], "score": [1.5]})
    with pytest.raises(SchemaMismatch, match=r"missing columns \['name'\]; new columns \['score'\]; changed types.*"
                                             r"mergeSchema=true.*overwriteSchema=true"):
        dao.write(new, "lake.t", engine="arrow", mode="overwrite")
    result = dao.write(new, "lake.t", engine="arrow", mode="overwrite", options={"overwriteSchema": "true"})
    assert "version 1" in result.location and result.files_removed == 1
    assert names(lake / "t") == ["id", "score"]
    assert rows(lake / "t") == [{"id": "x", "score": 1.5}]  # deltalake reads it (before: a corrupt table)
    assert rows(lake / "t", version=0) == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    assert dao.read("lake.t", engine="arrow").to_pylist() == [{"id": "x", "score": 1.5}]
    with pytest.raises(DaoError, match=r"overwriteSchema=true only applies to mode='overwrite'"):
        dao.write(new, "lake.t", engine="arrow", mode="append", options={"overwriteSchema": True})


def test_merge_schema_appends_new_columns_in_one_commit(dao: DataAccessObject, lake: Path) -> None:
    dao.write(pa.table({"id": [1], "name": ["a"]}), "lake.t", engine="arrow")
    result = dao.write(pa.table({"id": [2], "score": [7.5], "flag": [True]}), "lake.t", engine="arrow", mode="append",
                       options={"mergeSchema": "true", "userMetadata": "add score"})
    assert "version 1" in result.location and result.rows_written == 1
    table = DeltaTable(str(lake / "t"))
    assert table.version() == 1 and names(lake / "t") == ["id", "name", "score", "flag"]
    newest = table.history(1)[0]
    assert newest["operation"] == "WRITE" and newest["userMetadata"] == "add score"
    assert newest["operationParameters"]["mergeSchema"] == "true" and newest["readVersion"] == 0
    assert rows(lake / "t") == [{"id": 1, "name": "a", "score": None, "flag": None},
                                {"id": 2, "name": None, "score": 7.5, "flag": True}]
    assert rows(lake / "t", version=0) == [{"id": 1, "name": "a"}]  # time travel: the old schema
    assert sorted(dao.read("lake.t", engine="pandas")["id"]) == [1, 2]
    # the metadata kept everything but the schema
    assert DeltaTable(str(lake / "t"), version=0).metadata().id == table.metadata().id


def test_merge_schema_false_and_unset_keep_the_check(dao: DataAccessObject, lake: Path) -> None:
    dao.write(pa.table({"id": [1], "name": ["a"]}), "lake.t", engine="arrow")
    for options in ({"mergeSchema": "false"}, {}):
        with pytest.raises(SchemaMismatch, match=r"new columns \['score'\]"):
            dao.write(pa.table({"id": [2], "name": ["b"], "score": [1.0]}), "lake.t", engine="arrow", mode="append",
                      options=options)
    with pytest.raises(DaoError, match=r"(?i)mergeSchema='maybe' is not valid"):
        dao.write(pa.table({"id": [2], "name": ["b"]}), "lake.t", engine="arrow", mode="append",
                  options={"mergeSchema": "maybe"})
    assert DeltaTable(str(lake / "t")).version() == 0


@pytest.mark.parametrize("mode", ["append", "dynamic", "overwrite"])
def test_merge_schema_on_a_partitioned_table_in_each_mode(dao: DataAccessObject, lake: Path, mode: str) -> None:
    dao.write(pa.table({"id": [1, 2], "k": ["x", "y"]}), "lake.p", engine="arrow")
    dao.write(pa.table({"id": [3], "k": ["x"], "z": [True]}), "lake.p", engine="arrow", mode=mode,
              options={"mergeSchema": True})
    assert DeltaTable(str(lake / "p")).version() == 1
    assert names(lake / "p") == ["id", "k", "z"]
    expected = {
        "append": [(1, "x", None), (2, "y", None), (3, "x", True)],
        "dynamic": [(2, "y", None), (3, "x", True)],  # only partition x replaced
        "overwrite": [(3, "x", True)],
    }[mode]
    assert sorted(tuple(r.values()) for r in rows(lake / "p")) == expected


def test_merge_schema_fills_missing_columns_with_nulls(dao: DataAccessObject, lake: Path) -> None:
    dao.write(pa.table({"id": [1], "name": ["a"], "score": [1.0]}), "lake.t", engine="arrow")
    dao.write(pa.table({"id": [2], "extra": ["e"]}), "lake.t", engine="arrow", mode="append",
              options={"mergeSchema": True})
    assert sorted(rows(lake / "t"), key=lambda r: r["id"]) == [{"id": 1, "name": "a", "score": 1.0, "extra": None},
                                                               {"id": 2, "name": None, "score": None, "extra": "e"}]
    # no new column: an ordinary commit, the missing column written as nulls
    dao.write(pa.table({"id": [3]}), "lake.t", engine="arrow", mode="append", options={"mergeSchema": True})
    assert DeltaTable(str(lake / "t")).history(1)[0]["operationParameters"].get("mergeSchema") is None
    assert len(rows(lake / "t")) == 3


def test_merge_schema_refuses_type_changes_before_writing(dao: DataAccessObject, lake: Path) -> None:
    dao.write(pa.table({"id": [1], "name": ["a"]}), "lake.t", engine="arrow")
    before = parquet_files(lake / "t")
    with pytest.raises(SchemaMismatch, match=r"writing 'lake.t' \(store 'lake', Delta version 0\).*changed types "
                                             r"\['name \(double -> stored string\)'\].*overwriteSchema=true"):
        dao.write(pa.table({"id": [2], "name": [1.5], "new": [1]}), "lake.t", engine="arrow", mode="append",
                  options={"mergeSchema": True})
    assert DeltaTable(str(lake / "t")).version() == 0 and parquet_files(lake / "t") == before


def test_merge_schema_refuses_a_table_feature_it_cannot_honour(dao: DataAccessObject, lake: Path) -> None:
    write_deltalake(str(lake / "t"), pa.table({"id": [1], "name": ["a"]}))
    DeltaTable(str(lake / "t")).alter.add_constraint({"positive_id": "id > 0"})
    before = parquet_files(lake / "t")
    with pytest.raises(DaoError, match=r"'lake.t' \(store 'lake'\): mergeSchema cannot change the schema.*"
                                       r"delta.constraints.positive_id.*ALTER TABLE"):
        dao.write(pa.table({"id": [2], "name": ["b"], "score": [1.0]}), "lake.t", engine="arrow", mode="append",
                  options={"mergeSchema": True})
    assert DeltaTable(str(lake / "t")).version() == 1 and parquet_files(lake / "t") == before
    # an append without a new column stays possible
    dao.write(pa.table({"id": [2], "name": ["b"]}), "lake.t", engine="arrow", mode="append")
    assert len(rows(lake / "t")) == 2


def test_a_concurrent_commit_is_retried_or_a_write_conflict(catalog: Catalog, dao: DataAccessObject, lake: Path) -> None:
    dao.write(pa.table({"id": [1], "name": ["a"]}), "lake.t", engine="arrow")
    obj = catalog.get("lake.t")
    itf = get_interface(obj.store)
    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("score", pa.float64())])
    data = pa.table({"id": [5], "name": ["x"], "score": [2.5]})
    # max_retries=0: the version is taken meanwhile -> WriteConflict, staged files removed, nothing committed
    spec = itf.prepare_write(obj, schema, {"mode": "append", "mergeSchema": True, "max_retries": 0})
    part = itf.stage(obj, data.to_batches(), spec, "job-slow")
    assert all((lake / "t" / f.path).exists() for f in part.files)  # staged into the table folder
    dao.write(pa.table({"id": [2], "name": ["b"]}), "lake.t", engine="arrow", mode="append")  # takes version 1
    with pytest.raises(WriteConflict, match=r"conflicts with this append after 0 retries"):
        itf.commit(obj, [part], spec)
    assert DeltaTable(str(lake / "t")).version() == 1 and names(lake / "t") == ["id", "name"]
    assert not any((lake / "t" / f.path).exists() for f in part.files)
    assert not list((lake / "t" / "_delta_log").glob(".*.tmp"))
    # by default it is retried on the new version: both land, the schema merged once
    spec = itf.prepare_write(obj, schema, {"mode": "append", "mergeSchema": True})
    part = itf.stage(obj, data.to_batches(), spec, "job-retry")
    dao.write(pa.table({"id": [3], "name": ["c"]}), "lake.t", engine="arrow", mode="append")  # version 2
    result = itf.commit(obj, [part], spec)
    assert "version 3" in result.location
    assert [r["id"] for r in rows(lake / "t")] == [1, 2, 3, 5] and names(lake / "t") == ["id", "name", "score"]
    # a concurrent commit that added the same column with another type: a SchemaMismatch, nothing committed
    spec = itf.prepare_write(obj, pa.schema([("id", pa.int64()), ("tag", pa.string())]),
                             {"mode": "append", "mergeSchema": True})
    part = itf.stage(obj, pa.table({"id": [6], "tag": ["t"]}).to_batches(), spec, "job-clash")
    dao.write(pa.table({"id": [7], "tag": [1]}), "lake.t", engine="arrow", mode="append", options={"mergeSchema": True})
    with pytest.raises(SchemaMismatch, match=r"after a concurrent commit.*tag \(string -> stored int64\)"):
        itf.commit(obj, [part], spec)
    assert DeltaTable(str(lake / "t")).version() == 4


def test_an_upsert_with_merge_schema_adds_the_columns(dao: DataAccessObject, lake: Path) -> None:
    dao.write(pa.table({"id": [1, 2], "name": ["a", "b"]}), "lake.t", engine="arrow")
    with pytest.raises(SchemaMismatch, match=r"new columns \['score'\]"):
        dao.upsert(pa.table({"id": [2, 3], "name": ["B", "c"], "score": [1.0, 2.0]}), "lake.t", engine="pandas")
    result = dao.upsert(pa.table({"id": [2, 3], "name": ["B", "c"], "score": [1.0, 2.0]}), "lake.t", engine="pandas",
                        options={"mergeSchema": True})
    assert (result.rows_inserted, result.rows_updated) == (1, 1)
    assert rows(lake / "t") == [{"id": 1, "name": "a", "score": None}, {"id": 2, "name": "B", "score": 1.0},
                                {"id": 3, "name": "c", "score": 2.0}]
    assert DeltaTable(str(lake / "t")).version() == 1


def test_merge_schema_on_a_writer_v7_table_that_lists_unused_features(dao: DataAccessObject, lake: Path) -> None:
    # deltalake (and delta-spark) list features such as invariants on every writer-v7 table
    write_deltalake(str(lake / "t"), pa.table({"id": [1], "name": ["a"]}),
                    configuration={"delta.enableDeletionVectors": "true"})
    protocol = DeltaTable(str(lake / "t")).protocol()
    assert protocol.min_writer_version == 7 and "invariants" in (protocol.writer_features or [])
    dao.write(pa.table({"id": [2], "name": ["b"], "score": [1.0]}), "lake.t", engine="arrow", mode="append",
              options={"mergeSchema": True})
    assert names(lake / "t") == ["id", "name", "score"]
    assert sorted(dao.read("lake.t", engine="pandas")["id"]) == [1, 2]
