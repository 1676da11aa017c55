"""Read-your-writes in every write mode, empty writes, exists/delete: through the interface (no
Spark) and through ``DataAccessObject`` with the pandas engine, on every store kind."""

from __future__ import annotations

import pyarrow as pa
import pytest

from spark_dao import DaoError, ObjectNotFound
from spark_dao.interfaces import BaseInterface, Interface, get_interface

from ._contract import SCHEMA, A, B, canon, read, roundtrip, table, types, write


def test_the_interface_subclasses_the_base_and_pickles(store_kind):
    """Spark pickles the interface's store to executors, which rebuild the interface from it."""
    itf = store_kind.itf
    assert isinstance(itf, BaseInterface) and isinstance(itf, Interface)
    assert type(get_interface(roundtrip(store_kind.store))) is type(itf)
    assert roundtrip(store_kind.obj("lake.t")) == store_kind.obj("lake.t")


def test_overwrite_then_append_reads_back_what_was_written(store_kind):
    obj = store_kind.obj("lake.t")
    result = write(store_kind, obj, A, "overwrite")
    assert result.object == "lake.t" and result.mode == "overwrite"
    assert canon(read(store_kind, obj)) == canon(A)
    write(store_kind, obj, B, "append")
    assert canon(read(store_kind, obj)) == canon(pa.concat_tables([A, B]))
    write(store_kind, obj, B, "overwrite")
    assert canon(read(store_kind, obj)) == canon(B)
    assert store_kind.leftovers() == []


def test_append_to_a_new_object_creates_it(store_kind):
    obj = store_kind.obj("lake.t")
    write(store_kind, obj, A, "append")
    got = read(store_kind, obj)
    assert canon(got) == canon(A)
    assert types(got.schema) == types(SCHEMA)


def test_errorifexists_writes_a_new_object_and_refuses_an_existing_one(store_kind):
    obj = store_kind.obj("lake.t")
    write(store_kind, obj, A, "errorifexists")
    assert canon(read(store_kind, obj)) == canon(A)
    with pytest.raises(DaoError) as err:
        write(store_kind, obj, B, "error")  # Spark's alias
    msg = str(err.value)
    assert "'lake.t'" in msg and "store 'lake'" in msg and "already has" in msg, msg
    assert canon(read(store_kind, obj)) == canon(A)
    assert store_kind.leftovers() == []


def test_ignore_writes_a_new_object_and_skips_an_existing_one(store_kind):
    obj = store_kind.obj("lake.t")
    first = write(store_kind, obj, A, "ignore")
    assert not first.skipped and canon(read(store_kind, obj)) == canon(A)
    second = write(store_kind, obj, B, "ignore")
    assert second.skipped and "skipped" in str(second)
    assert canon(read(store_kind, obj)) == canon(A)
    assert store_kind.leftovers() == []


def test_dynamic_overwrite_replaces_only_the_partitions_in_the_data(store_kind):
    obj = store_kind.obj("lake.p")  # skips kinds without partitions
    write(store_kind, obj, A, "overwrite")  # partitions x (ids 1, 3) and y (id 2)
    replacement = table((7, "x", 7.5, "g", True), (8, "z", 8.5, "h", False))
    write(store_kind, obj, replacement, "dynamic")
    expected = [r for r in A.to_pylist() if r["p"] != "x"] + replacement.to_pylist()
    assert canon(read(store_kind, obj)) == canon(expected)
    assert canon(read(store_kind, obj)) == canon(store_kind.dao.read("lake.p", engine="arrow"))


def test_partitioned_object_reads_back_every_mode(store_kind):
    obj = store_kind.obj("lake.p")
    write(store_kind, obj, A, "overwrite")
    write(store_kind, obj, B, "append")
    assert canon(read(store_kind, obj)) == canon(pa.concat_tables([A, B]))
    pruned = store_kind.dao.read("lake.p", engine="arrow", filters=[("p", "=", "x")])
    assert canon(pruned) == canon([r for r in A.to_pylist() if r["p"] == "x"])


