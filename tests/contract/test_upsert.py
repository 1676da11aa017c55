"""Upserts against the reference model (``_contract.model``, the rules of docs/upserts.md): merge
by keys, duplicate keys in a batch, ``order_by`` (an older row never replaces a newer one), on every
store kind, through the interface and through ``dao.upsert`` (pandas engine)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from spark_dao import DuplicateKeys

from ._contract import canon, model, read, write

ROWS = pa.schema([("id", pa.int64()), ("v", pa.string()), ("ts", pa.int64())])


def rows(*items: tuple) -> list[dict[str, Any]]:
    return [dict(zip(ROWS.names, r, strict=True)) for r in items]


def arrow(items: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(items, schema=ROWS)


def upsert(kind: Any, incoming: list[dict], **opts: Any) -> Any:
    """An upsert through the interface: ``operation=upsert`` on an append, staged in two tasks."""
    options = {"operation": "upsert", "keys": "id", **{k: v for k, v in opts.items() if v is not None}}
    return write(kind, kind.obj("lake.t"), arrow(incoming), "append", options)


STORED = rows((1, "s1", 5), (2, "s2", 5), (3, "s3", None))


@pytest.mark.parametrize("order_by", [None, "ts"])
def test_merge_updates_matched_keys_and_inserts_new_ones(store_kind, order_by):
    store_kind.require("upsert")
    write(store_kind, store_kind.obj("lake.t"), arrow(STORED), "overwrite")
    incoming = rows((2, "new2", 6), (4, "new4", 1))
    result = upsert(store_kind, incoming, order_by=order_by)
    expected, metrics = model(STORED, incoming, ("id",), order_by=order_by)
    assert canon(read(store_kind, store_kind.obj("lake.t"))) == canon(expected)
    assert (result.rows_inserted, result.rows_updated) == (metrics["inserted"], metrics["updated"]) == (1, 1)
    assert store_kind.leftovers() == []


def test_order_by_an_older_row_never_replaces_a_newer_one(store_kind):
    store_kind.require("upsert")
    write(store_kind, store_kind.obj("lake.t"), arrow(STORED), "overwrite")
    incoming = rows((1, "older", 4), (2, "tie", 5), (3, "newer than null", 0), (4, "new", None))
    result = upsert(store_kind, incoming, order_by="ts")
    got = {r["id"]: r["v"] for r in read(store_kind, store_kind.obj("lake.t")).to_pylist()}
    # 1: stored ts 5 is newer -> kept; 2: a tie goes to the incoming row; 3: a null is older than any value
    assert got == {1: "s1", 2: "tie", 3: "newer than null", 4: "new"}
    assert (result.rows_updated, result.rows_inserted) == (2, 1)
    expected, _ = model(STORED, incoming, ("id",), order_by="ts")
    assert canon(read(store_kind, store_kind.obj("lake.t"))) == canon(expected)


def test_duplicate_keys_in_the_batch_are_refused_and_nothing_changes(store_kind):
    store_kind.require("upsert")
    write(store_kind, store_kind.obj("lake.t"), arrow(STORED), "overwrite")
    incoming = rows((2, "a", 1), (7, "b", 1), (2, "c", 2))
    with pytest.raises(DuplicateKeys) as err:
        upsert(store_kind, incoming)
    msg = str(err.value)
    assert "'lake.t'" in msg and "appear more than once" in msg and "2" in msg, msg
    assert canon(read(store_kind, store_kind.obj("lake.t"))) == canon(STORED)
    assert store_kind.leftovers() == []
    with pytest.raises(DuplicateKeys):
        store_kind.dao.upsert(arrow(incoming), "lake.t", engine="pandas")
    assert canon(read(store_kind, store_kind.obj("lake.t"))) == canon(STORED)
    # keep_latest: the greatest order_by per key wins inside the batch
    store_kind.dao.upsert(arrow(incoming), "lake.t", engine="pandas", order_by="ts", on_duplicates="keep_latest")
    expected, _ = model(STORED, incoming, ("id",), order_by="ts", on_duplicates="keep_latest")
    assert canon(read(store_kind, store_kind.obj("lake.t"))) == canon(expected)


def test_upsert_into_a_new_object_inserts_everything(store_kind):
    store_kind.require("upsert")
    incoming = rows((1, "a", 1), (2, "b", None))
    result = store_kind.dao.upsert(arrow(incoming), "lake.t", engine="pandas", order_by="ts")
    assert result.rows_inserted == 2 and result.rows_updated == 0
    assert canon(store_kind.dao.read("lake.t", engine="arrow")) == canon(incoming)


def test_upsert_that_deletes_every_row_keeps_an_empty_object(store_kind, request):
    """delete_unmatched with a batch that matches no stored key deletes every stored row: the object
    must then read as empty, with its schema (as an empty write does), not vanish."""
    store_kind.require("upsert")
    dao = store_kind.dao
    dao.write(arrow(STORED), "lake.t", mode="overwrite", engine="pandas")
    result = dao.upsert(arrow([]), "lake.t", engine="pandas", delete_unmatched=True)
    assert result.rows_deleted == len(STORED)
    assert dao.exists("lake.t")
    back = dao.read("lake.t", engine="arrow")
    assert back.num_rows == 0 and back.schema.names == ROWS.names


# --------------------------------------------------------------------------- property: the model
row = st.tuples(st.integers(0, 3), st.one_of(st.none(), st.integers(0, 2)))  # (id, ts): keys collide, ts ties
options = st.fixed_dictionaries({
    "strategy": st.sampled_from(["merge", "insert_only", "delete_insert"]),
    "on_duplicates": st.sampled_from(["error", "keep_latest"]),
    "order_by": st.sampled_from([None, "ts"]),
    "delete_unmatched": st.booleans(),
})


@settings(max_examples=30, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(row, max_size=5, unique_by=lambda r: r[0]), st.lists(row, max_size=5), options)
def test_dao_upsert_equals_the_reference_model(store_kind, stored_draw, incoming_draw, opt):
    store_kind.require("upsert")
    dao = store_kind.dao
    stored = [{"id": i, "v": f"s{n}", "ts": ts} for n, (i, ts) in enumerate(stored_draw)]
    incoming = [{"id": i, "v": f"i{n}", "ts": ts} for n, (i, ts) in enumerate(incoming_draw)]
    expected = model(stored, incoming, ("id",), **opt)
    # an upsert that deletes every stored row: test_upsert_that_deletes_every_row_keeps_an_empty_object
    assume(expected is None or expected[0] or not stored)
    dao.write(arrow(stored), "lake.t", mode="overwrite", engine="pandas")
    if expected is None:
        with pytest.raises(DuplicateKeys):
            dao.upsert(arrow(incoming), "lake.t", engine="pandas", **opt)
        assert canon(dao.read("lake.t", engine="arrow")) == canon(stored)
        return
    result = dao.upsert(arrow(incoming), "lake.t", engine="pandas", **opt)
    assert canon(dao.read("lake.t", engine="arrow")) == canon(expected[0])
    metrics = expected[1]
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (
        metrics["inserted"], metrics["updated"], metrics["deleted"])


@settings(max_examples=15, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(row, max_size=5, unique_by=lambda r: r[0]), st.lists(row, max_size=5), options)
def test_staged_upsert_equals_the_reference_model(store_kind, stored_draw, incoming_draw, opt):
    """The same model through the interface as Spark drives it: the batch staged by two tasks (to
    storage, not in memory), the commit reads it back and merges."""
    store_kind.require("upsert")
    obj = store_kind.obj("lake.t")
    stored = [{"id": i, "v": f"s{n}", "ts": ts} for n, (i, ts) in enumerate(stored_draw)]
    incoming = [{"id": i, "v": f"i{n}", "ts": ts} for n, (i, ts) in enumerate(incoming_draw)]
    expected = model(stored, incoming, ("id",), **opt)
    assume(expected is None or expected[0] or not stored)  # see test_upsert_that_deletes_every_row_...
    write(store_kind, obj, arrow(stored), "overwrite")
    if expected is None:
        with pytest.raises(DuplicateKeys):
            upsert(store_kind, incoming, **opt)
        assert canon(read(store_kind, obj)) == canon(stored)
    else:
        result = upsert(store_kind, incoming, **opt)
        assert canon(read(store_kind, obj)) == canon(expected[0])
        assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (
            expected[1]["inserted"], expected[1]["updated"], expected[1]["deleted"])
    assert store_kind.leftovers() == []
