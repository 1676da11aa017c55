"""The native files upsert (spark_dao/engines/files_native.py ``upsert``): with the Spark engine the
commit decides the merge from the stored keys as on the Python path, then Spark reads the touched
files, drops the replaced rows with joins and writes the survivors into the job's staging. Both
paths must give the same rows and counts as the reference rules (``merge_tables``) for every
strategy, and keep the same guarantees (a failure leaves the target unchanged, conflicts refused)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_files_native import aborts, data_files  # noqa: F401 - a fixture and a helper shared with the native tests

from spark_dao import DaoError, DataAccessObject, WriteConflict
from spark_dao.catalog import Catalog
from spark_dao.engines import files_native
from spark_dao.interfaces import files_upsert
from spark_dao.interfaces.upsert import UpsertOptions, merge_tables

SCHEMA = "id long, v string, ts long, day string"


def catalog_for(root: Path, **store: Any) -> Catalog:
    return Catalog.load({
        "stores": {"lake": {"interface": "files", "path": str(root), "format": "parquet", **store}},
        "objects": {
            "lake.events": {"partition_by": ["day"], "keys": ["id"]},
            "lake.flat": {"keys": ["id"]},
            "lake.text": {"format": "csv", "keys": ["id"]},
        },
    })


def snapshot(root: Path) -> dict[str, bytes]:
    return {f: (root / f).read_bytes() for f in data_files(root)}


def no_staging(root: Path) -> bool:
    staging = root / "_dao_staging"
    return not staging.exists() or [p for p in staging.rglob("*") if p.is_file()] == []


def stored_rows() -> list[tuple]:
    rows: list[tuple] = [(i, f"v{i}", 10, f"d{i % 4}") for i in range(40)]
    rows.append((None, "no key", 10, "d1"))  # a stored row without a key: never matched, dropped by a full sync
    return rows


def rows_of(table: pa.Table) -> list[tuple]:
    return sorted((tuple(r.values()) for r in table.to_pylist()), key=repr)


A = [(1, "newer", 11, "d1"), (2, "stale", 9, "d2"), (3, "tie", 10, "d3"), (100, "ins", 1, "d0"),
     (5, "moved", 20, "d3"), (6, "null ts", None, "d2")]
SCENARIOS = {
    "merge+order_by": (A, {"order_by": "ts"}),
    "merge": (A, {}),
    "insert_only": (A, {"strategy": "insert_only"}),
    "delete_insert+order_by": (A, {"strategy": "delete_insert", "order_by": "ts"}),
    "delete_unmatched": ([(i, f"sync{i}", 12, f"d{i % 4}") for i in range(10)] + [(200, "new", 1, "d2")],
                         {"delete_unmatched": True}),
    "keep_latest": ([(7, "a", 11, "d3"), (7, "b", 12, "d3"), (8, "c", 5, "d0")],
                    {"on_duplicates": "keep_latest", "order_by": "ts"}),
    "composite keys": ([(1, "same day", 0, "d1"), (1, "other day", 0, "d2")], {"keys": ["id", "day"]}),
    "empty batch": ([], {}),
}


def reference(incoming: list[tuple], kw: dict[str, Any]) -> tuple[list[tuple], dict[str, int]]:
    schema = pa.schema([("id", pa.int64()), ("v", pa.string()), ("ts", pa.int64()), ("day", pa.string())])
    target = pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in stored_rows()], schema=schema)
    batch = pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in incoming], schema=schema)
    obj = Catalog.load({"stores": {"s": {"interface": "files", "path": "/unused"}}, "objects": {"s.o": {}}}).get("s.o")
    opts = UpsertOptions.from_options({"keys": kw.get("keys", ["id"]), **{k: v for k, v in kw.items() if k != "keys"}}, obj)
    result, counts = merge_tables(target, batch, opts)
    return rows_of(result), counts


@pytest.fixture
def stored_reads(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The stored files the driver read whole (the Python path's rewrite; the native one reads none)."""
    seen: list[list[str]] = []
    real = files_upsert._read

    def spy(itf: Any, obj: Any, spec: Any, root: str, rels: list[str], columns: Any = None, sizes: Any = None) -> Any:
        if columns is None and "_dao_staging" not in root:
            seen.append(list(rels))
        return real(itf, obj, spec, root, rels, columns, sizes)

    monkeypatch.setattr(files_upsert, "_read", spy)
    return seen


