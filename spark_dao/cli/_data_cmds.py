"""``spark-dao preview``, ``history``, ``upload``, ``download``, ``copy`` and ``cleanup``: the rows,
commits and files of objects, and moving data between stores."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from typing import Any

from ..dao import DataAccessObject
from ..errors import DaoError
from ..interfaces import WRITE_MODES
from ..interfaces.filters import parse_predicate
from ._output import Output


def _where(text: str) -> list[Any]:
    try:
        return parse_predicate(text, what="--where")
    except DaoError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--where: ")) from None


def _columns(text: str) -> list[str]:
    columns = [c.strip() for c in text.split(",")]
    if not all(columns):
        raise argparse.ArgumentTypeError(f"expected column names separated by commas, e.g. id,email; got {text!r}")
    return columns


def _non_negative(kind: str, cast: Any) -> Any:
    """An argparse type: ``cast(text)`` when it is 0 or more, else the error naming ``kind``."""

    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            value = -1
        if not value >= 0:  # also NaN
            raise argparse.ArgumentTypeError(f"expected a number of {kind} (0 or more), got {text!r}")
        return value

    return parse


_hours = _non_negative("hours", float)
_count = _non_negative("rows", int)


def add_commands(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    preview = commands.add_parser(
        "preview", parents=parents, help="the first rows of an object",
        description="Print the first rows of an object, read in-process (pandas). Only the batches "
                    "needed are read.",
        epilog="Example: spark-dao preview silver.users_clean -n 5 --columns id,email --where \"country = 'DE'\"",
    )
    preview.add_argument("name", help="the object's full name, e.g. silver.users_clean")
    preview.add_argument("-n", "--rows", type=_count, default=20, metavar="N", help="rows to show (default 20)")
    preview.add_argument("--columns", type=_columns, metavar="A,B", help="only these columns, e.g. id,email")
    preview.add_argument("--where", type=_where, metavar="PREDICATE",
                         help="rows to keep: comparisons of a column with a literal (=, !=, <, <=, >, >=), "
                              "IN (...), IS [NOT] NULL, joined by AND; e.g. \"country = 'DE' AND age >= 18\"")
    preview.set_defaults(run=run_preview)

    history = commands.add_parser(
        "history", parents=parents, help="the commits of a Delta table, newest first",
        description="The commits of a Delta table, newest first: version, time, operation, metrics.",
        epilog="Example: spark-dao history lake.users --limit 5",
    )
    history.add_argument("name", help="the table's full name, e.g. lake.users")
    history.add_argument("--limit", type=_count, metavar="N", help="only the N newest commits")
    history.set_defaults(run=run_history)

    upload = commands.add_parser(
        "upload", parents=parents, help="store a local file or folder in an object, as it is",
        description="Store a local file (or every file of a folder) in an object of a store with a "
                    "raw-objects interface, byte for byte.",
        epilog="Example: spark-dao upload exports/users.csv bronze.users_raw --path 2025-01-07/",
    )
    upload.add_argument("src", help="a local file or folder")
    upload.add_argument("name", help="the object's full name, e.g. bronze.users_raw")
    upload.add_argument("--path", help="folder (ending in /) or key inside the object, e.g. 2025-01-07/")
    upload.set_defaults(run=run_upload)

    download = commands.add_parser(
        "download", parents=parents, help="save one stored file of an object locally",
        description="Save one stored file of an object to a local file or folder.",
        epilog="Example: spark-dao download bronze.users_raw 2025-01-07/users.csv /tmp/",
    )
    download.add_argument("name", help="the object's full name, e.g. bronze.users_raw")
    download.add_argument("key", help="the file's key inside the object, e.g. 2025-01-07/users.csv")
    download.add_argument("dest", help="a local file path or an existing folder")
    download.set_defaults(run=run_download)

    copy = commands.add_parser(
        "copy", parents=parents, help="stream one object's rows into another (files, Delta, Redshift)",
        description="Stream SRC's rows into DST in Arrow record batches (memory holds a batch or so, not "
                    "the object), with DST's write guarantees: nothing is visible unless the whole copy "
                    "succeeds.",
        epilog="Example: spark-dao copy silver.users_clean gold.users --mode overwrite",
    )
    copy.add_argument("src", help="the source object, e.g. silver.users_clean")
    copy.add_argument("dst", help="the target object, e.g. gold.users")
    copy.add_argument("--mode", default="errorifexists", choices=WRITE_MODES,
                      help="append, overwrite, dynamic (overwrite the partitions present), errorifexists "
                           "(default: refuse when DST has data) or ignore (do nothing when DST has data)")
    copy.set_defaults(run=run_copy)

    cleanup = commands.add_parser(
        "cleanup", parents=parents,
        help="remove the staging and uncompleted uploads of dead write jobs of an object",
        description="Remove what dead write jobs left in an object's hidden staging: jobs that ended "
                    "(committed or aborted) and jobs with nothing newer than --older-than hours. "
                    "Running jobs are kept.",
        epilog="Example: spark-dao cleanup silver.events --older-than 48",
    )
    cleanup.add_argument("name", help="the object's full name, e.g. silver.events")
    cleanup.add_argument("--older-than", type=_hours, metavar="HOURS", dest="older_than",
                         help="age after which a job still marked running counts as dead "
                              "(default: the store's stale_staging_hours, 24)")
    cleanup.set_defaults(run=run_cleanup)

    package = commands.add_parser(
        "package", parents=parents,
        help="build a zip of spark_dao for spark-submit --py-files (executors without spark-dao)",
        description="Write spark_dao and pyspark_dao (the format('dao') auto-registration) into one zip "
                    "for spark-submit --py-files. The executors still need pyarrow and pyyaml (and the "
                    "stores' libraries); see docs/deployment.md.",
        epilog="Example: spark-dao package --out dist/spark_dao.zip && spark-submit --py-files dist/spark_dao.zip job.py",
    )
    package.add_argument("--out", default="dist/spark_dao.zip", help="the zip to write (default: dist/spark_dao.zip)")
    package.set_defaults(run=run_package)


def _dao(args: argparse.Namespace) -> DataAccessObject:
    return DataAccessObject(args.catalog)


# ---------------------------------------------------------------------------- preview
def run_preview(args: argparse.Namespace, out: Output) -> int:
    import pyarrow as pa

    from ..engines.local import stream_batches

    dao = _dao(args)
    obj = dao.resolve(args.name)
    filters = args.where or ()
    read = list(args.columns or ())
    # the rows are filtered on columns that need not be shown: read them too, drop them after
    read += [c for c, _, _ in filters if read and c not in read]
    options = {"columns": ",".join(read)} if read else {}
    batches: list[pa.RecordBatch] = []
    rows, more = 0, False
    with stream_batches(obj, options, filters) as (schema, stream):
        for batch in stream:
            if rows >= args.rows:
                more = True  # stop reading: the rest is not shown
                break
            batches.append(batch.slice(0, args.rows - rows))
            rows += batches[-1].num_rows
            more = batch.num_rows > batches[-1].num_rows
        table = pa.Table.from_batches(batches, schema=schema)
    if args.columns:
        table = table.select(args.columns)
    if out.json_mode:
        out.emit({"name": obj.full_name, "columns": table.column_names, "rows": table.to_pylist()})
        return 0
    out.emit(None, [_render(table), f"({table.num_rows} row(s){', first ones' if more else ''})"])
    return 0


def _render(table: Any) -> str:
    try:
        import pandas as pd
    except ImportError:  # the pandas extra is not installed: Arrow's own rendering
        return str(table.to_pylist())
    if table.num_rows == 0:
        return "  ".join(table.column_names) or "(no columns)"
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 60):
        return table.to_pandas().to_string(index=False)


# ---------------------------------------------------------------------------- history
def run_history(args: argparse.Namespace, out: Output) -> int:
    commits = _dao(args).history(args.name, limit=args.limit)
    lines = []
    for c in commits:
        when = c.get("timestamp")
        if isinstance(when, int | float):  # the Delta log's milliseconds since the epoch
            when = dt.datetime.fromtimestamp(when / 1000, dt.UTC)
        when = when.isoformat(sep=" ", timespec="seconds") if hasattr(when, "isoformat") else when
        metrics = c.get("operationMetrics") or c.get("metrics") or {}
        shown = ", ".join(f"{k}={v}" for k, v in sorted(metrics.items()) if k in _METRICS)
        lines.append(f"{c.get('version'):>5}  {when}  {c.get('operation')}" + (f"  ({shown})" if shown else ""))
    out.emit(commits, lines or [f"{args.name}: no commits"])
    return 0


_METRICS = ("numOutputRows", "numFiles", "numAddedFiles", "numRemovedFiles", "numTargetRowsInserted",
            "numTargetRowsUpdated", "numTargetRowsDeleted")


# ---------------------------------------------------------------------------- upload / download
def run_upload(args: argparse.Namespace, out: Output) -> int:
    if not os.path.exists(args.src):
        raise DaoError(f"no such local file or folder: {args.src}")
    # dao.upload shows a progress bar for big transfers when stderr is a terminal (objects interface)
    result = _dao(args).upload(args.src, args.name, path=args.path)
    infos = result if isinstance(result, list) else [result]
    data = [{"key": i.key, "size": i.size, "location": i.location} for i in infos]
    out.emit(data, [f"uploaded {i.location} ({i.size} bytes)" for i in infos]
             + ([f"{args.name}: uploaded {len(infos)} file(s)"] if len(infos) != 1 else []))
    return 0


def run_download(args: argparse.Namespace, out: Output) -> int:
    path = _dao(args).download(args.name, args.key, args.dest)
    size = os.path.getsize(path)
    out.emit({"name": args.name, "key": args.key, "path": str(path), "size": size},
             [f"downloaded {args.name} {args.key} to {path} ({size} bytes)"])
    return 0


# ---------------------------------------------------------------------------- copy
def run_copy(args: argparse.Namespace, out: Output) -> int:
    from ..engines.local import copy_object

    dao = _dao(args)
    src, dst = dao.resolve(args.src), dao.resolve(args.dst)
    if src.full_name == dst.full_name:
        raise DaoError(f"copying {src.full_name!r} into itself: name another object as the target")
    with out.progress(f"{src.full_name} -> {dst.full_name}") as update:
        result = copy_object(src, dst, mode=args.mode, on_batch=lambda b: update(b.num_rows))
    out.emit(result, [str(result)])
    return 0


# ---------------------------------------------------------------------------- cleanup
def run_cleanup(args: argparse.Namespace, out: Output) -> int:
    removed = _dao(args).cleanup(args.name, older_than=args.older_than)
    out.emit({"name": args.name, "removed": removed},
             [f"removed {location}" for location in removed]
             + [f"{args.name}: removed {len(removed)} item(s)" if removed else f"{args.name}: nothing to clean up"])
    return 0


# ---------------------------------------------------------------------------- package
def run_package(args: argparse.Namespace, out: Output) -> int:
    import zipfile

    from .._package import build_pyfiles

    try:
        path = build_pyfiles(args.out)
    except OSError as exc:
        raise DaoError(f"cannot write {args.out}: {exc.strerror or type(exc).__name__}; give --out a zip file "
                       "path in a writable folder, e.g. dist/spark_dao.zip") from None
    with zipfile.ZipFile(path) as zf:
        files = len(zf.namelist())
    out.emit({"zip": str(path), "files": files, "bytes": path.stat().st_size},
             [f"wrote {path} ({files} files, {path.stat().st_size:,} bytes); ship it with: "
              f"spark-submit --py-files {path} job.py"])
    return 0
