"""The ``spark-dao`` command, run in-process (``main([...])`` with capsys) on catalogs in tmp_path:
local folders for files and raw objects, and Delta tables (deltalake, no Spark). Each command's
text and ``--json`` output, the data it wrote, and every error a user can meet (one line on stderr,
exit 1; bad arguments exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from spark_dao import CatalogError, DataAccessObject
from spark_dao.catalog import Catalog
from spark_dao.cli import _output, main
from spark_dao.interfaces import _objects_backend

USERS = pa.table({"id": pa.array([1, 2, 3, 4], pa.int64()), "email": ["a@x.de", "b@x.fr", "c@x.de", None],
                  "country": ["DE", "FR", "DE", "IT"], "age": pa.array([31, 17, 45, 22], pa.int64())})


def catalog_dict(root: Path) -> dict:
    return {
        "stores": {
            "bronze": {"interface": "objects", "path": str(root / "bronze")},
            "silver": {"interface": "files", "path": str(root / "silver"), "format": "parquet"},
            "lake": {"interface": "delta", "path": str(root / "lake")},
        },
        "objects": {
            "bronze.users_raw": {},
            "silver.users_clean": {"keys": ["id"], "partition_by": ["country"]},
            "silver.empty": {"schema": {"id": "long"}},
            "lake.users": {"keys": ["id"]},
        },
    }


@pytest.fixture
def cat(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog_dict(tmp_path)))
    DataAccessObject(str(path)).write(USERS, "silver.users_clean", mode="overwrite", engine="pandas")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    code, out, err = run(capsys, *argv, "--json")
    assert (code, err) == (0, "")
    return json.loads(out)


def rows(dao: DataAccessObject, name: str) -> list[dict]:
    return sorted(dao.read(name, engine="arrow").to_pylist(), key=lambda r: r["id"])


# ---------------------------------------------------------------------------- basics
def test_version_and_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == "spark-dao 0.1.0\n"
    for argv in (["frobnicate"], [], ["preview"], ["copy", "a.b", "c.d", "--mode", "sometimes"],
                 ["preview", "silver.users_clean", "-n", "-3"], ["catalog"],
                 ["cleanup", "silver.events", "--older-than", "-5"], ["cleanup", "silver.events", "--older-than", "nan"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2, argv
        assert "usage: spark-dao" in capsys.readouterr().err


def test_the_catalog_from_the_environment_and_none_at_all(cat: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SPARK_DAO_CATALOG", str(cat))
    assert run(capsys, "list", "lake") == (0, "lake.users  declared\n", "")
    code, out, _ = run(capsys, "catalog", "validate")
    assert code == 0 and out == f"{cat}: valid (3 store(s), 4 object(s))\n"
    monkeypatch.delenv("SPARK_DAO_CATALOG")
    code, out, err = run(capsys, "list")
    assert (code, out) == (1, "")
    assert err.startswith("spark-dao list: no catalog given:") and "SPARK_DAO_CATALOG=path/to/catalog.yaml" in err
    assert err.count("\n") == 1


def test_json_goes_before_or_after_the_command(cat: Path, capsys) -> None:
    after = run_json(capsys, "list", "silver", "--catalog", str(cat))
    code, out, _ = run(capsys, "--json", "--catalog", str(cat), "list", "silver")
    assert code == 0 and json.loads(out) == after == [
        {"name": "silver.empty", "store": "silver", "declared": True},
        {"name": "silver.users_clean", "store": "silver", "declared": True},
    ]


# ---------------------------------------------------------------------------- catalog validate
def test_validate_lists_every_error_of_a_bad_catalog(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("DAO_TEST_BUCKET", raising=False)
    bad = {
        "stores": {
            "silver": {"interface": "files", "path": str(tmp_path), "formatt": "parquet"},
            "gold": {"interface": "filez", "path": str(tmp_path)},
            "raw": {"interface": "files", "bucket": "${env:DAO_TEST_BUCKET}"},
            "ok": {"interface": "files", "path": str(tmp_path / "ok")},
        },
        "objects": {"ok.users": {"partition_by": "country", "keyz": ["id"]}, "slver.events": {},
                    "silver.users": {}},  # in a store with an error: not reported twice
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    code, out, err = run(capsys, "catalog", "validate", "--catalog", str(path))
    lines = err.splitlines()
    assert (code, out) == (1, "") and len(lines) == 6
    assert all(line.startswith("spark-dao catalog validate: ") for line in lines)
    assert "environment variable 'DAO_TEST_BUCKET' is not set" in lines[0]
    assert "stores.silver.formatt: unknown key 'formatt'" in lines[1] and "Did you mean 'format'" in lines[1]
    assert "stores.gold" in lines[2] and "'filez'" in lines[2]
    assert "objects.ok.users" in lines[3] and "'keyz'" in lines[3]
    assert "object 'slver.events' names unknown store 'slver'" in lines[4] and "Did you mean 'silver'" in lines[4]
    assert lines[5] == f"spark-dao catalog validate: 5 error(s) in {path}"
    # loading stops at the first error, with the same message as before
    with pytest.raises(CatalogError) as first:
        Catalog.load(str(path))
    assert str(first.value) == lines[0].removeprefix("spark-dao catalog validate: ")

    code, out, err = run(capsys, "catalog", "validate", "--catalog", str(path), "--json")
    report = json.loads(out)
    assert code == 1 and report["valid"] is False and len(report["errors"]) == 5
    assert report["stores"] == ["ok", "raw"] and report["objects"] == []  # what parsed


def test_validate_an_unreadable_catalog(tmp_path: Path, capsys) -> None:
    code, out, err = run(capsys, "catalog", "validate", "--catalog", str(tmp_path / "nope.yaml"))
    assert (code, out) == (1, "")
    assert err.splitlines() == [f"spark-dao catalog validate: catalog file not found: {tmp_path / 'nope.yaml'}",
                                f"spark-dao catalog validate: 1 error(s) in {tmp_path / 'nope.yaml'}"]
    (tmp_path / "broken.yaml").write_text("stores:\n  silver: [unclosed\n")
    code, _, err = run(capsys, "catalog", "validate", "--catalog", str(tmp_path / "broken.yaml"))
    assert code == 1 and "cannot parse catalog" in err and "line" in err


# ---------------------------------------------------------------------------- list, describe
def test_list_declared_and_found_on_storage(cat: Path, capsys) -> None:
    DataAccessObject(str(cat)).write(USERS, "silver.extra", mode="overwrite", engine="pandas")
    code, out, err = run(capsys, "list", "silver", "--catalog", str(cat))
    assert (code, err) == (0, "")
    assert out.splitlines() == ["silver.empty        declared", "silver.extra        on storage only",
                                "silver.users_clean  declared"]
    code, _, err = run(capsys, "list", "silvr", "--catalog", str(cat))
    assert code == 1 and err.startswith("spark-dao list: unknown store 'silvr'") and "Did you mean 'silver'" in err


def test_describe_files_and_delta(cat: Path, capsys) -> None:
    info = run_json(capsys, "describe", "silver.users_clean", "--catalog", str(cat))
    stored = sorted((cat.parent / "silver" / "users_clean").rglob("*.parquet"))
    assert info["location"] == str(cat.parent / "silver" / "users_clean") and info["format"] == "parquet"
    assert info["partition_by"] == ["country"] and info["keys"] == ["id"] and info["exists"] is True
    assert (info["files"], info["bytes"]) == (3, sum(p.stat().st_size for p in stored))  # DE, FR, IT
    assert [(c["name"], c["type"]) for c in info["columns"]] == [
        ("id", "int64"), ("email", "string"), ("age", "int64"), ("country", "string")]
    code, out, _ = run(capsys, "describe", "silver.users_clean", "--catalog", str(cat))
    assert code == 0 and "  partitioned by: country\n" in out and "  files:          3 (" in out
    assert "    email    string\n" in out

    dao = DataAccessObject(str(cat))
    dao.write(USERS, "lake.users", mode="overwrite", engine="pandas")
    dao.write(USERS.slice(0, 1), "lake.users", mode="append", engine="pandas")
    info = run_json(capsys, "describe", "lake.users", "--catalog", str(cat))
    assert info["version"] == 1 and info["files"] == 2 and info["interface"] == "delta"
    code, out, _ = run(capsys, "describe", "lake.users", "--catalog", str(cat))
    assert "  delta version:  1\n" in out


def test_describe_an_object_without_data(cat: Path, capsys) -> None:
    code, out, _ = run(capsys, "describe", "silver.empty", "--catalog", str(cat))
    assert code == 0 and "  data:           none yet\n" in out and "declared schema:\n    id  long" in out
    info = run_json(capsys, "describe", "silver.empty", "--catalog", str(cat))
    assert info["exists"] is False and "files" not in info and info["schema"] == {"id": "long"}


def test_unknown_object_is_one_line_with_a_hint(cat: Path, capsys) -> None:
    code, out, err = run(capsys, "describe", "slver.users_clean", "--catalog", str(cat))
    assert (code, out) == (1, "")
    assert err.startswith("spark-dao describe: unknown store 'slver'") and "Did you mean 'silver'" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    code, _, err = run(capsys, "preview", "lake.nothing", "--catalog", str(cat))
    assert code == 1 and err.startswith("spark-dao preview: ") and "lake.nothing" in err


# ---------------------------------------------------------------------------- preview, history
def test_preview_rows_columns_and_where(cat: Path, capsys) -> None:
    data = run_json(capsys, "preview", "silver.users_clean", "--catalog", str(cat), "--columns", "id,email",
                    "--where", "country = 'DE' AND age >= 18")
    assert data["columns"] == ["id", "email"]
    assert sorted(data["rows"], key=lambda r: r["id"]) == [{"id": 1, "email": "a@x.de"}, {"id": 3, "email": "c@x.de"}]
    assert len(run_json(capsys, "preview", "silver.users_clean", "-n", "2", "--catalog", str(cat))["rows"]) == 2
    code, out, _ = run(capsys, "preview", "silver.users_clean", "--catalog", str(cat), "--where", "id = 2")
    assert code == 0 and out.splitlines()[0].split() == ["id", "email", "age", "country"]
    assert out.splitlines()[1].split() == ["2", "b@x.fr", "17", "FR"] and out.endswith("(1 row(s))\n")
    code, out, _ = run(capsys, "preview", "silver.users_clean", "-n", "2", "--catalog", str(cat))
    assert code == 0 and len(out.splitlines()) == 4 and out.endswith("(2 row(s), first ones)\n")
    code, out, _ = run(capsys, "preview", "silver.users_clean", "-n", "4", "--catalog", str(cat))
    assert code == 0 and out.endswith("\n(4 row(s))\n")  # all of them
    code, out, _ = run(capsys, "preview", "silver.users_clean", "--catalog", str(cat), "--where", "id IN (7, 8)")
    assert code == 0 and out.endswith("(0 row(s))\n")


def test_preview_bad_where(cat: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:  # unreadable: a bad argument
        main(["preview", "silver.users_clean", "--catalog", str(cat), "--where", "age > 1 OR id = 2"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "argument --where: cannot read 'age > 1 OR id = 2'" in err
    code, _, err = run(capsys, "preview", "silver.users_clean", "--catalog", str(cat), "--where", "nope = 1")
    assert code == 1 and err.startswith("spark-dao preview: reading 'silver.users_clean': filter column 'nope'")
    code, _, err = run(capsys, "preview", "silver.users_clean", "--catalog", str(cat), "--columns", "id,nope")
    assert code == 1 and err.startswith("spark-dao preview: ") and "'nope'" in err


def test_history_of_a_delta_table(cat: Path, capsys) -> None:
    dao = DataAccessObject(str(cat))
    dao.write(USERS, "lake.users", mode="overwrite", engine="pandas")
    dao.upsert(USERS.slice(0, 2), "lake.users", engine="pandas")
    commits = run_json(capsys, "history", "lake.users", "--catalog", str(cat))
    assert [c["version"] for c in commits] == [1, 0] and commits[0]["operation"] == "MERGE"
    code, out, _ = run(capsys, "history", "lake.users", "--limit", "1", "--catalog", str(cat))
    assert code == 0 and len(out.splitlines()) == 1 and out.split()[0] == "1" and "MERGE" in out
    code, _, err = run(capsys, "history", "silver.users_clean", "--catalog", str(cat))
    assert code == 1 and err.startswith("spark-dao history: object 'silver.users_clean' (store 'silver'): history "
                                        "needs a table format with versions")


# ---------------------------------------------------------------------------- upload, download
def test_upload_and_download_round_trip(cat: Path, tmp_path: Path, capsys) -> None:
    src = tmp_path / "in" / "users.csv"
    src.parent.mkdir()
    src.write_bytes(b"id,email\n1,a@x.de\n")
    code, out, _ = run(capsys, "upload", str(src), "bronze.users_raw", "--path", "2025-01-07/", "--catalog", str(cat))
    stored = cat.parent / "bronze" / "users_raw" / "2025-01-07" / "users.csv"
    assert code == 0 and out == f"uploaded {stored} (18 bytes)\n" and stored.read_bytes() == src.read_bytes()
    (src.parent / "events.json").write_text('{"id": 1}\n')
    listed = run_json(capsys, "upload", str(src.parent), "bronze.users_raw", "--path", "2025-01-08/",
                      "--catalog", str(cat))
    assert sorted(i["key"] for i in listed) == ["2025-01-08/events.json", "2025-01-08/users.csv"]

    dest = tmp_path / "out"
    dest.mkdir()
    got = run_json(capsys, "download", "bronze.users_raw", "2025-01-07/users.csv", str(dest), "--catalog", str(cat))
    assert got == {"name": "bronze.users_raw", "key": "2025-01-07/users.csv", "path": str(dest / "users.csv"),
                   "size": 18}
    assert (dest / "users.csv").read_bytes() == src.read_bytes()


def test_upload_and_download_errors(cat: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "download", "bronze.users_raw", "2025-01-07/nope.csv", str(tmp_path), "--catalog", str(cat))
    assert code == 1 and err.startswith("spark-dao download: ") and "has no file '2025-01-07/nope.csv'" in err
    code, _, err = run(capsys, "upload", str(tmp_path / "missing.csv"), "bronze.users_raw", "--catalog", str(cat))
    assert (code, err) == (1, f"spark-dao upload: no such local file or folder: {tmp_path / 'missing.csv'}\n")
    (tmp_path / "x.csv").write_text("id\n1\n")
    code, _, err = run(capsys, "upload", str(tmp_path / "x.csv"), "silver.users_clean", "--catalog", str(cat))
    assert code == 1 and err.startswith("spark-dao upload: store 'silver' has no raw-objects interface")


# ---------------------------------------------------------------------------- copy
def test_copy_files_to_delta_and_back(cat: Path, capsys) -> None:
    dao = DataAccessObject(str(cat))
    result = run_json(capsys, "copy", "silver.users_clean", "lake.users", "--catalog", str(cat))
    assert (result["object"], result["mode"], result["rows_written"]) == ("lake.users", "errorifexists", 4)
    assert rows(dao, "lake.users") == rows(dao, "silver.users_clean")
    code, out, _ = run(capsys, "copy", "silver.users_clean", "lake.users", "--mode", "append", "--catalog", str(cat))
    assert code == 0 and out.startswith("lake.users: mode=append rows_written=4 ") and "(version 1)" in out
    assert len(rows(dao, "lake.users")) == 8
    code, out, _ = run(capsys, "copy", "lake.users", "silver.copy", "--mode", "overwrite", "--catalog", str(cat))
    assert code == 0 and len(rows(dao, "silver.copy")) == 8


def test_copy_into_a_mode_that_refuses(cat: Path, capsys) -> None:
    dao = DataAccessObject(str(cat))
    dao.write(USERS.slice(0, 1), "lake.users", mode="overwrite", engine="pandas")
    code, out, err = run(capsys, "copy", "silver.users_clean", "lake.users", "--catalog", str(cat))
    assert (code, out) == (1, "")
    assert err == ("spark-dao copy: copying 'silver.users_clean' into 'lake.users': 'lake.users' already has data "
                   "(store 'lake'); use mode 'append', 'overwrite' or 'ignore'\n")
    assert [r["id"] for r in rows(dao, "lake.users")] == [1]  # unchanged
    assert run_json(capsys, "copy", "silver.users_clean", "lake.users", "--mode", "ignore",
                    "--catalog", str(cat))["skipped"] is True
    code, _, err = run(capsys, "copy", "silver.users_clean", "lake.users", "--mode", "dynamic", "--catalog", str(cat))
    assert code == 1 and err.startswith("spark-dao copy: ") and "partition" in err
    assert [r["id"] for r in rows(dao, "lake.users")] == [1]
    code, _, err = run(capsys, "copy", "silver.users_clean", "silver.users_clean", "--mode", "append",
                       "--catalog", str(cat))
    assert code == 1 and err == ("spark-dao copy: copying 'silver.users_clean' into itself: name another object "
                                 "as the target\n")
    code, _, err = run(capsys, "copy", "silver.nothing", "lake.other", "--catalog", str(cat))
    assert code == 1 and err.startswith("spark-dao copy: ") and "silver.nothing" in err
    assert not (cat.parent / "lake" / "other").exists()


# ---------------------------------------------------------------------------- progress bars
def test_progress_bars_only_on_a_terminal(cat: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    code, _, err = run(capsys, "copy", "silver.users_clean", "lake.users", "--catalog", str(cat))
    assert (code, err) == (0, "")  # not a terminal: quiet
    monkeypatch.setattr(_output, "stderr_is_tty", lambda: True)
    code, _, err = run(capsys, "copy", "silver.users_clean", "lake.users", "--mode", "overwrite", "--catalog", str(cat))
    assert code == 0 and "silver.users_clean -> lake.users: " in err and "4/rows" not in err and "4 rows" in err

    monkeypatch.setattr(_objects_backend, "PROGRESS_MIN_BYTES", 10)  # a "big" upload, on a terminal
    monkeypatch.setattr(_objects_backend, "_stderr_is_tty", lambda: True)
    src = tmp_path / "big.bin"
    src.write_bytes(b"x" * 4096)
    with open(src, "rb") as f:  # a stream goes through the counting copy of the local store
        DataAccessObject(str(cat)).upload(f, "bronze.users_raw", path="big.bin")
    err = capsys.readouterr().err
    assert "[spark_dao] writing " in err and "100%" in err and "4.00k/4.00k" in err
    folder = tmp_path / "export"
    folder.mkdir()
    for i in range(3):
        (folder / f"part-{i}.csv").write_bytes(b"y" * 100)
    code, out, err = run(capsys, "upload", str(folder), "bronze.users_raw", "--path", "export/", "--catalog", str(cat))
    assert code == 0 and out.endswith("bronze.users_raw: uploaded 3 file(s)\n")
    assert f"[spark_dao] uploading 3 files from {folder}: 100%" in err and "300/300" in err


def test_ctrl_c_is_one_line_and_exit_130(cat: Path, capsys, monkeypatch) -> None:
    from spark_dao.engines import local

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(local, "write_batches", interrupted)
    code, out, err = run(capsys, "copy", "silver.users_clean", "lake.users", "--catalog", str(cat))
    assert (code, out) == (130, "")
    assert err == "spark-dao copy: interrupted; a write that had not committed left its target unchanged\n"
    assert not (cat.parent / "lake" / "users").exists()


def test_catalog_load_collects_the_errors_of_every_store(tmp_path: Path) -> None:
    rs = {"interface": "redshift", "host": "localhost", "database": "analytics", "user": "u", "schema": "gold"}
    bad = {"stores": {"silver": {"interface": "files", "path": str(tmp_path)},
                      "gold": {**rs, "temp_store": "tmp"}, "gold2": {**rs, "temp_store": "silver"}},
           "objects": {"gold.users": {}, "silver.users": {"partition_by": 3}}}
    errors: list[CatalogError] = []
    catalog = Catalog.load(bad, errors=errors)
    messages = [str(e) for e in errors]
    assert len(messages) == 3, messages
    assert "store 'gold': temp_store 'tmp' names no store of the catalog" in messages[0]
    assert "store 'gold2': temp_store 'silver' must be an S3 store" in messages[1]
    assert "objects.silver.users" in messages[2] and "partition_by" in messages[2]
    assert sorted(catalog.stores) == ["silver"] and catalog.objects == {}
    with pytest.raises(CatalogError) as first:  # without errors=: the first one raises, as before
        Catalog.load(bad)
    assert str(first.value) == messages[0]


def test_package_writes_a_zip_or_says_in_one_line_why_not(tmp_path: Path, capsys) -> None:
    import zipfile

    code, out, err = run(capsys, "package", "--out", str(tmp_path / "dist" / "spark_dao.zip"))
    assert code == 0 and err == "" and out.startswith(f"wrote {tmp_path / 'dist' / 'spark_dao.zip'} (")
    with zipfile.ZipFile(tmp_path / "dist" / "spark_dao.zip") as zf:
        assert {"spark_dao/__init__.py", "pyspark_dao/__init__.py"} <= set(zf.namelist())
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("x")
    for target, why in ((tmp_path / "a_folder", "it is a folder"), (tmp_path / "a_file" / "x.zip", "File exists"),
                        (tmp_path / "a_file", None)):
        code, out, err = run(capsys, "package", "--out", str(target))
        if why is None:  # an existing file is replaced
            assert code == 0, err
            continue
        assert (code, out) == (1, "") and err.count("\n") == 1, err
        assert err.startswith(f"spark-dao package: cannot write {target}: {why}; give --out a zip file path"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "a_folder", "dist"]  # no .tmp left behind
