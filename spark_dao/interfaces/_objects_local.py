"""The raw-objects backend of a local folder (see :mod:`spark_dao.interfaces.objects`).

Writes go to a hidden temporary file next to the target, renamed into place; a failed write leaves
the target as it was and removes the folders it created. Paths a symbolic link leads out of the
store's folder are refused (writes, reads) or skipped with a warning (listings).
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO

from ..catalog.model import DataStore, is_uri
from ..errors import DaoError, ObjectNotFound
from ._layout import _escapes, _store_root, check_inside_store, not_a_folder_error
from ._objects_backend import _TMP_MARK, ObjectInfo, _Backend, _Progress, _walk_files
from ._s3 import MB

log = logging.getLogger("spark_dao.objects")


def _missing_folders(folder: str) -> list[str]:
    """The folders ``os.makedirs(folder)`` would create, outermost first."""
    out = []
    current = os.path.abspath(folder)
    while not os.path.lexists(current):
        out.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return out[::-1]


class _LocalBackend(_Backend):
    def __init__(self, store: DataStore, location: str, what: str) -> None:
        self.store, self.what = store, what
        self.location = os.path.abspath(location)

    def _path(self, rel: str) -> str:
        return os.path.join(self.location, *rel.split("/")) if rel else self.location

    def _inside(self, action: str, *paths: str) -> None:
        """Refuse a path a symlink inside the store leads out of it (before any byte moves)."""
        check_inside_store(self.store, paths, what=f"{action} {self.what}")

    def _blocked(self, action: str, rel: str) -> None:
        """Raise when a regular file stands where the store's folders are: "nothing there" would hide it."""
        blocked = not_a_folder_error(self.store, self._path(rel), what=f"{action} {self.what}")
        if blocked is not None:
            raise blocked

    def _files(self, start: str, action: str) -> Iterator[tuple[str, str]]:
        """:func:`_walk_files` under ``start`` without the symlinked files whose target is outside the
        store's real folder (skipped with a warning: their content is not the store's)."""
        root = _store_root(self.store)
        real_root = os.path.realpath(root) if root is not None else None
        for rel, full in _walk_files(start):
            if real_root is not None and os.path.islink(full) and _escapes(real_root, full):
                log.warning("%s %s (store %r): skipped %s: it resolves to %s, outside the store's folder %s "
                            "(a symbolic link leads out of it)", action, self.what, self.store.name, full,
                            os.path.realpath(full), real_root)
                continue
            yield rel, full

    def _fail(self, action: str, rel: str, exc: BaseException) -> DaoError:
        blocked = not_a_folder_error(self.store, self._path(rel), what=f"{action} {self.what}")
        if blocked is not None:
            return blocked
        detail = str(exc) if isinstance(exc, OSError | DaoError) else f"{type(exc).__name__}: {exc}"
        return DaoError(
            f"{action} {self.what} (store {self.store.name!r}, path {self._path(rel)!r}) failed: {detail}"
        )

    def _info(self, rel: str, path: str) -> ObjectInfo:
        st = os.stat(path)
        return ObjectInfo(rel, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC), path)

    def _write(self, rel: str, fill: Callable[[IO[bytes]], None], size: int | None) -> ObjectInfo:
        target = self._path(rel)
        if os.path.isdir(target):
            raise DaoError(
                f"writing {self.what} (store {self.store.name!r}): {rel!r} is a folder; "
                "give a file name or a path ending with '/'"
            )
        folder = os.path.dirname(target)
        self._inside("writing", folder, target)
        tmp = os.path.join(folder, f".{os.path.basename(target)}{_TMP_MARK}{uuid.uuid4().hex[:8]}")
        created = _missing_folders(folder)
        try:
            os.makedirs(folder, exist_ok=True)
            with open(tmp, "wb") as out:
                fill(out)
            written = os.path.getsize(tmp)
            if size is not None and written != size:
                raise DaoError(f"wrote {written} bytes, expected {size}")
            os.replace(tmp, target)
        except BaseException as exc:
            # any failure, the source's own exceptions and Ctrl-C included: no temporary file and
            # no folder this upload created is left behind
            try:
                os.unlink(tmp)
            except OSError:
                pass
            for made in reversed(created):
                try:
                    os.rmdir(made)
                except OSError:
                    break
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt, SystemExit: as they came
            raise self._fail("writing", rel, exc) from exc
        return self._info(rel, target)

    def put_stream(self, rel: str, stream: IO[bytes], size: int | None) -> ObjectInfo:
        progress = _Progress(f"writing {self._path(rel)}", size)

        def fill(out: IO[bytes]) -> None:
            while chunk := stream.read(MB):
                out.write(chunk)
                progress(len(chunk))

        try:
            return self._write(rel, fill, size)
        finally:
            progress.close()

    def put_file(self, rel: str, path: str) -> ObjectInfo:
        size = os.path.getsize(path)

        def fill(out: IO[bytes]) -> None:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, out, MB)

        return self._write(rel, fill, size)

    def get(self, rel: str) -> bytes:
        path = self._path(rel)
        self._inside("reading", path)
        if not os.path.isfile(path):
            raise self.missing(rel)
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as exc:
            raise self._fail("reading", rel, exc) from exc

    def missing(self, rel: str) -> ObjectNotFound:
        return ObjectNotFound(
            f"{self.what} (store {self.store.name!r}) has no file {rel!r} at {self._path(rel)}"
        )

    def download(self, rel: str, dest: str) -> None:
        src = self._path(rel)
        self._inside("downloading", src)
        if not os.path.isfile(src):
            raise self.missing(rel)
        tmp = f"{dest}{_TMP_MARK}{uuid.uuid4().hex[:8]}"
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise self._fail("downloading", rel, exc) from exc

    @contextmanager
    def open(self, rel: str) -> Iterator[tuple[IO[bytes], int]]:
        path = self._path(rel)
        self._inside("reading", path)
        if not os.path.isfile(path):
            raise self.missing(rel)
        with open(path, "rb") as f:
            yield f, os.path.getsize(path)

    def info(self, rel: str) -> ObjectInfo | None:
        path = self._path(rel)
        if rel:
            self._inside("checking", path)
        return self._info(rel, path) if rel and os.path.isfile(path) else None

    def list(self, prefix: str) -> list[ObjectInfo]:
        # Walk only the folder the prefix names; match the rest of it as a plain string prefix.
        start_rel = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self._path(start_rel)
        self._inside("listing", start)  # the object's folder (or the prefix's) must not lead out
        if not os.path.isdir(start):
            self._blocked("listing", start_rel)
            return []
        out = []
        try:
            for rel, full in self._files(start, "listing"):
                key = f"{start_rel}/{rel}" if start_rel else rel
                if key.startswith(prefix):
                    out.append(self._info(key, full))
        except OSError as exc:
            raise self._fail("listing", prefix, exc) from exc
        return sorted(out, key=lambda i: i.key)

    def is_folder(self, rel: str) -> bool:
        return os.path.isdir(self._path(rel))

    def has(self, rel: str) -> bool:
        path = self._path(rel)
        self._inside("checking", path)
        if rel and os.path.isfile(path):
            return True
        if not os.path.isdir(path):
            self._blocked("checking", rel)
            return False
        return next(self._files(path, "checking"), None) is not None

    def remove(self, rel: str) -> int:
        path = self._path(rel)
        self._inside("deleting", path)
        try:
            if rel and os.path.isfile(path):
                os.unlink(path)
                count = 1
            elif os.path.isdir(path):
                count = sum(1 for _ in _walk_files(path))
                shutil.rmtree(path)
            else:
                self._blocked("deleting", rel)
                return 0
        except OSError as exc:
            raise self._fail("deleting", rel, exc) from exc
        self._prune(os.path.dirname(path))
        return count

    def _prune(self, folder: str) -> None:
        # S3 has no empty folders: remove the ones a delete leaves, up to the store's root.
        root = self.store.location
        stop = os.path.abspath(root) if root and not is_uri(root) else self.location
        while folder.startswith(stop + os.sep):
            try:
                os.rmdir(folder)
            except OSError:
                return
            folder = os.path.dirname(folder)

    def folders(self) -> list[str]:
        if not os.path.isdir(self.location):
            if os.path.exists(self.location):
                raise DaoError(
                    f"listing {self.what}: the store's path {self.location} is a regular file, not a folder. "
                    f"Point the store's 'path' in the catalog ({self.store.source}) at a folder"
                )
            return []
        return sorted(
            e.name for e in os.scandir(self.location) if e.is_dir() and not e.name.startswith(("_", "."))
        )

    def copy_here(self, src: _Backend, src_rel: str, rel: str) -> ObjectInfo | None:
        if not isinstance(src, _LocalBackend):
            return None
        path = src._path(src_rel)
        src._inside("copying", path)
        if not os.path.isfile(path):
            raise src.missing(src_rel)
        return self.put_file(rel, path)

