"""Masking of credentials in log records of the libraries spark_dao drives.

botocore logs, at DEBUG, every request it sends: the ``Authorization`` header (access key id and
signature), ``X-Amz-Security-Token`` (the session token, a bearer credential) and the canonical
request it signs; an STS or SSO response body (``botocore.parsers``) holds a secret key and a
token. spark_dao never logs a secret itself, but a user who turns on DEBUG to debug a job would
find the store's credentials in their log files.

:func:`protect` (called whenever spark_dao builds an S3 client) registers a store's secrets and
installs, once per process, a wrapper around the log record factory: every record created by a
logger of :data:`LOGGERS` (and their children, e.g. ``botocore.endpoint``) has its message
rendered and masked before any filter or handler sees it, so handlers added later are covered
too. A wrapper is needed because a filter on the ``botocore`` logger does not see the records of
``botocore.endpoint`` (filters of ancestors are skipped when a record propagates). Nothing else is
changed: no levels, no handlers, no other logger's records.

Records of other loggers (moto's server, werkzeug, the JVM's log4j, a user's own loggers) are out
of scope; attach :class:`RedactingFilter` to a handler to mask those too::

    handler.addFilter(spark_dao.RedactingFilter())
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["LOGGERS", "RedactingFilter", "protect", "redact"]

#: logger families whose records are masked (each name and its children)
LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "spark_dao", "redshift_connector")
MASK = "***"
#: shorter values are not masked literally (they would mask ordinary words); the patterns still apply
MIN_SECRET_LENGTH = 6

_HEADER_VALUE = r"""(?:\s*['"]?\s*[:=]\s*b?['"]?)"""
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values (SigV4: Credential=<key id>/..., Signature=...; Basic/Bearer too)
    (re.compile(r"(authorization" + _HEADER_VALUE + r")([^'\"\r\n]+)", re.I), r"\1" + MASK),
    # the same headers as (name, value) pairs
    (re.compile(r"""(['"](?:authorization|x-amz-security-token)['"]\s*,\s*b?['"])([^'"]*)""", re.I),
     r"\1" + MASK),
    # session tokens in headers, canonical requests, presigned URLs and form bodies
    (re.compile(r"(x-amz-security-token" + _HEADER_VALUE + r")([^'\"\s&,;}]+)", re.I), r"\1" + MASK),
    # presigned URL / query-string auth
    (re.compile(r"((?:x-amz-)?(?:credential|signature)=)([^'\"\s&,;]+)", re.I), r"\1" + MASK),
    (re.compile(r"(AWSAccessKeyId=)([^'\"\s&,;]+)", re.I), r"\1" + MASK),
    # STS / SSO / credential-process responses (XML and JSON) and config-like key=value text
    (re.compile(r"(<(SecretAccessKey|SessionToken|Token|AccessKeyId)>)[^<]*(</\2>)", re.I), r"\1" + MASK + r"\3"),
    (re.compile(r"""(['"](?:AccessKeyId|SecretAccessKey|SessionToken|secret_?key|session_?token|aws_secret_access_key|"""
                r"""aws_session_token|password|Token)['"]\s*:\s*b?['"])([^'"]*)""", re.I), r"\1" + MASK),
    (re.compile(r"((?:aws_secret_access_key|aws_session_token|secret_?key|session_?token|password)\s*=\s*['\"]?)"
                r"([^\s'\",;&]+)", re.I), r"\1" + MASK),
)

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()
_installed = False


def redact(text: str) -> str:
    """``text`` with every registered secret and every credential-shaped value replaced by ``***``.

    >>> redact("Authorization: AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/s3/aws4_request")
    'Authorization: ***'
    """
    for secret in _secrets:  # longest first, so a secret containing another is masked whole
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record: leave it to logging's own error handling
        return
    masked = redact(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        # Pre-render the traceback (formatters reuse exc_text): exception messages quote requests too.
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = redact(text)
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """A filter that masks secrets in every record it sees; it never drops a record.

    spark_dao masks the records of its own loggers and of botocore, boto3, s3transfer, urllib3 and
    redshift_connector by itself. Attach this to a handler to extend that to every record the
    handler writes (moto, werkzeug, your own loggers)::

        logging.getLogger().handlers[0].addFilter(RedactingFilter())
    """

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def _in_scope(name: str) -> bool:
    return name.partition(".")[0] in LOGGERS


def _install() -> None:
    global _installed
    current = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        # Records exist only for enabled levels, so this costs nothing while DEBUG is off.
        if _in_scope(record.name):
            _redact_record(record)
        return record

    factory._spark_dao_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
    _installed = True


def protect(secrets: Iterable[Any] = ()) -> None:
    """Register secrets to mask (a store's access key id, secret key, session token, password) and
    make sure the masking is installed. Idempotent and thread-safe.

    >>> protect(["AKIAEXAMPLE", "wJalrXUtnFEMI/K7MDENG"])
    >>> redact("key AKIAEXAMPLE")
    'key ***'
    """
    global _secrets
    new = {str(s) for s in secrets if s is not None and len(str(s)) >= MIN_SECRET_LENGTH}
    with _lock:
        if new - set(_secrets):
            _secrets = tuple(sorted(set(_secrets) | new, key=len, reverse=True))
        # Install once; again only if the factory was reset to logging's default since (a factory
        # set on top of ours by someone else chains to ours: wrapping again would stack wrappers).
        if not _installed or logging.getLogRecordFactory() is logging.LogRecord:
            _install()
