"""S3 benchmark: the pandas engine of ``DataAccessObject`` against awswrangler, and upserts against a full rewrite.

    .venv/bin/python bench/bench_s3.py                        # 3M rows, 3 repeats, best
    .venv/bin/python bench/bench_s3.py --rows 500000 --repeat 5 --out /tmp/bench_s3.md

A moto S3 server (real HTTP on a free 127.0.0.1 port, fake credentials — no AWS account is ever
used) runs in a child process, so its request handling does not share this process's GIL with the
clients being measured (``--moto inprocess`` runs it as tests/s3_server.py does). In one run:

1. write   dao.write(pdf, "silver.events", mode="overwrite")     vs wr.s3.to_parquet(dataset=True, mode="overwrite")
2. read    dao.read("silver.events", engine="pandas")            vs wr.s3.read_parquet(dataset=True)
3. upsert  dao.upsert(changes, "silver.daily")  (1% of the rows, all in the last 2 of ~30 daily
           partitions: half updates with a newer updated_at, half new ids)
           vs dao.write(merged_pdf, "silver.daily", mode="overwrite") — rewriting the whole merged
           table, which is what one does without upserts. Every run of either starts from the same
           freshly written dataset (several files per partition, like a Spark-written one); the
           upsert's result is verified against the expected merged table.

``--store local`` runs the upsert group (only) on a files store in a local temporary folder instead.

Ratios are throughput ratios: ``baseline seconds / dao seconds`` (> 1 means dao is faster), for
wall time and for CPU time (this process + the S3 server process, the server's included because a
client that makes the server work harder is not cheaper). Every
operation runs once untimed (warm-up: imports, connection pools) before ``--repeat`` timed runs,
interleaved with its baseline; the table uses the best run (``--stat median`` for the median).
Timings exclude data generation and server start-up.
"""

from __future__ import annotations

import argparse
import gc
import logging
import math
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _moto_tally import _UNSET_AWS_ENV, FAKE_AWS_ENV, MotoS3  # noqa: E402  (the S3 server, counting requests)
from bench_local import wait_for_quiet  # noqa: E402  (shared load-noise helper)

BENCH_EXTRA = "bench"  # pyproject extra holding awswrangler

COUNTRIES = ["US", "DE", "GB", "FR", "IN", "BR", "JP", "CA", "ES", "IT", "NL", "PL", "SE", "MX",
             "AU", "KR", "TR", "CH", "BE", "AT", "IE", "DK", "NO", "PT", "ZA"]
WORDS = ["checkout", "refund", "login", "search", "view", "cart", "promo", "shipping", "review",
         "signup", "logout", "payment", "wishlist", "support", "return", "upgrade"]
STATUSES = ["new", "paid", "shipped", "delivered", "returned"]


def s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing", config=Config(s3={"addressing_style": "path"}),
    )


