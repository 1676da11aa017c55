"""The upsert rules (one module for every store), on Arrow tables."""

from __future__ import annotations

import pyarrow as pa
import pytest

from spark_dao import DaoError, DuplicateKeys, SchemaMismatch
from spark_dao.catalog import Catalog
from spark_dao.interfaces.upsert import (
    UpsertOptions,
    is_upsert,
    merge_tables,
    prepare_incoming,
    split_upsert_options,
)


@pytest.fixture
def obj(tmp_path):
    cat = Catalog.load(
        {
            "stores": {"silver": {"interface": "files", "path": str(tmp_path)}},
            "objects": {"silver.users": {"keys": ["id"], "order_by": "ts"}, "silver.plain": {}},
        }
    )
    return cat.get("silver.users"), cat.get("silver.plain")


TARGET = pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"], "ts": [10, 10, 10]})


def by_id(table: pa.Table) -> list[tuple]:
    return sorted((r["id"], r["v"], r["ts"]) for r in table.to_pylist())


def opts(obj, **kw):
    return UpsertOptions.from_options(kw, obj)


def test_merge_updates_matched_inserts_new_and_respects_order_by(obj):
    incoming = pa.table({"id": [2, 3, 4], "v": ["B", "C-old", "D"], "ts": [11, 9, 1]})
    result, metrics = merge_tables(TARGET, incoming, opts(obj[0]))  # keys/order_by from the catalog
    assert by_id(result) == [(1, "a", 10), (2, "B", 11), (3, "c", 10), (4, "D", 1)]
    assert metrics == {"inserted": 1, "updated": 1, "deleted": 0}


def test_without_order_by_incoming_always_wins(obj):
    incoming = pa.table({"id": [3], "v": ["C-old"], "ts": [9]})
    result, metrics = merge_tables(TARGET, incoming, opts(obj[1], keys="id"))
    assert by_id(result) == [(1, "a", 10), (2, "b", 10), (3, "C-old", 9)]
    assert metrics == {"inserted": 0, "updated": 1, "deleted": 0}


def test_insert_only_leaves_matched_rows(obj):
    incoming = pa.table({"id": [1, 5], "v": ["X", "E"], "ts": [99, 1]})
    result, metrics = merge_tables(TARGET, incoming, opts(obj[0], strategy="insert_only"))
    assert by_id(result) == [(1, "a", 10), (2, "b", 10), (3, "c", 10), (5, "E", 1)]
    assert metrics == {"inserted": 1, "updated": 0, "deleted": 0}


def test_delete_insert_replaces_matched_rows_and_inserts_new(obj):
    incoming = pa.table({"id": [2, 4], "v": ["B", "D"], "ts": [11, 1]})
    replaced, metrics = merge_tables(TARGET, incoming, opts(obj[0], strategy="delete_insert"))
    assert by_id(replaced) == [(1, "a", 10), (2, "B", 11), (3, "c", 10), (4, "D", 1)]
    assert metrics == {"inserted": 1, "updated": 1, "deleted": 0}


@pytest.mark.parametrize("strategy", ["merge", "delete_insert"])
def test_a_tie_on_order_by_goes_to_the_incoming_row(obj, strategy):
    # equal order_by: the incoming row wins, as a SQL MERGE ... WHEN MATCHED would update
    incoming = pa.table({"id": [1, 2], "v": ["tie", "newer"], "ts": [10, 11]})
    result, metrics = merge_tables(TARGET, incoming, opts(obj[0], strategy=strategy))
    assert by_id(result) == [(1, "tie", 10), (2, "newer", 11), (3, "c", 10)]
    assert metrics == {"inserted": 0, "updated": 2, "deleted": 0}


@pytest.mark.parametrize("strategy", ["merge", "delete_insert"])
def test_a_stale_incoming_row_neither_replaces_nor_deletes_the_stored_one(obj, strategy):
    incoming = pa.table({"id": [1, 2, 9], "v": ["stale", "newer", "new"], "ts": [9, 11, 1]})
    result, metrics = merge_tables(TARGET, incoming, opts(obj[0], strategy=strategy))
    assert by_id(result) == [(1, "a", 10), (2, "newer", 11), (3, "c", 10), (9, "new", 1)]
    assert metrics == {"inserted": 1, "updated": 1, "deleted": 0}
    # with a full sync the stale key is still "in the batch": its stored row survives
    result, metrics = merge_tables(TARGET, incoming, opts(obj[0], strategy=strategy, delete_unmatched=True))
    assert by_id(result) == [(1, "a", 10), (2, "newer", 11), (9, "new", 1)]
    assert metrics == {"inserted": 1, "updated": 1, "deleted": 1}


