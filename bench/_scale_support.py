"""Helpers of ``bench_scale.py``: the process-tree memory sampler and the upsert tables and batches.

Not a benchmark on its own (``bench_scale.py`` runs it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_local import COUNTRIES, WORDS

BENCH_DIR = Path(__file__).resolve().parent
SCALE_DIR = BENCH_DIR / "_data" / "scale"
UPSERT_DATA_VERSION = 1
DAYS = 30
ROWS_PER_FILE = 250_000  # the stored table's files (max_rows_per_file), the same at every size
BATCH_UPDATES_PER_DAY = 7_500  # updates in each of the last 2 days ...
BATCH_INSERTS = 15_000  # ... and inserts in the last day: a batch of 30,000 rows at every size
WINDOW = 100_000  # the updates hit the newest WINDOW ids of each of the 2 days


# --------------------------------------------------------------------------- memory
def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (``/proc/<pid>/task/*/children``; no scan of all of /proc)."""
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                out += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def _tree(root: int) -> dict[int, str]:
    """pid -> kind (``driver``, ``jvm``, ``worker``) of ``root`` and its descendants that are one."""
    out = {root: "driver"}
    todo = [root]
    while todo:
        for child in _children(todo.pop()):
            try:
                comm = Path(f"/proc/{child}/comm").read_text().strip()
            except OSError:
                continue
            # a Python worker (pyspark.daemon and its forks) or the JVM; anything else (a shell command
            # the JVM forks, briefly sharing its pages) is not a worker, but its children are looked at
            kind = "jvm" if comm == "java" else "worker" if comm.startswith("python") or "pyspark" in comm else ""
            if kind:
                out[child] = kind
            todo.append(child)
    return out


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class Peaks:
    driver_mb: float = 0.0  # the Python driver process
    jvm_mb: float = 0.0  # the Spark JVM (in local mode: the driver JVM, which also runs the tasks)
    worker_mb: float = 0.0  # the largest single Python worker (pyspark.daemon and its forks)
    driver_start_mb: float = 0.0  # the driver's RSS when the operation started


class TreeSampler:
    """Peak RSS of this process tree while a block runs: ``with TreeSampler() as s: ...; s.peaks``.

    Every process's high-water mark (``VmHWM``) is reset at the start (``/proc/<pid>/clear_refs``)
    and read every ``interval`` seconds from a background thread, so a peak between two samples is
    not missed; only a process born and gone within one interval is. Linux only (zeros elsewhere).
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peaks = Peaks()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-mem-sampler", daemon=True)
        self._root = os.getpid()

    def _sample(self, tree: dict[int, str]) -> None:
        p = self.peaks
        for pid, kind in tree.items():
            mb = _status_kb(pid, "VmHWM:") / 1024
            if kind == "driver":
                p.driver_mb = max(p.driver_mb, mb)
            elif kind == "jvm":
                p.jvm_mb = max(p.jvm_mb, mb)
            else:
                p.worker_mb = max(p.worker_mb, mb)

    def _run(self) -> None:
        tree = _tree(self._root)
        n = 0
        while not self._stop.is_set():
            if n % 10 == 0:  # new workers: look for them every 10 samples
                tree = _tree(self._root)
                for pid in tree:
                    if pid not in self._reset:
                        self._clear(pid)
            self._sample(tree)
            n += 1
            self._stop.wait(self.interval)
        self._sample(_tree(self._root))

    def _clear(self, pid: int) -> None:
        self._reset.add(pid)
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        except OSError:
            pass

    def __enter__(self) -> TreeSampler:
        self._reset: set[int] = set()
        for pid in _tree(self._root):
            self._clear(pid)
        self.peaks.driver_start_mb = _status_kb(self._root, "VmRSS:") / 1024
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------- upsert tables
def upsert_catalog(tables: dict[str, str]) -> dict:
    """A files store on bench/_data/scale with one upsert target per name (name -> folder)."""
    return {
        "stores": {"scale": {"interface": "files", "path": str(SCALE_DIR), "format": "parquet"}},
        "objects": {name: {"path": folder, "partition_by": ["day"], "keys": ["id"]}
                    for name, folder in tables.items()},
    }


def _day_bounds(rows: int) -> list[int]:
    """First id of each day (and ``rows`` at the end): ids ascend with the day, as daily appends do."""
    return [-(-d * rows // DAYS) for d in range(DAYS)] + [rows]


def _rows(ids: Any, day_idx: Any, rng: Any, text_prefix: str | None = None) -> Any:
    """Rows of bench_local's schema for ``ids`` on days ``day_idx`` (0..29 from 2025-06-01)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(ids)
    weights = 1.0 / np.arange(1, len(COUNTRIES) + 1)
    weights /= weights.sum()
    day0 = np.datetime64("2025-06-01", "D")
    days = (day0 + day_idx.astype("timedelta64[D]")).astype("datetime64[D]")
    ts = days.astype("datetime64[us]").astype(np.int64) + rng.integers(0, 86_400 * 1_000_000, n, dtype=np.int64)
    if text_prefix is None:
        text = pc.binary_join_element_wise(
            pa.array(WORDS).take(pa.array(rng.integers(0, len(WORDS), n, dtype=np.int32))),
            pc.cast(pa.array(rng.integers(0, 100_000, n, dtype=np.int64)), pa.string()), "-")
        text = pc.if_else(pa.array(rng.random(n) < 0.05), pa.scalar(None, pa.string()), text)
    else:
        text = pa.array([f"{text_prefix}-{i}" for i in range(n)])
    return pa.table({
        "id": pa.array(ids, type=pa.int64()),
        "user_id": pa.array(rng.integers(0, 2_000_000, n, dtype=np.int64)),
        "country": pa.array(COUNTRIES).take(pa.array(rng.choice(len(COUNTRIES), n, p=weights).astype(np.int32))),
        "amount": pa.array(np.round(rng.lognormal(3.0, 1.0, n), 2)),
        "event_ts": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
        "day": pa.array(days, type=pa.date32()),
        "text": text,
    })


