"""The native files path (spark_dao/engines/files_native.py): dao.read / dao.write with the Spark
engine on a files store run Spark's own parquet/csv/json reader and writer; the writer fills the
job's private staging folder and the files interface's commit publishes. Both paths must read and
write the same data, folders and names, and keep the same guarantees."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from spark_dao import DaoError, DataAccessObject, ObjectNotFound, SchemaMismatch
from spark_dao.catalog import Catalog
from spark_dao.engines import files_native
from spark_dao.interfaces.files import FilesInterface

PATHS = ["native", "python"]


def catalog_for(root: Path, **store: Any) -> Catalog:
    return Catalog.load({
        "stores": {"lake": {"interface": "files", "path": str(root), "format": "parquet", **store}},
        "objects": {
            "lake.events": {"partition_by": ["country"]},
            "lake.flat": {},
            "lake.days": {"partition_by": ["day", "n"]},
            "lake.text": {"format": "csv"},
            "lake.lines": {"format": "json"},
            "lake.typed": {"schema": {"id": "long", "amount": "double", "country": "string"}},
        },
    })


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which native functions ran: 'read' / 'write'."""
    seen: list[str] = []
    for name in ("read", "write"):
        real = getattr(files_native, name)

        def spy(*a: Any, _name: str = name, _real: Any = real, **k: Any) -> Any:
            seen.append(_name)
            return _real(*a, **k)

        monkeypatch.setattr(files_native, name, spy)
    return seen


def data_files(root: Path) -> list[str]:
    """Visible data files under root, relative, sorted (what readers see)."""
    out = []
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(("_", "."))]
        out += [os.path.relpath(os.path.join(dirpath, f), root) for f in files if not f.startswith(("_", "."))]
    return sorted(out)


def collect(df: Any) -> list[tuple]:
    return sorted((tuple(r) for r in df.collect()), key=repr)


def events(spark: Any, data: list[tuple]) -> Any:
    return spark.createDataFrame(data, "id long, amount double, country string")


# --------------------------------------------------------------------------- reads
@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_native_and_python_reads_return_the_same_rows_and_types(spark: Any, tmp_path: Path, fmt: str,
                                                                 calls: list[str]) -> None:
    dao = DataAccessObject(catalog_for(tmp_path, format=fmt), spark=spark)
    rows = [(i, i * 1.5, ["DE", "FR", "US"][i % 3]) for i in range(30)]
    dao.write(events(spark, rows), "lake.events", mode="overwrite", options={"engine_path": "python"})
    assert calls == []
    native = dao.read("lake.events", engine="spark")
    python = dao.read("lake.events", engine="spark", options={"engine_path": "python"})
    assert calls == ["read"]
    assert native.schema == python.schema
    assert collect(native) == collect(python) == sorted(rows, key=repr)
    # filters prune partitions, columns select, on both paths alike
    for path in PATHS:
        got = dao.read("lake.events", engine="spark", columns=["country", "id"],
                       filters=[("country", "in", ["DE", "US"]), ("id", "<=", 4)],
                       options={"engine_path": path})
        assert got.columns == ["country", "id"]
        assert collect(got) == [("DE", 0), ("DE", 3), ("US", 2)]


def test_native_read_uses_the_catalog_schema_and_the_partition_types(spark: Any, tmp_path: Path) -> None:
    dao = DataAccessObject(catalog_for(tmp_path), spark=spark)
    table = pa.table({"id": pa.array([1, 2], pa.int32()), "amount": [1.0, 2.0], "country": ["DE", "FR"]})
    dao.write(table, "lake.typed", engine="pandas", mode="overwrite")
    got = dao.read("lake.typed", engine="spark", options={"engine_path": "native"})
    assert got.schema.simpleString() == "struct<id:bigint,amount:double,country:string>"
    assert collect(got) == [(1, 1.0, "DE"), (2, 2.0, "FR")]
    days = pa.table({"v": [1, 2, 3], "day": [dt.date(2025, 1, 1), dt.date(2025, 1, 2), None], "n": [1, 2, 3]})
    dao.write(days, "lake.days", engine="pandas", mode="overwrite")
    native = dao.read("lake.days", engine="spark", options={"engine_path": "native"})
    python = dao.read("lake.days", engine="spark", options={"engine_path": "python"})
    assert native.schema == python.schema
    assert native.schema.simpleString() == "struct<v:bigint,day:date,n:bigint>"
    assert collect(native) == collect(python)
    assert collect(native.filter("day is null")) == [(3, None, 3)]


