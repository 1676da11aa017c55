"""A fault-injecting HTTP proxy in front of an S3 endpoint (moto's server), on loopback.

Every request is read in full, then, for a configurable share of requests (a seeded RNG, so a
run is repeatable as far as the client's request order is):

* ``drop``        the connection is closed before the request reaches S3 (never applied);
* ``drop_after``  the request is forwarded (S3 applies it), then the connection is closed without
                  a response: the client cannot know whether it happened (the hard case);
* ``slowdown``    503 SlowDown, not forwarded (S3's throttling answer);
* ``error``       500 InternalError, not forwarded;
* ``error_after`` forwarded (applied), then 500 InternalError instead of S3's answer;
* ``delay``       forwarded after a pause of up to ``max_delay`` seconds.

The other requests pass through untouched. ``tally`` counts what was done, per fault and per
S3 operation (method + query verb), for the test's report.

    proxy = ChaosProxy("http://127.0.0.1:5000", rate=0.15, seed=7)
    ...  # point the store's endpoint_url at proxy.url
    proxy.close()
"""

from __future__ import annotations

import collections
import http.client
import random
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("drop", "drop_after", "slowdown", "error", "error_after", "delay")

_ERROR_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
    "<RequestId>chaos</RequestId><HostId>chaos</HostId></Error>"
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
               "expect"}


def operation(method: str, path: str) -> str:
    """A short S3 operation name from a request, e.g. ``PUT?partNumber`` or ``POST?uploadId``."""
    query = urlsplit(path).query
    verbs = sorted(part.split("=", 1)[0] for part in query.split("&") if part) if query else []
    known = [v for v in verbs if v in ("uploads", "uploadId", "partNumber", "delete", "list-type", "prefix")]
    return method + ("?" + "&".join(known) if known else "")


class ChaosProxy:
    """See the module docstring. ``weights``: relative frequency of each fault."""

    def __init__(self, target: str, *, rate: float, seed: int, max_delay: float = 0.2,
                 weights: dict[str, float] | None = None) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rate = rate
        self.max_delay = max_delay
        self.weights = dict(weights or {f: 1.0 for f in FAULTS})
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.enabled = True
        #: faults for the next requests, in order (None: pass), before the random ones
        self.script: list[str | None] = []
        #: faults for the next requests of one operation, e.g. {"POST?delete": ["slowdown"] * 3}
        self.by_operation: dict[str, list[str | None]] = {}
        #: ``rule(operation, path)`` -> a fault or None, consulted before everything else
        self.rule: Callable[[str, str], str | None] | None = None
        self.tally: collections.Counter[tuple[str, str]] = collections.Counter()
        #: (fault, operation) of every faulted request, in order (to tell what an operation met)
        self.events: list[tuple[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, and 100-continue as botocore expects
            # TCP_NODELAY: the answer goes out as headers, then body; with Nagle's algorithm the body
            # waits for the client's delayed ACK of the headers, 40 ms on every request
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                body = self._body()
                op = operation(self.command, self.path)
                fault = proxy._choose(op, self.path)
                with proxy.lock:
                    proxy.tally[(fault or "pass", op)] += 1
                    if fault:
                        proxy.events.append((fault, op))
                if fault == "drop":
                    self._cut()
                    return
                if fault in ("slowdown", "error"):
                    self._error(503 if fault == "slowdown" else 500)
                    return
                if fault == "delay":
                    with proxy.lock:
                        pause = proxy.rng.uniform(0, proxy.max_delay)
                    time.sleep(pause)
                status, reason, headers, data = proxy._forward(self.command, self.path, self.headers, body)
                if fault == "drop_after":
                    self._cut()
                    return
                if fault == "error_after":
                    self._error(500)
                    return
                self.send_response_only(status, reason)
                head = self.command == "HEAD"  # a HEAD answer's Content-Length is the object's size
                for k, v in headers:
                    if k.lower() not in _HOP_BY_HOP and (head or k.lower() != "content-length"):
                        self.send_header(k, v)
                if not head:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD" and data:
                    self.wfile.write(data)

            def _error(self, status: int) -> None:
                code, message = (("SlowDown", "Please reduce your request rate.") if status == 503
                                 else ("InternalError", "We encountered an internal error. Please try again."))
                data = _ERROR_BODY.format(code=code, message=message).encode()
                self.send_response_only(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _cut(self) -> None:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="chaos-proxy", daemon=True)
        self.thread.start()

    def _choose(self, op: str, path: str) -> str | None:
        with self.lock:
            if self.enabled and self.rule is not None and (fault := self.rule(op, path)):
                return fault
            if self.enabled and self.by_operation.get(op):  # scripted faults first (minimal reproductions)
                return self.by_operation[op].pop(0)
            if self.script and self.enabled:
                return self.script.pop(0)
            if not self.enabled or self.rng.random() >= self.rate:
                return None
            faults = list(self.weights)
            return self.rng.choices(faults, weights=[self.weights[f] for f in faults])[0]

    def _forward(self, method: str, path: str, headers, body: bytes) -> tuple[int, str, list, bytes]:
        conn = http.client.HTTPConnection(*self.target, timeout=30)
        try:
            out = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            if body or method in ("PUT", "POST"):
                out["Content-Length"] = str(len(body))
            conn.request(method, path, body=body or None, headers=out)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.reason, resp.getheaders(), data
        finally:
            conn.close()

    def faults(self) -> dict[str, int]:
        """How many requests got each fault (``pass``: untouched)."""
        out: collections.Counter[str] = collections.Counter()
        for (fault, _), n in self.tally.items():
            out[fault] += n
        return dict(out)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
