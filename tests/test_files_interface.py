"""The files interface driven directly with Arrow tables (no Spark): formats, partitions, modes, staging."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spark_dao.catalog import Catalog
from spark_dao.errors import DaoError, ObjectNotFound, SchemaMismatch
from spark_dao.interfaces import StagedPart, WriteResult, get_interface, parse_mode
from spark_dao.interfaces.files import HIVE_NULL, STAGING

UTC = dt.UTC


# --------------------------------------------------------------------------- helpers
@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog.load(
        {
            "stores": {
                "silver": {"interface": "files", "path": str(tmp_path / "silver"), "format": "parquet"},
                "bronze": {"interface": "files", "path": str(tmp_path / "bronze"), "format": "csv"},
                "raw": {"interface": "files", "path": str(tmp_path / "raw"), "format": "json"},
            },
            "objects": {
                "silver.events": {"partition_by": ["country"]},
                "silver.visits": {"partition_by": ["country", "day"]},
                "silver.typed_days": {"partition_by": ["day"], "schema": {"id": "long", "day": "string"}},
                "silver.amounts": {"schema": {"id": "long", "amount": "decimal(10,2)"}},
                "bronze.visits": {"partition_by": ["country", "day"]},
                "bronze.typed": {
                    "schema": {
                        "id": "long",
                        "name": "string",
                        "score": "double",
                        "active": "boolean",
                        "born": "date",
                        "seen": "timestamp",
                        "amount": "decimal(10,2)",
                    }
                },
                "raw.visits": {"partition_by": ["country", "day"]},
                "raw.typed": {"schema": {"id": "long", "born": "date", "amount": "decimal(10,2)", "seen": "timestamp"}},
            },
        }
    )


def files_under(obj: Any) -> list[str]:
    """Every file below the object's folder (hidden ones included), relative and sorted."""
    root = obj.location
    out = []
    for folder, _, names in os.walk(root):
        for name in names:
            out.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
    return sorted(out)


def dirs_under(obj: Any) -> list[str]:
    root = obj.location
    return sorted(
        os.path.relpath(os.path.join(folder, d), root).replace(os.sep, "/")
        for folder, names, _ in os.walk(root)
        for d in names
    )


def write(obj: Any, table: pa.Table, mode: str = "append", **options: Any) -> WriteResult:
    """prepare_write -> stage -> commit, aborting on failure (what every engine does)."""
    itf = get_interface(obj.store)
    spec = itf.prepare_write(obj, table.schema, {"mode": mode, **options})
    job_id = uuid.uuid4().hex
    try:
        part = itf.stage(obj, table.to_batches(), spec, job_id)
        return itf.commit(obj, [part], spec)
    except BaseException:
        itf.abort(obj, [StagedPart(job_id=job_id)], spec)
        raise


def read(obj: Any, options: dict[str, Any] | None = None, filters: Any = ()) -> pa.Table:
    itf = get_interface(obj.store)
    plan = itf.plan_read(obj, options or {}, filters)
    batches = [b for task in plan.tasks for b in itf.read(task)]
    for b in batches:
        assert b.schema.equals(plan.schema), (b.schema, plan.schema)
    return pa.Table.from_batches(batches, schema=plan.schema)


def rows(table: pa.Table, key: str = "id") -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda r: (r[key] is None, r[key]))


def task_files(plan: Any) -> list[str]:
    return sorted(sl.rel for task in plan.tasks for sl in task.payload.slices)


VISITS = pa.table(
    {
        "id": [1, 2, 3, 4, 5],
        "country": ["DE", "DE", None, "a b/c", "FR"],
        "day": [1, None, 1, 2, 1],
        "value": [1.5, 2.5, None, 4.0, 5.5],
    }
)


# --------------------------------------------------------------------------- formats and types
def test_parquet_round_trip_of_every_type(catalog: Catalog) -> None:
    obj = catalog.get("silver.types")
    naive = dt.datetime(2024, 3, 1, 12, 30, 15, 123456)
    aware = dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "small": pa.array([1, None, -3], pa.int32()),
            "score": [1.25, None, -2.5],
            "name": ["a", None, "ü"],
            "active": [True, False, None],
            "born": [dt.date(2000, 1, 2), None, dt.date(1999, 12, 31)],
            "seen": [naive, None, naive],
            "seen_tz": pa.array([aware, aware, None], pa.timestamp("us", tz="+02:00")),
            "amount": [Decimal("1.10"), None, Decimal("-3.25")],
        }
    )
    result = write(obj, table)
    assert result.rows_written == 3
    out = read(obj)
    assert out.schema.field("id").type == pa.int64()
    assert out.schema.field("small").type == pa.int32()
    assert out.schema.field("seen").type == pa.timestamp("us", tz="UTC")
    assert out.schema.field("seen_tz").type == pa.timestamp("us", tz="UTC")
    assert out.schema.field("amount").type == pa.decimal128(3, 2)
    assert out.schema.field("born").type == pa.date32()
    got = rows(out)
    assert got[0] == {
        "id": 1,
        "small": 1,
        "score": 1.25,
        "name": "a",
        "active": True,
        "born": dt.date(2000, 1, 2),
        "seen": naive.replace(tzinfo=UTC),
        "seen_tz": dt.datetime(2024, 3, 1, 10, 30, tzinfo=UTC),
        "amount": Decimal("1.10"),
    }
    assert got[1] == {
        "id": 2, "small": None, "score": None, "name": None, "active": False, "born": None,
        "seen": None, "seen_tz": dt.datetime(2024, 3, 1, 10, 30, tzinfo=UTC), "amount": None,
    }
    assert got[2]["name"] == "ü" and got[2]["amount"] == Decimal("-3.25") and got[2]["active"] is None


