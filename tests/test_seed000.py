"""Seed 000's path-based API (shared/seeds/000_*.txt) as written, on moto's HTTP S3 server, with both
backends: ``DataReaderWriter``, ``Upsert``, the factories, the seed's interfaces and backends, and the
errors a user sees. The layer is thin: the data it writes is the catalog API's (the last tests read it
back through a catalog)."""

from __future__ import annotations

import logging
import re

import pandas as pd
import pyarrow as pa
import pytest

from spark_dao import DaoError, DataAccessObject, ObjectNotFound
from spark_dao.compat import (
    DataReader,
    DataWriter,
    PandasDataReader,
    PandasUpserter,
    PySparkDataWriter,
    PySparkUpserter,
    S3Client,
    Upserter,
)

# the seed's "from core.data_reader_writer import DataReaderWriter" and "from core.upsert import Upsert"
from spark_dao.compat.core.data_reader_writer import DataReaderWriter
from spark_dao.compat.core.upsert import Upsert
from spark_dao.compat.factory.reader_writer_factory import DataReaderWriterFactory
from spark_dao.compat.factory.upsert_factory import UpsertFactory

ACCESS_KEY = "AKIDSEEDNEVERSHOWN1"
SECRET_KEY = "seed-secret-never-shown-7Qx"

# The seed's "Usage Overview" step 1, verbatim except for its import line (mapped as docs/seed000.md says).
SEED_SNIPPET = """
from spark_dao.compat.core.data_reader_writer import DataReaderWriter

# Choose the desired backend ('pandas' or 'pyspark')
reader_writer = DataReaderWriter(
    backend='pandas',
    bucket_name='your-bucket-name',
    endpoint_url='https://s3.amazonaws.com',
    access_key='your-access-key',
    secret_key='your-secret-key'
)
"""


