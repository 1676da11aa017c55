"""Property-based tests of the catalog: whatever the input, loading and name resolution either work
or raise a :class:`DaoError`; a valid catalog round-trips (dict, YAML, JSON, pickle) to the same
stores and objects; a secret in a broken file never reaches the error.

Deterministic for CI: ``derandomize=True`` (examples derived from the test itself), no deadline.
"""

from __future__ import annotations

import json
import pickle
import string
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spark_dao import Catalog, CatalogError, DaoError, DataObject
from spark_dao.catalog.settings import CATALOG_OPTIONS, SETTING_TYPES

SETTINGS = settings(
    max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
SECRET = "hunter2-Sup3rS3cret"

# --------------------------------------------------------------------------- anything at all
KNOWN_KEYS = sorted(
    set(SETTING_TYPES)
    | set(CATALOG_OPTIONS)
    | {"stores", "objects", "interface", "interface_class", "interface_class_location", "interfaces",
       "additional_interfaces", "default_configs", "table", "partition_by", "keys", "order_by", "schema",
       "description", "version", "mode"}
)
INTERFACES = ["files", "objects", "delta", "redshift", "S3SparkInterface", "S3Boto3Interface", "fils",
              "my_pkg.io:Custom", "bad:", ""]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=12), st.sampled_from(INTERFACES), st.sampled_from(["${env:HOME}", "${env:DAO_NOPE}",
                                                                        "5", "true", "64MB", "../x", "/abs"]),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=8), st.integers(), st.booleans(), st.none())
anything = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)


def store_like() -> st.SearchStrategy[dict]:
    settings_ = st.dictionaries(st.sampled_from(KNOWN_KEYS), anything, max_size=5)
    return st.fixed_dictionaries(
        {"interface": st.sampled_from(INTERFACES)},
        optional={"path": st.one_of(st.just("/tmp/dao-prop"), scalars), "default_configs": settings_,
                  "options": st.one_of(st.dictionaries(st.sampled_from(KNOWN_KEYS), scalars, max_size=4), scalars),
                  "objects": st.dictionaries(st.text(max_size=6), anything, max_size=3)},
    )


catalog_like = st.one_of(
    anything,
    st.dictionaries(st.text(string.ascii_letters + "_-.", max_size=6), store_like(), max_size=3),
    st.fixed_dictionaries(
        {"stores": st.dictionaries(st.text(string.ascii_letters + "_", min_size=1, max_size=6), store_like(),
                                   max_size=3)},
        optional={"objects": st.dictionaries(st.text(string.ascii_letters + "._/", max_size=10), anything,
                                             max_size=3)},
    ),
)


@SETTINGS
@given(data=catalog_like, names=st.lists(st.text(max_size=12), max_size=3))
def test_loading_anything_raises_only_dao_errors(data: Any, names: list[str]) -> None:
    try:
        catalog = Catalog.load(data)
    except DaoError:
        return
    repr(catalog)
    assert catalog.fingerprint
    for name in [*names, *catalog.list(), *(f"{s}.x" for s in catalog.stores)]:
        try:
            obj = catalog.get(name)
        except DaoError:
            continue
        assert obj.full_name == name
        repr(obj)


@SETTINGS
@given(text=st.text(max_size=200))
def test_loading_any_yaml_or_json_text_raises_only_catalog_errors(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("c.yaml", "c.json"):
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            try:
                Catalog.load(path)
            except CatalogError:
                pass


# A catalog whose lines hold a secret, broken by random edits: a parse error never shows the secret.
CLEAN = f"""stores:
  s3:
    interface: files
    bucket: my-bucket
    access_key: AKIAEXAMPLE
    secret_key: {SECRET}
    session_token: "{SECRET}"
objects:
  s3.users: {{keys: [id], options: {{compression: zstd}}}}
"""


@SETTINGS
@given(edits=st.lists(st.tuples(st.integers(0, len(CLEAN)), st.sampled_from(list(":{}[]\"'!&*|>%@`#-?,\t\n "))),
                      min_size=1, max_size=4))
def test_parse_errors_never_show_a_secret(edits: list[tuple[int, str]]) -> None:
    text = CLEAN
    for pos, char in sorted(edits, reverse=True):
        text = text[:pos] + char + text[pos:]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            Catalog.load(path)
        except CatalogError as exc:
            if "cannot parse catalog" in str(exc):
                assert SECRET not in str(exc) and "hunter2" not in str(exc)
                assert exc.__cause__ is None and exc.__context__ is None


# --------------------------------------------------------------------------- names against a fixed catalog
FIXED = Catalog.load(
    {
        "stores": {"bronze": {"interface": "files", "path": "/data/bronze", "format": "csv"},
                   "silver": {"interface": "files", "path": "/data/silver"}},
        "objects": {"silver.users": {"keys": ["id"]}, "bronze.raw/2025": {}},
    }
)


@SETTINGS
@given(name=st.one_of(st.text(max_size=20), st.text(string.ascii_letters + "./_-=", max_size=20),
                      st.builds(lambda s, o: f"{s}.{o}", st.sampled_from(["bronze", "silver", "gold", ""]),
                                st.text(string.printable, max_size=12)),
                      st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=2)))
