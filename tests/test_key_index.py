"""The key index (spark_dao/interfaces/_key_index.py): an upsert records each parquet file's first-key
range, and the next upsert opens the footer of a file only when the file is new, changed since (size or
modification time), or its range can hold a batch key. It is a cache: a wrong, foreign or broken index
never changes an upsert's answer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spark_dao import DataAccessObject
from spark_dao.interfaces import _key_index, files_upsert


@pytest.fixture
def footers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stored files whose footer an upsert's key scan opened."""
    seen: list[str] = []
    real = files_upsert._scan_parquet_keys

    def spy(fs: Any, base: str, rel: str, *a: Any, **k: Any) -> Any:
        seen.append(rel)
        return real(fs, base, rel, *a, **k)

    monkeypatch.setattr(files_upsert, "_scan_parquet_keys", spy)
    return seen


def make(tmp_path: Path, files: int = 8) -> DataAccessObject:
    """``files`` parquet files of 100 ids each, ids growing by file, in two day partitions."""
    dao = DataAccessObject({"stores": {"s": {"interface": "files", "path": str(tmp_path)}},
                            "objects": {"s.t": {"keys": ["id"], "partition_by": ["day"]}}})
    for i in range(files):
        ids = list(range(i * 100, i * 100 + 100))
        dao.write(pa.table({"id": ids, "v": ["old"] * 100, "day": [f"d{i % 2}"] * 100}), "s.t",
                  engine="pandas", mode="append" if i else "overwrite")
    return dao


def data_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet")
                  if not any(part.startswith(("_", ".")) for part in p.relative_to(root).parts))


def batch(ids: list[int], v: str = "new") -> pa.Table:
    return pa.table({"id": ids, "v": [v] * len(ids), "day": ["d1"] * len(ids)})


def check(dao: DataAccessObject, expected_rows: int, new: dict[int, str]) -> None:
    back = dao.read("s.t", engine="pandas")
    assert len(back) == expected_rows and back["id"].is_unique
    got = dict(zip(back["id"], back["v"], strict=True))
    assert all(got[k] == v for k, v in new.items()), {k: got[k] for k in new}


def test_the_second_upsert_reads_only_the_footers_that_can_hold_a_key(tmp_path: Path, footers: list[str]) -> None:
    dao = make(tmp_path)
    root = tmp_path / "t"
    stored = data_files(root)
    r1 = dao.upsert(batch([150, 5000]), "s.t", engine="pandas")  # id 150 is in the second file
    assert (r1.rows_updated, r1.rows_inserted, r1.files_rewritten) == (1, 1, 1)
    assert sorted(footers) == stored  # no index yet: every footer
    index_files = list((root / "_dao_index").glob("keys-*.parquet"))
    assert len(index_files) == 1
    after_first = set(data_files(root))
    new_files = after_first - set(stored)
    holder = [f for f in after_first - new_files if 720 in pq.read_table(root / f)["id"].to_pylist()]
    footers.clear()
    r2 = dao.upsert(batch([720, 6000]), "s.t", engine="pandas")  # id 720 is in the eighth file
    assert (r2.rows_updated, r2.rows_inserted, r2.files_rewritten) == (1, 1, 1)
    # the file holding 720 and the first upsert's own new files (not in the index yet): nothing else
    assert sorted(footers) == sorted(holder + list(new_files)), (footers, holder, new_files)
    check(dao, 802, {150: "new", 5000: "new", 720: "new", 6000: "new"})
    # a third upsert: the first one's new files are indexed now; the second one's are not yet
    after_second = set(data_files(root))
    holder = [f for f in after_second if 10 in pq.read_table(root / f)["id"].to_pylist()]
    footers.clear()
    dao.upsert(batch([10]), "s.t", engine="pandas")
    assert sorted(footers) == sorted(holder + list(after_second - after_first))
    check(dao, 802, {10: "new", 720: "new"})


