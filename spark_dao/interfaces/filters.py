"""Row and partition filters: one operator table, and every rendering of a filter.

A filter is a ``(column, op, value)`` tuple (:data:`PartitionFilter`); ``op`` is one of
:data:`OPERATORS`: ``= != < <= > >= in is_null not_null``. This module is the only place that knows
them: validation (:func:`validate`), partition pruning on typed path values (:func:`matches`,
:func:`coerce`), Arrow masks on rows (:func:`arrow_mask`, :func:`filter_table`), Spark
(:func:`from_spark` for pushed-down filters, :func:`spark_column` for ``df.filter``) and SQL with
bound parameters (:func:`to_sql`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ..errors import DaoError, did_you_mean

__all__ = [
    "OPERATORS", "Operator", "PartitionFilter", "arrow_mask", "coerce", "filter_table", "from_spark",
    "matches", "parse_predicate", "quote_ident", "spark_column", "to_sql", "validate",
]

#: A filter: (column, op, value); op in =, !=, <, <=, >, >=, in, is_null, not_null.
PartitionFilter = tuple[str, str, Any]


@dataclass(frozen=True)
class Operator:
    """One filter operator and its meaning in Python, Arrow, Spark and SQL."""

    name: str
    #: False for the null tests (``is_null``, ``not_null``), which take no value
    binary: bool
    #: on Python values: ``test(value, ref)`` (may raise TypeError when incomparable)
    test: Callable[[Any, Any], bool]
    #: the ``pyarrow.compute`` function name (for ``in``: ``is_in``)
    arrow: str
    #: ``spark(column, ref)``: the pyspark Column predicate
    spark: Callable[[Any, Any], Any]
    #: the class in ``pyspark.sql.datasource`` a pushed-down filter of this operator has (None: never pushed)
    spark_filter: str | None
    #: the SQL operator (``IN``, ``IS NULL``, ``IS NOT NULL`` for the others)
    sql: str


OPERATORS: dict[str, Operator] = {
    o.name: o
    for o in (
        Operator("=", True, lambda a, b: a == b, "equal", lambda c, v: c == v, "EqualTo", "="),
        Operator("!=", True, lambda a, b: a != b, "not_equal", lambda c, v: c != v, None, "<>"),
        Operator("<", True, lambda a, b: a < b, "less", lambda c, v: c < v, "LessThan", "<"),
        Operator("<=", True, lambda a, b: a <= b, "less_equal", lambda c, v: c <= v, "LessThanOrEqual", "<="),
        Operator(">", True, lambda a, b: a > b, "greater", lambda c, v: c > v, "GreaterThan", ">"),
        Operator(">=", True, lambda a, b: a >= b, "greater_equal", lambda c, v: c >= v, "GreaterThanOrEqual", ">="),
        Operator("in", True, lambda a, b: a in b, "is_in", lambda c, v: c.isin(list(v)), "In", "IN"),
        Operator("is_null", False, lambda a, b: a is None, "is_null", lambda c, v: c.isNull(), "IsNull",
                 "IS NULL"),
        Operator("not_null", False, lambda a, b: a is not None, "is_valid", lambda c, v: c.isNotNull(),
                 "IsNotNull", "IS NOT NULL"),
    )
}


def validate(filters: Iterable[PartitionFilter], *, what: str) -> None:
    """Raise DaoError for a filter whose operator is unknown; ``what`` starts the message (``reading 'x'``)."""
    for col, op, ref in filters:
        if op not in OPERATORS:
            raise DaoError(
                f"{what}: unknown filter operator {op!r} in ({col!r}, {op!r}, {ref!r})."
                f"{did_you_mean(str(op), OPERATORS)} "
                f"Valid: {', '.join(OPERATORS)}"
            )


# ---------------------------------------------------------------------------- partition pruning
def matches(values: dict[str, Any], filters: Iterable[PartitionFilter]) -> bool:
    """Whether typed partition ``values`` pass every filter (SQL semantics: a comparison with null is
    never true; an incomparable filter keeps the file, the others still apply)."""
    for col, op, ref in filters:
        value = values.get(col)
        spec = OPERATORS[op]
        if not spec.binary:
            if not spec.test(value, ref):
                return False
            continue
        if value is None or ref is None:
            return False  # SQL: a comparison with null is never true
        try:
            if not spec.test(value, ref):
                return False
        except TypeError:
            continue  # incomparable: this filter keeps the file, the others still apply
    return True


def coerce(f: PartitionFilter, type_: pa.DataType) -> PartitionFilter | None:
    """``("day", "=", "1")`` on an int partition compares as ``1``: a mistyped value must not prune all.

    None when the value does not convert to the partition's type.
    """
    col, op, ref = f
    if not OPERATORS[op].binary or ref is None:
        return f
    try:
        if op == "in":
            return (col, op, tuple(pa.array(list(ref)).cast(type_).to_pylist()))
        return (col, op, pa.array([ref]).cast(type_)[0].as_py())
    except (pa.ArrowException, TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------- Arrow rows
def arrow_mask(table: pa.Table, f: PartitionFilter) -> pa.ChunkedArray:
    """The boolean mask of ``table``'s rows that pass ``f`` (Arrow raises when the value does not fit)."""
    import pyarrow.compute as pc

    col, op, value = f
    column = table[col]
    spec = OPERATORS[op]
    if not spec.binary:
        return getattr(pc, spec.arrow)(column)
    if op == "in":
        return pc.is_in(column, value_set=pa.array(list(value)).cast(column.type))
    return getattr(pc, spec.arrow)(column, value)


