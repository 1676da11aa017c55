"""The in-process engine (read_table / write_table) and DataAccessObject with engine="pandas"/"arrow"."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from spark_dao import DataAccessObject
from spark_dao.catalog import Catalog
from spark_dao.engines.local import read_table, write_table
from spark_dao.errors import DaoError, ObjectNotFound, SchemaMismatch
from spark_dao.interfaces.files import STAGING, FilesInterface


def files_under(location: str) -> list[str]:
    out = []
    for folder, _, names in os.walk(location):
        for name in names:
            out.append(os.path.relpath(os.path.join(folder, name), location).replace(os.sep, "/"))
    return sorted(out)


@pytest.fixture
def catalog(catalog_dict: dict) -> Catalog:
    return Catalog.load(catalog_dict)


@pytest.fixture
def dao(catalog_dict: dict) -> DataAccessObject:
    return DataAccessObject(catalog_dict)


EVENTS = pa.table(
    {
        "id": [1, 2, 3, 4, 5, 6],
        "country": ["DE", "DE", "FR", "US", None, "FR"],
        "amount": [10.0, 20.0, None, 40.0, 50.0, 60.0],
    }
)


# --------------------------------------------------------------------------- read_table / write_table
def test_write_table_then_read_table(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    result = write_table(obj, EVENTS, {"mode": "overwrite"})
    assert (result.rows_written, result.files_added) == (6, 4)
    assert result.partitions == ("country=DE", "country=FR", "country=US", "country=__HIVE_DEFAULT_PARTITION__")
    out = read_table(obj)
    assert out.column_names == ["id", "amount", "country"]
    assert sorted(out.to_pylist(), key=lambda r: r["id"]) == sorted(
        EVENTS.select(["id", "amount", "country"]).to_pylist(), key=lambda r: r["id"]
    )
    assert not os.path.exists(Path(obj.location) / STAGING)


def test_write_table_default_mode_is_append(catalog: Catalog) -> None:
    obj = catalog.get("gold.users_agg")
    write_table(obj, pa.table({"id": [1]}))
    write_table(obj, pa.table({"id": [2]}))
    assert sorted(read_table(obj).column("id").to_pylist()) == [1, 2]


def test_read_table_with_many_tasks_returns_each_row_once(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    n = 300
    table = pa.table({"id": list(range(n)), "country": [f"C{i % 30}" for i in range(n)]})
    write_table(obj, table, {"max_rows_per_file": 4})
    assert len(files_under(obj.location)) == 90
    many = read_table(obj, {"split_bytes": 1})  # one task per file, read on the thread pool
    assert sorted(many.column("id").to_pylist()) == list(range(n))
    one = read_table(obj, {"split_bytes": 1 << 40})
    assert sorted(one.column("id").to_pylist()) == list(range(n))
    assert many.schema == one.schema


def test_read_table_applies_row_filters_after_partition_pruning(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    write_table(obj, EVENTS)
    assert sorted(read_table(obj, filters=[("country", "=", "FR")]).column("id").to_pylist()) == [3, 6]
    # a filter on a data column is applied to the rows, not silently ignored
    assert sorted(read_table(obj, filters=[("amount", ">", 15.0)]).column("id").to_pylist()) == [2, 4, 5, 6]
    both = read_table(obj, filters=[("country", "in", ["DE", "FR"]), ("amount", ">=", 20)])
    assert sorted(both.column("id").to_pylist()) == [2, 6]
    assert read_table(obj, filters=[("amount", "is_null", None)]).column("id").to_pylist() == [3]
    assert sorted(read_table(obj, filters=[("id", "in", [1, 5, 9])]).column("id").to_pylist()) == [1, 5]


def test_read_table_bad_filters(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    write_table(obj, EVENTS)
    with pytest.raises(DaoError, match=r"filter column 'amount' is not in the data read; columns: id"):
        read_table(obj, {"columns": "id"}, filters=[("amount", ">", 1)])
    with pytest.raises(DaoError, match=r"cannot apply filter \('amount', '>', 'x'\) to column 'amount' of type double"):
        read_table(obj, filters=[("amount", ">", "x")])
    daily = catalog.get("silver.daily").with_(partition_by=("day",))
    write_table(daily, pa.table({"id": [1, 2], "day": [1, 2]}))
    assert read_table(daily, filters=[("day", "=", "2")]).column("id").to_pylist() == [2]
    with pytest.raises(DaoError, match=r"cannot apply filter \('day', '=', 'monday'\) to column 'day' of type int64"):
        read_table(daily, filters=[("day", "=", "monday")])
    with pytest.raises(DaoError, match=r"unknown filter operator '~'"):
        read_table(obj, filters=[("amount", "~", 1)])


def test_write_table_aborts_when_commit_fails(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    obj = catalog.get("silver.events")
    write_table(obj, EVENTS)
    before = files_under(obj.location)

    def broken_commit(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise OSError("lost the connection")

    monkeypatch.setattr(FilesInterface, "commit", broken_commit)
    with pytest.raises(OSError, match="lost the connection"):
        write_table(obj, EVENTS, {"mode": "overwrite"})
    assert files_under(obj.location) == before  # staged files removed, nothing else touched


def test_write_table_aborts_when_a_stage_fails(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    obj = catalog.get("silver.events")
    write_table(obj, EVENTS)
    before = files_under(obj.location)
    original = FilesInterface.stage
    staged: list[str] = []

    def stage_then_die(self: Any, *args: Any, **kwargs: Any) -> Any:
        original(self, *args, **kwargs)
        staged.extend(f for f in files_under(obj.location) if f.startswith(STAGING))
        raise RuntimeError("executor lost")

    monkeypatch.setattr(FilesInterface, "stage", stage_then_die)
    with pytest.raises(RuntimeError, match="executor lost"):
        write_table(obj, EVENTS, {"mode": "overwrite"})
    assert staged  # files really were staged before the failure
    assert files_under(obj.location) == before


def test_write_table_schema_mismatch_writes_nothing(catalog: Catalog) -> None:
    obj = catalog.get("gold.users_agg")
    write_table(obj, pa.table({"id": [1], "name": ["a"]}))
    before = files_under(obj.location)
    with pytest.raises(SchemaMismatch, match=r"changed types \['name \(int64 -> stored string\)'\]"):
        write_table(obj, pa.table({"id": [2], "name": [5]}))
    assert files_under(obj.location) == before


# --------------------------------------------------------------------------- DataAccessObject
def test_dao_pandas_round_trip(dao: DataAccessObject) -> None:
    pdf = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "name": ["a", None, "c"],
            "score": [0.5, 1.5, float("nan")],
            "active": [True, False, True],
            "seen": pd.to_datetime(["2024-01-01 10:00", "2024-02-01 00:00", None]),
        },
        index=[10, 11, 12],  # the index is not written
    )
    result = dao.write(pdf, "silver.users_clean", mode="overwrite", engine="pandas")
    assert result.rows_written == 3 and result.object == "silver.users_clean"
    out = dao.read("silver.users_clean", engine="pandas")
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["id", "name", "score", "active", "seen"]
    assert out["id"].tolist() == [1, 2, 3]
    assert out["name"].tolist() == ["a", None, "c"]
    assert out["score"].tolist()[:2] == [0.5, 1.5] and pd.isna(out["score"].iloc[2])
    assert out["active"].tolist() == [True, False, True]
    assert str(out["seen"].dtype) == "datetime64[us, UTC]"
    assert out["seen"].iloc[0] == pd.Timestamp("2024-01-01 10:00", tz="UTC")
    assert pd.isna(out["seen"].iloc[2])


def test_dao_arrow_in_and_out(dao: DataAccessObject) -> None:
    dao.write(EVENTS, "silver.events", mode="overwrite", engine="arrow")
    out = dao.read("silver.events", engine="arrow")
    assert isinstance(out, pa.Table)
    assert out.num_rows == 6 and out.schema.field("country").type == pa.string()
    batch = pa.record_batch({"id": [7], "country": ["NL"], "amount": [1.0]})
    dao.write(batch, "silver.events", mode="append", engine="arrow")
    assert sorted(dao.read("silver.events", engine="arrow").column("id").to_pylist()) == [1, 2, 3, 4, 5, 6, 7]


def test_dao_read_matches_read_table(dao: DataAccessObject, catalog: Catalog) -> None:
    dao.write(EVENTS, "silver.events", engine="pandas")
    via_dao = dao.read("silver.events", engine="pandas").sort_values("id").reset_index(drop=True)
    via_engine = read_table(catalog.get("silver.events")).to_pandas().sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(via_dao, via_engine)
    assert len(via_dao) == 6


def test_dao_read_filters_and_columns(dao: DataAccessObject) -> None:
    dao.write(EVENTS, "silver.events", engine="pandas")
    de = dao.read("silver.events", engine="pandas", filters=[("country", "=", "DE")])
    assert sorted(de["id"].tolist()) == [1, 2] and set(de["country"]) == {"DE"}
    rich = dao.read("silver.events", engine="pandas", filters=[("amount", ">", 30.0)], columns=["id", "amount"])
    assert list(rich.columns) == ["id", "amount"]
    assert sorted(rich["id"].tolist()) == [4, 5, 6]
    assert dao.read("silver.events", engine="arrow", columns="country").num_rows == 6
    with pytest.raises(DaoError, match=r"unknown columns \['nope'\]"):
        dao.read("silver.events", engine="pandas", columns=["nope"])


def test_dao_write_list_of_dicts(dao: DataAccessObject) -> None:
    data = [{"id": 1, "name": "a"}, {"id": 2, "name": None}]
    result = dao.write(data, "gold.users_agg", engine="pandas")
    assert result.rows_written == 2
    assert dao.read("gold.users_agg", engine="arrow").to_pylist() == data


def test_dao_default_mode_is_errorifexists(dao: DataAccessObject) -> None:
    dao.write(EVENTS, "silver.events", engine="pandas")
    location = dao.resolve("silver.events").location
    before = files_under(location)
    with pytest.raises(DaoError, match=r"'silver.events' already has data .*use mode='append', 'overwrite' or 'ignore'"):
        dao.write(EVENTS.slice(0, 1), "silver.events", engine="pandas")
    assert files_under(location) == before
    assert dao.read("silver.events", engine="arrow").num_rows == 6


def test_dao_modes_from_options(dao: DataAccessObject) -> None:
    dao.write(EVENTS, "silver.events", engine="pandas")
    location = dao.resolve("silver.events").location
    us_files = [f for f in files_under(location) if f.startswith("country=US/")]
    new = pa.table({"id": [100], "country": ["DE"], "amount": [0.0]})
    result = dao.write(new, "silver.events", engine="pandas", options={"mode": "overwrite", "partitionOverwriteMode": "dynamic"})
    assert result.mode == "dynamic" and result.partitions == ("country=DE",)
    assert set(us_files) <= set(files_under(location))
    assert sorted(dao.read("silver.events", engine="arrow").column("id").to_pylist()) == [3, 4, 5, 6, 100]
    skipped = dao.write(new, "silver.events", engine="pandas", spark_options={"mode": "ignore"})
    assert skipped.skipped
    dao.write(new, "silver.events", mode="overwrite", engine="pandas")
    assert dao.read("silver.events", engine="arrow").column("id").to_pylist() == [100]


def test_dao_csv_store(dao: DataAccessObject) -> None:
    pdf = pd.DataFrame({"id": [1, 2], "email": ["a@x.io", "b@x.io"]})
    dao.write(pdf, "bronze.users_raw", engine="pandas")
    location = dao.resolve("bronze.users_raw").location
    (only,) = files_under(location)
    assert (Path(location) / only).read_text().splitlines()[0] == '"id","email"'
    out = dao.read("bronze.users_raw", engine="pandas")
    pd.testing.assert_frame_equal(out.sort_values("id").reset_index(drop=True), pdf)


def test_dao_exists_list_delete(dao: DataAccessObject) -> None:
    assert not dao.exists("silver.events")
    assert dao.delete("silver.events") is False
    assert dao.list("silver") == ["silver.events", "silver.users_clean"]
    dao.write([{"id": 1}], "silver.scratch", engine="pandas")
    dao.write(EVENTS, "silver.events", engine="pandas")
    assert dao.exists("silver.events") and dao.exists("silver.scratch")
    assert dao.list("silver") == ["silver.events", "silver.scratch", "silver.users_clean"]
    assert "gold.users_agg" in dao.list() and "silver.scratch" in dao.list()
    assert dao.delete("silver.scratch") is True
    assert not dao.exists("silver.scratch")
    assert not os.path.exists(dao.resolve("silver.scratch").location)
    assert dao.list("silver") == ["silver.events", "silver.users_clean"]
    with pytest.raises(ObjectNotFound, match=r"'silver.scratch' has no data"):
        dao.read("silver.scratch", engine="pandas")


def test_dao_read_missing_object_hints(dao: DataAccessObject) -> None:
    dao.write(EVENTS, "silver.events", engine="pandas")
    with pytest.raises(ObjectNotFound, match=r"'silver.event' has no data .*Did you mean 'events'\?"):
        dao.read("silver.event", engine="pandas")


def test_dao_bad_calls(dao: DataAccessObject) -> None:
    with pytest.raises(DaoError, match=r"unknown engine 'panda'\. Did you mean 'pandas'\?"):
        dao.read("silver.events", engine="panda")  # type: ignore[arg-type]
    with pytest.raises(DaoError, match="nothing to write"):
        dao.write(None, "silver.events", engine="pandas")
    with pytest.raises(DaoError, match="no raw-objects interface"):
        dao.write(b"abc", "silver.events", engine="pandas")
    with pytest.raises(DaoError, match=r"cannot write a builtins\.int"):
        dao.write(42, "gold.users_agg", engine="pandas")
    with pytest.raises(DaoError, match=r"unknown write mode 'overwrit' for 'gold.users_agg'\. Did you mean 'overwrite'\?"):
        dao.write([{"id": 1}], "gold.users_agg", mode="overwrit", engine="pandas")
    assert not dao.exists("gold.users_agg")


@pytest.mark.parametrize("use_threads", [False, True])
def test_to_pandas_is_the_frame_table_to_pandas_gives(use_threads: bool) -> None:
    from spark_dao.engines.local import to_pandas

    n = 20_000
    free = [None if i % 7 == 0 else f"text-{i}" for i in range(n)]  # mostly unique: objects of their own
    table = pa.table({
        "id": pa.array(range(n), pa.int64()),
        "country": pa.array([["US", "DE", None][i % 3] for i in range(n)]),  # repetitive: shared objects
        "free": pa.array(free),
        "big": pa.array(free, pa.large_string()),
        "ts": pa.array([i * 1_000_000 for i in range(n)], pa.timestamp("us", tz="UTC")),
        "tags": pa.array([[f"t{i}"] for i in range(n)]),
    })
    expected = table.to_pandas()
    got = to_pandas(pa.Table.from_batches(table.to_batches(max_chunksize=3000)), use_threads=use_threads)
    pd.testing.assert_frame_equal(got, expected)
    assert list(got.dtypes) == list(expected.dtypes)
    us = got.index[got["country"] == "US"]
    assert got.at[us[0], "country"] is got.at[us[-1], "country"]  # still one object per value there


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"s": [f"v{i}" for i in range(5000)], "k": ["x"] * 5000}, index=pd.Index(range(7, 5007), name="ix")),
    pd.DataFrame({0: [f"v{i}" for i in range(5000)], 1: [None] * 5000}),
    pd.DataFrame({"a": [f"v{i}" for i in range(5000)]}, index=pd.MultiIndex.from_arrays(
        [[f"i{i}" for i in range(5000)], range(5000)], names=["p", "q"])),
], ids=["named-index", "int-column-names", "string-multiindex"])
def test_to_pandas_keeps_the_pandas_metadata(frame: pd.DataFrame) -> None:
    from spark_dao.engines.local import to_pandas

    pd.testing.assert_frame_equal(to_pandas(pa.Table.from_pandas(frame)), frame)