# --------------------------------------------------------------------------- data
def events_table(rows: int, seed: int = 1234) -> Any:
    """``rows`` synthetic events (the columns of bench_local's dataset, without its date column)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(COUNTRIES) + 1)
    weights /= weights.sum()
    ts_start = np.datetime64("2025-01-01T00:00:00", "us").astype(np.int64)
    ts = np.sort(ts_start + rng.integers(0, 365 * 86_400 * 1_000_000, rows, dtype=np.int64))
    text = pc.binary_join_element_wise(
        pa.array(WORDS).take(pa.array(rng.integers(0, len(WORDS), rows, dtype=np.int32))),
        pc.cast(pa.array(rng.integers(0, 100_000, rows, dtype=np.int64)), pa.string()),
        "-",
    )
    text = pc.if_else(pa.array(rng.random(rows) < 0.05), pa.scalar(None, pa.string()), text)
    return pa.table({
        "id": pa.array(np.arange(rows, dtype=np.int64)),
        "user_id": pa.array(rng.integers(0, 2_000_000, rows, dtype=np.int64)),
        "country": pa.array(COUNTRIES).take(pa.array(rng.choice(len(COUNTRIES), rows, p=weights).astype(np.int32))),
        "amount": pa.array(np.round(rng.lognormal(3.0, 1.0, rows), 2)),
        "event_ts": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
        "text": text,
    })


@dataclass
class DailyData:
    base: Any  # pa.Table, N rows over `days` days (ids ascending with the day, as daily appends are)
    changes: Any  # pa.Table, 1% of N: updates of existing ids + new ids, all in the last 2 days
    merged: Any  # pa.Table, what the table must hold after the upsert
    updated_ids: Any  # np.ndarray
    inserted_ids: Any  # np.ndarray
    days: int
    rows_per_file: int


def daily_data(rows: int, days: int, files_per_day: int, change_share: float = 0.01, seed: int = 99) -> DailyData:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    ids = np.arange(rows, dtype=np.int64)
    day_idx = (ids * days) // rows  # ~rows/days per day
    day0 = np.datetime64("2025-06-01", "D")
    day_values = (day0 + day_idx.astype("timedelta64[D]")).astype("datetime64[D]")
    secs = rng.integers(0, 86_400 * 1_000_000, rows, dtype=np.int64)
    updated_at = day_values.astype("datetime64[us]").astype(np.int64) + secs
    base = pa.table({
        "id": pa.array(ids),
        "day": pa.array(day_values, type=pa.date32()),
        "updated_at": pa.array(updated_at, type=pa.timestamp("us", tz="UTC")),
        "user_id": pa.array(rng.integers(0, 2_000_000, rows, dtype=np.int64)),
        "status": pa.array(STATUSES).take(pa.array(rng.integers(0, len(STATUSES), rows, dtype=np.int32))),
        "amount": pa.array(np.round(rng.lognormal(3.0, 1.0, rows), 2)),
        "note": pc.binary_join_element_wise(
            pa.array(WORDS).take(pa.array(rng.integers(0, len(WORDS), rows, dtype=np.int32))),
            pc.cast(pa.array(rng.integers(0, 100_000, rows, dtype=np.int64)), pa.string()), "-"),
    })

    n_changes = max(2, int(rows * change_share))
    n_upd = n_changes // 2
    n_new = n_changes - n_upd
    last2 = np.flatnonzero(day_idx >= days - 2)
    upd_ids = np.sort(rng.choice(ids[last2], size=n_upd, replace=False))
    upd = base.take(pa.array(upd_ids))
    one_day = np.int64(86_400 * 1_000_000)
    upd = upd.set_column(upd.schema.get_field_index("updated_at"), "updated_at",
                         pa.array(upd["updated_at"].to_numpy().astype("datetime64[us]").astype(np.int64) + one_day,
                                  type=pa.timestamp("us", tz="UTC")))
    upd = upd.set_column(upd.schema.get_field_index("status"), "status", pa.array(["corrected"] * n_upd))
    upd = upd.set_column(upd.schema.get_field_index("amount"), "amount",
                         pc.add(upd["amount"], pa.scalar(1000.0)))
    new_ids = np.arange(rows, rows + n_new, dtype=np.int64)
    new_day_idx = rng.integers(days - 2, days, n_new)
    new_days = (day0 + new_day_idx.astype("timedelta64[D]")).astype("datetime64[D]")
    new = pa.table({
        "id": pa.array(new_ids),
        "day": pa.array(new_days, type=pa.date32()),
        "updated_at": pa.array(new_days.astype("datetime64[us]").astype(np.int64)
                               + rng.integers(0, 86_400 * 1_000_000, n_new, dtype=np.int64),
                               type=pa.timestamp("us", tz="UTC")),
        "user_id": pa.array(rng.integers(0, 2_000_000, n_new, dtype=np.int64)),
        "status": pa.array(["new"] * n_new),
        "amount": pa.array(np.round(rng.lognormal(3.0, 1.0, n_new), 2)),
        "note": pa.array([f"inserted-{i}" for i in range(n_new)]),
    })
    changes = pa.concat_tables([upd, new])
    changes = changes.take(pa.array(rng.permutation(changes.num_rows)))  # arrival order, not sorted
    kept = base.filter(pc.invert(pc.is_in(base["id"], value_set=pa.array(upd_ids))))
    merged = pa.concat_tables([kept, upd, new]).sort_by("id")
    rows_per_file = math.ceil(math.ceil(rows / days) / files_per_day)
    return DailyData(base, changes, merged, upd_ids, new_ids, days, rows_per_file)


def verify_daily(dao: Any, data: DailyData, result: Any, name: str = "silver.daily") -> str:
    """The stored table equals the expected merge (row for row); raises AssertionError otherwise."""
    import pyarrow.compute as pc

    n_upd, n_new = len(data.updated_ids), len(data.inserted_ids)
    assert result.rows_updated == n_upd, f"rows_updated={result.rows_updated}, expected {n_upd}"
    assert result.rows_inserted == n_new, f"rows_inserted={result.rows_inserted}, expected {n_new}"
    got = dao.read(name, engine="arrow")
    expected_rows = data.base.num_rows + n_new
    assert got.num_rows == expected_rows, f"{got.num_rows} rows after the upsert, expected {expected_rows}"
    got = got.select(data.merged.schema.names).sort_by("id").combine_chunks()
    # spot checks first (a readable failure), then the whole table
    for i in (data.updated_ids[0], data.updated_ids[len(data.updated_ids) // 2], data.updated_ids[-1]):
        row = got.filter(pc.equal(got["id"], int(i))).to_pylist()
        want = data.merged.filter(pc.equal(data.merged["id"], int(i))).to_pylist()
        assert row == want and row[0]["status"] == "corrected", f"id {i}: stored {row}, expected {want}"
    for i in (data.inserted_ids[0], data.inserted_ids[-1]):
        row = got.filter(pc.equal(got["id"], int(i))).to_pylist()
        assert row and row[0]["note"].startswith("inserted-"), f"new id {i} missing: {row}"
    assert got.equals(data.merged.combine_chunks()), "stored table differs from the expected merge"
    return (f"verified: {got.num_rows:,} rows = {data.base.num_rows:,} + {n_new:,} inserted; "
            f"{n_upd:,} updated ids carry the new status/amount/updated_at; table equals the expected merge")


# --------------------------------------------------------------------------- measuring
@dataclass
class Result:
    op: str
    times: list[float]
    rows: int  # rows the operation handles, for rows/s
    baseline: str | None = None  # op this one is compared to
    target: float | None = None  # throughput ratio (baseline s / this s) that must be reached
    target_text: str = ""
    notes: list[str] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # CPU seconds per timed run (this process + S3 server)
    client_cpu: list[float] = field(default_factory=list)  # CPU seconds per timed run of this process alone
    requests: list[dict] = field(default_factory=list)  # S3 requests per timed run, by kind

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        return min(self.times)

    cpu_median = property(lambda self: statistics.median(self.cpu) if self.cpu else float("nan"))
    client_median = property(lambda self: statistics.median(self.client_cpu) if self.client_cpu else float("nan"))


Op = tuple[str, Callable[[], object], Callable[[], object] | None]  # name, timed fn, untimed setup


def process_cpu() -> float:
    return sum(resource.getrusage(resource.RUSAGE_SELF)[:2])  # user + system seconds


def measure_interleaved(ops: list[Op], repeat: int, *, quiet_wait: float = 0.0,
                        after: Callable[[str, object, int], None] | None = None,
                        cpu: Callable[[], float] = process_cpu, tally: Callable[[], dict] | None = None,
                        ) -> tuple[dict[str, list[float]], list[float], dict[str, list[float]], dict[str, list]]:
    """Warm every op up once, then ``repeat`` rounds of op1, op2, ... (interleaved).

    ``setup`` runs untimed right before each run (e.g. rebuild the dataset), ``after(name, out,
    round)`` untimed right after (verification; round 0 is the warm-up). ``cpu()`` is the CPU
    seconds used so far (read before and after each run). Per run, ``extras[name]`` holds
    (this process's CPU seconds, ``tally()``: the S3 requests of the run, by kind).
    """
    times: dict[str, list[float]] = {name: [] for name, _, _ in ops}
    cpus: dict[str, list[float]] = {name: [] for name, _, _ in ops}
    noise: list[float] = []
    extras: dict[str, list] = {name: [] for name, _, _ in ops}
    for rnd in range(repeat + 1):
        for name, fn, setup in ops:
            if setup is not None:
                setup()
            gc.collect()
            if rnd and quiet_wait:
                noise.append(wait_for_quiet(quiet_wait))
            if tally is not None:
                tally()  # the setup's requests are not the run's
            c0, p0, t0 = cpu(), process_cpu(), time.perf_counter()
            out = fn()
            elapsed, used, own = time.perf_counter() - t0, cpu() - c0, process_cpu() - p0
            requests = tally() if tally is not None else {}
            if rnd:
                times[name].append(elapsed)
                cpus[name].append(used)
                extras[name].append((own, requests))
                print(f"   round {rnd}: {name}: {elapsed:.2f}s ({used:.2f} CPU s, this process {own:.2f}) "
                      f"{requests}", flush=True)
            else:
                print(f"-- warm-up {name}: {elapsed:.2f}s", flush=True)
            if after is not None:
                after(name, out, rnd)
            del out
    return times, noise, cpus, extras


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for dist in ("pyarrow", "pandas", "awswrangler", "moto", "boto3", "numpy"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "-"
    return out


def usable_cores() -> int:
    """Cores this process may run on (``taskset -c 0`` gives 1 on a 2-core host)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def environment(moto_where: str) -> dict[str, str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    env = {
        "CPU model": cpu,
        "machine": f"{cpu}, {os.cpu_count()} cores ({usable_cores()} usable by this run), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        **versions(),
        "S3": f"moto on 127.0.0.1 ({moto_where}; subprocess: bench/_moto_tally.py, counting requests), plain HTTP, "
               "fake credentials",
    }
    return env


def render(results: list[Result], stat: str, env: dict[str, str], command: str, extra: list[str]) -> str:
    by_op = {r.op: r for r in results}

    def t(r: Result) -> float:
        return r.best if stat == "best" else r.median

    lines = [
        f"CPU: {env.get('CPU model', '?')}, {usable_cores()} cores usable | timed runs per operation: {len(results[0].times)} "
        f"(after 1 warm-up) | seconds = {stat} | ratio = baseline seconds / dao seconds (> 1: dao faster) | "
        "CPU s = median CPU seconds of this process + the S3 server per run; client CPU s = this process alone "
        "(what a user pays on real S3)",
        "",
        "| operation | seconds | rows/s | ratio vs baseline | CPU s | CPU ratio | client CPU s | client CPU ratio "
        "| target | PASS/MISS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    verdicts = []
    for r in results:
        base = by_op.get(r.baseline) if r.baseline else None
        ratio = t(base) / t(r) if base else None
        verdict = ""
        if r.target is not None and ratio is not None:
            verdict = "PASS" if ratio >= r.target else "MISS"
            verdicts.append(f"{verdict}: {r.op} — {ratio:.2f}x vs {r.baseline} "
                            f"({t(r):.2f}s vs {t(base):.2f}s = {t(r) / t(base):.0%} of its time); target {r.target_text}")
        rate = r.rows / t(r)
        rate_s = f"{rate / 1e6:.2f} M" if rate >= 1e6 else f"{rate / 1e3:.0f} k"
        cpu_ratio = f"{base.cpu_median / r.cpu_median:.2f}x" if base and r.cpu_median else ""
        own_ratio = f"{base.client_median / r.client_median:.2f}x" if base and r.client_median else ""
        lines.append(
            f"| {r.op} | {t(r):.2f} | {rate_s} | "
            f"{'baseline' if r.baseline is None else f'{ratio:.2f}x vs {r.baseline}'} | "
            f"{r.cpu_median:.2f} | {cpu_ratio} | {r.client_median:.2f} | {own_ratio} | {r.target_text} | {verdict} |"
        )
    lines += ["", *verdicts]
    lines += ["", "all timed runs (s):"]
    lines += [f"- {r.op}: {', '.join(f'{x:.2f}' for x in r.times)} (CPU s: {', '.join(f'{x:.2f}' for x in r.cpu)})"
              for r in results]
    if any(r.requests and r.requests[-1] for r in results):
        lines += ["", "S3 requests of the last timed run, by kind (GET bytes: bytes the GETs returned):"]
        lines += [f"- {r.op}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r.requests[-1].items()) if v)
                  for r in results if r.requests and r.requests[-1]]
    if extra:
        lines += ["", *extra]
    lines += ["", "environment:"]
    lines += [f"- {k}: {v}" for k, v in env.items()]
    lines += [f"- command: `{command}`"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=3_000_000, help="rows of both datasets (default 3,000,000)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per operation (default 3)")
    ap.add_argument("--stat", choices=("median", "best"), default="best",
                    help="which of the timed runs the table and ratios use (default best)")
    ap.add_argument("--days", type=int, default=30, help="daily partitions of silver.daily (default 30)")
    ap.add_argument("--files-per-day", type=int, default=4,
                    help="parquet files per daily partition, as a Spark job's tasks leave them (default 4)")
    ap.add_argument("--out", type=Path, help="also write the table as markdown to this file")
    ap.add_argument("--quiet-wait", type=float, default=15.0,
                    help="before each timed run wait up to this many seconds for other processes to "
                         "leave the CPUs (0: don't wait; default 15)")
    ap.add_argument("--moto", choices=("subprocess", "inprocess"), default="subprocess",
                    help="run the S3 server in a child process (default) or in a thread of this one")
    ap.add_argument("--store", choices=("s3", "local"), default="s3",
                    help="where the upsert group's table lives: the S3 server (default) or a files store in a "
                         "local temporary folder (the write/read groups, against awswrangler, are always on S3)")
    ap.add_argument("--upsert-keys", default="id",
                    help="keys of silver.daily (default id; 'id,day' declares the partition column a key, so the "
                         "upsert scans only the batch's partitions)")
    ap.add_argument("--key-index", choices=("warm", "cold"), default="warm",
                    help="warm (default): each upsert round starts as a daily pipeline's does, after an earlier "
                         "upsert (untimed: one unchanged row of the first day) left the key index of the table; "
                         "cold: right after the table was rewritten (no index: every footer is read)")
    ap.add_argument("--only", choices=("write", "read", "upsert"), action="append",
                    help="run only these groups (repeatable; read implies write's dataset)")
    args = ap.parse_args(argv)
    command = " ".join([".venv/bin/python", os.path.relpath(__file__)] + (argv if argv is not None else sys.argv[1:]))
    groups = set(args.only or ("write", "read", "upsert"))

    try:
        import awswrangler as wr
    except ImportError:
        print("awswrangler is not installed: it is the baseline of this benchmark. Install the "
              f"'{BENCH_EXTRA}' extra:  .venv/bin/pip install -e '.[{BENCH_EXTRA}]'  "
              "(or: .venv/bin/pip install awswrangler)", file=sys.stderr)
        return 2
    import boto3

    from spark_dao import DataAccessObject

    for key in _UNSET_AWS_ENV:
        os.environ.pop(key, None)
    os.environ.update(FAKE_AWS_ENV)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    rows = args.rows
    t0 = time.perf_counter()
    events = events_table(rows).to_pandas() if groups & {"write", "read"} else None
    daily = daily_data(rows, args.days, args.files_per_day) if "upsert" in groups else None
    daily_base_pdf = daily.base.to_pandas() if daily else None
    daily_merged_pdf = daily.merged.to_pandas() if daily else None
    daily_changes_pdf = daily.changes.to_pandas() if daily else None
    print(f"generated data in {time.perf_counter() - t0:.1f}s (not timed)", flush=True)

    results: list[Result] = []
    noise: list[float] = []
    extra: list[str] = []
    local_dir = tempfile.TemporaryDirectory(prefix="dao-bench-s3-local-")
    with local_dir, MotoS3(args.moto) as server:
        endpoint = server.endpoint
        bucket = f"dao-bench-{uuid.uuid4().hex[:8]}"
        s3_client(endpoint).create_bucket(Bucket=bucket)
        print(f"moto S3 at {endpoint} ({args.moto}), bucket {bucket}", flush=True)

        wr.config.s3_endpoint_url = endpoint
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                region_name="us-east-1")
        wr_path = f"s3://{bucket}/wr/events/"
        catalog = {
            "stores": {"silver": {"interface": "files", "bucket": bucket, "prefix": "bench",
                                  "endpoint_url": endpoint, "region": "us-east-1",
                                  "access_key": "testing", "secret_key": "testing"},
                       "local": {"interface": "files", "path": local_dir.name}},
            "objects": {
                "silver.events": {"path": "events"},
                "silver.daily": {"path": "daily", "partition_by": ["day"], "keys": args.upsert_keys.split(","),
                                 "order_by": "updated_at"},
                "local.daily": {"path": "daily", "partition_by": ["day"], "keys": args.upsert_keys.split(","),
                                "order_by": "updated_at"},
            },
        }
        daily_name = "local.daily" if args.store == "local" else "silver.daily"
        dao = DataAccessObject(catalog)

        def cpu_now() -> float:
            return process_cpu() + server.cpu_seconds()

        def group(ops: list[Op], meta: dict[str, dict], after: Callable | None = None) -> dict[str, list[float]]:
            times, busy, cpus, extras = measure_interleaved(ops, args.repeat, quiet_wait=args.quiet_wait,
                                                            after=after, cpu=cpu_now, tally=server.tally)
            noise.extend(busy)
            for name, _, _ in ops:
                results.append(Result(name, times[name], cpu=cpus[name], client_cpu=[c for c, _ in extras[name]],
                                      requests=[r for _, r in extras[name]], **meta[name]))
            return times

        # 1: writes of the same pandas DataFrame (snappy parquet, one dataset folder each).
        dao_write, wr_write = 'dao.write(pdf, mode="overwrite")', "wr.s3.to_parquet(dataset=True)"
        if groups & {"write", "read"}:
            group(
                [(wr_write, lambda: wr.s3.to_parquet(events, path=wr_path, dataset=True, mode="overwrite",
                                                     boto3_session=session), None),
                 (dao_write, lambda: dao.write(events, "silver.events", mode="overwrite"), None)],
                {wr_write: {"rows": rows},
                 dao_write: {"rows": rows, "baseline": wr_write, "target": 1.0,
                             "target_text": "≥ 1.00x (dao time ≤ wr time)"}},
            )

        # 2: reads of what was just written.
        if "read" in groups:
            dao_read, wr_read = 'dao.read(engine="pandas")', "wr.s3.read_parquet(dataset=True)"

            def check_read(name: str, out: Any, rnd: int) -> None:
                assert len(out) == rows, f"{name} returned {len(out)} rows, expected {rows}"
                if rnd == 0:
                    assert sorted(out.columns) == sorted(events.columns), f"{name}: columns {list(out.columns)}"

            group(
                [(wr_read, lambda: wr.s3.read_parquet(wr_path, dataset=True, boto3_session=session), None),
                 (dao_read, lambda: dao.read("silver.events", engine="pandas"), None)],
                {wr_read: {"rows": rows},
                 dao_read: {"rows": rows, "baseline": wr_read, "target": 1.0,
                            "target_text": "≥ 1.00x (dao time ≤ wr time)"}},
                after=check_read,
            )

        # 3: upsert of 1% changed rows vs rewriting the whole merged table.
        if daily is not None:
            write_opts = {"max_rows_per_file": daily.rows_per_file}
            where = " on a local folder" if args.store == "local" else ""
            keys = "" if args.upsert_keys == "id" else f" keys={args.upsert_keys}"
            upsert_op = f'dao.upsert(changes) [1%, 2 of {args.days} days{keys}, key index {args.key_index}]{where}'
            rewrite_op = f'dao.write(merged, mode="overwrite"){where}'

            def rebuild() -> None:
                dao.write(daily_base_pdf, daily_name, mode="overwrite", options=write_opts)

            def rebuild_then_upsert_once() -> None:  # a table an earlier upsert left (with its key index)
                rebuild()
                dao.upsert(daily_base_pdf.iloc[:1], daily_name)

            layout: list[str] = []

            def after_upsert(name: str, out: Any, rnd: int) -> None:
                if name != upsert_op:
                    return
                msg = verify_daily(dao, daily, out, daily_name)
                if rnd in (0, args.repeat):
                    print(f"   {msg}\n   WriteResult: {out!r}", flush=True)
                if rnd == args.repeat:
                    extra.append(f"upsert check (after round {rnd}): {msg}")
                    extra.append("upsert WriteResult: " + ", ".join(
                        f"{k}={getattr(out, k)}" for k in ("rows_written", "rows_inserted", "rows_updated",
                                                            "rows_deleted", "files_rewritten", "files_added",
                                                            "files_removed")) + f", partitions={list(out.partitions)}")

            rebuild()
            if args.store == "local":
                n_files = sum(1 for _ in Path(local_dir.name, "daily").rglob("*.parquet"))
            else:
                n_files = sum(1 for page in s3_client(endpoint).get_paginator("list_objects_v2")
                              .paginate(Bucket=bucket, Prefix="bench/daily/")
                              for o in page.get("Contents", []) if o["Key"].endswith(".parquet"))
            layout.append(f"{daily_name}{where}: {rows:,} rows, {args.days} daily partitions, {n_files} parquet files "
                          f"(max_rows_per_file={daily.rows_per_file:,}); change batch {daily.changes.num_rows:,} rows "
                          f"= {len(daily.updated_ids):,} updates + {len(daily.inserted_ids):,} new ids, all in the last 2 days")
            print("   " + layout[0], flush=True)
            extra.extend(layout)
            group(
                [(rewrite_op, lambda: dao.write(daily_merged_pdf, daily_name, mode="overwrite", options=write_opts),
                  rebuild),
                 (upsert_op, lambda: dao.upsert(daily_changes_pdf, daily_name),
                  rebuild_then_upsert_once if args.key_index == "warm" else rebuild)],
                {rewrite_op: {"rows": daily.merged.num_rows},
                 upsert_op: {"rows": daily.changes.num_rows, "baseline": rewrite_op, "target": 1 / 0.15,
                             "target_text": "≥ 6.67x (upsert ≤ 15% of rewrite time)"}},
                after=after_upsert,
            )
        extra.append(f"moto server RSS at the end: {server.rss_mb():.0f} MB" if server.rss_mb() else "")
        extra = [e for e in extra if e]

    env = environment(args.moto)
    env["rows"] = f"{rows:,}"
    if noise:
        env["other load"] = (f"CPU busy before timed runs (other processes): median {statistics.median(noise):.0%}, "
                             f"max {max(noise):.0%}")
    table = render(results, args.stat, env, command, extra)
    print()
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