def filter_table(table: pa.Table, filters: Iterable[PartitionFilter], *, what: str) -> pa.Table:
    """``table``'s rows that pass every filter; DaoError (starting with ``what``) for a filter that
    names a missing column, has an unknown operator or a value that does not fit the column."""
    import pyarrow.compute as pc

    mask = None
    for col, op, value in filters:
        if col not in table.column_names:
            raise DaoError(
                f"{what}: filter column {col!r} is not in the data read; "
                f"columns: {', '.join(table.column_names)}"
            )
        validate([(col, op, value)], what=what)
        try:
            cond = arrow_mask(table, (col, op, value))
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise DaoError(
                f"{what}: cannot apply filter ({col!r}, {op!r}, {value!r}) to column "
                f"{col!r} of type {table.schema.field(col).type}: {exc}"
            ) from exc
        mask = cond if mask is None else pc.and_(mask, cond)
    return table.filter(mask) if mask is not None else table


# ---------------------------------------------------------------------------- Spark
def from_spark(f: Any) -> PartitionFilter | None:
    """A pushed-down ``pyspark.sql.datasource`` filter as a filter tuple; None when it has no equivalent
    (a nested column, ``Not``, ``StringStartsWith``, ...)."""
    from pyspark.sql import datasource as d

    attr = getattr(f, "attribute", None)
    if not attr or len(attr) != 1:
        return None
    col = attr[0]
    for spec in OPERATORS.values():
        if spec.spark_filter is not None and isinstance(f, getattr(d, spec.spark_filter)):
            if not spec.binary:
                return (col, spec.name, None)
            return (col, spec.name, tuple(f.value) if spec.name == "in" else f.value)
    return None


def spark_column(c: Any, op: str, value: Any) -> Any:
    """A Spark Column predicate for a ``(column, op, value)`` filter on Column ``c``."""
    if op not in OPERATORS:
        raise DaoError(f"unknown filter operator {op!r}; valid: {', '.join(OPERATORS)}")
    return OPERATORS[op].spark(c, value)


# ---------------------------------------------------------------------------- SQL
def quote_ident(name: str) -> str:
    """A standard SQL quoted identifier: ``a"b`` -> ``"a""b"``."""
    return '"' + name.replace('"', '""') + '"'


