"""The raw-objects interface (the seed's S3Boto3Interface) on a local folder and on a real S3 endpoint.

Every behaviour runs on both stores: a local folder under tmp_path and a bucket on moto's threaded
HTTP server (``tests/s3_server.py``). Assertions look at the stored bytes themselves (files on disk,
objects fetched with a separate boto3 client), not only at what the interface reports.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from spark_dao.catalog import Catalog, DataObject
from spark_dao.errors import CatalogError, DaoError, ObjectNotFound
from spark_dao.interfaces import _objects_backend, _objects_s3, get_interface
from spark_dao.interfaces import objects as objects_mod
from spark_dao.interfaces.objects import ObjectInfo, ObjectsInterface

USERS_CSV = b"id,name,email\n1,Ada,ada@example.com\n2,Linus,linus@example.com\n"


@dataclass
class Bronze:
    """A catalog with stores 'bronze' and 'archive' of one kind, and ways to look behind the interface."""

    kind: str
    catalog: Catalog
    itf: ObjectsInterface
    root: str  # location of the 'bronze' store
    stored: Callable[[str], bytes | None]  # key under the bronze store's root -> bytes, or None
    all_keys: Callable[[], list[str]]  # every stored key under the bronze store's root
    bucket: str | None = None

    def obj(self, name: str = "users_raw", store: str = "bronze") -> DataObject:
        return self.catalog.get(f"{store}.{name}")


def _local_bronze(tmp_path: Path, **configs: Any) -> Bronze:
    root = tmp_path / "bronze"
    catalog = Catalog.load(
        {
            "stores": {
                "bronze": {"interface": "objects", "path": str(root), **configs},
                "archive": {"interface": "objects", "path": str(tmp_path / "archive")},
            }
        }
    )

    def stored(key: str) -> bytes | None:
        path = root / key
        return path.read_bytes() if path.is_file() else None

    def all_keys() -> list[str]:
        if not root.exists():
            return []
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    return Bronze("local", catalog, get_interface(catalog.store("bronze")), str(root), stored, all_keys)


def _s3_bronze(endpoint: str, bucket: str, client: Any, **configs: Any) -> Bronze:
    catalog = Catalog.load(
        {
            "stores": {
                "bronze": {
                    "interface": "objects",
                    "bucket": bucket,
                    "endpoint_url": endpoint,
                    "region": "us-east-1",
                    **configs,
                },
                "archive": {
                    "interface": "objects",
                    "bucket": bucket,
                    "prefix": "archive",
                    "endpoint_url": endpoint,
                    "region": "us-east-1",
                },
            }
        }
    )

    def stored(key: str) -> bytes | None:
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except client.exceptions.NoSuchKey:
            return None

    def all_keys() -> list[str]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(
            i["Key"] for p in pages for i in p.get("Contents", ()) if not i["Key"].startswith("archive/")
        )

    itf = get_interface(catalog.store("bronze"))
    return Bronze("s3", catalog, itf, f"s3://{bucket}", stored, all_keys, bucket=bucket)


@pytest.fixture(params=["local", "s3"])
def make_bronze(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Bronze]:
    """Builds the bronze catalog of this run's kind; keyword arguments become store configs."""
    if request.param == "local":
        return lambda **configs: _local_bronze(tmp_path, **configs)
    endpoint = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    client = request.getfixturevalue("s3_client")
    return lambda **configs: _s3_bronze(endpoint, bucket, client, **configs)


@pytest.fixture
def bronze(make_bronze: Callable[..., Bronze]) -> Bronze:
    return make_bronze()


@pytest.fixture
def users_csv(tmp_path: Path) -> Path:
    path = tmp_path / "sample" / "users.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(USERS_CSV)
    return path


# --------------------------------------------------------------------------- wiring
def test_catalog_routes_objects_stores_to_this_interface(bronze: Bronze) -> None:
    assert type(bronze.itf) is ObjectsInterface
    assert "bronze" in repr(bronze.itf)


def test_seed_class_name_maps_to_the_objects_interface(tmp_path: Path) -> None:
    catalog = Catalog.load(
        {
            "bronze": {
                "interface_class": "S3Boto3Interface",
                "interface_class_location": "interface_classes.s3.s3_boto3",
                "default_configs": {"path": str(tmp_path / "b")},
            }
        }
    )
    itf = get_interface(catalog.store("bronze"))
    assert isinstance(itf, ObjectsInterface)
    info = itf.put(catalog.get("bronze.users_raw"), b"x", "a.txt")
    assert (tmp_path / "b" / "users_raw" / "a.txt").read_bytes() == b"x"
    assert info.key == "a.txt"


