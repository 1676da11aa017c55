"""The test suite tests the tree it runs from, and a broken test install is an error, not skips."""

from __future__ import annotations

import os
from pathlib import Path

import conftest
import pytest

import pyspark_dao
import spark_dao

ROOT = Path(conftest.REPO_ROOT)


def test_the_driver_imports_this_clone():
    assert Path(spark_dao.__file__).resolve().is_relative_to(ROOT)
    assert Path(pyspark_dao.__file__).resolve().is_relative_to(ROOT)
    assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)


def test_spark_python_workers_import_this_clone(spark):
    def where(_):
        import pyspark_dao as p
        import spark_dao as s

        yield (s.__file__, p.__file__)

    files = spark.sparkContext.parallelize([0, 1], 2).mapPartitions(where).collect()
    assert len(files) == 2
    for spark_dao_file, pyspark_dao_file in files:
        assert Path(spark_dao_file).resolve() == Path(spark_dao.__file__).resolve()
        assert Path(pyspark_dao_file).resolve() == Path(pyspark_dao.__file__).resolve()


def test_a_missing_test_extra_dependency_is_a_usage_error(monkeypatch):
    monkeypatch.setattr(conftest, "TEST_EXTRA", {"json": "json", "no_such_module_dao": "no-such-dist[x]"})
    with pytest.raises(pytest.UsageError) as err:
        conftest.pytest_configure(None)
    assert str(err.value) == (
        "the test extra is not fully installed, missing: no-such-dist[x] (No module named 'no_such_module_dao')."
        " Install it with: pip install -e '.[test]'"
    )
    monkeypatch.setattr(conftest, "TEST_EXTRA", {"json": "json"})
    conftest.pytest_configure(None)  # all present: no error
