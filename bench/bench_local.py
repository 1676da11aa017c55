"""Local benchmark: the ``dao`` data source and the pandas/arrow engines against native readers/writers.

    .venv/bin/python bench/bench_local.py                  # 8M rows, 3 repeats, median
    .venv/bin/python bench/bench_local.py --rows 1000000 --repeat 5 --out /tmp/bench.md

One SparkSession (local[2]) measures, on the same synthetic parquet dataset:

1. native Spark read      spark.read.parquet(path)              -> noop sink
2. dao read               spark.read.format("dao").load(name)   -> noop sink
3. native Spark write     cached df.write.parquet(tmp)
4. dao write              cached df.write.format("dao").save(name)
5. dao pandas / arrow     DataAccessObject(catalog).read(name, engine="pandas" | "arrow")
6. baselines              pd.read_parquet(path), pq.read_table(path)

Timings exclude data generation and Spark start-up. Every operation runs once untimed (warm-up:
Python worker start, imports, JIT). The operations being compared then run in ``--repeat``
interleaved rounds (native, dao, native, dao, ...), so slow periods hit both sides. Before each
timed run the script waits (``--quiet-wait``) for other processes to leave the CPUs. Next to wall
time, it records the CPU seconds of the whole process tree, which other load barely moves.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "_data"
DATA_VERSION = 1  # bump when the generator changes: cached datasets are regenerated

COUNTRIES = ["US", "DE", "GB", "FR", "IN", "BR", "JP", "CA", "ES", "IT", "NL", "PL", "SE", "MX",
             "AU", "KR", "TR", "CH", "BE", "AT", "IE", "DK", "NO", "PT", "ZA"]
WORDS = ["checkout", "refund", "login", "search", "view", "cart", "promo", "shipping", "review",
         "signup", "logout", "payment", "wishlist", "support", "return", "upgrade"]


# --------------------------------------------------------------------------- data generation
def dataset_dir(rows: int) -> Path:
    return DATA_DIR / f"events_{rows}"


def generate(rows: int, files: int = 8, *, force: bool = False) -> Path:
    """Write ``rows`` synthetic event rows as ``files`` snappy parquet part files (cached).

    The layout mimics a Spark-written dataset: ``part-0000N-<uuid>-c000.snappy.parquet`` plus an
    empty ``_SUCCESS`` marker, one row group per file (Spark's 128 MB block holds ~1M of these rows).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out = dataset_dir(rows)
    marker = out / "_bench_meta.json"
    meta = {"rows": rows, "files": files, "version": DATA_VERSION}
    if not force and marker.exists():
        try:
            if json.loads(marker.read_text()) == meta:
                return out
        except ValueError:
            pass
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    countries = pa.array(COUNTRIES)
    words = pa.array(WORDS)
    weights = 1.0 / np.arange(1, len(COUNTRIES) + 1)  # Zipf-like: a few big countries
    weights /= weights.sum()
    ts_start = np.datetime64("2025-01-01T00:00:00", "us").astype(np.int64)
    ts_span = 365 * 86_400 * 1_000_000
    job = uuid.uuid4()
    bounds = np.linspace(0, rows, files + 1).astype(np.int64)
    for i in range(files):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        n = hi - lo
        rng = np.random.default_rng(1234 + i)
        ts = np.sort(ts_start + rng.integers(0, ts_span, n, dtype=np.int64))
        ts_arr = pa.array(ts, type=pa.timestamp("us", tz="UTC"))
        text = pc.binary_join_element_wise(
            words.take(pa.array(rng.integers(0, len(WORDS), n, dtype=np.int32))),
            pc.cast(pa.array(rng.integers(0, 100_000, n, dtype=np.int64)), pa.string()),
            "-",
        )
        text = pc.if_else(pa.array(rng.random(n) < 0.05), pa.scalar(None, pa.string()), text)
        table = pa.table(
            {
                "id": pa.array(np.arange(lo, hi, dtype=np.int64)),
                "user_id": pa.array(rng.integers(0, 2_000_000, n, dtype=np.int64)),
                "country": countries.take(pa.array(rng.choice(len(COUNTRIES), n, p=weights).astype(np.int32))),
                "amount": pa.array(np.round(rng.lognormal(3.0, 1.0, n), 2)),
                "event_ts": ts_arr,
                "day": pc.cast(ts_arr, pa.date32()),
                "text": text,
            }
        )
        pq.write_table(table, out / f"part-{i:05d}-{job}-c000.snappy.parquet",
                       compression="snappy", row_group_size=1 << 20)
    (out / "_SUCCESS").write_bytes(b"")
    marker.write_text(json.dumps(meta))
    size = sum(p.stat().st_size for p in out.glob("*.parquet"))
    print(f"generated {rows:,} rows in {files} files ({size / 1e6:.0f} MB) at {out} "
          f"in {time.perf_counter() - t0:.1f}s", flush=True)
    return out


def catalog_for(data: Path) -> dict:
    """A catalog with one files store on bench/_data: the input dataset and two outputs."""
    return {
        "stores": {"bench": {"interface": "files", "path": str(DATA_DIR), "format": "parquet"}},
        "objects": {
            "bench.events": {"path": data.name},
            "bench.events_out": {"path": "out_dao"},
        },
    }


# --------------------------------------------------------------------------- spark
def start_spark(extra_conf: dict[str, str] | None = None):
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master("local[2]")
        .appName("spark_dao-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "4g")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.python.worker.reuse", "true")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for k, v in (extra_conf or {}).items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def noop(df) -> None:
    """Force every row and column of ``df`` through Spark without writing anything."""
    df.write.format("noop").mode("overwrite").save()


# --------------------------------------------------------------------------- measuring
@dataclass
class Result:
    op: str
    times: list[float]
    cpu: list[float]
    rows: int
    baseline: str | None = None  # op this one is compared to
    target: float | None = None  # ratio that must be reached (PASS/MISS)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def tree_cpu_by_kind(root: int | None = None) -> dict[str, float]:
    """CPU seconds (user + system) of this process and all its descendants, by kind:
    ``driver`` (this Python process), ``jvm`` (the Spark JVM it launched) and ``python workers``
    (everything the JVM forks: pyspark daemon, workers, planners, committers).

    A reaped child's time moves to its parent's children counters; for the JVM those are Python
    processes, so they are booked as workers. Unlike wall time, CPU seconds barely move when
    *other* processes compete for the CPUs. Linux only; zeros elsewhere.
    """
    root = os.getpid() if root is None else root
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out = {"driver": 0.0, "jvm": 0.0, "python workers": 0.0}
    procs: dict[int, tuple[int, str, int, int]] = {}  # pid -> (ppid, comm, own ticks, children ticks)
    try:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                raw = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1 : raw.rindex(")")]
            fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
            own = int(fields[11]) + int(fields[12])
            kids = int(fields[13]) + int(fields[14])
            procs[int(entry.name)] = (int(fields[1]), comm, own, kids)
    except OSError:
        return out
    for pid, (_ppid, comm, own, kids) in procs.items():
        p = pid
        while p and p != root and p in procs:
            p = procs[p][0]
        if p != root:
            continue
        if pid == root:
            kind = "driver"
        elif comm == "java":
            kind = "jvm"
        else:
            kind = "python workers"
        out[kind] += own / tick
        out["python workers" if kind == "jvm" else kind] += kids / tick
    return out


