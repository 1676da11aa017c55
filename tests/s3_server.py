"""pytest plugin: a real S3 endpoint (moto's threaded HTTP server) on a free loopback port.

Enable it from the root conftest with ``pytest_plugins = ["s3_server"]``, or import the fixtures
into a test module (``from s3_server import s3_bucket, s3_server``).

* ``s3_server`` (session): starts ``moto.server.ThreadedMotoServer`` on ``127.0.0.1`` with port 0,
  sets fake AWS credentials and a region in ``os.environ`` for the whole session (restored after),
  and yields the endpoint URL, e.g. ``"http://127.0.0.1:41234"``.
* ``s3_bucket`` (function): a fresh, uniquely named, empty bucket on that server.
* ``s3_client``: a boto3 client for the server, to arrange and inspect buckets directly.
* ``s3_auth_enforced``: while the test runs, the server checks credentials (unknown access keys get
  ``InvalidAccessKeyId``); by default moto accepts any.
"""

from __future__ import annotations

import logging
import os
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

#: fake credentials moto accepts; set for the session so no real AWS account is ever used.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # never read the developer's ~/.aws files
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_UNSET_AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


def _atomic_conditional_puts() -> None:
    """Make moto's PutObject atomic, as S3's is. moto checks ``If-None-Match: *`` and then stores the
    object without a lock, so two concurrent conditional PUTs of one key on its threaded server can
    both succeed; S3 lets exactly one win. Delta commits (deltalake's and ours) and the write lock
    rely on that: without this, a Delta append in test_delta_s3's concurrent test was lost once
    under load (two commits of the same version both "succeeded")."""
    import threading

    from moto.s3.responses import S3Response

    if getattr(S3Response.put_object, "_dao_atomic", False):
        return
    original = S3Response.put_object
    lock = threading.Lock()

    def put_object(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        with lock:
            return original(self, *args, **kwargs)

    put_object._dao_atomic = True  # type: ignore[attr-defined]
    S3Response.put_object = put_object  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The endpoint URL of a moto S3 server running for the whole test session."""
    import moto.server as server_mod
    saved = {key: os.environ.get(key) for key in (*FAKE_AWS_ENV, *_UNSET_AWS_ENV)}
    os.environ.update(FAKE_AWS_ENV)
    for key in _UNSET_AWS_ENV:
        os.environ.pop(key, None)
    # werkzeug logs every request to stderr otherwise
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _atomic_conditional_puts()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def s3_client(s3_server: str) -> Any:
    """A boto3 S3 client talking to the session's moto server."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    """A new, empty bucket (unique name, 3+ characters) on the session's moto server."""
    name = f"dao-test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


def _set_auth(endpoint: str, no_auth_requests: str) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=no_auth_requests.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},  # a form body would be parsed away by the server
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@pytest.fixture
def s3_auth_enforced(s3_server: str) -> Iterator[None]:
    """Make the server validate credentials for the duration of one test (moto's reset-auth API).

    Request it after ``s3_bucket`` (fixtures start in argument order): with checks on, the fake
    credentials cannot create buckets either.
    """
    _set_auth(s3_server, "0")
    try:
        yield
    finally:
        _set_auth(s3_server, "inf")
