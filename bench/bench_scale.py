"""Scale benchmark (issue 12 §3): time and peak memory of reads, writes and upserts as the table grows.

    .venv/bin/python bench/bench_scale.py --quick                       # a small smoke run (~3 min)
    .venv/bin/python bench/bench_scale.py --repeat 1 --out bench/results_scale.md --plot docs/img/bench_scale.png

1. Reads and writes of bench_local's dataset (its generator, files of 1M rows) at ``--rows`` (8M, 80M):
   native Spark (``spark.read.parquet`` / ``df.write.parquet``), the DAO's native path
   (``dao.read/write(..., engine="spark", options={"engine_path": "native"})``) and the Python data
   source (``format("dao")``). Reads go to the ``noop`` sink and to an aggregate over every column
   (a count per column and a sum of a hash of all of them). Writes write ``spark.read.parquet(dataset)``
   (the same source read for every path) into an empty folder.
2. Upserts of the same 30,000-row batch (15,000 updates in 2 of 30 daily partitions, 15,000 inserts)
   into tables of ``--upsert-rows`` (3M, 30M, 100M) rows, files of at most 250,000 rows, with the pandas
   engine (``dao.upsert(pandas_df, name, engine="pandas")``) and the Spark engine
   (``dao.upsert(spark_df, name)``). Every run starts from a hard-linked copy of the same table.
3. Peak memory of every run: the Python driver, the JVM (in local mode the driver JVM, which also runs
   the tasks) and the largest Python worker; driver memory must not grow with the table (≤ 1.5x from
   the smallest to the largest upsert table, else MISS).

Data generation and Spark start-up are not timed; the operations of one size run in interleaved rounds.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import bench_local
from _scale_support import (
    DAYS,
    ROWS_PER_FILE,
    SCALE_DIR,
    Peaks,
    TreeSampler,
    _status_kb,
    drop_copy,
    fresh_copy,
    generate_upsert_table,
    upsert_batch,
    upsert_catalog,
)
from bench_local import environment, noop, start_spark, tree_cpu_seconds, wait_for_quiet

bench_local.DATA_DIR = SCALE_DIR  # our datasets live in bench/_data/scale/, apart from the other benchmarks'

NATIVE, DAO_NATIVE, DAO_PY = "native Spark", "dao native path", 'format("dao")'
PATHS = (NATIVE, DAO_NATIVE, DAO_PY)
SLACK = 1.5  # driver peak at the largest table / at the smallest: above this, MISS


@dataclass
class Run:
    section: str  # "read noop", "read agg", "write", "upsert"
    rows: int
    op: str  # a path (NATIVE, DAO_NATIVE, DAO_PY) or an upsert engine
    label: str
    times: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    peaks: list[Peaks] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return statistics.median(self.times)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)

    def peak(self, attr: str) -> float:
        return max(getattr(p, attr) for p in self.peaks)

    def driver_growth(self) -> float:
        return max(p.driver_mb - p.driver_start_mb for p in self.peaks)


@dataclass
class ChildRun:
    """A run measured inside a child process: its own clock, CPU seconds and peak memory."""

    seconds: float
    cpu: float
    peaks: Peaks
    result: Any


Op = tuple[Run, Callable[[], Any], Callable[[], None] | None, Callable[[Any], None] | None]  # run, fn, setup, check


BUSY: list[float] = []  # CPU busy (other processes) before each timed run


def timed(fn: Callable[[], Any], quiet_wait: float) -> tuple[float, float, Peaks, Any]:
    gc.collect()
    if quiet_wait:
        BUSY.append(wait_for_quiet(quiet_wait))
    with TreeSampler() as sampler:
        c0 = tree_cpu_seconds()
        t0 = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t0
        cpu = tree_cpu_seconds() - c0
    return seconds, cpu, sampler.peaks, out


def run_rounds(ops: list[Op], repeat: int, warm_up: bool, quiet_wait: float) -> None:
    """Warm each op up once (untimed) if asked, then ``repeat`` interleaved rounds of all of them."""
    for rnd in range(-1 if warm_up else 0, repeat):
        for run, fn, setup, check in ops:
            if setup:
                setup()
            seconds, cpu, peaks, out = timed(fn, quiet_wait if rnd >= 0 else 0.0)
            if isinstance(out, ChildRun):
                seconds, cpu, peaks, out = out.seconds, out.cpu, out.peaks, out.result
            if check:
                check(out)
            del out
            tag = "warm-up" if rnd < 0 else f"round {rnd + 1}"
            print(f"   {tag}: {run.section} {run.rows:,} {run.label}: {seconds:.2f}s wall, {cpu:.1f}s cpu, "
                  f"driver {peaks.driver_mb:.0f} MB, jvm {peaks.jvm_mb:.0f} MB, worker {peaks.worker_mb:.0f} MB",
                  flush=True)
            if rnd >= 0:
                run.times.append(seconds)
                run.cpus.append(cpu)
                run.peaks.append(peaks)


def generate_in_child(kind: str, rows: int) -> None:
    """Generate a dataset in a child process, so the driver's memory is not the generator's."""
    subprocess.run([sys.executable, __file__, "--_generate", kind, str(rows)], check=True)


def upsert_in_child(rows: int) -> ChildRun:
    """The pandas-engine upsert in a fresh Python process (no Spark, nothing left over from other runs),
    so its peak memory is the upsert's own."""
    proc = subprocess.run([sys.executable, __file__, "--_upsert", str(rows)], check=True, capture_output=True,
                          text=True)
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    peaks = Peaks(driver_mb=data["peak_mb"], driver_start_mb=data["start_mb"])
    return ChildRun(data["seconds"], data["cpu"], peaks, SimpleNamespace(**data["result"]))


def child_upsert(rows: int) -> None:
    """``--_upsert ROWS``: upsert the batch into the work copy with the pandas engine; print the measures."""
    from spark_dao import DataAccessObject

    name = f"scale.up_{rows}"
    batch = upsert_batch(rows)
    pdf = batch.table.to_pandas()
    dao = DataAccessObject(upsert_catalog({name: f"upsert_{rows}_work"}))
    dao.resolve(name)
    gc.collect()
    pid = os.getpid()
    start = _status_kb(pid, "VmRSS:") / 1024
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass
    c0, t0 = sum(os.times()[:2]), time.perf_counter()
    result = dao.upsert(pdf, name, engine="pandas")
    seconds, cpu = time.perf_counter() - t0, sum(os.times()[:2]) - c0
    peak = _status_kb(pid, "VmHWM:") / 1024
    fields = ("rows_updated", "rows_inserted", "rows_written", "files_rewritten")
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak, "start_mb": start,
                      "result": {k: getattr(result, k) for k in fields}}))


def agg(df: Any) -> Any:
    """An aggregate that touches every value: a count per column and a sum of a hash of all columns."""
    from pyspark.sql import functions as F

    return df.agg(*[F.count(c) for c in df.columns], F.sum(F.hash(*df.columns).cast("long"))).collect()


# --------------------------------------------------------------------------- sections
def read_write_ops(spark: Any, dao: Any, rows: int, native_path: bool, sections: set[str]) -> list[Op]:
    data = bench_local.dataset_dir(rows)
    name = f"scale.events_{rows}"
    readers: dict[str, Callable[[], Any]] = {
        NATIVE: lambda: spark.read.parquet(str(data)),
        DAO_NATIVE: lambda: dao.read(name, engine="spark", options={"engine_path": "native"}),
        DAO_PY: lambda: spark.read.format("dao").load(name),
    }
    paths = [p for p in PATHS if native_path or p != DAO_NATIVE]
    ops: list[Op] = []

    def check_agg(out: Any) -> None:
        counts = list(out[0])[:-1]
        assert counts[0] == rows, f"the aggregate counted {counts[0]} ids, expected {rows}"

    for sink, fn in (("noop", noop), ("agg", agg)):
        if f"read {sink}" not in sections and "reads" not in sections:
            continue
        for p in paths:
            run = Run(f"read {sink}", rows, p, f"{p} read → {sink}")
            ops.append((run, (lambda r=readers[p], f=fn: f(r())), None, check_agg if sink == "agg" else None))
    if "writes" in sections:
        native_out, dao_out = SCALE_DIR / "out_native", SCALE_DIR / "out_dao"
        writers: dict[str, Callable[[], Any]] = {
            NATIVE: lambda: spark.read.parquet(str(data)).write.mode("overwrite").parquet(str(native_out)),
            DAO_NATIVE: lambda: dao.write(spark.read.parquet(str(data)), "scale.out", mode="overwrite",
                                          engine="spark", options={"engine_path": "native"}),
            DAO_PY: lambda: spark.read.parquet(str(data)).write.format("dao").mode("overwrite").save("scale.out"),
        }

        def empty_outputs() -> None:
            for d in (native_out, dao_out):
                shutil.rmtree(d, ignore_errors=True)

        def check_written(p: str) -> Callable[[Any], None]:
            def check(_: Any) -> None:
                out = native_out if p == NATIVE else dao_out
                n = spark.read.parquet(str(out)).count()
                assert n == rows, f"{p} wrote {n} rows, expected {rows}"
            return check

        for p in paths:
            ops.append((Run("write", rows, p, f"{p} write"), writers[p], empty_outputs, check_written(p)))
    return ops


def upsert_ops(spark: Any, dao: Any, rows: int, engines: list[str]) -> list[Op]:
    batch = upsert_batch(rows)
    name = f"scale.up_{rows}"
    sdf = spark.createDataFrame(batch.table.to_pandas()) if {"spark", "spark-python"} & set(engines) else None

    def check(out: Any) -> None:
        assert out.rows_updated == batch.updated and out.rows_inserted == batch.inserted, (
            f"upsert into {rows:,} rows: updated {out.rows_updated}, inserted {out.rows_inserted}; "
            f"expected {batch.updated} and {batch.inserted}")
        run_by_engine[current[0]].notes.append(
            f"{out.files_rewritten} files rewritten, {out.rows_written:,} rows written")

    current = [""]
    run_by_engine: dict[str, Run] = {}
    ops: list[Op] = []
    for engine in engines:
        label = {"pandas": 'dao.upsert(pandas_df, engine="pandas")  [own process]',
                 "spark": "dao.upsert(spark_df)  [Spark engine, native rewrite]",
                 "spark-python": 'dao.upsert(spark_df, options={"engine_path": "python"})  [Spark engine, '
                                 "Python path]"}[engine]
        run = Run("upsert", rows, engine, label)
        run_by_engine[engine] = run
        fn = ((lambda: upsert_in_child(rows)) if engine == "pandas"
              else (lambda: dao.upsert(sdf, name, options={"engine_path": "python"})) if engine == "spark-python"
              else (lambda: dao.upsert(sdf, name, options={"engine_path": "native"})))

        def setup(e: str = engine) -> None:
            current[0] = e
            drop_copy(rows)
            fresh_copy(rows)

        ops.append((run, fn, setup, check))
    return ops


