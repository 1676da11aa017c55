"""Partition pruning at every boundary: every filter operator, on int, string and date partition
columns (with a null partition), at and around each stored value.

Each case compares three pruned reads with a reference computed in plain Python from the rows
written (SQL semantics: a comparison with a null partition value is not true):

* ``plan_read``: the set of partitions whose files are planned must be exactly the matching ones
  (too many = pruning ignored a filter; too few = rows lost);
* the pandas/arrow engine: ``dao.read(filters=...)`` rows (a filter applied by pruning is not
  re-applied to the rows, so an over-inclusive pruning shows up as extra rows here);
* Spark ``.filter`` on ``format(<registered dao>)`` with filter pushdown on: rows, and the number
  of read tasks (one per planned file with ``split_bytes=1``) for the filters Spark pushes.
"""

from __future__ import annotations

import datetime as dt
import operator
from typing import Any

import pyarrow as pa
import pytest

import spark_dao
from spark_dao import DataAccessObject
from spark_dao.interfaces import get_interface

D = dt.date
# Partition values chosen so that a lexicographic comparison differs from the typed one
# (2 < 10 but "2" > "10"; "b c" needs escaping in the path) and one partition is null.
VALUES: dict[str, list[Any]] = {
    "int": [-1, 2, 10, None],
    "str": ["a", "b", "b c", None],
    "date": [D(2024, 12, 31), D(2025, 1, 1), D(2025, 1, 10), None],
}
# Probes: each stored value (the boundaries) and a value below, between and above them.
PROBES: dict[str, list[Any]] = {
    "int": [-2, -1, 0, 2, 5, 10, 11],
    "str": ["", "a", "aa", "b", "b b", "b c", "c"],
    "date": [D(2024, 12, 30), D(2024, 12, 31), D(2025, 1, 1), D(2025, 1, 5), D(2025, 1, 10), D(2025, 1, 11)],
}
TYPES = {"int": pa.int64(), "str": pa.string(), "date": pa.date32()}
COMPARE = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
           ">=": operator.ge}


def holds(value: Any, op: str, ref: Any) -> bool:
    """The reference predicate (SQL semantics: null partitions match only ``is_null``)."""
    if op == "is_null":
        return value is None
    if op == "not_null":
        return value is not None
    if value is None:
        return False
    if op == "in":
        return value in ref
    return COMPARE[op](value, ref)


