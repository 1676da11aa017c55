"""Property test: upserts equal a small reference model written in plain Python, on random stored
and incoming batches, for every strategy, duplicate policy, with and without ``order_by`` and
``delete_unmatched`` — for the semantics module (``merge_tables``) and for a files store through
the pandas engine (``dao.upsert`` on a tmp folder, plain and partitioned layouts).

The model is the rule table of docs/upserts.md: keep_latest keeps the greatest ``order_by`` (a null
is older than any value; among equals, and without ``order_by``, the last row in batch order); an
incoming row replaces the stored row of its key unless it is older (a tie goes to the incoming
row); ``insert_only`` never replaces; ``delete_unmatched`` removes stored keys absent from the batch.

Deterministic (``derandomize=True``, no example database): CI runs the same examples every time.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from spark_dao import DataAccessObject, DuplicateKeys
from spark_dao.catalog import Catalog
from spark_dao.interfaces.upsert import (
    UpsertOptions,
    affected_rows,
    merge_tables,
    plan_merge,
    prepare_incoming,
    split_stored,
    surviving_rows,
)

SCHEMA = pa.schema([("id", pa.int64()), ("p", pa.int64()), ("v", pa.string()), ("ts", pa.int64())])
PROPERTY = settings(max_examples=500, derandomize=True, database=None, deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Small domains, so that keys collide, order_by values tie, and nulls appear.
ts_values = st.one_of(st.none(), st.integers(0, 2))
row = st.tuples(st.integers(0, 3), st.integers(0, 1), ts_values)  # (id, p, ts)
options = st.fixed_dictionaries({
    "strategy": st.sampled_from(["merge", "insert_only", "delete_insert"]),
    "on_duplicates": st.sampled_from(["error", "keep_latest"]),
    "order_by": st.sampled_from([None, "ts"]),
    "delete_unmatched": st.booleans(),
})


def stored_rows(draw_rows: list[tuple], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Stored rows: one per key (the first drawn), labelled s0, s1..."""
    out, seen = [], set()
    for i, (id_, p, ts) in enumerate(draw_rows):
        r = {"id": id_, "p": p, "v": f"s{i}", "ts": ts}
        if tuple(r[k] for k in keys) not in seen:
            seen.add(tuple(r[k] for k in keys))
            out.append(r)
    return out


def incoming_rows(draw_rows: list[tuple]) -> list[dict[str, Any]]:
    return [{"id": id_, "p": p, "v": f"i{i}", "ts": ts} for i, (id_, p, ts) in enumerate(draw_rows)]


# --------------------------------------------------------------------------- the reference model
def older(a: Any, b: Any) -> bool:
    """Is order_by value ``a`` older than ``b``? A null is older than any value."""
    if a is None:
        return b is not None
    return b is not None and a < b


def model(stored: list[dict], incoming: list[dict], keys: tuple[str, ...], opt: dict,
          seen: set[str] | None = None) -> tuple[list[dict], dict] | None:
    """(result rows, metrics), or None when the batch must be refused as holding duplicate keys.

    ``seen`` collects which rules fired (reported as hypothesis events: the examples must reach them).
    """
    seen = set() if seen is None else seen
    key = lambda r: tuple(r[k] for k in keys)  # noqa: E731
    order_by = opt["order_by"]
    latest: dict[tuple, dict] = {}
    for r in incoming:  # batch order: a later row wins unless it is older
        k = key(r)
        if k in latest:
            if opt["on_duplicates"] == "error":
                seen.add("duplicates refused")
                return None
            seen.add("duplicates kept latest")
            if order_by and older(r[order_by], latest[k][order_by]):
                continue
        latest[k] = r
    by_key = {key(r): r for r in stored}
    result = {k: r for k, r in by_key.items()}
    inserted = updated = 0
    for k, r in latest.items():
        if k not in by_key:
            result[k] = r
            inserted += 1
        elif opt["strategy"] != "insert_only" and not (order_by and older(r[order_by], by_key[k][order_by])):
            if order_by and r[order_by] == by_key[k][order_by]:
                seen.add("tie with stored" if r[order_by] is not None else "both null")
            result[k] = r
            updated += 1
        elif opt["strategy"] != "insert_only":
            seen.add("stale incoming row")
    deleted = 0
    if opt["delete_unmatched"]:
        for k in by_key:
            if k not in latest:
                del result[k]
                deleted += 1
                seen.add("unmatched deleted")
    return list(result.values()), {"inserted": inserted, "updated": updated, "deleted": deleted}


def canon(rows: list[dict]) -> list[tuple]:
    return sorted(((r["id"], r["p"], r["v"], r["ts"]) for r in rows), key=repr)


def call_options(opt: dict, keys: tuple[str, ...]) -> dict[str, Any]:
    out = {"keys": list(keys), "strategy": opt["strategy"], "on_duplicates": opt["on_duplicates"],
           "delete_unmatched": opt["delete_unmatched"]}
    if opt["order_by"]:
        out["order_by"] = opt["order_by"]
    return out