def setup(spark: Any, root: Path, name: str = "lake.events", **store: Any) -> DataAccessObject:
    dao = DataAccessObject(catalog_for(root, **store), spark=spark)
    rows = stored_rows()
    # two writes: several files per partition, so the upsert leaves some files of a partition alone
    dao.write(spark.createDataFrame(rows[:20], SCHEMA), name, mode="overwrite", options={"engine_path": "python"})
    dao.write(spark.createDataFrame(rows[20:], SCHEMA), name, mode="append", options={"engine_path": "python"})
    return dao


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_native_upserts_match_the_reference_rules_and_the_python_path(spark: Any, tmp_path: Path, scenario: str,
                                                                      stored_reads: list[list[str]]) -> None:
    import pandas as pd

    incoming, kw = SCENARIOS[scenario]
    expected_rows, counts = reference(incoming, kw)
    results = {}
    for path in ("native", "python"):
        root = tmp_path / path
        dao = setup(spark, root)
        stored_reads.clear()
        if path == "native":
            data = spark.createDataFrame(incoming, SCHEMA)
            res = dao.upsert(data, "lake.events", options={"engine_path": "native"}, **kw)
            assert stored_reads == [], "the native path must not read stored files in the driver"
        else:  # the Python path's rewrite, in this process (pandas engine)
            data = pd.DataFrame(incoming, columns=["id", "v", "ts", "day"]).astype({"id": "Int64", "ts": "Int64"})
            res = dao.upsert(data, "lake.events", engine="pandas", **kw)
            assert sum(len(r) for r in stored_reads) == res.files_rewritten
        got = rows_of(pa.Table.from_pandas(dao.read("lake.events", engine="pandas"), preserve_index=False)
                      .select(["id", "v", "ts", "day"]))
        assert got == expected_rows, path
        assert (res.rows_inserted, res.rows_updated, res.rows_deleted) == (
            counts["inserted"], counts["updated"], counts["deleted"]), path
        assert no_staging(root / "events")
        results[path] = res
    assert results["native"].files_rewritten == results["python"].files_rewritten
    assert results["native"].rows_written == results["python"].rows_written
    if scenario not in ("empty batch", "insert_only"):
        assert results["native"].files_rewritten > 0  # the scenario exercises the rewrite


def test_native_upsert_of_an_unpartitioned_object(spark: Any, tmp_path: Path, stored_reads: list[list[str]]) -> None:
    dao = setup(spark, tmp_path, "lake.flat")
    res = dao.upsert(spark.createDataFrame([(3, "three", 11, "dx"), (77, "new", 1, "dy")], SCHEMA), "lake.flat",
                     options={"engine_path": "native"})
    assert (res.rows_inserted, res.rows_updated, res.files_rewritten) == (1, 1, 1)
    assert stored_reads == []
    got = {r["id"]: (r["v"], r["day"]) for r in dao.read("lake.flat", engine="pandas").to_dict("records")}
    assert len(got) == 42 and got[3] == ("three", "dx") and got[77] == ("new", "dy") and got[4] == ("v4", "d0")
    assert any("-rewrite-" in f for f in data_files(tmp_path / "flat"))


def test_a_failed_spark_rewrite_leaves_the_target_unchanged(spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            aborts: list[list[str]]) -> None:  # noqa: F811 - the fixture
    from pyspark.sql import functions as F

    dao = setup(spark, tmp_path)
    root = tmp_path / "events"
    before = snapshot(root)
    watch = str(root / "_dao_staging")
    real_stage = files_native.stage

    @F.udf("string")
    def boom(i, v):  # noqa: ANN001, ANN202 - a Spark UDF
        import glob
        import time

        if i == 9:  # fail only after another task has staged a rewritten file
            deadline = time.time() + 120
            while not glob.glob(f"{watch}/*/rewrite/day=*/*.parquet") and time.time() < deadline:
                time.sleep(0.05)
            raise ValueError("bad stored row 9")
        return v

    def failing_stage(sdf: Any, itf: Any, obj: Any, spec: Any, job_id: str, sub: str = "") -> Any:
        if sub == files_native._REWRITE:
            sdf = sdf.repartition(2, "day").withColumn("v", boom("id", "v"))
        return real_stage(sdf, itf, obj, spec, job_id, sub)

    monkeypatch.setattr(files_native, "stage", failing_stage)
    staged_at_failure: list[str] = []
    real_run = files_native.run_spark_write

    def watched_run(fn: Any, obj: Any) -> Any:
        try:
            return real_run(fn, obj)
        except DaoError:
            staged_at_failure.extend(str(p.relative_to(root)) for p in (root / "_dao_staging").rglob("*.parquet"))
            raise

    monkeypatch.setattr(files_native, "run_spark_write", watched_run)
    changes = spark.createDataFrame([(1, "x", 11, "d1"), (2, "y", 11, "d2"), (3, "z", 11, "d3")], SCHEMA)
    with pytest.raises(DaoError, match=r"'lake.events' \(store 'lake'\) with Spark failed.*bad stored row 9"):
        dao.upsert(changes, "lake.events", options={"engine_path": "native"})
    assert snapshot(root) == before
    assert no_staging(root)
    # the failure path ran after a rewritten file was staged, and removed it
    assert any("/rewrite/day=" in s for s in staged_at_failure), staged_at_failure
    assert len(aborts) == 1


