"""QA findings on the public API: keyword parsing, conflicting modes, catalog checks, secrets in reprs,
option names in messages, near-miss object names."""

from __future__ import annotations

import logging
import pickle
import pprint

import pyarrow as pa
import pytest

from spark_dao import DataAccessObject
from spark_dao.catalog import Catalog
from spark_dao.errors import CatalogError, DaoError

ROWS = pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]})


@pytest.fixture
def dao(tmp_path):
    return DataAccessObject(
        {
            "stores": {"s": {"interface": "files", "path": str(tmp_path / "s")}},
            "objects": {"s.u": {"keys": ["id"]}, "s.users_clean": {"keys": ["id"]}},
        }
    )


def stored(dao, name):
    return sorted((r["id"], r["v"]) for r in dao.read(name, engine="arrow").to_pylist())


# ----------------------------------------------------------------------------- 1. keyword parsing
@pytest.mark.parametrize("value", ["false", "False", "0", "no", "off", False, 0])
def test_delete_unmatched_false_forms_keep_unmatched_rows(dao, value):
    dao.write(ROWS, "s.u", mode="overwrite", engine="pandas")
    result = dao.upsert(pa.table({"id": [2], "v": ["B"]}), "s.u", keys="id", delete_unmatched=value, engine="pandas")
    assert stored(dao, "s.u") == [(1, "a"), (2, "B"), (3, "c")]
    assert result.rows_deleted == 0


@pytest.mark.parametrize("value", ["true", "1", "yes", True, 1])
def test_delete_unmatched_true_forms_delete_unmatched_rows(dao, value):
    dao.write(ROWS, "s.u", mode="overwrite", engine="pandas")
    dao.upsert(pa.table({"id": [2], "v": ["B"]}), "s.u", keys="id", delete_unmatched=value, engine="pandas")
    assert stored(dao, "s.u") == [(2, "B")]


@pytest.mark.parametrize("how", ["keyword", "options"])
def test_delete_unmatched_garbage_is_rejected_before_writing(dao, how):
    dao.write(ROWS, "s.u", mode="overwrite", engine="pandas")
    kw = {"delete_unmatched": "maybe"} if how == "keyword" else {"options": {"delete_unmatched": "maybe"}}
    with pytest.raises(DaoError) as err:
        dao.upsert(pa.table({"id": [2], "v": ["B"]}), "s.u", keys="id", engine="pandas", **kw)
    assert type(err.value) is DaoError
    assert "delete_unmatched='maybe' is not valid" in str(err.value)
    assert "Valid: true, false" in str(err.value)
    assert stored(dao, "s.u") == [(1, "a"), (2, "b"), (3, "c")]


def test_upsert_options_are_not_overridden_by_keyword_defaults(dao):
    dao.write(ROWS, "s.u", mode="overwrite", engine="pandas")
    dao.upsert(pa.table({"id": [2], "v": ["B"]}), "s.u", engine="pandas",
               options={"keys": "id", "delete_unmatched": "true"})
    assert stored(dao, "s.u") == [(2, "B")]


def test_upsert_keyword_and_option_disagree(dao):
    with pytest.raises(DaoError) as err:
        dao.upsert(ROWS, "s.u", strategy="merge", options={"strategy": "insert_only"}, engine="pandas")
    assert type(err.value) is DaoError
    msg = str(err.value)
    assert "strategy='merge' (keyword)" in msg and "'insert_only' (options['strategy'])" in msg and "keep one" in msg


@pytest.mark.parametrize(
    ("kw", "text"),
    [
        ({"keys": 5}, "keys must be a column name or a list of column names, got int 5"),
        ({"keys": ["id", 2]}, "keys must be a column name or a list of column names, got list ['id', 2]"),
        ({"order_by": ["ts"]}, "order_by must be one column name (a string), got list ['ts']"),
        ({"strategy": False}, "strategy must be a string, got bool False"),
        ({"on_duplicates": True}, "on_duplicates must be a string, got bool True"),
        ({"on_duplicates": "keep_lastest"}, "unknown on_duplicates 'keep_lastest'. Did you mean 'keep_latest'?"),
    ],
)
def test_upsert_keyword_types(dao, kw, text):
    with pytest.raises(DaoError) as err:
        dao.upsert(ROWS, "s.u", engine="pandas", **kw)
    assert type(err.value) is DaoError
    assert text in str(err.value)


def test_read_columns_must_be_names(dao):
    dao.write(ROWS, "s.u", mode="overwrite", engine="pandas")
    with pytest.raises(DaoError, match=r"columns must be a column name or a list of column names, got list \[1\]"):
        dao.read("s.u", engine="arrow", columns=[1])


