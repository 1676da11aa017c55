"""Upserts on file datasets (copy-on-write of touched files), through pandas, Arrow and Spark."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from spark_dao import DaoError, DataAccessObject, DuplicateKeys
from spark_dao.interfaces.files import STAGING


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def dao(tmp_path):
    return DataAccessObject(
        {
            "stores": {"silver": {"interface": "files", "path": str(tmp_path / "silver")}},
            "objects": {
                "silver.users": {"keys": ["id"], "order_by": "ts", "partition_by": ["day"]},
                "silver.by_day": {"keys": ["day", "id"], "partition_by": ["day"]},
                "silver.plain": {},
            },
        }
    )


@pytest.fixture
def base(dao, tmp_path):
    rows = pa.table(
        {
            "id": list(range(12)),
            "v": [f"v{i}" for i in range(12)],
            "ts": [10] * 12,
            "day": ["d1"] * 4 + ["d2"] * 4 + ["d3"] * 4,
        }
    )
    dao.write(rows, "silver.users", mode="overwrite", options={"max_rows_per_file": 2})
    return tmp_path / "silver" / "users"


def table_of(dao, name="silver.users") -> dict[int, tuple]:
    t = dao.read(name, engine="arrow")
    return {r["id"]: (r["v"], r["ts"], r["day"]) for r in t.to_pylist()}


def test_upsert_rewrites_only_files_holding_the_keys(dao, base):
    before = files_under(base)
    result = dao.upsert(
        pa.table({"id": [1, 100], "v": ["new1", "new100"], "ts": [11, 11], "day": ["d1", "d9"]}), "silver.users"
    )
    after = files_under(base)
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (1, 1, 0)
    assert result.files_rewritten == 1 and result.mode == "upsert"
    # untouched partitions keep their files (same names = not rewritten)
    assert [f for f in before if f.startswith(("day=d2", "day=d3"))] == [
        f for f in after if f.startswith(("day=d2", "day=d3"))
    ]
    assert len(set(before) - set(after)) == 1  # only the file that held id 1 went away
    data = table_of(dao)
    assert data[1] == ("new1", 11, "d1") and data[100] == ("new100", 11, "d9") and data[0] == ("v0", 10, "d1")
    assert len(data) == 13
    assert not (base / STAGING).exists()


def test_older_incoming_row_does_not_overwrite_newer_stored_row(dao, base):
    result = dao.upsert(pd.DataFrame({"id": [2, 3], "v": ["stale", "fresh"], "ts": [5, 20], "day": ["d1", "d1"]}),
                        "silver.users")
    data = table_of(dao)
    assert data[2] == ("v2", 10, "d1") and data[3] == ("fresh", 20, "d1")
    assert (result.rows_updated, result.rows_inserted) == (1, 0)


BASE_ROWS = {i: (f"v{i}", 10, ["d1", "d2", "d3"][i // 4]) for i in range(12)}


@pytest.mark.parametrize("strategy", ["merge", "delete_insert"])
def test_tie_on_order_by_goes_to_the_incoming_row_on_files(dao, base, strategy):
    r = dao.upsert(pd.DataFrame({"id": [1, 5], "v": ["tie", "newer"], "ts": [10, 11], "day": ["d1", "d2"]}),
                   "silver.users", strategy=strategy)
    assert table_of(dao) == {**BASE_ROWS, 1: ("tie", 10, "d1"), 5: ("newer", 11, "d2")}
    assert (r.rows_updated, r.rows_inserted, r.rows_deleted) == (2, 0, 0)


def test_delete_insert_with_a_stale_row_keeps_the_stored_row_on_files(dao, base):
    before = files_under(base)
    r = dao.upsert(pd.DataFrame({"id": [2, 6, 40], "v": ["stale", "fresh", "new"], "ts": [9, 20, 1],
                                 "day": ["d1", "d2", "d3"]}), "silver.users", strategy="delete_insert")
    assert table_of(dao) == {**BASE_ROWS, 6: ("fresh", 20, "d2"), 40: ("new", 1, "d3")}
    assert (r.rows_updated, r.rows_inserted, r.rows_deleted, r.files_rewritten) == (1, 1, 0, 1)
    # the file holding id 2 was not rewritten: only id 6's file went away
    assert [f for f in before if f.startswith("day=d1")] == [f for f in files_under(base) if f.startswith("day=d1")]


def test_keep_latest_without_order_by_keeps_the_last_row_in_batch_order_on_files(dao, tmp_path):
    dao.write(pa.table({"k": [1, 2], "x": ["a", "b"]}), "silver.plain", mode="overwrite")
    r = dao.upsert(pd.DataFrame({"k": [3, 1, 3, 1, 3], "x": ["3-first", "1-first", "3-mid", "1-last", "3-last"]}),
                   "silver.plain", keys=["k"], on_duplicates="keep_latest")
    got = sorted(tuple(row.values()) for row in dao.read("silver.plain", engine="arrow").to_pylist())
    assert got == [(1, "1-last"), (2, "b"), (3, "3-last")]
    assert (r.rows_updated, r.rows_inserted) == (1, 1)


def test_key_moving_to_another_partition_leaves_no_duplicate(dao, base):
    dao.upsert(pa.table({"id": [5], "v": ["moved"], "ts": [11], "day": ["d3"]}), "silver.users")
    t = dao.read("silver.users", engine="arrow")
    assert t.filter(pa.compute.equal(t["id"], 5)).to_pylist() == [{"id": 5, "v": "moved", "ts": 11, "day": "d3"}]
    assert t.num_rows == 12


def test_insert_only_and_delete_unmatched(dao, base):
    r = dao.upsert(pa.table({"id": [0, 50], "v": ["x", "y"], "ts": [99, 1], "day": ["d1", "d1"]}),
                   "silver.users", strategy="insert_only")
    assert (r.rows_inserted, r.rows_updated, r.files_rewritten) == (1, 0, 0)
    assert table_of(dao)[0] == ("v0", 10, "d1")
    r = dao.upsert(pa.table({"id": [0, 50], "v": ["x", "y"], "ts": [99, 99], "day": ["d1", "d1"]}),
                   "silver.users", delete_unmatched=True)
    assert sorted(table_of(dao)) == [0, 50]
    assert r.rows_deleted == 11 and r.rows_updated == 2


def test_partition_keys_scan_only_present_partitions(dao, tmp_path):
    dao.write(pa.table({"day": ["d1", "d1", "d2"], "id": [1, 2, 1], "v": ["a", "b", "c"]}), "silver.by_day", mode="overwrite")
    root = tmp_path / "silver" / "by_day"
    d2 = files_under(root / "day=d2")
    r = dao.upsert(pa.table({"day": ["d1"], "id": [1], "v": ["A"]}), "silver.by_day")
    assert files_under(root / "day=d2") == d2
    got = sorted((x["day"], x["id"], x["v"]) for x in dao.read("silver.by_day", engine="arrow").to_pylist())
    assert got == [("d1", 1, "A"), ("d1", 2, "b"), ("d2", 1, "c")]
    assert r.rows_updated == 1


def test_partition_keys_with_typed_and_escaped_values(dao, tmp_path):
    import datetime as dt

    d1, d2 = dt.date(2025, 1, 7), dt.date(2025, 1, 8)
    dao.write(pa.table({"day": [d1, d2, d2], "id": [1, 1, 2], "v": ["a", "b", "c"]}), "silver.by_day",
              mode="overwrite")
    r = dao.upsert(pa.table({"day": [d2, d2], "id": [1, 3], "v": ["B", "new"]}), "silver.by_day")
    assert (r.rows_updated, r.rows_inserted) == (1, 1)
    got = sorted((x["day"], x["id"], x["v"]) for x in dao.read("silver.by_day", engine="arrow").to_pylist())
    assert got == [(d1, 1, "a"), (d2, 1, "B"), (d2, 2, "c"), (d2, 3, "new")]
    # a value that needs escaping in the path ("a/b c") still matches its stored partition
    dao.write(pa.table({"day": ["a/b c"], "id": [1], "v": ["x"]}), "silver.by_day", mode="overwrite")
    r = dao.upsert(pa.table({"day": ["a/b c"], "id": [1], "v": ["y"]}), "silver.by_day")
    assert r.rows_updated == 1
    assert dao.read("silver.by_day", engine="arrow").to_pylist() == [{"day": "a/b c", "id": 1, "v": "y"}]


def test_upsert_into_empty_target_and_aliases(dao, tmp_path):
    r = dao.upsert(pa.table({"k": [1, 2], "x": [1, 2]}), "silver.plain", id_columns=["k"], upsert_method="merge")
    assert r.rows_inserted == 2 and dao.read("silver.plain", engine="arrow").num_rows == 2
    with pytest.raises(DaoError, match="unknown argument"):
        dao.upsert(pa.table({"k": [1]}), "silver.plain", keyz=["k"])


@pytest.mark.parametrize(
    "batch, error, match",
    [
        (pa.table({"id": [1, 1], "v": ["a", "b"], "ts": [1, 2], "day": ["d1", "d1"]}), DuplicateKeys, "appear more than once.*1"),
        (pa.table({"id": [None, 1], "v": ["a", "b"], "ts": [1, 2], "day": ["d1", "d1"]}, schema=pa.schema(
            [("id", pa.int64()), ("v", pa.string()), ("ts", pa.int64()), ("day", pa.string())])), DaoError, "null key"),
    ],
)
def test_bad_batches_write_nothing(dao, base, batch, error, match):
    before = files_under(base)
    data_before = table_of(dao)
    with pytest.raises(error, match=match):
        dao.upsert(batch, "silver.users")
    assert files_under(base) == before and table_of(dao) == data_before


def test_bad_options_write_nothing(dao, base):
    before = files_under(base)
    batch = pa.table({"id": [1], "v": ["a"], "ts": [1], "day": ["d1"]})
    with pytest.raises(DaoError, match="unknown strategy 'mergee'"):
        dao.upsert(batch, "silver.users", strategy="mergee")
    with pytest.raises(DaoError, match="only apply to upserts"):
        dao.write(batch, "silver.users", mode="append", options={"keys": "id"})
    with pytest.raises(DaoError, match="no keys"):
        dao.upsert(pa.table({"k": [1]}), "silver.plain")
    assert files_under(base) == before


def test_spark_upsert_option(spark, dao, base):
    df = spark.createDataFrame([(1, "spark1", 12, "d1"), (200, "spark200", 12, "d2")], "id long, v string, ts long, day string")
    before_d3 = files_under(base / "day=d3")
    fmt = dao._format_name(spark)
    (df.write.format(fmt).mode("append").option("operation", "upsert").option("keys", "id")
       .option("order_by", "ts").save("silver.users"))
    data = table_of(dao)
    assert data[1] == ("spark1", 12, "d1") and data[200] == ("spark200", 12, "d2") and len(data) == 13
    assert files_under(base / "day=d3") == before_d3
    # through the DAO with a Spark DataFrame, duplicates are refused and nothing changes
    dup = spark.createDataFrame([(7, "a", 11, "d2"), (7, "b", 12, "d2")], df.schema)
    # the commit's DuplicateKeys reaches the DAO's caller as DuplicateKeys, not as Spark's AnalysisException
    with pytest.raises(DuplicateKeys, match=r"^upsert into 'silver.users' \(store 'silver'\): "
                       r"1 key\(s\) appear more than once in the batch, e\.g\. 7\. Deduplicate first"):
        dao.upsert(dup, "silver.users")
    assert table_of(dao) == data and not (base / STAGING).exists()
    r = dao.upsert(dup, "silver.users", on_duplicates="keep_latest")
    assert table_of(dao)[7] == ("b", 12, "d2") and r.rows_updated == 1


def test_the_rewrite_streams_one_stored_file_at_a_time(tmp_path, monkeypatch):
    """The driver holds one rewritten file's rows at a time (plus the stager's buffers), not every
    rewritten file: the commit's memory follows the touched files one by one."""
    import gc
    import weakref

    from spark_dao.interfaces import files_upsert

    dao = DataAccessObject({"stores": {"s": {"interface": "files", "path": str(tmp_path)}},
                            "objects": {"s.t": {"keys": ["id"]}}})
    for i in range(6):  # six files, each holding one key the batch updates
        dao.write(pa.table({"id": list(range(i * 100, i * 100 + 100)), "v": ["old"] * 100}), "s.t",
                  engine="pandas", mode="append" if i else "overwrite")
    alive_at_read: list[int] = []
    tables: list[weakref.ref] = []
    real = files_upsert._read

    def spy(*a, **k):
        table = real(*a, **k)
        if k.get("sizes") is not None and a[4] and len(a) == 5:  # a whole rewritten file
            gc.collect()
            alive_at_read.append(sum(1 for r in tables if r() is not None))
            tables.append(weakref.ref(table))
        return table

    monkeypatch.setattr(files_upsert, "_read", spy)
    result = dao.upsert(pa.table({"id": [i * 100 for i in range(6)], "v": ["new"] * 6}), "s.t", engine="pandas")
    assert (result.rows_updated, result.files_rewritten) == (6, 6)
    assert len(alive_at_read) == 6 and max(alive_at_read) <= 1, alive_at_read
    back = dao.read("s.t", engine="pandas")
    assert len(back) == 600 and sorted(back[back.v == "new"]["id"]) == [i * 100 for i in range(6)]


