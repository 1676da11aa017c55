"""Secrets never reach a log, even with DEBUG on for botocore & co (issue 7, finding 15).

botocore logs every request it sends at DEBUG, with the Authorization header (access key id,
signature) and X-Amz-Security-Token (the session token). spark_dao masks those, and every
registered store secret, in the records of botocore, boto3, s3transfer, urllib3 and spark_dao.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pyarrow as pa
import pytest

from spark_dao import DaoError, DataAccessObject, RedactingFilter, _redact

ACCESS_KEY = "AKIAZZLEAKCANARY7Q2X"
SECRET_KEY = "wJalrLEAKcanary/K7MDENG+bPxRfiCYsecret42"
SESSION_TOKEN = "FwoGZXIvYXdzLEAKcanaryTOKENdGhpcyBpcyBhIHRva2Vu"
SECRETS = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)


#: the in-process moto server logs the requests it receives (moto.iam.access_control quotes their
#: headers): server-side logging, out of spark_dao's scope (docs/backends/s3.md)
OUT_OF_SCOPE = ("moto", "werkzeug")


def _in_scope(record: logging.LogRecord) -> bool:
    return record.name.partition(".")[0] not in OUT_OF_SCOPE


@pytest.fixture
def debug_log(caplog) -> Iterator[tuple[pytest.LogCaptureFixture, io.StringIO]]:
    """DEBUG for every logger, captured by caplog and by a plain handler on the root logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    handler.addFilter(_in_scope)
    root = logging.getLogger()
    root.addHandler(handler)
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog, stream
    finally:
        root.removeHandler(handler)


def _texts(caplog: pytest.LogCaptureFixture, stream: io.StringIO) -> str:
    # caplog.text is what its formatter wrote; also render each record as a user's formatter would
    formatter = logging.Formatter("%(name)s %(message)s")
    rendered = [formatter.format(r) for r in caplog.records if _in_scope(r)]
    return "\n".join([stream.getvalue(), *rendered])


def _assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"secret {secret[:6]}... found in the log"


def _catalog(endpoint: str, bucket: str, **extra) -> dict:
    store = {"interfaces": ["files", "objects"], "bucket": bucket, "prefix": "lake", "endpoint_url": endpoint,
             "region": "us-east-1", "access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
             "session_token": SESSION_TOKEN, "multipart_threshold": "5MB", **extra}
    return {"stores": {"silver": store}, "objects": {"silver.events": {"partition_by": ["country"], "keys": ["id"]}}}


TABLE = pa.table({"id": [1, 2, 3], "country": ["DE", "FR", "DE"], "v": [1.0, 2.0, 3.0]})


def test_debug_logs_of_s3_operations_hold_no_secret(s3_server, s3_bucket, s3_client, debug_log):
    caplog, stream = debug_log
    dao = DataAccessObject(_catalog(s3_server, s3_bucket))
    dao.write(TABLE, "silver.events", mode="overwrite")
    dao.write(TABLE, "silver.events", mode="append")
    dao.write(TABLE.slice(0, 1), "silver.events", mode="dynamic")
    dao.upsert(pa.table({"id": [2, 9], "country": ["FR", "US"], "v": [20.0, 9.0]}), "silver.events")
    assert sorted(dao.read("silver.events", engine="arrow")["id"].to_pylist()) == [1, 2, 9]
    dao.upload(b"a,b\n1,2\n", "silver.raw", path="day1/small.csv")
    dao.upload(b"x" * (6 * 1024 * 1024), "silver.raw", path="day1/big.bin")  # multipart: 2 parts
    assert dao.get_bytes("silver.raw", "day1/small.csv") == b"a,b\n1,2\n"
    assert sorted(i.key for i in dao.list_files("silver.raw")) == ["day1/big.bin", "day1/small.csv"]
    with pytest.raises(DaoError):  # an error path: botocore logs the failed response too
        dao.get_bytes("silver.raw", "day1/missing.csv")
    assert {k["Key"] for k in s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="lake/raw/")["Contents"]} == {
        "lake/raw/day1/small.csv", "lake/raw/day1/big.bin"}

    text = _texts(caplog, stream)
    # not vacuous: botocore did log the signed requests, with their credentials masked
    sent = [r for r in caplog.records if r.name == "botocore.endpoint" and "Sending http request" in r.getMessage()]
    assert len(sent) >= 10
    assert "'Authorization': b'***'" in text and "'X-Amz-Security-Token': b'***'" in text
    assert "x-amz-security-token:***" in text  # botocore.auth's canonical request
    _assert_clean(text)


def test_failing_client_logs_hold_no_secret(s3_server, s3_bucket, debug_log, s3_auth_enforced):
    caplog, stream = debug_log
    # out of scope, but covered by a RedactingFilter on the handler: moto's server-side records
    everything = io.StringIO()
    handler = logging.StreamHandler(everything)
    handler.addFilter(RedactingFilter())
    logging.getLogger().addHandler(handler)
    dao = DataAccessObject(_catalog(s3_server, s3_bucket))
    with pytest.raises(DaoError) as write_err:  # pyarrow's listing is refused
        dao.write(TABLE, "silver.events", mode="overwrite")
    with pytest.raises(DaoError, match="access denied") as upload_err:  # boto3's PUT is refused
        dao.upload(b"a,b\n", "silver.raw", path="x.csv")
    assert any(r.name == "botocore.parsers" and "InvalidAccessKeyId" in r.getMessage() for r in caplog.records)
    logging.getLogger("spark_dao.test").exception("boom", exc_info=upload_err.value)
    logging.getLogger().removeHandler(handler)
    _assert_clean(_texts(caplog, stream) + str(write_err.value) + str(upload_err.value))
    # (the filter masks the record itself, so caplog's copy of moto's record is masked as well)
    assert any(r.name.startswith("moto.iam") for r in caplog.records)
    assert "Creating S3IAMRequest" in everything.getvalue() and "('Authorization', '***')" in everything.getvalue()
    _assert_clean(everything.getvalue())


