"""Catalog validation that protects users: secrets in parse errors, typed store settings, object options.

Issue 7 findings 1-3: a YAML/JSON syntax error never carries a secret anywhere in its exception
chain; store settings are type-checked at load; object ``options`` apply to reads, writes and upserts
(call options win) and are validated at load, before any I/O.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spark_dao import Catalog, CatalogError, DaoError, DataAccessObject
from spark_dao.catalog.builtins import BUILTINS

SECRET = "hunter2-Sup3rS3cret"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [e.__cause__, e.__context__]
    return seen


def everything_said(exc: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    """All text a user, a log or a debugger could see: messages, reprs, attributes, tracebacks, logs."""
    parts = ["".join(traceback.format_exception(exc))]
    for e in chain(exc):
        parts += [str(e), repr(e), repr(e.args), repr(getattr(e, "__dict__", {}))]
        for attr in ("doc", "object", "problem_mark", "context_mark", "note"):
            value = getattr(e, attr, None)
            if value is not None:
                parts.append(repr(value) + repr(getattr(value, "buffer", "")))
    with caplog.at_level(logging.ERROR, logger="test.catalog"):
        try:
            raise exc
        except CatalogError:
            logging.getLogger("test.catalog").exception("loading the catalog failed")
    parts.append(caplog.text)
    return "\n".join(parts)


# --------------------------------------------------------------------------- finding 1: parse errors
YAML_BROKEN = [
    # a mapping value where none is allowed, on the secret's own line
    (f"s:\n  interface: files\n  default_configs:\n    secret_key: {SECRET}: oops\n", 4),
    # an unterminated quoted secret
    (f's:\n  interface: files\n  default_configs:\n    secret_key: "{SECRET}\n', 4),
    # a bad indent right after the secret
    (f"s:\n  interface: files\n  default_configs:\n    password: {SECRET}\n   path: [x\n", 5),
    # a tab and a secret in a flow mapping
    (f"s: {{interface: files, token: {SECRET}, path: [x}}\n", 1),
    # an unknown tag on the secret
    (f"s:\n  interface: files\n  session_token: !vault {SECRET}\n", 3),
]


@pytest.mark.parametrize(("text", "line"), YAML_BROKEN)
def test_yaml_syntax_error_chain_carries_no_secret(tmp_path: Path, caplog, text: str, line: int) -> None:
    path = write(tmp_path, "catalog.yaml", text)
    with pytest.raises(CatalogError) as info:
        Catalog.load(path)
    exc = info.value
    message = str(exc)
    assert str(path) in message and "cannot parse catalog" in message and f"line {line}" in message
    assert exc.__cause__ is None and exc.__context__ is None  # nothing chained that could quote the line
    assert SECRET not in everything_said(exc, caplog)


@pytest.mark.parametrize("tag", ["!!int", "!!float", "!!bool", "!!binary", "!!timestamp"])
def test_yaml_tag_conversion_error_does_not_quote_the_value(tmp_path: Path, caplog, tag: str) -> None:
    # before: the converter's ValueError/KeyError text (which quotes the value) became the message
    path = write(tmp_path, "catalog.yaml", f"s:\n  interface: files\n  password: {tag} {SECRET}\n")
    with pytest.raises(CatalogError) as info:
        Catalog.load(path)
    assert str(path) in str(info.value) and "cannot parse catalog" in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None
    said = everything_said(info.value, caplog)
    assert SECRET not in said and SECRET.lower() not in said and "hunter2" not in said


def test_yaml_syntax_error_gives_a_redacted_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog.yaml", YAML_BROKEN[0][0])
    message = str(pytest.raises(CatalogError, Catalog.load, path).value)
    assert "line 4, column" in message
    assert "'secret_key'" in message and "value not shown" in message


@pytest.mark.parametrize(
    "text",
    [
        '{"s": {"interface": "files", "secret_key": "@S@",}}',
        '{"s": {"interface": "files", "secret_key": "@S@" "path": "x"}}',
        '{"s": {"interface": "files", "secret_key": "@S@',
    ],
)
def test_json_syntax_error_chain_carries_no_secret(tmp_path: Path, caplog, text: str) -> None:
    path = write(tmp_path, "catalog.json", text.replace("@S@", SECRET))
    with pytest.raises(CatalogError) as info:
        Catalog.load(path)
    exc = info.value
    assert str(path) in str(exc) and "line 1, column" in str(exc)
    assert exc.__cause__ is None and exc.__context__ is None  # JSONDecodeError.doc holds the whole file
    assert SECRET not in everything_said(exc, caplog)


def test_non_utf8_file_error_carries_no_secret(tmp_path: Path, caplog) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_bytes(f"s:\n  interface: files\n  secret_key: {SECRET}\xff\n".encode("latin-1"))
    with pytest.raises(CatalogError) as info:
        Catalog.load(path)
    assert "not UTF-8" in str(info.value) and str(path) in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert SECRET not in everything_said(info.value, caplog)


def test_duplicate_and_env_and_type_errors_carry_no_secret(tmp_path: Path, caplog, monkeypatch) -> None:
    monkeypatch.setenv("DAO_T_SECRET", SECRET)
    monkeypatch.delenv("DAO_T_UNSET", raising=False)
    broken = [
        write(tmp_path, "dup.yaml", f"s:\n  interface: files\n  secret_key: {SECRET}\n  secret_key: {SECRET}\n"),
        {"s": {"interface": "files", "secret_key": SECRET, "region": "${env:DAO_T_UNSET}"}},
        {"s": {"interface": "files", "secret_key": [SECRET]}},  # wrong type: the value is not echoed
        {"s": {"interface": "files", "access_key": {"k": SECRET}}},
        {"s": {"interface": "files", "session_token": 5, "password_x": SECRET}},
        {"s": {"interface": "redshift", "password": ["${env:DAO_T_SECRET}"]}},
        {"stores": {"s": {"interface": "files", "path": "/x"}}, "objects": {"s.t": {"options": {"token": SECRET}}}},
        {"stores": {"s": {"interface": "files", "path": "/x"}},
         "objects": {"s.t": {"options": {"aws_secret_access_key": SECRET}}}},
    ]
    for source in broken:
        with pytest.raises(CatalogError) as info:
            Catalog.load(source)
        assert SECRET not in everything_said(info.value, caplog), source


# --------------------------------------------------------------------------- finding 2: store setting types
@pytest.mark.parametrize(
    ("interface", "key", "value", "expected"),
    [
        ("files", "max_attempts", "many", "a positive integer"),
        ("files", "max_attempts", 0, "a positive integer"),
        ("files", "max_attempts", True, "a positive integer"),
        ("files", "connect_timeout", "x", "a positive number of seconds"),
        ("files", "request_timeout", -1, "a positive number of seconds"),
        ("files", "path_style", "maybe", "true or false"),
        ("files", "s3_commit", "bogus", "one of: multipart, copy"),
        ("files", "region", 5, "a string"),
        ("files", "endpoint_url", ["http://x"], "an http:// or https:// URL with a host"),
        ("files", "endpoint_url", "ftp://x", "an http:// or https:// URL with a host"),
        ("files", "bucket", {"a": 1}, "a string"),
        ("files", "header", "maybe", "true or false"),
        ("files", "max_rows_per_file", "lots", "a non-negative integer"),
        ("files", "compression", "zstdd", "one of:"),
        ("files", "delimiter", ";;", "a single character"),
        ("files", "max_concurrency", "lots", "a positive integer"),
        ("objects", "multipart_threshold", "big", "a size"),
        ("objects", "max_concurrency", 0, "a positive integer"),
        ("files", "storage_options", "x", "a mapping"),
        ("redshift", "port", "x", "a port number"),
        ("redshift", "port", 70000, "a port number"),
        ("redshift", "ssl", "maybe", "true or false"),
        ("redshift", "host", 5, "a string"),
    ],
)
def test_store_settings_are_type_checked_at_load(
    tmp_path: Path, interface: str, key: str, value: Any, expected: str
) -> None:
    text = json.dumps({"stores": {"s": {"interface": interface, "default_configs": {key: value}}}})
    path = write(tmp_path, "catalog.json", text)
    with pytest.raises(CatalogError) as info:
        Catalog.load(path)
    message = str(info.value)
    assert str(path) in message
    assert f"stores.s.default_configs.{key}:" in message
    assert f"expected {expected}" in message
    assert f"e.g. {key}:" in message  # the fix


def test_store_settings_from_env_strings_are_coerced(monkeypatch) -> None:
    monkeypatch.setenv("DAO_T_ATTEMPTS", "7")
    monkeypatch.setenv("DAO_T_STYLE", "True")
    store = Catalog.load(
        {
            "stores": {
                "s": {
                    "interface": "objects",
                    "bucket": "b",
                    "max_attempts": "${env:DAO_T_ATTEMPTS}",
                    "connect_timeout": "2.5",
                    "request_timeout": 30,
                    "path_style": "${env:DAO_T_STYLE}",
                    "s3_commit": "COPY",
                    "multipart_threshold": "8MB",
                    "max_concurrency": "4",
                }
            }
        }
    ).store("s")
    assert store.configs["max_attempts"] == 7
    assert store.configs["connect_timeout"] == 2.5
    assert store.configs["request_timeout"] == 30.0 and isinstance(store.configs["request_timeout"], float)
    assert store.configs["path_style"] is True
    assert store.configs["s3_commit"] == "copy"
    assert store.configs["multipart_threshold"] == 8 * 1024 * 1024
    assert store.configs["max_concurrency"] == 4
    red = Catalog.load({"r": {"interface": "redshift", "default_configs": {"port": "5439", "ssl": "false"}}})
    assert red.store("r").configs == {"port": 5439, "ssl": False}


def test_a_bad_store_setting_fails_at_load_not_at_first_read(tmp_path: Path) -> None:
    # before: the catalog loaded and the first S3 read died on int("many") with a bare ValueError
    config = {"stores": {"s": {"interface": "files", "bucket": "b", "max_attempts": "many"}}}
    with pytest.raises(CatalogError, match=r"stores\.s\.max_attempts: expected a positive integer"):
        DataAccessObject(config)


def _keys_read_by_backends() -> set[str]:
    root = Path(__file__).resolve().parents[1] / "spark_dao" / "interfaces"
    keys: set[str] = set()
    pattern = re.compile(r"""(?:configs|cfg)(?:\.get\(|\[)\s*["']([a-z0-9_]+)["']""")
    for source in [*root.glob("*.py"), *(root.parent / "engines").glob("*.py")]:  # engines: delta_native
        keys |= set(pattern.findall(source.read_text()))
    for name in ("_S3_KEYS", "_CLIENT_KEYS"):
        for source in root.glob("*.py"):
            match = re.search(rf"^{name} = \(([^)]*)\)", source.read_text(), re.M | re.S)
            if match:
                keys |= set(re.findall(r'"([a-z0-9_]+)"', match.group(1)))
    return keys - {"max_pool"}  # an internal client setting, not a catalog key


def test_every_setting_a_backend_reads_is_declared_and_typed() -> None:
    from spark_dao.catalog.settings import SETTING_TYPES

    read = _keys_read_by_backends()
    assert {"max_attempts", "multipart_threshold", "s3_commit", "path_style"} <= read  # the scan works
    assert "engine_path" in read  # engines are scanned too
    declared = (BUILTINS["files"].config_keys | BUILTINS["objects"].config_keys | BUILTINS["delta"].config_keys
                | BUILTINS["redshift"].config_keys)
    assert read <= declared, sorted(read - declared)
    for builtin in BUILTINS.values():
        assert builtin.config_keys <= set(SETTING_TYPES), (builtin.name, sorted(builtin.config_keys - set(SETTING_TYPES)))


# --------------------------------------------------------------------------- finding 3: object options
@pytest.fixture
def semicolon_csv(tmp_path: Path) -> Path:
    folder = tmp_path / "bronze" / "users_raw"
    folder.mkdir(parents=True)
    (folder / "part-0.csv").write_text("id;name;score\n1;ann;1.5\n2;bob;2.5\n", encoding="utf-8")
    return folder


def options_catalog(tmp_path: Path, *, raw: dict | None = None, silver: dict | None = None,
                    store_options: dict | None = None) -> Path:
    silver_store: dict[str, Any] = {"interface": "files", "path": "silver", "format": "parquet"}
    if store_options:
        silver_store["options"] = store_options
    catalog = {
        "stores": {"bronze": {"interface": "files", "path": "bronze", "format": "csv"}, "silver": silver_store},
        "objects": {
            "bronze.users_raw": {"options": raw if raw is not None else {"delimiter": ";"}},
            "silver.users": {"options": silver if silver is not None else {"compression": "zstd"}},
        },
    }
    return write(tmp_path, "catalog.json", json.dumps(catalog))


TABLE = pa.table({"id": pa.array(range(10), pa.int64()), "name": [f"n{i}" for i in range(10)]})


def parquet_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.parquet") if not any(s.startswith(("_", ".")) for s in p.parts[-2:]))


def codecs(folder: Path) -> set[str]:
    return {pq.ParquetFile(p).metadata.row_group(0).column(0).compression for p in parquet_files(folder)}


def test_catalog_read_options_apply_pandas(tmp_path: Path, semicolon_csv: Path) -> None:
    dao = DataAccessObject(options_catalog(tmp_path))
    df = dao.read("bronze.users_raw", engine="pandas")
    assert list(df.columns) == ["id", "name", "score"]
    assert df["id"].tolist() == [1, 2] and df["name"].tolist() == ["ann", "bob"] and df["score"].tolist() == [1.5, 2.5]
    # a call option overrides the catalog's
    one_column = dao.read("bronze.users_raw", engine="pandas", options={"sep": ","})
    assert list(one_column.columns) == ["id;name;score"]
    assert dao.read("bronze.users_raw", engine="pandas", options={"delimiter": ","}).shape == (2, 1)


def test_catalog_write_options_apply_pandas(tmp_path: Path) -> None:
    dao = DataAccessObject(options_catalog(tmp_path))
    dao.write(TABLE, "silver.users", mode="overwrite", engine="pandas")
    target = tmp_path / "silver" / "users"
    assert codecs(target) == {"ZSTD"}
    dao.write(TABLE, "silver.users", mode="overwrite", engine="pandas", options={"compression": "gzip"})
    assert codecs(target) == {"GZIP"}  # the call option wins
    assert dao.read("silver.users", engine="arrow").sort_by("id").equals(TABLE)


def test_catalog_write_options_shape_files(tmp_path: Path) -> None:
    dao = DataAccessObject(options_catalog(tmp_path, silver={"max_rows_per_file": 4, "row_group_size": 2}))
    dao.write(TABLE, "silver.users", mode="overwrite", engine="pandas")
    files = parquet_files(tmp_path / "silver" / "users")
    assert [pq.ParquetFile(p).metadata.num_rows for p in files] == [4, 4, 2]
    assert [pq.ParquetFile(p).metadata.num_row_groups for p in files] == [2, 2, 1]
    assert codecs(tmp_path / "silver" / "users") == {"SNAPPY"}
    dao.write(TABLE, "silver.users", mode="overwrite", engine="pandas", options={"maxRecordsPerFile": 5})
    assert [pq.ParquetFile(p).metadata.num_rows for p in parquet_files(tmp_path / "silver" / "users")] == [5, 5]


def test_store_options_and_store_level_option_keys_apply(tmp_path: Path, semicolon_csv: Path) -> None:
    catalog = {
        "stores": {
            "bronze": {"interface": "files", "path": "bronze", "format": "csv", "delimiter": ";"},
            "silver": {"interface": "files", "path": "silver", "options": {"compression": "zstd"}},
            "gold": {"interface": "files", "path": "gold", "compression": "gzip"},
        }
    }
    dao = DataAccessObject(write(tmp_path, "c.json", json.dumps(catalog)))
    assert dao.read("bronze.users_raw", engine="pandas")["name"].tolist() == ["ann", "bob"]  # undeclared object
    dao.write(TABLE, "silver.anything", mode="overwrite", engine="pandas")
    dao.write(TABLE, "gold.anything", mode="overwrite", engine="pandas")
    assert codecs(tmp_path / "silver" / "anything") == {"ZSTD"}
    assert codecs(tmp_path / "gold" / "anything") == {"GZIP"}


def test_catalog_options_apply_to_upserts(tmp_path: Path) -> None:
    catalog = json.loads(options_catalog(tmp_path).read_text())
    catalog["objects"]["silver.users"]["keys"] = ["id"]
    catalog["objects"]["bronze.csv_users"] = {"keys": ["id"], "options": {"delimiter": ";"}}
    dao = DataAccessObject(write(tmp_path, "c2.json", json.dumps(catalog)))
    dao.write(TABLE, "silver.users", mode="overwrite", engine="pandas", options={"compression": "snappy"})
    result = dao.upsert(pa.table({"id": pa.array([3, 42], pa.int64()), "name": ["x", "y"]}), "silver.users",
                        engine="pandas")
    assert (result.rows_updated, result.rows_inserted) == (1, 1)
    assert codecs(tmp_path / "silver" / "users") == {"ZSTD"}  # rewritten and new files follow the catalog
    back = dao.read("silver.users", engine="arrow").sort_by("id")
    assert back["id"].to_pylist() == [*range(10), 42] and back["name"].to_pylist()[3] == "x"
    # csv upsert: the catalog delimiter is used to read the stored rows and to write them back
    dao.write(TABLE.slice(0, 3), "bronze.csv_users", mode="overwrite", engine="pandas")
    text = "".join(p.read_text() for p in sorted((tmp_path / "bronze" / "csv_users").rglob("*.csv")))
    assert '"id";"name"' in text or "id;name" in text
    dao.upsert(pa.table({"id": pa.array([1], pa.int64()), "name": ["z"]}), "bronze.csv_users", engine="pandas")
    again = dao.read("bronze.csv_users", engine="arrow").sort_by("id")
    assert again.column_names == ["id", "name"] and again["name"].to_pylist() == ["n0", "z", "n2"]


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"compresion": "zstd"}, "unknown option 'compresion' for object 'silver.users'. Did you mean 'compression'?"),
        ({"delimter": ";"}, "unknown option 'delimter' for object 'silver.users'. Did you mean 'delimiter'?"),
        ({"row_group_size": "many"}, "row_group_size: expected a positive integer"),
        ({"compression": "zstdd"}, "compression: expected one of:"),
        ({"header": "maybe"}, "header: expected true or false"),
        ({"mode": "overwrite"}, "the write mode is chosen per call"),
        ({"format": "csv"}, "use the object's 'format' key"),
        ({"keys": "id"}, "unknown option 'keys'"),
    ],
)
def test_bad_catalog_options_fail_at_load_and_nothing_is_written(
    tmp_path: Path, options: dict, fragment: str
) -> None:
    path = options_catalog(tmp_path, silver=options)
    with pytest.raises(CatalogError) as info:
        DataAccessObject(path)
    message = str(info.value)
    assert str(path) in message and f"objects.silver.users.options.{next(iter(options))}" in message
    assert fragment in message, message
    assert not (tmp_path / "silver").exists()


