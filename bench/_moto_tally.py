"""moto's S3 server on a free loopback port, counting the requests it serves by kind.

Run as a child process by ``bench_s3.MotoS3``: prints its endpoint, then serves until its stdin
closes. Each line ``tally`` read from stdin is answered with one JSON line: the requests served
since the previous ``tally``, by kind (``GET range``, ``GET whole``, ``LIST``, ``HEAD``, ``PUT``,
``COPY``, ``DELETE`` (batched ``DeleteObjects`` or one key), ``MPU create``, ``MPU part``,
``MPU complete``, ...), the response bytes of the GETs (``GET bytes``) and the server's CPU
milliseconds per kind (``<kind> CPU ms``: thread time spent making the responses; werkzeug's own
socket handling is not in it).
"""

from __future__ import annotations

import collections
import json
import logging
import os
import sys
import threading
import time
from urllib.parse import parse_qsl


def kind(environ: dict) -> str:
    """The kind of one S3 request (see the module docstring)."""
    method = environ.get("REQUEST_METHOD", "")
    query = {k for k, _ in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)}
    if method == "GET":
        if "list-type" in query or "prefix" in query or "delimiter" in query:
            return "LIST"
        if "uploads" in query:
            return "LIST uploads"
        path = environ.get("PATH_INFO", "")
        if path.count("/") <= 1 or path.endswith("/") and not query:
            return "LIST"  # a bucket-level GET
        return "GET range" if environ.get("HTTP_RANGE") else "GET whole"
    if method == "PUT":
        if "partNumber" in query:
            return "MPU part copy" if environ.get("HTTP_X_AMZ_COPY_SOURCE") else "MPU part"
        return "COPY" if environ.get("HTTP_X_AMZ_COPY_SOURCE") else "PUT"
    if method == "POST":
        if "delete" in query:
            return "DELETE"
        if "uploads" in query:
            return "MPU create"
        if "uploadId" in query:
            return "MPU complete"
        return "POST"
    if method == "DELETE":
        return "MPU abort" if "uploadId" in query else "DELETE"
    return method


def main() -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    counts: collections.Counter[str] = collections.Counter()
    server_us: collections.Counter[str] = collections.Counter()  # server CPU (thread time) by kind
    lock = threading.Lock()
    app = DomainDispatcherApplication(create_backend_app)
    trace = os.environ.get("DAO_TALLY_TRACE") == "1"

    def counting(environ: dict, start_response: object) -> object:
        what = kind(environ)
        cpu0 = time.thread_time()
        body = list(app(environ, start_response))  # the response made here, in this thread's CPU time
        size = sum(len(b) for b in body) if what.startswith("GET ") else 0
        cpu_us = int((time.thread_time() - cpu0) * 1e6)
        if trace:  # DAO_TALLY_TRACE=1: one line per request on stderr
            print(what, environ.get("PATH_INFO"), environ.get("QUERY_STRING"), environ.get("HTTP_RANGE", ""),
                  file=sys.stderr, flush=True)
        with lock:
            counts[what] += 1
            counts["GET bytes"] += size
            server_us[what] += cpu_us
        return body

    server = make_server("127.0.0.1", 0, counting, True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    print(f"http://{host}:{port}", flush=True)
    for line in sys.stdin:  # serve until the parent closes our stdin (or exits)
        if line.strip() == "tally":
            with lock:
                out = dict(counts)
                out.update({f"{k} CPU ms": round(v / 1000) for k, v in server_us.items()})
                counts.clear()
                server_us.clear()
            print(json.dumps(out), flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()
