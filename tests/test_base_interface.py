"""The base class every backend subclasses: one error boundary for the eight contract methods, the
shared start of ``prepare_write`` (``start_write``), and ``get_interface``'s return type."""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from spark_dao.catalog import Catalog
from spark_dao.catalog.settings import Setting
from spark_dao.errors import DaoError, SchemaMismatch
from spark_dao.interfaces import (
    BaseInterface,
    ReadPlan,
    ReadTask,
    WriteRequest,
    error_boundary,
    get_interface,
)
from spark_dao.interfaces.files import FilesInterface
from spark_dao.interfaces.objects import ObjectsInterface


class Broken(BaseInterface):
    """Every contract method raises what the test put in ``self.error``."""

    extra_errors = (sqlite3.Error,)

    def __init__(self, store: Any, error: BaseException) -> None:
        super().__init__(store)
        self.error = error

    def plan_read(self, obj, options, filters=()):
        raise self.error

    def read(self, task: ReadTask) -> Iterator[pa.RecordBatch]:
        yield pa.record_batch({"id": [1]})
        raise self.error

    def prepare_write(self, obj, schema, options):
        raise self.error

    def stage(self, obj, batches, spec, job_id):
        raise self.error

    def commit(self, obj, parts, spec):
        raise self.error

    def abort(self, obj, parts, spec):
        raise self.error

    def exists(self, obj):
        raise self.error

    def delete(self, obj):
        raise self.error


class Minimal(BaseInterface):
    """Just enough to call ``start_write``: a backend without partitions or upserts."""

    supports_partitions = False
    supports_upsert = False
    write_options = {**BaseInterface.write_options, "batch_rows": "rows per INSERT"}
    option_types = {"batch_rows": Setting("pos_int", "1000")}

    def plan_read(self, obj, options, filters=()):
        return ReadPlan(schema=pa.schema([]), tasks=[])

    def read(self, task):
        yield from ()

    def prepare_write(self, obj, schema, options):
        return self.start_write(obj, schema, options)

    def stage(self, obj, batches, spec, job_id):
        raise NotImplementedError

    def commit(self, obj, parts, spec):
        raise NotImplementedError

    def abort(self, obj, parts, spec):
        pass

    def exists(self, obj):
        return False

    def delete(self, obj):
        return False


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog.load(
        {
            "stores": {
                "silver": {"interface": "files", "path": str(tmp_path / "silver")},
                "bronze": {"interface": "objects", "path": str(tmp_path / "bronze")},
            },
            "objects": {
                "silver.events": {"partition_by": ["country"]},
                "silver.users": {"keys": ["id"]},
                "silver.typed": {"schema": {"id": "long", "name": "string"}},
            },
        }
    )


SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("country", pa.string())])


# --------------------------------------------------------------------------- the error boundary
@pytest.mark.parametrize(
    "error",
    [OSError("disk on fire"), pa.ArrowInvalid("bad bytes"), ValueError("no json"), sqlite3.OperationalError("locked")],
    ids=["OSError", "ArrowInvalid", "ValueError", "extra_errors"],
)
def test_every_contract_method_turns_library_errors_into_a_dao_error(catalog: Catalog, error: BaseException) -> None:
    obj = catalog.get("silver.users")
    itf = Broken(catalog.store("silver"), error)
    calls = {
        "reading": [lambda: itf.plan_read(obj, {}), lambda: list(itf.read(ReadTask(obj=obj, payload=None)))],
        "writing": [lambda: itf.prepare_write(obj, SCHEMA, {}), lambda: itf.stage(obj, [], None, "job")],
        "committing the write to": [lambda: itf.commit(obj, [], None)],
        "aborting the write to": [lambda: itf.abort(obj, [], None)],
        "checking": [lambda: itf.exists(obj)],
        "deleting": [lambda: itf.delete(obj)],
    }
    for action, fns in calls.items():
        for fn in fns:
            with pytest.raises(DaoError) as info:
                fn()
            message = str(info.value)
            assert message.startswith(f"{action} 'silver.users' (store 'silver') at {obj.location} failed: "), message
            assert str(error) in message
            assert info.value.__cause__ is error


def test_read_errors_raised_while_iterating_are_converted_after_the_rows_before_them(catalog: Catalog) -> None:
    obj = catalog.get("silver.users")
    rows = []
    with pytest.raises(DaoError, match=r"reading 'silver.users' \(store 'silver'\).*ArrowInvalid: bad"):
        for batch in Broken(catalog.store("silver"), pa.ArrowInvalid("bad")).read(ReadTask(obj=obj, payload=None)):
            rows.extend(batch.to_pylist())
    assert rows == [{"id": 1}]


