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


def test_persistent_drops_become_a_clear_error(s3_server, s3_bucket, s3_client):
    p = DroppingProxy(s3_server, drops=10_000)
    try:
        dao = DataAccessObject(catalog(p.url, s3_bucket, max_attempts=2, connect_timeout=1, request_timeout=5))
        with pytest.raises(DaoError) as err:
            dao.write(TABLE, "silver.t", mode="overwrite")
    finally:
        p.close()
    msg = str(err.value)
    assert "silver.t" in msg and "'silver'" in msg and s3_bucket in msg
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0


def test_bad_credentials_are_a_clear_error_and_write_nothing(s3_server, s3_bucket, s3_client, s3_auth_enforced):
    dao = DataAccessObject(catalog(s3_server, s3_bucket, access_key="AKIAWRONG", secret_key="wrong-secret-123"))
    with pytest.raises(DaoError) as err:
        dao.write(TABLE, "silver.t", mode="overwrite")
    msg = str(err.value)
    assert "silver.t" in msg and "wrong-secret-123" not in msg


def test_path_escaping_the_store_is_refused(s3_server, s3_bucket, s3_client):
    dao = DataAccessObject(catalog(s3_server, s3_bucket, prefix="datasets"))
    with pytest.raises(DaoError, match="escapes its store"):
        dao.write(TABLE, "silver.t", mode="overwrite", path=f"s3://{s3_bucket}/elsewhere")
    with pytest.raises(DaoError, match="escapes its store"):
        dao.write(TABLE, "silver.t", mode="overwrite", path="s3://other-bucket/datasets/t")
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0
