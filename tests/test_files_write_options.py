"""Write options of files stores on the Python path (dao.write(..., engine="pandas") and the Spark
Python path that format("dao") uses): max_rows_per_file for every format, compression gzip for csv
and json (files named .csv.gz / .json.gz, as Spark's native writer names them, read back by both
paths), and the layouts refused before anything is written (another codec for text files, every
column a partition column)."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from test_files_native import data_files

from spark_dao import DaoError, DataAccessObject

ROWS = 11
TABLE = pa.table({"id": pa.array(range(ROWS), pa.int64()), "c": [("DE", "FR")[i % 2] for i in range(ROWS)],
                  "v": [float(i) / 2 for i in range(ROWS)]})


def dao_for(root: Path, fmt: str, spark: Any = None) -> DataAccessObject:
    return DataAccessObject({"stores": {"lake": {"interface": "files", "path": str(root), "format": fmt}},
                             "objects": {"lake.flat": {}, "lake.parts": {"partition_by": ["c"]},
                                         "lake.all": {"partition_by": ["c", "id"]}}}, spark=spark)


def file_rows(path: Path) -> list[dict]:
    """The rows of one data file, parsed here (not through spark_dao); gzip by its magic bytes."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if path.name.endswith((".parquet",)):
        return pq.read_table(io.BytesIO(data)).to_pylist()
    if ".csv" in path.name:
        return pcsv.read_csv(io.BytesIO(data)).to_pylist()
    return [json.loads(line) for line in data.decode().splitlines()]


def rows_of(table: Any) -> list[tuple]:
    if hasattr(table, "to_pylist"):
        table = table.to_pylist()
    return sorted((int(r["id"]), str(r["c"]), float(r["v"])) for r in table)


EXPECTED = rows_of(TABLE)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
@pytest.mark.parametrize("name", ["flat", "parts"])
def test_max_rows_per_file_cuts_the_files_of_every_format(tmp_path: Path, fmt: str, name: str) -> None:
    # Before the fix: json ignored it (one file per partition).
    dao = dao_for(tmp_path, fmt)
    result = dao.write(TABLE, f"lake.{name}", mode="overwrite", engine="pandas", options={"max_rows_per_file": 3})
    files = data_files(tmp_path / name)
    counts = sorted(len(file_rows(tmp_path / name / f)) for f in files)
    # 11 rows: 3+3+3+2 unpartitioned; DE (6 rows) 3+3, FR (5 rows) 3+2
    assert counts == [2, 3, 3, 3]
    assert len(files) == result.files_added == 4
    if name == "parts":
        assert sorted({f.split("/")[0] for f in files}) == ["c=DE", "c=FR"]
    assert rows_of(dao.read(f"lake.{name}", engine="arrow")) == EXPECTED


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("name", ["flat", "parts"])
def test_gzip_text_files_are_gzip_streams_named_gz(tmp_path: Path, fmt: str, name: str) -> None:
    # Before the fix: compression gzip was ignored for csv and json (plain files named .csv/.json).
    dao = dao_for(tmp_path, fmt)
    dao.write(TABLE, f"lake.{name}", mode="overwrite", engine="pandas",
              options={"compression": "gzip", "max_rows_per_file": 4})
    files = data_files(tmp_path / name)
    assert files and all(f.endswith(f".{fmt}.gz") for f in files), files
    assert all((tmp_path / name / f).read_bytes()[:2] == b"\x1f\x8b" for f in files)
    parsed = [r for f in files for r in file_rows(tmp_path / name / f)]
    assert len(parsed) == ROWS
    if fmt == "csv":  # each file has its own header row
        assert all(gzip.decompress((tmp_path / name / f).read_bytes()).startswith(b'"id"') for f in files)
    assert rows_of(dao.read(f"lake.{name}", engine="arrow")) == EXPECTED
    # an append of uncompressed files next to them: the object reads as one
    dao.write(TABLE.slice(0, 2), f"lake.{name}", mode="append", engine="pandas")
    assert rows_of(dao.read(f"lake.{name}", engine="arrow")) == sorted(EXPECTED + EXPECTED[:2])


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("codec", ["zstd", "snappy", "lz4"])
def test_codecs_text_files_cannot_have_are_refused_before_writing(tmp_path: Path, fmt: str, codec: str) -> None:
    # Before the fix: silently written uncompressed.
    dao = dao_for(tmp_path, fmt)
    with pytest.raises(DaoError, match=rf"writing 'lake.flat' \(store 'lake'\): compression '{codec}' is not "
                                       rf"available for {fmt} files; use 'gzip' \(files named \.{fmt}\.gz\) or 'none'"):
        dao.write(TABLE, "lake.flat", mode="overwrite", engine="pandas", options={"compression": codec})
    assert not (tmp_path / "flat").exists()


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_partitioning_by_every_column_is_refused_before_writing(tmp_path: Path, fmt: str) -> None:
    # Before the fix: the Python path never returned (a 0-column file writer looping) or a Spark
    # Python worker died with an unrelated error.
    dao = dao_for(tmp_path, fmt)
    data = TABLE.select(["c", "id"])
    with pytest.raises(DaoError, match=r"writing 'lake.all' \(store 'lake'\): every column of the data \('c', 'id'\) "
                                       r"is a partition column.*nothing was written. Keep at least one column out "
                                       r"of 'partition_by' of 'lake.all' in the catalog"):
        dao.write(data, "lake.all", mode="overwrite", engine="pandas")
    assert not (tmp_path / "all").exists()
    with pytest.raises(DaoError, match="every column of the data"):
        dao.upsert(data, "lake.all", engine="pandas", keys=["id"])
    assert not (tmp_path / "all").exists()


