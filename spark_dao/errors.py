"""Errors raised by spark_dao.

Every error derives from :class:`DaoError`, so ``except DaoError`` catches anything this package
raises on purpose. Messages name the object, the store and the location, and suggest a fix.
Secrets never appear in them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "BackendNotInstalled",
    "CatalogError",
    "DaoError",
    "DuplicateKeys",
    "ObjectNotFound",
    "SchemaMismatch",
    "WriteConflict",
    "close_matches",
]


class DaoError(Exception):
    """Root of every error spark_dao raises, e.g. ``except DaoError`` around ``dao.read("silver.users")``."""


class CatalogError(DaoError, ValueError):
    """The catalog is invalid: a bad key, type, name or interface. Names the file and key path."""


class ObjectNotFound(DaoError, LookupError):
    """A store or data object that does not exist, e.g. ``dao.read("silver.user_clean")``."""


class BackendNotInstalled(DaoError, ImportError):
    """An optional library is missing; the message names the extra to install."""


class SchemaMismatch(DaoError):
    """Incoming data does not match the stored data's schema; the message names the columns."""


class DuplicateKeys(DaoError):
    """An upsert batch holds several rows for the same key."""


class WriteConflict(DaoError):
    """Another writer got in the way; nothing of this write was published, retry it.

    Raised when the object's write lock stays held past ``lock_timeout`` (the message names the
    holder), when a commit lost its lock's lease, or when a file an upsert read changed before it
    could publish, e.g. ``except WriteConflict: retry dao.upsert(changes, "silver.users")``.
    """


def close_matches(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Names from ``candidates`` that look like ``word`` (for "did you mean" hints)."""
    return difflib.get_close_matches(word, sorted(set(candidates)), n=n, cutoff=0.6)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ``" Did you mean 'x'?"`` suffix, or ``""`` when nothing is close."""
    matches = close_matches(word, candidates)
    if not matches:
        return ""
    return " Did you mean " + " or ".join(repr(m) for m in matches) + "?"


def require(module: str, extra: str):
    """Import ``module`` or raise :class:`BackendNotInstalled` naming ``pip install 'spark-dao[extra]'``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendNotInstalled(
            f"{module!r} is not installed; it is needed for this operation. "
            f"Install it with: pip install 'spark-dao[{extra}]'"
        ) from exc