@pytest.mark.parametrize("error", [TypeError("a bug"), KeyError("k"), DaoError("already clear")])
def test_programming_errors_and_dao_errors_pass_unchanged(catalog: Catalog, error: BaseException) -> None:
    itf = Broken(catalog.store("silver"), error)
    with pytest.raises(type(error)) as info:
        itf.exists(catalog.get("silver.users"))
    assert info.value is error


def test_the_boundary_wraps_once_and_subclasses_of_subclasses_too(catalog: Catalog) -> None:
    class Again(Broken):
        def exists(self, obj):
            return super().exists(obj)

    with pytest.raises(DaoError) as info:
        Again(catalog.store("silver"), OSError("gone")).exists(catalog.get("silver.users"))
    # the inner Broken.exists converted it; the outer wrapper passed the DaoError on unchanged
    assert str(info.value).count("failed:") == 1
    for cls in (FilesInterface, ObjectsInterface, Broken):
        for name in ("plan_read", "read", "prepare_write", "stage", "commit", "abort", "exists", "delete"):
            assert getattr(getattr(cls, name), "__dao_boundary__", False), (cls, name)
    assert error_boundary("x")(FilesInterface.exists) is FilesInterface.exists


def test_a_store_without_a_location_is_named_without_one(tmp_path: Path) -> None:
    catalog = Catalog.load({"stores": {"wh": {"interface": "files"}}})
    obj = catalog.get("wh.users")
    with pytest.raises(DaoError) as info:
        Broken(catalog.store("wh"), OSError("refused")).exists(obj)
    assert str(info.value) == "checking 'wh.users' (store 'wh') failed: refused"


def test_a_backend_missing_a_contract_method_cannot_be_instantiated(catalog: Catalog) -> None:
    class Incomplete(BaseInterface):
        def plan_read(self, obj, options, filters=()):
            raise NotImplementedError

    with pytest.raises(TypeError, match="abstract"):
        Incomplete(catalog.store("silver"))


# --------------------------------------------------------------------------- get_interface
def test_get_interface_returns_the_base_type_and_instances_pickle(catalog: Catalog) -> None:
    for store, cls in (("silver", FilesInterface), ("bronze", ObjectsInterface)):
        itf = get_interface(catalog.store(store))
        assert isinstance(itf, BaseInterface) and isinstance(itf, cls)
        again = pickle.loads(pickle.dumps(itf))
        assert type(again) is cls and again.store == itf.store
        assert repr(itf) == f"{cls.__name__}(store={store!r}, location={catalog.store(store).location!r})"


# --------------------------------------------------------------------------- start_write
def test_start_write_parses_mode_options_and_declared_schema(catalog: Catalog) -> None:
    files = FilesInterface(catalog.store("silver"))
    req = files.start_write(catalog.get("silver.events"), SCHEMA, {"mode": "Overwrite", "partitionOverwriteMode": "dynamic"})
    assert isinstance(req, WriteRequest)
    assert (req.mode, req.upsert, req.operation) == ("dynamic", None, "write")
    assert req.options["mode"] == "Overwrite" and req.options["partitionoverwritemode"] == "dynamic"
    # static stays a full overwrite
    assert files.start_write(catalog.get("silver.events"), SCHEMA, {"mode": "overwrite"}).mode == "overwrite"
    # the declared schema's types win (int32 data into a long column)
    typed = files.start_write(catalog.get("silver.typed"), pa.schema([("id", pa.int32()), ("name", pa.string())]), {})
    assert typed.schema == pa.schema([("id", pa.int64()), ("name", pa.string())])
    up = files.start_write(catalog.get("silver.users"), SCHEMA, {"operation": "upsert"})
    assert up.operation == "upsert" and up.upsert is not None and up.upsert.keys == ("id",) and up.mode == "append"


