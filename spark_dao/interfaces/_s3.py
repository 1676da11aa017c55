"""S3 plumbing shared by the files and objects interfaces.

* boto3 clients built from a store's configs (endpoint, region, credentials, retries, timeouts),
  cached per process and never stored on objects that travel to Spark executors;
* one translation of botocore errors into :class:`~spark_dao.errors.DaoError`, naming the object,
  store, bucket and key, with secrets scrubbed;
* :class:`MultipartStaging`: files written as S3 multipart uploads *to their final keys* and left
  uncompleted. An uncompleted upload is invisible to every reader (it is in no listing and cannot
  be fetched); the driver's commit completes it (``CompleteMultipartUpload``: no copy, whatever the
  file's size) and an abort aborts it. This is the protocol of Hadoop's S3A "magic" committer.

boto3 is imported lazily; a missing one raises :class:`~spark_dao.errors.BackendNotInstalled`
naming ``pip install 'spark-dao[s3]'``.
"""

from __future__ import annotations

import io
import logging
import posixpath
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..catalog.model import DataStore
from ..errors import DaoError, ObjectNotFound
from ._s3settings import S3_SCHEMES as S3_SCHEMES
from ._s3settings import S3Settings, _boto3_client
from ._s3settings import split_location as split_location

log = logging.getLogger("spark_dao.s3")

MB = 1024 * 1024
#: objects at least this big are uploaded/downloaded in parts (store config ``multipart_threshold``)
DEFAULT_MULTIPART_THRESHOLD = 64 * MB
#: parts transferred in parallel per object (store config ``max_concurrency``)
DEFAULT_MAX_CONCURRENCY = 10
#: S3 rejects parts below 5 MB (except the last one)
MIN_PART_SIZE = 5 * MB
#: attempts per S3 request, first one included (botocore "standard" retry mode: exponential backoff);
#: store config ``max_attempts``
MAX_ATTEMPTS = 5
#: seconds to open a connection / to wait for data on it, so a dead endpoint never hangs a job;
#: store configs ``connect_timeout`` and ``request_timeout`` (the same names as the files interface)
CONNECT_TIMEOUT = 5.0
REQUEST_TIMEOUT = 60.0
#: part size of staged data files: small enough that uploading overlaps encoding, above S3's minimum
STAGE_PART_SIZE = 8 * MB
#: S3 allows 10,000 parts per upload; parts grow 8x after this many so a file can reach ~580 GB
_PART_GROWTH_AFTER = 1000
#: checksum of every staged part, verified by S3 on upload and again on completion
STAGE_CHECKSUM = "CRC32"

_ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "403",
        "Forbidden",
    }
)
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
MISSING_CODES = _MISSING_CODES
#: a conditional request (``If-None-Match: *`` / ``If-Match``) that lost to another writer
CONFLICT_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


def error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ``ClientError`` ("" for anything else)."""
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


# --------------------------------------------------------------------------- settings
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.I)
_UNITS = {"": 1, "k": 1024, "m": MB, "g": 1024 * MB, "t": 1024 * 1024 * MB}


def _size(value: Any, *, key: str, store: str) -> int:
    """Bytes from ``67108864``, ``"64MB"``, ``"64 MiB"`` or ``"5m"`` (binary units, as boto3 uses)."""
    if isinstance(value, bool):
        value = None
    elif isinstance(value, int | float) and value > 0:
        return int(value)
    match = _SIZE_RE.match(str(value)) if isinstance(value, str) else None
    if match is None or float(match.group(1)) <= 0:
        raise DaoError(
            f"store {store!r}: {key}={value!r} is not a size; use bytes (67108864) or a string such as '64MB'"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _positive_int(value: Any, *, key: str, store: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or number < 1:
        raise DaoError(f"store {store!r}: {key}={value!r} must be a positive integer")
    return number


@dataclass(frozen=True)
class _Transfer:
    threshold: int
    chunksize: int
    concurrency: int


def _transfer_settings(store: DataStore) -> _Transfer:
    cfg = store.configs
    threshold = DEFAULT_MULTIPART_THRESHOLD
    if cfg.get("multipart_threshold") is not None:
        threshold = _size(cfg["multipart_threshold"], key="multipart_threshold", store=store.name)
    concurrency = DEFAULT_MAX_CONCURRENCY
    if cfg.get("max_concurrency") is not None:
        concurrency = _positive_int(cfg["max_concurrency"], key="max_concurrency", store=store.name)
    # Parts of 5-16 MB keep memory bounded (concurrency x part size) while staying above S3's minimum;
    # s3transfer enlarges them by itself when an object would need more than 10,000 parts.
    chunksize = max(MIN_PART_SIZE, min(threshold, 16 * MB))
    return _Transfer(threshold=threshold, chunksize=chunksize, concurrency=concurrency)


def _client_settings(store: DataStore) -> tuple[tuple[str, Any], ...]:
    """The store's validated S3 settings as sorted items (see :class:`S3Settings`)."""
    return tuple(sorted(vars(S3Settings.from_store(store)).items()))