def tree_cpu_seconds(root: int | None = None) -> float:
    """Total CPU seconds of this process tree (see :func:`tree_cpu_by_kind`)."""
    return sum(tree_cpu_by_kind(root).values())


def cpu_busy(interval: float = 0.5) -> float:
    """Fraction of the machine's CPU busy over ``interval`` (Linux /proc/stat; 0.0 elsewhere)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return idle, sum(fields)

    try:
        i0, t0 = sample()
        time.sleep(interval)
        i1, t1 = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def wait_for_quiet(max_wait: float, threshold: float = 0.15) -> float:
    """Between runs this process is idle: wait until other processes leave the CPUs (best effort).

    Returns the last busy fraction seen (above ``threshold`` means the machine stayed busy).
    """
    deadline = time.monotonic() + max_wait
    busy = cpu_busy()
    while busy > threshold and time.monotonic() < deadline:
        time.sleep(1.0)
        busy = cpu_busy()
    return busy


def measure_interleaved(ops: list[tuple[str, Callable[[], object]]], repeat: int, *,
                        quiet_wait: float = 0.0
                        ) -> tuple[dict[str, list[float]], dict[str, list[float]], list[float]]:
    """Warm every op up once, then run ``repeat`` rounds of op1, op2, ... (interleaved).

    Interleaving makes slow drifts (another process, page cache, JIT) hit every op of a
    comparison alike, so the ratios stay meaningful even when absolute times wander.
    """
    for name, fn in ops:
        print(f"-- warm-up {name}", flush=True)
        fn()
        gc.collect()
    times: dict[str, list[float]] = {name: [] for name, _ in ops}
    cpus: dict[str, list[float]] = {name: [] for name, _ in ops}
    noise: list[float] = []
    for rnd in range(repeat):
        for name, fn in ops:
            if quiet_wait:
                noise.append(wait_for_quiet(quiet_wait))
            c0 = tree_cpu_seconds()
            t0 = time.perf_counter()
            out = fn()
            times[name].append(time.perf_counter() - t0)
            cpus[name].append(tree_cpu_seconds() - c0)
            del out
            gc.collect()
            print(f"   round {rnd + 1}: {name}: {times[name][-1]:.2f}s wall, {cpus[name][-1]:.2f}s cpu",
                  flush=True)
    return times, cpus, noise


def environment() -> dict[str, str]:
    import numpy
    import pandas
    import pyarrow
    import pyspark

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
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    except (OSError, IndexError):
        java = "?"
    try:
        root = BENCH_DIR.parent
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                             text=True).stdout.strip() or "?"
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "spark_dao"], cwd=root,
                               capture_output=True, text=True).stdout.strip()
        code = f"git {rev}" + (" + uncommitted changes in spark_dao/" if dirty else "")
    except OSError:
        code = "?"
    return {
        "spark_dao code": code,
        "machine": f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "java": java,
        "pyspark": pyspark.__version__,
        "pyarrow": pyarrow.__version__,
        "pandas": pandas.__version__,
        "numpy": numpy.__version__,
    }


def render(results: list[Result], stat: str, rows: int, env: dict[str, str], command: str) -> str:
    by_op = {r.op: r for r in results}

    def t(r: Result) -> float:
        return r.best if stat == "best" else r.median

    lines = [
        f"rows: {rows:,} | timed runs per operation: {len(results[0].times)} | seconds = {stat}",
        "",
        "| operation | seconds | best | rows/s | ratio | vs | target | cpu s | cpu ratio |",
        "|---|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    verdicts = []
    for r in results:
        base = by_op.get(r.baseline) if r.baseline else None
        ratio = t(base) / t(r) if base else None  # throughput ratio: >1 means faster than the baseline
        target = ""
        if r.target is not None and ratio is not None:
            verdict = "PASS" if ratio >= r.target else "MISS"
            target = f"≥ {r.target:.2f}x {verdict}"
            verdicts.append(f"{verdict}: {r.op} = {ratio:.2f}x {r.baseline} (target ≥ {r.target:.2f}x)")
        cpu_ratio = base.cpu_median / r.cpu_median if base and r.cpu_median else None
        lines.append(
            f"| {r.op} | {t(r):.2f} | {r.best:.2f} | {rows / t(r) / 1e6:.2f} M | "
            f"{'' if ratio is None else f'{ratio:.2f}x'} | {r.baseline or ''} | {target} | "
            f"{r.cpu_median:.1f} | {'' if cpu_ratio is None else f'{cpu_ratio:.2f}x'} |"
        )
    lines += ["", *verdicts, "",
              "ratio = baseline seconds / seconds (throughput; 1.00x = as fast as the baseline). "
              "cpu s = median CPU seconds of the whole process tree (driver, JVM, Python workers); "
              "cpu ratio = baseline cpu / cpu, a cost ratio that other processes on the machine barely move.",
              "", "environment:"]
    lines += [f"- {k}: {v}" for k, v in env.items()]
    lines += [f"- command: `{command}`"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=8_000_000)
    ap.add_argument("--files", type=int, default=8, help="parquet part files in the dataset (default 8)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per operation (default 3)")
    ap.add_argument("--stat", choices=("median", "best"), default="median",
                    help="which of the timed runs the table and ratios use (default median)")
    ap.add_argument("--out", type=Path, help="also write the table as markdown to this file")
    ap.add_argument("--quiet-wait", type=float, default=30.0,
                    help="before each timed run wait up to this many seconds for other processes to "
                         "leave the CPUs (0: don't wait; default 30)")
    ap.add_argument("--skip-local", action="store_true", help="skip the pandas/arrow engine rows")
    ap.add_argument("--regenerate", action="store_true", help="rebuild the cached dataset")
    args = ap.parse_args(argv)
    command = " ".join([".venv/bin/python", os.path.relpath(__file__)] + (argv if argv is not None else sys.argv[1:]))

    data = generate(args.rows, args.files, force=args.regenerate)
    if hasattr(os, "sync"):
        os.sync()  # no write-back of freshly generated files during the timings
    rows = args.rows

    t0 = time.perf_counter()
    spark = start_spark()
    print(f"spark session started in {time.perf_counter() - t0:.1f}s (not timed)", flush=True)

    import spark_dao
    from spark_dao import DataAccessObject

    catalog = catalog_for(data)
    spark_dao.register(spark, catalog)
    native_out = DATA_DIR / "out_native"
    results: list[Result] = []
    noise: list[float] = []

    def group(ops: list[tuple[str, Callable[[], object]]], extra: dict[str, dict]) -> None:
        times, cpus, busy = measure_interleaved(ops, args.repeat, quiet_wait=args.quiet_wait)
        noise.extend(busy)
        for name, _ in ops:
            results.append(Result(name, times[name], cpus[name], rows, **extra.get(name, {})))

    # 1-2: reads into the same sink (noop: every row and column produced, nothing written).
    native_read, dao_read = "spark read parquet (native)", 'spark read format("dao")'
    group(
        [(native_read, lambda: noop(spark.read.parquet(str(data)))),
         (dao_read, lambda: noop(spark.read.format("dao").load("bench.events")))],
        {dao_read: {"baseline": native_read, "target": 0.60}},
    )

    # 3-4: writes of the same cached DataFrame (snappy parquet both).
    src = spark.read.parquet(str(data)).cache()
    assert src.count() == rows
    native_write, dao_write = "spark write parquet (native)", 'spark write format("dao")'
    group(
        [(native_write, lambda: src.write.mode("overwrite").parquet(str(native_out))),
         (dao_write, lambda: src.write.format("dao").mode("overwrite").save("bench.events_out"))],
        {dao_write: {"baseline": native_write, "target": 0.45}},
    )
    back = spark.read.format("dao").load("bench.events_out").count()
    assert back == rows, f"dao write wrote {back} rows, expected {rows}"
    src.unpersist(blocking=True)

    # 5-6: in-process engines and their native baselines.
    if not args.skip_local:
        import pandas as pd
        import pyarrow.parquet as pq

        dao = DataAccessObject(catalog)
        pd_native, pq_native = "pd.read_parquet (native pandas)", "pq.read_table (native arrow)"
        group(
            [(pd_native, lambda: pd.read_parquet(data)),
             ('dao.read(engine="pandas")', lambda: dao.read("bench.events", engine="pandas")),
             (pq_native, lambda: pq.read_table(data)),
             ('dao.read(engine="arrow")', lambda: dao.read("bench.events", engine="arrow"))],
            {'dao.read(engine="pandas")': {"baseline": pd_native},
             'dao.read(engine="arrow")': {"baseline": pq_native}},
        )

    spark.stop()
    env = environment()
    if noise:
        env["other load"] = (f"CPU busy before timed runs (other processes): median {statistics.median(noise):.0%}, "
                             f"max {max(noise):.0%}")
    table = render(results, args.stat, rows, env, command)
    print()
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
