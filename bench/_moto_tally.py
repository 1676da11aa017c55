"""moto's S3 server on a free loopback port, counting the requests it serves by kind (bench_s3's server).

:class:`MotoS3` runs this module as a child process (or, ``where="inprocess"``, moto's
ThreadedMotoServer in a thread, uncounted). The child prints its endpoint, then serves until its stdin
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
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

#: fake credentials moto accepts; set for the whole run so no real AWS account is ever used.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,  # never read the developer's ~/.aws files
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_UNSET_AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")




class MotoS3:
    """moto's S3 server on a free loopback port, in a child process (default) or a thread here."""

    def __init__(self, where: str = "subprocess") -> None:
        self.where = where
        self.proc: subprocess.Popen[str] | None = None
        self.server: Any = None
        self.endpoint = ""

    def __enter__(self) -> MotoS3:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        if self.where == "inprocess":
            from moto.server import ThreadedMotoServer

            self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self.server.start()
            host, port = self.server.get_host_and_port()
            self.endpoint = f"http://{host}:{port}"
            return self
        env = {k: v for k, v in os.environ.items() if k not in _UNSET_AWS_ENV}
        env.update(FAKE_AWS_ENV)
        self.proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http://"):
            self.proc.kill()
            raise RuntimeError(f"moto server did not start (got {line!r})")
        self.endpoint = line
        return self

    def cpu_seconds(self) -> float:
        """CPU seconds the server process has used so far (0 when in-process: counted as ours)."""
        if self.proc is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return 0.0

    def tally(self) -> dict[str, int]:
        """Requests served since the last call, by kind (``_moto_tally.kind``; {} when in-process)."""
        if self.proc is None or self.proc.stdin is None or self.proc.stdout is None:
            return {}
        self.proc.stdin.write("tally\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def rss_mb(self) -> float:
        """Resident memory of the server process (MB; 0 when in-process or unknown)."""
        if self.proc is None:
            return 0.0
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.stop()
        if self.proc is not None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, OSError):
                self.proc.kill()  # our own child, by its handle
                self.proc.wait(timeout=10)


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