# ----------------------------------------------------------------------------- 2. endpoint_url
@pytest.mark.parametrize("value", ["ftp://x", "localhost:9000", "http://", "s3://bucket"])
def test_endpoint_url_must_be_http_with_host(tmp_path, value):
    cfg = tmp_path / "catalog.yaml"
    cfg.write_text(f"stores:\n  lake:\n    interface: files\n    bucket: b\n    endpoint_url: \"{value}\"\n")
    with pytest.raises(CatalogError) as err:
        Catalog.load(str(cfg))
    msg = str(err.value)
    assert msg.startswith(f"{cfg}: stores.lake.endpoint_url: ")
    assert "an http:// or https:// URL with a host" in msg
    assert "Write e.g. endpoint_url: http://localhost:9000" in msg


def test_endpoint_url_from_env_is_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_ENDPOINT", "ftp://x")
    cfg = tmp_path / "catalog.yaml"
    cfg.write_text("stores:\n  lake:\n    interface: files\n    bucket: b\n"
                   "    default_configs:\n      endpoint_url: ${env:QA_ENDPOINT}\n")
    with pytest.raises(CatalogError) as err:
        Catalog.load(str(cfg))
    assert str(err.value).startswith(f"{cfg}: stores.lake.default_configs.endpoint_url: ")
    assert "'ftp://x'" in str(err.value)


@pytest.mark.parametrize("value", ["http://localhost:9000", "https://s3.eu-west-1.amazonaws.com", "HTTP://127.0.0.1:1/x", ""])
def test_valid_endpoint_urls_load(value):
    cat = Catalog.load({"stores": {"lake": {"interface": "files", "bucket": "b", "endpoint_url": value}}})
    assert cat.store("lake").configs["endpoint_url"] == value


# ----------------------------------------------------------------------------- 3. secrets in configs
SECRETS = {"access_key": "AKIAQA1", "secret_key": "SECRETQA2", "session_token": "TOKENQA3"}


@pytest.fixture
def s3_dao():
    return DataAccessObject({"stores": {"lake": {"interface": "files", "bucket": "b", "region": "eu-west-1", **SECRETS}}})


def _no_secrets(text):
    assert not any(s in text for s in SECRETS.values()), text
    assert "***" in text


def test_configs_repr_masks_secrets(s3_dao):
    configs = s3_dao.resolve("lake.t").store.configs
    for text in (repr(configs), str(configs), f"{configs}", f"{configs!r}", pprint.pformat(configs),
                 pprint.pformat({"c": configs}), repr([configs])):
        _no_secrets(text)
    assert "eu-west-1" in repr(configs)


def test_configs_values_stay_readable(s3_dao):
    store = s3_dao.resolve("lake.t").store
    configs = store.configs
    assert configs["secret_key"] == "SECRETQA2"
    assert configs.get("access_key") == "AKIAQA1"
    assert dict(configs)["session_token"] == "TOKENQA3"
    assert configs == {"bucket": "b", "region": "eu-west-1", **SECRETS}
    back = pickle.loads(pickle.dumps(store))
    assert back == store and back.configs["secret_key"] == "SECRETQA2"
    _no_secrets(repr(back.configs))
    plain = pickle.loads(pickle.dumps(configs))
    assert plain == configs
    _no_secrets(repr(plain))


def test_store_object_dao_reprs_mask(s3_dao):
    obj = s3_dao.resolve("lake.t")
    for text in (repr(obj.store), str(obj.store), repr(obj), repr(s3_dao), pprint.pformat(obj)):
        assert not any(s in text for s in SECRETS.values()), text


# ----------------------------------------------------------------------------- 4. conflicting modes
@pytest.mark.parametrize(
    ("kw", "text"),
    [
        ({"mode": "append", "options": {"mode": "overwrite"}}, "mode='append' (keyword) and 'overwrite' (options['mode'])"),
        ({"mode": "append", "spark_options": {"mode": "overwrite"}},
         "mode='append' (keyword) and 'overwrite' (spark_options['mode'])"),
        ({"options": {"mode": "append"}, "spark_options": {"mode": "overwrite"}},
         "'append' (options['mode']) and 'overwrite' (spark_options['mode'])"),
        ({"options": {"Mode": "append"}, "spark_options": {"MODE": "overwrite"}},
         "'append' (options['Mode']) and 'overwrite' (spark_options['MODE'])"),
    ],
)
def test_two_different_modes_are_an_error(dao, kw, text):
    with pytest.raises(DaoError) as err:
        dao.write(ROWS, "s.t1", engine="pandas", **kw)
    assert type(err.value) is DaoError
    assert text in str(err.value) and "keep one" in str(err.value)
    assert not dao.exists("s.t1")