def cases(kind: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = [(op, ref) for op in COMPARE for ref in PROBES[kind]]
    stored = [v for v in VALUES[kind] if v is not None]
    out += [("in", (stored[1],)), ("in", (stored[0], stored[2])), ("in", (PROBES[kind][0],)),
            ("in", tuple(stored))]
    out += [("is_null", None), ("not_null", None)]
    return out


ROWS: dict[str, list[dict[str, Any]]] = {
    kind: [{"id": i * 10 + j, "v": f"r{i}{j}", "p": value} for i, value in enumerate(values) for j in range(2)]
    for kind, values in VALUES.items()
}


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("pruning")
    catalog = {
        "stores": {"lake": {"interface": "files", "path": str(root)}},
        "objects": {f"lake.{kind}": {"partition_by": ["p"]} for kind in VALUES},
    }
    dao = DataAccessObject(catalog)
    for kind, rows in ROWS.items():
        schema = pa.schema([("id", pa.int64()), ("v", pa.string()), ("p", TYPES[kind])])
        dao.write(pa.Table.from_pylist(rows, schema=schema), f"lake.{kind}", mode="overwrite", engine="arrow")
    return {"dao": dao, "catalog": catalog, "root": root}


def expected_rows(kind: str, op: str, ref: Any) -> list[tuple]:
    return sorted((r["id"], r["v"]) for r in ROWS[kind] if holds(r["p"], op, ref))


def expected_partitions(kind: str, op: str, ref: Any) -> set[Any]:
    return {v for v in VALUES[kind] if holds(v, op, ref)}


def planned_partitions(dao: DataAccessObject, kind: str, filters: list) -> tuple[set[Any], int]:
    obj = dao.resolve(f"lake.{kind}")
    plan = get_interface(obj.store).plan_read(obj, {"split_bytes": 1}, filters)
    slices = [sl for task in plan.tasks for sl in task.payload.slices]
    return {dict(sl.partition)["p"] for sl in slices}, len(plan.tasks)


def test_the_data_has_one_file_per_partition_and_types_are_inferred(lake):
    dao = lake["dao"]
    for kind in VALUES:
        parts, tasks = planned_partitions(dao, kind, [])
        assert parts == set(VALUES[kind]) and tasks == 4
        table = dao.read(f"lake.{kind}", engine="arrow")
        assert table.schema.field("p").type == TYPES[kind]
        assert sorted(table.to_pylist(), key=lambda r: r["id"]) == ROWS[kind]


@pytest.mark.parametrize("kind", list(VALUES))
def test_plan_read_prunes_exactly_the_matching_partitions(lake, kind):
    dao = lake["dao"]
    wrong = []
    for op, ref in cases(kind):
        got, _ = planned_partitions(dao, kind, [("p", op, ref)])
        want = expected_partitions(kind, op, ref)
        if got != want:
            wrong.append((op, ref, sorted(got, key=str), sorted(want, key=str)))
    assert wrong == []


@pytest.mark.parametrize("kind", list(VALUES))
def test_pandas_engine_rows_equal_the_reference(lake, kind):
    dao = lake["dao"]
    wrong = []
    for op, ref in cases(kind):
        table = dao.read(f"lake.{kind}", engine="arrow", filters=[("p", op, ref)])
        got = sorted((r["id"], r["v"]) for r in table.to_pylist())
        if got != expected_rows(kind, op, ref):
            wrong.append((op, ref))
    assert wrong == []
    # the pandas output too (one case per type is enough: it is the same table converted)
    stored = [v for v in VALUES[kind] if v is not None]
    pdf = dao.read(f"lake.{kind}", engine="pandas", filters=[("p", "<=", stored[1])])
    assert sorted(pdf["id"].tolist()) == [0, 1, 10, 11]


def test_a_conjunction_prunes_by_every_filter(lake):
    dao = lake["dao"]
    filters = [("p", ">=", 2), ("p", "<=", 10), ("p", "!=", 10)]
    assert planned_partitions(dao, "int", filters)[0] == {2}
    assert sorted(dao.read("lake.int", engine="arrow", filters=filters)["id"].to_pylist()) == [10, 11]
    # a value given as a string is compared as the partition's type (2 < 10, not "10" < "2")
    assert planned_partitions(dao, "int", [("p", "<", "10")])[0] == {-1, 2}
    assert planned_partitions(dao, "date", [("p", "<=", "2025-01-01")])[0] == {D(2024, 12, 31), D(2025, 1, 1)}


# --------------------------------------------------------------------------- Spark
def spark_column(F: Any, op: str, ref: Any) -> Any:
    c = F.col("p")
    if op == "in":
        return c.isin(list(ref))
    if op == "is_null":
        return c.isNull()
    if op == "not_null":
        return c.isNotNull()
    return {"=": c == ref, "!=": c != ref, "<": c < ref, "<=": c <= ref, ">": c > ref, ">=": c >= ref}[op]


def spark_cases(kind: str) -> list[tuple[str, Any]]:
    """Every operator at each stored (non-null) value, plus the in/null cases."""
    stored = [v for v in VALUES[kind] if v is not None]
    out = [(op, ref) for op in COMPARE for ref in stored]
    return out + [c for c in cases(kind) if c[0] in ("in", "is_null", "not_null")]


@pytest.mark.parametrize("kind", list(VALUES))
def test_spark_filter_rows_and_tasks_equal_the_reference(spark, lake, kind):
    from pyspark.sql import functions as F

    fmt = spark_dao.register(spark, lake["catalog"], name="dao_pruning")
    assert spark.conf.get("spark.sql.python.filterPushdown.enabled") == "true"
    df = spark.read.format(fmt).option("split_bytes", "1").load(f"lake.{kind}")
    wrong = []
    for op, ref in spark_cases(kind):
        filtered = df.filter(spark_column(F, op, ref))
        got = sorted((r["id"], r["v"]) for r in filtered.collect())
        want = expected_rows(kind, op, ref)
        # Spark pushes every operator but != (a Not(EqualTo), not converted; the IsNotNull Spark adds
        # still prunes the null partition). One task per planned file; Spark runs one (empty) task
        # when nothing is planned.
        files = len(expected_partitions(kind, "not_null" if op == "!=" else op, ref))
        tasks = filtered.rdd.getNumPartitions()
        if got != want or tasks != max(files, 1):
            wrong.append((op, ref, got, want, tasks, files))
    assert wrong == []


def test_dao_read_with_spark_engine_applies_filters(spark, lake):
    dao = lake["dao"]
    df = dao.read("lake.date", engine="spark", filters=[("p", "<=", D(2025, 1, 1)), ("p", "!=", D(2024, 12, 31))])
    assert sorted(r["id"] for r in df.collect()) == [10, 11]
    df = dao.read("lake.str", engine="spark", filters=[("p", ">=", "b"), ("p", "<", "b c")])
    assert sorted(r["id"] for r in df.collect()) == [10, 11]


def test_a_comparison_with_null_matches_nothing_and_does_not_disable_other_filters(lake):
    # SQL semantics: p < NULL is never true. It used to keep every file *and* skip the filters
    # after it (so ("p", "=", 2) was ignored), and the pandas engine returned every row.
    dao = lake["dao"]
    for op in ("=", "!=", "<", "<=", ">", ">="):
        assert planned_partitions(dao, "int", [("p", op, None), ("p", "=", 2)])[0] == set()
        assert dao.read("lake.int", engine="arrow", filters=[("p", op, None)]).num_rows == 0
    assert planned_partitions(dao, "int", [("p", "in", [None, 2])])[0] == {2}


def test_null_checks_combine_with_the_other_filters(lake):
    dao = lake["dao"]
    assert planned_partitions(dao, "int", [("p", "not_null", None), ("p", "<=", 2)])[0] == {-1, 2}
    assert planned_partitions(dao, "int", [("p", "is_null", None), ("p", ">", 0)])[0] == set()
    # a null check ignores its value, whatever it is (it is not cast to the partition's type)
    assert planned_partitions(dao, "int", [("p", "is_null", "ignored")])[0] == {None}
    assert planned_partitions(dao, "int", [("p", "not_null", "ignored")])[0] == {-1, 2, 10}


def test_row_filters_on_data_columns_are_a_conjunction(lake):
    # filters on non-partition columns are applied to the rows by the pandas engine: all of them
    dao = lake["dao"]
    table = dao.read("lake.int", engine="arrow", filters=[("id", ">=", 10), ("id", "<", 21), ("p", "!=", 10)])
    assert sorted(table["id"].to_pylist()) == [10, 11]


def test_an_incomparable_filter_keeps_the_file_but_not_the_others():
    from spark_dao.interfaces.files import _matches

    assert _matches({"p": 1}, [("p", "<", "x"), ("p", "=", 2)]) is False
    assert _matches({"p": 1}, [("p", "<", "x"), ("p", "=", 1)]) is True


@pytest.mark.parametrize("kind", list(VALUES))
def test_row_filters_on_a_data_column_equal_the_reference(lake, kind):
    """The same operators on a non-partition column: applied to the rows by the pandas engine."""
    dao = lake["dao"]
    ids = [r["id"] for r in ROWS[kind]]
    probes = [("id", op, ref) for op in COMPARE for ref in (-1, 0, 1, 11, 20, 31, 32)]
    probes += [("id", "in", (0, 21)), ("id", "in", ()), ("id", "is_null", None), ("id", "not_null", None)]
    wrong = []
    for col, op, ref in probes:
        got = sorted(dao.read(f"lake.{kind}", engine="arrow", filters=[(col, op, ref)])["id"].to_pylist())
        if got != sorted(i for i in ids if holds(i, op, ref)):
            wrong.append((op, ref, got))
    assert wrong == []
