"""Upsert semantics, defined once for every store.

An upsert merges an incoming batch into a target by ``keys``:

* ``strategy``: ``merge`` (update matched rows, insert new ones — the default), ``insert_only``
  (insert new keys, leave matched rows alone) or ``delete_insert`` (delete every target row of an
  incoming key, insert the incoming rows; the same result as ``merge``, a different physical plan
  for warehouses);
* ``order_by``: a modification column; the newest row per key wins, inside the batch and against
  the target — an incoming row older than the stored one does not overwrite it (nor delete it, with
  ``delete_insert``); on a tie (equal values) the incoming row wins, as in a SQL ``MERGE ... WHEN
  MATCHED``; a null ``order_by`` is older than any value;
* ``on_duplicates``: ``error`` (default; the error lists some duplicate keys) or ``keep_latest``
  (the greatest ``order_by``; among equal ones, and without ``order_by``, the last row in batch
  order);
* ``delete_unmatched``: full sync — target rows whose key is absent from the batch are deleted;
* null keys are always an error.

The aliases of the earlier reader/writer framework are accepted: ``upsert_method`` (strategy),
``id_columns`` (keys), ``modification_column`` (order_by).

File stores apply these rules with :func:`plan_merge` / :func:`apply_plan` on Arrow tables; stores
with a native MERGE (Delta, Redshift) translate the same options into SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..catalog.model import DataObject
from ..catalog.settings import parse_bool
from ..errors import DaoError, DuplicateKeys, SchemaMismatch, did_you_mean

STRATEGIES = ("merge", "insert_only", "delete_insert")
ON_DUPLICATES = ("error", "keep_latest")
_STRATEGY_ALIASES = {
    "merge": "merge",
    "upsert": "merge",
    "update_insert": "merge",
    "insert_only": "insert_only",
    "insert": "insert_only",
    "append_new": "insert_only",
    "delete_insert": "delete_insert",
    "replace": "delete_insert",
}
#: option keys an upsert consumes (lower-case, as Spark passes them)
UPSERT_OPTIONS = {
    "operation": "'upsert' turns an append into an upsert",
    "keys": "comma-separated key columns (default: the catalog object's keys)",
    "order_by": "modification column: the newest row per key wins (default: the object's order_by)",
    "strategy": "merge | insert_only | delete_insert",
    "on_duplicates": "error | keep_latest",
    "delete_unmatched": "true: delete target rows whose key is not in the batch (full sync)",
    "upsert_method": "alias of strategy",
    "id_columns": "alias of keys",
    "modification_column": "alias of order_by",
}
_IDX = "__dao_row__"


#: canonical name of each upsert option an alias stands for
UPSERT_ALIASES = {"upsert_method": "strategy", "id_columns": "keys", "modification_column": "order_by"}
#: the upsert options a caller sets (keyword arguments of ``dao.upsert``, or options)
UPSERT_SETTINGS = ("keys", "order_by", "strategy", "on_duplicates", "delete_unmatched")


def _bool(value: Any, *, name: str = "delete_unmatched", what: str = "upsert") -> bool:
    """``True``/``False``, or the strings and integers meaning them; anything else is a :class:`DaoError`
    (a typo such as ``"flase"`` must not silently mean false, nor ``"false"`` mean true)."""
    if isinstance(value, str) and not value.strip():  # "": unset, the default
        return False
    parsed = parse_bool(value)
    if parsed is not None:
        return parsed
    raise DaoError(
        f"{what}: {name}={value!r} is not valid. Valid: true, false (also 'yes'/'no', 'on'/'off', 1/0)"
    )


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def normalize_upsert_option(name: str, value: Any, *, what: str) -> Any:
    """One upsert setting (canonical ``name``) checked and in canonical form, for comparing and passing on:
    keys -> tuple of names, order_by -> str, strategy/on_duplicates -> canonical choice, delete_unmatched -> bool.
    Raises :class:`DaoError` naming the option and what it accepts."""
    if name == "keys":
        if isinstance(value, str):
            return _names(value)
        if isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value):
            return tuple(v.strip() for v in value)
        raise DaoError(
            f"{what}: keys must be a column name or a list of column names, got {_kind(value)}; "
            "e.g. keys='id' or keys=['country', 'id']"
        )
    if name == "order_by":
        if isinstance(value, str):
            return value
        raise DaoError(
            f"{what}: order_by must be one column name (a string), got {_kind(value)}; e.g. order_by='updated_at'"
        )
    if name in ("strategy", "on_duplicates"):
        valid = STRATEGIES if name == "strategy" else ON_DUPLICATES
        if not isinstance(value, str):
            raise DaoError(f"{what}: {name} must be a string, got {_kind(value)}. Valid: {', '.join(valid)}")
        key = value.strip().lower()
        table = _STRATEGY_ALIASES if name == "strategy" else {v: v for v in ON_DUPLICATES}
        if key not in table:
            raise DaoError(
                f"{what}: unknown {name} {key!r}.{did_you_mean(key, valid)} Valid: {', '.join(valid)}"
            )
        return table[key]
    if name == "delete_unmatched":
        return _bool(value, name=name, what=what)
    raise KeyError(name)


def _names(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


@dataclass(frozen=True)
class UpsertOptions:
    """Parsed upsert options: ``UpsertOptions.from_options({"keys": "id"}, obj)``."""

    keys: tuple[str, ...]
    order_by: str | None = None
    strategy: str = "merge"
    on_duplicates: str = "error"
    delete_unmatched: bool = False

    @classmethod
    def from_options(cls, options: Mapping[str, Any], obj: DataObject) -> UpsertOptions:
        opts = {str(k).lower(): v for k, v in options.items()}
        what = f"upsert into {obj.full_name!r} (store {obj.store_name!r})"
        keys = _names(opts.get("keys") or opts.get("id_columns")) or tuple(obj.keys)
        if not keys:
            raise DaoError(
                f"{what}: no keys: pass keys=['id'] (Spark: .option('keys', 'id')) or declare "
                "'keys' on the object in the catalog"
            )
        order_by = opts.get("order_by") or opts.get("modification_column") or obj.order_by or None
        raw_strategy = str(opts.get("strategy") or opts.get("upsert_method") or "merge").lower()
        if raw_strategy not in _STRATEGY_ALIASES:
            raise DaoError(
                f"{what}: unknown strategy {raw_strategy!r}.{did_you_mean(raw_strategy, STRATEGIES)} "
                f"Valid: {', '.join(STRATEGIES)}"
            )
        on_dup = str(opts.get("on_duplicates") or "error").lower()
        if on_dup not in ON_DUPLICATES:
            raise DaoError(
                f"{what}: unknown on_duplicates {on_dup!r}.{did_you_mean(on_dup, ON_DUPLICATES)} "
                f"Valid: {', '.join(ON_DUPLICATES)}"
            )
        return cls(
            keys=keys,
            order_by=str(order_by) if order_by else None,
            strategy=_STRATEGY_ALIASES[raw_strategy],
            on_duplicates=on_dup,
            delete_unmatched=(
                _bool(opts["delete_unmatched"], what=what) if opts.get("delete_unmatched") is not None else False
            ),
        )

    def check_schema(self, schema: pa.Schema, *, what: str) -> None:
        """Keys and order_by must be columns of the incoming data (checked before any task runs)."""
        needed = list(self.keys) + ([self.order_by] if self.order_by else [])
        missing = [c for c in needed if c not in schema.names]
        if missing:
            raise SchemaMismatch(
                f"{what}: upsert columns {missing} are not in the data.{did_you_mean(missing[0], schema.names)} "
                f"Columns: {', '.join(schema.names)}"
            )


def split_upsert_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(upsert options, the rest) — the rest goes to the store's own option parser."""
    ups, rest = {}, {}
    for key, value in options.items():
        (ups if str(key).lower() in UPSERT_OPTIONS else rest)[str(key).lower()] = value
    return ups, rest


