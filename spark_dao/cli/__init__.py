"""The ``spark-dao`` command line: look at, preview and move the data objects of a catalog.

    spark-dao catalog validate --catalog conf/catalog.yaml
    spark-dao list silver
    spark-dao describe silver.users_clean
    spark-dao preview silver.users_clean -n 5 --columns id,email --where "country = 'DE'"
    spark-dao history lake.users
    spark-dao upload exports/users.csv bronze.users_raw --path 2025-01-07/
    spark-dao download bronze.users_raw 2025-01-07/users.csv /tmp/
    spark-dao copy silver.users_clean gold.users --mode overwrite
    spark-dao cleanup silver.events --older-than 48
    spark-dao package --out dist/spark_dao.zip       # for spark-submit --py-files

Also ``python -m spark_dao``. The catalog comes from ``--catalog`` or ``$SPARK_DAO_CATALOG``;
``--json`` prints one JSON document on stdout for scripts. Everything runs in-process on
pyarrow/pandas (no Spark, so it starts fast). Exit status: 0 on success; 1 on an error, printed as
one line ``spark-dao <command>: <message>`` on stderr (no traceback); 2 on bad arguments.
Transfers (upload, download, copy) draw a progress bar on stderr when it is a terminal.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import DaoError
from . import _catalog_cmds, _data_cmds
from ._output import Output

__all__ = ["main"]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("spark-dao")
    except Exception:  # noqa: BLE001 - not installed (a source checkout): the package's own
        from .. import __version__

        return __version__


def _parser() -> argparse.ArgumentParser:
    # --catalog and --json are accepted before and after the command: the sub-parsers' copies
    # default to SUPPRESS so that they do not overwrite a value given before the command
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--catalog", default=argparse.SUPPRESS, metavar="PATH",
                        help="catalog file (.yaml/.json); default: $SPARK_DAO_CATALOG")
    shared.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print one JSON document on stdout (for scripts)")
    parser = argparse.ArgumentParser(
        prog="spark-dao", description="Look at, preview and move the data objects named in a spark_dao catalog.",
        epilog="Example: spark-dao describe silver.users_clean --catalog conf/catalog.yaml",
    )
    parser.add_argument("--version", action="version", version=f"spark-dao {_version()}")
    parser.add_argument("--catalog", default=None, metavar="PATH",
                        help="catalog file (.yaml/.json); default: $SPARK_DAO_CATALOG")
    parser.add_argument("--json", action="store_true", default=False,
                        help="print one JSON document on stdout (for scripts)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _catalog_cmds.add_commands(commands, [shared])
    _data_cmds.add_commands(commands, [shared])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    >>> main(["describe", "silver.users_clean", "--catalog", "conf/catalog.yaml"])   # doctest: +SKIP
    0
    """
    args = _parser().parse_args(argv)
    out = Output(json_mode=args.json)
    name = getattr(args, "command_name", args.command)
    try:
        return int(args.run(args, out) or 0)
    except DaoError as exc:
        out.error(name, str(exc))
        return 1
    except KeyboardInterrupt:
        out.error(name, "interrupted; a write that had not committed left its target unchanged")
        return 130


if __name__ == "__main__":
    sys.exit(main())
