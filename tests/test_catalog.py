"""The catalog layer: loading, the seed's shape, the full shape, validation, resolution. No Spark."""

from __future__ import annotations

import json
import pickle
import re
import uuid
from pathlib import Path

import pytest

from spark_dao import (
    BackendNotInstalled,
    Catalog,
    CatalogError,
    DaoError,
    DataAccessObject,
    DataObject,
    DataStore,
    DataStoreRegistry,
    ObjectNotFound,
    load_catalog,
)
from spark_dao.catalog import ENV_VAR, InterfaceSpec, redact
from spark_dao.errors import close_matches, did_you_mean, require
from spark_dao.interfaces import get_interface

# The JSON config of the user's DAO guide (seeds/004), as written there except for the password,
# which is a recognisable value so the tests can prove it never leaks.
SECRET = "hunter2-Sup3rS3cret"
SEED_JSON = """
{
  "bronze": {
    "interface_class": "S3Boto3Interface",
    "interface_class_location": "interface_classes.s3.s3_boto3",
    "default_configs": {
      "bucket": "my-company-bronze"
    }
  },
  "silver": {
    "interface_class": "S3SparkInterface",
    "interface_class_location": "interface_classes.s3.spark",
    "default_configs": {
      "bucket": "my-company-silver",
      "prefix": "datasets"
    }
  },
  "gold": {
    "interface_class": "RedshiftSparkInterface",
    "interface_class_location": "interface_classes.redshift.spark",
    "default_configs": {
      "host": "redshift.company.redshift.amazonaws.com",
      "user": "pipeline_user",
      "password": "@SECRET@",
      "database": "analytics",
      "s3_temp_dir": "s3://my-company-temp/redshift/",
      "iam_role_arn": "arn:aws:iam::123456789:role/redshift-role"
    }
  }
}
""".replace("@SECRET@", SECRET)