def test_handlers_added_later_and_on_children_are_covered(s3_server, s3_bucket):
    DataAccessObject(_catalog(s3_server, s3_bucket)).write(TABLE, "silver.events", mode="overwrite")
    # a handler attached after the masking was installed, directly on a child logger, no propagation
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    child = logging.getLogger("botocore.endpoint.chaos_test")
    child.addHandler(handler)
    child.setLevel(logging.DEBUG)
    child.propagate = False
    try:
        child.debug("headers %s", {"Authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/x, Signature=ab12"})
        child.debug("secret in a message: %s %s", SECRET_KEY, SESSION_TOKEN)
        try:
            raise RuntimeError(f"request failed with token {SESSION_TOKEN}")
        except RuntimeError:
            child.exception("failed")
    finally:
        child.removeHandler(handler)
        child.propagate = True
    out = stream.getvalue()
    assert out.count("***") >= 4 and "request failed with token ***" in out
    _assert_clean(out)


def test_other_loggers_are_untouched_unless_a_handler_filter_is_added():
    _redact.protect([SECRET_KEY])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    app = logging.getLogger("myapp.chaos_test")
    app.addHandler(handler)
    app.setLevel(logging.INFO)
    app.propagate = False
    try:
        app.info("user text %s", SECRET_KEY)
        assert SECRET_KEY in stream.getvalue()  # out of scope: the user's own logger
        handler.addFilter(RedactingFilter())
        stream.truncate(0)
        stream.seek(0)
        app.info("user text %s", SECRET_KEY)
        assert stream.getvalue().strip() == "user text ***"
    finally:
        app.removeHandler(handler)
        app.propagate = True


def test_protect_is_idempotent():
    _redact.protect(["first-secret-value"])
    factory = logging.getLogRecordFactory()
    for _ in range(3):
        _redact.protect(["first-secret-value", "second-secret-value"])
    assert logging.getLogRecordFactory() is factory
    assert _redact.redact("a first-secret-value b second-secret-value") == "a *** b ***"
    _redact.protect(["abc"])  # too short to mask literally (would mask ordinary words)
    assert _redact.redact("abc") == "abc"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: AWS4-HMAC-SHA256 Credential=AKIAX/20260101/us-east-1/s3/aws4_request, "
         "SignedHeaders=host, Signature=0a1b", "Authorization: ***"),
        ("{'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIAX/2026', 'X-Amz-Date': b'2026'}",
         "{'Authorization': b'***', 'X-Amz-Date': b'2026'}"),
        ("x-amz-security-token:FwoGZXIvYXdz\nx-amz-date:2026", "x-amz-security-token:***\nx-amz-date:2026"),
        ("https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAX%2F2026"
         "&X-Amz-Security-Token=FwoG%2Bx&X-Amz-Signature=deadbeef",
         "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=***"
         "&X-Amz-Security-Token=***&X-Amz-Signature=***"),
        ("https://b.s3.amazonaws.com/k?AWSAccessKeyId=AKIAX&Signature=abc%3D&Expires=1",
         "https://b.s3.amazonaws.com/k?AWSAccessKeyId=***&Signature=***&Expires=1"),
        ("<Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>s3cr/t</SecretAccessKey>"
         "<SessionToken>tok</SessionToken></Credentials>",
         "<Credentials><AccessKeyId>***</AccessKeyId><SecretAccessKey>***</SecretAccessKey>"
         "<SessionToken>***</SessionToken></Credentials>"),
        ('{"roleCredentials": {"accessKeyId": "ASIAX", "secretAccessKey": "s3cr", "sessionToken": "t"}}',
         '{"roleCredentials": {"accessKeyId": "***", "secretAccessKey": "***", "sessionToken": "***"}}'),
        ("aws_secret_access_key = s3cr/t\naws_session_token=tok", "aws_secret_access_key = ***\naws_session_token=***"),
        ("connect(host='h', password='pw1', user='u')", "connect(host='h', password='***', user='u')"),
        ("GET /bucket/key HTTP/1.1 200 1234", "GET /bucket/key HTTP/1.1 200 1234"),
    ],
)
def test_redact_patterns(text, expected):
    assert _redact.redact(text) == expected


def test_a_password_inside_an_endpoint_url_is_masked_in_reprs() -> None:
    from spark_dao.catalog import Catalog

    catalog = Catalog.load({"stores": {"s": {"interface": "files", "bucket": "b",
                                             "endpoint_url": "http://minio:UrlPassw0rd@127.0.0.1:9000"}}})
    store = catalog.stores["s"]
    shown = [repr(store), str(store.configs), repr(catalog.get("s.t")), repr(catalog)]
    assert all("UrlPassw0rd" not in text for text in shown), shown
    assert "http://minio:***@127.0.0.1:9000" in repr(store)
    assert store.configs["endpoint_url"] == "http://minio:UrlPassw0rd@127.0.0.1:9000"  # the value itself is kept
