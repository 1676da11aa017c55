"""Local benchmark: the ``dao`` data source and the pandas/arrow engines against native readers/writers.

    .venv/bin/python bench/bench_local.py                  # 8M rows, 3 repeats, median
    .venv/bin/python bench/bench_local.py --rows 1000000 --repeat 5 --out /tmp/bench.md

One SparkSession (local[2]) measures, on the same synthetic parquet dataset:

1. native Spark read      spark.read.parquet(path)              -> noop sink, and an aggregate of every column
2. dao read               spark.read.format("dao").load(name)   -> the same two
3. native Spark write     cached df.write.parquet(tmp), and .partitionBy("country")
4. dao write              cached df.write.format("dao").save(name), to an object partitioned by country,
                          and dao.write(df, name, engine="spark")
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


def parquet_bytes(folder: Path) -> int:
    """Bytes of the parquet files under ``folder`` (hidden and staging folders skipped)."""
    return sum(p.stat().st_size for p in folder.rglob("*.parquet")
               if not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts))


def catalog_for(data: Path) -> dict:
    """A catalog with one files store on bench/_data: the input dataset and two outputs."""
    return {
        "stores": {"bench": {"interface": "files", "path": str(DATA_DIR), "format": "parquet"}},
        "objects": {
            "bench.events": {"path": data.name},
            "bench.events_out": {"path": "out_dao"},
            "bench.events_by_country": {"path": "out_dao_part", "partition_by": ["country"]},
        },
    }


# --------------------------------------------------------------------------- spark
#: the Spark master (``--master``): local[2] runs as many tasks as this machine has cores
MASTER = "local[2]"


def start_spark(extra_conf: dict[str, str] | None = None):
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(MASTER)
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


def aggregate(df) -> list:
    """An aggregate that reads every column's values, as a job would: the ``noop`` sink lets the
    native reader skip work (it never looks at the values), an aggregate does not."""
    from pyspark.sql import functions as F

    return df.agg(F.sum("id"), F.sum("user_id"), F.max("country"), F.sum("amount"), F.max("event_ts"),
                  F.max("day"), F.sum(F.length("text"))).collect()


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


def _proc_table() -> dict[int, tuple[int, str, int]]:
    """pid -> (ppid, comm, own CPU ticks: user + system) of every process (Linux /proc; {} elsewhere)."""
    procs: dict[int, tuple[int, str, int]] = {}
    try:
        entries = list(os.scandir("/proc"))
    except OSError:
        return procs
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
        procs[int(entry.name)] = (int(fields[1]), comm, int(fields[11]) + int(fields[12]))
    return procs


def _tree_ticks(root: int) -> dict[int, tuple[str, int]]:
    """pid -> (kind, own ticks) for ``root`` and its descendants; kind is ``driver`` (``root``),
    ``jvm`` (a java process) or ``python workers`` (everything else the JVM forks)."""
    procs = _proc_table()
    out: dict[int, tuple[str, int]] = {}
    for pid, (_ppid, comm, own) in procs.items():
        p = pid
        while p and p != root and p in procs:
            p = procs[p][0]
        if p != root:
            continue
        kind = "driver" if pid == root else "jvm" if comm == "java" else "python workers"
        out[pid] = (kind, own)
    return out


class TreeCpuMeter:
    """CPU seconds (user + system) used by this process and all its descendants between ``start()``
    and ``stop()``, by kind (``driver``, ``jvm``, ``python workers``).

    Each process's *own* counters are sampled by pid every ``interval`` seconds on a thread. The
    parents' counters for reaped children are not used: pyspark's daemon ignores SIGCHLD, so a
    Python worker that exits is reaped by the kernel and its time reaches no parent (summing the
    tree's counters then loses a worker's whole lifetime, which once made a round look 40% cheaper).
    A process that exits loses at most its last ``interval``; one that lives less is missed. The
    sampler's own CPU is subtracted. Linux only; zeros elsewhere.
    """

    def __init__(self, interval: float = 0.2, root: int | None = None) -> None:
        import threading

        self.interval, self.root = interval, os.getpid() if root is None else root
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._base: dict[int, int] = {}
        self._last: dict[int, tuple[str, int]] = {}
        self._own = 0.0

    def _sample(self) -> None:
        self._last.update(_tree_ticks(self.root))

    def _run(self) -> None:
        t0 = time.thread_time()
        while not self._stop.wait(self.interval):
            self._sample()
        self._own = time.thread_time() - t0

    def start(self) -> TreeCpuMeter:
        self._base = {pid: ticks for pid, (_kind, ticks) in _tree_ticks(self.root).items()}
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self._sample()
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        out = {"driver": 0.0, "jvm": 0.0, "python workers": 0.0}
        for pid, (kind, ticks) in self._last.items():
            out[kind] += max(0, ticks - self._base.get(pid, 0)) / tick
        out["driver"] = max(0.0, out["driver"] - self._own)
        return out


def tree_cpu_by_kind(root: int | None = None) -> dict[str, float]:
    """The CPU seconds so far of this process tree's live processes, by kind (see :class:`TreeCpuMeter`,
    which also counts processes that exit during a measurement)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out = {"driver": 0.0, "jvm": 0.0, "python workers": 0.0}
    for kind, ticks in _tree_ticks(os.getpid() if root is None else root).values():
        out[kind] += ticks / tick
    return out