def _cached_client(settings: tuple[tuple[str, Any], ...], pid: int) -> Any:
    """The boto3 client of ``settings`` (items of :class:`S3Settings`) in process ``pid``."""
    return _boto3_client(S3Settings(**dict(settings)), pid)


_cached_client.cache_clear = _boto3_client.cache_clear  # type: ignore[attr-defined]


def client_for(store: DataStore) -> Any:
    """The boto3 S3 client for ``store`` in this process (created on first use)."""
    return S3Settings.from_store(store).boto3_client()


def _secrets(store: DataStore) -> list[str]:
    return [
        str(store.configs[k]) for k in ("access_key", "secret_key", "session_token") if store.configs.get(k)
    ]


def scrub(store: DataStore, message: str) -> str:
    """``message`` with the store's secrets replaced by ``***``."""
    for secret in _secrets(store):
        message = message.replace(secret, "***")
    return message


# --------------------------------------------------------------------------- errors
def s3_error(store: DataStore, where: str, bucket: str, key: str, exc: BaseException) -> DaoError:
    """One clear error for a failed S3 call (``where``: "writing 'silver.users' (store ...)")."""
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    where = f"{where}, bucket {bucket!r}, key {key!r}"
    endpoint = store.configs.get("endpoint_url") or "AWS S3"
    attempts = dict(_client_settings(store))["max_attempts"]
    # boto3/s3transfer wrap the real error (S3UploadFailedError, RetriesExceededError): find it.
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ClientError | ConnectionError | HTTPClientError):
        cause = getattr(cause, "last_exception", None) or cause.__cause__ or cause.__context__
    if cause is not None:
        exc = cause
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        if code == "NoSuchBucket":
            error: DaoError = DaoError(
                f"{where} failed: bucket {bucket!r} does not exist at {endpoint}; create it or "
                "fix 'bucket' in the store's configs"
            )
        elif code in _MISSING_CODES:
            error = ObjectNotFound(f"{where}: no such object at s3://{bucket}/{key}")
        elif code in _ACCESS_CODES:
            error = DaoError(
                f"{where} failed: access denied ({code}); check the store's credentials "
                "(access_key/secret_key, session_token or profile, else the default AWS chain) "
                f"and their permissions on bucket {bucket!r}"
            )
        else:
            error = DaoError(f"{where} failed: S3 error {code}: {err.get('Message') or exc}")
    elif isinstance(exc, ConnectionError | HTTPClientError):
        error = DaoError(
            f"{where} failed: cannot reach the S3 endpoint {endpoint} after {attempts} attempts "
            f"({type(exc).__name__}: {exc})"
        )
    elif isinstance(exc, NoCredentialsError | PartialCredentialsError):
        error = DaoError(
            f"{where} failed: no usable AWS credentials; set access_key/secret_key or profile in the "
            "store's configs, or configure the default AWS chain (env vars, ~/.aws, instance role)"
        )
    elif isinstance(exc, ProfileNotFound):
        error = DaoError(f"{where} failed: AWS profile {store.configs.get('profile')!r} not found")
    else:
        error = DaoError(f"{where} failed: {type(exc).__name__}: {exc}")
    error.args = (scrub(store, str(error)),)
    return error


def _boto_errors() -> tuple[type[BaseException], ...]:
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError, Boto3Error)


# --------------------------------------------------------------------------- multipart staging
@dataclass(frozen=True)
class PendingUpload:
    """An uncompleted multipart upload of one staged file: what the commit needs to complete it.

    ``parts``: per part, ``(part number, ETag, CRC32 checksum)`` as S3 returned them.
    """

    upload_id: str
    parts: tuple[tuple[int, str, str], ...]


