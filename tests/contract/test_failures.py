"""What a failed or refused write leaves behind: staged then aborted, schema mismatch before any
task, bad options named in the error. On every store kind, through the interface and the DAO."""

from __future__ import annotations

import uuid

import pyarrow as pa
import pytest

from spark_dao import DaoError, ObjectNotFound, SchemaMismatch
from spark_dao.interfaces import StagedPart

from ._contract import SCHEMA, A, B, canon, read, roundtrip, split, write


@pytest.mark.parametrize("existing", [True, False], ids=["existing-object", "new-object"])
@pytest.mark.parametrize("mode", ["append", "overwrite"])
def test_stage_then_abort_leaves_the_target_unchanged(store_kind, mode, existing):
    itf, obj = store_kind.itf, store_kind.obj("lake.t")
    if existing:
        write(store_kind, obj, A, "overwrite")
    spec = roundtrip(itf.prepare_write(obj, B.schema, {"mode": mode}))
    job_id = uuid.uuid4().hex
    parts = [roundtrip(itf.stage(obj, iter(chunk.to_batches()), spec, job_id)) for chunk in split(B, 2)]
    # something was staged (the parts say so, and it is on storage) ...
    assert sum(p.rows for p in parts) == B.num_rows
    assert store_kind.staged(obj, job_id) > 0
    # ... invisible to readers (a new object: test_staged_data_of_a_new_object_is_invisible_before_commit) ...
    if existing:
        assert canon(read(store_kind, obj)) == canon(A)
    itf.abort(obj, parts, spec)
    # ... and gone after the abort, the target as it was
    assert store_kind.staged(obj, job_id) == 0
    assert store_kind.leftovers() == []
    if existing:
        assert canon(read(store_kind, obj)) == canon(A)
    else:
        assert not itf.exists(obj)


@pytest.mark.parametrize("probe", ["exists", "read"])
def test_staged_data_of_a_new_object_is_invisible_before_commit(store_kind, request, probe):
    """While a first write stages, the object does not exist yet: exists() is False and a read is
    ObjectNotFound (the error of an object never written)."""
    itf, obj = store_kind.itf, store_kind.obj("lake.t")
    spec = itf.prepare_write(obj, B.schema, {"mode": "overwrite"})
    job_id = uuid.uuid4().hex
    part = itf.stage(obj, iter(B.to_batches()), spec, job_id)
    assert store_kind.staged(obj, job_id) > 0
    try:
        if probe == "exists":
            assert itf.exists(obj) is False
            assert store_kind.dao.exists("lake.t") is False
        else:
            with pytest.raises(ObjectNotFound, match=r"'lake\.t'"):
                read(store_kind, obj)
    finally:
        itf.abort(obj, [part], spec)
    assert itf.exists(obj) is False


def test_abort_with_only_the_job_id_removes_what_tasks_staged(store_kind):
    """An engine that lost its tasks' messages aborts with ``[StagedPart(job_id)]`` (as the pandas
    engine and Spark's writer do): that must still remove everything the job staged."""
    itf, obj = store_kind.itf, store_kind.obj("lake.t")
    write(store_kind, obj, A, "overwrite")
    spec = itf.prepare_write(obj, B.schema, {"mode": "overwrite"})
    job_id = uuid.uuid4().hex
    itf.stage(obj, iter(B.to_batches()), spec, job_id)
    assert store_kind.staged(obj, job_id) > 0
    itf.abort(obj, [StagedPart(job_id=job_id)], spec)
    assert store_kind.leftovers() == []
    assert canon(read(store_kind, obj)) == canon(A)


def test_a_stage_that_fails_midway_then_abort_leaves_nothing(store_kind):
    itf, obj = store_kind.itf, store_kind.obj("lake.t")
    write(store_kind, obj, A, "overwrite")
    spec = itf.prepare_write(obj, B.schema, {"mode": "overwrite"})
    job_id = uuid.uuid4().hex

    def batches():
        yield B.to_batches()[0]
        raise RuntimeError("task died")

    with pytest.raises(RuntimeError, match="task died"):
        itf.stage(obj, batches(), spec, job_id)
    itf.abort(obj, [StagedPart(job_id=job_id)], spec)
    assert store_kind.leftovers() == []
    assert canon(read(store_kind, obj)) == canon(A)


def test_commit_uses_only_the_parts_it_is_given(store_kind):
    """A task attempt that staged but failed afterwards is not in the commit's parts: its rows must
    not appear (Spark retries tasks; only the successful attempts' messages reach the commit)."""
    itf, obj = store_kind.itf, store_kind.obj("lake.t")
    spec = itf.prepare_write(obj, A.schema, {"mode": "overwrite"})
    job_id = uuid.uuid4().hex
    itf.stage(obj, iter(B.to_batches()), spec, job_id)  # the failed attempt
    part = itf.stage(obj, iter(A.to_batches()), spec, job_id)
    itf.commit(obj, [part], spec)
    assert canon(read(store_kind, obj)) == canon(A)


