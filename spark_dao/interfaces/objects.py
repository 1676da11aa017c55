"""Raw objects — files kept exactly as received — in an S3 bucket prefix or a local folder.

The seed's ``S3Boto3Interface``: bronze ingestion of CSV exports, JSON logs, any bytes::

    itf = get_interface(catalog.store("bronze"))
    with open("users.csv", "rb") as f:
        itf.put(catalog.get("bronze.users_raw"), f, path="s3://my-company-bronze/users_raw/2025-01-07/")
    itf.list(catalog.get("bronze.users_raw"))        # [ObjectInfo(key='2025-01-07/users.csv', ...)]

Keys are relative to the object's location (``<store location>/<object path or name>``), the same
on both kinds of store: ``s3://bucket/prefix`` (boto3) and an absolute local folder. Every key,
``path`` and ``prefix`` must stay inside the object's location; anything else raises
:class:`~spark_dao.errors.DaoError` before a byte is written.

Guarantees:

* S3 uploads are managed transfers (multipart above ``multipart_threshold``, default 64 MB, parts in
  parallel up to ``max_concurrency``), each part sent with a SHA-256 checksum that S3 verifies; the
  stored size is compared with the bytes sent afterwards, and a mismatching object is removed.
  A single S3 PUT (or a completed multipart upload) is atomic: readers see the old object or the
  new one, never a partial one.
* Local writes go to a hidden temporary file next to the target and are renamed into place (atomic
  on one filesystem); a failed write leaves the target as it was.
* Transient S3 errors (throttling, 5xx, dropped connections) are retried with exponential backoff
  (store configs ``max_attempts``, ``connect_timeout``, ``request_timeout``, so nothing hangs); a persistent failure raises
  :class:`DaoError` naming the object, store, bucket and key.

Tabular reads and writes (``dao.read("bronze.users_raw", format="csv")``) use the files interface's
Arrow contract, inherited from :class:`~spark_dao.interfaces.files.FilesInterface`.
"""

from __future__ import annotations

import abc
import io
import logging
import os
import posixpath
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ..catalog.model import DataObject, DataStore, is_uri, join_inside
from ..errors import CatalogError, DaoError, ObjectNotFound, require
from ._fs import _wrap_io
from ._layout import _escapes, _store_root, check_inside_store, not_a_folder_error
from ._s3 import _MISSING_CODES, MB, _transfer_settings, delete_keys, s3_error
from ._s3 import DELETE_BATCH as _S3_DELETE_BATCH
from ._s3 import _cached_client as _cached_client  # noqa: F401  (tests clear its cache)
from ._s3 import _client_settings as _client_settings  # noqa: F401  (tests read it)
from ._s3settings import S3_SCHEMES as _S3_SCHEMES
from ._s3settings import S3Settings
from .files import FilesInterface

log = logging.getLogger("spark_dao.objects")

