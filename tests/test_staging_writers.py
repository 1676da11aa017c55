"""The partitioned parquet stager (``_stage_partitioned_parquet``): the same folders as pyarrow's
hive dataset writer for every partition type, every row once, files rolled at
``max_rows_per_file``, and partition buffers bounded whatever the number of partitions."""

from __future__ import annotations

import datetime
import decimal
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from spark_dao.interfaces import _staging
from spark_dao.interfaces._staging import _stage_partitioned_parquet
from spark_dao.interfaces.base import WriteSpec

N = 3
VALUES = {
    "f64": pa.array([1.0, 2.5, None] * N),
    "f32": pa.array([0.1, 2.5, None] * N, pa.float32()),
    "i": pa.array([1, -2, None] * N),
    "s": pa.array(["a b", "x/y%=", None] * N),
    "d": pa.array([datetime.date(2020, 1, 1), datetime.date(2021, 2, 3), None] * N),
    "ts": pa.array([datetime.datetime(2020, 1, 1, 1, 2, 3), datetime.datetime(2020, 1, 1, 1, 2, 3, 4), None] * N),
    "tsz": pa.array([datetime.datetime(2020, 1, 1, 1, 2, 3), datetime.datetime(2020, 1, 1), None] * N,
                    pa.timestamp("us", "UTC")),
    "dec": pa.array([decimal.Decimal("1.50"), decimal.Decimal("2"), None] * N, pa.decimal128(5, 2)),
    "b": pa.array([True, False, None] * N),
}


def _spec(table: pa.Table, parts: tuple[str, ...], *, max_rows: int = 0, row_group: int = 100_000) -> WriteSpec:
    return WriteSpec("append", "parquet", table.schema, parts,
                     {"compression": "snappy", "max_rows_per_file": max_rows, "row_group_size": row_group})