def test_commit_removes_what_a_failed_attempt_of_the_job_staged(store_kind, request):
    """The commit ends the job: files a failed attempt staged (not in the commit's parts) go too."""
    itf, obj = store_kind.itf, store_kind.obj("lake.t")
    spec = itf.prepare_write(obj, A.schema, {"mode": "overwrite"})
    job_id = uuid.uuid4().hex
    itf.stage(obj, iter(B.to_batches()), spec, job_id)  # the failed attempt
    part = itf.stage(obj, iter(A.to_batches()), spec, job_id)
    itf.commit(obj, [part], spec)
    assert canon(read(store_kind, obj)) == canon(A)
    assert store_kind.leftovers() == []


BAD_SCHEMAS = {
    "other-type": pa.schema([("id", pa.string())] + [f for f in SCHEMA if f.name != "id"]),
    "extra-column": SCHEMA.append(pa.field("extra", pa.int64())),
}


@pytest.mark.parametrize("bad", list(BAD_SCHEMAS))
def test_append_of_another_schema_raises_before_any_task(store_kind, bad):
    itf, obj = store_kind.itf, store_kind.obj("lake.t")
    write(store_kind, obj, A, "overwrite")
    schema = BAD_SCHEMAS[bad]
    column = "id" if bad == "other-type" else "extra"
    with pytest.raises(SchemaMismatch) as err:
        itf.prepare_write(obj, schema, {"mode": "append"})  # the driver, before any task
    assert column in str(err.value) and "lake.t" in str(err.value), str(err.value)
    rows = [{n: (str(i) if n == "id" and bad == "other-type" else None) for n in schema.names} for i in (7, 8)]
    with pytest.raises(SchemaMismatch):
        store_kind.dao.write(pa.Table.from_pylist(rows, schema=schema), "lake.t", mode="append", engine="pandas")
    assert canon(read(store_kind, obj)) == canon(A)
    assert store_kind.leftovers() == []


def test_append_with_columns_in_another_order_is_the_same_schema(store_kind):
    obj = store_kind.obj("lake.t")
    write(store_kind, obj, A, "overwrite")
    reordered = B.select(list(reversed(SCHEMA.names)))
    write(store_kind, obj, reordered, "append")
    assert canon(read(store_kind, obj)) == canon(pa.concat_tables([A, B]))


@pytest.mark.parametrize("options,named", [
    ({"no_such_option": "1"}, "no_such_option"),
    ({"mode": "appendd"}, "appendd"),
    ({"keys": "id"}, "keys"),  # an upsert option without operation=upsert
    ({"operation": "upsertt"}, "upsertt"),
    ({"operation": "upsert", "keys": "id", "strategy": "mergee"}, "mergee"),
])
def test_bad_write_options_are_rejected_naming_the_option(store_kind, options, named):
    itf, obj = store_kind.itf, store_kind.obj("lake.t")
    with pytest.raises(DaoError) as err:
        itf.prepare_write(obj, A.schema, {"mode": "overwrite", **options})
    assert named in str(err.value), str(err.value)
    with pytest.raises(DaoError, match=named):
        store_kind.dao.write(A, "lake.t", mode=options.get("mode", "overwrite"), engine="pandas",
                             options={k: v for k, v in options.items() if k != "mode"} or None)
    assert not itf.exists(obj)
    assert store_kind.leftovers() == []


def test_bad_read_option_is_rejected_naming_the_option(store_kind):
    itf, obj = store_kind.itf, store_kind.obj("lake.t")
    write(store_kind, obj, A, "overwrite")
    with pytest.raises(DaoError, match="no_such_option"):
        itf.plan_read(obj, {"no_such_option": "1"})
    with pytest.raises(DaoError, match="no_such_option"):
        store_kind.dao.read("lake.t", engine="arrow", options={"no_such_option": "1"})


def test_upsert_columns_missing_from_the_data_are_refused_before_any_task(store_kind):
    store_kind.require("upsert")
    itf, obj = store_kind.itf, store_kind.obj("lake.t")
    write(store_kind, obj, A, "overwrite")
    with pytest.raises(SchemaMismatch, match="no_such_column"):
        itf.prepare_write(obj, A.schema, {"mode": "append", "operation": "upsert", "keys": "id",
                                          "order_by": "no_such_column"})
    assert canon(read(store_kind, obj)) == canon(A)