def is_upsert(options: Mapping[str, Any]) -> bool:
    op = {str(k).lower(): v for k, v in options.items()}.get("operation")
    if op is None:
        return False
    op = str(op).lower()
    if op not in ("upsert", "write", "append"):
        raise DaoError(f"unknown operation {op!r}.{did_you_mean(op, ['upsert', 'write'])} Valid: upsert, write")
    return op == "upsert"


def null_keys_error(what: str, nulls: int, key: str) -> DaoError:
    """The error for ``nulls`` rows with a null ``key`` (every engine raises this one)."""
    return DaoError(f"{what}: {nulls} row(s) have a null key in column {key!r}; keys must not be null")


def duplicate_keys_error(what: str, count: int, sample: list[Mapping[str, Any]], opts: UpsertOptions) -> DuplicateKeys:
    """The error for ``count`` keys appearing more than once; ``sample``: a few of them as rows."""
    keys = opts.keys
    shown = (", ".join(repr(r[keys[0]]) for r in sample) if len(keys) == 1
             else ", ".join(repr(tuple(r[k] for k in keys)) for r in sample))
    return DuplicateKeys(
        f"{what}: {count} key(s) appear more than once in the batch, e.g. "
        f"{shown}. Deduplicate first, or pass on_duplicates='keep_latest'"
        + (f" (the newest {opts.order_by!r} wins)" if opts.order_by else " (the last row wins)")
    )