def test_csv_round_trip_with_catalog_schema(catalog: Catalog) -> None:
    obj = catalog.get("bronze.typed")
    table = pa.table(
        {
            "id": [1, 2],
            "name": ["x, with comma", None],
            "score": [0.5, None],
            "active": [True, None],
            "born": [dt.date(2020, 2, 29), None],
            "seen": [dt.datetime(2024, 1, 1, 8, 0, 1), None],
            "amount": [Decimal("12.34"), None],
        }
    )
    write(obj, table)
    assert [f.rsplit(".", 1)[1] for f in files_under(obj)] == ["csv"]
    out = read(obj)
    assert out.schema == pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("score", pa.float64()),
            ("active", pa.bool_()),
            ("born", pa.date32()),
            ("seen", pa.timestamp("us", tz="UTC")),
            ("amount", pa.decimal128(10, 2)),
        ]
    )
    assert rows(out) == [
        {
            "id": 1,
            "name": "x, with comma",
            "score": 0.5,
            "active": True,
            "born": dt.date(2020, 2, 29),
            "seen": dt.datetime(2024, 1, 1, 8, 0, 1, tzinfo=UTC),
            "amount": Decimal("12.34"),
        },
        {"id": 2, "name": None, "score": None, "active": None, "born": None, "seen": None, "amount": None},
    ]


def test_csv_inferred_schema_and_inferschema_false(catalog: Catalog) -> None:
    obj = catalog.get("bronze.plain")
    write(obj, pa.table({"id": [1, 2], "score": [1.5, 2.0], "name": ["a", "b"], "ok": [True, False]}))
    out = read(obj)
    assert out.schema.types == [pa.int64(), pa.float64(), pa.string(), pa.bool_()]
    assert rows(out) == [
        {"id": 1, "score": 1.5, "name": "a", "ok": True},
        {"id": 2, "score": 2.0, "name": "b", "ok": False},
    ]
    as_text = read(obj, {"inferSchema": "false"})
    assert as_text.schema.types == [pa.string()] * 4
    assert sorted(as_text.column("id").to_pylist()) == ["1", "2"]


def test_csv_without_header_and_with_delimiter(catalog: Catalog) -> None:
    obj = catalog.get("bronze.semi").with_(schema={"id": "long", "name": "string"})
    table = pa.table({"id": [1, 2], "name": ["a;b", "c"]})
    write(obj, table, header="false", delimiter=";")
    (only,) = files_under(obj)
    text = (Path(obj.location) / only).read_text()
    assert text.splitlines() == ['1;"a;b"', '2;"c"']  # no header line, ';' between fields
    out = read(obj, {"header": "false", "sep": ";"})
    assert rows(out) == [{"id": 1, "name": "a;b"}, {"id": 2, "name": "c"}]
    # Without a declared schema and without a header, columns get positional names.
    inferred = read(obj.with_(schema=None), {"header": False, "delimiter": ";"})
    assert inferred.column_names == ["f0", "f1"]
    assert sorted(inferred.column("f0").to_pylist()) == [1, 2]
    # Reading with the wrong delimiter gives one column: the delimiter really is used.
    assert read(obj.with_(schema=None), {"header": False}).num_columns == 1


def test_json_lines_round_trip_inferred(catalog: Catalog) -> None:
    obj = catalog.get("raw.events")
    table = pa.table(
        {
            "id": [1, 2, 3],
            "name": ["a", None, "é"],
            "score": [1.5, None, 3.0],
            "ok": [True, False, None],
            "seen": [dt.datetime(2024, 1, 1, 1, 2, 3), None, dt.datetime(2024, 5, 1)],
        }
    )
    write(obj, table)
    (only,) = files_under(obj)
    lines = (Path(obj.location) / only).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and all(line.startswith("{") and line.endswith("}") for line in lines)
    out = read(obj)
    assert out.schema == pa.schema(
        [("id", pa.int64()), ("name", pa.string()), ("score", pa.float64()), ("ok", pa.bool_()),
         ("seen", pa.timestamp("us", tz="UTC"))]
    )
    assert rows(out) == [
        {"id": 1, "name": "a", "score": 1.5, "ok": True, "seen": dt.datetime(2024, 1, 1, 1, 2, 3, tzinfo=UTC)},
        {"id": 2, "name": None, "score": None, "ok": False, "seen": None},
        {"id": 3, "name": "é", "score": 3.0, "ok": None, "seen": dt.datetime(2024, 5, 1, tzinfo=UTC)},
    ]