FULL_YAML = """
stores:
  bronze:
    interface: files
    path: data/bronze
    format: csv
  silver:
    interface: files
    path: data/silver
    format: parquet
    options: {compression: zstd}
    objects:
      events:
        partition_by: [day]
  gold:
    interface: files
    default_configs:
      path: data/gold
      format: parquet
objects:
  bronze.users_raw:
    format: json
  silver.users_clean:
    path: clean/users
    keys: [id]
    order_by: updated_at
    schema: {id: long, name: string, updated_at: timestamp, score: "decimal(10, 2)"}
    options: {row_group_size: 1000}
    description: one row per user
  gold.users_agg: {}
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def seed_config() -> dict:
    return json.loads(SEED_JSON)


def files_store(root: Path, **extra) -> dict:
    return {"interface": "files", "path": str(root), **extra}


def load_error(source, *, exc: type[Exception] = CatalogError) -> str:
    with pytest.raises(exc) as info:
        Catalog.load(source)
    return str(info.value)


# --------------------------------------------------------------------------- loading
@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".YAML"])
def test_load_yaml_file(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path / "conf", f"catalog{suffix}", FULL_YAML)
    catalog = Catalog.load(path)
    assert catalog.source == str(path.resolve())
    assert sorted(catalog.stores) == ["bronze", "gold", "silver"]
    assert catalog.list() == ["bronze.users_raw", "gold.users_agg", "silver.events", "silver.users_clean"]
    assert catalog.store("gold").location == str(tmp_path / "conf" / "data" / "gold")


def test_load_json_file_and_str_path(tmp_path: Path) -> None:
    data = {
        "stores": {"silver": files_store(tmp_path / "silver")},
        "objects": {"silver.users": {"keys": ["id"]}},
    }
    path = write(tmp_path, "catalog.json", json.dumps(data))
    for source in (path, str(path)):
        catalog = Catalog.load(source)
        assert catalog.source == str(path.resolve())
        assert catalog.get("silver.users").keys == ("id",)
        assert catalog.get("silver.users").location == str(tmp_path / "silver" / "users")


def test_yaml_and_json_give_the_same_catalog(tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(FULL_YAML)
    from_yaml = Catalog.load(write(tmp_path, "c.yaml", FULL_YAML))
    from_json = Catalog.load(write(tmp_path, "c.json", json.dumps(data)))
    assert from_yaml.objects == from_json.objects
    assert {n: s.configs for n, s in from_yaml.stores.items()} == {
        n: s.configs for n, s in from_json.stores.items()
    }
    assert from_yaml.fingerprint == from_json.fingerprint


def test_load_dict_does_not_mutate_the_callers_dict(catalog_dict: dict, monkeypatch) -> None:
    monkeypatch.setenv("DAO_TEST_FMT", "parquet")
    catalog_dict["stores"]["gold"]["format"] = "${env:DAO_TEST_FMT}"
    before = json.dumps(catalog_dict, sort_keys=True)
    catalog = Catalog.load(catalog_dict)
    assert catalog.source == "<dict>"
    assert catalog.store("gold").configs["format"] == "parquet"
    assert json.dumps(catalog_dict, sort_keys=True) == before
    assert catalog.get("silver.users_clean").keys == ("id",)
    assert catalog.get("silver.events").partition_by == ("country",)


def test_load_catalog_instance_is_returned_as_is(catalog_dict: dict) -> None:
    catalog = Catalog.load(catalog_dict)
    assert Catalog.load(catalog) is catalog
    assert load_catalog(catalog) is catalog
    assert DataAccessObject(catalog).catalog is catalog


def test_load_from_env_var(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path, "env_catalog.yaml", FULL_YAML)
    monkeypatch.setenv(ENV_VAR, str(path))
    assert ENV_VAR == "SPARK_DAO_CATALOG"
    catalog = Catalog.load()
    assert catalog.source == str(path.resolve())
    assert "silver.users_clean" in catalog.objects
    assert DataAccessObject().catalog.source == str(path.resolve())
    assert load_catalog().source == str(path.resolve())


def test_no_source_and_no_env_is_a_catalog_error(monkeypatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    message = load_error(None)
    assert "no catalog given" in message
    assert "SPARK_DAO_CATALOG" in message
    with pytest.raises(CatalogError):
        DataAccessObject()


def test_env_var_pointing_nowhere(tmp_path: Path, monkeypatch) -> None:
    missing = tmp_path / "nope.yaml"
    monkeypatch.setenv(ENV_VAR, str(missing))
    message = load_error(None)
    assert "not found" in message and str(missing) in message


def test_missing_file_and_folder(tmp_path: Path) -> None:
    message = load_error(tmp_path / "absent.yaml")
    assert "catalog file not found" in message and "absent.yaml" in message
    folder = tmp_path / "conf.yaml"
    folder.mkdir()
    message = load_error(folder)
    assert "is a folder" in message and str(folder) in message


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog.txt", "stores: {}")
    message = load_error(path)
    assert str(path) in message
    assert "unsupported catalog file type '.txt'" in message
    assert ".yaml" in message and ".json" in message


def test_unsupported_file_type_is_reported_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "catalog.bin"
    path.write_bytes(b"\xff\xfe\x00binary")
    message = load_error(path)
    assert "unsupported catalog file type '.bin'" in message


def test_non_utf8_yaml_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_bytes(b"stores:\n  silver: \xff\xfe\n")
    message = load_error(path)
    assert "cannot parse catalog" in message and str(path) in message


def test_unparsable_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "stores:\n  silver:\n    interface: files\n   path: [unclosed\n")
    message = load_error(path)
    assert str(path) in message
    assert "cannot parse catalog" in message
    assert "line 4" in message


def test_unparsable_json_names_file_and_position(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", '{"silver": {"interface": "files",}}')
    message = load_error(path)
    assert str(path) in message and "cannot parse catalog" in message and "line 1" in message


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n", "42\n"])
def test_yaml_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "catalog.yaml", text)
    message = load_error(path)
    assert str(path) in message and "must be a mapping of stores" in message


def test_catalog_without_stores(tmp_path: Path) -> None:
    assert "declares no stores" in load_error({"stores": {}})
    path = write(tmp_path, "c.json", "{}")
    message = load_error(path)
    assert "declares no stores" in message and str(path.resolve()) in message


# --------------------------------------------------------------------------- the seed's shape
def test_seed_json_file_loads_as_written(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog.json", SEED_JSON)
    catalog = Catalog.load(path)
    assert sorted(catalog.stores) == ["bronze", "gold", "silver"]
    assert catalog.objects == {}
    bronze, silver, gold = (catalog.store(n) for n in ("bronze", "silver", "gold"))
    # The seed's class names map to the built-in interfaces.
    assert bronze.interface == InterfaceSpec("objects")
    assert silver.interface == InterfaceSpec("files")
    assert gold.interface == InterfaceSpec("redshift")
    assert bronze.interfaces == (InterfaceSpec("objects"),)
    # default_configs are kept exactly as written.
    assert bronze.configs == {"bucket": "my-company-bronze"}
    assert silver.configs == {"bucket": "my-company-silver", "prefix": "datasets"}
    assert gold.configs == json.loads(SEED_JSON)["gold"]["default_configs"]
    assert gold.configs["password"] == SECRET
    assert bronze.location == "s3://my-company-bronze"
    assert silver.location == "s3://my-company-silver/datasets"
    assert gold.location is None
    assert bronze.source == str(path.resolve())


def test_seed_dict_loads_and_objects_resolve_under_the_bucket() -> None:
    catalog = Catalog.load(seed_config())
    assert catalog.get("silver.users_clean").location == "s3://my-company-silver/datasets/users_clean"
    assert catalog.get("bronze.users_raw").location == "s3://my-company-bronze/users_raw"
    assert (
        catalog.get("bronze.users_raw/2025-01-07").location == "s3://my-company-bronze/users_raw/2025-01-07"
    )
    users_agg = catalog.get("gold.users_agg")
    assert users_agg.full_name == "gold.users_agg" and users_agg.store is catalog.store("gold")
    with pytest.raises(CatalogError, match="store 'gold' has no location"):
        _ = users_agg.location


@pytest.mark.parametrize(
    ("configs", "location"),
    [
        ({"bucket": "b", "prefix": "/datasets/"}, "s3://b/datasets"),
        ({"bucket": "s3://b/", "prefix": ""}, "s3://b"),
        ({"bucket_name": "b", "prefix": "x/y"}, "s3://b/x/y"),
        ({"path": "s3://b/p/"}, "s3://b/p"),
        ({"root": "/data/lake/"}, "/data/lake"),
    ],
)
def test_store_location_forms(configs: dict, location: str) -> None:
    catalog = Catalog.load({"s": {"interface": "files", "default_configs": configs}})
    assert catalog.store("s").location == location


def test_seed_secrets_never_shown(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("DAO_T_UNSET_VAR", raising=False)
    catalog = Catalog.load(seed_config())
    gold = catalog.store("gold")
    users_agg = catalog.get("gold.users_agg")
    for text in (repr(gold), str(gold), repr(catalog), str(catalog), repr(users_agg), str(users_agg)):
        assert SECRET not in text
    assert "'password': '***'" in repr(gold)
    assert "pipeline_user" in repr(gold)  # only secrets are hidden

    messages = []
    for err_type, action in [
        (CatalogError, lambda: users_agg.location),
        (DaoError, lambda: get_interface(gold).plan_read(users_agg, {"no_such_option": 1})),
        (CatalogError, lambda: catalog.get("gold.../x")),
    ]:
        with pytest.raises(err_type) as info:
            action()
        messages.append(str(info.value))

    def bad(**changes) -> dict:
        config = seed_config()
        config["gold"]["default_configs"].update(changes)
        return config

    with_object = {"stores": seed_config(), "objects": {"gold.users_agg": {"partiton_by": ["x"]}}}
    for config in (bad(passwrd="x"), bad(ssl="${env:DAO_T_UNSET_VAR}"), with_object):
        messages.append(load_error(config))
    # a YAML error on the password's own line, a duplicate password key in JSON
    messages.append(
        load_error(
            write(
                tmp_path,
                "bad.yaml",
                f"gold:\n  interface: redshift\n  default_configs:\n    password: {SECRET}: oops\n",
            )
        )
    )
    messages.append(
        load_error(
            write(
                tmp_path,
                "unterminated.yaml",
                f'gold:\n  interface: redshift\n  default_configs:\n    password: "{SECRET}\n',
            )
        )
    )
    messages.append(
        load_error(write(tmp_path, "dup.json", SEED_JSON.replace('"user":', '"password": "x", "user":')))
    )
    assert len(messages) == 9
    for message in messages:
        assert SECRET not in message, message
    assert "line 4" in messages[6]


def test_object_options_secrets_are_redacted(tmp_path: Path) -> None:
    # a custom interface takes any options (the built-in ones reject unknown keys at load)
    custom = {"interface": "my_pkg.io:Custom", "default_configs": {"options": {"aws_secret_access_key": SECRET}}}
    catalog = Catalog.load(
        {
            "stores": {"s": custom},
            "objects": {"s.t": {"options": {"session_token": SECRET, "compression": "zstd"}}},
        }
    )
    obj = catalog.get("s.t")
    assert obj.options == {"aws_secret_access_key": SECRET, "session_token": SECRET, "compression": "zstd"}
    assert SECRET not in repr(obj) and SECRET not in str(obj) and SECRET not in repr(catalog.store("s"))
    assert "'compression': 'zstd'" in repr(obj)


def test_redact() -> None:
    configs = {
        "user": "u",
        "password": "p",
        "storage_options": {"secret": "s", "region": "r"},
        "credentials": None,
        "chain": [{"token": "t"}, "plain"],
    }
    assert redact(configs) == {
        "user": "u",
        "password": "***",
        "storage_options": {"secret": "***", "region": "r"},
        "credentials": None,
        "chain": [{"token": "***"}, "plain"],
    }
    assert configs["password"] == "p"  # a copy


def test_seed_flow_with_registry_and_data_object() -> None:
    dao = DataAccessObject(seed_config())
    assert DataStoreRegistry.names() == ["bronze", "gold", "silver"]
    bronze_store = DataStoreRegistry.get("bronze")
    assert bronze_store is dao.catalog.store("bronze")
    users_raw = DataObject("users_raw", bronze_store)
    assert users_raw.full_name == "bronze.users_raw"
    assert users_raw.location == "s3://my-company-bronze/users_raw"
    silver_store = DataStoreRegistry.get("silver")
    users_clean_obj = DataObject("users_clean", silver_store)
    assert dao.resolve(data_object=users_clean_obj, format="parquet").format == "parquet"
    assert users_clean_obj.location == "s3://my-company-silver/datasets/users_clean"


# --------------------------------------------------------------------------- the full shape
def test_full_shape_properties(tmp_path: Path) -> None:
    catalog = Catalog.load(write(tmp_path, "catalog.yaml", FULL_YAML))
    silver_root = tmp_path / "data" / "silver"

    users = catalog.get("silver.users_clean")
    assert users.declared is True
    assert users.path == "clean/users"
    assert users.location == str(silver_root / "clean" / "users")
    assert users.format == "parquet"  # from the store's convenience key
    assert users.keys == ("id",)
    assert users.order_by == "updated_at"
    assert users.schema == {
        "id": "long",
        "name": "string",
        "updated_at": "timestamp",
        "score": "decimal(10, 2)",
    }
    assert users.options == {"compression": "zstd", "row_group_size": 1000}  # store options + its own
    assert users.description == "one row per user"

    events = catalog.get("silver.events")  # nested under its store
    assert events.partition_by == ("day",)
    assert events.location == str(silver_root / "events")
    assert events.options == {"compression": "zstd"}

    raw = catalog.get("bronze.users_raw")
    assert raw.format == "json"  # its own format beats the store's csv
    gold = catalog.store("gold")
    assert gold.configs == {"path": str(tmp_path / "data" / "gold"), "format": "parquet"}
    assert catalog.get("gold.users_agg").format == "parquet"
    assert catalog.list("silver") == ["silver.events", "silver.users_clean"]
    assert catalog.list("bronze") == ["bronze.users_raw"]


def test_store_convenience_keys_and_default_configs_merge(tmp_path: Path) -> None:
    catalog = Catalog.load(
        {
            "stores": {
                "silver": {
                    "interface": "files",
                    "path": str(tmp_path / "silver"),
                    "default_configs": {"format": "csv", "header": True},
                }
            }
        }
    )
    store = catalog.store("silver")
    assert store.configs == {"path": str(tmp_path / "silver"), "format": "csv", "header": True}
    assert catalog.get("silver.anything").format == "csv"


def test_partition_by_and_keys_accept_a_comma_string(tmp_path: Path) -> None:
    catalog = Catalog.load(
        {
            "stores": {"s": files_store(tmp_path)},
            "objects": {"s.t": {"partition_by": "year, month", "keys": "id"}},
        }
    )
    assert catalog.get("s.t").partition_by == ("year", "month")
    assert catalog.get("s.t").keys == ("id",)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"interfaces": ["files", "objects"]}, ("files", "objects")),
        ({"interface": "files", "additional_interfaces": ["objects"]}, ("files", "objects")),
        (
            {"interface": "delta", "additional_interfaces": ["files", "objects"]},
            ("delta", "files", "objects"),
        ),
        (
            {"interface_class": "S3SparkInterface", "additional_interfaces": ["S3Boto3Interface"]},
            ("files", "objects"),
        ),
        (
            {
                "interfaces": [
                    {
                        "interface_class": "S3SparkInterface",
                        "interface_class_location": "interface_classes.s3.spark",
                    },
                    {"interface": "objects"},
                ]
            },
            ("files", "objects"),
        ),
    ],
)
def test_several_interfaces_primary_first(entry: dict, expected: tuple) -> None:
    catalog = Catalog.load({"stores": {"lake": {**entry, "bucket": "my-lake"}}})
    store = catalog.store("lake")
    assert tuple(spec.kind for spec in store.interfaces) == expected
    assert store.interface.kind == expected[0]
    assert store.location == "s3://my-lake"


def test_several_interfaces_allow_the_union_of_their_settings() -> None:
    # multipart_threshold belongs to 'objects' only, header to 'files' only
    catalog = Catalog.load(
        {
            "stores": {
                "lake": {
                    "interface": "files",
                    "additional_interfaces": ["objects"],
                    "default_configs": {"bucket": "b", "multipart_threshold": 8, "header": True},
                }
            }
        }
    )
    assert catalog.store("lake").configs["multipart_threshold"] == 8
    message = load_error(
        {"stores": {"lake": {"interface": "files", "bucket": "b", "multipart_threshold": 8}}}
    )
    assert "unknown key 'multipart_threshold'" in message and "stores.lake.multipart_threshold" in message


# --------------------------------------------------------------------------- paths
def test_relative_paths_resolve_against_the_catalog_files_folder(tmp_path: Path, monkeypatch) -> None:
    conf = tmp_path / "project" / "conf"
    path = write(conf, "catalog.yaml", FULL_YAML)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    catalog = Catalog.load("../project/conf/catalog.yaml")
    assert catalog.source == str(path.resolve())
    assert catalog.store("bronze").location == str(conf / "data" / "bronze")
    assert catalog.get("bronze.users_raw").location == str(conf / "data" / "bronze" / "users_raw")
    assert str(elsewhere) not in catalog.store("silver").location


def test_relative_paths_in_a_dict_resolve_against_the_cwd(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    catalog = Catalog.load({"stores": {"s": {"interface": "files", "path": "lake/s"}}})
    assert catalog.store("s").location == str(tmp_path / "lake" / "s")


def test_home_relative_store_path(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    catalog = Catalog.load({"stores": {"s": {"interface": "files", "path": "~/lake"}}})
    assert catalog.store("s").location == str(tmp_path / "lake")


def test_uri_store_paths_are_kept(tmp_path: Path) -> None:
    catalog = Catalog.load({"stores": {"s": {"interface": "files", "path": "s3://bucket/prefix"}}})
    assert catalog.store("s").location == "s3://bucket/prefix"
    assert catalog.get("s.t").location == "s3://bucket/prefix/t"


def test_object_paths_inside_the_store_are_allowed(tmp_path: Path) -> None:
    root = tmp_path / "silver"
    catalog = Catalog.load(
        {
            "stores": {
                "silver": files_store(root),
                "lake": {"interface": "files", "bucket": "lake", "prefix": "p"},
            },
            "objects": {
                "silver.a": {"path": str(root / "deep" / "a")},
                "silver.b": {"path": "./b/"},
                "lake.c": {"path": "s3://lake/p/c"},
            },
        }
    )
    assert catalog.get("silver.a").location == str(root / "deep" / "a")
    assert catalog.get("silver.b").location == str(root / "b")
    assert catalog.get("lake.c").location == "s3://lake/p/c"


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("../other", "escapes its store"),
        ("a/../../other", "escapes its store"),
        ("a/../b", "contains '..'"),
        ("/etc/passwd", "escapes its store"),
        ("~/x", "must be relative"),
        ("s3://other-bucket/x", "escapes its store"),
    ],
)
def test_object_paths_that_escape_their_store(tmp_path: Path, path: str, fragment: str) -> None:
    config = {
        "stores": {"silver": files_store(tmp_path / "silver")},
        "objects": {"silver.users": {"path": path}},
    }
    message = load_error(config)
    assert "objects.silver.users.path" in message
    assert fragment in message
    assert repr(path) in message


def test_object_path_escape_in_a_store_without_location() -> None:
    config = seed_config()
    config = {"stores": config, "objects": {"gold.users_agg": {"path": "../../etc"}}}
    message = load_error(config)
    assert "objects.gold.users_agg.path" in message and "contains '..'" in message


def test_object_path_escape_in_a_file_names_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        "stores:\n  silver: {interface: files, path: silver}\nobjects:\n  silver.users: {path: ../../secret}\n",
    )
    message = load_error(path)
    assert str(path.resolve()) in message and "objects.silver.users.path" in message


@pytest.mark.parametrize("name", ["../users", "a/../../b", "/abs", "", "we.ird", "sp ace", "a//b"])
def test_object_names_that_are_invalid(tmp_path: Path, name: str) -> None:
    config = {"stores": {"silver": files_store(tmp_path)}, "objects": {f"silver.{name}": {}}}
    message = load_error(config)
    assert "invalid object name" in message and f"objects.silver.{name}" in message
    store = Catalog.load({"stores": {"silver": files_store(tmp_path)}}).store("silver")
    with pytest.raises(CatalogError, match="invalid object name"):
        DataObject(name, store)


def test_dataobject_with_a_store_name_only_has_no_location() -> None:
    obj = DataObject("users", "silver")
    assert obj.full_name == "silver.users"
    with pytest.raises(CatalogError, match="only a name here"):
        _ = obj.location


# --------------------------------------------------------------------------- custom interfaces
def make_module(tmp_path: Path, monkeypatch, body: str) -> str:
    name = f"dao_custom_{uuid.uuid4().hex[:10]}"
    write(tmp_path / "custom_modules", f"{name}.py", body)
    monkeypatch.syspath_prepend(str(tmp_path / "custom_modules"))
    return name


CUSTOM_BODY = """
class MyInterface:
    def __init__(self, **configs):
        self.configs = configs