class _PartWriter(io.RawIOBase):
    """A write-only file object streaming into one multipart upload (pyarrow wraps it).

    Parts are uploaded on the staging's thread pool while the caller goes on encoding; at most
    ``slots`` parts are in flight per staging, which bounds memory to ``slots x part size``.
    """

    def __init__(self, staging: MultipartStaging, bucket: str, key: str, upload_id: str) -> None:
        super().__init__()
        self.staging, self.bucket, self.key, self.upload_id = staging, bucket, key, upload_id
        self.buffer = bytearray()
        self.position = 0
        self.futures: list[Future[tuple[int, str, str]]] = []
        self.result: PendingUpload | None = None

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def write(self, data: Any) -> int:
        n = len(data)
        self.buffer += data
        self.position += n
        size = self._part_size()
        while len(self.buffer) >= size:
            self._send(bytes(self.buffer[:size]))
            del self.buffer[:size]
            size = self._part_size()
        return n

    def _part_size(self) -> int:
        part = self.staging.part_size
        return part * 8 if len(self.futures) >= _PART_GROWTH_AFTER else part

    def _send(self, body: bytes) -> None:
        for fut in self.futures:  # a part that failed (after retries) stops the task now, not at close
            if fut.done() and fut.exception() is not None:
                raise fut.exception()  # type: ignore[misc]
        number = len(self.futures) + 1
        self.staging.slots.acquire()
        try:
            fut = self.staging.pool.submit(self.staging.upload_part, self.bucket, self.key, self.upload_id,
                                           number, body)
        except BaseException:
            self.staging.slots.release()
            raise
        fut.add_done_callback(lambda _f: self.staging.slots.release())
        self.futures.append(fut)

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self.buffer or not self.futures:  # the last part may be small; an empty file is one empty part
                self._send(bytes(self.buffer))
                self.buffer = bytearray()
            parts = tuple(f.result() for f in self.futures)
            self.result = PendingUpload(self.upload_id, parts)
        finally:
            super().close()


class MultipartStaging:
    """Stage files as uncompleted multipart uploads at their final keys (one per ``stage`` call).

    ``filesystem()`` is a pyarrow filesystem whose ``open_output_stream(path)`` starts such an
    upload, so pyarrow's writers (parquet, csv, the dataset writer) stream into it unchanged.
    ``pending()`` maps each written path to its :class:`PendingUpload`; ``abort()`` aborts them all.

    >>> staging = MultipartStaging(catalog.store("silver"), what="writing 'silver.events'")  # doctest: +SKIP
    """

    def __init__(self, store: DataStore, *, what: str, part_size: int = STAGE_PART_SIZE) -> None:
        self.store, self.what = store, what
        self.client = client_for(store)
        self.part_size = max(MIN_PART_SIZE, part_size)
        concurrency = _transfer_settings(store).concurrency
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="spark_dao_stage")
        self.slots = threading.BoundedSemaphore(concurrency + 2)
        self.writers: dict[str, _PartWriter] = {}
        self._lock = threading.Lock()

    # -------------------------------------------------------------- S3 calls (wrapped once)
    def _call(self, action: str, bucket: str, key: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except _boto_errors() as exc:
            raise s3_error(self.store, f"{action} {self.what} (store {self.store.name!r})", bucket, key,
                           exc) from exc

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, body: bytes) -> tuple[int, str, str]:
        r = self._call("staging", bucket, key, self.client.upload_part, Bucket=bucket, Key=key,
                       UploadId=upload_id, PartNumber=number, Body=body, ChecksumAlgorithm=STAGE_CHECKSUM)
        return number, r["ETag"], r.get("Checksum" + STAGE_CHECKSUM, "")

    def open(self, path: str) -> Any:
        import pyarrow as pa

        bucket, key = split_location(path)
        r = self._call("staging", bucket, key, self.client.create_multipart_upload, Bucket=bucket, Key=key,
                       ChecksumAlgorithm=STAGE_CHECKSUM)
        writer = _PartWriter(self, bucket, key, r["UploadId"])
        with self._lock:
            self.writers[path] = writer
        return pa.PythonFile(writer, mode="w")

    # -------------------------------------------------------------- results
    def filesystem(self) -> Any:
        import pyarrow.fs as pafs

        return pafs.PyFileSystem(_handler_class()(self))

    def pending(self, path: str) -> PendingUpload:
        writer = self.writers[path]
        if writer.result is None:
            raise DaoError(f"{self.what}: the staged file {path} was not closed")
        return writer.result

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def abort_quietly(self) -> None:
        """Abort every upload this staging started (a failed task), logging what cannot be aborted
        (the driver's abort lists and aborts the job's uploads again)."""
        for writer in list(self.writers.values()):
            for fut in writer.futures:
                fut.cancel()
        self.pool.shutdown(wait=True)
        for writer in list(self.writers.values()):
            try:
                abort_upload(self.client, writer.bucket, writer.key, writer.upload_id)
            except Exception as exc:  # noqa: BLE001 - the task's own error is the one to report
                log.warning("could not abort the staged upload of s3://%s/%s: %s", writer.bucket, writer.key,
                            scrub(self.store, str(exc)))