# --------------------------------------------------------------------------- put
def test_seed_upload_call_shape(bronze: Bronze, users_csv: Path) -> None:
    obj = bronze.obj()
    with open(users_csv, "rb") as f:
        info = bronze.itf.put(obj, f, path=f"{bronze.root}/users_raw/2025-01-07/")
    assert info.key == "2025-01-07/users.csv"
    assert info.name == "users.csv"
    assert info.size == len(USERS_CSV)
    assert info.location == f"{bronze.root}/users_raw/2025-01-07/users.csv"
    assert bronze.stored("users_raw/2025-01-07/users.csv") == USERS_CSV
    assert bronze.all_keys() == ["users_raw/2025-01-07/users.csv"]


def test_put_bytes_with_name_and_relative_folder(bronze: Bronze) -> None:
    obj = bronze.obj("events_raw")
    info = bronze.itf.put(obj, b'{"a": 1}\n', "events.json", path="2025-01-07")
    assert info.key == "2025-01-07/events.json"
    assert bronze.stored("events_raw/2025-01-07/events.json") == b'{"a": 1}\n'
    assert bronze.itf.get(obj, "2025-01-07/events.json") == b'{"a": 1}\n'


def test_put_local_file_paths(bronze: Bronze, users_csv: Path) -> None:
    obj = bronze.obj()
    assert bronze.itf.put(obj, str(users_csv)).key == "users.csv"
    assert bronze.itf.put(obj, users_csv, path="2025-01-08/").key == "2025-01-08/users.csv"
    assert bronze.itf.put(obj, users_csv, "renamed.csv", path="2025-01-08/").key == "2025-01-08/renamed.csv"
    assert bronze.stored("users_raw/users.csv") == USERS_CSV
    assert bronze.stored("users_raw/2025-01-08/users.csv") == USERS_CSV
    assert bronze.stored("users_raw/2025-01-08/renamed.csv") == USERS_CSV


def test_put_path_is_a_full_key_unless_it_is_a_folder(bronze: Bronze, users_csv: Path) -> None:
    obj = bronze.obj()
    # no trailing slash, nothing there yet: the path is the key itself
    assert bronze.itf.put(obj, users_csv, path="2025-01-09/all_users.csv").key == "2025-01-09/all_users.csv"
    # an existing folder receives the file under its own name, as `cp` does
    assert bronze.itf.put(obj, users_csv, path="2025-01-09").key == "2025-01-09/users.csv"
    # bytes with a full key
    assert bronze.itf.put(obj, b"z", path="2025-01-09/z.bin").key == "2025-01-09/z.bin"
    assert sorted(i.key for i in bronze.itf.list(obj)) == [
        "2025-01-09/all_users.csv",
        "2025-01-09/users.csv",
        "2025-01-09/z.bin",
    ]


def test_put_overwrites_an_existing_key(bronze: Bronze) -> None:
    obj = bronze.obj()
    bronze.itf.put(obj, b"old contents", "a.csv")
    info = bronze.itf.put(obj, b"new", "a.csv")
    assert info.size == 3
    assert bronze.itf.get(obj, "a.csv") == b"new"


def test_put_file_object_without_a_name_needs_one(bronze: Bronze) -> None:
    obj = bronze.obj()
    with pytest.raises(DaoError, match="pass name="):
        bronze.itf.put(obj, io.BytesIO(b"data"))
    with pytest.raises(DaoError, match="pass name="):
        bronze.itf.put(obj, b"data", path="2025-01-07/")
    assert bronze.itf.put(obj, io.BytesIO(b"data"), "d.bin").size == 4
    assert bronze.all_keys() == ["users_raw/d.bin"]


def test_put_rejects_text_mode_files_folders_and_unknown_types(bronze: Bronze, users_csv: Path) -> None:
    obj = bronze.obj()
    with open(users_csv, encoding="utf-8") as f, pytest.raises(DaoError, match="binary mode"):
        bronze.itf.put(obj, f)
    with pytest.raises(DaoError, match="put_folder"):
        bronze.itf.put(obj, users_csv.parent)
    with pytest.raises(DaoError, match="no local file"):
        bronze.itf.put(obj, str(users_csv.parent / "missing.csv"))
    with pytest.raises(DaoError, match="cannot upload a dict"):
        bronze.itf.put(obj, {"a": 1}, "a.json")
    assert bronze.all_keys() == []


def test_put_non_seekable_stream(bronze: Bronze) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._src = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buf: Any) -> int:
            chunk = self._src.read(len(buf))
            buf[: len(chunk)] = chunk
            return len(chunk)

    payload = os.urandom(300_000)
    info = bronze.itf.put(bronze.obj(), io.BufferedReader(Pipe(payload)), "pipe.bin")
    assert info.size == len(payload)
    assert bronze.stored("users_raw/pipe.bin") == payload


# --------------------------------------------------------------------------- path escapes
def _escapes(bronze: Bronze) -> list[dict[str, Any]]:
    other_place = "s3://some-other-bucket/users_raw/" if bronze.kind == "s3" else "/tmp/elsewhere/users_raw/"
    return [
        {"path": "../events_raw/"},
        {"path": "2025-01-07/../../x/"},
        {"path": other_place},
        {"path": f"{bronze.root}/events_raw/2025-01-07/"},  # inside the store, but another object
        {"path": f"{bronze.root}/users_rawX/"},  # a sibling sharing the object's name as a prefix
        {"path": "~/x/"},
        {"name": "../x.csv"},
        {"name": "/etc/x.csv"},
    ]