"""


def test_custom_interface_by_class_and_location(tmp_path: Path, monkeypatch) -> None:
    module = make_module(tmp_path, monkeypatch, CUSTOM_BODY)
    config = {
        "warehouse": {
            "interface_class": "MyInterface",
            "interface_class_location": module,
            "default_configs": {"anything": 1, "dsn": "x://y"},
        }
    }
    catalog = Catalog.load(config)
    store = catalog.store("warehouse")
    assert store.interface == InterfaceSpec("custom", class_name="MyInterface", location=module)
    assert store.interface.label == f"{module}.MyInterface"
    itf = get_interface(store)
    assert type(itf).__name__ == "MyInterface"
    assert itf.configs == {"anything": 1, "dsn": "x://y"}


def test_custom_interface_short_form(tmp_path: Path, monkeypatch) -> None:
    module = make_module(
        tmp_path,
        monkeypatch,
        CUSTOM_BODY
        + """
    @classmethod
    def from_store(cls, store):
        inst = cls(store_name=store.name)
        return inst
""",
    )
    catalog = Catalog.load(
        {"stores": {"wh": {"interface": f"{module}:MyInterface", "default_configs": {"k": 1}}}}
    )
    store = catalog.store("wh")
    assert store.interface == InterfaceSpec("custom", class_name="MyInterface", location=module)
    assert get_interface(store).configs == {"store_name": "wh"}


def test_seed_class_names_in_a_custom_module_stay_custom(tmp_path: Path, monkeypatch) -> None:
    module = make_module(tmp_path, monkeypatch, CUSTOM_BODY.replace("MyInterface", "S3SparkInterface"))
    catalog = Catalog.load({"s": {"interface_class": "S3SparkInterface", "interface_class_location": module}})
    assert catalog.store("s").interface.kind == "custom"
    assert type(get_interface(catalog.store("s"))).__module__ == module


@pytest.mark.parametrize(
    "location", ["interface_classesx.s3", "daoish.interfaces", "spark_dao.interfaces_extra"]
)
def test_builtin_packages_match_whole_module_names(location: str) -> None:
    catalog = Catalog.load(
        {"s": {"interface_class": "S3SparkInterface", "interface_class_location": location}}
    )
    assert catalog.store("s").interface == InterfaceSpec(
        "custom", class_name="S3SparkInterface", location=location
    )


@pytest.mark.parametrize(
    "location", ["interface_classes", "interface_classes.s3.spark", "dao.interfaces", None]
)
def test_builtin_packages_map_seed_class_names(location: str | None) -> None:
    entry = {"interface_class": "S3SparkInterface"}
    if location is not None:
        entry["interface_class_location"] = location
    assert Catalog.load({"s": entry}).store("s").interface == InterfaceSpec("files")


def test_redshift_interface_loads_lazily_without_io() -> None:
    settings = {"host": "h", "database": "d", "s3_temp_dir": "s3://t/"}
    catalog = Catalog.load({"stores": {"lake_store": {"interface": "redshift", **settings}}})
    store = catalog.store("lake_store")
    assert store.interface == InterfaceSpec("redshift")
    assert store.configs == settings
    assert catalog.get("lake_store.t").full_name == "lake_store.t"
    # building the interface connects to nothing (its calls do)
    assert type(get_interface(store)).__name__ == "RedshiftInterface"


def test_seed_stores_map_to_builtin_interfaces() -> None:
    catalog = Catalog.load(seed_config())
    from spark_dao.interfaces.objects import ObjectsInterface
    from spark_dao.interfaces.redshift import RedshiftInterface

    assert isinstance(get_interface(catalog.store("bronze")), ObjectsInterface)
    assert isinstance(get_interface(catalog.store("gold")), RedshiftInterface)


def test_custom_class_in_a_missing_module_loads_then_fails_on_use() -> None:
    catalog = Catalog.load(
        {
            "wh": {
                "interface_class": "WarehouseInterface",
                "interface_class_location": "no_such_pkg_xyz.interfaces",
            }
        }
    )
    store = catalog.store("wh")
    assert store.interface.location == "no_such_pkg_xyz.interfaces"
    with pytest.raises(DaoError) as info:
        get_interface(store)
    message = str(info.value)
    assert (
        "'wh'" in message
        and "no_such_pkg_xyz.interfaces" in message
        and "interface_class_location" in message
    )
    assert isinstance(info.value.__cause__, ImportError)


def test_custom_module_without_the_class(tmp_path: Path, monkeypatch) -> None:
    module = make_module(tmp_path, monkeypatch, CUSTOM_BODY)
    catalog = Catalog.load({"wh": {"interface_class": "MyInterfac", "interface_class_location": module}})
    with pytest.raises(DaoError) as info:
        get_interface(catalog.store("wh"))
    message = str(info.value)
    assert "has no class 'MyInterfac'" in message and "Did you mean 'MyInterface'?" in message


def test_custom_interface_accepts_any_default_configs_but_not_stray_store_keys(tmp_path: Path) -> None:
    entry = {"interface": "pkg.mod:Cls", "default_configs": {"whatever": 1, "nested": {"a": 1}}}
    assert Catalog.load({"s": entry}).store("s").configs == {"whatever": 1, "nested": {"a": 1}}
    message = load_error({"s": {**entry, "default_config": {}}})
    assert "s.default_config" in message and "Did you mean 'default_configs'?" in message


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"interface": "pkg.mod:"}, "is not 'module.path:ClassName'"),
        ({"interface": ":Cls"}, "is not 'module.path:ClassName'"),
        ({"interface": "my-pkg:Cls"}, "is not 'module.path:ClassName'"),
        ({"interface": 3}, "s.interface: expected a string"),
        ({"interface_class": ""}, "s.interface_class: expected a class name"),
        ({"interface_class": "Cls", "interface_class_location": "bad path"}, "expected a module path"),
        ({"interface_class_location": "pkg.mod"}, "s.interface_class: expected a class name"),
        ({"interface": "files", "interface_class": "S3SparkInterface"}, "not both"),
        ({"default_configs": {"path": "/x"}}, "names no interface"),
    ],
)
def test_bad_interface_declarations(entry: dict, fragment: str) -> None:
    message = load_error({"s": entry})
    assert fragment in message


def test_unknown_builtin_class_in_the_seed_layout_gets_a_hint() -> None:
    message = load_error(
        {
            "silver": {
                "interface_class": "S3SparkInterfac",
                "interface_class_location": "interface_classes.s3.spark",
            }
        }
    )
    assert "silver.interface_class" in message
    assert "unknown built-in interface 'S3SparkInterfac'" in message
    assert "Did you mean 'S3SparkInterface'" in message


def test_unknown_class_without_location_gets_a_hint() -> None:
    message = load_error({"silver": {"interface_class": "S3SparkInterfase"}})
    assert "Did you mean 'S3SparkInterface'" in message and "interface_class_location" in message


def test_additional_interface_mapping_with_a_typo() -> None:
    message = load_error(
        {"stores": {"s": {"interface": "files", "additional_interfaces": [{"interfase": "objects"}]}}}
    )
    assert "stores.s.additional_interfaces[0]" in message
    assert "unknown interface key 'interfase'" in message and "Did you mean 'interface'" in message
    message = load_error({"stores": {"s": {"interface": "files", "interfaces": "objects"}}})
    assert "stores.s.interfaces: expected a list" in message
    message = load_error({"stores": {"s": {"interface": "files", "interfaces": [7]}}})
    assert "stores.s.interfaces[0]: expected a name or a mapping" in message


# --------------------------------------------------------------------------- ${env:VAR}
def test_env_interpolation(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DAO_T_BUCKET", "my-company-silver")
    monkeypatch.setenv("DAO_T_ENV", "prod")
    monkeypatch.delenv("DAO_T_MISSING", raising=False)
    config = {
        "silver": {
            "interface_class": "S3SparkInterface",
            "default_configs": {
                "bucket": "${env:DAO_T_BUCKET}",
                "prefix": "datasets/${env:DAO_T_ENV}/v${env:DAO_T_MISSING:-1}/${env:DAO_T_ENV}",
                "region": "${env:DAO_T_MISSING:-eu-west-1}",
                "storage_options": {"retries": ["${env:DAO_T_MISSING:-3}", 4]},
                "max_rows_per_file": 5,
            },
        }
    }
    store = Catalog.load(config).store("silver")
    assert store.configs["bucket"] == "my-company-silver"
    assert store.configs["prefix"] == "datasets/prod/v1/prod"
    assert store.configs["region"] == "eu-west-1"
    assert store.configs["storage_options"] == {"retries": ["3", 4]}
    assert store.configs["max_rows_per_file"] == 5
    assert store.location == "s3://my-company-silver/datasets/prod/v1/prod"


def test_env_default_applies_to_an_empty_variable_too(monkeypatch) -> None:
    monkeypatch.setenv("DAO_T_EMPTY", "")
    store = Catalog.load(
        {
            "s": {
                "interface": "files",
                "default_configs": {"bucket": "${env:DAO_T_EMPTY:-fallback}", "prefix": "${env:DAO_T_EMPTY}"},
            }
        }
    ).store("s")
    assert store.configs == {"bucket": "fallback", "prefix": ""}


def test_env_interpolation_in_a_yaml_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DAO_T_ROOT", str(tmp_path / "lake"))
    path = write(
        tmp_path, "c.yaml", "stores:\n  silver: {interface: files, path: '${env:DAO_T_ROOT}/silver'}\n"
    )
    assert Catalog.load(path).store("silver").location == str(tmp_path / "lake" / "silver")


def test_missing_env_variable_names_key_path_and_variable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("DAO_T_NOPE", raising=False)
    config = seed_config()
    config["silver"]["default_configs"]["prefix"] = "datasets/${env:DAO_T_NOPE}"
    message = load_error(config)
    assert "silver.default_configs.prefix" in message
    assert "'DAO_T_NOPE'" in message and "${env:DAO_T_NOPE:-value}" in message

    path = write(
        tmp_path, "c.yaml", "stores:\n  silver:\n    interface: files\n    path: ${env:DAO_T_NOPE}\n"
    )
    message = load_error(path)
    assert str(path.resolve()) in message and "stores.silver.path" in message and "DAO_T_NOPE" in message

    message = load_error(
        {"stores": {"s": {"interface": "files", "additional_interfaces": ["${env:DAO_T_NOPE}"]}}}
    )
    assert "stores.s.additional_interfaces[0]" in message


# --------------------------------------------------------------------------- validation
def test_unknown_interface_name_gets_a_close_match(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", "stores:\n  silver:\n    interface: fils\n    path: silver\n")
    message = load_error(path)
    assert str(path.resolve()) in message
    assert "stores.silver.interface" in message
    assert "unknown interface 'fils'" in message
    assert "Did you mean 'files'" in message
    assert "Built-in: delta, files, objects, redshift" in message


def test_unknown_store_key_gets_a_close_match(tmp_path: Path) -> None:
    path = write(
        tmp_path, "c.json", json.dumps({"stores": {"silver": {"interface": "files", "defualt_configs": {}}}})
    )
    message = load_error(path)
    assert str(path.resolve()) in message
    assert "stores.silver.defualt_configs" in message
    assert "unknown key 'defualt_configs' for store 'silver'" in message
    assert "Did you mean 'default_configs'?" in message


def test_unknown_top_level_key_in_the_full_shape() -> None:
    message = load_error({"stores": {"s": {"interface": "files", "path": "/x"}}, "objets": {}})
    assert "unknown top-level key 'objets'" in message and "Did you mean 'objects'?" in message


def test_unknown_object_key_gets_a_close_match(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.yaml",
        "stores:\n  silver: {interface: files, path: silver}\nobjects:\n  silver.events:\n    partiton_by: [day]\n",
    )
    message = load_error(path)
    assert str(path.resolve()) in message
    assert "objects.silver.events" in message
    assert "unknown object key 'partiton_by'" in message
    assert "Did you mean 'partition_by'?" in message


def test_unknown_key_in_a_nested_object() -> None:
    message = load_error(
        {"stores": {"silver": {"interface": "files", "path": "/x", "objects": {"t": {"kyes": ["id"]}}}}}
    )
    assert "stores.silver.objects.t" in message and "Did you mean 'keys'?" in message


def test_unknown_default_configs_key_for_a_builtin(tmp_path: Path) -> None:
    config = seed_config()
    config["silver"]["default_configs"]["buckt"] = "oops"
    message = load_error(config)
    assert "silver.default_configs.buckt" in message
    assert "unknown key 'buckt' for interface 'files'" in message
    assert "Did you mean 'bucket'" in message
    assert "Valid keys:" in message and "prefix" in message


@pytest.mark.parametrize(
    ("objects", "fragment"),
    [
        ({"silver.t": {"partition_by": 5}}, "objects.silver.t.partition_by: expected a list of column names"),
        (
            {"silver.t": {"partition_by": ["a", 1]}},
            "objects.silver.t.partition_by: expected a list of column names",
        ),
        ({"silver.t": {"keys": {"id": 1}}}, "objects.silver.t.keys: expected a list of column names"),
        ({"silver.t": {"keys": ["id", "id"]}}, "objects.silver.t.keys: duplicate column names"),
        (
            {"silver.t": {"schema": ["id", "long"]}},
            "objects.silver.t.schema: expected a mapping of column -> type",
        ),
        ({"silver.t": {"schema": {}}}, "objects.silver.t.schema: expected a mapping of column -> type"),
        ({"silver.t": {"schema": {"id": "varchar"}}}, "objects.silver.t.schema.id: unknown type 'varchar'"),
        ({"silver.t": {"schema": {"id": 5}}}, "objects.silver.t.schema.id: unknown type 5"),
        ({"silver.t": {"options": "compression=zstd"}}, "objects.silver.t.options: expected a mapping"),
        ({"silver.t": {"format": 5}}, "objects.silver.t.format: expected a string, got int"),
        ({"silver.t": {"order_by": ["a"]}}, "objects.silver.t.order_by: expected a string, got list"),
        ({"silver.t": {"path": 3}}, "objects.silver.t.path: expected a string"),
        ({"silver.t": "parquet"}, "objects.silver.t: an object must be a mapping, got str"),
        (
            {"silver.t": {"schema": {"id": "long"}, "partition_by": ["day"]}},
            "objects.silver.t: columns ['day'] are used but not in its schema",
        ),
    ],
)
def test_wrong_object_types(tmp_path: Path, objects: dict, fragment: str) -> None:
    message = load_error({"stores": {"silver": files_store(tmp_path)}, "objects": objects})
    assert fragment in message


def test_schema_types_are_normalised(tmp_path: Path) -> None:
    catalog = Catalog.load(
        {
            "stores": {"silver": files_store(tmp_path)},
            "objects": {
                "silver.t": {"schema": {"a": "BIGINT", "b": " Decimal(38,9) ", "c": "timestamp_ntz"}}
            },
        }
    )
    assert catalog.get("silver.t").schema == {"a": "bigint", "b": "decimal(38,9)", "c": "timestamp_ntz"}


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"s": ["files"]}, "s: a store must be a mapping, got list"),
        (
            {"s": {"interface": "files", "default_configs": ["a"]}},
            "s.default_configs: expected a mapping, got list",
        ),
        (
            {"s": {"interface": "files", "default_configs": {"path": ""}}},
            "s.default_configs.path: expected a non-empty",
        ),
        (
            {"stores": {"s": {"interface": "files", "path": 5}}},
            "stores.s.path: expected a non-empty string path",
        ),
        (
            {"stores": {"s": {"interface": "files", "options": "x"}}},
            "stores.s.options: expected a mapping, got str",
        ),
        ({"stores": {"s": {"interface": "files", "objects": ["t"]}}}, "stores.s.objects: expected a mapping"),
        ({"stores": {"s": {"interface": "files"}}, "objects": ["s.t"]}, "'objects' must be a mapping"),
    ],
)
def test_wrong_store_types(config: dict, fragment: str) -> None:
    assert fragment in load_error(config)


def test_duplicate_names_in_yaml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.yaml",
        "stores:\n"
        "  silver: {interface: files, path: a}\n"
        "  gold: {interface: files, path: b}\n"
        "  silver: {interface: files, path: c}\n",
    )
    message = load_error(path)
    assert str(path.resolve()) in message
    assert "stores: duplicate name 'silver' (line 4)" in message


def test_duplicate_names_in_nested_yaml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.yml",
        "stores:\n  silver:\n    interface: files\n    path: a\nobjects:\n  silver.t:\n    keys: [id]\n    keys: [x]\n",
    )
    message = load_error(path)
    assert "objects.silver.t: duplicate name 'keys' (line 8)" in message


def test_duplicate_names_in_json(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.json",
        '{"stores": {"silver": {"interface": "files", "path": "a"}},'
        ' "objects": {"silver.t": {}, "silver.u": {}, "silver.t": {"keys": ["id"]}}}',
    )
    message = load_error(path)
    assert str(path.resolve()) in message
    assert "objects: duplicate name 'silver.t'" in message
    seed_dup = write(
        tmp_path, "seed.json", SEED_JSON.replace('"gold": {', '"silver": {"interface": "files"},\n"gold": {')
    )
    assert "<root>: duplicate name 'silver'" in load_error(seed_dup)


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.yaml",
        "base: &files\n  interface: files\n  format: csv\n  path: base\n"
        "silver:\n  <<: *files\n  path: silver\n  format: parquet\n",
    )
    catalog = Catalog.load(path)
    assert catalog.store("silver").configs == {"path": str(tmp_path / "silver"), "format": "parquet"}
    assert catalog.store("base").configs["format"] == "csv"


def test_object_declared_nested_and_top_level() -> None:
    config = {
        "stores": {"silver": {"interface": "files", "path": "/x", "objects": {"users": {"keys": ["id"]}}}},
        "objects": {"silver.users": {"keys": ["uid"]}},
    }
    message = load_error(config)
    assert "object 'silver.users' is declared twice" in message
    assert "objects.silver.users" in message and "stores.silver.objects.users" in message


def test_setting_given_at_store_level_and_in_default_configs() -> None:
    message = load_error(
        {"stores": {"s": {"interface": "files", "path": "/a", "default_configs": {"path": "/b"}}}}
    )
    assert (
        "stores.s.path" in message and "set twice" in message and "stores.s.default_configs.path" in message
    )


@pytest.mark.parametrize("name", ["silver.v2", "sil ver", "-x", "a/b"])
def test_invalid_store_names(name: str) -> None:
    message = load_error({"stores": {name: {"interface": "files", "path": "/x"}}})
    assert f"stores.{name}" in message and f"invalid store name {name!r}" in message and "no dots" in message


def test_object_referencing_an_unknown_store() -> None:
    config = {"stores": {"silver": {"interface": "files", "path": "/x"}}, "objects": {"silvr.users": {}}}
    message = load_error(config)
    assert "objects.silvr.users" in message
    assert "unknown store 'silvr'" in message and "Did you mean 'silver'?" in message
    message = load_error(
        {"stores": {"silver": {"interface": "files", "path": "/x"}}, "objects": {"users": {}}}
    )
    assert "objects.users: object names must be 'store.object'" in message


@pytest.mark.parametrize(
    ("config", "path", "hint"),
    [
        (
            {"stores": {"s": {"interface": "files", "path": "/x", "format": "parqet"}}},
            "stores.s.format",
            "parquet",
        ),
        (
            {"s": {"interface": "files", "default_configs": {"path": "/x", "format": "jsn"}}},
            "s.default_configs.format",
            "json",
        ),
        (
            {"stores": {"s": {"interface": "files", "path": "/x"}}, "objects": {"s.t": {"format": "cvs"}}},
            "objects.s.t.format",
            "csv",
        ),
        (
            {"stores": {"s": {"interface": "files", "path": "/x"}}, "objects": {"s.t": {"format": "delta"}}},
            "objects.s.t.format",
            None,
        ),
    ],
)
def test_format_unknown_to_the_files_interface(config: dict, path: str, hint: str | None) -> None:
    message = load_error(config)
    assert path in message and "for interface 'files'" in message and "Valid: csv, json, parquet" in message
    if hint:
        assert f"Did you mean {hint!r}?" in message


def test_format_is_case_insensitive_and_delta_is_valid_for_delta(tmp_path: Path) -> None:
    catalog = Catalog.load(
        {
            "stores": {
                "s": files_store(tmp_path, format="Parquet"),
                "d": {"interface": "delta", "path": str(tmp_path)},
            },
            "objects": {"d.t": {"format": "delta"}},
        }
    )
    assert catalog.get("s.t").format == "Parquet"
    assert catalog.get("d.t").format == "delta"


# --------------------------------------------------------------------------- get / resolve
def test_undeclared_object_resolves_from_store_defaults(catalog_dict: dict, tmp_path: Path) -> None:
    catalog = Catalog.load(catalog_dict)
    obj = catalog.get("bronze.events_raw")
    assert obj.declared is False
    assert obj.location == str(tmp_path / "bronze" / "events_raw")
    assert obj.format == "csv"
    assert obj.store is catalog.store("bronze")
    assert catalog.get("bronze.users_raw").location == str(tmp_path / "bronze" / "users_raw")
    assert catalog.get("bronze.users_raw").declared is True
    assert catalog.get("gold.new_table").format == "parquet"


def test_get_unknown_store_has_a_hint(catalog_dict: dict) -> None:
    catalog = Catalog.load(catalog_dict)
    with pytest.raises(ObjectNotFound) as info:
        catalog.get("silvr.users_clean")
    message = str(info.value)
    assert "unknown store 'silvr'" in message and "Did you mean 'silver'?" in message
    assert "known stores: bronze, gold, silver" in message
    assert isinstance(info.value, LookupError) and isinstance(info.value, DaoError)
    with pytest.raises(ObjectNotFound, match="unknown store 'platinum'"):
        catalog.store("platinum")


@pytest.mark.parametrize("name", ["users_clean", "", 42])
def test_get_a_name_without_a_dot(catalog_dict: dict, name) -> None:
    with pytest.raises(ObjectNotFound) as info:
        Catalog.load(catalog_dict).get(name)
    assert "use 'store.object'" in str(info.value)


def test_get_with_an_invalid_object_part(catalog_dict: dict) -> None:
    with pytest.raises(CatalogError, match="invalid object name '../x'"):
        Catalog.load(catalog_dict).get("silver.../x")


def test_resolve_merges_declared_and_explicit_properties(catalog_dict: dict, tmp_path: Path) -> None:
    catalog_dict["objects"]["silver.users_clean"] = {
        "keys": ["id"],
        "order_by": "updated_at",
        "partition_by": ["country"],
        "options": {"header": False, "delimiter": ";"},
        "description": "declared",
    }
    catalog = Catalog.load(catalog_dict)
    silver = catalog.store("silver")
    resolved = catalog.resolve(
        DataObject(
            "users_clean", silver, format="csv", keys=["uid"], options={"delimiter": "|", "compression": "gzip"},
            path="v2/users",
        )
    )
    assert resolved.format == "csv"  # explicit wins
    assert resolved.keys == ("uid",)
    assert resolved.options == {"header": False, "delimiter": "|", "compression": "gzip"}
    assert resolved.path == "v2/users"
    assert resolved.location == str(tmp_path / "silver" / "v2" / "users")
    # declared ones fill the rest
    assert resolved.order_by == "updated_at"
    assert resolved.partition_by == ("country",)
    assert resolved.description == "declared"
    assert resolved.declared is True
    assert catalog.get(DataObject("users_clean", silver)) == catalog.get("silver.users_clean")


def test_resolve_with_a_store_name_and_undeclared_objects(catalog_dict: dict, tmp_path: Path) -> None:
    catalog = Catalog.load(catalog_dict)
    resolved = catalog.resolve(DataObject("orders", "gold", partition_by="day"))
    assert resolved.store is catalog.store("gold")
    assert resolved.format == "parquet"
    assert resolved.partition_by == ("day",)
    assert resolved.declared is False
    assert resolved.location == str(tmp_path / "gold" / "orders")
    with pytest.raises(ObjectNotFound, match="Did you mean 'gold'"):
        catalog.resolve(DataObject("orders", "golf"))


def test_data_object_with_changes_and_immutability(catalog_dict: dict) -> None:
    obj = Catalog.load(catalog_dict).get("silver.users_clean")
    other = obj.with_(format="csv")
    assert other.format == "csv" and obj.format == "parquet"
    with pytest.raises(AttributeError):
        obj.format = "json"  # type: ignore[misc]


# --------------------------------------------------------------------------- pickling
def test_pickle_round_trip(tmp_path: Path) -> None:
    catalog = Catalog.load(write(tmp_path, "c.yaml", FULL_YAML))
    for value in (catalog.get("silver.users_clean"), catalog.store("silver"), catalog):
        clone = pickle.loads(pickle.dumps(value))
        assert clone == value
        assert clone is not value
    clone = pickle.loads(pickle.dumps(catalog))
    assert clone.fingerprint == catalog.fingerprint
    assert clone.get("silver.users_clean").location == catalog.get("silver.users_clean").location
    assert clone.get("silver.users_clean").schema["score"] == "decimal(10, 2)"
    seed = Catalog.load(seed_config())
    assert pickle.loads(pickle.dumps(seed)) == seed
    gold = pickle.loads(pickle.dumps(seed.store("gold")))
    assert gold.configs["password"] == SECRET  # the value travels, only its display is hidden


def test_data_objects_compare_by_content(tmp_path: Path) -> None:
    store = Catalog.load({"s": files_store(tmp_path)}).store("s")
    assert DataObject("t", store, keys=["id"]) == DataObject("t", store, keys=("id",))
    assert DataObject("t", store) != DataObject("t", store, format="csv")
    assert hash(DataObject("t", store)) == hash(DataObject("t", store))


# --------------------------------------------------------------------------- registry
def test_registry_get_unknown_and_clear(catalog_dict: dict) -> None:
    with pytest.raises(ObjectNotFound, match=r"Registered: \(none\)"):
        DataStoreRegistry.get("silver")
    DataStoreRegistry.register_catalog(Catalog.load(catalog_dict))
    assert DataStoreRegistry.names() == ["bronze", "gold", "silver"]
    assert DataStoreRegistry.get("silver").name == "silver"
    with pytest.raises(ObjectNotFound) as info:
        DataStoreRegistry.get("silvr")
    assert "no store 'silvr'" in str(info.value) and "Did you mean 'silver'?" in str(info.value)
    DataStoreRegistry.clear()
    assert DataStoreRegistry.names() == []
    with pytest.raises(ObjectNotFound):
        DataStoreRegistry.get("silver")


def test_dao_registers_its_stores_latest_wins(catalog_dict: dict, tmp_path: Path) -> None:
    DataAccessObject(catalog_dict)
    assert isinstance(DataStoreRegistry.get("bronze"), DataStore)
    assert DataStoreRegistry.get("bronze").location == str(tmp_path / "bronze")
    DataAccessObject({"bronze": {"interface": "files", "default_configs": {"path": str(tmp_path / "b2")}}})
    assert DataStoreRegistry.get("bronze").location == str(tmp_path / "b2")
    assert DataStoreRegistry.get("silver").location == str(tmp_path / "silver")


# --------------------------------------------------------------------------- fingerprint
def test_fingerprint_is_stable_for_the_same_content(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", FULL_YAML)
    first, second = Catalog.load(path), Catalog.load(path)
    assert first.fingerprint == second.fingerprint
    assert re.fullmatch(r"[0-9a-f]{10}", first.fingerprint), first.fingerprint
    assert first.fingerprint != Catalog.load(seed_config()).fingerprint  # it depends on the content
    assert Catalog.load(seed_config()).fingerprint == Catalog.load(seed_config()).fingerprint


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.replace("keys: [id]", "keys: [id, name]"),
        lambda t: t.replace("order_by: updated_at", "order_by: name"),
        lambda t: t.replace("row_group_size: 1000", "row_group_size: 2000"),
        lambda t: t.replace("path: data/silver", "path: data/silver2"),
        lambda t: t.replace("gold.users_agg: {}", "gold.users_agg: {}\n  gold.sales: {}"),
        lambda t: t.replace("description: one row per user", "description: another"),
        lambda t: (
            t.replace("interface: files\n    path: data/bronze", "interface: delta\n    path: data/bronze")
            .replace("format: csv", "format: delta")
            .replace("format: json", "format: delta")
        ),
    ],
)
def test_fingerprint_changes_with_content(tmp_path: Path, change) -> None:
    base = Catalog.load(write(tmp_path, "a.yaml", FULL_YAML))
    changed_text = change(FULL_YAML)
    assert changed_text != FULL_YAML
    changed = Catalog.load(write(tmp_path, "b.yaml", changed_text))
    assert changed.fingerprint != base.fingerprint


def test_fingerprint_changes_with_a_secret() -> None:
    config = seed_config()
    before = Catalog.load(config).fingerprint
    config["gold"]["default_configs"]["password"] = "another"
    assert Catalog.load(config).fingerprint != before


def test_fingerprint_changes_with_a_secret_object_option(tmp_path: Path) -> None:
    def fp(token: str) -> str:
        return Catalog.load(
            {"stores": {"s": {"interface": "my_pkg.io:Custom"}}, "objects": {"s.t": {"options": {"token": token}}}}
        ).fingerprint

    assert fp("one") != fp("two")


# --------------------------------------------------------------------------- errors module
def test_error_hierarchy_and_helpers() -> None:
    assert issubclass(CatalogError, DaoError) and issubclass(CatalogError, ValueError)
    assert issubclass(ObjectNotFound, LookupError)
    assert issubclass(BackendNotInstalled, ImportError)
    assert close_matches("fils", ["files", "objects", "delta"]) == ["files"]
    assert did_you_mean("partiton_by", ["partition_by", "keys"]) == " Did you mean 'partition_by'?"
    assert did_you_mean("zzz", ["files"]) == ""
    assert require("json", "x") is json
    with pytest.raises(BackendNotInstalled) as info:
        require("no_such_module_for_dao", "delta")
    assert "pip install 'spark-dao[delta]'" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)