def prepare_incoming(table: pa.Table, opts: UpsertOptions, *, what: str) -> tuple[pa.Table, int]:
    """Check null keys and duplicates; returns (one row per key, rows dropped as older duplicates)."""
    opts.check_schema(table.schema, what=what)
    for key in opts.keys:
        nulls = table[key].null_count
        if nulls:
            raise null_keys_error(what, nulls, key)
    if table.num_rows == 0:
        return table, 0
    counts = table.select(list(opts.keys)).group_by(list(opts.keys)).aggregate([([], "count_all")])
    dups = counts.filter(pc.greater(counts["count_all"], 1))
    if dups.num_rows == 0:
        return table, 0
    if opts.on_duplicates == "error":
        raise duplicate_keys_error(what, dups.num_rows, dups.select(list(opts.keys)).slice(0, 5).to_pylist(), opts)
    deduped = latest_per_key(table, opts)
    return deduped, table.num_rows - deduped.num_rows


def latest_per_key(table: pa.Table, opts: UpsertOptions) -> pa.Table:
    """One row per key: the greatest ``order_by`` (ties and no order_by: the last occurrence)."""
    indexed = table.append_column(_IDX, pa.array(range(table.num_rows), pa.int64()))
    sort = [(opts.order_by, "descending")] if opts.order_by else []
    sort.append((_IDX, "descending"))
    ordered = indexed.sort_by(sort)
    # ordered group_by keeps the first row per key in sorted order
    firsts = ordered.group_by(list(opts.keys), use_threads=False).aggregate([(_IDX, "first")])
    idx = pc.sort_indices(firsts[f"{_IDX}_first"])
    picked = pc.take(firsts[f"{_IDX}_first"], idx)
    return table.take(picked)


@dataclass(frozen=True)
class MergePlan:
    """What an upsert does to a target, decided from the target's keys alone."""

    incoming: pa.Table  # the rows to write (after dedupe, stale rows and insert_only filtering)
    replace_keys: pa.Table  # keys whose stored rows are removed (they are rewritten from `incoming`)
    keep_keys: pa.Table | None  # delete_unmatched: only stored rows with these keys survive
    inserted: int
    updated: int


def plan_merge(incoming: pa.Table, target_keys: pa.Table, opts: UpsertOptions) -> MergePlan:
    """Decide the merge from the incoming rows and the target's key (+ order_by) columns.

    ``incoming`` must already be one row per key (:func:`prepare_incoming`); ``target_keys`` holds
    the keys (and ``order_by``) of every stored row that may match.
    """
    keys = list(opts.keys)
    incoming_keys = incoming.select(keys)
    if target_keys.num_rows and incoming.num_rows:
        matched = incoming_keys.join(target_keys.select(keys), keys=keys, join_type="left semi")
    else:
        matched = incoming_keys.slice(0, 0)
    effective = incoming
    if opts.strategy == "insert_only":
        effective = incoming.join(matched, keys=keys, join_type="left anti") if matched.num_rows else incoming
        replace = incoming_keys.slice(0, 0)
        updated = 0
    else:
        if opts.order_by and matched.num_rows:
            # An incoming row older than the stored one for its key must not overwrite it.
            newest = target_keys.select(keys + [opts.order_by]).group_by(keys).aggregate([(opts.order_by, "max")])
            cmp = incoming.select(keys + [opts.order_by]).join(newest, keys=keys, join_type="inner")
            # Ties go to the incoming row (as a MERGE ... WHEN MATCHED does); a null order_by is
            # older than any value, as inside the batch (latest_per_key sorts nulls last).
            mine, theirs = cmp[opts.order_by], cmp[f"{opts.order_by}_max"]
            stale_mask = pc.or_(
                pc.fill_null(pc.less(mine, theirs), False),
                pc.and_(pc.is_null(mine), pc.is_valid(theirs)),
            )
            stale = cmp.filter(stale_mask).select(keys)
            if stale.num_rows:
                effective = incoming.join(stale, keys=keys, join_type="left anti")
                matched = matched.join(stale, keys=keys, join_type="left anti")
        replace = matched
        updated = matched.num_rows
    inserted = effective.num_rows - updated
    keep = incoming_keys if opts.delete_unmatched else None
    return MergePlan(incoming=effective, replace_keys=replace, keep_keys=keep, inserted=inserted, updated=updated)


