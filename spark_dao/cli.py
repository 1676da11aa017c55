"""The ``spark-dao`` command (uses :mod:`spark_dao.dao` only).

    spark-dao cleanup silver.events --catalog conf/catalog.yaml --older-than 48

``cleanup`` removes what dead write jobs left in an object's hidden staging (staged files, and on
S3 uncompleted multipart uploads) and prints each removed location. Exit status: 0 on success,
1 on an error (printed on one line, without a traceback), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .dao import DataAccessObject
from .errors import DaoError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spark-dao", description="Manage data objects named in a spark_dao catalog.")
    commands = parser.add_subparsers(dest="command", required=True)
    cleanup = commands.add_parser(
        "cleanup",
        help="remove the staging and uncompleted uploads of dead write jobs of an object",
        description="Remove what dead write jobs left in an object's hidden staging: jobs that ended "
                    "(committed or aborted) and jobs with nothing newer than --older-than hours. "
                    "Running jobs are kept.",
    )
    cleanup.add_argument("name", help="the object's full name, e.g. silver.events")
    cleanup.add_argument("--catalog", help="catalog file (default: $SPARK_DAO_CATALOG)")
    cleanup.add_argument("--older-than", type=float, metavar="HOURS", dest="older_than",
                         help="age after which a job still marked running counts as dead "
                              "(default: the store's stale_staging_hours, 24)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        dao = DataAccessObject(args.catalog)
        removed = dao.cleanup(args.name, older_than=args.older_than)
    except DaoError as exc:
        print(f"spark-dao {args.command}: {exc}", file=sys.stderr)
        return 1
    for location in removed:
        print(f"removed {location}")
    print(f"{args.name}: removed {len(removed)} item(s)" if removed else f"{args.name}: nothing to clean up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