def test_native_read_errors_name_the_object(spark: Any, tmp_path: Path) -> None:
    dao = DataAccessObject(catalog_for(tmp_path), spark=spark)
    with pytest.raises(ObjectNotFound, match=r"'lake.flat'"):
        dao.read("lake.flat", engine="spark", options={"engine_path": "native"})
    dao.write(events(spark, [(1, 1.0, "DE")]), "lake.flat", mode="overwrite")
    with pytest.raises(DaoError, match=r"unknown columns \['nope'\]"):
        dao.read("lake.flat", engine="spark", columns=["nope"], options={"engine_path": "native"})
    with pytest.raises(DaoError, match=r"engine_path='fast' is not valid.*auto, native, python"):
        dao.read("lake.flat", engine="spark", options={"engine_path": "fast"})
    with pytest.raises(DaoError, match=r"engine_path='native' needs engine='spark'"):
        dao.read("lake.flat", engine="pandas", options={"engine_path": "native"})


def test_the_choice_is_logged_once_per_object_at_debug(spark: Any, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    dao = DataAccessObject(catalog_for(tmp_path), spark=spark)
    dao.write(events(spark, [(1, 1.0, "DE")]), "lake.flat", mode="overwrite")
    files_native._LOGGED.clear()
    with caplog.at_level(logging.DEBUG, logger="spark_dao.files"):
        dao.read("lake.flat", engine="spark")
        dao.read("lake.flat", engine="spark")
    lines = [r.getMessage() for r in caplog.records if "path for the Spark engine" in r.getMessage()]
    assert lines == [f"reading lake.flat: native (Spark files) path for the Spark engine: Spark's own "
                     f"reader/writer can reach {tmp_path / 'flat'} (engine_path=auto)"]


# --------------------------------------------------------------------------- writes
@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_native_writes_lay_out_folders_as_the_python_path(spark: Any, tmp_path: Path, fmt: str,
                                                          calls: list[str]) -> None:
    """Same partition folders (strings needing escapes, nulls, dates, booleans, integers), the
    Python path's file names, the same rows read back by pandas."""
    data = spark.createDataFrame(
        [(1, "a b/c", dt.date(2025, 1, 1), True, 7), (2, None, dt.date(2025, 1, 2), False, -1),
         (3, "x=y%", None, None, None)],
        "id long, s string, day date, flag boolean, n int")
    layouts = {}
    for path in PATHS:
        root = tmp_path / path
        dao = DataAccessObject(Catalog.load({
            "stores": {"lake": {"interface": "files", "path": str(root), "format": fmt}},
            "objects": {"lake.t": {"partition_by": ["s", "day", "flag", "n"]}}}), spark=spark)
        result = dao.write(data, "lake.t", mode="overwrite", options={"engine_path": path})
        assert (result.rows_written, result.files_added, len(result.partitions)) == (3, 3, 3)
        layouts[path] = sorted(os.path.dirname(f) for f in data_files(root / "t"))
        assert all(os.path.basename(f).startswith("part-") for f in data_files(root / "t"))
        back = dao.read("lake.t", engine="pandas").sort_values("id")
        assert back["id"].tolist() == [1, 2, 3]
        assert back["s"].tolist()[:2] == ["a b/c", None] and back["s"].tolist()[2] == "x=y%"
    assert calls == ["write"]
    assert layouts["native"] == layouts["python"]
    assert "s=a%20b%2Fc/day=2025-01-01/flag=true/n=7" in layouts["native"]


@pytest.mark.parametrize("writer", PATHS)
def test_csv_quotes_commas_and_nulls_cross_between_paths(spark: Any, tmp_path: Path, writer: str) -> None:
    dao = DataAccessObject(catalog_for(tmp_path), spark=spark)
    rows = [(1, 'say "hi", then go'), (2, None), (3, "a,b"), (4, '""'), (5, "back\\slash")]
    dao.write(spark.createDataFrame(rows, "id long, s string"), "lake.text", mode="overwrite",
              options={"engine_path": writer})
    for reader in PATHS:
        got = dao.read("lake.text", engine="spark", options={"engine_path": reader})
        assert collect(got) == sorted(rows, key=repr), (writer, reader)
    back = dao.read("lake.text", engine="pandas").sort_values("id")
    assert back["s"].tolist()[0] == 'say "hi", then go' and back["s"].tolist()[2] == "a,b"


def test_native_write_modes(spark: Any, tmp_path: Path, calls: list[str]) -> None:
    dao = DataAccessObject(catalog_for(tmp_path), spark=spark)
    root = tmp_path / "events"
    dao.write(events(spark, [(1, 1.0, "DE"), (2, 2.0, "FR")]), "lake.events", mode="overwrite")
    dao.write(events(spark, [(3, 3.0, "DE")]), "lake.events", mode="append")
    assert collect(dao.read("lake.events", engine="spark")) == [(1, 1.0, "DE"), (2, 2.0, "FR"), (3, 3.0, "DE")]
    # dynamic: only the partitions in the data are replaced (FR stays)
    dao.write(events(spark, [(9, 9.0, "DE"), (5, 5.0, "US")]), "lake.events", mode="dynamic")
    assert collect(dao.read("lake.events", engine="spark")) == [(2, 2.0, "FR"), (5, 5.0, "US"), (9, 9.0, "DE")]
    # errorifexists: refused before anything is written
    before = data_files(root)
    with pytest.raises(DaoError, match=r"'lake.events' already has data .*use mode='append'"):
        dao.write(events(spark, [(7, 7.0, "IT")]), "lake.events")
    skipped = dao.write(events(spark, [(7, 7.0, "IT")]), "lake.events", mode="ignore")
    assert skipped.skipped and data_files(root) == before
    # overwrite replaces everything
    result = dao.write(events(spark, [(10, 1.0, "IT")]), "lake.events", mode="overwrite")
    assert (result.files_removed, result.rows_written) == (len(before), 1)
    assert collect(dao.read("lake.events", engine="spark")) == [(10, 1.0, "IT")]
    assert calls.count("write") == 5  # the refused errorifexists write never reached it
    assert not (root / "_dao_staging").exists() or os.listdir(root / "_dao_staging") == []


def test_native_write_refuses_bad_input_before_writing(spark: Any, tmp_path: Path) -> None:
    dao = DataAccessObject(catalog_for(tmp_path), spark=spark)
    dao.write(events(spark, [(1, 1.0, "DE")]), "lake.events", mode="overwrite")
    before = data_files(tmp_path / "events")
    bad = spark.createDataFrame([("x", 1.0, "DE")], "id string, amount double, country string")
    with pytest.raises(SchemaMismatch, match=r"appending to 'lake.events' \(store 'lake', format parquet\)"):
        dao.write(bad, "lake.events", mode="append", options={"engine_path": "native"})
    with pytest.raises(DaoError, match=r"unknown option 'compresion'.*compression"):
        dao.write(events(spark, [(2, 1.0, "DE")]), "lake.events", mode="append", options={"compresion": "zstd"})
    assert data_files(tmp_path / "events") == before


def test_native_is_refused_by_name_where_it_cannot_run(spark: Any, tmp_path: Path, calls: list[str]) -> None:
    dao = DataAccessObject(catalog_for(tmp_path), spark=spark)
    stamped = spark.createDataFrame([(1, dt.datetime(2025, 1, 1, 12, 0))], "id long, ts timestamp")
    with pytest.raises(DaoError, match=r"writing 'lake.text' \(store 'lake'\): engine_path='native' cannot run "
                                       r"here: column 'ts' is timestamp.*Drop engine_path"):
        dao.write(stamped, "lake.text", mode="overwrite", options={"engine_path": "native"})
    assert not (tmp_path / "text").exists()
    # auto: the Python path writes it
    dao.write(stamped, "lake.text", mode="overwrite")
    assert calls == [] and dao.read("lake.text", engine="pandas")["id"].tolist() == [1]
    # parquet upserts run natively now (tests/test_files_native_upsert.py); csv ones are refused by name:
    res = dao.upsert(events(spark, [(1, 1.0, "DE")]), "lake.flat", keys=["id"], options={"engine_path": "native"})
    assert res.rows_inserted == 1
    with pytest.raises(DaoError, match=r"upserting into 'lake.text' \(store 'lake'\): engine_path='native' cannot "
                                       r"run here: upserts into csv objects run on the Python path"):
        dao.upsert(stamped, "lake.text", keys=["id"], options={"engine_path": "native"})


def test_each_refusal_falls_back_on_auto_and_names_its_reason_on_native(spark: Any, tmp_path: Path,
                                                                        calls: list[str]) -> None:
    cat = Catalog.load({
        "stores": {"lake": {"interface": "files", "path": str(tmp_path), "format": "parquet"}},
        "objects": {"lake.f": {"partition_by": ["x"]}, "lake.flat": {},
                    "lake.c": {"format": "csv", "schema": {"id": "long", "s": "string"}}},
    })
    dao = DataAccessObject(cat, spark=spark)
    floats = spark.createDataFrame([(1, 1.5)], "id long, x double")
    plain = spark.createDataFrame([(1, "a")], "id long, s string")
    cases = [  # (what runs, the reason native is refused with)
        (lambda o: dao.write(floats, "lake.f", mode="overwrite", options=o), r"partition column 'x' is double"),
        (lambda o: dao.write(plain, "lake.flat", mode="overwrite", options={"row_group_size": 10, **o}),
         r"row_group_size is set"),
        (lambda o: dao.read("lake.c", engine="spark", options=o).collect(), r"csv with a schema declared"),
    ]
    dao.write(plain, "lake.c", mode="overwrite", options={"engine_path": "python"})
    for run, reason in cases:
        with pytest.raises(DaoError, match=r"engine_path='native' cannot run here: " + reason):
            run({"engine_path": "native"})
        run({})  # auto: the Python path does it
    # files outside the object's partition folders (e.g. dropped there by hand)
    (tmp_path / "flat" / "extra").mkdir()
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [2], "s": ["b"]}), tmp_path / "flat" / "extra" / "more.parquet")
    with pytest.raises(DaoError, match=r"cannot run here: the file 'extra/more.parquet' is not in the object's "
                                       r"partition folders"):
        dao.read("lake.flat", engine="spark", options={"engine_path": "native"})
    assert collect(dao.read("lake.flat", engine="spark")) == [(1, "a"), (2, "b")]
    assert calls == []