def test_the_model_pins_the_documented_rules():
    """The model itself, on hand-picked rows (so a wrong model cannot agree with wrong code)."""
    s = [{"id": 1, "p": 0, "v": "s1", "ts": 2}, {"id": 2, "p": 0, "v": "s2", "ts": None}]
    i = [{"id": 1, "p": 0, "v": "tie", "ts": 2}, {"id": 2, "p": 0, "v": "null", "ts": None},
         {"id": 3, "p": 0, "v": "a", "ts": 1}, {"id": 3, "p": 0, "v": "b", "ts": 1}]
    opt = {"strategy": "merge", "on_duplicates": "keep_latest", "order_by": "ts", "delete_unmatched": False}
    rows, metrics = model(s, i, ("id",), opt)
    assert canon(rows) == [(1, 0, "tie", 2), (2, 0, "null", None), (3, 0, "b", 1)]
    assert metrics == {"inserted": 1, "updated": 2, "deleted": 0}
    rows, _ = model(s, [{"id": 1, "p": 0, "v": "old", "ts": None}], ("id",), opt)
    assert canon(rows) == [(1, 0, "s1", 2), (2, 0, "s2", None)]
    assert model(s, i, ("id",), {**opt, "on_duplicates": "error"}) is None


# --------------------------------------------------------------------------- semantics module
@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    cat = Catalog.load({"stores": {"s": {"interface": "files", "path": str(tmp_path_factory.mktemp("props"))}},
                        "objects": {"s.t": {}}})
    return cat.get("s.t")


@PROPERTY
@given(st.lists(row, max_size=8), st.lists(row, max_size=8), options, st.sampled_from([("id",), ("p", "id")]))
def test_merge_tables_equals_the_model(objs, stored_draw, incoming_draw, opt, keys):
    stored = stored_rows(stored_draw, keys)
    incoming = incoming_rows(incoming_draw)
    rules: set[str] = set()
    expected = model(stored, incoming, keys, opt, rules)
    for rule in rules:
        event(rule)
    opts = UpsertOptions.from_options(call_options(opt, keys), objs)
    target = pa.Table.from_pylist(stored, schema=SCHEMA)
    batch = pa.Table.from_pylist(incoming, schema=SCHEMA)
    if expected is None:
        with pytest.raises(DuplicateKeys, match=r"key\(s\) appear more than once in the batch"):
            merge_tables(target, batch, opts)
        return
    result, metrics = merge_tables(target, batch, opts)
    assert canon(result.to_pylist()) == canon(expected[0])
    assert metrics == expected[1]
    # the pieces the files store runs per file: the rows a plan touches are exactly those it drops,
    # and the unmatched rows it deletes are the model's deletions
    prepared, _ = prepare_incoming(batch, opts, what="t")
    plan = plan_merge(prepared, target.select(list(keys) + (["ts"] if opts.order_by else [])), opts)
    touched = affected_rows(target.select(list(keys)), plan, opts)
    kept, deleted = split_stored(target, plan, opts)
    assert kept.to_pylist() == target.filter(pc.invert(touched)).to_pylist() == surviving_rows(target, plan, opts).to_pylist()
    assert deleted == expected[1]["deleted"]


# --------------------------------------------------------------------------- files store, pandas engine
LAYOUTS = {
    "plain": {"keys": ("id",), "object": {}},
    "partitioned": {"keys": ("id",), "object": {"partition_by": ["p"]}},  # a key may move partitions
    "partition_key": {"keys": ("p", "id"), "object": {"partition_by": ["p"]}},  # pruned scan
}


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return tmp_path_factory.mktemp("props_lake")


@pytest.mark.parametrize("layout", list(LAYOUTS))
@settings(PROPERTY, max_examples=150)
@given(st.lists(row, max_size=8), st.lists(row, max_size=8), options, st.sampled_from(["parquet", "csv"]))
def test_files_upsert_equals_the_model(lake, layout, stored_draw, incoming_draw, opt, fmt):
    keys = LAYOUTS[layout]["keys"]
    root = lake / uuid.uuid4().hex
    dao = DataAccessObject({
        "stores": {"s": {"interface": "files", "path": str(root)}},
        "objects": {"s.t": {**LAYOUTS[layout]["object"], "format": fmt,
                            "schema": {"id": "long", "p": "long", "v": "string", "ts": "long"}}},
    })
    stored = stored_rows(stored_draw, keys)
    incoming = incoming_rows(incoming_draw)
    if stored:
        # two rows per file: the upsert must rewrite some files and leave others
        dao.write(pa.Table.from_pylist(stored, schema=SCHEMA), "s.t", mode="overwrite", engine="pandas",
                  options={"max_rows_per_file": 2})
    before = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    rules: set[str] = set()
    expected = model(stored, incoming, keys, opt, rules)
    for rule in rules:
        event(rule)
    # nullable ints as pandas' Int64 (plain pandas would turn a column with None into float64)
    batch = pa.Table.from_pylist(incoming, schema=SCHEMA).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    if expected is None:
        with pytest.raises(DuplicateKeys, match=r"key\(s\) appear more than once in the batch"):
            dao.upsert(batch, "s.t", **call_options(opt, keys))
        assert sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file()) == before
        return
    result = dao.upsert(batch, "s.t", **call_options(opt, keys))
    got = dao.read("s.t", engine="arrow").to_pylist()
    assert canon(got) == canon(expected[0])
    metrics = expected[1]
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (
        metrics["inserted"], metrics["updated"], metrics["deleted"])
    assert not [p for p in root.rglob("*") if "_dao_staging" in p.parts]


def test_the_property_domains_reach_every_rule():
    """The strategies do produce ties, stale rows, nulls and duplicates (else the test proves little)."""
    rows = list(itertools.product(range(2), range(1), [None, 0, 1]))
    stored = stored_rows(rows, ("id",))
    assert [r["ts"] for r in stored] == [None, None]
    opt = {"strategy": "merge", "on_duplicates": "keep_latest", "order_by": "ts", "delete_unmatched": False}
    result, metrics = model(stored, incoming_rows(rows), ("id",), opt)
    assert canon(result) == [(0, 0, "i2", 1), (1, 0, "i5", 1)] and metrics["updated"] == 2