def test_insert_only_ignores_order_by(obj):
    incoming = pa.table({"id": [1, 2], "v": ["newer", "tie"], "ts": [99, 10]})
    result, metrics = merge_tables(TARGET, incoming, opts(obj[0], strategy="insert_only"))
    assert by_id(result) == [(1, "a", 10), (2, "b", 10), (3, "c", 10)]
    assert metrics == {"inserted": 0, "updated": 0, "deleted": 0}


def test_a_null_order_by_is_older_than_any_value(obj):
    schema = pa.schema([("id", pa.int64()), ("v", pa.string()), ("ts", pa.int64())])
    target = pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"], "ts": [10, None, None]}, schema=schema)
    incoming = pa.table({"id": [1, 2, 3], "v": ["null-vs-10", "5-vs-null", "null-vs-null"], "ts": [None, 5, None]},
                        schema=schema)
    result, metrics = merge_tables(target, incoming, opts(obj[0]))
    assert by_id_nullable(result) == [(1, "a", 10), (2, "5-vs-null", 5), (3, "null-vs-null", None)]
    assert metrics == {"inserted": 0, "updated": 2, "deleted": 0}
    # inside a batch too: a null loses to any value, whatever the order
    dups = pa.table({"id": [7, 7, 8, 8], "v": ["x", "null", "null", "y"], "ts": [1, None, None, 0]}, schema=schema)
    result, _ = merge_tables(target.slice(0, 0), dups, opts(obj[0], on_duplicates="keep_latest"))
    assert by_id_nullable(result) == [(7, "x", 1), (8, "y", 0)]


def by_id_nullable(table: pa.Table) -> list[tuple]:
    return sorted(((r["id"], r["v"], r["ts"]) for r in table.to_pylist()), key=lambda r: r[0])


def test_delete_unmatched_full_sync(obj):
    incoming = pa.table({"id": [2, 4], "v": ["B", "D"], "ts": [11, 1]})
    result, metrics = merge_tables(TARGET, incoming, opts(obj[0], delete_unmatched="true"))
    assert by_id(result) == [(2, "B", 11), (4, "D", 1)]
    assert metrics == {"inserted": 1, "updated": 1, "deleted": 2}


def test_duplicates_error_lists_keys_and_keep_latest_picks_newest(obj):
    incoming = pa.table({"id": [7, 7, 8, 8, 9], "v": ["old", "new", "x", "y", "z"], "ts": [1, 2, 5, 4, 1]})
    with pytest.raises(DuplicateKeys, match=r"2 key\(s\) appear more than once.*7, 8"):
        merge_tables(TARGET, incoming, opts(obj[0]))
    result, _ = merge_tables(TARGET, incoming, opts(obj[0], on_duplicates="keep_latest"))
    assert [r for r in by_id(result) if r[0] >= 7] == [(7, "new", 2), (8, "x", 5), (9, "z", 1)]


def test_keep_latest_without_order_by_keeps_the_last_row_in_batch_order(obj):
    incoming = pa.table({"id": [7, 8, 7, 8, 7], "v": ["first", "8a", "middle", "8b", "last"], "ts": [9, 1, 5, 0, 1]})
    result, metrics = merge_tables(TARGET, incoming, opts(obj[1], keys="id", on_duplicates="keep_latest"))
    assert by_id(result) == [(1, "a", 10), (2, "b", 10), (3, "c", 10), (7, "last", 1), (8, "8b", 0)]
    assert metrics == {"inserted": 2, "updated": 0, "deleted": 0}


def test_keep_latest_tie_on_order_by_keeps_the_last_of_the_tied_rows(obj):
    incoming = pa.table({"id": [7, 7, 7, 7], "v": ["old", "tie-1", "tie-2", "older"], "ts": [1, 5, 5, 2]})
    result, _ = merge_tables(TARGET, incoming, opts(obj[0], on_duplicates="keep_latest"))
    assert by_id(result) == [(1, "a", 10), (2, "b", 10), (3, "c", 10), (7, "tie-2", 5)]


def test_composite_keys(obj):
    target = pa.table({"a": [1, 1, 2], "b": ["x", "y", "x"], "v": [1, 2, 3]})
    incoming = pa.table({"a": [1, 2], "b": ["y", "y"], "v": [20, 30]})
    result, metrics = merge_tables(target, incoming, opts(obj[1], keys="a,b"))
    assert sorted(tuple(r.values()) for r in result.to_pylist()) == [(1, "x", 1), (1, "y", 20), (2, "x", 3), (2, "y", 30)]
    assert metrics == {"inserted": 1, "updated": 1, "deleted": 0}


