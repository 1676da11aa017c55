"""Edges of the files interface (issue 7): partition column names, schema checks on csv/json appends,
empty writes keeping their columns, a store path that is a file, and symlinks leading out of a store."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from _helpers import tree

from spark_dao import DaoError, DataAccessObject, SchemaMismatch
from spark_dao.errors import ObjectNotFound


def make_dao(tmp_path: Path, objects: dict[str, Any], **store: Any) -> DataAccessObject:
    return DataAccessObject(
        {"stores": {"lake": {"interface": "files", "path": str(tmp_path / "lake"), **store}}, "objects": objects}
    )


def write(dao: DataAccessObject, name: str, table: pa.Table, mode: str = "append", **options: Any) -> Any:
    return dao.write(table, name, mode=mode, engine="pandas", options=options or None)


def read(dao: DataAccessObject, name: str) -> pa.Table:
    return dao.read(name, engine="arrow")


# --------------------------------------------------------------------------- 4. partition column names
BAD_PARTITION_NAMES = [
    ("a=b", "contains '='"),
    ("a/b", "contains '/'"),
    ("a\\b", "contains '\\'"),
    ("a%2Fb", "contains '%'"),
    ("_day", "starts with '_' or '.'"),
    (".day", "starts with '_' or '.'"),
    ("da\ny", "a control character"),
]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
@pytest.mark.parametrize(("column", "problem"), BAD_PARTITION_NAMES)
def test_partition_column_that_breaks_hive_paths_is_refused_before_any_io(
    tmp_path: Path, column: str, problem: str, fmt: str
) -> None:
    dao = make_dao(tmp_path, {"lake.events": {"partition_by": [column], "format": fmt}})
    data = pa.table({"id": [1, 2], column: ["x", "y"]})
    with pytest.raises(SchemaMismatch) as err:
        write(dao, "lake.events", data)
    msg = str(err.value)
    assert f"writing 'lake.events' (store 'lake'): partition column {column!r}" in msg
    assert problem in msg
    assert "Rename the column" in msg and "'partition_by' of 'lake.events'" in msg
    assert not (tmp_path / "lake").exists()  # refused before any I/O
    with pytest.raises(SchemaMismatch, match="reading 'lake.events' .*partition column"):
        read(dao, "lake.events")


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_partition_columns_with_other_characters_round_trip(tmp_path: Path, fmt: str) -> None:
    """What is accepted round-trips: spaces, dashes, dots, unicode, and values with '/', '=' or '%'."""
    dao = make_dao(tmp_path, {"lake.events": {"partition_by": ["pays d'origine", "jour-1.x", "größe"], "format": fmt}})
    data = pa.table({
        "id": [1, 2, 3],
        "pays d'origine": ["a/b", "c=d", "50%"],
        "jour-1.x": ["v1", "v2", "v2"],
        "größe": ["S", "M", "L"],
    })
    write(dao, "lake.events", data)
    back = read(dao, "lake.events").sort_by("id")
    for col in data.column_names:
        assert back.column(col).to_pylist() == data.column(col).to_pylist(), col


# --------------------------------------------------------------------------- 5. csv/json schema checks
@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("mode", ["append", "dynamic", "upsert"])
def test_appending_another_schema_to_csv_or_json_is_refused_before_any_task(
    tmp_path: Path, fmt: str, mode: str
) -> None:
    dao = make_dao(tmp_path, {"lake.t": {"format": fmt, "partition_by": ["p"], "keys": ["a"]}})
    first = pa.table({"a": [1, 2], "b": ["x", "y"], "p": ["k", "k"]})
    write(dao, "lake.t", first)
    before = tree(tmp_path / "lake")
    bad = pa.table({"a": ["q", "r"], "c": [1.5, 2.5], "p": ["k", "k"]})
    with pytest.raises(SchemaMismatch) as err:
        if mode == "upsert":
            dao.upsert(bad, "lake.t", keys=["a"], engine="pandas")
        elif mode == "dynamic":
            write(dao, "lake.t", bad, mode="overwrite", partitionOverwriteMode="dynamic")
        else:
            write(dao, "lake.t", bad)
    msg = str(err.value)
    verb = "upserting into" if mode == "upsert" else "appending to"
    assert f"{verb} 'lake.t' (store 'lake', format {fmt})" in msg
    assert "missing columns ['b']" in msg and "new columns ['c']" in msg
    assert "changed types ['a (string -> stored int64)']" in msg
    assert "mode='overwrite'" in msg
    assert tree(tmp_path / "lake") == before  # nothing written, no staging left
    assert read(dao, "lake.t").sort_by("a").to_pylist() == first.to_pylist()


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_appending_a_compatible_schema_to_csv_or_json_still_works(tmp_path: Path, fmt: str) -> None:
    dao = make_dao(tmp_path, {"lake.t": {"format": fmt}})
    utc = dt.UTC
    first = pa.table({
        "a": [1], "f": [1.5], "s": ["x"], "d": [dt.date(2025, 1, 7)],
        "t": pa.array([dt.datetime(2025, 1, 7, 10, tzinfo=utc)], pa.timestamp("us", "UTC")), "ok": [True],
    })
    write(dao, "lake.t", first)
    # other column order, an int into a float column, a null column, numbers into a string column
    second = pa.table({
        "ok": [False], "t": pa.array([dt.datetime(2025, 1, 8, 10, tzinfo=utc)], pa.timestamp("us", "UTC")),
        "d": [dt.date(2025, 1, 8)], "s": pa.array([None], pa.null()), "f": [2], "a": [2],
    })
    write(dao, "lake.t", second)
    back = read(dao, "lake.t").sort_by("a")
    assert back.column("a").to_pylist() == [1, 2]
    assert back.column("f").to_pylist() == [1.5, 2.0]
    assert back.column("s").to_pylist() == ["x", None]
    assert back.column("ok").to_pylist() == [True, False]
    assert [v.date() if isinstance(v, dt.datetime) else v for v in back.column("d").to_pylist()] == [
        dt.date(2025, 1, 7), dt.date(2025, 1, 8)]


def test_csv_without_header_compares_columns_by_position(tmp_path: Path) -> None:
    dao = make_dao(tmp_path, {"lake.t": {"format": "csv"}})
    write(dao, "lake.t", pa.table({"a": [1], "b": ["x"]}), header=False)
    before = tree(tmp_path / "lake")
    with pytest.raises(SchemaMismatch, match=r"new columns \['c'\]"):
        write(dao, "lake.t", pa.table({"a": [2], "b": ["y"], "c": [3]}), header=False)
    with pytest.raises(SchemaMismatch, match=r"changed types \['a \(string -> stored int64\)'\]"):
        write(dao, "lake.t", pa.table({"a": ["z"], "b": ["y"]}), header=False)
    assert tree(tmp_path / "lake") == before
    write(dao, "lake.t", pa.table({"x": [2], "y": ["y"]}), header=False)  # names are not stored: position
    back = dao.read("lake.t", engine="arrow", options={"header": "false"})
    assert sorted(back.column(0).to_pylist()) == [1, 2]


# --------------------------------------------------------------------------- 6. empty writes keep columns
EMPTY = pa.table({
    "id": pa.array([], pa.int64()),
    "name": pa.array([], pa.string()),
    "score": pa.array([], pa.float64()),
    "day": pa.array([], pa.date32()),
    "seen": pa.array([], pa.timestamp("us", "UTC")),
    "ok": pa.array([], pa.bool_()),
})


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
@pytest.mark.parametrize("partitioned", [False, True])
def test_empty_write_reads_back_with_its_columns_and_types(tmp_path: Path, fmt: str, partitioned: bool) -> None:
    objects = {"lake.t": {"format": fmt, **({"partition_by": ["id"]} if partitioned else {})}}
    dao = make_dao(tmp_path, objects)
    write(dao, "lake.t", EMPTY, mode="overwrite")
    back = read(dao, "lake.t")
    assert back.num_rows == 0
    expected = EMPTY.schema if not partitioned else pa.schema([*(f for f in EMPTY.schema if f.name != "id"),
                                                                EMPTY.schema.field("id")])
    assert back.schema.names == expected.names
    for field in expected:
        assert back.schema.field(field.name).type == field.type, (fmt, field.name)
    pdf = dao.read("lake.t", engine="pandas")
    assert list(pdf.columns) == expected.names and len(pdf) == 0
    # appending to the empty object is checked against its columns, then reads back typed data
    with pytest.raises(SchemaMismatch, match=r"missing columns \['ok'\]"):
        write(dao, "lake.t", pa.table({"id": [1], "name": ["x"], "score": [1.0], "day": [dt.date(2025, 1, 7)],
                                       "seen": pa.array([None], pa.timestamp("us", "UTC"))}))
    row = pa.table({"id": [1], "name": ["x"], "score": [1.0], "day": [dt.date(2025, 1, 7)],
                    "seen": pa.array([dt.datetime(2025, 1, 7, tzinfo=dt.UTC)], pa.timestamp("us", "UTC")),
                    "ok": [True]})
    write(dao, "lake.t", row)
    after = read(dao, "lake.t")
    assert after.num_rows == 1 and after.column("id").to_pylist() == [1] and after.column("ok").to_pylist() == [True]
    sidecar = tmp_path / "lake" / "t" / "_dao_schema.json"
    assert sidecar.exists() == (fmt != "parquet" or partitioned)
    # an overwrite with rows makes the sidecar obsolete: it goes
    write(dao, "lake.t", pa.table({"other": [1.5], "id": [5]}), mode="overwrite")
    assert not sidecar.exists()
    assert read(dao, "lake.t").to_pylist() == [{"other": 1.5, "id": 5}]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_empty_write_reads_back_typed_in_spark(spark, tmp_path: Path, fmt: str) -> None:
    dao = DataAccessObject(
        {"stores": {"lake": {"interface": "files", "path": str(tmp_path / "lake")}},
         "objects": {"lake.t": {"format": fmt}}},
        spark=spark,
    )
    dao.write(EMPTY, "lake.t", mode="overwrite", engine="pandas")
    sdf = dao.read("lake.t", engine="spark")
    assert sdf.count() == 0
    assert [(f.name, f.dataType.simpleString()) for f in sdf.schema.fields] == [
        ("id", "bigint"), ("name", "string"), ("score", "double"), ("day", "date"), ("seen", "timestamp"),
        ("ok", "boolean"),
    ]


# --------------------------------------------------------------------------- 8. store path is a file
def test_store_path_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "lake"
    blocker.write_text("not a folder")
    dao = make_dao(tmp_path, {"lake.t": {}})
    hint = rf"the store's path {blocker} is a regular file, not a folder"
    with pytest.raises(DaoError, match=rf"listing store 'lake': its path {blocker} is a regular file, not a folder"):
        dao.list()
    with pytest.raises(DaoError, match=rf"writing 'lake.t' \(store 'lake'\): {hint}"):
        write(dao, "lake.t", pa.table({"a": [1]}))
    with pytest.raises(DaoError, match=rf"reading 'lake.t' \(store 'lake'\): {hint}") as err:
        read(dao, "lake.t")
    assert not isinstance(err.value, ObjectNotFound)
    with pytest.raises(DaoError, match=rf"checking 'lake.t' \(store 'lake'\): {hint}"):
        dao.exists("lake.t")
    assert blocker.read_text() == "not a folder" and tree(tmp_path) == ["lake"]


def test_store_path_that_is_a_file_on_uploads(tmp_path: Path) -> None:
    blocker = tmp_path / "bronze"
    blocker.write_text("not a folder")
    dao = DataAccessObject({"stores": {"bronze": {"interface": "objects", "path": str(blocker)}},
                            "objects": {"bronze.raw": {}}})
    with pytest.raises(DaoError, match=rf"writing object 'bronze.raw' \(store 'bronze'\): the store's path "
                                       rf"{blocker} is a regular file, not a folder"):
        dao.upload(b"abc", "bronze.raw", path="x/users.csv")
    with pytest.raises(DaoError, match=rf"the store's path {blocker} is a regular file"):
        dao.list()
    assert blocker.read_text() == "not a folder" and tree(tmp_path) == ["bronze"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions: chmod 000 cannot deny it access")
def test_permission_denied_is_a_clear_error(tmp_path: Path) -> None:
    dao = make_dao(tmp_path, {"lake.t": {}})
    write(dao, "lake.t", pa.table({"a": [1]}))
    (tmp_path / "lake" / "t").chmod(0)
    try:
        with pytest.raises(DaoError, match=r"'lake.t' \(store 'lake'\).*[Pp]ermission denied"):
            read(dao, "lake.t")
        with pytest.raises(DaoError, match=r"'lake.t' \(store 'lake'\).*[Pp]ermission denied"):
            write(dao, "lake.t", pa.table({"a": [2]}))
    finally:
        (tmp_path / "lake" / "t").chmod(0o755)


# --------------------------------------------------------------------------- 14. symlinks out of a store
@pytest.fixture
def outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    (out / "country=DE").mkdir(parents=True)
    (out / "keep.txt").write_text("precious")
    (out / "country=DE" / "keep.txt").write_text("precious")
    return out


def test_symlinked_object_folder_is_refused_for_write_read_and_delete(tmp_path: Path, outside: Path) -> None:
    dao = make_dao(tmp_path, {"lake.t": {}})
    (tmp_path / "lake").mkdir()
    os.symlink(outside, tmp_path / "lake" / "t")
    before = tree(outside)
    escape = rf"resolves to {outside}, outside the store's folder {tmp_path / 'lake'}"
    with pytest.raises(DaoError, match=rf"writing 'lake.t' \(store 'lake'\): {tmp_path / 'lake' / 't'} {escape}"):
        write(dao, "lake.t", pa.table({"a": [1]}))
    with pytest.raises(DaoError, match=rf"reading 'lake.t' \(store 'lake'\): .*{escape}"):
        read(dao, "lake.t")
    with pytest.raises(DaoError, match=rf"deleting 'lake.t' \(store 'lake'\): .*{escape}"):
        dao.delete("lake.t")
    assert tree(outside) == before and (outside / "keep.txt").read_text() == "precious"
    assert os.path.islink(tmp_path / "lake" / "t")


def test_symlinked_partition_folder_is_refused(tmp_path: Path, outside: Path) -> None:
    dao = make_dao(tmp_path, {"lake.events": {"partition_by": ["country"]}})
    write(dao, "lake.events", pa.table({"id": [1], "country": ["FR"]}))
    os.symlink(outside / "country=DE", tmp_path / "lake" / "events" / "country=DE")
    before_out, before_lake = tree(outside), tree(tmp_path / "lake")
    for mode in ("append", "overwrite"):
        with pytest.raises(DaoError, match=r"'lake.events' \(store 'lake'\): .*country=DE resolves to .*outside"):
            write(dao, "lake.events", pa.table({"id": [2], "country": ["DE"]}), mode=mode)
    assert tree(outside) == before_out and tree(tmp_path / "lake") == before_lake


def test_symlinked_staging_folder_is_refused(tmp_path: Path, outside: Path) -> None:
    dao = make_dao(tmp_path, {"lake.t": {}})
    write(dao, "lake.t", pa.table({"a": [1]}))
    os.symlink(outside, tmp_path / "lake" / "t" / "_dao_staging")
    before = tree(outside)
    with pytest.raises(DaoError, match=r"writing 'lake.t' \(store 'lake'\): .*_dao_staging resolves to"):
        write(dao, "lake.t", pa.table({"a": [2]}))
    assert tree(outside) == before
    assert read(dao, "lake.t").column("a").to_pylist() == [1]


def test_store_folder_itself_may_be_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real_lake"
    real.mkdir()
    os.symlink(real, tmp_path / "lake")
    dao = make_dao(tmp_path, {"lake.t": {}})
    write(dao, "lake.t", pa.table({"a": [1]}))
    assert read(dao, "lake.t").column("a").to_pylist() == [1]
    assert dao.delete("lake.t") and tree(real) == []


def objects_dao(tmp_path: Path) -> DataAccessObject:
    return DataAccessObject({"stores": {"bronze": {"interface": "objects", "path": str(tmp_path / "bronze")}},
                             "objects": {"bronze.raw": {}}})


def test_upload_through_a_symlink_out_of_the_store_is_refused(tmp_path: Path, outside: Path) -> None:
    dao = objects_dao(tmp_path)
    (tmp_path / "bronze" / "raw").mkdir(parents=True)
    os.symlink(outside, tmp_path / "bronze" / "raw" / "link")
    before = tree(outside)
    with pytest.raises(DaoError, match=r"writing object 'bronze.raw' \(store 'bronze'\): .*link resolves to "
                                       rf"{outside}, outside the store's folder"):
        dao.upload(b"evil", "bronze.raw", path="link/users.csv")
    with pytest.raises(DaoError, match=r"resolves to .*outside the store's folder"):
        dao.upload(b"evil", "bronze.raw", path="link/new/users.csv")
    assert tree(outside) == before


def test_delete_and_download_through_a_symlink_are_refused(tmp_path: Path, outside: Path) -> None:
    dao = objects_dao(tmp_path)
    (tmp_path / "bronze" / "raw").mkdir(parents=True)
    os.symlink(outside, tmp_path / "bronze" / "raw" / "link")
    before = tree(outside)
    itf, obj = dao._objects("bronze.raw")
    with pytest.raises(DaoError, match=r"deleting object 'bronze.raw' \(store 'bronze'\): .*resolves to"):
        itf.delete(obj, "link/keep.txt")
    with pytest.raises(DaoError, match=r"downloading object 'bronze.raw' \(store 'bronze'\): .*resolves to"):
        dao.download("bronze.raw", "link/keep.txt", tmp_path / "got.txt")
    with pytest.raises(DaoError, match=r"reading object 'bronze.raw' \(store 'bronze'\): .*resolves to"):
        dao.get_bytes("bronze.raw", "link/keep.txt")
    assert tree(outside) == before and not (tmp_path / "got.txt").exists()
    # a symlinked object folder: dao.delete refuses, the files outside stay
    os.symlink(outside, tmp_path / "bronze" / "linked")
    dao2 = DataAccessObject({"stores": {"bronze": {"interface": "objects", "path": str(tmp_path / "bronze")}},
                             "objects": {"bronze.linked": {}}})
    with pytest.raises(DaoError, match=r"deleting object 'bronze.linked' \(store 'bronze'\): .*resolves to"):
        dao2.delete("bronze.linked")
    assert tree(outside) == before


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_spark_append_of_another_schema_to_csv_or_json_writes_nothing(spark, tmp_path: Path, fmt: str) -> None:
    dao = DataAccessObject(
        {"stores": {"lake": {"interface": "files", "path": str(tmp_path / "lake")}},
         "objects": {"lake.t": {"format": fmt}}},
        spark=spark,
    )
    dao.write(pa.table({"a": [1, 2], "b": ["x", "y"]}), "lake.t", engine="pandas")
    before = tree(tmp_path / "lake")
    bad = spark.createDataFrame([("q", 1.5)], "a string, c double")
    with pytest.raises(SchemaMismatch) as err:  # the data source's SchemaMismatch reaches the DAO's caller
        dao.write(bad, "lake.t", mode="append", engine="spark")
    msg = str(err.value)
    assert f"appending to 'lake.t' (store 'lake', format {fmt})" in msg
    assert "missing columns ['b']" in msg and "new columns ['c']" in msg
    assert tree(tmp_path / "lake") == before
    assert read(dao, "lake.t").sort_by("a").to_pylist() == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def test_empty_json_write_and_csv_append_check_on_s3(s3_server: str, s3_bucket: str, s3_client: Any) -> None:
    dao = DataAccessObject({
        "stores": {"lake": {"interface": "files", "bucket": s3_bucket, "prefix": "data", "endpoint_url": s3_server,
                            "region": "us-east-1"}},
        "objects": {"lake.j": {"format": "json"}, "lake.c": {"format": "csv"}},
    })

    def keys() -> list[str]:
        return sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", ()))

    write(dao, "lake.j", EMPTY, mode="overwrite")
    back = read(dao, "lake.j")
    assert back.num_rows == 0 and back.schema.names == EMPTY.schema.names
    assert [back.schema.field(n).type for n in back.schema.names] == list(EMPTY.schema.types)
    assert "data/j/_dao_schema.json" in keys()
    write(dao, "lake.j", pa.table({"id": [1]}), mode="overwrite")
    assert [k for k in keys() if k.startswith("data/j/")] == [  # sidecar and empty file gone, no folder marker
        k for k in keys() if k.startswith("data/j/part-")]
    assert read(dao, "lake.j").to_pylist() == [{"id": 1}]
    write(dao, "lake.c", pa.table({"a": [1], "b": ["x"]}))
    before = keys()
    with pytest.raises(SchemaMismatch, match=r"appending to 'lake.c' \(store 'lake', format csv\).*new columns \['c'\]"):
        write(dao, "lake.c", pa.table({"a": [2], "b": ["y"], "c": [1]}))
    assert keys() == before
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


_AS_NOBODY = r"""
import json, sys
import pyarrow as pa
from spark_dao import DaoError, DataAccessObject
root = sys.argv[1]
dao = DataAccessObject({"stores": {
    "lake": {"interface": "files", "path": root + "/lake"},
    "locked": {"interface": "files", "path": root + "/locked"},
    "bronze": {"interface": "objects", "path": root + "/bronze"},
}, "objects": {"lake.t": {}, "bronze.raw": {}}})
calls = {
    "read": lambda: dao.read("lake.t", engine="arrow"),
    "write": lambda: dao.write(pa.table({"a": [2]}), "lake.t", mode="append", engine="pandas"),
    "exists": lambda: dao.exists("lake.t"),
    "list": lambda: dao.list("locked"),
    "upload": lambda: dao.upload(b"abc", "bronze.raw", path="2025-01-07/users.csv"),
}
out = {}
for name, call in calls.items():
    try:
        call()
        out[name] = ["ok", ""]
    except DaoError as exc:
        out[name] = [type(exc).__name__, str(exc)]
    except BaseException as exc:
        out[name] = ["raw " + type(exc).__name__, str(exc)]