def keys_of(s3_client, bucket: str, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def connection(s3_server: str, bucket: str) -> dict:
    return {"bucket_name": bucket, "endpoint_url": s3_server, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY}


def rows(df) -> list[tuple]:
    """Rows of a pandas or Spark DataFrame, sorted, as plain tuples."""
    if not isinstance(df, pd.DataFrame):
        df = df.toPandas()
    return sorted(tuple(r) for r in df.itertuples(index=False))


def frame(backend: str, spark, data: dict):
    pdf = pd.DataFrame(data)
    return spark.createDataFrame(pdf) if backend == "pyspark" else pdf


USERS = {"id": [1, 2, 3], "name": ["ann", "bob", "cid"], "updated_at": [10, 10, 10]}


# --------------------------------------------------------------------------- the seed's calls, as written
def test_the_seeds_snippet_runs_verbatim_without_io():
    scope: dict = {}
    exec(SEED_SNIPPET, scope)  # noqa: S102  (the user's document, run as written)
    rw = scope["reader_writer"]
    assert isinstance(rw, DataReaderWriter) and rw.backend == "pandas"
    assert rw.client.store.location == "s3://your-bucket-name"
    assert rw.client.store.configs["endpoint_url"] == "https://s3.amazonaws.com"
    assert "your-secret-key" not in repr(rw) and "your-access-key" not in repr(rw)


@pytest.mark.parametrize("backend", ["pandas", "pyspark"])
def test_read_write_upsert_as_the_seed_calls_them(backend, spark, s3_server, s3_bucket, s3_client):
    """The seed's constructors and its read(path) / write(data, path) / upsert(new_data, target_path,
    upsert_method, id_columns, modification_column) calls, on every format."""
    rw = DataReaderWriter(backend=backend, bucket_name=s3_bucket, endpoint_url=s3_server,
                          access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    users = frame(backend, spark, USERS)
    result = rw.write(users, "silver/users.parquet")
    assert result.rows_written == 3 and result.location == f"s3://{s3_bucket}/silver/users.parquet"
    back = rw.read("silver/users.parquet")
    assert isinstance(back, pd.DataFrame) == (backend == "pandas")
    assert rows(back) == [(1, "ann", 10), (2, "bob", 10), (3, "cid", 10)]
    rw.write(users, "raw/users.csv")
    rw.write(users, "raw/users.json")
    assert rows(rw.read("raw/users.csv")) == rows(rw.read("raw/users.json")) == rows(back)
    assert {k.rsplit("/", 1)[0] for k in keys_of(s3_client, s3_bucket)} == {
        "silver/users.parquet", "raw/users.csv", "raw/users.json"}

    upserter = Upsert(backend=backend, bucket_name=s3_bucket, endpoint_url=s3_server,
                      access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    changes = frame(backend, spark, {"id": [2, 3, 4], "name": ["BOB", "stale", "dan"], "updated_at": [11, 9, 11]})
    r = upserter.upsert(changes, "silver/users.parquet", "merge", ["id"], modification_column="updated_at")
    assert (r.rows_inserted, r.rows_updated) == (1, 1)  # id 3's change is older than the stored row
    assert rows(rw.read("silver/users.parquet")) == [(1, "ann", 10), (2, "BOB", 11), (3, "cid", 10), (4, "dan", 11)]
    # the other backend reads the same data
    other = DataReaderWriter(backend="pyspark" if backend == "pandas" else "pandas", **connection(s3_server, s3_bucket))
    assert rows(other.read(f"s3://{s3_bucket}/silver/users.parquet")) == rows(rw.read("silver/users.parquet"))


def test_upsert_methods_map_onto_the_strategies(s3_server, s3_bucket):
    rw = DataReaderWriter("pandas", **connection(s3_server, s3_bucket))
    up = Upsert("pandas", **connection(s3_server, s3_bucket))
    base = pd.DataFrame({"id": [1, 2], "v": ["a", "b"]})
    change = pd.DataFrame({"id": [2, 3], "v": ["B", "c"]})
    for method, expected in [
        ("insert_only", [(1, "a"), (2, "b"), (3, "c")]),
        ("insert", [(1, "a"), (2, "b"), (3, "c")]),
        ("upsert", [(1, "a"), (2, "B"), (3, "c")]),
        ("replace", [(1, "a"), (2, "B"), (3, "c")]),
        ("DELETE_INSERT", [(1, "a"), (2, "B"), (3, "c")]),
    ]:
        rw.write(base, "t.parquet")
        up.upsert(change, "t.parquet", method, "id")  # id_columns as one name, as in the seed's str|list
        assert rows(rw.read("t.parquet")) == expected, method
    # a target that does not exist yet is created, partitioned as asked
    r = up.upsert(change, "new/t.parquet", "merge", ["id"], partition_by=["v"])
    assert r.rows_inserted == 2 and rows(rw.read("new/t.parquet", columns=["id"])) == [(2,), (3,)]


# --------------------------------------------------------------------------- factories, interfaces, backends
def test_factories_build_the_seeds_backends(s3_server, s3_bucket):
    client = S3Client(**connection(s3_server, s3_bucket))
    reader = DataReaderWriterFactory.create_reader("pandas", client)
    writer = DataReaderWriterFactory.create_writer("pyspark", client)
    assert isinstance(reader, PandasDataReader) and isinstance(reader, DataReader)
    assert isinstance(writer, PySparkDataWriter) and isinstance(writer, DataWriter)
    r2, w2 = DataReaderWriterFactory.create("pandas", **connection(s3_server, s3_bucket))
    w2.write(pd.DataFrame({"id": [1]}), "f/one.parquet")
    assert rows(r2.read("f/one.parquet")) == [(1,)] and rows(reader.read("f/one.parquet")) == [(1,)]
    upserter = UpsertFactory.create_upserter("pandas", client, upsert_method="insert_only")
    assert isinstance(upserter, PandasUpserter) and isinstance(upserter, Upserter)
    upserter.upsert(pd.DataFrame({"id": [1, 2]}), "f/one.parquet", id_columns=["id"])  # the factory's method
    assert rows(reader.read("f/one.parquet")) == [(1,), (2,)]
    assert isinstance(UpsertFactory.create_upserter("pyspark", client), PySparkUpserter)


def test_unknown_backend_and_upsert_method_list_the_valid_ones(s3_server, s3_bucket, s3_client):
    for make in (lambda: DataReaderWriter(backend="polars", bucket_name=s3_bucket),
                 lambda: Upsert(backend="Pandass", bucket_name=s3_bucket),
                 lambda: DataReaderWriterFactory.create_reader("dask", bucket_name=s3_bucket),
                 lambda: UpsertFactory.create_upserter(None, bucket_name=s3_bucket)):
        with pytest.raises(DaoError, match=r"unknown backend .*Valid backends: pandas, pyspark$"):
            make()
    with pytest.raises(DaoError, match="unknown backend 'Pandass'. Did you mean 'pandas'"):
        Upsert(backend="Pandass", bucket_name=s3_bucket)
    assert DataReaderWriter(backend="PySpark", bucket_name=s3_bucket).backend == "pyspark"
    assert Upsert(backend="spark", bucket_name=s3_bucket).backend == "pyspark"

    rw = DataReaderWriter("pandas", **connection(s3_server, s3_bucket))
    rw.write(pd.DataFrame({"id": [1]}), "t.parquet")
    before = keys_of(s3_client, s3_bucket)
    up = Upsert("pandas", **connection(s3_server, s3_bucket))
    with pytest.raises(DaoError) as err:
        up.upsert(pd.DataFrame({"id": [2]}), "t.parquet", "mergee", ["id"])
    assert str(err.value).startswith(
        f"upsert into s3://{s3_bucket}/t.parquet: unknown upsert_method 'mergee'. Did you mean 'merge'? "
        "Valid upsert methods: merge, upsert, update_insert, insert_only, insert, append_new, delete_insert, replace")
    with pytest.raises(DaoError, match="UpsertFactory.create_upserter\\('pandas'\\): unknown upsert_method 'scd2'"):
        UpsertFactory.create_upserter("pandas", up.client, upsert_method="scd2")
    with pytest.raises(DaoError, match=r"t.parquet: pass id_columns, the key column\(s\)"):
        up.upsert(pd.DataFrame({"id": [2]}), "t.parquet", "merge", [])
    with pytest.raises(DaoError, match="unknown upsert_method None"):
        up.upsert(pd.DataFrame({"id": [2]}), "t.parquet", None, ["id"])
    assert keys_of(s3_client, s3_bucket) == before and rows(rw.read("t.parquet")) == [(1,)]


# --------------------------------------------------------------------------- paths and formats
def test_paths_and_formats(s3_server, s3_bucket, s3_client):
    rw = DataReaderWriter("pandas", **connection(s3_server, s3_bucket))
    df = pd.DataFrame({"id": [1, 2], "x": ["a", "b"]})
    rw.write(df, "/a/events.jsonl")  # leading slash, .jsonl -> json
    assert rows(rw.read(f"s3://{s3_bucket}/a/events.jsonl")) == [(1, "a"), (2, "b")]
    assert keys_of(s3_client, s3_bucket)[0].endswith(".json")
    rw.write(df, "a/plain")  # no extension: parquet
    assert keys_of(s3_client, s3_bucket, "a/plain/")[0].endswith(".parquet")
    rw.write(df, "a/data.out", format="csv", header=False)  # format= wins over the extension
    assert rw.client.get_bytes(keys_of(s3_client, s3_bucket, "a/data.out/")[0]) == b'1,"a"\n2,"b"\n'
    assert rows(rw.read("a/plain/", columns=["x"])) == [("a",), ("b",)]
    # bytes are stored as they are, and a single file reads like a dataset
    info = rw.write(b"id,x\n7,q\n", "raw/u.csv")
    assert info.key == "raw/u.csv" and rows(rw.read("raw/u.csv")) == [(7, "q")]
    assert [i.key for i in rw.client.list("raw/")] == ["raw/u.csv"]

    cases = {
        "x.txt": f"reading s3://{s3_bucket}/x.txt: cannot tell the format of 'x.txt' from its extension '.txt'",
        "../x.csv": "reading '../x.csv': the path contains '..'",
        "s3://other-bucket/x.csv": "reading 's3://other-bucket/x.csv': the path is in bucket 'other-bucket', but "
                                   f"this reader/writer is for bucket {s3_bucket!r}",
        f"s3://{s3_bucket}/": f"the path names the whole bucket {s3_bucket!r}",
        "": "reading: the path must be a key inside bucket",
        "http://example.com/x.csv": "not an S3 path",
    }
    for path, message in cases.items():
        with pytest.raises(DaoError) as err:
            rw.read(path)
        assert message in str(err.value), (path, str(err.value))
    with pytest.raises(DaoError, match="unknown format 'xlsx'.* Valid formats: csv, json, parquet"):
        rw.write(df, "a/b", format="xlsx")
    with pytest.raises(ObjectNotFound, match=f"has no data at s3://{s3_bucket}/nothing/here.csv"):
        rw.read("nothing/here.csv")
    with pytest.raises(DaoError, match="unknown option 'bogus'.* Valid options: columns, delimiter"):
        rw.read("a/plain", bogus=1)
    with pytest.raises(DaoError, match=r"bytes and files are stored as they are; the options \['mode'\] do not apply"):
        rw.write(b"x", "raw/x.bin", mode="append")
    rw.write(df, "a/csvdir", format="csv")
    with pytest.raises(DaoError, match=r"as parquet.* \(the path 'a/csvdir' has no extension, so it was read as "
                                       r"parquet; pass format='csv' or format='json' if its files are not parquet\)"):
        rw.read("a/csvdir")
    assert rows(rw.read("a/csvdir", format="csv")) == [(1, "a"), (2, "b")]
    for bad in ("", "a/b", "gs://bucket", None):
        with pytest.raises(DaoError, match="bucket"):
            DataReaderWriter("pandas", bucket_name=bad)


def test_write_modes_and_partitions(s3_server, s3_bucket, s3_client):
    rw = DataReaderWriter("pandas", **connection(s3_server, s3_bucket))
    df = pd.DataFrame({"id": [1, 2], "day": ["d1", "d2"]})
    rw.write(df, "e.parquet", partition_by=["day"])
    assert [k.split("/")[1] for k in keys_of(s3_client, s3_bucket)] == ["day=d1", "day=d2"]
    rw.write(df, "e.parquet", mode="append", partitionBy=["day"])
    assert len(rw.read("e.parquet")) == 4
    rw.write(df.head(1), "e.parquet", partition_by="day")  # default mode: overwrite
    assert rows(rw.read("e.parquet")) == [(1, "d1")]
    with pytest.raises(DaoError, match=f"already has data at s3://{s3_bucket}/e.parquet.*use mode='append', 'overwrite' or 'ignore'"):
        rw.write(df, "e.parquet", mode="errorifexists")
    with pytest.raises(DaoError, match="partition_by is given twice"):
        rw.write(df, "e.parquet", partition_by="day", partitionBy="day")
    assert rw.client.exists("e.parquet") and rw.client.delete("e.parquet") and not rw.client.exists("e.parquet")


# --------------------------------------------------------------------------- secrets
def test_credentials_never_in_reprs_errors_or_logs(s3_server, s3_bucket, s3_auth_enforced, caplog):
    rw = DataReaderWriter("pandas", bucket_name=s3_bucket, endpoint_url=s3_server,
                          access_key="AKIAWRONGSEED00", secret_key=SECRET_KEY)
    up = Upsert("pandas", bucket_name=s3_bucket, endpoint_url=s3_server, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    shown = [repr(rw), str(rw), repr(up), repr(rw.client), repr(rw.dao), repr(rw.client.store), repr(rw.reader),
             repr(rw.data_object("a.csv")), repr(up.upserter), str(rw.client.store.configs)]
    caplog.set_level(logging.DEBUG)
    for name in ("botocore", "boto3", "s3transfer", "urllib3", "spark_dao"):  # whatever earlier tests set
        caplog.set_level(logging.DEBUG, logger=name)
    with pytest.raises(DaoError) as err:
        rw.write(pd.DataFrame({"id": [1]}), "t.parquet")
    assert "INVALID_ACCESS_KEY_ID" in str(err.value)
    # every client-side record (moto's in-process server logs the requests it receives: not ours)
    logged = [r.getMessage() for r in caplog.records if not r.name.startswith(("moto", "werkzeug"))]
    assert logging.getLogger("botocore").isEnabledFor(logging.DEBUG)  # DEBUG really was on
    shown += [str(err.value), *logged]
    for bad in (lambda: DataReaderWriter("pandas", bucket_name=s3_bucket, secret_key=SECRET_KEY),
                lambda: DataReaderWriter("pandas", bucket_name=s3_bucket, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                                         max_attempts="many"),
                lambda: DataReaderWriter("pandas", bucket_name=s3_bucket, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                                         secret_kye="x"),
                lambda: DataReaderWriter("pandas", bucket_name=s3_bucket, prefix="datasets")):
        with pytest.raises(DaoError) as err:
            bad()
        shown.append(str(err.value))
    assert "pass both access_key and secret_key, or neither" in shown[-4]
    assert "max_attempts" in shown[-3] and "Did you mean 'secret_key'" in shown[-2]
    assert "prefix cannot be set here: the store is the whole bucket" in shown[-1]
    text = "\n".join(shown)
    assert SECRET_KEY not in text and ACCESS_KEY not in text
    assert "AKIAWRONGSEED00" not in text


# --------------------------------------------------------------------------- the catalog API on the same data
def test_path_data_is_catalog_data(s3_server, s3_bucket):
    """What docs/seed000.md's migration hint says: a path becomes a catalog name with that path."""
    rw = DataReaderWriter("pandas", **connection(s3_server, s3_bucket))
    rw.write(pd.DataFrame({"id": [1, 2], "name": ["a", "b"]}), "silver/users_clean.parquet")
    obj = rw.data_object("silver/users_clean.parquet")
    assert (obj.full_name, obj.format) == (f"{s3_bucket}.silver/users_clean", "parquet")
    assert rw.dao.read(data_object=obj, engine="arrow").num_rows == 2

    catalog = {"stores": {"silver": {"interface": "files", "bucket": s3_bucket, "prefix": "silver",
                                     "endpoint_url": s3_server, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY}},
               "objects": {"silver.users_clean": {"path": "users_clean.parquet", "keys": ["id"]}}}
    dao = DataAccessObject(catalog)
    assert sorted(dao.read("silver.users_clean", engine="pandas")["name"]) == ["a", "b"]
    dao.upsert(pa.table({"id": [2], "name": ["B"]}), "silver.users_clean")
    assert rows(rw.read("silver/users_clean.parquet")) == [(1, "a"), (2, "B")]


def test_a_path_holding_one_file(s3_server, s3_bucket, s3_client, tmp_path):
    """A file stored as-is (the pandas era's ``df.to_csv("s3://...")``, an upload) is the path's data:
    an overwrite replaces it with a dataset folder; an append or upsert, which would hide it behind
    new files, is refused and changes nothing."""
    rw = DataReaderWriter("pandas", **connection(s3_server, s3_bucket))
    rw.client.upload(b"id,name\n1,a\n", "raw/users.csv")
    assert rows(rw.read("raw/users.csv")) == [(1, "a")]
    message = (f"s3://{s3_bucket}/raw/users.csv is a single file (stored as-is), not a dataset folder; "
               "{how} would add files beside it and hide it from readers. Replace it with mode='overwrite'")
    with pytest.raises(DaoError, match=re.escape(message.format(how="mode 'append'"))):
        rw.write(pd.DataFrame({"id": [2], "name": ["b"]}), "raw/users.csv", mode="append")
    with pytest.raises(DaoError, match=re.escape(message.format(how="an upsert"))):
        Upsert("pandas", **connection(s3_server, s3_bucket)).upsert(
            pd.DataFrame({"id": [2], "name": ["b"]}), "raw/users.csv", "merge", ["id"])
    assert keys_of(s3_client, s3_bucket) == ["raw/users.csv"] and rows(rw.read("raw/users.csv")) == [(1, "a")]
    r = rw.write(pd.DataFrame({"id": [2], "name": ["b"]}), "raw/users.csv")  # the default mode, overwrite
    assert r.files_removed == 1 and rows(rw.read("raw/users.csv")) == [(2, "b")]
    assert [k.rsplit("/", 1)[0] for k in keys_of(s3_client, s3_bucket)] == ["raw/users.csv"]
    assert keys_of(s3_client, s3_bucket)[0] != "raw/users.csv"  # a part file in the folder now
    # the seed's signatures, called by keyword; the client's file operations
    rw.write(data=pd.DataFrame({"id": [3], "name": ["c"]}), path="raw/users.csv", mode="append")
    assert rows(rw.read(path="raw/users.csv")) == [(2, "b"), (3, "c")]
    Upsert("pandas", **connection(s3_server, s3_bucket)).upsert(
        new_data=pd.DataFrame({"id": [3], "name": ["C"]}), target_path="raw/users.csv", upsert_method="merge",
        id_columns=["id"], modification_column=None)
    assert rows(rw.read("raw/users.csv")) == [(2, "b"), (3, "C")]
    rw.client.upload(b"hello", "notes/readme.txt")
    assert rw.client.download("notes/readme.txt", tmp_path).read_bytes() == b"hello"
    assert rw.client.client.get_object(Bucket=s3_bucket, Key="notes/readme.txt")["Body"].read() == b"hello"