def test_null_keys_and_missing_columns_are_errors(obj):
    with pytest.raises(DaoError, match="1 row\\(s\\) have a null key in column 'id'"):
        merge_tables(TARGET, pa.table({"id": [None, 5], "v": ["n", "e"], "ts": [1, 1]}), opts(obj[0]))
    with pytest.raises(SchemaMismatch, match=r"upsert columns \['ts'\] are not in the data"):
        merge_tables(TARGET, pa.table({"id": [5], "v": ["e"]}), opts(obj[0]))


def test_option_parsing_aliases_and_errors(obj):
    o = UpsertOptions.from_options(
        {"id_columns": "id", "modification_column": "ts", "upsert_method": "insert_only"}, obj[1]
    )
    assert (o.keys, o.order_by, o.strategy) == (("id",), "ts", "insert_only")
    with pytest.raises(DaoError, match="unknown strategy 'mergee'.*Did you mean 'merge'"):
        UpsertOptions.from_options({"keys": "id", "strategy": "mergee"}, obj[1])
    with pytest.raises(DaoError, match="unknown on_duplicates 'keep'"):
        UpsertOptions.from_options({"keys": "id", "on_duplicates": "keep"}, obj[1])
    with pytest.raises(DaoError, match="upsert into 'silver.plain'.*no keys"):
        UpsertOptions.from_options({}, obj[1])
    assert is_upsert({"operation": "upsert"}) and not is_upsert({})
    with pytest.raises(DaoError, match="unknown operation 'upsrt'"):
        is_upsert({"operation": "upsrt"})
    ups, rest = split_upsert_options({"Keys": "id", "compression": "zstd", "operation": "upsert"})
    assert ups == {"keys": "id", "operation": "upsert"} and rest == {"compression": "zstd"}


# --------------------------------------------------------------------------- option parsing, exactly
@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), ("true", True), ("TRUE", True), (" yes ", True), ("on", True), ("1", True),
    ("false", False), ("0", False), ("no", False), ("off", False), ("", False),
])
def test_delete_unmatched_values(obj, value, expected):
    assert opts(obj[1], keys="id", delete_unmatched=value).delete_unmatched is expected


def test_option_defaults_and_every_alias(obj):
    o = opts(obj[0])
    assert (o.keys, o.order_by, o.strategy, o.on_duplicates, o.delete_unmatched) == (("id",), "ts", "merge", "error", False)
    o = UpsertOptions.from_options({"KEYS": " a , b ", "Order_By": "u", "ON_DUPLICATES": "KEEP_LATEST"}, obj[1])
    assert (o.keys, o.order_by, o.on_duplicates) == (("a", "b"), "u", "keep_latest")
    assert opts(obj[1], keys=["a", "b"]).keys == ("a", "b")
    assert opts(obj[1], keys="id").order_by is None
    for alias, strategy in [("upsert", "merge"), ("update_insert", "merge"), ("MERGE", "merge"),
                            ("insert", "insert_only"), ("append_new", "insert_only"), ("insert_only", "insert_only"),
                            ("replace", "delete_insert"), ("delete_insert", "delete_insert")]:
        assert opts(obj[1], keys="id", strategy=alias).strategy == strategy
    # keys/order_by given explicitly win over the catalog's
    o = opts(obj[0], keys="v", order_by="v")
    assert (o.keys, o.order_by) == (("v",), "v")


def test_option_errors_are_exact(obj):
    with pytest.raises(DaoError) as err:
        UpsertOptions.from_options({"keys": "id", "strategy": "mergee"}, obj[1])
    assert str(err.value) == (
        "upsert into 'silver.plain' (store 'silver'): unknown strategy 'mergee'. Did you mean 'merge'? "
        "Valid: merge, insert_only, delete_insert"
    )
    with pytest.raises(DaoError) as err:
        UpsertOptions.from_options({"keys": "id", "on_duplicates": "keep_lates"}, obj[1])
    assert str(err.value) == (
        "upsert into 'silver.plain' (store 'silver'): unknown on_duplicates 'keep_lates'. Did you mean "
        "'keep_latest'? Valid: error, keep_latest"
    )
    with pytest.raises(DaoError) as err:
        UpsertOptions.from_options({"keys": ""}, obj[1])
    assert str(err.value) == (
        "upsert into 'silver.plain' (store 'silver'): no keys: pass keys=['id'] (Spark: .option('keys', 'id')) "
        "or declare 'keys' on the object in the catalog"
    )


