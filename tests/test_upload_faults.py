"""A raw upload whose source stream fails mid-read leaves nothing behind: no hidden ``.dao-tmp-*``
file, no empty folder, no uncompleted S3 multipart upload (issue 7, finding 9)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from _helpers import tree

from spark_dao import DaoError, DataAccessObject

MB = 1024 * 1024


class SourceBroke(Exception):
    """The caller's own error, raised by the stream being uploaded."""


class FailingStream(io.RawIOBase):
    """A binary stream that serves ``fail_after`` bytes, then raises ``exc`` from ``read``."""

    def __init__(self, fail_after: int, exc: BaseException, *, seekable: bool, size: int) -> None:
        self.fail_after, self.exc, self._seekable, self.size, self.pos = fail_after, exc, seekable, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._seekable

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if not self._seekable:
            raise io.UnsupportedOperation("seek")
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if n == 0:
            return b""
        if self.pos >= self.fail_after:
            raise self.exc
        if n is None or n < 0:  # read everything: it fails on the way
            self.pos = self.fail_after
            raise self.exc
        n = min(n, self.fail_after - self.pos, self.size - self.pos)
        self.pos += n
        return b"x" * n

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)




EXCEPTIONS = [SourceBroke("the source went away"), KeyboardInterrupt()]


@pytest.mark.parametrize("exc", EXCEPTIONS, ids=["custom", "ctrl-c"])
@pytest.mark.parametrize("seekable", [True, False], ids=["sized", "unsized"])
def test_local_upload_failing_mid_read_leaves_nothing(tmp_path: Path, exc: BaseException, seekable: bool) -> None:
    dao = DataAccessObject({"stores": {"bronze": {"interface": "objects", "path": str(tmp_path / "bronze")}},
                            "objects": {"bronze.raw": {}}})
    dao.upload(b"kept", "bronze.raw", path="old/kept.csv")
    before = tree(tmp_path / "bronze")
    stream = FailingStream(3 * MB, exc, seekable=seekable, size=5 * MB)
    if isinstance(exc, KeyboardInterrupt):
        with pytest.raises(KeyboardInterrupt):
            dao.upload(stream, "bronze.raw", path="2025-01-07/deep/users.csv")
    else:
        with pytest.raises(DaoError) as err:
            dao.upload(stream, "bronze.raw", path="2025-01-07/deep/users.csv")
        msg = str(err.value)
        assert "writing object 'bronze.raw' (store 'bronze'" in msg and "2025-01-07/deep/users.csv" in msg
        assert "SourceBroke: the source went away" in msg
        assert err.value.__cause__ is exc
    assert stream.pos == 3 * MB  # it did fail mid-read
    assert tree(tmp_path / "bronze") == before  # no .dao-tmp-* file, no empty folder


@pytest.mark.parametrize("exc", EXCEPTIONS, ids=["custom", "ctrl-c"])
@pytest.mark.parametrize(("seekable", "fail_after", "size"), [
    (True, 1 * MB, 2 * MB),  # below the multipart threshold: one PUT, the read fails first
    (True, 7 * MB, 12 * MB),  # multipart, known size
    (False, 7 * MB, 12 * MB),  # multipart, unknown size
], ids=["small", "multipart", "multipart-unsized"])
def test_s3_upload_failing_mid_read_leaves_no_object_and_no_multipart_upload(
    s3_server: str, s3_bucket: str, s3_client: Any, exc: BaseException, seekable: bool, fail_after: int, size: int
) -> None:
    dao = DataAccessObject({
        "stores": {"bronze": {"interface": "objects", "bucket": s3_bucket, "endpoint_url": s3_server,
                              "region": "us-east-1", "multipart_threshold": "5MB"}},
        "objects": {"bronze.raw": {}},
    })
    stream = FailingStream(fail_after, exc, seekable=seekable, size=size)
    if isinstance(exc, KeyboardInterrupt):
        with pytest.raises(KeyboardInterrupt):
            dao.upload(stream, "bronze.raw", path="2025-01-07/users.csv")
    else:
        with pytest.raises(DaoError) as err:
            dao.upload(stream, "bronze.raw", path="2025-01-07/users.csv")
        msg = str(err.value)
        assert "object 'bronze.raw' (store 'bronze'" in msg and "raw/2025-01-07/users.csv" in msg, msg
        assert "the source went away" in msg
    assert stream.pos >= fail_after - 5 * MB  # it got as far as the failure point (minus one part in flight)
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", []) == []
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []

