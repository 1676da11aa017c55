"""What a Python worker of ``df.write.format("dao").save(name)`` spends, without Spark (issue 12).

    .venv/bin/python bench/bench_stage.py                  # 4M rows (one task of bench_local's write), 7 rounds

One process replays one write task of ``bench_local.py``: the first 4M rows of its 8M-row dataset
as an Arrow IPC stream of 10,000-row batches (what Spark sends a worker), read through a buffered
Python file (pyspark reads its socket the same way: every batch arrives in fresh ``bytes``), into
``FilesInterface.stage`` of the ``bench.events_out`` object, then aborted. Variants, interleaved:

- ``stage``: the code as it is.
- ``stage, as before``: dictionary encoding on every column and the incoming batches held until
  their row group is written (``_dictionary_columns`` and ``_own`` patched out): the code before
  this measurement.
- ``ParquetWriter only``: the same batches into one ``pq.ParquetWriter`` with pyarrow's defaults
  (no dao code), and without compression: what the parquet encoding itself costs.

CPU seconds are this process's (user + system, all threads), minor page faults too; the size is
the written file. Each measurement runs in a fresh process (the C allocator's state, which one
variant leaves behind, changes the next one's page faults): one warm-up run, then the measured
one. Medians of ``--repeat`` interleaved rounds.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))


def main(argv: list[str] | None = None) -> int:
    import bench_local as bl
    import pyarrow as pa
    import pyarrow.parquet as pq

    from spark_dao.catalog import Catalog
    from spark_dao.interfaces import _staging, get_interface

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=4_000_000, help="rows of one task (default 4M)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--batch", type=int, default=10_000, help="rows per incoming batch (Spark: 10,000)")
    ap.add_argument("--variant", help=argparse.SUPPRESS)  # the child process: measure this one
    args = ap.parse_args(argv)

    data = bl.generate(8_000_000, 8)
    stream = bl.DATA_DIR / f"_stage_{args.rows}_{args.batch}.arrows"
    if not stream.exists():
        table = pq.read_table(data).slice(0, args.rows)
        with pa.ipc.new_stream(str(stream), table.schema) as w:
            for b in table.to_batches(max_chunksize=args.batch):
                w.write_batch(b)
        del table
    schema = pa.ipc.open_stream(str(stream)).schema
    catalog = Catalog.load(bl.catalog_for(data))
    obj = catalog.get("bench.events_out")
    itf = get_interface(obj.store)
    out = bl.DATA_DIR / "_stage_out.parquet"

    def batches():
        with open(stream, "rb", buffering=65536) as fh:
            yield from pa.ipc.open_stream(fh)

    def stage() -> int:
        job = uuid.uuid4().hex
        spec = itf.start_job(obj, itf.prepare_write(obj, schema, {"mode": "overwrite"}), job)
        part = itf.stage(obj, batches(), spec, job)
        size = sum(f.size for f in part.files)
        itf.abort(obj, [part], spec)
        return size

    def as_before() -> int:
        own, choose = _staging._own, _staging._dictionary_columns
        _staging._own, _staging._dictionary_columns = (lambda b: b), (lambda t: True)
        try:
            return stage()
        finally:
            _staging._own, _staging._dictionary_columns = own, choose

    def writer(**kw) -> Callable[[], int]:
        def run() -> int:
            with pq.ParquetWriter(str(out), schema, **kw) as w:
                pending, rows = [], 0
                for b in batches():
                    pending.append(b)
                    rows += b.num_rows
                    if rows >= 1 << 20:
                        w.write_table(pa.Table.from_batches(pending), row_group_size=1 << 20)
                        pending, rows = [], 0
                if pending:
                    w.write_table(pa.Table.from_batches(pending), row_group_size=1 << 20)
            return out.stat().st_size
        return run

    ops = [("stage", stage), ("stage, as before", as_before),
           ("ParquetWriter only (snappy)", writer(compression="snappy")),
           ("ParquetWriter only (uncompressed)", writer(compression="none"))]

    def usage() -> tuple[float, int]:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime, r.ru_minflt

    if args.variant:
        fn = dict(ops)[args.variant]
        fn()  # warm-up
        gc.collect()
        c0, f0 = usage()
        size = fn()
        c1, f1 = usage()
        print(json.dumps([c1 - c0, f1 - f0, size]))
        return 0
    results: dict[str, list[tuple[float, int, int]]] = {name: [] for name, _ in ops}
    child = [sys.executable, __file__, "--rows", str(args.rows), "--batch", str(args.batch), "--variant"]
    for _ in range(args.repeat):
        for name, _ in ops:
            done = subprocess.run([*child, name], capture_output=True, text=True, check=True)
            results[name].append(tuple(json.loads(done.stdout.strip().splitlines()[-1])))
    base = statistics.median(c for c, _, _ in results["stage, as before"])
    lines = [f"rows: {args.rows:,} in {args.batch:,}-row batches | rounds: {args.repeat} | medians", "",
             "| variant | cpu s | vs as before | minor faults | size MB |", "|---|---:|---:|---:|---:|"]
    for name, _ in ops:
        cpu = statistics.median(c for c, _, _ in results[name])
        faults = statistics.median(f for _, f, _ in results[name])
        lines.append(f"| {name} | {cpu:.2f} | {cpu / base:.2f} | {faults:,.0f} | {results[name][-1][2] / 1e6:.1f} |")
    env = bl.environment()
    command = " ".join([".venv/bin/python", os.path.relpath(__file__), *(sys.argv[1:] if argv is None else argv)])
    lines += ["", f"- machine: {env['machine']}", f"- pyarrow {env['pyarrow']}, python {env['python']}, "
              f"spark_dao {env['spark_dao code']}", f"- command: `{command}`"]
    out.unlink(missing_ok=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