# --------------------------------------------------------------------------- through Spark
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_gzip_text_written_by_python_reads_back_through_both_spark_paths(spark: Any, tmp_path: Path,
                                                                         fmt: str) -> None:
    dao = dao_for(tmp_path, fmt, spark)
    sdf = spark.createDataFrame(TABLE.to_pandas()).repartition(2)
    dao.write(sdf, "lake.parts", mode="overwrite", options={"compression": "gzip", "engine_path": "python"})
    files = data_files(tmp_path / "parts")
    assert files and all(f.endswith(f".{fmt}.gz") and f.startswith(("c=DE/", "c=FR/")) for f in files)
    for path in ("native", "python"):
        got = dao.read("lake.parts", engine="spark", options={"engine_path": path}).collect()
        assert rows_of([r.asDict() for r in got]) == EXPECTED, path
    # format("dao") writes through the same Python path
    (sdf.write.format(dao._format_name(spark)).option("compression", "gzip").option("max_rows_per_file", 2)
        .mode("overwrite").save("lake.flat"))
    files = data_files(tmp_path / "flat")
    assert all(f.endswith(f".{fmt}.gz") for f in files) and max(len(file_rows(tmp_path / "flat" / f))
                                                                for f in files) == 2
    assert rows_of(dao.read("lake.flat", engine="arrow")) == EXPECTED


def test_partitioning_by_every_column_is_refused_on_the_spark_paths(spark: Any, tmp_path: Path) -> None:
    dao = dao_for(tmp_path, "parquet", spark)
    sdf = spark.createDataFrame(TABLE.select(["c", "id"]).to_pandas())
    for path in ("python", "native", "auto"):
        with pytest.raises(DaoError, match=r"writing 'lake.all' \(store 'lake'\): every column of the data"):
            dao.write(sdf, "lake.all", mode="overwrite", options={"engine_path": path})
    from pyspark.errors import PySparkException

    with pytest.raises(PySparkException, match=r"DaoError: writing 'lake.all' \(store 'lake'\): every column"):
        sdf.write.format(dao._format_name(spark)).mode("overwrite").save("lake.all")
    assert not (tmp_path / "all").exists()


@pytest.mark.parametrize("s3_commit", ["multipart", "copy"])
def test_gzip_text_and_max_rows_on_s3(s3_server: str, s3_bucket: str, s3_client: Any, s3_commit: str) -> None:
    # the text writer through both S3 staging modes (uploads at the final keys, or a staging folder)
    dao = DataAccessObject({"stores": {"lake": {"interface": "files", "bucket": s3_bucket, "prefix": "lake",
                                                "endpoint_url": s3_server, "region": "us-east-1", "format": "json",
                                                "access_key": "testing", "secret_key": "testing",
                                                "s3_commit": s3_commit}},
                            "objects": {"lake.parts": {"partition_by": ["c"]}}})
    dao.write(TABLE, "lake.parts", mode="overwrite", engine="pandas",
              options={"compression": "gzip", "max_rows_per_file": 4})
    keys = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="lake/")["Contents"])
    data = [k for k in keys if "/_" not in k and "/." not in k]
    assert len(data) == 4 and all(k.endswith(".json.gz") for k in data), keys  # DE 4+2, FR 4+1
    bodies = [gzip.decompress(s3_client.get_object(Bucket=s3_bucket, Key=k)["Body"].read()) for k in data]
    assert sorted(len(b.splitlines()) for b in bodies) == [1, 2, 4, 4]
    assert rows_of(dao.read("lake.parts", engine="arrow")) == EXPECTED