def _tree(root: str) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def _rows_by_partition(root: str, parts: list[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for rel in _tree(root):
        key = os.path.dirname(rel)
        assert [seg.split("=")[0] for seg in key.split("/")] == parts
        out.setdefault(key, []).extend(pq.read_table(os.path.join(root, rel))["x"].to_pylist())
    return {k: sorted(v) for k, v in out.items()}


@pytest.mark.parametrize("col", sorted(VALUES))
def test_same_folders_and_rows_as_the_dataset_writer(tmp_path: Path, col: str) -> None:
    table = pa.table({col: VALUES[col], "x": list(range(3 * N))})
    theirs, ours = str(tmp_path / "theirs"), str(tmp_path / "ours")
    ds.write_dataset(table, theirs, format="parquet",
                     partitioning=ds.partitioning(pa.schema([table.schema.field(col)]), flavor="hive"))
    files = _stage_partitioned_parquet(pafs.LocalFileSystem(), ours, iter(table.to_batches(max_chunksize=4)),
                                       _spec(table, (col,)), "st")
    assert _rows_by_partition(ours, [col]) == _rows_by_partition(theirs, [col])
    assert {os.path.dirname(f.path) for f in files} == {os.path.dirname(p) for p in _tree(theirs)}
    assert sum(f.rows for f in files) == table.num_rows
    assert all(f.size == os.path.getsize(os.path.join(ours, f.path)) for f in files)
    # the partition column is in the folder name, not in the file
    assert all(pq.read_schema(os.path.join(ours, f.path)).names == ["x"] for f in files)


def test_two_partition_columns_and_file_rolling(tmp_path: Path) -> None:
    n = 1000
    table = pa.table({"x": list(range(n)), "a": [i % 3 for i in range(n)],
                      "b": [None if i % 7 == 0 else f"k{i % 2}" for i in range(n)]})
    files = _stage_partitioned_parquet(pafs.LocalFileSystem(), str(tmp_path), iter(table.to_batches(max_chunksize=64)),
                                       _spec(table, ("a", "b"), max_rows=50, row_group=20), "job-task")
    got = _rows_by_partition(str(tmp_path), ["a", "b"])
    want: dict[str, list[int]] = {}
    for i in range(n):
        b = None if i % 7 == 0 else f"k{i % 2}"
        want.setdefault(f"a={i % 3}/b={b if b is not None else '__HIVE_DEFAULT_PARTITION__'}", []).append(i)
    assert got == want
    assert max(f.rows for f in files) == 50 and min(f.rows for f in files) >= 1
    for f in files:  # row groups of at most row_group_size rows; names unique and carry the stem
        meta = pq.read_metadata(os.path.join(str(tmp_path), f.path))
        assert meta.num_rows == f.rows and all(meta.row_group(i).num_rows <= 20 for i in range(meta.num_row_groups))
        assert os.path.basename(f.path).startswith("job-task-")
    assert len({os.path.basename(f.path) for f in files}) == len(files)


def test_buffers_stay_bounded_with_many_partitions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """2,000 partitions of 5 rows, row groups of 10: the buffers may not wait for full groups
    (that would hold every row); at most _PENDING_GROUPS row groups' rows are pending."""
    written = 0

    class Counting(pq.ParquetWriter):
        def write_table(self, table, row_group_size=None):  # type: ignore[override]
            nonlocal written
            written += table.num_rows
            super().write_table(table, row_group_size=row_group_size)

    monkeypatch.setattr(pq, "ParquetWriter", Counting)
    n, row_group = 10_000, 10
    table = pa.table({"x": list(range(n)), "p": [i % 2000 for i in range(n)]})
    high_water = 0

    def batches():
        nonlocal high_water
        consumed = 0
        for b in table.to_batches(max_chunksize=row_group):
            yield b
            consumed += b.num_rows
            high_water = max(high_water, consumed - written)

    files = _stage_partitioned_parquet(pafs.LocalFileSystem(), str(tmp_path), batches(),
                                       _spec(table, ("p",), row_group=row_group), "s")
    # the buffers, plus the groups handed to the encoding threads (at most 2 per thread, <= 4 threads)
    assert high_water <= (_staging._PENDING_GROUPS + 2 * 4 + 1) * row_group
    assert sum(f.rows for f in files) == n and len(files) == 2000
    assert _rows_by_partition(str(tmp_path), ["p"])["p=7"] == list(range(7, n, 2000))


def test_a_failing_stream_closes_every_open_file(tmp_path: Path) -> None:
    table = pa.table({"x": list(range(100)), "p": [i % 4 for i in range(100)]})

    def batches():
        yield from table.to_batches(max_chunksize=30)[:2]
        raise ValueError("source broke")

    with pytest.raises(ValueError, match="source broke"):
        _stage_partitioned_parquet(pafs.LocalFileSystem(), str(tmp_path), batches(),
                                   _spec(table, ("p",), row_group=5), "s")
    staged = _tree(str(tmp_path))
    assert staged  # something was staged before the failure (the caller removes it by stem)
    for rel in staged:  # and every file was closed (a readable footer), none left half-open
        pq.read_metadata(os.path.join(str(tmp_path), rel))


def test_an_encoding_failure_on_the_thread_pool_fails_the_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0

    class Failing(pq.ParquetWriter):
        def write_table(self, table, row_group_size=None):  # type: ignore[override]
            nonlocal calls
            calls += 1
            if calls == 5:
                raise OSError("disk full")
            super().write_table(table, row_group_size=row_group_size)

    monkeypatch.setattr(pq, "ParquetWriter", Failing)
    table = pa.table({"x": list(range(400)), "p": [i % 8 for i in range(400)]})
    with pytest.raises(OSError, match="disk full"):
        _stage_partitioned_parquet(pafs.LocalFileSystem(), str(tmp_path), iter(table.to_batches(max_chunksize=50)),
                                   _spec(table, ("p",), row_group=10), "s")
    assert calls >= 5
    for rel in _tree(str(tmp_path)):  # whatever was written is closed; the caller removes it by stem
        pq.read_metadata(os.path.join(str(tmp_path), rel))


# ----------------------------------------------------------------------- unpartitioned (_stage_parquet)
def _dictionary_pages(path: str) -> dict[str, bool]:
    meta = pq.read_metadata(path)
    return {meta.row_group(0).column(i).path_in_schema: meta.row_group(0).column(i).has_dictionary_page
            for i in range(meta.num_columns)}


def test_unpartitioned_dictionary_only_where_it_pays(tmp_path: Path) -> None:
    """Like Spark's parquet-mr: a dictionary for repetitive columns, plain encoding for columns of
    mostly distinct values (no dictionary page); the rows read back unchanged, in order."""
    n = 30_000
    table = pa.table({
        "id": pa.array(range(n), pa.int64()),
        "ts": pa.array([datetime.datetime(2020, 1, 1) + datetime.timedelta(seconds=7 * i) for i in range(n)],
                       pa.timestamp("us", "UTC")),
        "text": [None if i % 10 == 0 else f"word-{i * 7919 % 100_003}" for i in range(n)],
        "country": [("FR", "DE", None, "ES")[i % 4] for i in range(n)],
        "amount": [float(i % 500) / 4 for i in range(n)],
        "flag": [i % 3 == 0 for i in range(n)],
        "empty": pa.nulls(n, pa.int32()),
    })
    spec = WriteSpec("append", "parquet", table.schema, (),
                     {"compression": "zstd", "max_rows_per_file": 0, "row_group_size": 8_000})
    files = _staging._stage_parquet(pafs.LocalFileSystem(), str(tmp_path), iter(table.to_batches(max_chunksize=1000)),
                                    spec, "s")
    assert len(files) == 1 and files[0].rows == n
    path = os.path.join(str(tmp_path), files[0].path)
    assert pq.read_table(path).equals(table)
    pages = _dictionary_pages(path)
    assert not pages["id"] and not pages["ts"] and not pages["text"]
    assert pages["country"] and pages["amount"] and pages["empty"]
    meta = pq.read_metadata(path)  # the user's row group size and codec still apply
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [8_000, 8_000, 8_000, 6_000]
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_unpartitioned_every_type_reads_back(tmp_path: Path) -> None:
    n = 3 * N
    cols = {**VALUES, "dict": pa.array(["a", "b", None] * N).dictionary_encode(), "nulls": pa.nulls(n)}
    table = pa.table(cols)
    files = _staging._stage_parquet(pafs.LocalFileSystem(), str(tmp_path), iter(table.to_batches(max_chunksize=2)),
                                    _spec(table, (), max_rows=4), "s")
    assert [f.rows for f in files] == [4, 4, 1]
    back = pa.concat_tables(pq.read_table(os.path.join(str(tmp_path), f.path)) for f in files)
    assert back.cast(table.schema).equals(table)


def test_unpartitioned_nested_columns_keep_dictionaries(tmp_path: Path) -> None:
    """With a nested column, every column keeps pyarrow's dictionary default (the choice is made
    per flat column only) and the rows read back unchanged."""
    n = 1000
    table = pa.table({"id": pa.array(range(n), pa.int64()), "tags": [[f"t{i % 3}", None] for i in range(n)],
                      "kv": [{"k": i % 2, "v": f"x{i}"} for i in range(n)]})
    files = _staging._stage_parquet(pafs.LocalFileSystem(), str(tmp_path), iter(table.to_batches(max_chunksize=100)),
                                    _spec(table, ()), "s")
    path = os.path.join(str(tmp_path), files[0].path)
    assert pq.read_table(path).equals(table)
    assert all(_dictionary_pages(path).values())


def test_unpartitioned_does_not_hold_the_incoming_batches(tmp_path: Path) -> None:
    """Each incoming batch's memory is released when the next one is read, not when its row group
    is written (the stager keeps a copy): Spark's batches arrive in socket buffers, and holding a
    row group's worth of them made every row group fault its memory in again."""
    import gc
    import weakref

    import numpy as np

    n, size = 20, 500
    released: list[bool] = []

    def batches():
        previous = None
        for i in range(n):
            values = np.arange(i * size, (i + 1) * size, dtype=np.int64)
            arr = pa.Array.from_buffers(pa.int64(), size, [None, pa.py_buffer(values)])
            ref = weakref.ref(values)
            del values
            yield pa.record_batch({"x": arr})
            del arr
            gc.collect()
            if previous is not None:
                released.append(previous() is None)
            previous = ref

    table_schema = pa.schema({"x": pa.int64()})
    spec = WriteSpec("append", "parquet", table_schema, (),
                     {"compression": "snappy", "max_rows_per_file": 0, "row_group_size": n * size})
    files = _staging._stage_parquet(pafs.LocalFileSystem(), str(tmp_path), batches(), spec, "s")
    assert pq.read_table(os.path.join(str(tmp_path), files[0].path))["x"].to_pylist() == list(range(n * size))
    assert released and all(released)
