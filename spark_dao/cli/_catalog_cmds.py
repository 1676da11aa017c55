"""``spark-dao catalog validate``, ``list`` and ``describe``: what the catalog names, and what is stored."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..catalog import ENV_VAR, Catalog
from ..dao import DataAccessObject
from ..errors import CatalogError
from ._output import Output


def add_commands(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    catalog = commands.add_parser("catalog", help="check a catalog file", description="Check a catalog file.")
    sub = catalog.add_subparsers(dest="catalog_command", required=True, metavar="COMMAND")
    validate = sub.add_parser(
        "validate", parents=parents, help="list every error of a catalog (exit 1 if any)",
        description="Load the catalog and list every error it has (the first one of each store, object "
                    "and ${env:VAR} reference), without touching storage. Exit 1 if there is any.",
        epilog="Example: spark-dao catalog validate --catalog conf/catalog.yaml",
    )
    validate.set_defaults(run=run_validate, command_name="catalog validate")

    lister = commands.add_parser(
        "list", parents=parents, help="the objects of one store or all",
        description="Object names of one store (or all): declared in the catalog and found on storage.",
        epilog="Example: spark-dao list silver",
    )
    lister.add_argument("store", nargs="?", help="a store name, e.g. silver (default: every store)")
    lister.set_defaults(run=run_list)

    describe = commands.add_parser(
        "describe", parents=parents, help="where an object lives, its format, schema, files and version",
        description="Where an object lives and how: location, format, partitioning, keys, its columns, "
                    "and what is stored (files and bytes; the Delta version; the Redshift table).",
        epilog="Example: spark-dao describe silver.users_clean",
    )
    describe.add_argument("name", help="the object's full name, e.g. silver.users_clean")
    describe.set_defaults(run=run_describe)


def _dao(args: argparse.Namespace) -> DataAccessObject:
    return DataAccessObject(args.catalog)


# ---------------------------------------------------------------------------- catalog validate
def run_validate(args: argparse.Namespace, out: Output) -> int:
    errors: list[CatalogError] = []
    catalog: Catalog | None = None
    source = args.catalog or os.environ.get(ENV_VAR)
    try:
        catalog = Catalog.load(args.catalog, errors=errors)
    except CatalogError as exc:  # unreadable: not found, not YAML/JSON, no stores at all
        errors.append(exc)
    if catalog is not None:
        source = catalog.source
    data = {
        "catalog": source,
        "valid": not errors,
        "errors": [str(e) for e in errors],
        "stores": sorted(catalog.stores) if catalog is not None else [],
        "objects": sorted(catalog.objects) if catalog is not None else [],
    }
    if errors:
        if out.json_mode:
            out.emit(data)
        for error in errors:
            out.error("catalog validate", str(error))
        out.error("catalog validate", f"{len(errors)} error(s) in {source}")
        return 1
    assert catalog is not None
    out.emit(data, [f"{catalog.source}: valid ({len(catalog.stores)} store(s), {len(catalog.objects)} object(s))"])
    return 0


# ---------------------------------------------------------------------------- list
def run_list(args: argparse.Namespace, out: Output) -> int:
    dao = _dao(args)
    names = dao.list(args.store)
    rows = [{"name": n, "store": n.split(".", 1)[0], "declared": n in dao.catalog.objects} for n in names]
    width = max((len(n) for n in names), default=0)
    out.emit(rows, [f"{r['name']:<{width}}  {'declared' if r['declared'] else 'on storage only'}" for r in rows])
    return 0


# ---------------------------------------------------------------------------- describe
def describe(dao: DataAccessObject, name: str) -> dict[str, Any]:
    """``dao.describe(name)`` (what the catalog says) plus what is stored: the columns, the data
    files and their bytes, a Delta table's version, a Redshift table's name."""
    from ..interfaces import get_interface

    info = dao.describe(name)
    obj = dao.resolve(name)
    itf = get_interface(obj.store)  # type: ignore[arg-type]
    info["exists"] = bool(itf.exists(obj))
    if hasattr(itf, "table_name"):  # a warehouse table
        info["table"] = itf.table_name(obj)
    if not info["exists"]:
        return info
    kind = obj.store.interface.kind  # type: ignore[union-attr]
    if hasattr(itf, "put"):  # raw files, stored as received
        files = dao.list_files(name)
        info["files"], info["bytes"] = len(files), sum(f.size for f in files)
        return info
    if hasattr(itf, "read_schema"):  # a database: its schema without reading the rows
        schema = itf.read_schema(obj, {})
    else:
        plan = itf.plan_read(obj, {})  # the files a read would open: the object's data files
        schema = plan.schema
        sizes: dict[str, int] = {}
        for task in plan.tasks:
            for piece in getattr(task.payload, "slices", ()):
                sizes[piece.rel] = max(sizes.get(piece.rel, 0), int(piece.size or 0))
        if sizes or all(hasattr(t.payload, "slices") for t in plan.tasks):  # not a custom interface's tasks
            info["files"], info["bytes"] = len(sizes), sum(sizes.values())
    info["columns"] = [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]
    if kind == "delta":
        latest = dao.history(name, limit=1)
        info["version"] = latest[0]["version"] if latest else None
    return info


def _describe_lines(info: dict[str, Any]) -> list[str]:
    lines = [f"{info['name']}  (store {info['store']}, interface {info['interface']})"]
    rows: list[tuple[str, Any]] = [("location", info["location"]), ("table", info.get("table")),
                                   ("format", info.get("format")),
                                   ("partitioned by", ", ".join(info["partition_by"]) or None),
                                   ("keys", ", ".join(info["keys"]) or None), ("order by", info.get("order_by")),
                                   ("declared", "yes" if info["declared"] else "no (store defaults)")]
    if not info["exists"]:
        rows.append(("data", "none yet"))
    if "files" in info:
        rows.append(("files", f"{info['files']} ({_size(info['bytes'])})"))
    if info.get("version") is not None:
        rows.append(("delta version", info["version"]))
    lines += [f"  {k + ':':<16}{v}" for k, v in rows if v is not None]
    if info.get("columns"):
        lines.append("  columns:")
        width = max(len(c["name"]) for c in info["columns"])
        lines += [f"    {c['name']:<{width}}  {c['type']}{'' if c['nullable'] else ' not null'}"
                  for c in info["columns"]]
    elif info.get("schema"):
        lines.append("  declared schema:")
        lines += [f"    {k}  {v}" for k, v in info["schema"].items()]
    return lines


def _size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError  # pragma: no cover


def run_describe(args: argparse.Namespace, out: Output) -> int:
    info = describe(_dao(args), args.name)
    out.emit(info, _describe_lines(info))
    return 0


__all__ = ["add_commands", "describe"]