def test_put_outside_the_object_is_refused_and_writes_nothing(bronze: Bronze, users_csv: Path) -> None:
    obj = bronze.obj()
    for kwargs in _escapes(bronze):
        with pytest.raises(DaoError) as info:
            bronze.itf.put(obj, users_csv, **kwargs)
        message = str(info.value)
        given = kwargs.get("path") or kwargs.get("name")
        assert "'bronze.users_raw'" in message and "'bronze'" in message and repr(given) in message, message
    assert bronze.all_keys() == []


def test_put_folder_with_an_escaping_path_writes_nothing(bronze: Bronze, tmp_path: Path) -> None:
    src = tmp_path / "drop"
    src.mkdir()
    (src / "a.csv").write_bytes(b"a")
    with pytest.raises(DaoError, match="not inside the object's location"):
        bronze.itf.put_folder(bronze.obj(), src, path="../events_raw/")
    assert bronze.all_keys() == []


def test_keys_outside_the_object_are_refused_for_every_operation(bronze: Bronze, tmp_path: Path) -> None:
    obj = bronze.obj()
    bronze.itf.put(bronze.obj("events_raw"), b"secret", "e.json")
    for call in (
        lambda: bronze.itf.get(obj, "../events_raw/e.json"),
        lambda: bronze.itf.download(obj, "../events_raw/e.json", tmp_path / "out.json"),
        lambda: bronze.itf.exists(obj, "../events_raw"),
        lambda: bronze.itf.delete(obj, "../events_raw"),
        lambda: bronze.itf.list(obj, prefix="../"),
        lambda: bronze.itf.copy(obj, "../events_raw/e.json", bronze.obj("x")),
    ):
        with pytest.raises(DaoError, match="'bronze.users_raw'"):
            call()
    assert bronze.stored("events_raw/e.json") == b"secret"
    assert not (tmp_path / "out.json").exists()