def test_a_native_read_whose_files_vanish_names_the_object(spark: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    dao = DataAccessObject(catalog_for(tmp_path), spark=spark)
    dao.write(events(spark, [(1, 1.0, "DE")]), "lake.events", mode="overwrite")
    real = files_native.plan

    def plan_then_delete(*a: Any, **k: Any) -> Any:  # another job deletes the object meanwhile
        planned = real(*a, **k)
        shutil.rmtree(tmp_path / "events")
        return planned

    monkeypatch.setattr(files_native, "plan", plan_then_delete)
    with pytest.raises(DaoError, match=r"reading 'lake.events' \(store 'lake'\) with Spark failed: .*PATH_NOT_FOUND"):
        dao.read("lake.events", engine="spark", options={"engine_path": "native"})


def test_engine_path_python_on_the_store_forces_the_python_path(spark: Any, tmp_path: Path, calls: list[str]) -> None:
    dao = DataAccessObject(catalog_for(tmp_path, engine_path="python"), spark=spark)
    dao.write(events(spark, [(1, 1.0, "DE")]), "lake.flat", mode="overwrite")
    assert collect(dao.read("lake.flat", engine="spark")) == [(1, 1.0, "DE")]
    assert calls == []
    dao.write(events(spark, [(2, 1.0, "DE")]), "lake.flat", mode="append", options={"engine_path": "native"})
    assert calls == ["write"]


# --------------------------------------------------------------------------- failures
@pytest.fixture
def aborts(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Each abort of a native write, with the data files its staging held when it ran."""
    seen: list[list[str]] = []
    real = FilesInterface.abort

    def spy(self: Any, obj: Any, parts: Any, spec: Any = None, **k: Any) -> Any:
        fs, base = self._where(obj)
        staged = []
        for p in parts:
            root = Path(base) / "_dao_staging" / p.job_id
            staged += [str(f.relative_to(root)) for f in root.rglob("*.parquet")] if root.exists() else []
        seen.append(staged)
        return real(self, obj, parts, spec, **k)

    monkeypatch.setattr(FilesInterface, "abort", spy)
    return seen


def test_a_failed_spark_job_leaves_the_target_unchanged_and_no_staging(spark: Any, tmp_path: Path,
                                                                      aborts: list[list[str]]) -> None:
    from pyspark.sql import functions as F

    dao = DataAccessObject(catalog_for(tmp_path), spark=spark)
    dao.write(events(spark, [(1, 1.0, "DE"), (2, 2.0, "FR")]), "lake.events", mode="overwrite")
    root = tmp_path / "events"
    before = {f: (root / f).read_bytes() for f in data_files(root)}

    watch = str(root / "_dao_staging")

    @F.udf("double")
    def boom(i, x):  # noqa: ANN001, ANN202 - a Spark UDF
        import glob
        import time

        if i == 99:  # fail only after the other task has staged its file (the failure path must undo it)
            deadline = time.time() + 120
            while not glob.glob(f"{watch}/*/country=DE/*.parquet") and time.time() < deadline:
                time.sleep(0.05)
            raise ValueError("bad row 99")
        return x

    df = events(spark, [(5, 5.0, "DE"), (99, 1.0, "US")]).repartition(2, "id")
    df = df.withColumn("amount", boom("id", "amount"))
    for mode in ("overwrite", "dynamic", "append"):
        with pytest.raises(DaoError, match=r"writing 'lake.events' \(store 'lake'\) with Spark failed.*bad row 99"):
            dao.write(df, "lake.events", mode=mode, options={"engine_path": "native"})
        assert {f: (root / f).read_bytes() for f in data_files(root)} == before
        staging = root / "_dao_staging"
        assert not staging.exists() or [p.name for p in staging.iterdir()] == []
    # the failure path ran after something was staged (the task of row 5), and removed it
    assert len(aborts) == 3 and all(any(s.startswith("country=DE/") for s in staged) for staged in aborts)


def test_a_failed_commit_leaves_the_target_unchanged(spark: Any, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    dao = DataAccessObject(catalog_for(tmp_path), spark=spark)
    dao.write(events(spark, [(1, 1.0, "DE"), (2, 2.0, "FR")]), "lake.events", mode="overwrite")
    root = tmp_path / "events"
    before = {f: (root / f).read_bytes() for f in data_files(root)}
    moved: list[str] = []

    class FailingMoves:  # the real filesystem; the second move into place fails
        def __init__(self, fs: Any) -> None:
            self._fs = fs

        def move(self, src: str, dst: str) -> None:
            if moved:
                raise OSError("disk on fire")
            moved.append(dst)
            self._fs.move(src, dst)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._fs, name)

    real_where = FilesInterface._where
    monkeypatch.setattr(FilesInterface, "_where", lambda self, o: (FailingMoves(real_where(self, o)[0]),
                                                                    real_where(self, o)[1]))
    with pytest.raises(DaoError, match=r"commit failed while moving files .*previous data is unchanged.*disk on fire"):
        dao.write(events(spark, [(5, 5.0, "DE"), (6, 6.0, "US"), (7, 7.0, "IT")]).repartition(3, "country"),
                  "lake.events", mode="overwrite", options={"engine_path": "native"})
    assert moved, "the commit published one file before failing"
    assert {f: (root / f).read_bytes() for f in data_files(root)} == before
    assert not (root / "_dao_staging").exists() or os.listdir(root / "_dao_staging") == []


# --------------------------------------------------------------------------- S3 through s3a (moto)
def test_native_files_on_s3_through_s3a(spark: Any, s3_server: str, s3_bucket: str, s3_client: Any,
                                        calls: list[str]) -> None:
    from conftest import require_s3a

    require_s3a(spark)
    catalog = Catalog.load({
        "stores": {"lake": {"interface": "files", "bucket": s3_bucket, "prefix": "lake", "endpoint_url": s3_server,
                            "region": "us-east-1", "access_key": "testing", "secret_key": "testing"}},
        "objects": {"lake.events": {"partition_by": ["country"]}},
    })
    dao = DataAccessObject(catalog, spark=spark)
    dao.write(events(spark, [(1, 1.0, "DE"), (2, 2.0, "FR")]), "lake.events", mode="overwrite")
    dao.write(events(spark, [(3, 3.0, "DE")]), "lake.events", mode="dynamic")
    got = dao.read("lake.events", engine="spark")
    assert collect(got) == [(2, 2.0, "FR"), (3, 3.0, "DE")]
    assert calls == ["write", "write", "read"]
    keys = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="lake/")["Contents"])
    visible = [k for k in keys if "/_" not in k and "/." not in k]
    assert [k.rsplit("/", 1)[0] for k in visible] == ["lake/events/country=DE", "lake/events/country=FR"]
    assert not [k for k in keys if "_dao_staging/" in k and not k.endswith(".live")]
    # the Python path (pyarrow over S3) reads what Spark wrote
    assert sorted(dao.read("lake.events", engine="arrow").column("id").to_pylist()) == [2, 3]


def test_compressed_text_crosses_between_the_paths(spark: Any, tmp_path: Path, calls: list[str]) -> None:
    """gzip csv/json written natively read back on the Python path; codecs whose Hadoop framing Arrow
    cannot read (lz4, snappy) are refused before anything is written: the Python path cannot write
    them into csv/json either (tests/test_files_write_options.py)."""
    dao = DataAccessObject(catalog_for(tmp_path), spark=spark)
    rows = [(1, 1.0, "DE"), (2, 2.0, "FR")]
    for name in ("lake.text", "lake.lines"):
        dao.write(events(spark, rows), name, mode="overwrite", options={"compression": "gzip"})
        assert all(f.endswith(".gz") for f in data_files(tmp_path / name.split(".")[1]))
        back = dao.read(name, engine="pandas").sort_values("id")
        assert back["country"].tolist() == ["DE", "FR"]
    assert calls == ["write", "write"]
    for path in ("native", "auto"):
        with pytest.raises(DaoError, match=r"writing 'lake.lines' \(store 'lake'\): compression 'lz4' is not "
                                           r"available for json files; use 'gzip'"):
            dao.write(events(spark, rows), "lake.lines", mode="overwrite",
                      options={"compression": "lz4", "engine_path": path})
    assert sorted(dao.read("lake.lines", engine="pandas")["id"]) == [1, 2]  # the gzip files, unchanged