def test_same_mode_twice_is_fine(dao):
    result = dao.write(ROWS, "s.t1", mode="overwrite", options={"mode": "overwrite"}, engine="pandas")
    assert result.mode == "overwrite"
    result = dao.write(ROWS, "s.t1", mode="append", spark_options={"mode": "APPEND"}, engine="pandas")
    assert result.mode == "append"
    assert len(stored(dao, "s.t1")) == 6


def test_upsert_with_other_mode_option_is_an_error(dao):
    with pytest.raises(DaoError, match=r"an upsert runs as mode 'append'.*not 'overwrite' \(options\['mode'\]\)"):
        dao.upsert(ROWS, "s.u", options={"mode": "overwrite"}, engine="pandas")


# ----------------------------------------------------------------------------- 5. option names as written
def test_catalog_option_error_keeps_the_spelling(tmp_path):
    cfg = tmp_path / "catalog.yaml"
    cfg.write_text(f"stores:\n  s:\n    interface: files\n    path: {tmp_path}\n"
                   "objects:\n  s.o:\n    options:\n      inferSchema: maybe\n")
    with pytest.raises(CatalogError) as err:
        Catalog.load(str(cfg))
    msg = str(err.value)
    assert msg.startswith(f"{cfg}: objects.s.o.options.inferSchema: expected true or false, got 'maybe'.")
    assert msg.endswith("Write e.g. inferSchema: false")
    assert "inferschema" not in msg


def test_option_error_uses_documented_spelling_for_lowercased_keys(dao):
    # Spark lower-cases option names before the source sees them; dao.write does the same
    with pytest.raises(DaoError) as err:
        dao.write(ROWS, "s.t1", mode="overwrite", engine="pandas", options={"partitionOverwriteMode": "dynamc"})
    msg = str(err.value)
    assert "option partitionOverwriteMode='dynamc' is not valid" in msg
    assert "Write e.g. partitionOverwriteMode: dynamic" in msg
    assert "partitionoverwritemode" not in msg
    with pytest.raises(DaoError) as err:
        dao.read("s.u", engine="arrow", options={"inferschema": "maybe"})
    assert "option inferSchema='maybe' is not valid" in str(err.value)


def test_spark_option_error_uses_documented_spelling(dao, spark):
    df = spark.createDataFrame([(1, "a")], "id long, v string")
    # the data source itself: Spark lower-cases the option name, wraps the DaoError in its own error
    with pytest.raises(Exception) as err:  # noqa: PT011 - pyspark's AnalysisException
        df.write.format(dao._format_name(spark)).mode("overwrite").option("partitionOverwriteMode", "dynamc").save("s.t1")
    assert "spark_dao.errors.DaoError: writing 's.t1' (store 's'): option partitionOverwriteMode='dynamc' is not valid" in str(err.value)
    assert "partitionoverwritemode" not in str(err.value)
    with pytest.raises(DaoError) as err:
        dao.write(df, "s.t1", mode="overwrite", spark_options={"compression": "zstdd"})
    assert type(err.value) is DaoError
    assert "option compression='zstdd' is not valid" in str(err.value)


# ----------------------------------------------------------------------------- 6. near-miss names
def test_write_to_near_miss_name_warns_once(dao, caplog):
    caplog.set_level(logging.WARNING, logger="spark_dao")
    dao.write(ROWS, "s.users_clan", mode="overwrite", engine="pandas")
    dao.write(ROWS, "s.users_clan", mode="append", engine="pandas")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "users_clan" in r.getMessage()]
    assert len(warnings) == 1
    assert "'s.users_clan' is not declared in the catalog; did you mean 's.users_clean'?" in warnings[0].getMessage()
    assert len(stored(dao, "s.users_clan")) == 6  # resolution by design: the write went through


def test_declared_and_far_names_do_not_warn(dao, caplog):
    caplog.set_level(logging.WARNING, logger="spark_dao")
    dao.write(ROWS, "s.users_clean", mode="overwrite", engine="pandas")
    dao.write(ROWS, "s.totally_other", mode="overwrite", engine="pandas")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_no_keys_upsert_error_hints_the_near_name(dao):
    with pytest.raises(DaoError) as err:
        dao.upsert(ROWS, "s.users_clan", engine="pandas")
    msg = str(err.value)
    assert "no keys" in msg and "did you mean 's.users_clean'?" in msg