def to_sql(f: PartitionFilter, quote: Callable[[str], str] = quote_ident) -> tuple[str, list[Any]]:
    """``f`` as SQL text with ``%s`` placeholders (DB-API ``format`` style) and its parameters:
    ``("amount", "<=", 5)`` -> ``('"amount" <= %s', [5])``. Values are never put in the text; a ``%``
    in the quoted identifier is doubled. ``in ()`` is ``FALSE``."""
    col, op, value = f
    if op not in OPERATORS:
        raise DaoError(f"unknown filter operator {op!r}; valid: {', '.join(OPERATORS)}")
    spec = OPERATORS[op]
    ident = quote(col).replace("%", "%%")
    if not spec.binary:
        return f"{ident} {spec.sql}", []
    if op == "in":
        values = list(value)
        if not values:
            return "FALSE", []
        return f"{ident} IN ({', '.join(['%s'] * len(values))})", values
    return f"{ident} {spec.sql} %s", [value]


_IDENT = r'(?:`(?:[^`]|``)+`|"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_]*)'
_LITERAL = r"(?:'(?:[^']|'')*'|[+-]?\d+(?:\.\d+)?|true|false|TRUE|FALSE|null|NULL)"
_COMPARISON = re.compile(rf"^\s*({_IDENT})\s*(=|==|!=|<>|<=|>=|<|>)\s*({_LITERAL})\s*$")
_IN = re.compile(rf"^\s*({_IDENT})\s+(?:IN|in)\s*\(\s*({_LITERAL}(?:\s*,\s*{_LITERAL})*)\s*\)\s*$")
_NULL_TEST = re.compile(rf"^\s*({_IDENT})\s+(?:IS|is)\s+((?:NOT|not)\s+)?(?:NULL|null)\s*$")


def _ident(text: str) -> str:
    if text[0] in "`\"":
        return text[1:-1].replace(text[0] * 2, text[0])
    return text


def _literal(text: str) -> Any:
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.lower() == "null":
        return None
    return float(text) if "." in text else int(text)


def parse_predicate(text: str, *, what: str) -> list[PartitionFilter]:
    """A simple SQL predicate (Spark's ``replaceWhere``) as filters: comparisons of a column with a
    literal, ``IN (...)``, ``IS [NOT] NULL``, joined by ``AND``.

    ``parse_predicate("day >= '2025-01-01' AND country IN ('DE', 'FR')", what=...)`` ->
    ``[("day", ">=", "2025-01-01"), ("country", "in", ["DE", "FR"])]``. Anything else (``OR``,
    functions, expressions) is a :class:`DaoError` naming the part it cannot read.
    """
    if not isinstance(text, str) or not text.strip():
        raise DaoError(f"{what}: the predicate must be a non-empty string such as \"day = '2025-01-08'\"")
    out: list[PartitionFilter] = []
    for part in re.split(r"\s+(?:AND|and)\s+(?=(?:[^']*'[^']*')*[^']*$)", text.strip()):
        if m := _COMPARISON.match(part):
            op = {"==": "=", "<>": "!="}.get(m.group(2), m.group(2))
            out.append((_ident(m.group(1)), op, _literal(m.group(3))))
        elif m := _IN.match(part):
            values = re.findall(_LITERAL, m.group(2))
            out.append((_ident(m.group(1)), "in", [_literal(v) for v in values]))
        elif m := _NULL_TEST.match(part):
            out.append((_ident(m.group(1)), "not_null" if m.group(2) else "is_null", None))
        else:
            raise DaoError(
                f"{what}: cannot read {part.strip()!r} in the predicate {text!r}: use comparisons of a column "
                "with a literal (=, !=, <, <=, >, >=), IN (...), IS [NOT] NULL, joined by AND"
            )
    validate(out, what=what)
    return out