def tree_cpu_seconds(root: int | None = None) -> float:
    """Total CPU seconds so far of this process tree's live processes (see :func:`tree_cpu_by_kind`)."""
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
            meter = TreeCpuMeter().start()
            t0 = time.perf_counter()
            out = fn()
            times[name].append(time.perf_counter() - t0)
            cpus[name].append(sum(meter.stop().values()))
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
              "cpu ratio = baseline cpu / cpu, a cost ratio that other processes on the machine move less than "
              "wall time (they still raise it: cache and memory bandwidth are shared).",
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
    ap.add_argument("--master", default="local[2]",
                    help="Spark master (default local[2]: one task per core; local[1] leaves each task's "
                         "Python worker a core of its own)")
    args = ap.parse_args(argv)
    command = " ".join([".venv/bin/python", os.path.relpath(__file__)] + (argv if argv is not None else sys.argv[1:]))

    data = generate(args.rows, args.files, force=args.regenerate)
    if hasattr(os, "sync"):
        os.sync()  # no write-back of freshly generated files during the timings
    rows = args.rows

    global MASTER
    MASTER = args.master
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

    # 1-2: reads into the same sink (noop: every row and column produced, nothing written), then
    # into an aggregate that reads every value (the noop sink never looks at them).
    native_read, dao_read = "spark read parquet (native) -> noop", 'spark read format("dao") -> noop'
    group(
        [(native_read, lambda: noop(spark.read.parquet(str(data)))),
         (dao_read, lambda: noop(spark.read.format("dao").load("bench.events")))],
        {dao_read: {"baseline": native_read, "target": 0.80}},
    )
    native_agg, dao_agg = "spark read parquet (native) -> aggregate", 'spark read format("dao") -> aggregate'
    same = [round(v, 2) if isinstance(v, float) else v for v in aggregate(spark.read.parquet(str(data)))[0]]
    assert same == [round(v, 2) if isinstance(v, float) else v  # float sums: another order
                    for v in aggregate(spark.read.format("dao").load("bench.events"))[0]], same
    group(
        [(native_agg, lambda: aggregate(spark.read.parquet(str(data)))),
         (dao_agg, lambda: aggregate(spark.read.format("dao").load("bench.events")))],
        {dao_agg: {"baseline": native_agg, "target": 0.80}},
    )

    # 3-4: writes of the same cached DataFrame (snappy parquet both), unpartitioned and partitioned.
    src = spark.read.parquet(str(data)).cache()
    assert src.count() == rows
    dao = DataAccessObject(catalog, spark=spark)
    native_write, dao_write = "spark write parquet (native)", 'spark write format("dao")'
    facade_write = 'dao.write(engine="spark")'
    group(
        [(native_write, lambda: src.write.mode("overwrite").parquet(str(native_out))),
         (dao_write, lambda: src.write.format("dao").mode("overwrite").save("bench.events_out")),
         (facade_write, lambda: dao.write(src, "bench.events_out", mode="overwrite", engine="spark"))],
        {dao_write: {"baseline": native_write, "target": 0.80},
         facade_write: {"baseline": native_write, "target": 0.80}},
    )
    # once more untimed: the last round was dao.write's (Spark's writer on the native path); the
    # read-back and the size below are format("dao")'s
    src.write.format("dao").mode("overwrite").save("bench.events_out")
    back = spark.read.format("dao").load("bench.events_out").count()
    assert back == rows, f"dao write wrote {back} rows, expected {rows}"
    # the same rows, so the bytes on disk say whether a write bought speed with size
    out_sizes = {"native": parquet_bytes(native_out), 'format("dao")': parquet_bytes(DATA_DIR / "out_dao")}
    native_part, dao_part = ('spark write parquet (native) partitionBy("country")',
                             'spark write format("dao"), partitioned by country')
    group(
        [(native_part, lambda: src.write.mode("overwrite").partitionBy("country").parquet(str(native_out))),
         (dao_part, lambda: src.write.format("dao").mode("overwrite").save("bench.events_by_country"))],
        {dao_part: {"baseline": native_part, "target": 0.80}},
    )
    back = spark.read.format("dao").load("bench.events_by_country")
    assert back.count() == rows, "dao partitioned write lost rows"
    assert back.select("country").distinct().count() == len(COUNTRIES)
    src.unpersist(blocking=True)

    # 5-6: in-process engines and their native baselines.
    if not args.skip_local:
        import pandas as pd
        import pyarrow.parquet as pq

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
    env["spark master"] = MASTER
    env["unpartitioned write output"] = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in out_sizes.items())
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