def test_a_failed_commit_after_the_spark_rewrite_leaves_the_target_unchanged(
        spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dao = setup(spark, tmp_path)
    root = tmp_path / "events"
    before = snapshot(root)
    retired: list[str] = []
    published: list[str] = []
    real_move = files_upsert._move

    def failing_retire(fs: Any, src: str, dst: str) -> None:  # the second rewritten file cannot be retired
        if retired and ".dao-old-" in dst:  # (putting the first one back works)
            published.extend(f for f in data_files(root) if "-rewrite-" in f)
            raise OSError("disk on fire")
        if ".dao-old-" in dst:
            retired.append(src)
        real_move(fs, src, dst)

    monkeypatch.setattr(files_upsert, "_move", failing_retire)
    changes = spark.createDataFrame([(1, "x", 11, "d1"), (2, "y", 11, "d2"), (300, "z", 11, "d3")], SCHEMA)
    with pytest.raises(DaoError, match=r"new files were removed and the previous data is unchanged.*disk on fire"):
        dao.upsert(changes, "lake.events", options={"engine_path": "native"})
    assert retired and published, "Spark's rewritten files were published, then the commit failed"
    assert snapshot(root) == before
    assert no_staging(root)


@pytest.mark.parametrize("how", ["replaced", "deleted"])
def test_a_file_changed_under_the_native_rewrite_is_a_conflict(spark: Any, tmp_path: Path, how: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    dao = setup(spark, tmp_path)
    root = tmp_path / "events"
    real_call = files_native._Rewriter.__call__
    changed: list[str] = []

    def other_writer_first(self: Any, rels: list[str], plan: Any, opts: Any, job_id: str, **kw: Any) -> Any:
        # another writer (no lock) replaces or deletes a file the key scan read, just before Spark reads it
        victim = root / rels[0]
        if how == "replaced":
            pq.write_table(pq.read_table(victim).slice(0, 1), victim)
        else:
            victim.unlink()
        changed.append(rels[0])
        return real_call(self, rels, plan, opts, job_id, **kw)

    monkeypatch.setattr(files_native._Rewriter, "__call__", other_writer_first)
    before = snapshot(root)
    with pytest.raises(WriteConflict, match="lake.events"):
        dao.upsert(spark.createDataFrame([(1, "x", 11, "d1")], SCHEMA), "lake.events",
                   options={"engine_path": "native"})
    assert changed
    after = snapshot(root)
    if how == "replaced":
        assert set(after) == set(before)  # nothing of this upsert was published
        assert [f for f in after if after[f] != before[f]] == changed
    else:
        assert set(before) - set(after) == set(changed) and set(after) < set(before)
        assert all(after[f] == before[f] for f in after)
    assert no_staging(root)


def test_upserts_the_native_path_cannot_run(spark: Any, tmp_path: Path) -> None:
    # csv: refused by name when forced; auto takes the Python path with the same answer
    dao = setup(spark, tmp_path, "lake.text")
    changes = spark.createDataFrame([(1, "x", 11, "d1")], SCHEMA)
    with pytest.raises(DaoError, match=r"upserting into 'lake.text' \(store 'lake'\).*upserts into csv objects"):
        dao.upsert(changes, "lake.text", options={"engine_path": "native"})
    res = dao.upsert(changes, "lake.text")
    assert (res.rows_updated, res.files_rewritten) == (1, 1)
    assert dao.read("lake.text", engine="pandas").set_index("id").loc[1, "v"] == "x"


def test_a_partition_folder_spark_reads_differently_falls_back_on_auto(spark: Any, tmp_path: Path,
                                                                      stored_reads: list[list[str]]) -> None:
    dao = DataAccessObject(catalog_for(tmp_path), spark=spark)
    rows = [(1, "a", 10, "Zürich"), (2, "b", 10, "Zürich"), (3, "c", 10, "d3")]
    dao.write(spark.createDataFrame(rows, SCHEMA), "lake.events", mode="overwrite", options={"engine_path": "python"})
    changes = spark.createDataFrame([(1, "new", 11, "Zürich")], SCHEMA)
    root = tmp_path / "events"
    before = snapshot(root)
    with pytest.raises(DaoError, match=r"upserting into 'lake.events' \(store 'lake'\) natively: .*non-ASCII"):
        dao.upsert(changes, "lake.events", options={"engine_path": "native"})
    assert snapshot(root) == before and no_staging(root)
    res = dao.upsert(changes, "lake.events", options={"engine_path": "auto"})
    assert res.rows_updated == 1 and stored_reads  # the Python path rewrote it
    got = {r["id"]: (r["v"], r["day"]) for r in dao.read("lake.events", engine="pandas").to_dict("records")}
    assert got == {1: ("new", "Zürich"), 2: ("b", "Zürich"), 3: ("c", "d3")}


def test_native_upsert_on_s3_through_s3a(spark: Any, s3_server: str, s3_bucket: str, s3_client: Any,
                                         stored_reads: list[list[str]]) -> None:
    from conftest import require_s3a

    require_s3a(spark)
    cat = Catalog.load({
        "stores": {"lake": {"interface": "files", "bucket": s3_bucket, "prefix": "lake", "endpoint_url": s3_server,
                            "region": "us-east-1", "access_key": "testing", "secret_key": "testing"}},
        "objects": {"lake.events": {"partition_by": ["day"], "keys": ["id"]}},
    })
    dao = DataAccessObject(cat, spark=spark)
    dao.write(spark.createDataFrame(stored_rows()[:40], SCHEMA), "lake.events", mode="overwrite")
    res = dao.upsert(spark.createDataFrame([(1, "x", 11, "d1"), (500, "n", 1, "d0")], SCHEMA), "lake.events",
                     options={"engine_path": "native"})
    assert (res.rows_inserted, res.rows_updated, res.files_rewritten) == (1, 1, 1)
    assert stored_reads == []
    got = {r["id"]: r["v"] for r in dao.read("lake.events", engine="pandas").to_dict("records")}
    assert len(got) == 41 and got[1] == "x" and got[500] == "n" and got[5] == "v5"
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="lake/")["Contents"]]
    assert not [k for k in keys if "_dao_staging/" in k and not k.endswith(".live")]