def test_a_mode_the_kind_cannot_do_is_refused_before_any_task(store_kind):
    """dynamic needs partitions: a kind without them (or an object without partition_by) says so."""
    obj = store_kind.obj("lake.t")
    write(store_kind, obj, A, "overwrite")
    with pytest.raises(DaoError) as err:
        store_kind.itf.prepare_write(obj, B.schema, {"mode": "dynamic"})
    assert "partition" in str(err.value) and "lake.t" in str(err.value)
    assert canon(read(store_kind, obj)) == canon(A)


@pytest.mark.parametrize("name", ["lake.t", "lake.p"])
def test_empty_write_keeps_the_schema(store_kind, name):
    obj = store_kind.obj(name)
    empty = A.slice(0, 0)
    write(store_kind, obj, empty, "overwrite")
    assert store_kind.itf.exists(obj)
    got = read(store_kind, obj)
    assert got.num_rows == 0 and types(got.schema) == types(SCHEMA)
    back = store_kind.dao.read(name, engine="pandas")
    assert len(back) == 0 and sorted(back.columns) == sorted(SCHEMA.names)
    write(store_kind, obj, A, "append")  # an empty object takes rows of its schema
    assert canon(read(store_kind, obj)) == canon(A)
    write(store_kind, obj, empty, "append")  # and an empty append changes nothing
    assert canon(read(store_kind, obj)) == canon(A)
    assert store_kind.leftovers() == []


def test_exists_and_delete(store_kind):
    itf, obj = store_kind.itf, store_kind.obj("lake.t")
    assert itf.exists(obj) is False
    assert itf.delete(obj) is False
    with pytest.raises(ObjectNotFound) as err:
        read(store_kind, obj)
    assert "'lake.t'" in str(err.value) and "store 'lake'" in str(err.value)
    write(store_kind, obj, A, "overwrite")
    assert itf.exists(obj) is True
    assert store_kind.dao.exists("lake.t") and "lake.t" in store_kind.dao.list("lake")
    assert itf.delete(obj) is True
    assert itf.exists(obj) is False and not store_kind.dao.exists("lake.t")
    with pytest.raises(ObjectNotFound):
        store_kind.dao.read("lake.t", engine="arrow")
    write(store_kind, obj, B, "errorifexists")  # a deleted object can be written anew
    assert canon(read(store_kind, obj)) == canon(B)


def test_read_columns_gives_those_columns_in_that_order(store_kind):
    obj = store_kind.obj("lake.t")
    write(store_kind, obj, A, "overwrite")
    got = read(store_kind, obj, columns="s,id")
    assert got.schema.names == ["s", "id"]
    assert canon(got) == canon(A.select(["s", "id"]))
    with pytest.raises(DaoError, match="no_such_column"):
        read(store_kind, obj, columns="id,no_such_column")


# --------------------------------------------------------------------------- DataAccessObject, pandas engine
def test_dao_pandas_engine_every_mode(store_kind):
    dao = store_kind.dao
    dao.write(A.to_pandas(), "lake.t", mode="overwrite", engine="pandas")
    assert canon(dao.read("lake.t", engine="arrow")) == canon(A)
    dao.write(B.to_pandas(), "lake.t", mode="append", engine="pandas")
    assert canon(dao.read("lake.t", engine="arrow")) == canon(pa.concat_tables([A, B]))
    with pytest.raises(DaoError, match=r"'lake\.t'.*already has .*store 'lake'"):
        dao.write(A, "lake.t", engine="pandas")  # the default mode is errorifexists
    assert dao.write(A, "lake.t", mode="ignore", engine="pandas").skipped
    dao.write(B, "lake.t", mode="overwrite", engine="pandas")
    pdf = dao.read("lake.t", engine="pandas")
    assert sorted(pdf["id"]) == [4, 5] and sorted(pdf.columns) == sorted(SCHEMA.names)
    assert canon(dao.read("lake.t", engine="arrow", filters=[("id", ">", 4)])) == canon(B.slice(1))
    assert dao.delete("lake.t") and not dao.exists("lake.t")
    assert store_kind.leftovers() == []