#: the checksum S3 computes and verifies for every uploaded part
CHECKSUM_ALGORITHM = "SHA256"
#: keys per DeleteObjects request (S3's maximum; see ``_s3.delete_keys``) and per listing page
DELETE_BATCH = _S3_DELETE_BATCH
LIST_PAGE_SIZE = 1000
#: a transfer at least this big shows a progress line, when stderr is a terminal
PROGRESS_MIN_BYTES = 64 * MB
#: seconds between two updates of the progress line
PROGRESS_INTERVAL = 0.5

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
    """Counts the bytes a transfer moved; draws a progress line on a terminal for big transfers.

    boto3 calls it from its worker threads, hence the lock.
    """

    def __init__(self, label: str, total: int | None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._lock = threading.Lock()
        self._last = 0.0
        self._drawn = False
        self.visible = total is not None and total >= PROGRESS_MIN_BYTES and _stderr_is_tty()

    def __call__(self, amount: int) -> None:
        with self._lock:
            self.done += amount
            if self.visible and time.monotonic() - self._last >= PROGRESS_INTERVAL:
                self._last = time.monotonic()
                self._draw()

    def _draw(self) -> None:
        total = self.total or 0
        pct = 100.0 * self.done / total if total else 100.0
        sys.stderr.write(
            f"\r[spark_dao] {self.label}: {pct:5.1f}% ({self.done / MB:.1f}/{total / MB:.1f} MB)"
        )
        sys.stderr.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._draw()
            sys.stderr.write("\n")
            sys.stderr.flush()


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


class _S3Backend(_Backend):
    def __init__(self, store: DataStore, location: str, what: str) -> None:
        self.store, self.what = store, what
        scheme, _, rest = location.partition("://")
        self.bucket, _, prefix = rest.partition("/")
        self.base = posixpath.normpath(prefix).strip("/") if prefix.strip("/") else ""
        self.location = f"s3://{self.bucket}" + (f"/{self.base}" if self.base else "")
        self.settings = S3Settings.from_store(store)
        self.transfer = _transfer_settings(store)

    # ------------------------------------------------------------------ plumbing
    @property
    def client(self) -> Any:
        return self.settings.boto3_client()

    def _config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        t = self.transfer
        return TransferConfig(
            multipart_threshold=t.threshold,
            multipart_chunksize=t.chunksize,
            max_concurrency=t.concurrency,
            use_threads=True,
        )

    def key(self, rel: str) -> str:
        return f"{self.base}/{rel}" if self.base and rel else (rel or self.base)

    def _prefix(self, rel: str) -> str:
        """The key prefix of everything under ``rel`` (a folder), ``""`` for the bucket's root."""
        key = self.key(rel)
        return f"{key}/" if key else ""

    def _rel(self, key: str) -> str:
        return key[len(self.base) + 1 :] if self.base else key

    def _info(self, rel: str, size: int, modified: datetime | None) -> ObjectInfo:
        return ObjectInfo(rel, int(size), modified, f"s3://{self.bucket}/{self.key(rel)}")

    def _fail(self, action: str, key: str, exc: BaseException) -> DaoError:
        """One clear error for a failed S3 call; secrets scrubbed from whatever botocore said."""
        return s3_error(self.store, f"{action} {self.what} (store {self.store.name!r})", self.bucket, key, exc)

    @contextmanager
    def _guard(self, action: str, key: str) -> Iterator[None]:
        require("boto3", "s3")  # BackendNotInstalled naming the extra, before anything else
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError
        from s3transfer.exceptions import RetriesExceededError

        try:
            yield
        except DaoError:
            raise
        except (ClientError, BotoCoreError, Boto3Error, RetriesExceededError) as exc:
            raise self._fail(action, key, exc) from exc
        except OSError as exc:  # local side of a transfer (dest folder, disk full)
            raise DaoError(
                f"{action} {self.what} (store {self.store.name!r}, bucket {self.bucket!r}, key {key!r}) "
                f"failed: {exc}"
            ) from exc

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status != 404 and exc.response.get("Error", {}).get("Code") not in _MISSING_CODES:
                raise
        # HEAD says 404 for a missing key and for a missing bucket alike: tell them apart.
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                raise ClientError(
                    {"Error": {"Code": "NoSuchBucket", "Message": "The specified bucket does not exist"}},
                    "HeadBucket",
                ) from exc
            raise
        return None

    def _verify(self, rel: str, sent: int | None) -> ObjectInfo:
        key = self.key(rel)
        head = self._head(key)
        if head is None:
            raise DaoError(f"uploading {self.what}: s3://{self.bucket}/{key} is missing after the upload")
        if sent is not None and int(head["ContentLength"]) != sent:
            self.client.delete_object(Bucket=self.bucket, Key=key)
            raise DaoError(
                f"uploading {self.what} (store {self.store.name!r}, bucket {self.bucket!r}, key {key!r}): "
                f"S3 holds {head['ContentLength']} bytes but {sent} were sent; the object was removed"
            )
        return self._info(rel, head["ContentLength"], head.get("LastModified"))

    def _extra_upload(self) -> dict[str, Any]:
        return {"ChecksumAlgorithm": CHECKSUM_ALGORITHM} if CHECKSUM_ALGORITHM else {}

    def _extra_download(self) -> dict[str, Any]:
        from s3transfer.manager import TransferManager

        # botocore validates a full-object checksum on GET when asked (older s3transfer cannot pass it)
        return {"ChecksumMode": "ENABLED"} if "ChecksumMode" in TransferManager.ALLOWED_DOWNLOAD_ARGS else {}

    # ------------------------------------------------------------------ operations
    # Below the multipart threshold one request does it: a managed transfer would start a thread
    # pool per file, which dominates when a folder of many small files is ingested.
    def _put_small(self, rel: str, body: bytes) -> ObjectInfo:
        key = self.key(rel)
        with self._guard("uploading", key):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **self._extra_upload())
            return self._verify(rel, len(body))

    def put_stream(self, rel: str, stream: IO[bytes], size: int | None) -> ObjectInfo:
        key = self.key(rel)
        if size is not None and size < self.transfer.threshold:
            try:
                body = stream.read()
            except Exception as exc:  # the source failed: nothing was sent
                raise self._fail("uploading", key, exc) from exc
            if len(body) != size:
                raise DaoError(
                    f"uploading {self.what} (store {self.store.name!r}, bucket {self.bucket!r}, key {key!r}): "
                    f"the source gave {len(body)} bytes, {size} were expected; nothing was uploaded"
                )
            return self._put_small(rel, body)
        progress = _Progress(f"uploading s3://{self.bucket}/{key}", size)
        started = time.time()
        try:
            with self._guard("uploading", key):
                try:
                    self.client.upload_fileobj(
                        stream,
                        self.bucket,
                        key,
                        ExtraArgs=self._extra_upload(),
                        Callback=progress,
                        Config=self._config(),
                    )
                finally:
                    progress.close()
                return self._verify(rel, size if size is not None else progress.done)
        except BaseException as exc:
            # s3transfer aborts its multipart upload on most failures, not on all (an exception that
            # is not an Exception, a cancelled future): make sure none is left to be billed
            self._abort_uploads_of(key, since=started)
            if isinstance(exc, DaoError) or not isinstance(exc, Exception):
                raise
            raise self._fail("uploading", key, exc) from exc

    def _abort_uploads_of(self, key: str, *, since: float) -> None:
        """Abort the uncompleted multipart uploads of ``key`` started since ``since`` (best effort)."""
        try:
            response = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
            for upload in response.get("Uploads", ()):
                initiated = upload.get("Initiated")
                if upload.get("Key") != key or (initiated is not None and initiated.timestamp() < since - 60):
                    continue
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])
        except Exception as exc:  # never hide the upload's own error behind this one
            log.warning("could not abort the uncompleted upload(s) of s3://%s/%s: %s; a bucket lifecycle rule "
                        "(AbortIncompleteMultipartUpload) removes them", self.bucket, key, exc)

    def put_file(self, rel: str, path: str) -> ObjectInfo:
        with open(path, "rb") as f:
            return self.put_stream(rel, f, os.path.getsize(path))

    def _fetch(self, rel: str, out: IO[bytes], *, action: str) -> int:
        """Write file ``rel`` into ``out``; returns the size S3 reported (checked against what came)."""
        key = self.key(rel)
        with self._guard(action, key):
            head = self._head(key)
            if head is None:
                raise self.missing(rel)
            size = int(head["ContentLength"])
            if size < self.transfer.threshold:
                body = self.client.get_object(Bucket=self.bucket, Key=key, **self._extra_download())["Body"]
                try:
                    shutil.copyfileobj(body, out, MB)  # botocore checks the checksum at the end
                finally:
                    body.close()
            else:
                progress = _Progress(f"{action} s3://{self.bucket}/{key}", size)
                try:
                    self.client.download_fileobj(  # parallel ranged GETs
                        self.bucket,
                        key,
                        out,
                        ExtraArgs=self._extra_download(),
                        Callback=progress,
                        Config=self._config(),
                    )
                finally:
                    progress.close()
        return size

    def _short(self, rel: str, action: str, got: int, size: int) -> DaoError:
        return DaoError(
            f"{action} {self.what} (store {self.store.name!r}, bucket {self.bucket!r}, key {self.key(rel)!r}): "
            f"received {got} bytes, S3 holds {size}"
        )

    def get(self, rel: str) -> bytes:
        buf = io.BytesIO()
        size = self._fetch(rel, buf, action="reading")
        got = len(buf.getbuffer())
        if got != size:
            raise self._short(rel, "reading", got, size)
        return buf.getvalue()

    def download(self, rel: str, dest: str) -> None:
        # into a temporary name, renamed when complete: dest is never half-written
        tmp = f"{dest}{_TMP_MARK}{uuid.uuid4().hex[:8]}"
        try:
            with open(tmp, "wb") as out:
                size = self._fetch(rel, out, action="downloading")
                got = out.seek(0, os.SEEK_END)  # parallel parts write at their offsets
            if got != size:
                raise self._short(rel, "downloading", got, size)
            os.replace(tmp, dest)
        except OSError as exc:
            raise DaoError(
                f"downloading {self.what} (store {self.store.name!r}, bucket {self.bucket!r}, "
                f"key {self.key(rel)!r}) to {dest} failed: {exc}"
            ) from exc
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @contextmanager
    def open(self, rel: str) -> Iterator[tuple[IO[bytes], int]]:
        key = self.key(rel)
        with self._guard("reading", key):
            response = self.client.get_object(Bucket=self.bucket, Key=key, **self._extra_download())
        body = response["Body"]
        try:
            yield body, int(response["ContentLength"])
        finally:
            body.close()

    def missing(self, rel: str) -> DaoError:
        return self._fail("reading", self.key(rel), _missing_error(self.key(rel)))

    def info(self, rel: str) -> ObjectInfo | None:
        key = self.key(rel)
        with self._guard("checking", key):
            head = self._head(key) if rel else None
        return self._info(rel, head["ContentLength"], head.get("LastModified")) if head else None

    def _keys(self, key_prefix: str, *, action: str) -> Iterator[dict[str, Any]]:
        with self._guard(action, key_prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=key_prefix, PaginationConfig={"PageSize": LIST_PAGE_SIZE}
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    if not item["Key"].endswith("/"):  # folder markers written by consoles and tools
                        yield item

    def list(self, prefix: str) -> list[ObjectInfo]:
        out = [
            self._info(self._rel(item["Key"]), item["Size"], item.get("LastModified"))
            for item in self._keys(self._prefix("") + prefix, action="listing")
        ]
        return sorted(out, key=lambda i: i.key)

    def is_folder(self, rel: str) -> bool:
        prefix = self._prefix(rel)
        with self._guard("checking", prefix):
            response = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        return bool(response.get("KeyCount") or response.get("Contents"))

    def has(self, rel: str) -> bool:
        return (bool(rel) and self.info(rel) is not None) or self.is_folder(rel)

    def remove(self, rel: str) -> int:
        keys = [item["Key"] for item in self._keys(self._prefix(rel), action="deleting")]
        if rel and self.info(rel) is not None:
            keys.append(self.key(rel))
        errors = delete_keys(self.client, self.bucket, keys, batch=DELETE_BATCH,
                             guard=lambda key: self._guard("deleting", key))
        if errors:
            shown = ", ".join(f"{e.get('Key')} ({e.get('Code')})" for e in errors[:5])
            raise DaoError(
                f"deleting {self.what} (store {self.store.name!r}, bucket {self.bucket!r}): "
                f"{len(errors)} keys could not be deleted: {shown}"
            )
        return len(keys)

    def folders(self) -> list[str]:
        prefix = self._prefix("")
        out: set[str] = set()
        with self._guard("listing", prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket,
                Prefix=prefix,
                Delimiter="/",
                PaginationConfig={"PageSize": LIST_PAGE_SIZE},
            )
            for page in pages:
                for common in page.get("CommonPrefixes", ()):
                    name = common["Prefix"][len(prefix) :].strip("/")
                    if name and not name.startswith(("_", ".")):
                        out.add(name)
        return sorted(out)

    def copy_here(self, src: _Backend, src_rel: str, rel: str) -> ObjectInfo | None:
        # Server-side copy needs one client that can read the source and write here.
        if not isinstance(src, _S3Backend) or src.settings != self.settings:
            return None
        src_key, key = src.key(src_rel), self.key(rel)
        with self._guard("copying", key):
            head = src._head(src_key)
            if head is None:
                raise src.missing(src_rel)
            size = int(head["ContentLength"])
            if size < self.transfer.threshold:
                self.client.copy_object(
                    Bucket=self.bucket,
                    Key=key,
                    CopySource={"Bucket": src.bucket, "Key": src_key},
                    **self._extra_upload(),
                )
            else:  # parallel UploadPartCopy: one CopyObject is limited to 5 GB
                self.client.copy(
                    {"Bucket": src.bucket, "Key": src_key},
                    self.bucket,
                    key,
                    ExtraArgs=self._extra_upload(),
                    Config=self._config(),
                )
            return self._verify(rel, size)


def _missing_error(key: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": "NoSuchKey", "Message": f"no key {key!r}"}}, "HeadObject")


def _same_place(a: _Backend, b: _Backend) -> bool:
    """Equal URIs name the same file: both local, or both S3 behind the same endpoint."""
    if isinstance(a, _S3Backend) and isinstance(b, _S3Backend):
        return a.store.configs.get("endpoint_url") == b.store.configs.get("endpoint_url")
    return isinstance(a, _LocalBackend) and isinstance(b, _LocalBackend)


def _backend(store: DataStore, location: str, what: str) -> _Backend:
    if is_uri(location):
        scheme, _, rest = location.partition("://")
        if scheme.lower() in _S3_SCHEMES:
            return _S3Backend(store, location, what)
        if scheme.lower() == "file":
            return _LocalBackend(store, "/" + rest.lstrip("/"), what)
        raise DaoError(
            f"{what} (store {store.name!r}): the objects interface handles s3:// locations and local "
            f"folders, not {scheme}:// ({location})"
        )
    return _LocalBackend(store, location, what)


# --------------------------------------------------------------------------- the interface
class ObjectsInterface(FilesInterface):
    """Raw files of a store — upload as received, list, fetch, copy, delete — on S3 or a local folder.

    >>> itf = get_interface(catalog.store("bronze"))                                   # doctest: +SKIP
    >>> users_raw = catalog.get("bronze.users_raw")                                    # doctest: +SKIP
    >>> with open("users.csv", "rb") as f:                                             # doctest: +SKIP
    ...     itf.put(users_raw, f, path="s3://my-company-bronze/users_raw/2025-01-07/")
    >>> [i.key for i in itf.list(users_raw)]                                           # doctest: +SKIP
    ['2025-01-07/users.csv']

    Holds only the (picklable) store; boto3 clients are made inside each call, cached per process.
    Tabular reads of the same files (``dao.read("bronze.users_raw", format="csv")``) come from
    :class:`FilesInterface`.
    """

    @classmethod
    def from_store(cls, store: DataStore) -> ObjectsInterface:
        return cls(store)

    def __repr__(self) -> str:
        return f"ObjectsInterface(store={self.store.name!r}, location={self.store.location!r})"

    # ------------------------------------------------------------------ helpers
    def _store_of(self, obj: DataObject) -> DataStore:
        return obj.store if isinstance(obj.store, DataStore) else self.store

    def _open(self, obj: DataObject) -> _Backend:
        # obj.location raises CatalogError (a DaoError) for a store without a location
        return _backend(self._store_of(obj), obj.location, f"object {obj.full_name!r}")

    def _rel(
        self, obj: DataObject, backend: _Backend, path: str, *, what: str, allow_root: bool = False
    ) -> str:
        """``path`` (relative, or a URI / absolute path inside the object) as a key relative to ``obj``."""
        if not isinstance(path, str):
            raise DaoError(f"{what} {obj.full_name!r}: expected a string key, got {type(path).__name__}")
        try:
            full = join_inside(backend.location, path, what=f"object {obj.full_name!r}")
        except CatalogError as exc:
            raise DaoError(
                f"{what} object {obj.full_name!r} (store {obj.store_name!r}): path {path!r} is not inside "
                f"the object's location {backend.location}; use a key relative to it (without '..') or a "
                "location under it"
            ) from exc
        rel = full[len(backend.location.rstrip("/")) :].strip("/")
        if not rel and not allow_root:
            raise DaoError(
                f"{what} object {obj.full_name!r} (store {obj.store_name!r}): path {path!r} names the "
                "object's folder itself; give a file name"
            )
        return rel

    def _put_key(
        self, obj: DataObject, backend: _Backend, name: str | None, path: str | None, default: str | None
    ) -> str:
        what = "writing to"
        if name is not None:
            name_rel = self._rel(obj, backend, name, what=what)
            if path is None:
                return name_rel
            folder = self._rel(obj, backend, path, what=what, allow_root=True)
            return self._rel(obj, backend, f"{folder}/{name_rel}" if folder else name_rel, what=what)
        if path is None:
            if default is None:
                raise DaoError(
                    f"writing to object {obj.full_name!r} (store {obj.store_name!r}): the data has no file "
                    "name; pass name='users.csv' or a path ending with the file name"
                )
            return self._rel(obj, backend, default, what=what)
        rel = self._rel(obj, backend, path, what=what, allow_root=True)
        # Like `cp`: a path ending with '/', the object's own folder or an existing folder receives
        # the file under its own name; any other path is the full key.
        if path.endswith("/") or not rel or (default is not None and backend.is_folder(rel)):
            if default is None:
                raise DaoError(
                    f"writing to object {obj.full_name!r} (store {obj.store_name!r}): path {path!r} is a "
                    "folder and the data has no file name; pass name='users.csv'"
                )
            return self._rel(obj, backend, f"{rel}/{default}" if rel else default, what=what)
        return rel

    # ------------------------------------------------------------------ writing
    @_wrap_io("writing to")
    def put(
        self, obj: DataObject, data: Any, name: str | None = None, *, path: str | None = None
    ) -> ObjectInfo:
        """Upload one file as-is: bytes, a binary file object or a local file path.

        >>> itf.put(users_raw, open("users.csv", "rb"), path="2025-01-07/")            # doctest: +SKIP
        ObjectInfo(key='2025-01-07/users.csv', size=1234, ...)

        ``name`` defaults to the file's own name. ``path`` is a sub-folder of the object (ending
        with ``/``, or an existing folder), a full key, or a location inside the object such as
        ``s3://my-company-bronze/users_raw/2025-01-07/``. A key outside the object's location is a
        :class:`DaoError` and nothing is written. Atomic per file (see the module docstring).
        """
        backend = self._open(obj)
        source = _source(data, what=f"writing to object {obj.full_name!r} (store {obj.store_name!r})")
        rel = self._put_key(obj, backend, name, path, source.default_name)
        if source.file is not None:
            info = backend.put_file(rel, source.file)
        else:
            assert source.stream is not None
            info = backend.put_stream(rel, source.stream, source.size)
        log.info("put %s (%d bytes) into %s", info.location, info.size, obj.full_name)
        return info

    @_wrap_io("writing to")
    def put_folder(
        self, obj: DataObject, local_dir: str | os.PathLike[str], *, path: str | None = None
    ) -> list[ObjectInfo]:
        """Upload every file under ``local_dir``, keeping sub-folders: keys are ``<path>/<relative path>``.

        >>> itf.put_folder(events_raw, "exports/2025-01-07", path="2025-01-07/")      # doctest: +SKIP

        Every key is checked before the first upload. Small files go up in parallel
        (``max_concurrency``); each file is atomic, the folder as a whole is not.
        """
        backend = self._open(obj)
        root = os.fspath(local_dir)
        if not os.path.isdir(root):
            raise DaoError(
                f"writing to object {obj.full_name!r} (store {obj.store_name!r}): {root!r} is not a local folder"
            )
        folder = self._rel(obj, backend, path, what="writing to", allow_root=True) if path is not None else ""
        jobs = [
            (self._rel(obj, backend, f"{folder}/{rel}" if folder else rel, what="writing to"), full)
            for rel, full in _walk_files(root)
        ]
        threshold = _transfer_settings(self._store_of(obj)).threshold
        small = [job for job in jobs if os.path.getsize(job[1]) < threshold]
        large = [job for job in jobs if os.path.getsize(job[1]) >= threshold]
        results = dict(self._parallel(obj, backend.put_file, small))
        for rel, full in large:  # each is already uploaded in parallel parts
            results[rel] = backend.put_file(rel, full)
        log.info("put %d files from %s into %s", len(jobs), root, obj.full_name)
        return [results[rel] for rel, _ in jobs]

    def _parallel(
        self, obj: DataObject, fn: Callable[[str, str], Any], jobs: list[tuple[str, str]]
    ) -> list[tuple[str, Any]]:
        if len(jobs) <= 1:
            return [(rel, fn(rel, other)) for rel, other in jobs]
        workers = min(len(jobs), _transfer_settings(self._store_of(obj)).concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spark_dao_objects") as pool:
            return list(zip([rel for rel, _ in jobs], pool.map(lambda job: fn(*job), jobs), strict=True))

    # ------------------------------------------------------------------ reading
    @_wrap_io("reading")
    def get(self, obj: DataObject, name: str) -> bytes:
        """The content of one file: ``itf.get(users_raw, "2025-01-07/users.csv")``.

        Missing file: :class:`~spark_dao.errors.ObjectNotFound`.
        """
        backend = self._open(obj)
        return backend.get(self._rel(obj, backend, name, what="reading"))

    @_wrap_io("downloading from")
    def download(self, obj: DataObject, name: str, dest: str | os.PathLike[str]) -> Path:
        """Save one file locally; ``dest`` is a file path or an existing folder. Returns the file's path.

        >>> itf.download(users_raw, "2025-01-07/users.csv", "/tmp/in/")             # doctest: +SKIP
        """
        backend = self._open(obj)
        rel = self._rel(obj, backend, name, what="downloading")
        target = Path(dest)
        if target.is_dir() or str(dest).endswith(("/", os.sep)):
            target = target / posixpath.basename(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        backend.download(rel, str(target))
        return target

    @_wrap_io("downloading from")
    def download_folder(
        self, obj: DataObject, dest: str | os.PathLike[str], *, prefix: str | None = None
    ) -> list[Path]:
        """Save every file of the object (or those whose key starts with ``prefix``) under ``dest``.

        >>> itf.download_folder(users_raw, "/tmp/users_raw", prefix="2025-01-")      # doctest: +SKIP
        """
        backend = self._open(obj)
        root = Path(dest).resolve()
        jobs: list[tuple[str, str]] = []
        for info in self.list(obj, prefix):
            target = (root / info.key).resolve()
            if root not in target.parents:  # a key like "a/../../x" must not write outside dest
                raise DaoError(
                    f"downloading object {obj.full_name!r} (store {obj.store_name!r}): key {info.key!r} "
                    f"would be written outside {root}"
                )
            jobs.append((info.key, str(target)))

        def fetch(rel: str, target: str) -> Path:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            backend.download(rel, target)
            return Path(target)

        return [path for _, path in self._parallel(obj, fetch, jobs)]

    @_wrap_io("listing")
    def list(self, obj: DataObject, prefix: str | None = None) -> list[ObjectInfo]:
        """Every file of the object, sorted by key; ``prefix`` keeps keys starting with it.

        >>> [i.key for i in itf.list(users_raw, prefix="2025-01-07/")]                # doctest: +SKIP
        ['2025-01-07/users.csv']
        """
        backend = self._open(obj)
        if prefix:
            clean = self._rel(obj, backend, prefix, what="listing", allow_root=True)
            # keep a trailing '/' (folder) and partial names ("2025-01-") as given
            if prefix.endswith("/") and clean:
                clean += "/"
            prefix = clean
        return backend.list(prefix or "")

    @_wrap_io("checking")
    def info(self, obj: DataObject, name: str) -> ObjectInfo | None:
        """Size and modification time of one file, or None when it does not exist."""
        backend = self._open(obj)
        return backend.info(self._rel(obj, backend, name, what="checking"))

    # ------------------------------------------------------------------ management
    @_wrap_io("checking")
    def exists(self, obj: DataObject, name: str | None = None) -> bool:
        """True when the object holds any file (``name=None``), or when file/folder ``name`` exists."""
        backend = self._open(obj)
        rel = "" if name is None else self._rel(obj, backend, name, what="checking")
        return backend.has(rel)

    @_wrap_io("deleting")
    def delete(self, obj: DataObject, name: str | None = None) -> bool:
        """Remove file/folder ``name``, or everything under the object; False when there was nothing.

        Not atomic for folders: a failure part-way leaves the files not yet deleted.
        """
        backend = self._open(obj)
        rel = "" if name is None else self._rel(obj, backend, name, what="deleting")
        removed = backend.remove(rel)
        if removed:
            log.info("deleted %d files of %s%s", removed, obj.full_name, f" under {rel!r}" if rel else "")
        return bool(removed)

    @_wrap_io("copying")
    def copy(
        self, obj: DataObject, name: str, dest_obj: DataObject, dest_name: str | None = None
    ) -> ObjectInfo:
        """Copy one file to another object (any store); server-side when both are on the same S3 account.

        >>> itf.copy(users_raw, "2025-01-07/users.csv", archive, "users/2025-01-07.csv")  # doctest: +SKIP
        """
        src = self._open(obj)
        src_rel = self._rel(obj, src, name, what="copying from")
        dst = self._open(dest_obj)
        rel = self._rel(dest_obj, dst, dest_name if dest_name is not None else src_rel, what="copying to")
        if src.uri(src_rel) == dst.uri(rel) and _same_place(src, dst):
            info = src.info(src_rel)  # a file copied onto itself: nothing to do
            if info is None:
                raise src.missing(src_rel)
            return info
        info = dst.copy_here(src, src_rel, rel)
        if info is None:
            with src.open(src_rel) as (stream, size):
                info = dst.put_stream(rel, stream, size)
        log.info("copied %s to %s", src.uri(src_rel), info.location)
        return info

    @_wrap_io("moving")
    def move(
        self, obj: DataObject, name: str, dest_obj: DataObject, dest_name: str | None = None
    ) -> ObjectInfo:
        """Copy one file, then delete the original (not atomic: a failed delete leaves both copies)."""
        src = self._open(obj)
        src_uri = src.uri(self._rel(obj, src, name, what="moving"))
        info = self.copy(obj, name, dest_obj, dest_name)
        if info.location != src_uri:  # moving a file onto itself must not delete it
            self.delete(obj, name)
        return info

    def list_objects(self) -> list[str]:
        """Names of the top-level folders in the store's location (one per data object)."""
        root = self.store.location
        if root is None:
            return []
        return _backend(self.store, root, f"store {self.store.name!r}").folders()
