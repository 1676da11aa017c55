"""The arguments of a DAO call: the write mode given once, Spark option values, Spark failures as
the :class:`DaoError` a task raised."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .catalog import DataObject
from .errors import DaoError
from .interfaces import parse_mode


def _one_mode(
    mode: str | None, options: Mapping[str, Any] | None, spark_options: Mapping[str, Any] | None, *, obj: DataObject
) -> str:
    """The write mode, given as the ``mode`` keyword, ``options["mode"]`` or ``spark_options["mode"]``
    (any case); the same mode given twice is fine, two different ones are a :class:`DaoError`."""
    sources: list[tuple[str, Any]] = []
    if mode is not None:
        sources.append(("keyword", mode))
    for label, given in (("options", options), ("spark_options", spark_options)):
        for key, value in (given or {}).items():
            if str(key).lower() == "mode" and value is not None:
                sources.append((f"{label}[{key!r}]", value))
    if not sources:
        return parse_mode(None)
    parsed = [parse_mode(value, obj=repr(obj.full_name)) for _, value in sources]
    if len(set(parsed)) > 1:
        (first_label, first), *others = sources
        head = f"mode={first!r} (keyword)" if first_label == "keyword" else f"{first!r} ({first_label})"
        shown = " and ".join([head] + [f"{v!r} ({label})" for label, v in others])
        raise DaoError(
            f"writing {obj.full_name!r}: two different write modes: {shown}; keep one "
            "(the mode keyword, e.g. dao.write(df, name, mode='overwrite')) and drop the other"
        )
    return parsed[0]


def _partition_overwrite_mode(value: Any, *, obj: DataObject) -> str | None:
    """``static`` or ``dynamic`` (Spark's ``partitionOverwriteMode``); a :class:`DaoError` otherwise."""
    from .catalog import settings

    if value is None:
        return None
    name = "partitionOverwriteMode"
    try:
        return settings.coerce(name, value, settings.OPTION_TYPES["partitionoverwritemode"])
    except settings.SettingTypeError as exc:
        raise DaoError(
            f"writing {obj.full_name!r}: option {name}={settings.shown(name, value)} is not valid: {exc}"
        ) from None


def _similar(a: str, b: str) -> bool:
    """Close enough to be a typo of each other (a stricter bar than "did you mean" hints)."""
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.8


def _location(obj: DataObject) -> str:
    try:
        return obj.location
    except DaoError:
        return "(no location)"


def _spark_value(value: Any) -> str:
    """An option value as Spark takes it: booleans as ``true``/``false``, lists comma-separated."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)




def _check_filter_columns(obj: DataObject, filters: Any, columns: list[str], *, selected: bool) -> None:
    """Every filter names a column that is read (Spark would raise a raw AnalysisException)."""
    from .errors import did_you_mean

    unknown = [c for c, _, _ in filters if c not in columns]
    if unknown:
        raise DaoError(
            f"reading {obj.full_name!r} (store {obj.store_name!r}): filter column {unknown[0]!r} is not in "
            f"the data read; columns: {', '.join(columns)}.{did_you_mean(unknown[0], columns)}"
            + (" A filter may only name columns that are read: add it to columns=." if selected else "")
        )


def _spark_filtered(df: Any, obj: DataObject, opts: Mapping[str, Any], filters: tuple[Any, ...]) -> Any:
    """``df`` (a Spark read of ``obj``) with ``filters`` applied, after checking their columns exist."""
    from pyspark.sql import functions as F

    from .interfaces.filters import spark_column

    _check_filter_columns(obj, filters, df.columns, selected=bool(opts.get("columns")))
    for col, op, value in filters:
        df = df.filter(spark_column(F.col(col), op, value))
    return df
