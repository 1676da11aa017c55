"""Upserts into Delta tables: one MERGE commit with the semantics module's meaning (checked against
the same reference model as the files store), narrowed to the batch's partitions, retried on
conflicts, and leaving no version and no staging when anything fails."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from hypothesis import event, given, settings
from hypothesis import strategies as st
from test_upsert_properties import (
    PROPERTY,
    SCHEMA,
    call_options,
    canon,
    incoming_rows,
    model,
    options,
    row,
    stored_rows,
)

from spark_dao import DaoError, DataAccessObject, DuplicateKeys, SchemaMismatch, WriteConflict
from spark_dao.catalog import Catalog
from spark_dao.interfaces import get_interface
from spark_dao.interfaces._delta_merge import merge_predicate, sql_literal
from spark_dao.interfaces.upsert import UpsertOptions


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def catalog(lake: Path) -> Catalog:
    return Catalog.load(
        {
            "stores": {"lake": {"interface": "delta", "path": str(lake)}},
            "objects": {
                "lake.users": {"keys": ["id"], "order_by": "ts"},
                "lake.events": {"keys": ["country", "id"], "partition_by": ["country"]},
            },
        }
    )


@pytest.fixture
def dao(catalog: Catalog) -> DataAccessObject:
    return DataAccessObject(catalog)


def users(rows: list[tuple[int, str, int | None]]) -> pd.DataFrame:
    return pd.DataFrame({"id": [r[0] for r in rows], "name": [r[1] for r in rows],
                         "ts": pd.array([r[2] for r in rows], dtype="Int64")})


def rows_of(path: Path) -> list[tuple]:
    return sorted(tuple(r.values()) for r in pa.table(DeltaTable(str(path)).to_pyarrow_table()).to_pylist())


def staging_left(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file() and "_dao_staging" in p.parts]


# --------------------------------------------------------------------------- the rules
def test_upsert_merges_with_order_by_against_stored_rows(dao: DataAccessObject, lake: Path) -> None:
    dao.write(users([(1, "a", 5), (2, "b", 5), (3, "c", None)]), "lake.users", engine="pandas")
    result = dao.upsert(users([(1, "a-new", 6), (2, "b-stale", 4), (3, "c-new", 1), (4, "d", 1)]), "lake.users",
                        engine="pandas")
    assert rows_of(lake / "users") == [(1, "a-new", 6), (2, "b", 5), (3, "c-new", 1), (4, "d", 1)]
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (1, 2, 0)
    table = DeltaTable(str(lake / "users"))
    assert table.version() == 1 and table.history(1)[0]["operation"] == "MERGE"
    # a tie goes to the incoming row; a null incoming order_by loses to a stored value
    dao.upsert(users([(1, "a-tie", 6), (4, "d-null", None)]), "lake.users", engine="pandas")
    assert rows_of(lake / "users") == [(1, "a-tie", 6), (2, "b", 5), (3, "c-new", 1), (4, "d", 1)]
    # time travel after an upsert
    assert sorted(dao.read("lake.users", engine="pandas", version=0)["name"]) == ["a", "b", "c"]


def test_strategies_and_delete_unmatched(dao: DataAccessObject, lake: Path) -> None:
    dao.write(users([(1, "a", 1), (2, "b", 1), (3, "c", 1)]), "lake.users", engine="pandas")
    dao.upsert(users([(1, "x", 9), (5, "e", 1)]), "lake.users", engine="pandas", strategy="insert_only")
    assert rows_of(lake / "users") == [(1, "a", 1), (2, "b", 1), (3, "c", 1), (5, "e", 1)]
    result = dao.upsert(users([(2, "b2", 2), (6, "f", 1)]), "lake.users", engine="pandas", delete_unmatched=True)
    assert rows_of(lake / "users") == [(2, "b2", 2), (6, "f", 1)]
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (1, 1, 3)
    dao.upsert(users([(2, "b3", 3)]), "lake.users", engine="pandas", strategy="delete_insert")
    assert rows_of(lake / "users") == [(2, "b3", 3), (6, "f", 1)]


def test_bad_batches_raise_before_anything_is_committed(dao: DataAccessObject, lake: Path) -> None:
    dao.write(users([(1, "a", 1)]), "lake.users", engine="pandas")
    with pytest.raises(DuplicateKeys, match=r"upsert into 'lake.users' \(store 'lake'\): 1 key\(s\) appear more than once.*1"):
        dao.upsert(users([(1, "x", 2), (1, "y", 3)]), "lake.users", engine="pandas")
    with pytest.raises(DaoError, match=r"null key in column 'id'"):
        dao.upsert(pd.DataFrame({"id": pd.array([None], dtype="Int64"), "name": ["x"],
                                 "ts": pd.array([1], dtype="Int64")}), "lake.users", engine="pandas")
    with pytest.raises(SchemaMismatch, match=r"upsert columns \['id'\] are not in the data"):
        dao.upsert(pd.DataFrame({"name": ["x"], "ts": [1]}), "lake.users", engine="pandas")
    with pytest.raises(DaoError, match=r"unknown strategy 'upsrt'"):
        dao.upsert(users([(1, "x", 2)]), "lake.users", engine="pandas", strategy="upsrt")
    assert DeltaTable(str(lake / "users")).version() == 0 and rows_of(lake / "users") == [(1, "a", 1)]
    assert not staging_left(lake / "users")
    # keep_latest: the newest order_by wins inside the batch
    dao.upsert(users([(1, "x", 2), (1, "y", 3)]), "lake.users", engine="pandas", on_duplicates="keep_latest")
    assert rows_of(lake / "users") == [(1, "y", 3)]


def test_an_upsert_into_a_missing_table_creates_it(dao: DataAccessObject, lake: Path) -> None:
    result = dao.upsert(users([(1, "a", 1), (1, "b", 2)]), "lake.users", engine="pandas", on_duplicates="keep_latest")
    assert rows_of(lake / "users") == [(1, "b", 2)] and result.rows_inserted == 1
    assert DeltaTable(str(lake / "users")).version() == 0


def test_the_merge_touches_only_the_batchs_partitions(dao: DataAccessObject, lake: Path) -> None:
    rows = [("DE", 1), ("DE", 2), ("US", 3), ("FR", 4)]
    dao.write(pd.DataFrame({"country": [r[0] for r in rows], "id": [r[1] for r in rows], "v": ["old"] * 4}),
              "lake.events", engine="pandas")
    before = {p.relative_to(lake / "events") for p in (lake / "events").rglob("*.parquet")}
    result = dao.upsert(pd.DataFrame({"country": ["US", "US"], "id": [3, 9], "v": ["new", "new"]}), "lake.events",
                        engine="pandas")
    after = {p.relative_to(lake / "events") for p in (lake / "events").rglob("*.parquet")}
    assert (result.rows_inserted, result.rows_updated) == (1, 1)
    assert {str(p) for p in before} - {str(p) for p in after} == set()  # nothing deleted from disk (no vacuum)
    metrics = DeltaTable(str(lake / "events")).history(1)[0]["operationMetrics"]
    assert metrics["num_target_files_removed"] == 1  # only the US file was rewritten
    assert metrics["num_target_files_skipped_during_scan"] == 2  # DE and FR were not even read
    assert rows_of(lake / "events") == [("DE", 1, "old"), ("DE", 2, "old"), ("FR", 4, "old"), ("US", 3, "new"),
                                        ("US", 9, "new")]


def test_merge_predicate_narrowing_and_literals() -> None:
    obj = Catalog.load({"stores": {"l": {"interface": "delta", "path": "/tmp/x"}}}).get("l.t")
    opts = UpsertOptions.from_options({"keys": ["country", "id"]}, obj)
    batch = pa.table({"country": ["DE", "O'Hara", "DE"], "id": [5, 90, 7]})
    predicate = merge_predicate(batch, opts, ("country",))
    assert predicate.startswith('t."country" = s."country" AND t."id" = s."id" AND t."country" IN (')
    assert "'O''Hara'" in predicate and "'DE'" in predicate
    assert predicate.endswith("AND t.\"country\" >= 'DE' AND t.\"country\" <= 'O''Hara'")
    # a partition column that is not a key does not narrow (a key may move between partitions)
    only_id = UpsertOptions.from_options({"keys": ["id"]}, obj)
    assert merge_predicate(batch, only_id, ("country",)) == 't."id" = s."id" AND t."id" >= 5 AND t."id" <= 90'
    assert sql_literal(True) == "true" and sql_literal(3) == "3" and sql_literal(object()) is None


# --------------------------------------------------------------------------- the reference model
@settings(PROPERTY, max_examples=60)
@given(st.lists(row, max_size=8), st.lists(row, max_size=8), options, st.sampled_from([("id",), ("p", "id")]))
def test_delta_upsert_equals_the_model(tmp_path_factory, stored_draw, incoming_draw, opt, keys):
    root = tmp_path_factory.mktemp("delta_props") / uuid.uuid4().hex
    dao = DataAccessObject({
        "stores": {"s": {"interface": "delta", "path": str(root)}},
        "objects": {"s.t": {"partition_by": ["p"] if keys == ("p", "id") else []}},
    })
    stored = stored_rows(stored_draw, keys)
    incoming = incoming_rows(incoming_draw)
    dao.write(pa.Table.from_pylist(stored, schema=SCHEMA), "s.t", mode="overwrite", engine="pandas",
              options={"max_rows_per_file": 2})
    version = DeltaTable(str(root / "t")).version()
    rules: set[str] = set()
    expected = model(stored, incoming, keys, opt, rules)
    for rule in rules:
        event(rule)
    batch = pa.Table.from_pylist(incoming, schema=SCHEMA)
    if expected is None:
        with pytest.raises(DuplicateKeys):
            dao.upsert(batch, "s.t", engine="pandas", **call_options(opt, keys))
        assert DeltaTable(str(root / "t")).version() == version
        return
    result = dao.upsert(batch, "s.t", engine="pandas", **call_options(opt, keys))
    got = pa.table(DeltaTable(str(root / "t")).to_pyarrow_table()).select(SCHEMA.names).to_pylist()
    assert canon(got) == canon(expected[0])
    metrics = expected[1]
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (
        metrics["inserted"], metrics["updated"], metrics["deleted"])


# --------------------------------------------------------------------------- concurrency and failures
def test_concurrent_upserts_of_disjoint_and_overlapping_keys_never_lose_an_update(catalog: Catalog, lake: Path) -> None:
    dao = DataAccessObject(catalog)
    dao.write(users([(i, "s", 0) for i in range(20)]), "lake.users", engine="pandas")
    errors: list[BaseException] = []

    def work(lo: int, hi: int, ts: int) -> None:
        try:
            DataAccessObject(catalog).upsert(users([(i, f"w{ts}", ts) for i in range(lo, hi)]), "lake.users",
                                             engine="pandas", options={"max_retries": 10})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=args) for args in ((0, 10, 1), (10, 20, 2), (5, 15, 3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = {r[0]: r for r in rows_of(lake / "users")}
    assert len(got) == 20
    for i in range(20):
        # the overlapping writer (ts=3) is newest for 5..14: it wins whatever the commit order
        assert got[i][2] == (3 if 5 <= i < 15 else (1 if i < 5 else 2)), got[i]


def test_conflicts_beyond_max_retries_are_a_write_conflict(catalog: Catalog, lake: Path, monkeypatch) -> None:
    dao = DataAccessObject(catalog)
    dao.write(users([(1, "a", 1)]), "lake.users", engine="pandas")
    from deltalake.exceptions import CommitFailedError

    from spark_dao.interfaces import _delta_merge

    calls: list[int] = []

    def always_conflict(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise CommitFailedError("a concurrent transaction deleted data this operation read")

    monkeypatch.setattr(_delta_merge, "run_merge", always_conflict)
    with pytest.raises(WriteConflict, match=r"conflicts with this upsert after 2 retries \(max_retries=2\)"):
        dao.upsert(users([(1, "b", 2)]), "lake.users", engine="pandas", options={"max_retries": 2})
    assert len(calls) == 3
    assert DeltaTable(str(lake / "users")).version() == 0


def test_spark_upsert_stages_on_the_tasks_and_cleans_up(spark: Any, catalog: Catalog, lake: Path) -> None:
    dao = DataAccessObject(catalog, spark=spark)
    dao.write(users([(1, "a", 1), (2, "b", 1)]), "lake.users", engine="pandas")
    changes = spark.createDataFrame([(2, "b2", 2), (3, "c", 1)], "id long, name string, ts long").repartition(2)
    result = dao.upsert(changes, "lake.users")
    assert rows_of(lake / "users") == [(1, "a", 1), (2, "b2", 2), (3, "c", 1)]
    assert (result.rows_inserted, result.rows_updated) == (1, 1)
    assert not staging_left(lake / "users")


def test_a_spark_upsert_into_a_missing_table_creates_it(spark: Any, catalog: Catalog, lake: Path) -> None:
    dao = DataAccessObject(catalog, spark=spark)
    changes = spark.createDataFrame([(1, "a", 1), (2, "b", 1)], "id long, name string, ts long").repartition(2)
    result = dao.upsert(changes, "lake.users")
    assert result.rows_inserted == 2 and rows_of(lake / "users") == [(1, "a", 1), (2, "b", 1)]
    assert DeltaTable(str(lake / "users")).version() == 0 and not staging_left(lake / "users")


def test_a_failed_spark_task_in_an_upsert_leaves_no_version_and_no_staging(spark: Any, catalog: Catalog, lake: Path) -> None:
    from pyspark.sql import functions as F

    dao = DataAccessObject(catalog, spark=spark)
    dao.write(users([(1, "a", 1)]), "lake.users", engine="pandas")
    bad = spark.range(0, 100, numPartitions=4).select(
        F.col("id"),
        F.when(F.col("id") == 80, F.raise_error("upsert task failed on purpose")).otherwise(F.lit("x")).alias("name"),
        F.lit(5).cast("long").alias("ts"),
    )
    with pytest.raises(Exception, match="upsert task failed on purpose"):
        dao.upsert(bad, "lake.users")
    assert DeltaTable(str(lake / "users")).version() == 0
    assert not staging_left(lake / "users")


def test_staged_batches_are_checked_on_their_keys_and_streamed(catalog: Catalog, lake: Path) -> None:
    """Batches staged by Spark tasks (not in-process) reach the MERGE as a stream: the driver reads
    only the key (and order_by) columns to check them; keep_latest with duplicates is the exception."""
    dao = DataAccessObject(catalog)
    dao.write(users([(1, "a", 1)]), "lake.users", engine="pandas")
    obj = catalog.get("lake.users")
    itf = get_interface(obj.store)
    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("ts", pa.int64())])

    def staged(rows, **options):
        spec = itf.prepare_write(obj, schema, {"operation": "upsert", **options})
        assert not spec.in_process
        table = pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows], schema=schema)
        part = itf.stage(obj, table.to_batches(), spec, uuid.uuid4().hex)
        assert part.files and part.table is None  # staged as files, as Spark tasks do
        return spec, part

    spec, part = staged([(1, "b", 2), (2, "c", 1)])
    source, keys, rows = itf._merge_source(obj, [part], spec, what="t")
    assert isinstance(source(), pa.RecordBatchReader) and keys.column_names == ["id", "ts"] and rows == 2
    assert sorted(source().read_all().to_pylist(), key=lambda r: r["id"]) == [
        {"id": 1, "name": "b", "ts": 2}, {"id": 2, "name": "c", "ts": 1}]  # a fresh stream per call (retries)
    spec, part = staged([(3, "x", 1), (3, "y", 2)], on_duplicates="keep_latest")
    source, keys, rows = itf._merge_source(obj, [part], spec, what="t")
    assert isinstance(source(), pa.Table) and source().to_pylist() == [{"id": 3, "name": "y", "ts": 2}]
    spec, part = staged([(3, "x", 1), (3, "y", 2)])
    with pytest.raises(DuplicateKeys, match=r"1 key\(s\) appear more than once in the batch"):
        itf._merge_source(obj, [part], spec, what="t")


def test_spark_upsert_refuses_duplicates_and_keeps_the_latest(spark: Any, catalog: Catalog, lake: Path) -> None:
    dao = DataAccessObject(catalog, spark=spark)
    dao.write(users([(1, "a", 1)]), "lake.users", engine="pandas")
    dup = spark.createDataFrame([(3, "x", 1), (3, "y", 2)], "id long, name string, ts long")
    with pytest.raises(DuplicateKeys, match=r"1 key\(s\) appear more than once in the batch"):
        dao.upsert(dup, "lake.users")
    dao.upsert(dup, "lake.users", on_duplicates="keep_latest")
    assert rows_of(lake / "users") == [(1, "a", 1), (3, "y", 2)]
    assert not staging_left(lake / "users")
