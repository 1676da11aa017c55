"""What the raw-objects interface (:mod:`spark_dao.interfaces.objects`) is built on.

* :class:`ObjectInfo`: one stored file, as ``put``/``list``/``info`` report it;
* :class:`_Backend`: the operations on the keys under one location, implemented by
  ``_objects_local._LocalBackend`` (a local folder) and ``_objects_s3._S3Backend`` (a bucket prefix);
* :class:`_Progress`: the byte counter and terminal progress bar (tqdm) of big transfers;
* :func:`_source`: what ``put`` was given (bytes, a binary stream, a local file path);
* :func:`_walk_files`: the files of a local folder, as keys.
"""

from __future__ import annotations

import abc
import io
import os
import posixpath
import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from ..catalog.model import DataStore
from ..errors import DaoError
from ._s3 import MB

#: a transfer at least this big shows a progress line, when stderr is a terminal
PROGRESS_MIN_BYTES = 64 * MB
#: seconds between two updates of the progress line
PROGRESS_INTERVAL = 0.5

#: in the name of a file being written (local writes, downloads); such files are never listed
_TMP_MARK = ".dao-tmp-"


@dataclass(frozen=True)
class ObjectInfo:
    """One stored file: ``key`` relative to its data object, e.g. ``"2025-01-07/users.csv"``.

    ``location`` is where it lives (``s3://bucket/users_raw/2025-01-07/users.csv`` or a local path);
    ``last_modified`` is timezone-aware (UTC).
    """

    key: str
    size: int
    last_modified: datetime | None = None
    location: str = ""

    @property
    def name(self) -> str:
        """The last segment of the key: ``"users.csv"``."""
        return posixpath.basename(self.key)


# --------------------------------------------------------------------------- progress
def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _Progress:
    """Counts the bytes a transfer moved; draws a progress bar (tqdm) on a terminal for big transfers.

    boto3 calls it from its worker threads, hence the lock. tqdm is imported only when a bar is drawn.
    """

    def __init__(self, label: str, total: int | None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._lock = threading.Lock()
        self._bar: Any = None
        self.visible = total is not None and total >= PROGRESS_MIN_BYTES and _stderr_is_tty()

    def __call__(self, amount: int) -> None:
        with self._lock:
            self.done += amount
            if not self.visible:
                return
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(total=self.total, desc=f"[spark_dao] {self.label}", unit="B", unit_scale=True,
                                 unit_divisor=1024, file=sys.stderr, mininterval=PROGRESS_INTERVAL,
                                 leave=True, dynamic_ncols=True)
            self._bar.update(amount)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None


# --------------------------------------------------------------------------- data sources
@dataclass
class _Source:
    """What ``put`` uploads: an open binary stream or a local file, its size and default name."""

    default_name: str | None
    size: int | None
    file: str | None = None  # local path
    stream: IO[bytes] | None = None


def _source(data: Any, *, what: str) -> _Source:
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        return _Source(None, len(raw), stream=io.BytesIO(raw))
    if isinstance(data, str | os.PathLike):
        path = os.fspath(data)
        if os.path.isdir(path):
            raise DaoError(f"{what}: {path!r} is a folder; upload folders with put_folder()")
        if not os.path.isfile(path):
            raise DaoError(
                f"{what}: no local file {path!r}; pass bytes, a binary file object or an existing file path"
            )
        return _Source(os.path.basename(path), os.path.getsize(path), file=path)
    if hasattr(data, "read"):
        try:
            probe = data.read(0)
        except Exception as exc:  # a closed file, a write-only stream
            raise DaoError(f"{what}: cannot read from {type(data).__name__}: {exc}") from exc
        if isinstance(probe, str):
            raise DaoError(f"{what}: the file is open in text mode; open it in binary mode ('rb')")
        name = getattr(data, "name", None)
        default = (
            os.path.basename(name) if isinstance(name, str) and name and not name.startswith("<") else None
        )
        size = None
        try:
            if data.seekable():
                here = data.tell()
                size = data.seek(0, os.SEEK_END) - here
                data.seek(here)
        except (AttributeError, OSError, ValueError):
            size = None
        return _Source(default or None, size, stream=data)
    raise DaoError(
        f"{what}: cannot upload a {type(data).__name__}; pass bytes, a binary file object "
        "(open(..., 'rb')) or a local file path"
    )


def _walk_files(root: str) -> Iterator[tuple[str, str]]:
    """(relative posix key, absolute path) of every regular file under ``root``, sorted."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fname in sorted(filenames):
            full = os.path.join(dirpath, fname)
            if _TMP_MARK in fname or not os.path.isfile(full):
                continue
            yield os.path.relpath(full, root).replace(os.sep, "/"), full


# --------------------------------------------------------------------------- backends
class _Backend(abc.ABC):
    """Operations on the keys under one location; created per call, never pickled.

    ``rel`` arguments are keys relative to ``location``; ``""`` is the location itself.
    """

    store: DataStore
    what: str
    location: str

    @abc.abstractmethod
    def put_stream(self, rel: str, stream: IO[bytes], size: int | None) -> ObjectInfo:
        ...

    @abc.abstractmethod
    def put_file(self, rel: str, path: str) -> ObjectInfo:
        ...

    @abc.abstractmethod
    def get(self, rel: str) -> bytes:
        ...

    @abc.abstractmethod
    def download(self, rel: str, dest: str) -> None:
        ...

    @abc.abstractmethod
    def open(self, rel: str) -> AbstractContextManager[tuple[IO[bytes], int]]:
        """A readable stream of one file and its size (for copies between different stores)."""
        ...

    @abc.abstractmethod
    def info(self, rel: str) -> ObjectInfo | None:
        ...

    @abc.abstractmethod
    def list(self, prefix: str) -> list[ObjectInfo]:
        """Files whose relative key starts with ``prefix`` (a plain string prefix), sorted."""
        ...

    @abc.abstractmethod
    def is_folder(self, rel: str) -> bool:
        ...

    @abc.abstractmethod
    def has(self, rel: str) -> bool:
        """File ``rel`` exists, or some file lies under folder ``rel``."""
        ...

    @abc.abstractmethod
    def remove(self, rel: str) -> int:
        """Delete file ``rel`` and everything under folder ``rel``; the number of files removed."""
        ...

    @abc.abstractmethod
    def folders(self) -> list[str]:
        ...

    @abc.abstractmethod
    def missing(self, rel: str) -> DaoError:
        """The :class:`ObjectNotFound` for file ``rel``."""
        ...

    def copy_here(self, src: _Backend, src_rel: str, rel: str) -> ObjectInfo | None:
        """Copy without streaming through this process when both sides allow it; None otherwise."""
        return None

    def uri(self, rel: str) -> str:
        return f"{self.location}/{rel}" if rel else self.location