print(json.dumps(out))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the calls as 'nobody' via setpriv, which needs root")
def test_permission_denied_is_a_clear_error_for_an_unprivileged_user() -> None:
    """Root ignores permissions, so the calls run in a child process as the 'nobody' user."""
    import json
    import shutil
    import subprocess
    import sys
    import tempfile

    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                            "import spark_dao"], capture_output=True, text=True, timeout=60, cwd="/")
    if probe.returncode != 0:  # e.g. a clone under a 0700 mktemp folder: 'nobody' cannot import it
        pytest.skip(f"user 'nobody' cannot import this clone of spark_dao: {probe.stderr.strip()[-200:]}")
    root = Path(tempfile.mkdtemp(prefix="spark_dao_perm_", dir="/tmp"))
    try:
        root.chmod(0o755)
        dao = DataAccessObject({"stores": {"lake": {"interface": "files", "path": str(root / "lake")}},
                                "objects": {"lake.t": {}}})
        write(dao, "lake.t", pa.table({"a": [1]}))
        (root / "locked").mkdir(mode=0o000)
        (root / "bronze" / "raw").mkdir(parents=True)
        (root / "bronze").chmod(0o755)
        (root / "bronze" / "raw").chmod(0o555)  # readable, not writable
        (root / "lake").chmod(0o755)
        (root / "lake" / "t").chmod(0o000)
        before = tree(root)
        proc = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", _AS_NOBODY,
             str(root)],
            capture_output=True, text=True, timeout=120, cwd="/", env={**os.environ, "HOME": "/tmp"},
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        for name in ("read", "write", "exists"):
            kind, msg = out[name]
            assert kind == "DaoError", (name, kind, msg)
            assert "'lake.t' (store 'lake')" in msg and "ermission denied" in msg, (name, msg)
        kind, msg = out["list"]
        assert kind == "DaoError" and "listing store 'locked'" in msg and "ermission denied" in msg, msg
        kind, msg = out["upload"]
        assert kind == "DaoError" and "object 'bronze.raw' (store 'bronze'" in msg and "ermission denied" in msg, msg
        (root / "lake" / "t").chmod(0o755)
        (root / "locked").chmod(0o755)
        assert tree(root) == before  # nothing written: no staging, no temporary file, no folder
    finally:
        for folder, dirs, _ in os.walk(root):
            for d in dirs:
                os.chmod(os.path.join(folder, d), 0o755)
        shutil.rmtree(root, ignore_errors=True)
