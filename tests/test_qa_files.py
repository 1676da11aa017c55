"""QA findings on the files interface: csv/json types inferred over a sample of files (appends the
check accepts stay readable), partition values that round-trip with their types (bool, timestamp,
Hive's null marker refused), and corrupt files reported alike by appends of every format."""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _helpers import tree

from spark_dao import DaoError, DataAccessObject


def store(path: Path, fmt: str, objects: dict | None = None) -> DataAccessObject:
    return DataAccessObject({"stores": {"c": {"interface": "files", "path": str(path), "format": fmt}},
                             "objects": objects or {}})


# --------------------------------------------------------------------------- 1. csv/json type inference
@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("appended", [
    ([1, 2], [100000000, 200000000, 3, 4, 5, 6]),
    ([datetime.date(2020, 1, 1)] * 2, [datetime.date(2020, 1, 2)] * 6),
], ids=["int", "date"])
def test_appends_to_a_string_column_stay_readable(tmp_path: Path, fmt: str, appended: tuple) -> None:
    """The append check casts these values to the stored string column; a later, larger file of
    them used to make the read infer int64/date and fail on 'apple' (a 'corrupt' file)."""
    dao = store(tmp_path, fmt)
    dao.write(pd.DataFrame({"k": ["apple", "banana"]}), "c.t", mode="overwrite", engine="pandas")
    dao.write(pd.DataFrame({"k": appended[0]}), "c.t", mode="append", engine="pandas")
    dao.write(pd.DataFrame({"k": appended[1]}), "c.t", mode="append", engine="pandas")
    got = dao.read("c.t", engine="pandas")
    expected = sorted(["apple", "banana", *(str(v) for v in appended[0] + appended[1])])
    assert sorted(got["k"].tolist()) == expected
    # the append check agrees with the read: the column is still a string column
    dao.write(pd.DataFrame({"k": ["cherry"]}), "c.t", mode="append", engine="pandas")
    assert sorted(dao.read("c.t", engine="pandas")["k"].tolist()) == sorted([*expected, "cherry"])


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_int_and_float_files_read_as_float(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "t").mkdir()
    if fmt == "csv":
        (tmp_path / "t" / "a.csv").write_text("k\n1.5\n")
        (tmp_path / "t" / "b.csv").write_text("k\n1\n2\n3\n4\n5\n6\n7\n")
    else:
        (tmp_path / "t" / "a.json").write_text('{"k": 1.5}\n')
        (tmp_path / "t" / "b.json").write_text("".join(f'{{"k": {i}}}\n' for i in range(1, 8)))
    got = store(tmp_path, fmt).read("c.t", engine="arrow")
    assert got.schema.field("k").type == pa.float64()
    assert sorted(got["k"].to_pylist()) == [1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]


def test_a_type_mismatch_outside_the_sample_is_not_called_corrupt(tmp_path: Path) -> None:
    """Beyond the sample of the largest files, a file whose values do not fit the inferred type is
    reported as such, naming the column: it is a valid csv file."""
    dao = store(tmp_path, "csv")
    dao.write(pd.DataFrame({"k": ["apple"]}), "c.t", mode="overwrite", engine="pandas")
    small = next((tmp_path / "t").glob("part-*.csv"))
    for i in range(16):
        dao.write(pd.DataFrame({"k": [1000 + i] * 20}), "c.t", mode="append", engine="pandas")
    with pytest.raises(DaoError) as err:
        dao.read("c.t", engine="pandas")
    assert type(err.value) is DaoError
    msg = str(err.value)
    assert msg.startswith(f"reading 'c.t' (store 'c'): {small} does not match the type inferred for column 'k' "
                          "(int64, from the largest 16 files): ArrowInvalid: In CSV column #0: CSV conversion "
                          "error to int64: invalid value 'apple'. Declare the column's type in the catalog's "
                          "schema, or rewrite the object (mode='overwrite')"), msg
    assert "corrupt" not in msg