def test_name_resolution_returns_the_object_or_a_dao_error(name: Any) -> None:
    for lookup in (FIXED.store, FIXED.list):
        try:
            lookup(name)
        except DaoError:
            pass
    try:
        obj = FIXED.get(name)
    except DaoError:
        return
    assert obj.full_name == name
    assert "\n" not in name and ".." not in name.split(".", 1)[1].split("/")
    assert obj.location.startswith(FIXED.store(obj.store_name).location + "/")
    assert FIXED.resolve(DataObject(obj.name, obj.store_name)) == obj


# --------------------------------------------------------------------------- round trip of valid catalogs
ident = st.text(string.ascii_lowercase + "_", min_size=1, max_size=8).filter(lambda s: s[0] != "_" or len(s) > 1)
columns = st.lists(st.sampled_from(["id", "day", "country", "name", "ts"]), unique=True, max_size=3)
valid_settings = st.fixed_dictionaries(
    {},
    optional={
        "max_attempts": st.one_of(st.integers(1, 20), st.integers(1, 20).map(str)),
        "connect_timeout": st.one_of(st.floats(0.1, 100), st.integers(1, 100).map(str)),
        "path_style": st.one_of(st.booleans(), st.sampled_from(["true", "false", "True", "no"])),
        "region": st.sampled_from(["eu-west-1", "us-east-1"]),
        "compression": st.sampled_from(["zstd", "SNAPPY", "gzip"]),
        "header": st.booleans(),
        "delimiter": st.sampled_from([";", ",", "|"]),
        "s3_commit": st.sampled_from(["copy", "multipart"]),
    },
)
valid_options = st.fixed_dictionaries(
    {},
    optional={
        "compression": st.sampled_from(["zstd", "gzip", "none"]),
        "row_group_size": st.one_of(st.integers(1, 10**6), st.integers(1, 10**6).map(str)),
        "max_rows_per_file": st.integers(0, 10**6),
        "delimiter": st.sampled_from([";", "\t"]),
        "header": st.sampled_from([True, False, "false"]),
        "columns": st.sampled_from(["id,name", ["id"]]),
    },
)


@st.composite
def valid_catalogs(draw) -> dict:
    stores = {}
    objects = {}
    for name in draw(st.lists(ident, min_size=1, max_size=3, unique=True)):
        stores[name] = {"interface": "files", "path": f"/data/{name}",
                        "format": draw(st.sampled_from(["parquet", "csv", "json"])), **draw(valid_settings)}
        if draw(st.booleans()):
            stores[name]["options"] = draw(valid_options)
        for obj in draw(st.lists(ident, max_size=3, unique=True)):
            entry: dict[str, Any] = {"keys": draw(columns), "partition_by": draw(columns),
                                     "options": draw(valid_options)}
            if draw(st.booleans()):
                entry["path"] = f"sub/{obj}"
            objects[f"{name}.{obj}"] = entry
    return {"stores": stores, "objects": objects}


def expected_setting(key: str, value: Any) -> Any:
    if key in ("max_attempts",):
        return int(value)
    if key == "connect_timeout":
        return float(value)
    if key in ("path_style", "header") and isinstance(value, str):
        return value.lower() in ("true", "yes")
    if key in ("compression", "s3_commit"):
        return value.lower()
    return value


def expected_options(options: dict) -> dict:
    out = {}
    for key, value in options.items():
        if key == "row_group_size":
            value = int(value)
        elif key == "header" and isinstance(value, str):
            value = value == "true"
        out[key] = value
    return out


@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=valid_catalogs())
def test_a_valid_catalog_round_trips(config: dict) -> None:
    catalog = Catalog.load(config)
    assert set(catalog.stores) == set(config["stores"])
    for name, entry in config["stores"].items():
        store = catalog.store(name)
        assert store.location == entry["path"]
        for key, value in entry.items():
            if key not in ("interface", "options"):
                assert store.configs[key] == expected_setting(key, value), key
    assert catalog.list() == sorted(config["objects"])
    for full, entry in config["objects"].items():
        obj = catalog.get(full)
        store_entry = config["stores"][full.split(".")[0]]
        assert obj.keys == tuple(entry["keys"]) and obj.partition_by == tuple(entry["partition_by"])
        assert obj.format == store_entry["format"]
        assert obj.location == f"{store_entry['path']}/{entry.get('path', full.split('.', 1)[1])}"
        defaults = {k: expected_setting(k, store_entry[k]) for k in ("compression", "header", "delimiter")
                    if k in store_entry}
        assert obj.options == {**defaults, **expected_options(store_entry.get("options", {})),
                               **expected_options(entry["options"])}
    # the same catalog through a YAML file, a JSON file and pickle
    with tempfile.TemporaryDirectory() as tmp:
        for name, dump in (("c.yaml", yaml.safe_dump), ("c.json", json.dumps)):
            path = Path(tmp) / name
            path.write_text(dump(config), encoding="utf-8")
            again = Catalog.load(path)
            assert again.stores == catalog.stores and again.objects == catalog.objects
            assert again.fingerprint == catalog.fingerprint
    assert pickle.loads(pickle.dumps(catalog)).objects == catalog.objects
    # loading the loaded values again changes nothing (coercion is idempotent)
    reloaded = Catalog.load({"stores": {n: {"interface": "files", **s.configs} for n, s in catalog.stores.items()}})
    assert {n: s.configs for n, s in reloaded.stores.items()} == {n: s.configs for n, s in catalog.stores.items()}