@lru_cache(maxsize=1)
def _handler_class() -> type:
    import pyarrow.fs as pafs

    def unsupported(self: Any, *args: Any) -> Any:
        raise OSError("spark_dao multipart staging only writes new files; this operation is not supported")

    class Handler(pafs.FileSystemHandler):
        """Just enough of a filesystem for pyarrow's writers: output streams and no-op folders."""

        def __init__(self, staging: MultipartStaging) -> None:
            self.staging = staging

        def get_type_name(self) -> str:
            return "dao-s3-multipart"

        def normalize_path(self, path: str) -> str:
            return path

        def open_output_stream(self, path: str, metadata: Any) -> Any:
            return self.staging.open(path)

        def create_dir(self, path: str, recursive: bool) -> None:
            pass  # object stores have no folders

        def get_file_info(self, paths: list[str]) -> list[Any]:
            return [pafs.FileInfo(p, pafs.FileType.NotFound) for p in paths]

        def get_file_info_selector(self, selector: Any) -> list[Any]:
            return []

        copy_file = delete_dir = delete_dir_contents = delete_file = delete_root_dir_contents = unsupported
        move = open_append_stream = open_input_file = open_input_stream = unsupported

    return Handler


# --------------------------------------------------------------------------- commit-side calls
def complete_upload(store: DataStore, path: str, pending: PendingUpload, *, what: str) -> None:
    """Make a staged file visible: S3 assembles its parts in place (atomic for readers, no copy).

    ``path``: ``bucket/key`` as pyarrow names it, or ``s3://bucket/key``.
    """
    bucket, key = split_location(path)
    parts = [
        {"PartNumber": n, "ETag": etag, **({"Checksum" + STAGE_CHECKSUM: crc} if crc else {})}
        for n, etag, crc in pending.parts
    ]
    try:
        client_for(store).complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=pending.upload_id, MultipartUpload={"Parts": parts}
        )
    except _boto_errors() as exc:
        raise s3_error(store, f"committing {what} (store {store.name!r})", bucket, key, exc) from exc


def abort_upload(client: Any, bucket: str, key: str, upload_id: str) -> bool:
    """Abort one upload; False when S3 no longer knows it (completed or aborted already)."""
    from botocore.exceptions import ClientError

    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchUpload", "404", "NotFound"):
            return False
        raise


def pending_uploads(client: Any, bucket: str, prefix: str) -> list[tuple[str, str]]:
    """``(key, upload id)`` of the uncompleted multipart uploads under ``prefix``."""
    return [(k, u) for k, u, _ in pending_uploads_dated(client, bucket, prefix)]


def pending_uploads_dated(client: Any, bucket: str, prefix: str) -> list[tuple[str, str, float]]:
    """``(key, upload id, initiated as epoch seconds)`` of the uncompleted uploads under ``prefix``."""
    out: list[tuple[str, str, float]] = []
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        out.extend((u["Key"], u["UploadId"], _epoch(u.get("Initiated"))) for u in page.get("Uploads", []))
    return out


def _epoch(value: Any) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else 0.0


def list_uploads(store: DataStore, location: str, *, what: str) -> list[tuple[str, str, float]]:
    """``("bucket/key", upload id, initiated)`` of the uncompleted uploads under the folder ``location``."""
    bucket, key = split_location(location)
    prefix = f"{key}/" if key else ""
    try:
        return [(f"{bucket}/{k}", u, t) for k, u, t in pending_uploads_dated(client_for(store), bucket, prefix)]
    except _boto_errors() as exc:
        raise s3_error(store, f"listing the staged uploads of {what} (store {store.name!r})", bucket, prefix,
                       exc) from exc


def abort_uploads(store: DataStore, uploads: list[tuple[str, str]], *, what: str) -> int:
    """Abort ``("bucket/key", upload id)`` uploads, 16 at a time; returns how many S3 still knew."""
    if not uploads:
        return 0
    client = client_for(store)

    def one(item: tuple[str, str]) -> bool:
        bucket, key = split_location(item[0])
        try:
            return abort_upload(client, bucket, key, item[1])
        except _boto_errors() as exc:
            raise s3_error(store, f"aborting a staged upload of {what} (store {store.name!r})", bucket, key,
                           exc) from exc

    with ThreadPoolExecutor(max_workers=min(16, len(uploads)), thread_name_prefix="spark_dao_abort") as pool:
        return sum(pool.map(one, uploads))