def split_stored(stored: pa.Table, plan: MergePlan, opts: UpsertOptions) -> tuple[pa.Table, int]:
    """(the stored rows an upsert keeps, how many of the others it deletes as unmatched rather than
    replaces): stored rows whose key the plan replaces go; with ``delete_unmatched``, so do rows whose
    key is not in the batch. Rows keep their order. The files interface runs this per rewritten file."""
    keys = list(opts.keys)
    out = stored
    if plan.replace_keys.num_rows and out.num_rows:
        out = _anti(out, plan.replace_keys, keys)
    deleted = 0
    if plan.keep_keys is not None and out.num_rows:
        before = out.num_rows
        out = _semi(out, plan.keep_keys, keys)
        deleted = before - out.num_rows
    return out, deleted


def surviving_rows(stored: pa.Table, plan: MergePlan, opts: UpsertOptions) -> pa.Table:
    """The stored rows an upsert keeps (before the plan's incoming rows are added)."""
    return split_stored(stored, plan, opts)[0]


def affected_rows(stored: pa.Table, plan: MergePlan, opts: UpsertOptions) -> pa.Array:
    """Boolean mask over ``stored`` (which needs only the key columns): the rows the upsert replaces or
    deletes, i.e. exactly those :func:`surviving_rows` drops. A file with none is left untouched."""
    keys = list(opts.keys)
    hit = pa.array([False] * stored.num_rows, pa.bool_())
    if plan.replace_keys.num_rows and stored.num_rows:
        hit = _membership(stored, plan.replace_keys, keys)
    if plan.keep_keys is not None and stored.num_rows:
        hit = pc.or_(hit, pc.invert(_membership(stored, plan.keep_keys, keys)))
    return hit


def _anti(table: pa.Table, keys_table: pa.Table, keys: list[str]) -> pa.Table:
    mask = _membership(table, keys_table, keys)
    return table.filter(pc.invert(mask))


def _semi(table: pa.Table, keys_table: pa.Table, keys: list[str]) -> pa.Table:
    return table.filter(_membership(table, keys_table, keys))


def _membership(table: pa.Table, keys_table: pa.Table, keys: list[str]) -> pa.Array:
    """Boolean mask: does each row's key appear in ``keys_table``? Keeps row order (joins do not)."""
    if len(keys) == 1:
        k = keys[0]
        values = keys_table[k].cast(table.schema.field(k).type)
        return pc.fill_null(pc.is_in(table[k], value_set=values.combine_chunks()), False)
    probe = table.select(keys).append_column(_IDX, pa.array(range(table.num_rows), pa.int64()))
    cast = keys_table.select(keys).cast(table.select(keys).schema)
    hits = probe.join(cast, keys=keys, join_type="left semi")[_IDX]
    return pc.is_in(pa.array(range(table.num_rows), pa.int64()), value_set=hits.combine_chunks())


def merge_tables(target: pa.Table, incoming: pa.Table, opts: UpsertOptions, *, what: str = "upsert") -> tuple[pa.Table, dict[str, int]]:
    """The whole upsert in memory (reference semantics; small targets and tests)."""
    incoming, _ = prepare_incoming(incoming, opts, what=what)
    tk = target.select(list(opts.keys) + ([opts.order_by] if opts.order_by else []))
    plan = plan_merge(incoming, tk, opts)
    kept = surviving_rows(target, plan, opts)
    result = pa.concat_tables([kept, plan.incoming.select(target.schema.names).cast(target.schema)])
    deleted = target.num_rows - kept.num_rows - plan.updated
    return result, {"inserted": plan.inserted, "updated": plan.updated, "deleted": max(deleted, 0)}