# --------------------------------------------------------------------------- report
def render(runs: list[Run], env: dict[str, str], command: str, repeat: int, upsert_repeat: int,
           native_path: bool) -> str:
    def mb(x: float) -> str:
        return f"{x:,.0f}" if x else "–"

    lines = [f"Timed runs per operation: {repeat} for reads and writes, {upsert_repeat} for upserts, after one "
             "untimed warm-up of each at the smallest size (median seconds; peaks: the maximum over the runs).", ""]
    rw = [r for r in runs if r.section != "upsert"]
    if rw:
        lines += ["### Reads and writes (files store, parquet)", "",
                  "| rows | operation | seconds | rows/s | ratio | cpu s | cpu ratio | driver peak MB | "
                  "JVM peak MB | worker peak MB |",
                  "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        base = {(r.section, r.rows): r for r in rw if r.op == NATIVE}
        for r in rw:
            b = base.get((r.section, r.rows))
            ratio = f"{b.seconds / r.seconds:.2f}x" if b and r is not b else ""
            cratio = f"{b.cpu / r.cpu:.2f}x" if b and r is not b and r.cpu else ""
            lines.append(f"| {r.rows:,} | {r.label} | {r.seconds:.2f} | {r.rows / r.seconds / 1e6:.2f} M | {ratio} | "
                         f"{r.cpu:.1f} | {cratio} | {mb(r.peak('driver_mb'))} | {mb(r.peak('jvm_mb'))} | "
                         f"{mb(r.peak('worker_mb'))} |")
        lines += ["", "ratio = native seconds / seconds at the same size and sink, measured in the same rounds "
                  "(1.00x = as fast as native); cpu ratio the same with CPU seconds of the whole process tree."]
        if not native_path:
            lines += ["The DAO's native path was not measured (`--native-path off`, or "
                      "`spark_dao/engines/files_native.py` absent in this code)."]
        lines.append("")
    ups = [r for r in runs if r.section == "upsert"]
    if ups:
        smallest = min(r.rows for r in ups)
        first = {r.op: r for r in ups if r.rows == smallest}
        lines += ["### Upserts of the same 30,000-row batch", "",
                  "| table rows | operation | seconds | x time at smallest | cpu s | driver peak MB | "
                  "driver growth MB | JVM peak MB | worker peak MB | rewritten |",
                  "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in ups:
            f = first[r.op]
            notes = sorted(set(r.notes))
            lines.append(f"| {r.rows:,} | {r.label} | {r.seconds:.2f} | {r.seconds / f.seconds:.2f}x | {r.cpu:.1f} | "
                         f"{mb(r.peak('driver_mb'))} | {mb(r.driver_growth())} | {mb(r.peak('jvm_mb'))} | "
                         f"{mb(r.peak('worker_mb'))} | {'; '.join(notes)} |")
        lines.append("")
        largest = max(r.rows for r in ups)
        for op, f in first.items():
            last = next((r for r in ups if r.op == op and r.rows == largest), None)
            if last is None or last is f:
                continue
            growth = last.peak("driver_mb") / f.peak("driver_mb")
            verdict = "PASS" if growth <= SLACK else "MISS"
            workers = (f"; largest worker {f.peak('worker_mb'):,.0f} → {last.peak('worker_mb'):,.0f} MB "
                       f"({last.peak('worker_mb') / f.peak('worker_mb'):.2f}x)" if f.peak("worker_mb") else "")
            lines.append(f"- {verdict}: {f.label}: driver peak {f.peak('driver_mb'):,.0f} MB at {smallest:,} rows, "
                         f"{last.peak('driver_mb'):,.0f} MB at {largest:,} rows ({growth:.2f}x; bound ≤ {SLACK}x)"
                         f"{workers}; time {last.seconds / f.seconds:.2f}x for "
                         f"{largest / smallest:.0f}x the rows")
        lines += ["", f"Table: {DAYS} daily partitions, files of at most {ROWS_PER_FILE:,} rows, key `id`. Batch: "
                  "7,500 updates among the newest 100,000 ids of each of the last 2 days and 15,000 new ids on "
                  "the last day. The pandas engine runs each upsert in a fresh Python process (no Spark), so its driver "
                  "peak is the upsert's own; driver growth = peak minus the RSS when the run started. With the Spark "
                  "engine the merge runs in the data source's commit, in a Python process the JVM starts "
                  "(counted as a worker).", ""]
    lines += ["Peak memory: resident set (VmHWM, reset before each run, sampled every 50 ms) of the Python driver, "
              "the JVM and the largest single Python worker.", "", "Environment:"]
    lines += [f"- {k}: {v}" for k, v in env.items()]
    lines += [f"- command: `{command}`"]
    return "\n".join(lines) + "\n"


def load_runs(path: Path) -> list[Run]:
    """Runs saved by ``--out`` (the .json next to it), or read back from the markdown tables (medians only)."""
    if path.suffix == ".json":
        return [Run(**{**d, "peaks": [Peaks(**p) for p in d["peaks"]]}) for d in json.loads(path.read_text())]
    runs = []
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 9 or not cells[0].replace(",", "").isdigit():
            continue
        rows, label, seconds = int(cells[0].replace(",", "")), cells[1], float(cells[2])
        if "upsert" in label:
            section, op = "upsert", "pandas" if "pandas" in label else "spark"
        else:
            op = next(p for p in PATHS if label.startswith(p))
            section = "write" if label.endswith("write") else f"read {label.rsplit(' ', 1)[-1]}"
        runs.append(Run(section, rows, op, label, [seconds], [float(cells[5 if section != "upsert" else 4])]))
    return runs


def plot(runs: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    panels = [("read noop", "read → noop sink"), ("read agg", "read → aggregate of every column"),
              ("write", "write (spark.read.parquet → writer)"), ("upsert", "upsert of the same 30k-row batch")]
    panels = [(s, t) for s, t in panels if any(r.section == s for r in runs)]
    if not panels:
        return
    cols = 2 if len(panels) > 2 else len(panels)
    nrows = -(-len(panels) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5.2 * cols, 3.8 * nrows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    colors = {NATIVE: "tab:blue", DAO_NATIVE: "tab:green", DAO_PY: "tab:orange", "pandas": "tab:purple",
              "spark": "tab:red"}
    for ax, (section, title) in zip(flat, panels, strict=False):
        mine = [r for r in runs if r.section == section]
        for op in dict.fromkeys(r.op for r in mine):
            pts = sorted({r.rows: r for r in mine if r.op == op}.items())  # a later run of a size wins
            xs = [x for x, _ in pts]
            if section == "upsert":
                ys = [r.seconds for _, r in pts]
            else:
                ys = [r.rows / r.seconds / 1e6 for _, r in pts]
            ax.plot(xs, ys, marker="o", color=colors.get(op), label=op if section != "upsert" else f"{op} engine")
        ax.set_xscale("log")
        sizes_ = sorted({r.rows for r in mine})
        ax.set_xticks(sizes_, [f"{n / 1e6:g}M" for n in sizes_])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("table rows" if section == "upsert" else "rows")
        ax.set_ylabel("seconds" if section == "upsert" else "throughput (M rows/s)")
        ax.set_ylim(bottom=0)
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"plot written to {path}")


# --------------------------------------------------------------------------- main
def sizes(text: str) -> list[int]:
    return sorted({int(float(x)) for x in text.split(",") if x.strip()})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=sizes, default=sizes("8000000,80000000"), help="read/write sizes")
    ap.add_argument("--upsert-rows", type=sizes, default=sizes("3000000,30000000,100000000"),
                    help="sizes of the upsert target tables")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per operation (default 2)")
    ap.add_argument("--upsert-repeat", type=int, help="timed runs per upsert (default: --repeat)")
    ap.add_argument("--only", action="append", choices=("reads", "read noop", "read agg", "writes", "upserts"),
                    help="measure only these (repeatable)")
    ap.add_argument("--engines", default="pandas,spark,spark-python",
                    help="upsert engines: pandas, spark (the native rewrite), spark-python (the Python path); "
                         "default all three")
    ap.add_argument("--native-path", choices=("auto", "on", "off"), default="auto",
                    help='the DAO native path rows (options={"engine_path": "native"}); auto: when '
                         "spark_dao/engines/files_native.py exists")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 1M/2M rows, upsert tables of 300k/1M")
    ap.add_argument("--quiet-wait", type=float, default=10.0,
                    help="wait up to this many seconds for other processes to leave the CPUs before a run")
    ap.add_argument("--out", type=Path, help="write the markdown tables to this file")
    ap.add_argument("--plot", type=Path, help="write the PNG plot to this file")
    ap.add_argument("--drop-data", action="store_true", help="delete the generated datasets of ≥ 50M rows at the end")
    ap.add_argument("--plot-from", type=Path, nargs="+", metavar="JSON",
                    help="only draw --plot (and write --out) from the runs saved next to earlier --out files (.json)")
    ap.add_argument("--_generate", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--_upsert", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._upsert:
        child_upsert(args._upsert)
        return 0
    if args._generate:
        kind, n = args._generate[0], int(args._generate[1])
        if kind == "events":
            bench_local.generate(n, max(1, n // 1_000_000))
        else:
            generate_upsert_table(n)
        return 0
    command = " ".join([".venv/bin/python", os.path.relpath(__file__)] + (argv if argv is not None else sys.argv[1:]))
    if args.plot_from:
        runs = [r for f in args.plot_from for r in load_runs(f)]
        if args.plot:
            plot(runs, args.plot)
        return 0
    if args.quick:
        args.rows, args.upsert_rows = [1_000_000, 2_000_000], [300_000, 1_000_000]
    sections = set(args.only or ("reads", "writes", "upserts"))
    rw = sections - {"upserts"}
    native_path = args.native_path == "on" or (
        args.native_path == "auto" and importlib.util.find_spec("spark_dao.engines.files_native") is not None)
    upsert_repeat = args.upsert_repeat or args.repeat
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    SCALE_DIR.mkdir(parents=True, exist_ok=True)

    # data first, each in a child process (not timed)
    if rw:
        for n in args.rows:
            generate_in_child("events", n)
    if "upserts" in sections:
        for n in args.upsert_rows:
            generate_in_child("upsert", n)
    if hasattr(os, "sync"):
        os.sync()

    import spark_dao
    from spark_dao import DataAccessObject

    catalog = upsert_catalog({f"scale.up_{n}": f"upsert_{n}_work" for n in args.upsert_rows})
    catalog["objects"].update({f"scale.events_{n}": {"path": f"events_{n}"} for n in args.rows})
    catalog["objects"]["scale.out"] = {"path": "out_dao"}
    t0 = time.perf_counter()
    spark = start_spark()
    print(f"spark session started in {time.perf_counter() - t0:.1f}s (not timed)", flush=True)
    spark_dao.register(spark, catalog)
    dao = DataAccessObject(catalog, spark=spark)
    runs: list[Run] = []
    try:
        if "upserts" in sections:
            for i, n in enumerate(args.upsert_rows):
                ops = upsert_ops(spark, dao, n, engines)
                run_rounds(ops, upsert_repeat, warm_up=i == 0, quiet_wait=args.quiet_wait)
                runs += [op[0] for op in ops]
                drop_copy(n)
        if rw:
            for i, n in enumerate(args.rows):
                ops = read_write_ops(spark, dao, n, native_path, sections)
                run_rounds(ops, args.repeat, warm_up=i == 0, quiet_wait=args.quiet_wait)
                runs += [op[0] for op in ops]
                for d in ("out_native", "out_dao"):
                    shutil.rmtree(SCALE_DIR / d, ignore_errors=True)
    finally:
        spark.stop()
        if args.drop_data:
            for n in [*args.rows, *args.upsert_rows]:
                if n >= 50_000_000:
                    for d in (f"events_{n}", f"upsert_{n}"):
                        shutil.rmtree(SCALE_DIR / d, ignore_errors=True)
    env = environment()
    import matplotlib

    env["matplotlib"] = matplotlib.__version__
    if BUSY:
        env["other load"] = (f"CPU busy before timed runs (other processes): median {statistics.median(BUSY):.0%}, "
                             f"max {max(BUSY):.0%}")
    table = render(runs, env, command, args.repeat, upsert_repeat, native_path)
    print()
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")
        args.out.with_suffix(".json").write_text(json.dumps([asdict(r) for r in runs], indent=1), encoding="utf-8")
        print(f"written to {args.out}")
    if args.plot:
        plot(runs, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
