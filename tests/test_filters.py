"""The filter module's own API: the operator table, validation messages, pruning semantics, Arrow
masks, the Spark conversions (on real pyspark filter objects) and the SQL rendering.

The end-to-end behaviour (every operator at every boundary, pandas and Spark) is in test_pruning.py.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from spark_dao.errors import DaoError
from spark_dao.interfaces import filters
from spark_dao.interfaces.filters import (
    OPERATORS,
    arrow_mask,
    coerce,
    filter_table,
    matches,
    to_sql,
    validate,
)


def test_the_operator_table() -> None:
    assert list(OPERATORS) == ["=", "!=", "<", "<=", ">", ">=", "in", "is_null", "not_null"]
    assert [o.name for o in OPERATORS.values() if not o.binary] == ["is_null", "not_null"]
    assert all(name == o.name for name, o in OPERATORS.items())


def test_the_callers_use_this_module() -> None:
    from spark_dao.interfaces import base, files

    assert files._matches is matches
    assert base.PartitionFilter is filters.PartitionFilter


@pytest.mark.parametrize("op", list(OPERATORS))
def test_every_operator_is_valid(op: str) -> None:
    validate([("c", op, (1,) if op == "in" else 1)], what="reading 'x'")


def test_an_unknown_operator_names_the_filter_a_close_match_and_the_valid_ones() -> None:
    with pytest.raises(DaoError) as e:
        validate([("a", "=", 1), ("day", "<==", 3)], what="reading 'silver.visits'")
    assert str(e.value) == (
        "reading 'silver.visits': unknown filter operator '<==' in ('day', '<==', 3). Did you mean '<='? "
        "Valid: =, !=, <, <=, >, >=, in, is_null, not_null"
    )
    with pytest.raises(DaoError, match=r"unknown filter operator '=='.*Valid: =, !="):
        validate([("a", "==", 1)], what="reading 'x'")
    with pytest.raises(DaoError, match=r"^reading 'x': unknown filter operator 'like' in \('a', 'like', '%'\)\. "
                                       r"Valid: =, "):
        validate([("a", "like", "%")], what="reading 'x'")


@pytest.mark.parametrize(("op", "ref", "expected"), [
    ("=", 2, True), ("=", 3, False), ("!=", 2, False), ("!=", 3, True),
    ("<", 2, False), ("<", 3, True), ("<=", 2, True), ("<=", 1, False),
    (">", 2, False), (">", 1, True), (">=", 2, True), (">=", 3, False),
    ("in", (1, 2), True), ("in", (1, 3), False), ("in", (), False),
    ("is_null", None, False), ("not_null", None, True),
])
def test_matches_on_a_value(op: str, ref: object, expected: bool) -> None:
    assert matches({"p": 2}, [("p", op, ref)]) is expected


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">=", "in"])
def test_a_comparison_with_null_matches_nothing(op: str) -> None:
    ref = (None, 1) if op == "in" else 1
    assert matches({"p": None}, [("p", op, ref)]) is False
    assert matches({"p": 1}, [("p", op, None)]) is False
    assert matches({}, [("p", op, ref)]) is False  # a missing partition value is null


def test_null_tests_and_conjunctions() -> None:
    assert matches({"p": None}, [("p", "is_null", None)]) is True
    assert matches({"p": None}, [("p", "not_null", None)]) is False
    assert matches({"p": 1, "q": "a"}, [("p", "=", 1), ("q", "=", "a")]) is True
    assert matches({"p": 1, "q": "a"}, [("p", "=", 1), ("q", "=", "b")]) is False
    assert matches({"p": 1}, []) is True


def test_an_incomparable_filter_keeps_the_file_but_not_the_others() -> None:
    assert matches({"p": 1}, [("p", "<", "x")]) is True
    assert matches({"p": 1}, [("p", "<", "x"), ("p", "=", 2)]) is False
    assert matches({"p": 1}, [("p", "<", "x"), ("p", "=", 1)]) is True


def test_coerce_to_the_partition_type() -> None:
    assert coerce(("d", "=", "1"), pa.int64()) == ("d", "=", 1)
    assert coerce(("d", "in", ["1", "2"]), pa.int64()) == ("d", "in", (1, 2))
    assert coerce(("d", ">=", "2020-01-02"), pa.date32()) == ("d", ">=", dt.date(2020, 1, 2))
    assert coerce(("d", "=", "monday"), pa.int64()) is None
    assert coerce(("d", "is_null", None), pa.int64()) == ("d", "is_null", None)
    assert coerce(("d", "=", None), pa.int64()) == ("d", "=", None)


TABLE = pa.table({"n": [1, 2, None, 3], "s": ["a", "b", "c", None]})


@pytest.mark.parametrize(("f", "expected"), [
    (("n", "=", 2), [False, True, None, False]),
    (("n", "!=", 2), [True, False, None, True]),
    (("n", "<", 2), [True, False, None, False]),
    (("n", "<=", 2), [True, True, None, False]),
    (("n", ">", 2), [False, False, None, True]),
    (("n", ">=", 2), [False, True, None, True]),
    (("n", "in", [1, 3]), [True, False, False, True]),
    (("n", "is_null", None), [False, False, True, False]),
    (("n", "not_null", None), [True, True, False, True]),
    (("s", "in", ("b",)), [False, True, False, False]),
])
def test_arrow_mask(f: tuple, expected: list) -> None:
    assert arrow_mask(TABLE, f).to_pylist() == expected


def test_filter_table_and_its_errors() -> None:
    out = filter_table(TABLE, [("n", ">=", 2), ("s", "not_null", None)], what="reading 'x'")
    assert out.to_pydict() == {"n": [2], "s": ["b"]}
    assert filter_table(TABLE, [], what="reading 'x'") is TABLE
    with pytest.raises(DaoError, match=r"^reading 'x': filter column 'm' is not in the data read; columns: n, s$"):
        filter_table(TABLE, [("m", "=", 1)], what="reading 'x'")
    with pytest.raises(DaoError, match=r"^reading 'x': unknown filter operator '~'"):
        filter_table(TABLE, [("n", "~", 1)], what="reading 'x'")
    with pytest.raises(DaoError, match=r"^reading 'x': cannot apply filter \('n', '>', 'x'\) to column 'n' of "
                                       r"type int64: "):
        filter_table(TABLE, [("n", ">", "x")], what="reading 'x'")


# ---------------------------------------------------------------------------- Spark
def test_from_spark_on_pyspark_filter_objects() -> None:
    d = pytest.importorskip("pyspark.sql.datasource")
    from spark_dao.interfaces.filters import from_spark

    assert from_spark(d.EqualTo(("a",), 1)) == ("a", "=", 1)
    assert from_spark(d.GreaterThan(("a",), 1)) == ("a", ">", 1)
    assert from_spark(d.GreaterThanOrEqual(("a",), 1)) == ("a", ">=", 1)
    assert from_spark(d.LessThan(("a",), 1)) == ("a", "<", 1)
    assert from_spark(d.LessThanOrEqual(("a",), dt.date(2020, 1, 1))) == ("a", "<=", dt.date(2020, 1, 1))
    assert from_spark(d.In(("a",), (1, 2))) == ("a", "in", (1, 2))
    assert from_spark(d.IsNull(("a",))) == ("a", "is_null", None)
    assert from_spark(d.IsNotNull(("a",))) == ("a", "not_null", None)
    # no equivalent: nested columns, negations, null-safe equality, string matches
    assert from_spark(d.EqualTo(("a", "b"), 1)) is None
    assert from_spark(d.Not(d.EqualTo(("a",), 1))) is None
    assert from_spark(d.EqualNullSafe(("a",), 1)) is None
    assert from_spark(d.StringStartsWith(("a",), "x")) is None


def test_spark_column_unknown_operator() -> None:
    from spark_dao.interfaces.filters import spark_column

    with pytest.raises(DaoError, match=r"unknown filter operator '~'; valid: =, !=, <, <=, >, >=, in, is_null"):
        spark_column(None, "~", 1)


# ---------------------------------------------------------------------------- SQL
@pytest.mark.parametrize(("f", "sql", "params"), [
    (("amount", "=", 5), '"amount" = %s', [5]),
    (("amount", "!=", 5), '"amount" <> %s', [5]),
    (("amount", "<", 5), '"amount" < %s', [5]),
    (("amount", "<=", 5), '"amount" <= %s', [5]),
    (("amount", ">", 5), '"amount" > %s', [5]),
    (("amount", ">=", 5), '"amount" >= %s', [5]),
    (("amount", "in", (1, 2, 3)), '"amount" IN (%s, %s, %s)', [1, 2, 3]),
    (("amount", "in", ()), "FALSE", []),
    (("amount", "is_null", None), '"amount" IS NULL', []),
    (("amount", "not_null", None), '"amount" IS NOT NULL', []),
    # values are parameters, never text: quotes, %, injection attempts, None, dates
    (("name", "=", "O'Brien; DROP TABLE t; --"), '"name" = %s', ["O'Brien; DROP TABLE t; --"]),
    (("name", "=", "100%"), '"name" = %s', ["100%"]),
    (("name", "=", None), '"name" = %s', [None]),
    (("day", "in", [dt.date(2020, 1, 1)]), '"day" IN (%s)', [dt.date(2020, 1, 1)]),
    # identifiers are quoted: embedded double quotes doubled, % doubled for the placeholder style
    (('we"ird', "=", 1), '"we""ird" = %s', [1]),
    (("50% off", "<", 1), '"50%% off" < %s', [1]),
    (("Mixed Case", "is_null", None), '"Mixed Case" IS NULL', []),
    (('x" = 1 OR "y', "=", 2), '"x"" = 1 OR ""y" = %s', [2]),
])
def test_to_sql(f: tuple, sql: str, params: list) -> None:
    assert to_sql(f) == (sql, params)


def test_to_sql_with_another_quoting_and_an_unknown_operator() -> None:
    assert to_sql(("a", "<=", 1), lambda name: f"`{name}`") == ("`a` <= %s", [1])
    with pytest.raises(DaoError, match=r"unknown filter operator 'like'"):
        to_sql(("a", "like", "x%"))


def test_to_sql_runs_on_a_database() -> None:
    """The rendering is valid SQL with the meaning of :func:`matches` (sqlite, ``?`` placeholders)."""
    import sqlite3

    con = sqlite3.connect(":memory:")
    con.execute('CREATE TABLE t ("we""ird" INTEGER, "50% off" TEXT)')
    rows = [(1, "a"), (2, "b"), (None, "c"), (3, None)]
    con.executemany("INSERT INTO t VALUES (?, ?)", rows)
    for f in [('we"ird', op, 2) for op in ("=", "!=", "<", "<=", ">", ">=")] + [
        ('we"ird', "in", (1, 3)), ('we"ird', "in", ()), ('we"ird', "is_null", None),
        ("50% off", "not_null", None), ("50% off", "=", "b"),
    ]:
        sql, params = to_sql(f)
        got = con.execute(f"SELECT * FROM t WHERE {sql.replace('%s', '?').replace('%%', '%')}", params).fetchall()
        col = 0 if f[0] == 'we"ird' else 1
        assert got == [r for r in rows if matches({f[0]: r[col]}, [f])], f