# --------------------------------------------------------------------------- folders
def _tree(root: Path) -> dict[str, bytes]:
    files = {
        "users.csv": USERS_CSV,
        "part/a.json": b'{"a": 1}\n',
        "part/deeper/b.json": b'{"b": 2}\n',
        "empty.txt": b"",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def test_put_folder_uploads_the_tree(bronze: Bronze, tmp_path: Path) -> None:
    files = _tree(tmp_path / "export")
    infos = bronze.itf.put_folder(bronze.obj(), tmp_path / "export", path="2025-01-07/")
    assert sorted(i.key for i in infos) == sorted(f"2025-01-07/{k}" for k in files)
    for rel, data in files.items():
        assert bronze.stored(f"users_raw/2025-01-07/{rel}") == data
        assert bronze.itf.get(bronze.obj(), f"2025-01-07/{rel}") == data


def test_put_folder_of_a_missing_folder(bronze: Bronze, tmp_path: Path) -> None:
    with pytest.raises(DaoError, match="is not a local folder"):
        bronze.itf.put_folder(bronze.obj(), tmp_path / "nope")


def test_download_and_download_folder(bronze: Bronze, tmp_path: Path) -> None:
    obj = bronze.obj()
    files = _tree(tmp_path / "export")
    bronze.itf.put_folder(obj, tmp_path / "export", path="2025-01-07")
    bronze.itf.put(obj, b"other day", "2025-02-01/x.csv")

    one = bronze.itf.download(obj, "2025-01-07/users.csv", tmp_path / "out" / "u.csv")
    assert one == tmp_path / "out" / "u.csv" and one.read_bytes() == USERS_CSV
    into_dir = bronze.itf.download(obj, "2025-01-07/part/a.json", tmp_path / "out")
    assert into_dir == tmp_path / "out" / "a.json" and into_dir.read_bytes() == files["part/a.json"]

    got = bronze.itf.download_folder(obj, tmp_path / "mirror", prefix="2025-01-")
    assert sorted(p.relative_to(tmp_path / "mirror").as_posix() for p in got) == sorted(
        f"2025-01-07/{k}" for k in files
    )
    for rel, data in files.items():
        assert (tmp_path / "mirror" / "2025-01-07" / rel).read_bytes() == data
    assert not (tmp_path / "mirror" / "2025-02-01").exists()

    everything = bronze.itf.download_folder(obj, tmp_path / "all")
    assert len(everything) == len(files) + 1
    assert (tmp_path / "all" / "2025-02-01" / "x.csv").read_bytes() == b"other day"


def test_missing_files_raise_object_not_found(bronze: Bronze, tmp_path: Path) -> None:
    obj = bronze.obj()
    bronze.itf.put(obj, b"x", "2025-01-07/a.csv")
    with pytest.raises(ObjectNotFound, match="nope.csv") as info:
        bronze.itf.get(obj, "2025-01-07/nope.csv")
    assert "'bronze.users_raw'" in str(info.value)
    with pytest.raises(ObjectNotFound, match="nope.csv"):
        bronze.itf.download(obj, "nope.csv", tmp_path / "n.csv")
    assert not (tmp_path / "n.csv").exists()
    with pytest.raises(ObjectNotFound):
        bronze.itf.copy(obj, "nope.csv", bronze.obj("other"))
    assert bronze.itf.info(obj, "nope.csv") is None


# --------------------------------------------------------------------------- list / exists / delete
def test_list_with_and_without_prefix(bronze: Bronze) -> None:
    obj = bronze.obj()
    before = datetime.now(UTC) - timedelta(minutes=5)
    for key, data in {
        "2025-01-07/users.csv": b"1234",
        "2025-01-08/users.csv": b"12345",
        "2025-02-01/users.csv": b"1",
        "readme.txt": b"hi",
    }.items():
        bronze.itf.put(obj, data, key)
    bronze.itf.put(bronze.obj("users_raw_v2"), b"not mine", "x.csv")  # a sibling sharing a prefix

    listed = bronze.itf.list(obj)
    assert [(i.key, i.size) for i in listed] == [
        ("2025-01-07/users.csv", 4),
        ("2025-01-08/users.csv", 5),
        ("2025-02-01/users.csv", 1),
        ("readme.txt", 2),
    ]
    assert all(i.last_modified is not None and i.last_modified > before for i in listed)
    assert all(i.last_modified.tzinfo is not None for i in listed if i.last_modified)
    assert listed[0].location == f"{bronze.root}/users_raw/2025-01-07/users.csv"
    assert [i.key for i in bronze.itf.list(obj, "2025-01-")] == [
        "2025-01-07/users.csv",
        "2025-01-08/users.csv",
    ]
    assert [i.key for i in bronze.itf.list(obj, prefix="2025-01-08/")] == ["2025-01-08/users.csv"]
    assert bronze.itf.list(obj, "2030") == []
    assert bronze.itf.list(bronze.obj("never_written")) == []
    info = bronze.itf.info(obj, "readme.txt")
    assert info is not None and info.size == 2 and info.key == "readme.txt"


def test_exists(bronze: Bronze) -> None:
    obj = bronze.obj()
    assert bronze.itf.exists(obj) is False
    bronze.itf.put(obj, b"x", "2025-01-07/users.csv")
    assert bronze.itf.exists(obj) is True
    assert bronze.itf.exists(obj, "2025-01-07/users.csv") is True
    assert bronze.itf.exists(obj, "2025-01-07") is True  # a folder with files
    assert bronze.itf.exists(obj, "2025-01-07/other.csv") is False
    assert bronze.itf.exists(obj, "2025-01") is False  # not a plain string prefix
    assert bronze.itf.exists(bronze.obj("users")) is False  # sibling names do not leak


def test_delete_one_file_a_folder_and_everything(bronze: Bronze) -> None:
    obj = bronze.obj()
    for key in ("2025-01-07/a.csv", "2025-01-07/b.csv", "2025-01-08/a.csv", "top.csv"):
        bronze.itf.put(obj, key.encode(), key)
    bronze.itf.put(bronze.obj("events_raw"), b"keep", "e.json")

    assert bronze.itf.delete(obj, "2025-01-07/a.csv") is True
    assert bronze.itf.delete(obj, "2025-01-07/a.csv") is False
    assert bronze.itf.delete(obj, "2025-01-07") is True  # a folder
    assert [i.key for i in bronze.itf.list(obj)] == ["2025-01-08/a.csv", "top.csv"]
    assert bronze.itf.delete(obj) is True
    assert bronze.itf.exists(obj) is False
    assert bronze.itf.delete(obj) is False
    assert bronze.all_keys() == ["events_raw/e.json"]
    # no empty folders left behind: the store lists the same objects on disk and on S3
    assert bronze.itf.list_objects() == ["events_raw"]


def test_list_objects_names_top_level_folders(bronze: Bronze) -> None:
    assert bronze.itf.list_objects() == []
    bronze.itf.put(bronze.obj("users_raw"), b"1", "2025-01-07/u.csv")
    bronze.itf.put(bronze.obj("events_raw"), b"2", "e.json")
    bronze.itf.put(bronze.obj("_scratch"), b"3", "tmp.bin")  # hidden, as in the files interface
    assert bronze.itf.list_objects() == ["events_raw", "users_raw"]


def test_many_files_list_and_delete_in_pages(
    bronze: Bronze, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # small pages and batches stand in for S3's 1000-key limits (thousands of files are slow on moto)
    monkeypatch.setattr(_objects_s3, "LIST_PAGE_SIZE", 7)
    monkeypatch.setattr(_objects_s3, "DELETE_BATCH", 7)
    src = tmp_path / "many"
    for i in range(40):
        (src / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 3}" / f"f{i:04d}.txt").write_bytes(b"%d" % i)
    obj = bronze.obj()
    infos = bronze.itf.put_folder(obj, src)
    assert len(infos) == 40 and infos[0].key == "d0/f0000.txt"
    listed = bronze.itf.list(obj)
    assert [i.key for i in listed] == sorted(f"d{i % 3}/f{i:04d}.txt" for i in range(40))
    assert bronze.itf.get(obj, "d1/f0022.txt") == b"22"
    for i in range(9):  # a few more top-level folders than one page holds
        bronze.itf.put(bronze.obj(f"obj{i}"), b"x", "x.txt")
    assert bronze.itf.list_objects() == sorted(["users_raw", *(f"obj{i}" for i in range(9))])
    assert bronze.itf.delete(obj) is True
    assert bronze.itf.exists(obj) is False
    assert len(bronze.all_keys()) == 9


# --------------------------------------------------------------------------- copy / move
def test_copy_and_move_within_and_across_stores(bronze: Bronze) -> None:
    raw = bronze.obj()
    bronze.itf.put(raw, USERS_CSV, "2025-01-07/users.csv")

    info = bronze.itf.copy(raw, "2025-01-07/users.csv", bronze.obj("users_copy"))
    assert info.key == "2025-01-07/users.csv"
    assert bronze.stored("users_copy/2025-01-07/users.csv") == USERS_CSV

    archive = bronze.obj("users", store="archive")
    info = bronze.itf.copy(raw, "2025-01-07/users.csv", archive, "2025/01/07.csv")
    assert info.key == "2025/01/07.csv"
    assert bronze.itf.get(archive, "2025/01/07.csv") == USERS_CSV

    moved = bronze.itf.move(raw, "2025-01-07/users.csv", raw, "processed/users.csv")
    assert moved.key == "processed/users.csv"
    assert [i.key for i in bronze.itf.list(raw)] == ["processed/users.csv"]
    assert bronze.itf.get(raw, "processed/users.csv") == USERS_CSV

    # moving a file onto itself keeps it
    bronze.itf.move(raw, "processed/users.csv", raw)
    assert bronze.itf.get(raw, "processed/users.csv") == USERS_CSV


def test_copy_between_a_local_store_and_s3(s3_server: str, s3_bucket: str, tmp_path: Path) -> None:
    catalog = Catalog.load(
        {
            "stores": {
                "landing": {"interface": "objects", "path": str(tmp_path / "landing")},
                "bronze": {
                    "interface": "objects",
                    "bucket": s3_bucket,
                    "endpoint_url": s3_server,
                    "region": "us-east-1",
                },
            }
        }
    )
    itf = get_interface(catalog.store("landing"))
    landing, bronze = catalog.get("landing.users"), catalog.get("bronze.users_raw")
    payload = os.urandom(200_000)
    itf.put(landing, payload, "u.bin")
    up = itf.move(landing, "u.bin", bronze, "2025-01-07/u.bin")
    assert up.location == f"s3://{s3_bucket}/users_raw/2025-01-07/u.bin"
    assert itf.exists(landing) is False
    down = itf.copy(bronze, "2025-01-07/u.bin", landing, "back.bin")
    assert down.location == str(tmp_path / "landing" / "users" / "back.bin")
    assert (tmp_path / "landing" / "users" / "back.bin").read_bytes() == payload


# --------------------------------------------------------------------------- large files
def test_multipart_upload_and_download(
    make_bronze: Callable[..., Bronze], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    bronze = make_bronze(multipart_threshold="5MB", max_concurrency=4)
    obj = bronze.obj()
    payload = os.urandom(12 * 1024 * 1024 + 123)
    digest = hashlib.sha256(payload).hexdigest()
    big = tmp_path / "big.bin"
    big.write_bytes(payload)

    from_file = bronze.itf.put(obj, big, path="2025-01-07/")
    from_stream = bronze.itf.put(obj, io.BytesIO(payload), "2025-01-07/stream.bin")
    assert from_file.size == from_stream.size == len(payload)

    assert hashlib.sha256(bronze.itf.get(obj, "2025-01-07/big.bin")).hexdigest() == digest
    out = bronze.itf.download(obj, "2025-01-07/stream.bin", tmp_path / "back.bin")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    copied = bronze.itf.copy(obj, "2025-01-07/big.bin", bronze.obj("copy"))
    assert copied.size == len(payload)
    assert hashlib.sha256(bronze.stored("copy/2025-01-07/big.bin") or b"").hexdigest() == digest

    if bronze.kind == "s3":
        client = request.getfixturevalue("s3_client")
        for key in ("users_raw/2025-01-07/big.bin", "users_raw/2025-01-07/stream.bin"):
            head = client.head_object(Bucket=bronze.bucket, Key=key, ChecksumMode="ENABLED")
            assert head["ETag"].strip('"').endswith("-3"), head["ETag"]  # 3 parts of 5 MB
            assert head["ContentLength"] == len(payload)
            assert head.get("ChecksumSHA256"), "parts must be sent with a SHA-256 checksum"


def test_transfer_settings_from_store_configs(tmp_path: Path) -> None:
    def settings(**configs: Any) -> Any:
        store = Catalog.load(
            {"stores": {"b": {"interface": "objects", "path": str(tmp_path), **configs}}}
        ).store("b")
        return objects_mod._transfer_settings(store)

    assert settings().threshold == 64 * 1024 * 1024
    assert settings().concurrency == 10
    assert settings(multipart_threshold="8MB").threshold == 8 * 1024 * 1024
    assert settings(multipart_threshold="1.5 GiB").threshold == 1536 * 1024 * 1024
    assert settings(multipart_threshold=6_000_000).threshold == 6_000_000
    assert settings(multipart_threshold="1MB").chunksize == 5 * 1024 * 1024  # S3's minimum part size
    assert settings(max_concurrency=3).concurrency == 3
    # bad values are refused when the catalog loads (issue 7, finding 2), before any transfer
    with pytest.raises(CatalogError, match=r"stores\.b\.multipart_threshold: expected a size"):
        settings(multipart_threshold="lots")
    with pytest.raises(CatalogError, match=r"stores\.b\.max_concurrency: expected a positive integer"):
        settings(max_concurrency=0)


def test_progress_line_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_objects_backend, "PROGRESS_MIN_BYTES", 10)
    monkeypatch.setattr(_objects_backend, "PROGRESS_INTERVAL", 0.0)
    monkeypatch.setattr(_objects_backend, "_stderr_is_tty", lambda: False)
    quiet = objects_mod._Progress("uploading x", 100)
    quiet(60)
    quiet(40)
    quiet.close()
    assert quiet.done == 100 and capsys.readouterr().err == ""

    monkeypatch.setattr(_objects_backend, "_stderr_is_tty", lambda: True)
    shown = objects_mod._Progress("uploading x", 100)
    shown(50)
    shown(50)
    shown.close()
    err = capsys.readouterr().err  # tqdm's bar: label, percentage, bytes
    assert "[spark_dao] uploading x:" in err and "100%" in err and "100/100" in err and err.endswith("\n")

    small = objects_mod._Progress("uploading y", 5)  # below PROGRESS_MIN_BYTES
    small(5)
    small.close()
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- failures
def test_missing_bucket_is_a_clear_error(s3_server: str, tmp_path: Path) -> None:
    catalog = Catalog.load(
        {
            "stores": {
                "bronze": {
                    "interface": "objects",
                    "bucket": "no-such-bucket-here",
                    "endpoint_url": s3_server,
                    "region": "us-east-1",
                }
            }
        }
    )
    itf = get_interface(catalog.store("bronze"))
    obj = catalog.get("bronze.users_raw")
    for call in (
        lambda: itf.put(obj, b"x", "a.csv"),
        lambda: itf.get(obj, "a.csv"),
        lambda: itf.download(obj, "a.csv", tmp_path / "a.csv"),
        lambda: itf.list(obj),
        lambda: itf.exists(obj),
        lambda: itf.exists(obj, "a.csv"),
        lambda: itf.delete(obj),
        lambda: itf.list_objects(),
    ):
        with pytest.raises(DaoError) as info:
            call()
        assert not isinstance(info.value, ObjectNotFound)
        message = str(info.value)
        assert "bucket 'no-such-bucket-here' does not exist" in message and "'bronze'" in message, message
    assert not (tmp_path / "a.csv").exists()


def _closed_port() -> int:
    with socket.socket() as sock:  # bound, then released: nobody listens there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_refused_connection_fails_fast_after_retries(tmp_path: Path) -> None:
    port = _closed_port()
    catalog = Catalog.load(
        {
            "stores": {
                "bronze": {
                    "interface": "objects",
                    "bucket": "landing",
                    "endpoint_url": f"http://127.0.0.1:{port}",
                    "region": "us-east-1",
                    "access_key": "AKIAEXAMPLEKEY",
                    "secret_key": "wJalrXUtnFEMI-super-secret",
                    "max_attempts": 2,
                    "connect_timeout": 1,
                    "request_timeout": 2,
                }
            }
        }
    )
    itf = get_interface(catalog.store("bronze"))
    obj = catalog.get("bronze.users_raw")
    for call in (
        lambda: itf.put(obj, b"x", "2025-01-07/a.csv"),
        lambda: itf.get(obj, "2025-01-07/a.csv"),
        lambda: itf.download(obj, "2025-01-07/a.csv", tmp_path / "a.csv"),
    ):
        started = time.monotonic()
        with pytest.raises(DaoError) as info:
            call()
        elapsed = time.monotonic() - started
        assert elapsed < 10, f"took {elapsed:.1f}s"
        message = str(info.value)
        assert "'bronze.users_raw'" in message and "bucket 'landing'" in message
        assert "key 'users_raw/2025-01-07/a.csv'" in message
        assert "after 2 attempts" in message and f"127.0.0.1:{port}" in message
        assert "super-secret" not in message and "super-secret" not in repr(itf)
        assert info.value.__cause__ is not None
    assert list(tmp_path.iterdir()) == []  # no partial download left behind


def test_retry_defaults_are_module_constants(monkeypatch: pytest.MonkeyPatch) -> None:
    from spark_dao.interfaces import _s3

    monkeypatch.setattr(_s3, "MAX_ATTEMPTS", 1)  # shared by the objects and files interfaces
    monkeypatch.setattr(_s3, "CONNECT_TIMEOUT", 0.5)
    catalog = Catalog.load(
        {
            "stores": {
                "b": {
                    "interface": "objects",
                    "bucket": "x-y-z",
                    "endpoint_url": f"http://127.0.0.1:{_closed_port()}",
                }
            }
        }
    )
    settings = dict(objects_mod._client_settings(catalog.store("b")))
    assert (settings["max_attempts"], settings["connect_timeout"], settings["request_timeout"]) == (
        1,
        0.5,
        60.0,
    )
    client = objects_mod._cached_client(objects_mod._client_settings(catalog.store("b")), os.getpid())
    assert client.meta.config.retries == {"total_max_attempts": 1, "mode": "standard"}
    assert client.meta.config.s3 == {"addressing_style": "path"}  # an endpoint_url means path-style
    with pytest.raises(DaoError, match="after 1 attempts"):
        get_interface(catalog.store("b")).exists(catalog.get("b.t"))
    # a bad value is refused when the catalog loads (issue 7, finding 2)
    with pytest.raises(CatalogError, match=r"stores\.b\.max_attempts: expected a positive integer, got 0"):
        Catalog.load({"stores": {"b": {"interface": "objects", "bucket": "x-y-z", "max_attempts": 0}}})


def test_bad_credentials_are_a_clear_error(s3_server: str, s3_bucket: str, s3_auth_enforced: None) -> None:
    secret = "wJalrXUtnFEMI-not-a-real-secret"
    catalog = Catalog.load(
        {
            "stores": {
                "bronze": {
                    "interface": "objects",
                    "bucket": s3_bucket,
                    "endpoint_url": s3_server,
                    "region": "us-east-1",
                    "access_key": "AKIANOTAREALKEY00000",
                    "secret_key": secret,
                }
            }
        }
    )
    itf = get_interface(catalog.store("bronze"))
    obj = catalog.get("bronze.users_raw")
    for call in (lambda: itf.put(obj, b"x", "a.csv"), lambda: itf.list(obj)):
        with pytest.raises(DaoError) as info:
            call()
        message = str(info.value)
        assert "access denied" in message and "credentials" in message, message
        assert f"bucket {s3_bucket!r}" in message and "'bronze.users_raw'" in message
        assert secret not in message
    assert secret not in repr(catalog.store("bronze")) and secret not in repr(itf)


def test_s3_upload_size_mismatch_removes_the_object(
    s3_server: str, s3_bucket: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bronze = _s3_bronze(s3_server, s3_bucket, s3_client)
    real_verify = objects_mod._S3Backend._verify

    def claim_more(self: Any, rel: str, sent: int | None) -> ObjectInfo:
        return real_verify(self, rel, (sent or 0) + 1)

    monkeypatch.setattr(objects_mod._S3Backend, "_verify", claim_more)
    with pytest.raises(DaoError, match="S3 holds 4 bytes but 5 were sent; the object was removed"):
        bronze.itf.put(bronze.obj(), b"data", "a.csv")
    assert bronze.all_keys() == []


def test_local_write_failure_leaves_the_target_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bronze = _local_bronze(tmp_path)
    obj = bronze.obj()
    bronze.itf.put(obj, b"version 1", "a.csv")

    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buf: Any) -> int:
            raise OSError("network share went away")

    with pytest.raises(DaoError, match="network share went away") as info:
        bronze.itf.put(obj, io.BufferedReader(Broken()), "a.csv")
    assert "'bronze.users_raw'" in str(info.value)
    assert bronze.stored("users_raw/a.csv") == b"version 1"
    assert bronze.all_keys() == ["users_raw/a.csv"]  # no temporary file left


def test_boto3_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch, s3_server: str) -> None:
    import builtins
    import sys

    from spark_dao.errors import BackendNotInstalled

    real_import = builtins.__import__

    def no_boto3(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "boto3" or name.startswith("boto3."):
            raise ImportError("No module named 'boto3'", name="boto3")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_boto3)
    for mod in [m for m in sys.modules if m == "boto3" or m.startswith("boto3.")]:
        monkeypatch.delitem(sys.modules, mod)
    objects_mod._cached_client.cache_clear()
    catalog = Catalog.load(
        {"stores": {"b": {"interface": "objects", "bucket": "x-y-z", "endpoint_url": s3_server}}}
    )
    itf = get_interface(catalog.store("b"))  # no I/O, no import yet
    with pytest.raises(BackendNotInstalled, match=r"spark-dao\[s3\]"):
        itf.exists(catalog.get("b.users_raw"))
    monkeypatch.undo()
    objects_mod._cached_client.cache_clear()


# --------------------------------------------------------------------------- plain data
def test_interface_and_infos_pickle(bronze: Bronze) -> None:
    obj = bronze.obj()
    info = bronze.itf.put(obj, b"abc", "2025-01-07/a.csv")
    bronze.itf.exists(obj)  # a client now exists in this process; it must not travel
    itf2 = pickle.loads(pickle.dumps(bronze.itf))
    assert isinstance(itf2, ObjectsInterface) and itf2.store == bronze.itf.store
    assert itf2.get(obj, "2025-01-07/a.csv") == b"abc"
    assert pickle.loads(pickle.dumps(info)) == info
    assert pickle.loads(pickle.dumps(bronze.itf.list(obj))) == bronze.itf.list(obj)
    # plain data only: the store, and the files interface of the same store (which holds only it)
    assert vars(bronze.itf).keys() == {"store", "files"}
    assert vars(bronze.itf.files).keys() == {"store"} and bronze.itf.files.store is bronze.itf.store
    assert itf2.files.store is itf2.store


def test_raw_csv_reads_back_as_a_table(bronze: Bronze, users_csv: Path) -> None:
    """The seed's step 3: what bronze ingestion stored reads as a table through the same store."""
    from spark_dao.engines.local import read_table

    obj = bronze.obj()
    bronze.itf.put(obj, users_csv, path="2025-01-07/")
    bronze.itf.put(obj, b"id,name,email\n3,Grace,grace@example.com\n", "2025-01-08/users.csv")
    table = read_table(obj.with_(format="csv"))
    assert sorted(table.column("name").to_pylist()) == ["Ada", "Grace", "Linus"]


# --------------------------------------------------------------------------- tables (held files interface)
def test_objects_interface_holds_a_files_interface_instead_of_inheriting(bronze: Bronze) -> None:
    from spark_dao.interfaces.files import FilesInterface

    assert not issubclass(ObjectsInterface, FilesInterface)
    assert not isinstance(bronze.itf, FilesInterface)
    assert type(bronze.itf.files) is FilesInterface and bronze.itf.files.store is bronze.itf.store
    # the raw-file meaning of exists/delete (an optional file or folder name), not the files one
    obj = bronze.obj()
    bronze.itf.put(obj, b"x", "2025-01-07/a.csv")
    assert bronze.itf.exists(obj, "2025-01-07") and not bronze.itf.exists(obj, "2025-01-08")
    assert bronze.itf.delete(obj, "2025-01-07/a.csv") and not bronze.itf.exists(obj)


def test_tables_through_an_objects_store_are_handed_to_its_files_interface(
    bronze: Bronze, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table written and read with the pandas engine through the DAO on an objects store: every
    contract call reaches the held FilesInterface of that store, and the data round-trips."""
    import pandas as pd

    from spark_dao import DataAccessObject
    from spark_dao.interfaces.files import FilesInterface

    calls: list[tuple[str, str]] = []
    for method in ("plan_read", "read", "prepare_write", "stage", "commit", "cleanup"):
        real = getattr(FilesInterface, method)

        def spy(self: FilesInterface, *args: Any, _real: Any = real, _name: str = method, **kwargs: Any) -> Any:
            assert type(self) is FilesInterface
            calls.append((_name, self.store.name))
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(FilesInterface, method, spy)

    dao = DataAccessObject(bronze.catalog)
    users = pd.DataFrame({"id": [1, 2, 3], "name": ["Ada", "Linus", "Grace"]})
    result = dao.write(users, "bronze.users_table", mode="overwrite", engine="pandas", format="parquet")
    assert result.rows_written == 3 and result.files_added >= 1
    assert [c for c, _ in calls] == ["prepare_write", "stage", "commit"]
    back = dao.read("bronze.users_table", engine="pandas", format="parquet")
    assert back.sort_values("id").reset_index(drop=True).equals(users)
    assert {c for c, _ in calls} >= {"plan_read", "read"} and {s for _, s in calls} == {"bronze"}
    # the same files seen as raw objects, and the files interface's cleanup behind dao.cleanup
    obj = bronze.obj("users_table")
    assert [i.key for i in bronze.itf.list(obj)][0].endswith(".parquet") and dao.exists("bronze.users_table")
    assert dao.cleanup("bronze.users_table") == [] and calls[-1] == ("cleanup", "bronze")

    # a pickled round trip (what Spark ships to executors) still reads the table
    itf2 = pickle.loads(pickle.dumps(bronze.itf))
    plan = itf2.plan_read(obj.with_(format="parquet"), {})
    rows = sorted(r for task in plan.tasks for batch in itf2.read(task) for r in batch.column("id").to_pylist())
    assert rows == [1, 2, 3]