def test_bad_store_options_fail_at_load(tmp_path: Path) -> None:
    path = options_catalog(tmp_path, store_options={"compresion": "zstd"})
    message = str(pytest.raises(CatalogError, Catalog.load, path).value)
    assert "stores.silver.options.compresion" in message and "Did you mean 'compression'?" in message


def test_bad_call_option_values_name_the_option(tmp_path: Path) -> None:
    dao = DataAccessObject(options_catalog(tmp_path))
    with pytest.raises(DaoError, match=r"writing 'silver.users'.*option row_group_size='x' is not valid: "
                                       r"expected a positive integer"):
        dao.write(TABLE, "silver.users", mode="overwrite", engine="pandas", options={"row_group_size": "x"})
    with pytest.raises(DaoError, match=r"option compression='zstdd' is not valid: expected one of:.*"
                                       r"Did you mean 'zstd'\?"):
        dao.write(TABLE, "silver.users", mode="overwrite", engine="pandas", options={"compression": "zstdd"})
    assert not (tmp_path / "silver").exists()


def test_camel_case_catalog_options_apply(tmp_path: Path, semicolon_csv: Path) -> None:
    dao = DataAccessObject(options_catalog(tmp_path, raw={"Delimiter": ";", "inferSchema": "false"}))
    table = dao.read("bronze.users_raw", engine="arrow")
    assert table.column_names == ["id", "name", "score"]
    assert table.schema.types == [pa.string()] * 3 and table["id"].to_pylist() == ["1", "2"]
    assert dao.catalog.get("bronze.users_raw").options == {"delimiter": ";", "inferschema": False}