def upsert_master(rows: int) -> Path:
    return SCALE_DIR / f"upsert_{rows}"


def generate_upsert_table(rows: int) -> Path:
    """The stored table of ``rows`` rows, 30 daily partitions, files of at most 250,000 rows, written
    by the DAO itself (streamed: memory holds a chunk, not the table). Cached with a marker file."""
    import numpy as np

    from spark_dao import DataAccessObject
    from spark_dao.engines.local import write_batches

    master = upsert_master(rows)
    marker = SCALE_DIR / f"upsert_{rows}.json"
    meta = {"rows": rows, "days": DAYS, "rows_per_file": ROWS_PER_FILE, "version": UPSERT_DATA_VERSION}
    if marker.exists() and master.exists():
        try:
            if json.loads(marker.read_text()) == meta:
                return master
        except ValueError:
            pass
    marker.unlink(missing_ok=True)
    if master.exists():
        shutil.rmtree(master)
    t0 = time.perf_counter()
    dao = DataAccessObject(upsert_catalog({"scale.master": master.name}))
    bounds = np.array(_day_bounds(rows))
    schema = _rows(np.arange(1), np.zeros(1, dtype=np.int64), np.random.default_rng(0)).schema

    def batches():
        chunk = 1_000_000
        for lo in range(0, rows, chunk):
            ids = np.arange(lo, min(rows, lo + chunk), dtype=np.int64)
            day_idx = np.searchsorted(bounds, ids, side="right") - 1
            yield from _rows(ids, day_idx, np.random.default_rng(lo)).to_batches()

    write_batches(dao.resolve("scale.master"), schema, batches(),
                  {"mode": "overwrite", "max_rows_per_file": ROWS_PER_FILE})
    marker.write_text(json.dumps(meta))
    size = sum(p.stat().st_size for p in master.rglob("*.parquet"))
    files = sum(1 for _ in master.rglob("*.parquet"))
    print(f"generated the upsert table: {rows:,} rows in {files} files ({size / 1e6:.0f} MB) at {master} "
          f"in {time.perf_counter() - t0:.1f}s", flush=True)
    return master


@dataclass
class Batch:
    table: Any  # pa.Table: 15,000 updates (7,500 in each of the last 2 days) + 15,000 inserts
    updated: int
    inserted: int
    days: list[str] = field(default_factory=list)


def upsert_batch(rows: int, seed: int = 7) -> Batch:
    """The same batch for a table of any size: 7,500 updates among the newest 100,000 ids of each of the
    last 2 days, 15,000 new ids on the last day; shuffled (arrival order)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    bounds = _day_bounds(rows)
    parts = []
    for day in (DAYS - 2, DAYS - 1):
        lo, hi = max(bounds[day], bounds[day + 1] - WINDOW), bounds[day + 1]
        ids = np.sort(rng.choice(np.arange(lo, hi, dtype=np.int64), size=BATCH_UPDATES_PER_DAY, replace=False))
        parts.append(_rows(ids, np.full(len(ids), day), rng, text_prefix="corrected"))
    new_ids = np.arange(rows, rows + BATCH_INSERTS, dtype=np.int64)
    parts.append(_rows(new_ids, np.full(BATCH_INSERTS, DAYS - 1), rng, text_prefix="inserted"))
    table = pa.concat_tables(parts)
    table = table.take(pa.array(rng.permutation(table.num_rows)))
    return Batch(table, 2 * BATCH_UPDATES_PER_DAY, BATCH_INSERTS,
                 sorted({str(d) for d in table["day"].unique().to_pylist()}))


def fresh_copy(rows: int) -> str:
    """A hard-linked copy of the stored table to upsert into (an upsert never edits a file in place:
    it adds new files and removes replaced ones), so every run starts from the same table."""
    work = SCALE_DIR / f"upsert_{rows}_work"
    if work.exists():
        shutil.rmtree(work)
    subprocess.run(["cp", "-al", str(upsert_master(rows)), str(work)], check=True)
    return work.name


def drop_copy(rows: int) -> None:
    shutil.rmtree(SCALE_DIR / f"upsert_{rows}_work", ignore_errors=True)