def test_native_upsert_with_date_int_partitions_timestamps_and_string_keys(spark: Any, tmp_path: Path) -> None:
    import datetime as dt

    import pandas as pd

    cat = Catalog.load({
        "stores": {"lake": {"interface": "files", "path": str(tmp_path), "format": "parquet"}},
        "objects": {"lake.typed": {"partition_by": ["d", "n"], "keys": ["k"], "order_by": "at"}},
    })
    dao = DataAccessObject(cat, spark=spark)
    schema = "k string, amount decimal(10,2), at timestamp, d date, n int"
    t0 = dt.datetime(2025, 1, 1, 12, 0, 0)
    day = [dt.date(2025, 1, 1), dt.date(2025, 1, 2)]
    from decimal import Decimal

    stored = [(f"k{i}", Decimal(f"{i}.25"), t0 + dt.timedelta(hours=i), day[i % 2], i % 3) for i in range(12)]
    changes = [("k1", Decimal("99.99"), t0 + dt.timedelta(days=5), day[1], 1),   # newer: replaces
               ("k2", Decimal("0.01"), t0 - dt.timedelta(days=5), day[0], 2),    # older: stale
               ("new", Decimal("1.00"), t0, day[0], 0)]
    results = {}
    for path in ("native", "python"):
        dao.write(spark.createDataFrame(stored, schema), "lake.typed", mode="overwrite",
                  options={"engine_path": "python"})
        res = dao.upsert(spark.createDataFrame(changes, schema), "lake.typed", options={"engine_path": path})
        got = dao.read("lake.typed", engine="pandas").sort_values("k").reset_index(drop=True)
        results[path] = (res.rows_inserted, res.rows_updated, res.files_rewritten, got)
    assert results["native"][:3] == results["python"][:3] == (1, 1, 1)
    pd.testing.assert_frame_equal(results["native"][3], results["python"][3])
    got = results["native"][3].set_index("k")
    assert got.loc["k1", "amount"] == Decimal("99.99") and got.loc["k2", "amount"] == Decimal("2.25")
    assert len(got) == 13 and got.loc["new", "n"] == 0