def test_a_file_changed_behind_the_index_is_read_again(tmp_path: Path, footers: list[str]) -> None:
    dao = make(tmp_path)
    root = tmp_path / "t"
    dao.upsert(batch([150]), "s.t", engine="pandas")  # builds the index
    # another tool rewrites one indexed file in place, under the same name: it now holds id 9999 too
    victim = next(f for f in data_files(root) if pq.read_table(root / f)["id"].to_pylist()[0] == 300)
    old = pq.read_table(root / victim)
    stat = os.stat(root / victim)
    changed = pa.concat_tables([old, pa.table({"id": [9999], "v": ["other tool"]}).cast(old.schema)])
    pq.write_table(changed, root / victim)
    os.utime(root / victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same time: only the size tells
    footers.clear()
    r = dao.upsert(batch([9999]), "s.t", engine="pandas")
    assert victim in footers
    assert (r.rows_updated, r.rows_inserted) == (1, 0)  # found where the index said it could not be
    check(dao, 801, {9999: "new", 150: "new"})


def test_a_broken_or_foreign_index_is_ignored(tmp_path: Path, footers: list[str]) -> None:
    dao = make(tmp_path)
    root = tmp_path / "t"
    dao.upsert(batch([150]), "s.t", engine="pandas")
    (index,) = (root / "_dao_index").glob("keys-*.parquet")
    index.write_bytes(b"not parquet")
    stored = data_files(root)
    footers.clear()
    r = dao.upsert(batch([720]), "s.t", engine="pandas")
    assert r.rows_updated == 1 and sorted(footers) == stored  # every footer, as without an index
    check(dao, 800, {720: "new", 150: "new"})
    # an index that claims no file holds a key (of another key column's name) is not used
    table = pq.read_table(index)
    meta = dict(table.schema.metadata)
    meta[b"key"] = b"other"
    pq.write_table(table.replace_schema_metadata(meta), index)
    stored = data_files(root)
    footers.clear()
    r = dao.upsert(batch([20]), "s.t", engine="pandas")
    assert r.rows_updated == 1 and sorted(footers) == stored
    check(dao, 800, {20: "new"})


def test_the_index_is_hidden_from_reads_and_outlived_by_an_overwrite(tmp_path: Path) -> None:
    dao = make(tmp_path, files=2)
    root = tmp_path / "t"
    dao.upsert(batch([1]), "s.t", engine="pandas")
    assert list((root / "_dao_index").glob("keys-*.parquet"))
    assert len(dao.read("s.t", engine="pandas")) == 200
    dao.write(pa.table({"id": [7], "v": ["only"], "day": ["d0"]}), "s.t", engine="pandas", mode="overwrite")
    r = dao.upsert(batch([7, 8]), "s.t", engine="pandas")  # the old entries name files that are gone
    assert (r.rows_updated, r.rows_inserted) == (1, 1)  # 7 moved from d0 to d1
    check(dao, 2, {7: "new", 8: "new"})


def test_file_range_and_may_hold() -> None:
    import io

    buf = io.BytesIO()
    pq.write_table(pa.table({"k": [5, None, 9, 7]}), buf, row_group_size=2)
    meta = pq.read_metadata(io.BytesIO(buf.getvalue()))
    assert _key_index.file_range(meta, 0) == (5, 9)
    buf = io.BytesIO()
    pq.write_table(pa.table({"k": pa.array([None, None], pa.int64())}), buf)
    assert _key_index.file_range(pq.read_metadata(io.BytesIO(buf.getvalue())), 0) == (None, None)
    entry = (1, 1, 5, 9)
    assert _key_index.may_hold(entry, [5]) and _key_index.may_hold(entry, [9]) and _key_index.may_hold(entry, [1, 7])
    assert not _key_index.may_hold(entry, [4]) and not _key_index.may_hold(entry, [10]) and not _key_index.may_hold(entry, [])
    assert not _key_index.may_hold((1, 1, None, None), [5])


def test_an_index_that_cannot_be_written_costs_only_footer_reads(tmp_path: Path, footers: list[str],
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    import logging

    dao = make(tmp_path, files=4)
    root = tmp_path / "t"
    (root / "_dao_index").write_text("a file where the index folder would go")
    with caplog.at_level(logging.DEBUG, logger="spark_dao.files"):
        r = dao.upsert(batch([150]), "s.t", engine="pandas")
    assert r.rows_updated == 1
    assert "key index not written" in caplog.text
    check(dao, 400, {150: "new"})
    stored = data_files(root)
    footers.clear()
    r = dao.upsert(batch([250]), "s.t", engine="pandas")
    assert r.rows_updated == 1 and sorted(footers) == stored  # no index: every footer, same answer
    check(dao, 400, {150: "new", 250: "new"})