def test_a_file_replaced_during_the_key_scan_is_a_conflict_and_nothing_is_published(dao, base, monkeypatch):
    """The files the scan reads are checked against the commit's own listing (taken under the lock,
    no second listing): a writer that bypassed the lock and replaced one of them while the scan
    ran makes the upsert raise WriteConflict and publish nothing."""
    import pyarrow.parquet as pq

    from spark_dao import WriteConflict
    from spark_dao.interfaces import files_upsert

    target = next(p for p in sorted((base / "day=d1").glob("*.parquet"))
                  if 1 in pq.read_table(p)["id"].to_pylist())
    foreign = pq.read_table(target)
    foreign = foreign.set_column(foreign.schema.get_field_index("v"), "v", pa.array(["foreign"] * foreign.num_rows))
    real = files_upsert._scan_parquet_keys
    calls = []

    def replaced_meanwhile(*args, **kwargs):  # fault injection: the first key read of the scan
        if not calls:
            pq.write_table(foreign, target)  # in place, same name (a writer that ignores the lock)
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(files_upsert, "_scan_parquet_keys", replaced_meanwhile)
    before = files_under(base)
    with pytest.raises(WriteConflict, match=r"another writer changed 1 file\(s\) this upsert read.*day=d1.*Retry"):
        dao.upsert(pa.table({"id": [1, 99], "v": ["mine", "new"], "ts": [11, 11], "day": ["d1", "d1"]}),
                   "silver.users")
    assert len(calls) == 6 and files_under(base) == before  # every file scanned; nothing published
    rows = table_of(dao)
    assert rows[1] == ("foreign", 10, "d1") and 99 not in rows and len(rows) == 12
