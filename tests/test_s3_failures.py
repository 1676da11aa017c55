"""S3 failure handling of the files interface: flaky connections are retried, hard failures are
clear errors naming object, store and location — and nothing is written."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest

from spark_dao import DaoError, DataAccessObject


class DroppingProxy:
    """A TCP proxy on loopback that drops the first ``drops`` connections, then forwards."""

    def __init__(self, target: str, drops: int) -> None:
        host, port = target.split("://", 1)[1].split(":")
        self.target = (host, int(port))
        self.drops = drops
        self.dropped = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if self.dropped < self.drops:
                self.dropped += 1
                client.close()  # the connection drops before any response
                continue
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture
def proxy(s3_server) -> Iterator[DroppingProxy]:
    p = DroppingProxy(s3_server, drops=2)
    yield p
    p.close()


def catalog(endpoint: str, bucket: str, **extra) -> dict:
    store = {"interface": "files", "bucket": bucket, "endpoint_url": endpoint, "region": "us-east-1",
             "access_key": "testing", "secret_key": "testing", **extra}
    return {"stores": {"silver": store}}


TABLE = pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]})


def test_dropped_connections_are_retried(proxy, s3_bucket):
    dao = DataAccessObject(catalog(proxy.url, s3_bucket))
    dao.write(TABLE, "silver.t", mode="overwrite")
    assert proxy.dropped == 2  # the first two connections were cut, the SDK retried
    assert sorted(dao.read("silver.t", engine="arrow")["id"].to_pylist()) == [1, 2, 3]


@pytest.mark.parametrize("attempts", [1, 3])
def test_persistent_drops_become_a_clear_error_after_max_attempts(s3_server, s3_bucket, s3_client, attempts):
    p = DroppingProxy(s3_server, drops=10_000)
    try:
        dao = DataAccessObject(catalog(p.url, s3_bucket, max_attempts=attempts, connect_timeout=1, request_timeout=5))
        with pytest.raises(DaoError) as err:
            dao.write(TABLE, "silver.t", mode="overwrite")
    finally:
        p.close()
    # the first request (the listing of the target) was tried exactly max_attempts times, then gave up
    assert p.dropped == attempts
    assert type(err.value) is DaoError
    assert str(err.value).startswith(
        f"writing 'silver.t' (store 'silver') at s3://{s3_bucket}/t failed: "
        f"When listing objects under key 't/' in bucket '{s3_bucket}': AWS Error NETWORK_CONNECTION"
    )
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0


def test_bad_credentials_are_a_clear_error_and_write_nothing(s3_server, s3_bucket, s3_client, s3_auth_enforced):
    from s3_server import _set_auth

    good = DataAccessObject(catalog(s3_server, s3_bucket))
    _set_auth(s3_server, "inf")  # seed the object with checks off, then enforce them again
    good.write(TABLE, "silver.t", mode="overwrite")
    before = s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]
    _set_auth(s3_server, "0")
    dao = DataAccessObject(catalog(s3_server, s3_bucket, access_key="AKIAWRONG", secret_key="wrong-secret-123"))
    with pytest.raises(DaoError) as err:
        dao.write(TABLE.slice(0, 1), "silver.t", mode="overwrite")
    msg = str(err.value)
    assert msg.startswith(f"writing 'silver.t' (store 'silver') at s3://{s3_bucket}/t failed: ")
    assert "INVALID_ACCESS_KEY_ID" in msg and "wrong-secret-123" not in msg
    _set_auth(s3_server, "inf")
    after = s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert [(o["Key"], o["ETag"]) for o in after] == [(o["Key"], o["ETag"]) for o in before]
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert sorted(good.read("silver.t", engine="arrow")["id"].to_pylist()) == [1, 2, 3]


def test_path_escaping_the_store_is_refused(s3_server, s3_bucket, s3_client):
    dao = DataAccessObject(catalog(s3_server, s3_bucket, prefix="datasets"))
    with pytest.raises(DaoError, match="escapes its store"):
        dao.write(TABLE, "silver.t", mode="overwrite", path=f"s3://{s3_bucket}/elsewhere")
    with pytest.raises(DaoError, match="escapes its store"):
        dao.write(TABLE, "silver.t", mode="overwrite", path="s3://other-bucket/datasets/t")
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0