def test_is_upsert_and_split_options():
    assert is_upsert({"OPERATION": "UPSERT"}) is True
    assert is_upsert({"operation": "write"}) is False and is_upsert({"operation": "append"}) is False
    with pytest.raises(DaoError) as err:
        is_upsert({"operation": "upsrt"})
    assert str(err.value) == "unknown operation 'upsrt'. Did you mean 'upsert'? Valid: upsert, write"
    with pytest.raises(DaoError, match=r"^unknown operation 'wrte'\. Did you mean 'write'\? Valid: upsert, write$"):
        is_upsert({"operation": "wrte"})
    ups, rest = split_upsert_options({"Order_By": "ts", "ID_COLUMNS": "id", "upsert_method": "merge",
                                      "modification_column": "ts", "strategy": "merge", "on_duplicates": "error",
                                      "delete_unmatched": "true", "header": "true"})
    assert set(ups) == {"order_by", "id_columns", "upsert_method", "modification_column", "strategy",
                        "on_duplicates", "delete_unmatched"}
    assert rest == {"header": "true"}


def test_duplicate_and_null_key_errors_are_exact(obj):
    incoming = pa.table({"id": [1, 2, 1, 2, 3, 3, 4, 4, 5, 5, 6, 6], "v": ["x"] * 12, "ts": list(range(12))})
    with pytest.raises(DuplicateKeys) as err:
        merge_tables(TARGET, incoming, opts(obj[0]))
    assert str(err.value) == (
        "upsert: 6 key(s) appear more than once in the batch, e.g. 1, 2, 3, 4, 5. Deduplicate first, "
        "or pass on_duplicates='keep_latest' (the newest 'ts' wins)"
    )
    with pytest.raises(DuplicateKeys) as err:
        merge_tables(TARGET, incoming, opts(obj[1], keys="id"), what="upsert into 'x'")
    assert str(err.value).endswith("or pass on_duplicates='keep_latest' (the last row wins)")
    composite = pa.table({"a": [1, 1, 2, 2], "b": ["x", "x", "y", "y"], "v": [1, 2, 3, 4]})
    with pytest.raises(DuplicateKeys, match=r"2 key\(s\) appear more than once in the batch, e\.g\. \(1, 'x'\), \(2, 'y'\)\."):
        merge_tables(composite.slice(0, 0), composite, opts(obj[1], keys="a,b"))
    nulls = pa.table({"id": [1, 2, None], "k2": [None, None, 1], "v": ["a", "b", "c"], "ts": [1, 1, 1]})
    with pytest.raises(DaoError) as err:
        merge_tables(TARGET, nulls, opts(obj[1], keys="id,k2"))
    assert str(err.value) == "upsert: 1 row(s) have a null key in column 'id'; keys must not be null"
    with pytest.raises(SchemaMismatch) as err:
        merge_tables(TARGET, pa.table({"idd": [5], "v": ["e"], "ts": [1]}), opts(obj[0]))
    assert str(err.value) == (
        "upsert: upsert columns ['id'] are not in the data. Did you mean 'idd'? Columns: idd, v, ts"
    )


def test_prepare_incoming_reports_dropped_duplicates(obj):
    incoming = pa.table({"id": [1, 1, 1, 2], "v": ["a", "b", "c", "d"], "ts": [1, 3, 2, 1]})
    kept, dropped = prepare_incoming(incoming, opts(obj[0], on_duplicates="keep_latest"), what="x")
    assert dropped == 2 and sorted(kept.to_pylist(), key=lambda r: r["id"]) == [
        {"id": 1, "v": "b", "ts": 3}, {"id": 2, "v": "d", "ts": 1}]
    same, dropped = prepare_incoming(incoming.slice(2), opts(obj[0]), what="x")
    assert dropped == 0 and same.to_pylist() == incoming.slice(2).to_pylist()
    empty, dropped = prepare_incoming(incoming.slice(0, 0), opts(obj[0]), what="x")
    assert dropped == 0 and empty.num_rows == 0


def test_merge_into_an_empty_target_and_an_empty_batch(obj):
    incoming = pa.table({"id": [5], "v": ["e"], "ts": [1]})
    result, metrics = merge_tables(TARGET.slice(0, 0), incoming, opts(obj[0]))
    assert by_id(result) == [(5, "e", 1)] and metrics == {"inserted": 1, "updated": 0, "deleted": 0}
    result, metrics = merge_tables(TARGET, incoming.slice(0, 0), opts(obj[0]))
    assert by_id(result) == by_id(TARGET) and metrics == {"inserted": 0, "updated": 0, "deleted": 0}
    result, metrics = merge_tables(TARGET, incoming.slice(0, 0), opts(obj[0], delete_unmatched=True))
    assert by_id(result) == [] and metrics == {"inserted": 0, "updated": 0, "deleted": 3}