def test_json_with_catalog_schema_keeps_dates_and_decimals(catalog: Catalog) -> None:
    obj = catalog.get("raw.typed")
    table = pa.table(
        {
            "id": [1, 2],
            "born": [dt.date(2001, 9, 9), None],
            "amount": [Decimal("-0.50"), None],
            "seen": [dt.datetime(2024, 1, 1), None],
        }
    )
    write(obj, table)
    out = read(obj)
    assert out.schema.types == [pa.int64(), pa.date32(), pa.decimal128(10, 2), pa.timestamp("us", tz="UTC")]
    assert rows(out) == [
        {"id": 1, "born": dt.date(2001, 9, 9), "amount": Decimal("-0.50"), "seen": dt.datetime(2024, 1, 1, tzinfo=UTC)},
        {"id": 2, "born": None, "amount": None, "seen": None},
    ]


@pytest.mark.parametrize("name", ["raw.sparse", "bronze.sparse"])
def test_inferred_text_schema_looks_past_an_all_null_column(catalog: Catalog, name: str) -> None:
    obj = catalog.get(name)
    # the biggest file, sampled first, has no value at all for 'score'
    write(obj, pa.table({"id": list(range(50)), "score": pa.nulls(50, pa.float64())}))
    write(obj, pa.table({"id": [100], "score": [2.5]}))
    out = read(obj)
    assert out.schema.field("score").type == pa.float64()
    assert out.num_rows == 51
    assert [r["score"] for r in rows(out)][-2:] == [None, 2.5]


def test_unsupported_format_is_a_clear_error(catalog: Catalog) -> None:
    obj = catalog.get("silver.events").with_(format="avro")
    with pytest.raises(DaoError, match=r"cannot handle format 'avro'.*Supported: parquet, csv, json"):
        write(obj, pa.table({"id": [1], "country": ["DE"]}))
    assert not os.path.exists(obj.location)


# --------------------------------------------------------------------------- partitioning
@pytest.mark.parametrize("name", ["silver.visits", "bronze.visits", "raw.visits"])
def test_hive_partitions_nulls_and_escaping(catalog: Catalog, name: str) -> None:
    obj = catalog.get(name)
    result = write(obj, VISITS)
    assert result.rows_written == 5
    assert sorted(result.partitions) == sorted(
        [
            "country=DE/day=1",
            f"country=DE/day={HIVE_NULL}",
            f"country={HIVE_NULL}/day=1",
            "country=a%20b%2Fc/day=2",
            "country=FR/day=1",
        ]
    )
    folders = sorted({f.rsplit("/", 1)[0] for f in files_under(obj)})
    assert folders == sorted(result.partitions)
    assert len(files_under(obj)) == result.files_added == 5
    out = read(obj)
    assert out.column_names == ["id", "value", "country", "day"]
    assert out.schema.field("day").type == pa.int64()
    assert out.schema.field("country").type == pa.string()
    assert rows(out) == rows(VISITS.select(["id", "value", "country", "day"]))