def list_keys(store: DataStore, location: str, *, what: str) -> list[tuple[str, float]]:
    """``("bucket/key", last modified)`` of every object under the folder ``location`` (folder
    markers included), with ``ListObjectsV2``."""
    bucket, key = split_location(location)
    prefix = f"{key}/" if key else ""
    out: list[tuple[str, float]] = []
    try:
        for page in client_for(store).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out.extend((f"{bucket}/{o['Key']}", _epoch(o.get("LastModified"))) for o in page.get("Contents", []))
    except _boto_errors() as exc:
        raise s3_error(store, f"listing the staging of {what} (store {store.name!r})", bucket, prefix,
                       exc) from exc
    return out


def put_marker(store: DataStore, path: str, body: bytes, *, what: str) -> None:
    """Write a small object (``PutObject``: no folder markers, unlike pyarrow)."""
    bucket, key = split_location(path)
    try:
        client_for(store).put_object(Bucket=bucket, Key=key, Body=body)
    except _boto_errors() as exc:
        raise s3_error(store, f"writing {what} (store {store.name!r})", bucket, key, exc) from exc


def key_exists(store: DataStore, path: str, *, what: str) -> bool:
    """True when the object exists (one ``HeadObject``)."""
    bucket, key = split_location(path)
    try:
        client_for(store).head_object(Bucket=bucket, Key=key)
        return True
    except _boto_errors() as exc:
        error = s3_error(store, f"checking {what} (store {store.name!r})", bucket, key, exc)
        if isinstance(error, ObjectNotFound):
            return False
        raise error from exc


def abort_job_uploads(store: DataStore, location: str, name_tags: Iterable[str], *, what: str) -> int:
    """Abort the uncompleted uploads under ``location`` whose file name starts with one of ``name_tags``.

    This also catches uploads no commit message names: those of failed or speculative task
    attempts, and of a task whose executor died. Returns how many were aborted.
    """
    tags = tuple(name_tags)
    if not tags:
        return 0
    bucket, key = split_location(location)
    prefix = f"{key}/" if key else ""
    client = client_for(store)
    try:
        doomed = [(k, u) for k, u in pending_uploads(client, bucket, prefix)
                  if posixpath.basename(k).startswith(tags)]
        if not doomed:
            return 0
        with ThreadPoolExecutor(max_workers=min(16, len(doomed)), thread_name_prefix="spark_dao_abort") as pool:
            return sum(pool.map(lambda item: abort_upload(client, bucket, *item), doomed))
    except _boto_errors() as exc:
        raise s3_error(store, f"aborting the staged uploads of {what} (store {store.name!r})", bucket,
                       prefix, exc) from exc


#: keys per DeleteObjects request (S3's maximum)
DELETE_BATCH = 1000


def delete_keys(client: Any, bucket: str, keys: list[str], *, guard: Callable[[str], Any],
                batch: int = 0) -> list[dict[str, Any]]:
    """Delete ``keys`` of ``bucket`` with DeleteObjects requests of ``batch`` keys (default
    :data:`DELETE_BATCH`), each call inside ``guard(first key)`` (the caller's error translation).

    Returns the per-key errors S3 reported for the first batch that had any (later batches are not
    sent), or ``[]``. Unlike deleting through pyarrow, this leaves no "folder marker" objects behind.
    """
    size = batch or DELETE_BATCH
    for i in range(0, len(keys), size):
        chunk = keys[i : i + size]
        with guard(chunk[0]):
            r = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
        errors = r.get("Errors") or []
        if errors:
            return list(errors)
    return []


def delete_paths(store: DataStore, paths: list[str], *, what: str) -> None:
    """Delete objects (``bucket/key`` paths) with batched DeleteObjects requests (:func:`delete_keys`)."""
    by_bucket: dict[str, list[str]] = {}
    for path in paths:
        bucket, _, key = (path.partition("://")[2] if "://" in path else path).partition("/")
        by_bucket.setdefault(bucket, []).append(key.lstrip("/"))  # a folder marker keeps its "/"
    client = client_for(store)
    for bucket, keys in by_bucket.items():

        @contextmanager
        def guard(key: str, bucket: str = bucket) -> Iterator[None]:
            try:
                yield
            except _boto_errors() as exc:
                raise s3_error(store, f"deleting files of {what} (store {store.name!r})", bucket, key,
                               exc) from exc

        errors = delete_keys(client, bucket, keys, guard=guard)
        if errors:
            first = errors[0]
            raise DaoError(scrub(store, (
                f"deleting files of {what} (store {store.name!r}), bucket {bucket!r}: {len(errors)} "
                f"object(s) not deleted, e.g. key {first.get('Key')!r}: {first.get('Code')} "
                f"{first.get('Message', '')}")))