@pytest.mark.parametrize("source", [5, ["a"], 1.5, b"catalog.yaml"])
def test_a_source_that_is_no_catalog_is_a_catalog_error(source: Any) -> None:
    # before: TypeError from os.fspath
    with pytest.raises(CatalogError, match="a catalog is a path to a .yaml/.json file, a dict or a Catalog"):
        Catalog.load(source)


def test_options_of_a_custom_interface_are_not_checked(tmp_path: Path) -> None:
    catalog = Catalog.load(
        {"stores": {"s": {"interface": "my_pkg.io:Custom", "default_configs": {"anything": 1}}},
         "objects": {"s.t": {"options": {"whatever": "x"}}}}
    )
    assert catalog.get("s.t").options == {"whatever": "x"}


# --------------------------------------------------------------------------- finding 3 in Spark
def test_catalog_options_apply_in_spark(spark, tmp_path: Path, semicolon_csv: Path) -> None:
    path = options_catalog(tmp_path)
    df = spark.read.format("dao").option("catalog", str(path)).load("bronze.users_raw")
    assert df.columns == ["id", "name", "score"]
    assert sorted(tuple(r) for r in df.collect()) == [(1, "ann", 1.5), (2, "bob", 2.5)]
    override = spark.read.format("dao").option("catalog", str(path)).option("delimiter", ",").load("bronze.users_raw")
    assert override.columns == ["id;name;score"]

    sdf = spark.createDataFrame(TABLE.to_pandas())
    sdf.write.format("dao").option("catalog", str(path)).mode("overwrite").save("silver.users")
    assert codecs(tmp_path / "silver" / "users") == {"ZSTD"}
    (sdf.write.format("dao").option("catalog", str(path)).option("compression", "gzip")
        .mode("overwrite").save("silver.users"))
    assert codecs(tmp_path / "silver" / "users") == {"GZIP"}
    dao = DataAccessObject(path, spark=spark)
    dao.write(sdf, "silver.users", mode="overwrite", options={"compression": "gzip"})
    assert codecs(tmp_path / "silver" / "users") == {"GZIP"}
    # a Spark upsert rewrites the touched file with the catalog's codec
    changes = spark.createDataFrame(pa.table({"id": pa.array([3, 42], pa.int64()), "name": ["x", "y"]}).to_pandas())
    result = dao.upsert(changes, "silver.users", keys=["id"])
    assert (result.rows_updated, result.rows_inserted) == (1, 1)
    touched = [p for p in parquet_files(tmp_path / "silver" / "users")
               if {3, 42} & set(pq.read_table(p)["id"].to_pylist())]
    assert touched and {pq.ParquetFile(p).metadata.row_group(0).column(0).compression for p in touched} == {"ZSTD"}
    back = dao.read("silver.users", engine="spark").toPandas().sort_values("id")
    assert back["id"].tolist() == [*range(10), 42] and back["name"].tolist()[3] == "x"