@pytest.mark.parametrize(
    "name, options, error, message",
    [
        ("silver.users", {"mode": "sideways"}, DaoError, "unknown write mode 'sideways' for 'silver.users'"),
        ("silver.users", {"compresion": "zstd"}, DaoError,
         "writing 'silver.users' (store 'silver'): unknown option 'compresion'. Did you mean 'compression'?"),
        ("silver.users", {"keys": ["id"]}, DaoError, "options ['keys'] only apply to upserts; add operation='upsert'"),
        ("silver.users", {"operation": "upsert", "mode": "overwrite"}, DaoError,
         "an upsert runs as mode 'append' (it merges into the existing data), not 'overwrite'"),
        ("silver.users", {"mode": "overwrite", "partitionOverwriteMode": "dynamic"}, DaoError,
         "dynamic partition overwrite needs partition_by on the object"),
        ("silver.typed", {}, SchemaMismatch, "the schema declared in the catalog"),
    ],
)
def test_start_write_refuses_bad_requests_with_the_object_named(
    catalog: Catalog, name: str, options: dict, error: type, message: str
) -> None:
    files = FilesInterface(catalog.store("silver"))
    schema = SCHEMA if name != "silver.typed" else pa.schema([("id", pa.string())])
    with pytest.raises(error) as info:
        files.start_write(catalog.get(name), schema, options)
    assert message in str(info.value)
    assert name in str(info.value)


def test_start_write_partition_columns_must_be_in_the_data(catalog: Catalog) -> None:
    with pytest.raises(SchemaMismatch, match=r"writing 'silver.events' \(store 'silver'\): partition columns \['country'\]"):
        FilesInterface(catalog.store("silver")).start_write(
            catalog.get("silver.events"), pa.schema([("id", pa.int64())]), {}
        )


def test_start_write_refuses_what_the_backend_does_not_support(catalog: Catalog) -> None:
    itf = Minimal(catalog.store("silver"))
    with pytest.raises(DaoError, match=r"Minimal does not support upserts"):
        itf.start_write(catalog.get("silver.users"), SCHEMA, {"operation": "upsert"})
    with pytest.raises(DaoError, match=r"Minimal does not support partitions; remove partition_by \['country'\]"):
        itf.start_write(catalog.get("silver.events"), SCHEMA, {})
    # the backend's own option table: its options are typed, the files' ones are unknown here
    assert itf.start_write(catalog.get("silver.users"), SCHEMA, {"batch_rows": "10"}).options["batch_rows"] == 10
    with pytest.raises(DaoError, match=r"option batch_rows=0 is not valid"):
        itf.start_write(catalog.get("silver.users"), SCHEMA, {"batch_rows": 0})
    with pytest.raises(DaoError, match=r"unknown option 'compression'.*Valid options: batch_rows, mode, partitionoverwritemode"):
        itf.start_write(catalog.get("silver.users"), SCHEMA, {"compression": "zstd"})


def test_a_missing_optional_library_names_the_extra_but_a_bug_of_ours_is_not_hidden(catalog: Catalog, monkeypatch) -> None:
    from spark_dao.errors import BackendNotInstalled
    from spark_dao.interfaces import base

    store = Catalog.load({"stores": {"lake": {"interface": "delta", "path": "/tmp/x"}}}).store("lake")

    def missing(name: str):
        def fail(target: str) -> type:
            raise ImportError(f"No module named {name!r}", name=name)
        return fail

    base.interface_class.cache_clear()
    monkeypatch.setattr(base, "_import_target", missing("deltalake"))
    with pytest.raises(BackendNotInstalled, match=r"store 'lake': interface 'delta' needs a library that is not "
                                                  r"installed \(deltalake\); install it with: pip install 'spark-dao\[delta\]'"):
        get_interface(store)
    base.interface_class.cache_clear()
    monkeypatch.setattr(base, "_import_target", missing("spark_dao.interfaces._read"))
    with pytest.raises(ImportError) as info:
        get_interface(store)
    assert not isinstance(info.value, BackendNotInstalled)  # a broken install is not "pip install an extra"
    base.interface_class.cache_clear()


def test_a_custom_interface_that_cannot_be_built_is_a_clear_error_in_list_and_describe(tmp_path) -> None:
    from spark_dao import CatalogError, DaoError, DataAccessObject

    dao = DataAccessObject({"stores": {
        "x": {"interface": "nonexistent_module_xyz:Cls", "default_configs": {"path": str(tmp_path)}},
        "y": {"interface": "json:JSONDecoder", "default_configs": {"path": str(tmp_path)}},
        "ok": {"interface": "files", "path": str(tmp_path / "ok")}}})
    with pytest.raises(DaoError, match="nonexistent_module_xyz"):
        dao.list("x")  # was [] and exit 0 in the CLI
    with pytest.raises(CatalogError, match=r"store 'y': interface class json.decoder.JSONDecoder does not take the "
                                           r"store's settings \(path\) as keyword arguments"):
        dao.list("y")  # was a raw TypeError
    assert dao.list() == []  # all stores: the broken ones list their declared objects (none here)
