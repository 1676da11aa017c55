"""The raw-objects backend of an S3 bucket prefix, with boto3 (see :mod:`spark_dao.interfaces.objects`).

Uploads are managed transfers (multipart above ``multipart_threshold``), each part sent with a
SHA-256 checksum; the stored size is checked afterwards and a mismatching object removed. Downloads
go to a temporary name renamed when complete. Every botocore error becomes one :class:`DaoError`
naming the object, store, bucket and key (``_s3.s3_error``).
"""

from __future__ import annotations

import io
import logging
import os
import posixpath
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any

from ..catalog.model import DataStore
from ..errors import DaoError, require
from ._objects_backend import _TMP_MARK, ObjectInfo, _Backend, _Progress
from ._s3 import _MISSING_CODES, MB, _transfer_settings, delete_keys, s3_error
from ._s3 import DELETE_BATCH as _S3_DELETE_BATCH
from ._s3settings import S3Settings

log = logging.getLogger("spark_dao.objects")

#: the checksum S3 computes and verifies for every uploaded part
CHECKSUM_ALGORITHM = "SHA256"
#: keys per DeleteObjects request (S3's maximum; see ``_s3.delete_keys``) and per listing page
DELETE_BATCH = _S3_DELETE_BATCH
LIST_PAGE_SIZE = 1000


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
                source = _Reader(stream)
                try:
                    self.client.upload_fileobj(
                        source,
                        self.bucket,
                        key,
                        ExtraArgs=self._extra_upload(),
                        Callback=progress,
                        Config=self._config(),
                    )
                except Exception:
                    if source.interrupted is not None:  # a Ctrl-C that s3transfer's threads swallowed
                        raise source.interrupted from None
                    raise
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



class _SourceInterrupted(Exception):
    """A KeyboardInterrupt/SystemExit raised by the source while s3transfer read it on one of its
    threads, carried as an Exception: s3transfer's threads catch only Exceptions, so the bare
    BaseException would end the thread without failing the transfer, and the upload would wait
    forever."""


class _Reader:
    """The source stream as s3transfer sees it: reads that raise a BaseException are reported."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.interrupted: BaseException | None = None

    def read(self, *args: Any) -> bytes:
        try:
            return self._stream.read(*args)
        except Exception:
            raise
        except BaseException as exc:
            self.interrupted = exc
            raise _SourceInterrupted(f"the source raised {type(exc).__name__}") from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