def test_json_numbers_next_to_strings_name_the_column(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.json").write_text('{"k": "apple"}\n' * 5)
    (tmp_path / "t" / "b.json").write_text('{"k": 1}\n')
    with pytest.raises(DaoError) as err:
        store(tmp_path, "json").read("c.t", engine="pandas")
    msg = str(err.value)
    assert type(err.value) is DaoError
    assert msg.startswith(f"reading 'c.t' (store 'c'): {tmp_path / 't' / 'b.json'} does not match the type "
                          "inferred for column 'k' (string, from the largest 16 files): ArrowInvalid: JSON parse "
                          "error: Column(/k) changed from string to number"), msg
    assert "corrupt" not in msg


# --------------------------------------------------------------------------- 2. partition values
@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_hive_null_marker_is_refused_as_a_partition_value(tmp_path: Path, fmt: str) -> None:
    dao = store(tmp_path, fmt, {"c.t": {"partition_by": ["k"]}})
    with pytest.raises(DaoError) as err:
        dao.write(pd.DataFrame({"k": ["a", "__HIVE_DEFAULT_PARTITION__"], "v": [1, 2]}), "c.t",
                  mode="overwrite", engine="pandas")
    assert type(err.value) is DaoError
    assert str(err.value) == (
        "writing 'c.t' (store 'c'): partition column 'k' holds the value '__HIVE_DEFAULT_PARTITION__', "
        "Hive's marker for a null partition value: it would read back as null. Change the value (or write "
        "a null) before writing"
    )
    assert not dao.exists("c.t")
    assert [p for p in tree(tmp_path) if not p.startswith("t/_dao_staging")] in ([], ["t"])


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_bool_and_timestamp_partitions_round_trip(tmp_path: Path, fmt: str) -> None:
    dao = store(tmp_path, fmt, {"c.b": {"partition_by": ["k"]}, "c.ts": {"partition_by": ["k"]}})
    dao.write(pd.DataFrame({"k": [True, False, None], "v": [1, 2, 3]}), "c.b", mode="overwrite", engine="pandas")
    got = dao.read("c.b", engine="arrow").sort_by("v")
    assert got.schema.field("k").type == pa.bool_()
    assert got["k"].to_pylist() == [True, False, None]
    assert dao.read("c.b", engine="pandas", filters=[("k", "=", True)])["v"].tolist() == [1]

    utc = datetime.UTC
    ts = [datetime.datetime(2020, 1, 1, 1, 2, 3, tzinfo=utc), datetime.datetime(2021, 6, 1, 0, 0, 0, 500000, tzinfo=utc)]
    dao.write(pd.DataFrame({"k": pd.to_datetime(ts, utc=True), "v": [1, 2]}), "c.ts", mode="overwrite",
              engine="pandas")
    dao.write(pd.DataFrame({"k": pd.to_datetime(ts[:1], utc=True), "v": [3]}), "c.ts", mode="append",
              engine="pandas")  # the append check sees a timestamp partition column too
    got = dao.read("c.ts", engine="arrow").sort_by("v")
    assert got.schema.field("k").type == pa.timestamp("us", "UTC")
    assert got["k"].to_pylist() == [ts[0], ts[1], ts[0]]
    assert sorted(dao.read("c.ts", engine="pandas", filters=[("k", "=", ts[0])])["v"].tolist()) == [1, 3]


def test_spark_layout_timestamp_partition_reads_as_utc(tmp_path: Path) -> None:
    """Spark writes naive ``2020-01-01 01:02:03`` (escaped): taken as UTC, as naive columns are."""
    folder = tmp_path / "t" / "k=2020-01-01 01%3A02%3A03"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"v": [1]}), folder / "part-0.parquet")
    got = store(tmp_path, "parquet", {"c.t": {"partition_by": ["k"]}}).read("c.t", engine="arrow")
    assert got["k"].to_pylist() == [datetime.datetime(2020, 1, 1, 1, 2, 3, tzinfo=datetime.UTC)]


def test_bool_and_timestamp_partitions_in_spark(tmp_path: Path, spark) -> None:
    from pyspark.sql.types import BooleanType, TimestampType

    dao = store(tmp_path, "parquet", {"c.t": {"partition_by": ["b", "ts"]}})
    ts = datetime.datetime(2020, 1, 1, 1, 2, 3, tzinfo=datetime.UTC)
    dao.write(pd.DataFrame({"b": [True, False], "ts": pd.to_datetime([ts, ts], utc=True), "v": [1, 2]}), "c.t",
              mode="overwrite", engine="pandas")
    sdf = dao.read("c.t", engine="spark")
    assert isinstance(sdf.schema["b"].dataType, BooleanType)
    assert isinstance(sdf.schema["ts"].dataType, TimestampType)
    rows = sorted((r["v"], r["b"], r["ts"]) for r in sdf.collect())  # session time zone is UTC
    assert rows == [(1, True, datetime.datetime(2020, 1, 1, 1, 2, 3)), (2, False, datetime.datetime(2020, 1, 1, 1, 2, 3))]


# --------------------------------------------------------------------------- 3. corrupt files and appends
def _truncated_parquet() -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"id": list(range(50))}), buf)
    return buf.getvalue()[: len(buf.getvalue()) // 2]


CORRUPT = {"parquet": _truncated_parquet(), "csv": b"id\n1\n2,3\n", "json": b'{"id": 1}\n{garbage\n'}


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_append_next_to_a_corrupt_file_is_refused_for_every_format(tmp_path: Path, fmt: str) -> None:
    """The append check opens the same sample of files for every format (the largest, up to 16):
    a corrupt small file next to a good one is reported, and nothing is written."""
    dao = store(tmp_path, fmt)
    dao.write(pd.DataFrame({"id": list(range(1000))}), "c.t", mode="overwrite", engine="pandas")
    bad = tmp_path / "t" / f"zz-bad.{fmt}"
    bad.write_bytes(CORRUPT[fmt])
    before = tree(tmp_path)
    with pytest.raises(DaoError) as err:
        dao.write(pd.DataFrame({"id": [1]}), "c.t", mode="append", engine="pandas")
    assert type(err.value) is DaoError
    msg = str(err.value)
    assert msg.startswith(f"appending to 'c.t' (store 'c'): cannot read {bad} as {fmt}: ArrowInvalid: "), msg
    assert msg.endswith(f"The file is corrupt or not {fmt}: replace or remove it (or overwrite the object)"), msg
    assert tree(tmp_path) == before
    with pytest.raises(DaoError) as err:  # a read reports it too
        dao.read("c.t", engine="pandas")
    assert str(bad) in str(err.value)
