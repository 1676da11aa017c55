"""DataAccessObject with the Spark engine, and pandas <-> Spark parity."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from spark_dao import DaoError, DataAccessObject, ObjectNotFound, WriteResult


@pytest.fixture
def dao(spark, catalog_dict):
    return DataAccessObject(catalog_dict, spark=spark)


@pytest.fixture
def pdf():
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "country": ["DE", "FR", "DE", "US"],
            "amount": [1.5, None, 3.25, 4.0],
            "day": [dt.date(2025, 1, 7), dt.date(2025, 1, 7), dt.date(2025, 1, 8), dt.date(2025, 1, 8)],
            "ts": pd.to_datetime(["2025-01-07 10:00", "2025-01-07 11:00", "2025-01-08 12:00", "2025-01-08 13:00"], utc=True),
        }
    )


def norm(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("id").reset_index(drop=True)[sorted(df.columns)]


def test_spark_write_returns_metrics_and_pandas_reads_same_data(dao, spark, pdf):
    sdf = spark.createDataFrame(pdf)
    result = dao.write(sdf, "silver.events", mode="overwrite")
    assert isinstance(result, WriteResult)
    assert (result.rows_written, result.mode, len(result.partitions)) == (4, "overwrite", 3)
    assert result.files_added >= 3
    back = dao.read("silver.events", engine="pandas")
    expected = pdf.assign(ts=pdf["ts"].dt.tz_convert("UTC"))
    pd.testing.assert_frame_equal(norm(back), norm(expected), check_dtype=False)


def test_pandas_write_spark_read_parity(dao, pdf):
    dao.write(pdf, "silver.users_clean", mode="overwrite")
    sdf = dao.read("silver.users_clean", engine="spark")
    from_spark = sdf.toPandas()
    from_pandas = dao.read("silver.users_clean", engine="pandas")
    assert from_spark["id"].tolist() == from_pandas["id"].tolist() == [1, 2, 3, 4]
    assert from_spark["amount"].isna().tolist() == from_pandas["amount"].isna().tolist()
    arrow = dao.read("silver.users_clean", engine="arrow")
    assert isinstance(arrow, pa.Table) and arrow.num_rows == 4
    assert arrow.schema.field("ts").type == pa.timestamp("us", tz="UTC")


def test_auto_engine_uses_spark_when_a_session_is_active(dao, pdf):
    dao.write(pdf, "silver.users_clean", mode="overwrite")
    df = dao.read("silver.users_clean")  # auto, a session is active
    assert type(df).__module__.startswith("pyspark.sql")
    assert df.count() == 4


def test_modes_through_the_spark_engine(dao, spark, pdf, tmp_path):
    sdf = spark.createDataFrame(pdf)
    dao.write(sdf, "silver.users_clean")  # default errorifexists on an empty target: fine
    with pytest.raises(DaoError, match="already has data"):
        dao.write(sdf, "silver.users_clean")
    skipped = dao.write(sdf, "silver.users_clean", mode="ignore")
    assert skipped.skipped and skipped.rows_written == 0
    dao.write(sdf, "silver.users_clean", mode="append")
    assert dao.read("silver.users_clean").count() == 8
    with pytest.raises(DaoError, match="unknown write mode 'upsertt'"):
        dao.write(sdf, "silver.users_clean", mode="upsertt")


def test_dynamic_mode_and_partition_filters(dao, spark, pdf):
    dao.write(spark.createDataFrame(pdf), "silver.events", mode="overwrite")
    fix = spark.createDataFrame(pdf[pdf["country"] == "DE"].assign(amount=99.0))
    result = dao.write(fix, "silver.events", mode="dynamic")
    assert result.partitions == ("country=DE",)
    de = dao.read("silver.events", filters=[("country", "=", "DE")])
    assert sorted(r.amount for r in de.collect()) == [99.0, 99.0]
    assert dao.read("silver.events", engine="pandas", filters=[("country", "in", ("FR", "US"))])["id"].tolist() in ([2, 4], [4, 2])
    assert dao.read("silver.events", columns=["id"]).columns == ["id"]


def test_exists_list_delete(dao, pdf):
    assert not dao.exists("silver.tmp_table")
    dao.write(pdf, "silver.tmp_table", mode="overwrite")
    assert dao.exists("silver.tmp_table")
    assert "silver.tmp_table" in dao.list("silver") and "silver.events" in dao.list("silver")
    assert dao.delete("silver.tmp_table") is True
    assert not dao.exists("silver.tmp_table") and dao.delete("silver.tmp_table") is False
    with pytest.raises(ObjectNotFound, match="Did you mean 'silver'"):
        dao.list("silvr")


def test_unknown_engine_and_bad_input(dao, pdf):
    with pytest.raises(DaoError, match="unknown engine 'pandaz'.*'pandas'"):
        dao.read("silver.events", engine="pandaz")
    with pytest.raises(DaoError, match="cannot write a builtins.int"):
        dao.write(42, "silver.events", mode="overwrite")
    assert not dao.exists("silver.events")


def test_a_python_worker_failure_names_its_cause() -> None:
    """A failed Spark task's DaoError carries the worker's own error line, not only Spark's
    'An exception was thrown from the Python worker:' announcement."""
    from spark_dao.catalog import Catalog
    from spark_dao.engines._failures import _spark_failure

    obj = Catalog.load({"stores": {"gold": {"interface": "files", "path": "/tmp/x"}}}).get("gold.t")

    class PythonException(Exception):
        pass

    worker = PythonException("An exception was thrown from the Python worker:\nTraceback (most recent call last):\n"
                             "  File \"job.py\", line 3, in f\n    raise ValueError('boom-cause-xyz')\n"
                             "ValueError: boom-cause-xyz\n")
    assert str(_spark_failure(worker, obj)) == (
        "writing 'gold.t' (store 'gold') with Spark failed: An exception was thrown from the Python worker: "
        "ValueError: boom-cause-xyz")
    plain = Exception("[USER_RAISED_EXCEPTION] task failed on purpose SQLSTATE: P0001")
    assert str(_spark_failure(plain, obj)).endswith("with Spark failed: [USER_RAISED_EXCEPTION] task failed on "
                                                     "purpose SQLSTATE: P0001")


def test_a_spark_dataframe_with_a_column_named_read_is_a_table_not_a_file(dao, spark):
    """The raw-data check looked for a ``read`` attribute: a DataFrame's ``__getattr__`` answers
    for a column named ``read`` (and a Spark Connect DataFrame's for any name)."""
    from spark_dao._data import _is_raw

    df = spark.createDataFrame([(1, "x"), (2, "y")], "id long, read string")
    assert not _is_raw(df) and not _is_raw(pd.DataFrame({"read": [1]})) and not _is_raw(pa.table({"read": [1]}))
    result = dao.write(df, "silver.notes", mode="overwrite")
    assert result.rows_written == 2 and result.metrics_available
    assert sorted(dao.read("silver.notes", engine="pandas")["read"]) == ["x", "y"]
    upserted = dao.upsert(spark.createDataFrame([(2, "z")], "id long, read string"), "silver.notes", keys=["id"])
    assert (upserted.rows_inserted, upserted.rows_updated) == (0, 1)
    assert sorted(dao.read("silver.notes", engine="pandas")["read"]) == ["x", "z"]


def test_spark_filters_on_columns_not_read_are_clear_errors(dao, pdf):
    dao.write(pdf, "silver.events", mode="overwrite", engine="pandas")
    with pytest.raises(DaoError, match=r"reading 'silver.events' \(store 'silver'\): filter column 'contry' is not "
                                       r"in the data read; columns: .*Did you mean 'country'"):
        dao.read("silver.events", engine="spark", filters=[("contry", "=", "DE")])
    with pytest.raises(DaoError, match=r"filter column 'country' is not in the data read; columns: id\..*add it to "
                                       r"columns="):
        dao.read("silver.events", engine="spark", columns=["id"], filters=[("country", "=", "DE")])
    assert dao.read("silver.events", engine="spark", filters=[("country", "=", "DE")]).count() == 2


def test_register_points_local_workers_at_this_interpreter_and_keeps_the_users_choice(spark, monkeypatch):
    import sys

    import spark_dao

    sc = spark.sparkContext
    saved = sc.pythonExec
    jvm = sc._jvm
    logger = "org.apache.spark.sql.execution.datasources.DataSourceManager"
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(logger, jvm.org.apache.logging.log4j.Level.WARN)
    try:
        monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
        sc.pythonExec = "python3"  # Spark's default when nothing is set
        spark_dao.register(spark, {"stores": {"s": {"interface": "files", "path": "/tmp/unused"}}}, name="dao_t1")
        assert sc.pythonExec == sys.executable
        monkeypatch.setenv("PYSPARK_PYTHON", "/opt/their/python")  # the user chose one: kept
        sc.pythonExec = "/opt/their/python"
        spark_dao.register(spark, {"stores": {"s": {"interface": "files", "path": "/tmp/unused"}}}, name="dao_t2")
        assert sc.pythonExec == "/opt/their/python"
    finally:
        sc.pythonExec = saved
    # Spark's "replaced a statically registered data source" warning is silenced only while registering
    assert str(jvm.org.apache.logging.log4j.LogManager.getLogger(logger).getLevel()) == "WARN"


def test_workers_without_spark_dao_get_the_fix_in_the_error() -> None:
    from spark_dao.catalog import Catalog
    from spark_dao.engines._failures import _spark_failure

    obj = Catalog.load({"stores": {"gold": {"interface": "files", "path": "/tmp/x"}}}).get("gold.t")
    text = ("[PYTHON_DATA_SOURCE_ERROR] Failed to initialize Python data source writer: Traceback (most recent call "
            "last):\n  File \"pyspark/serializers.py\", line 460, in loads\nModuleNotFoundError: No module named "
            "'spark_dao'\n")
    message = str(_spark_failure(Exception(text), obj))
    assert message.startswith("writing 'gold.t' (store 'gold') with Spark failed: Spark's Python workers could not "
                              "import spark_dao")
    assert "spark.pyspark.python" in message and "--py-files" in message


def test_spark_engine_reads_raise_the_dao_error_not_sparks_wrapper(dao, pdf):
    """The read is planned in a Python worker; its DaoError used to reach the caller as a
    pyspark AnalysisException with the worker's traceback in the message."""
    with pytest.raises(ObjectNotFound, match=r"^object 'silver.nosuch' has no data at .*Write it first") as err:
        dao.read("silver.nosuch", engine="spark")
    assert "Traceback" not in str(err.value)
    dao.write(pdf, "silver.events", mode="overwrite", engine="pandas")
    with pytest.raises(DaoError, match=r"^reading 'silver.events' \(store 'silver'\): unknown columns \['nope'\]"):
        dao.read("silver.events", engine="spark", columns=["nope"])
