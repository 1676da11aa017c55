"""Scratch (bench/, not a test): where do dao's S3 writes, reads and upserts spend their time?

    .venv/bin/python bench/profile_s3.py profile --rows 3000000      # HTTP requests per op + cProfile
    .venv/bin/python bench/profile_s3.py fixes --rows 3000000 --repeat 3

``profile`` counts the HTTP requests each operation sends (moto's request log) and prints the
cProfile functions with the most own time. ``fixes`` re-times the operations with monkeypatched
variants of spark_dao's code (nothing under spark_dao/ is edited) against the unpatched code and
awswrangler, interleaved, and checks that every variant still produces the right data.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import io
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_s3 import FAKE_AWS_ENV, daily_data, events_table, s3_client, verify_daily  # noqa: E402

_SERVER = r"""
import logging, sys
from moto.server import ThreadedMotoServer
log = logging.getLogger("werkzeug")
log.setLevel(logging.INFO)
h = logging.FileHandler(sys.argv[1]); h.setFormatter(logging.Formatter("%(message)s"))
log.addHandler(h); log.propagate = False
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"http://{host}:{port}", flush=True)
sys.stdin.read()
server.stop()
"""
_REQ = re.compile(r'"(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP')


class LoggedMoto:
    def __enter__(self) -> LoggedMoto:
        self.log = tempfile.NamedTemporaryFile(prefix="moto_req_", suffix=".log", delete=False).name
        env = {**os.environ, **FAKE_AWS_ENV}
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER, self.log], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.endpoint = self.proc.stdout.readline().strip()
        assert self.endpoint.startswith("http://"), self.endpoint
        self.pos = 0
        return self

    def requests(self) -> collections.Counter:
        """Requests since the last call, by (method, kind)."""
        time.sleep(0.2)
        with open(self.log, encoding="utf-8", errors="replace") as f:
            f.seek(self.pos)
            text = re.sub(r"\x1b\[[0-9;]*m", "", f.read())  # werkzeug colours 206 responses
            self.pos = f.tell()
        out: collections.Counter = collections.Counter()
        for m in _REQ.finditer(text):
            method, url = m.groups()
            path, _, query = url.partition("?")
            if "uploads" in query or "uploadId" in query:
                kind = "multipart"
            elif query.startswith(("list-type", "delimiter", "prefix", "max-keys")) or "list-type" in query:
                kind = "list"
            elif path.endswith("/"):
                kind = "dir marker"
            elif "_dao_staging" in path:
                kind = "staging object"
            elif "delete" in query:
                kind = "batch delete"
            else:
                kind = "object"
            out[(method, kind)] += 1
            if os.environ.get("PROFILE_SHOW") and method in os.environ["PROFILE_SHOW"].split(","):
                print(f"      {method} {url}")
        return out

    def __exit__(self, *exc: object) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.unlink(self.log)


def catalog(endpoint: str, bucket: str) -> dict:
    return {
        "stores": {"silver": {"interface": "files", "bucket": bucket, "prefix": "bench", "endpoint_url": endpoint,
                              "region": "us-east-1", "access_key": "testing", "secret_key": "testing"}},
        "objects": {"silver.events": {"path": "events"},
                    "silver.daily": {"path": "daily", "partition_by": ["day"], "keys": ["id"], "order_by": "updated_at"}},
    }


def profiled(label: str, fn, server: LoggedMoto, top: int = 22) -> Any:
    server.requests()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    out = fn()
    prof.disable()
    elapsed = time.perf_counter() - t0
    reqs = server.requests()
    print(f"\n=== {label}: {elapsed:.2f}s, {sum(reqs.values())} HTTP requests")
    for (method, kind), n in sorted(reqs.items(), key=lambda kv: -kv[1]):
        print(f"    {n:6d}  {method:6s} {kind}")
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(top)
    lines = [ln for ln in s.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    print("\n".join("    " + ln[:170] for ln in lines[start:]))
    return out


def cmd_profile(args) -> None:
    import awswrangler as wr
    import boto3

    from spark_dao import DataAccessObject

    os.environ.update(FAKE_AWS_ENV)
    events = events_table(args.rows).to_pandas()
    daily = daily_data(args.rows, 30, 4)
    base_pdf, merged_pdf, changes_pdf = daily.base.to_pandas(), daily.merged.to_pandas(), daily.changes.to_pandas()
    opts = {"max_rows_per_file": daily.rows_per_file}
    with LoggedMoto() as server:
        s3_client(server.endpoint).create_bucket(Bucket="dao-prof")
        wr.config.s3_endpoint_url = server.endpoint
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
        dao = DataAccessObject(catalog(server.endpoint, "dao-prof"))
        path = "s3://dao-prof/wr/events/"
        for _ in range(0 if args.only_daily else 2):  # the second round: overwrite of existing data, warm
            profiled("wr.s3.to_parquet", lambda: wr.s3.to_parquet(events, path=path, dataset=True, mode="overwrite",
                                                                  boto3_session=session), server, 8)
            profiled("dao.write events", lambda: dao.write(events, "silver.events", mode="overwrite"), server)
        if not args.only_daily:
            profiled("wr.s3.read_parquet", lambda: wr.s3.read_parquet(path, dataset=True, boto3_session=session), server, 8)
            profiled("dao.read events", lambda: dao.read("silver.events", engine="pandas"), server)
        dao.write(base_pdf, "silver.daily", mode="overwrite", options=opts)
        server.requests()
        profiled("dao.write daily merged (full rewrite)",
                 lambda: dao.write(merged_pdf, "silver.daily", mode="overwrite", options=opts), server)
        dao.write(base_pdf, "silver.daily", mode="overwrite", options=opts)
        server.requests()
        res = profiled("dao.upsert daily", lambda: dao.upsert(changes_pdf, "silver.daily"), server, 30)
        print("   ", verify_daily(dao, daily, res))
        if args.patched:
            from experiments_s3 import patched

            with patched(*args.patched.split(",")):
                dao.write(base_pdf, "silver.daily", mode="overwrite", options=opts)
                server.requests()
                profiled(f"dao.write daily merged (full rewrite) patched {args.patched}",
                         lambda: dao.write(merged_pdf, "silver.daily", mode="overwrite", options=opts), server)
                dao.write(base_pdf, "silver.daily", mode="overwrite", options=opts)
                server.requests()
                res = profiled(f"dao.upsert daily patched {args.patched}",
                               lambda: dao.upsert(changes_pdf, "silver.daily"), server, 30)
                print("   ", verify_daily(dao, daily, res))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("profile",))
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--patched", default="", help="also profile with these experiments_s3 patches, e.g. upsert,publish,stage")
    ap.add_argument("--only-daily", action="store_true", help="skip the events write/read profiles")
    args = ap.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        cmd_profile(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