# --------------------------------------------------------------------------- names (found by the property tests)
@pytest.mark.parametrize("name", ["s.t\n", "s.sub/t\n"])
def test_an_object_name_with_a_trailing_newline_is_invalid(tmp_path: Path, name: str) -> None:
    catalog = Catalog.load({"stores": {"s": {"interface": "files", "path": str(tmp_path)}}})
    with pytest.raises(CatalogError, match="invalid object name"):
        catalog.get(name)  # before: resolved to a folder whose name ends with a newline


def test_a_store_name_with_a_trailing_newline_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="invalid store name"):
        Catalog.load({"s\n": {"interface": "files", "path": str(tmp_path)}})


@pytest.mark.parametrize("name", [5, None, ["s"], ("s",)])
def test_looking_up_a_store_by_a_non_string_is_object_not_found(tmp_path: Path, name: Any) -> None:
    from spark_dao import ObjectNotFound

    catalog = Catalog.load({"stores": {"s": {"interface": "files", "path": str(tmp_path)}}})
    with pytest.raises(ObjectNotFound, match="unknown store"):
        catalog.store(name)  # before: TypeError
    if name is not None:  # list(None) lists every store's objects
        with pytest.raises(ObjectNotFound, match="unknown store"):
            catalog.list(name)


def test_more_secret_key_names_are_redacted() -> None:
    from spark_dao.catalog import redact

    configs = {"passwd": "a", "api_key": "b", "apikey": "c", "connection_string": "d", "sas_token": "e",
               "host": "h"}
    assert redact(configs) == {"passwd": "***", "api_key": "***", "apikey": "***", "connection_string": "***",
                               "sas_token": "***", "host": "h"}


def test_an_empty_columns_option_still_reads_every_column(tmp_path: Path, semicolon_csv: Path) -> None:
    dao = DataAccessObject(options_catalog(tmp_path))
    assert dao.read("bronze.users_raw", engine="arrow", columns=[]).column_names == ["id", "name", "score"]
    assert dao.read("bronze.users_raw", engine="arrow", columns="name").column_names == ["name"]