def test_partition_columns_are_not_stored_in_the_files(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    write(obj, pa.table({"id": [1, 2], "country": ["DE", "FR"]}))
    for rel in files_under(obj):
        assert pq.read_schema(Path(obj.location) / rel).names == ["id"]


def test_partition_types_from_catalog_schema_or_inferred(catalog: Catalog) -> None:
    declared = catalog.get("silver.typed_days")
    write(declared, pa.table({"id": [1, 2], "day": ["01", "10"]}))
    assert sorted(d for d in dirs_under(declared)) == ["day=01", "day=10"]
    out = read(declared)
    assert out.schema.field("day").type == pa.string()
    assert rows(out) == [{"id": 1, "day": "01"}, {"id": 2, "day": "10"}]
    # The same folders read without a declared schema: the type is inferred from the values.
    inferred = read(declared.with_(schema=None))
    assert inferred.schema.field("day").type == pa.int64()
    assert rows(inferred) == [{"id": 1, "day": 1}, {"id": 2, "day": 10}]
    # A non-numeric value anywhere keeps the column a string.
    write(declared, pa.table({"id": [3], "day": ["x"]}))
    mixed = read(declared.with_(schema=None))
    assert mixed.schema.field("day").type == pa.string()
    assert sorted(mixed.column("day").to_pylist()) == ["01", "10", "x"]


def test_partition_filter_prunes_files_and_tasks(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    for country in ("DE", "FR", "US"):
        write(obj, pa.table({"id": [len(country) * 10 + i for i in range(3)], "country": [country] * 3}))
    itf = get_interface(obj.store)
    full = itf.plan_read(obj, {"split_bytes": 1})
    assert len(full.tasks) == 3
    plan = itf.plan_read(obj, {"split_bytes": 1}, filters=[("country", "=", "DE")])
    assert plan.applied_filters == (("country", "=", "DE"),)
    assert [f.split("/")[0] for f in task_files(plan)] == ["country=DE"]
    assert len(plan.tasks) == 1
    out = read(obj, filters=[("country", "=", "DE")])
    assert out.num_rows == 3 and set(out.column("country").to_pylist()) == {"DE"}
    assert read(obj, filters=[("country", "in", ["FR", "US"])]).num_rows == 6
    assert set(read(obj, filters=[("country", "!=", "FR")]).column("country").to_pylist()) == {"DE", "US"}
    assert read(obj, filters=[("country", "is_null", None)]).num_rows == 0
    assert read(obj, filters=[("country", ">", "DE"), ("country", "<", "US")]).column("country").to_pylist() == [
        "FR"
    ] * 3


def test_partition_filter_with_nulls_and_int_partitions(catalog: Catalog) -> None:
    obj = catalog.get("silver.visits")
    write(obj, VISITS)
    assert sorted(read(obj, filters=[("day", "is_null", None)]).column("id").to_pylist()) == [2]
    assert sorted(read(obj, filters=[("country", "not_null", None)]).column("id").to_pylist()) == [1, 2, 4, 5]
    assert sorted(read(obj, filters=[("day", ">=", 2)]).column("id").to_pylist()) == [4]
    # A value given as text compares as the partition's type instead of silently matching nothing.
    assert sorted(read(obj, filters=[("day", "=", "1")]).column("id").to_pylist()) == [1, 3, 5]
    assert sorted(read(obj, filters=[("country", "=", "a b/c")]).column("id").to_pylist()) == [4]


def test_bad_filters_are_clear_errors(catalog: Catalog) -> None:
    obj = catalog.get("silver.visits")
    write(obj, VISITS)
    itf = get_interface(obj.store)
    with pytest.raises(DaoError, match=r"unknown filter operator '=='.*Valid: =, !="):
        itf.plan_read(obj, {}, filters=[("country", "==", "DE")])
    # a value that does not fit the partition type prunes nothing and is left to the engine
    plan = itf.plan_read(obj, {}, filters=[("day", "=", "monday"), ("country", "=", "DE")])
    assert plan.applied_filters == (("country", "=", "DE"),)
    assert {f.split("/")[0] for f in task_files(plan)} == {"country=DE"}


def test_columns_option(catalog: Catalog) -> None:
    obj = catalog.get("silver.visits")
    write(obj, VISITS)
    out = read(obj, {"columns": "value, id"})
    assert out.column_names == ["value", "id"]
    assert rows(out) == rows(VISITS.select(["value", "id"]))
    only_part = read(obj, {"columns": "country"})
    assert only_part.column_names == ["country"] and only_part.num_rows == 5
    assert sorted(only_part.column("country").to_pylist(), key=str) == sorted(
        VISITS.column("country").to_pylist(), key=str
    )
    assert read(obj, {"columns": ["day", "id"]}).column_names == ["day", "id"]
    with pytest.raises(DaoError, match=r"unknown columns \['vale'\]\. Did you mean 'value'\?.*Columns: id, value, country, day"):
        read(obj, {"columns": "id,vale"})


@pytest.mark.parametrize("name", ["bronze.visits", "raw.visits"])
def test_columns_option_text_formats(catalog: Catalog, name: str) -> None:
    obj = catalog.get(name)
    write(obj, VISITS)
    assert read(obj, {"columns": "day"}).num_rows == 5
    assert rows(read(obj, {"columns": "id,value"})) == rows(VISITS.select(["id", "value"]))


# --------------------------------------------------------------------------- modes
def test_append_twice_doubles_rows(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    data = pa.table({"id": [1, 2], "country": ["DE", "FR"]})
    first = write(obj, data, mode="append")
    before = files_under(obj)
    second = write(obj, data, mode="append")
    after = files_under(obj)
    assert first.files_added == second.files_added == 2 and second.files_removed == 0
    assert set(before) < set(after) and len(after) == 4
    assert sorted(read(obj).column("id").to_pylist()) == [1, 1, 2, 2]


def test_overwrite_replaces_every_file(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    write(obj, pa.table({"id": [1, 2, 3], "country": ["DE", "FR", "US"]}))
    old = files_under(obj)
    result = write(obj, pa.table({"id": [9], "country": ["NL"]}), mode="overwrite")
    new = files_under(obj)
    assert not set(old) & set(new)
    assert [f.split("/")[0] for f in new] == ["country=NL"]
    assert dirs_under(obj) == ["country=NL"]  # emptied partition folders are gone too
    assert result.files_removed == 3 and result.files_added == 1 and result.rows_written == 1
    assert rows(read(obj)) == [{"id": 9, "country": "NL"}]


@pytest.mark.parametrize("how", [{"mode": "dynamic"}, {"mode": "overwrite", "partitionOverwriteMode": "dynamic"}])
def test_dynamic_partition_overwrite(catalog: Catalog, how: dict[str, str]) -> None:
    obj = catalog.get("silver.visits")
    write(obj, VISITS)
    before = files_under(obj)
    data = pa.table({"id": [10, 11], "country": ["DE", "NL"], "day": [1, 1], "value": [0.0, 0.0]})
    result = write(obj, data, **how)
    after = files_under(obj)
    assert result.mode == "dynamic"
    assert sorted(result.partitions) == ["country=DE/day=1", "country=NL/day=1"]
    assert result.files_removed == 1 and result.files_added == 2
    untouched = [f for f in before if not f.startswith(("country=DE/day=1/",))]
    assert len(untouched) == 4 and set(untouched) <= set(after)  # the very same file names
    assert [f for f in before if f.startswith("country=DE/day=1/")][0] not in after
    assert sorted(read(obj).column("id").to_pylist()) == [2, 3, 4, 5, 10, 11]


def test_dynamic_needs_partition_by(catalog: Catalog) -> None:
    obj = catalog.get("silver.flat")
    with pytest.raises(DaoError, match=r"dynamic partition overwrite needs partition_by"):
        write(obj, pa.table({"id": [1]}), mode="dynamic")
    assert not os.path.exists(obj.location)


def test_errorifexists(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    data = pa.table({"id": [1], "country": ["DE"]})
    assert write(obj, data, mode="errorifexists").rows_written == 1
    before = files_under(obj)
    with pytest.raises(DaoError, match=r"'silver.events' already has data at .*use mode='append', 'overwrite' or 'ignore'"):
        write(obj, data, mode="error")
    assert files_under(obj) == before


def test_errorifexists_rechecks_at_commit(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    itf = get_interface(obj.store)
    data = pa.table({"id": [1], "country": ["DE"]})
    spec = itf.prepare_write(obj, data.schema, {"mode": "errorifexists"})
    part = itf.stage(obj, data.to_batches(), spec, "job-late")
    write(obj, pa.table({"id": [2], "country": ["FR"]}))  # a concurrent writer got there first
    before = [f for f in files_under(obj) if not f.startswith(STAGING)]
    with pytest.raises(DaoError, match="already has data"):
        itf.commit(obj, [part], spec)
    assert files_under(obj) == before  # staging removed too
    assert read(obj).column("id").to_pylist() == [2]


def test_ignore_is_a_noop_when_data_exists(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    first = write(obj, pa.table({"id": [1], "country": ["DE"]}), mode="ignore")
    assert not first.skipped and first.rows_written == 1
    before = files_under(obj)
    result = write(obj, pa.table({"id": [2], "country": ["FR"]}), mode="ignore")
    assert result.skipped and result.rows_written == 0 and result.files_added == 0
    assert "skipped" in str(result)
    assert files_under(obj) == before
    assert read(obj).column("id").to_pylist() == [1]


def test_mode_names() -> None:
    assert parse_mode(None) == "errorifexists"
    assert parse_mode("Error") == "errorifexists"
    assert parse_mode("overwrite-partitions") == "dynamic"
    with pytest.raises(DaoError, match=r"unknown write mode 'apend' for x\. Did you mean 'append'\?.*dynamic = "):
        parse_mode("apend", obj="x")


def test_unknown_mode_writes_nothing(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    with pytest.raises(DaoError, match=r"unknown write mode 'upsertt'.*Valid modes: append, overwrite, dynamic"):
        write(obj, pa.table({"id": [1], "country": ["DE"]}), mode="upsertt")
    assert not os.path.exists(obj.location)


# --------------------------------------------------------------------------- empty writes
@pytest.mark.parametrize("name", ["silver.events", "bronze.plain"])
def test_overwrite_with_empty_table_keeps_columns(catalog: Catalog, name: str) -> None:
    obj = catalog.get(name)
    write(obj, pa.table({"id": [1, 2], "country": ["DE", "FR"]}))
    old = files_under(obj)
    empty = pa.table({"id": pa.array([], pa.int64()), "country": pa.array([], pa.string())})
    result = write(obj, empty, mode="overwrite")
    assert result.rows_written == 0 and result.files_added == 1 and result.files_removed == len(old)
    # csv and partitioned objects also get the schema sidecar (their empty file cannot type every column)
    sidecar = [] if obj.format == "parquet" and not obj.partition_by else ["_dao_schema.json"]
    (marker,) = [f for f in files_under(obj) if f not in sidecar]
    assert files_under(obj) == sorted([marker, *sidecar])
    assert marker not in old
    out = read(obj)
    assert out.num_rows == 0
    assert sorted(out.column_names) == ["country", "id"]
    assert get_interface(obj.store).exists(obj)
    # appending afterwards works and the empty marker does not decide the column types
    write(obj, pa.table({"id": [7], "country": ["NL"]}))
    after = read(obj)
    assert after.schema.field("id").type == pa.int64()
    assert after.column("id").to_pylist() == [7]


def test_empty_json_write_reads_back_with_catalog_columns(catalog: Catalog) -> None:
    obj = catalog.get("raw.typed")
    empty = pa.table(
        {
            "id": pa.array([], pa.int64()),
            "born": pa.array([], pa.date32()),
            "amount": pa.array([], pa.decimal128(10, 2)),
            "seen": pa.array([], pa.timestamp("us")),
        }
    )
    write(obj, empty, mode="overwrite")
    out = read(obj)
    assert out.num_rows == 0 and out.column_names == ["id", "born", "amount", "seen"]
    # without a declared schema there is nothing to recover columns from, but it still reads
    assert read(obj.with_(schema=None)).num_rows == 0


def test_append_of_nothing_changes_nothing(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    write(obj, pa.table({"id": [1], "country": ["DE"]}))
    before = files_under(obj)
    result = write(obj, pa.table({"id": pa.array([], pa.int64()), "country": pa.array([], pa.string())}))
    assert result.files_added == 0 and result.rows_written == 0
    assert files_under(obj) == before


# --------------------------------------------------------------------------- read task splitting
def test_large_parquet_file_splits_by_row_groups(catalog: Catalog) -> None:
    obj = catalog.get("silver.big")
    n = 20_000
    write(obj, pa.table({"id": list(range(n)), "payload": [f"row-{i:06d}" for i in range(n)]}), row_group_size=1000)
    (only,) = files_under(obj)
    meta = pq.ParquetFile(Path(obj.location) / only).metadata
    assert meta.num_row_groups == 20
    itf = get_interface(obj.store)
    plan = itf.plan_read(obj, {"split_bytes": 3 * meta.row_group(0).total_byte_size})
    assert len(plan.tasks) >= 5
    groups = [g for task in plan.tasks for sl in task.payload.slices for g in sl.row_groups]
    assert sorted(groups) == list(range(20))
    ids = [i for task in plan.tasks for b in itf.read(task) for i in b.column("id").to_pylist()]
    assert sorted(ids) == list(range(n))
    # Without a small split the whole file is one task.
    assert len(itf.plan_read(obj, {}).tasks) == 1


def test_many_small_files_pack_into_few_tasks(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    n = 400
    write(obj, pa.table({"id": list(range(n)), "country": [f"C{i % 40:02d}" for i in range(n)]}), max_rows_per_file=5)
    files = files_under(obj)
    assert len(files) == 80
    itf = get_interface(obj.store)
    plan = itf.plan_read(obj, {"parallelism": 4})
    assert 1 < len(plan.tasks) <= 5
    assert task_files(plan) == files
    ids = [i for task in plan.tasks for b in itf.read(task) for i in b.column("id").to_pylist()]
    assert sorted(ids) == list(range(n))
    # A tiny split gives one task per file.
    assert len(itf.plan_read(obj, {"split_bytes": 1}).tasks) == 80


def test_equal_files_fill_every_core_like_spark(catalog: Catalog, tmp_path: Path) -> None:
    # Eight files of nearly equal size on two cores: Spark's packing gives two tasks of four files;
    # counting the open cost before the file (the old rule) left one core idle on a third task.
    obj = catalog.get("silver.big")
    rows = [200_000 + 37 * i for i in range(8)]
    start = 0
    for n in rows:
        write(obj, pa.table({"id": list(range(start, start + n))}), mode="append")
        start += n
    files = files_under(obj)
    assert len(files) == 8
    itf = get_interface(obj.store)
    plan = itf.plan_read(obj, {"parallelism": 2})
    assert [len(t.payload.slices) for t in plan.tasks] == [4, 4]
    assert all(sl.size > 0 for t in plan.tasks for sl in t.payload.slices)


# --------------------------------------------------------------------------- schema checks
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (pa.table({"id": ["1"], "country": ["DE"], "value": [1.0]}), r"changed types \['id \(string -> stored int64\)'\]"),
        (pa.table({"id": [1], "country": ["DE"]}), r"missing columns \['value'\]"),
        (pa.table({"id": [1], "country": ["DE"], "value": [1.0], "extra": [True]}), r"new columns \['extra'\]"),
    ],
)
def test_append_schema_mismatch_writes_nothing(catalog: Catalog, data: pa.Table, message: str) -> None:
    obj = catalog.get("silver.events")
    write(obj, pa.table({"id": [1], "country": ["DE"], "value": [0.5]}))
    before = files_under(obj)
    with pytest.raises(SchemaMismatch, match=message) as info:
        write(obj, data)
    assert "'silver.events'" in str(info.value)
    assert files_under(obj) == before
    assert not os.path.exists(Path(obj.location) / STAGING)
    assert read(obj).num_rows == 1


def test_safe_widening_appends(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    write(obj, pa.table({"id": pa.array([1], pa.int64()), "country": ["DE"], "score": pa.array([1.0], pa.float64())}))
    result = write(
        obj, pa.table({"id": pa.array([2], pa.int32()), "country": ["DE"], "score": pa.array([2.0], pa.float32())})
    )
    assert result.rows_written == 1
    out = read(obj)
    assert out.schema.field("id").type == pa.int64() and out.schema.field("score").type == pa.float64()
    assert rows(out) == [{"id": 1, "score": 1.0, "country": "DE"}, {"id": 2, "score": 2.0, "country": "DE"}]
    for rel in files_under(obj):  # the appended file was written with the stored types
        assert pq.read_schema(Path(obj.location) / rel).field("id").type == pa.int64()


def test_catalog_schema_narrowing_rejected_decimal_widening_accepted(catalog: Catalog) -> None:
    obj = catalog.get("silver.amounts")
    with pytest.raises(SchemaMismatch, match=r"does not match the schema declared in the catalog: changed types") as info:
        write(obj, pa.table({"id": [1], "amount": [1.5]}))
    assert "['amount (double -> stored decimal128(10, 2))']" in str(info.value)
    assert "change the 'schema' of 'silver.amounts' in the catalog" in str(info.value)
    assert not os.path.exists(obj.location)
    write(obj, pa.table({"id": [1], "amount": [Decimal("1.10")]}))  # inferred decimal(3, 2)
    out = read(obj)
    assert out.schema.field("amount").type == pa.decimal128(10, 2)
    assert out.column("amount").to_pylist() == [Decimal("1.10")]


def test_missing_partition_column_is_a_schema_mismatch(catalog: Catalog) -> None:
    obj = catalog.get("silver.visits")
    with pytest.raises(SchemaMismatch, match=r"partition columns \['day'\].*columns: id, country"):
        write(obj, pa.table({"id": [1], "country": ["DE"]}))
    assert not os.path.exists(obj.location)


# --------------------------------------------------------------------------- staging guarantees
def test_staged_data_is_invisible_until_commit(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    write(obj, pa.table({"id": [1], "country": ["DE"]}))
    itf = get_interface(obj.store)
    new = pa.table({"id": [2, 3], "country": ["DE", "FR"]})
    spec = itf.prepare_write(obj, new.schema, {"mode": "append"})
    part = itf.stage(obj, new.to_batches(), spec, "job42")
    assert part.rows == 2 and len(part.files) == 2
    staged = [f for f in files_under(obj) if f.startswith(f"{STAGING}/job42/")]
    assert sorted(f.split("/", 2)[2] for f in staged) == sorted(f.path for f in part.files)
    assert read(obj).column("id").to_pylist() == [1]
    assert task_files(itf.plan_read(obj, {})) == [f for f in files_under(obj) if not f.startswith("_")]
    result = itf.commit(obj, [part], spec)
    assert result.rows_written == 2 and result.files_added == 2
    assert sorted(read(obj).column("id").to_pylist()) == [1, 2, 3]
    assert not os.path.exists(Path(obj.location) / STAGING)


def test_abort_restores_the_target(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    write(obj, pa.table({"id": [1], "country": ["DE"]}))
    before_files, before_data = files_under(obj), read(obj)
    itf = get_interface(obj.store)
    new = pa.table({"id": [2], "country": ["FR"]})
    spec = itf.prepare_write(obj, new.schema, {"mode": "overwrite"})
    part = itf.stage(obj, new.to_batches(), spec, "job-abort")
    assert any(f.startswith(f"{STAGING}/job-abort/") for f in files_under(obj))
    itf.abort(obj, [part], spec)
    assert files_under(obj) == before_files
    assert read(obj).equals(before_data)
    assert not os.path.exists(Path(obj.location) / STAGING)


def test_failing_batch_iterator_then_abort_leaves_target_unchanged(catalog: Catalog) -> None:
    obj = catalog.get("silver.flat")
    write(obj, pa.table({"id": [-1]}))
    before = files_under(obj)
    itf = get_interface(obj.store)
    spec = itf.prepare_write(obj, pa.schema([("id", pa.int64())]), {"mode": "overwrite", "max_rows_per_file": 100})

    def batches():
        for i in range(50):
            yield pa.record_batch({"id": list(range(i * 100, i * 100 + 100))})
        # die only once the writer has put some files in staging (it writes in the background)
        deadline = time.monotonic() + 10
        while not any(f.startswith(f"{STAGING}/job-dies/") for f in files_under(obj)):
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        raise RuntimeError("source died")

    with pytest.raises(RuntimeError, match="source died"):
        itf.stage(obj, batches(), spec, "job-dies")
    assert any(f.startswith(f"{STAGING}/job-dies/") for f in files_under(obj))  # partial files were staged
    itf.abort(obj, [StagedPart(job_id="job-dies")], spec)
    assert files_under(obj) == before
    assert read(obj).column("id").to_pylist() == [-1]


class _FailingMoveFS:
    """Delegates to a real pyarrow filesystem; ``move`` fails from the n-th call on."""

    def __init__(self, fs: Any, fail_at: int) -> None:
        self._fs, self._fail_at, self.moves = fs, fail_at, 0

    def move(self, src: str, dst: str) -> None:
        self.moves += 1
        if self.moves >= self._fail_at:
            raise OSError(f"disk on fire moving {src}")
        self._fs.move(src, dst)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fs, name)


def test_commit_failure_while_moving_rolls_back(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    obj = catalog.get("silver.events")
    write(obj, pa.table({"id": [1, 2], "country": ["DE", "FR"]}))
    before_files, before_data = files_under(obj), read(obj)
    before_dirs = dirs_under(obj)
    itf = get_interface(obj.store)
    new = pa.table({"id": [7, 8, 9], "country": ["NL", "BE", "DE"]})
    spec = itf.prepare_write(obj, new.schema, {"mode": "overwrite"})
    part = itf.stage(obj, new.to_batches(), spec, "job-move")
    real_fs, base = itf._where(obj)
    failing = _FailingMoveFS(real_fs, fail_at=2)
    monkeypatch.setattr(itf, "_where", lambda o: (failing, base))
    with pytest.raises(DaoError, match=r"commit failed while moving files.*previous data is unchanged.*disk on fire"):
        itf.commit(obj, [part], spec)
    assert failing.moves == 2
    monkeypatch.undo()
    assert files_under(obj) == before_files  # the moved file was taken back, staging removed
    assert dirs_under(obj) == before_dirs
    assert read(obj).equals(before_data)


def test_unknown_options_list_valid_ones(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    with pytest.raises(DaoError, match=r"unknown option 'compresion'\. Did you mean 'compression'\?.*Valid options: .*row_group_size"):
        write(obj, pa.table({"id": [1], "country": ["DE"]}), compresion="zstd")
    assert not os.path.exists(obj.location)
    write(obj, pa.table({"id": [1], "country": ["DE"]}))
    with pytest.raises(DaoError, match=r"unknown option 'colums'\. Did you mean 'columns'\?.*Valid options: columns"):
        get_interface(obj.store).plan_read(obj, {"colums": "id"})


def test_missing_object_hints_close_names(catalog: Catalog) -> None:
    write(catalog.get("silver.events"), pa.table({"id": [1], "country": ["DE"]}))
    obj = catalog.get("silver.event")
    with pytest.raises(ObjectNotFound, match=r"'silver.event' has no data at .*Did you mean 'events'\?"):
        get_interface(obj.store).plan_read(obj, {})
    with pytest.raises(ObjectNotFound, match=r"'silver.zzz' has no data") as info:
        read(catalog.get("silver.zzz"))
    assert "Did you mean" not in str(info.value)


# --------------------------------------------------------------------------- management and metrics
def test_exists_delete_list_objects(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    itf = get_interface(obj.store)
    assert not itf.exists(obj)
    assert itf.delete(obj) is False
    assert itf.list_objects() == []
    write(obj, pa.table({"id": [1], "country": ["DE"]}))
    write(catalog.get("silver.flat"), pa.table({"id": [1]}))
    os.makedirs(Path(obj.store.location) / "_scratch")
    os.makedirs(Path(obj.store.location) / ".hidden")
    assert itf.exists(obj)
    assert itf.list_objects() == ["events", "flat"]
    assert itf.delete(obj) is True
    assert not os.path.exists(obj.location)
    assert not itf.exists(obj)
    assert itf.list_objects() == ["flat"]
    with pytest.raises(ObjectNotFound):
        read(obj)


def test_only_staged_files_do_not_make_an_object_exist(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    itf = get_interface(obj.store)
    data = pa.table({"id": [1], "country": ["DE"]})
    spec = itf.prepare_write(obj, data.schema, {"mode": "append"})
    part = itf.stage(obj, data.to_batches(), spec, "job-x")
    assert part.files and not itf.exists(obj)
    with pytest.raises(ObjectNotFound):
        itf.plan_read(obj, {})
    itf.commit(obj, [part], spec)
    assert itf.exists(obj)


def test_write_result_metrics(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    data = pa.table({"id": list(range(10)), "country": ["DE"] * 6 + ["FR"] * 4})
    result = write(obj, data, max_rows_per_file=3)
    assert result.object == "silver.events" and result.mode == "append"
    assert result.location == obj.location
    assert result.rows_written == 10
    assert result.files_added == len(files_under(obj)) == 4  # DE: 3+3, FR: 3+1
    assert result.files_removed == 0
    assert result.partitions == ("country=DE", "country=FR")
    line = str(result)
    assert "rows_written=10" in line and "files_added=4" in line and "partitions=2" in line
    again = write(obj, data.slice(0, 1), mode="overwrite")
    assert (again.rows_written, again.files_added, again.files_removed) == (1, 1, 4)


def test_several_staged_parts_commit_together(catalog: Catalog) -> None:
    obj = catalog.get("silver.events")
    itf = get_interface(obj.store)
    schema = pa.schema([("id", pa.int64()), ("country", pa.string())])
    spec = itf.prepare_write(obj, schema, {"mode": "overwrite"})
    parts = [
        itf.stage(obj, [pa.record_batch({"id": [i], "country": ["DE"]}, schema=schema)], spec, "job-multi")
        for i in range(3)
    ]
    result = itf.commit(obj, parts, spec)
    assert result.rows_written == 3 and result.files_added == 3
    assert sorted(read(obj).column("id").to_pylist()) == [0, 1, 2]
    assert not os.path.exists(Path(obj.location) / STAGING)
