"""The store kinds the contract suite runs against, and what a test may look at behind each one.

Every kind gives a catalog with one store, ``lake``, and these objects:

* ``lake.t``: plain (no partitions), ``keys: [id]``;
* ``lake.p``: ``partition_by: [p]`` (kinds with the ``partitions`` capability only).

A new backend joins the suite by adding one entry to :data:`KINDS` (its catalog store, the
capabilities it has) and, if it stages somewhere new, a branch in :meth:`Kind.staged` /
:meth:`Kind.leftovers` (how to see staged-but-uncommitted data). Tests of a missing capability are
skipped with a reason naming it: ``example-sqlite: no partitions``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from spark_dao import Catalog, DataAccessObject
from spark_dao.catalog import DataObject
from spark_dao.interfaces import get_interface

#: capabilities a kind may lack (tests needing one are skipped with "<kind>: no <capability>")
CAPABILITIES = ("partitions", "upsert", "spark")

OBJECTS: dict[str, dict[str, Any]] = {
    "lake.t": {"keys": ["id"]},
    "lake.p": {"keys": ["id"], "partition_by": ["p"]},
}


def _s3_store(interface: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    endpoint, bucket = request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket")
    return {"interface": interface, "bucket": bucket, "prefix": "lake", "endpoint_url": endpoint,
            "region": "us-east-1", "access_key": "testing", "secret_key": "testing"}


def _sqlite_store(request: pytest.FixtureRequest) -> dict[str, Any]:
    db = request.getfixturevalue("tmp_path") / "lake.db"
    return {"interface_class": "SQLiteInterface", "interface_class_location": "examples.backends.sqlite_store",
            "default_configs": {"path": str(db)}}


def _redshift_store(request: pytest.FixtureRequest) -> dict[str, Any]:
    from _redshift import redshift_store

    return redshift_store(request.getfixturevalue("redshift_server"), request.getfixturevalue("s3_server"),
                          request.getfixturevalue("s3_bucket"))


#: kind -> (the store's catalog entry, built from the test's fixtures; its capabilities, less those its
#: class turns off with ``supports_partitions``/``supports_upsert = False``)
KINDS: dict[str, tuple[Callable[[pytest.FixtureRequest], dict[str, Any]], frozenset[str]]] = {
    "files-local": (lambda r: {"interface": "files", "path": str(r.getfixturevalue("tmp_path") / "lake")},
                    frozenset(CAPABILITIES)),
    "files-s3": (lambda r: _s3_store("files", r), frozenset(CAPABILITIES)),
    "objects-local": (lambda r: {"interface": "objects", "path": str(r.getfixturevalue("tmp_path") / "lake")},
                      frozenset(CAPABILITIES)),
    "objects-s3": (lambda r: _s3_store("objects", r), frozenset(CAPABILITIES)),
    "delta-local": (lambda r: {"interface": "delta", "path": str(r.getfixturevalue("tmp_path") / "lake")},
                    frozenset(CAPABILITIES)),
    "delta-s3": (lambda r: _s3_store("delta", r), frozenset(CAPABILITIES)),
    "example-sqlite": (_sqlite_store, frozenset(CAPABILITIES)),  # its class says: no partitions
    "redshift": (_redshift_store, frozenset(CAPABILITIES)),  # no partitions (its class says so)
}


@dataclass
class Kind:
    """One store kind under test: ``kind.dao``, ``kind.obj("lake.t")``, ``kind.itf``."""

    name: str
    capabilities: frozenset[str]
    catalog: dict[str, Any]
    dao: DataAccessObject
    request: pytest.FixtureRequest = field(repr=False)

    def __str__(self) -> str:
        return self.name

    def require(self, capability: str) -> None:
        assert capability in CAPABILITIES, capability
        if capability not in self.capabilities:
            pytest.skip(f"{self.name}: no {capability}")

    @property
    def store(self) -> Any:
        return self.dao.catalog.store("lake")

    @property
    def itf(self) -> Any:
        return get_interface(self.store)

    def obj(self, name: str = "lake.t") -> DataObject:
        if name == "lake.p":
            self.require("partitions")
        return self.dao.catalog.get(name)

    def fresh_catalog(self) -> Catalog:
        return Catalog.load(self.catalog)

    # ------------------------------------------------------------------ behind the interface
    def _s3(self) -> tuple[Any, str, str]:
        cfg = self.catalog["stores"]["lake"]
        if self.name == "redshift":  # the staging bucket: s3://<bucket>/rs-temp/
            bucket, _, prefix = cfg["s3_temp_dir"][len("s3://"):].partition("/")
            return self.request.getfixturevalue("s3_client"), bucket, prefix.strip("/")
        return self.request.getfixturevalue("s3_client"), cfg["bucket"], cfg["prefix"]

    def _files(self) -> dict[str, bytes | None]:
        """Every file of the store, by path relative to its root (S3: keys under the prefix); the
        content only for Delta log entries (None otherwise)."""
        out: dict[str, bytes | None] = {}
        if self.name.endswith("-local"):
            root = Path(self.store.location)
            for p in root.rglob("*") if root.exists() else ():
                if p.is_file():
                    rel = str(p.relative_to(root))
                    out[rel] = p.read_bytes() if "/_delta_log/" in rel else None
        else:
            client, bucket, prefix = self._s3()
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
                for o in page.get("Contents", []):
                    rel = o["Key"][len(prefix) + 1:]
                    if rel and not rel.endswith("/"):
                        body = client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() if "/_delta_log/" in rel else None
                        out[rel] = body
        return out

    def _uploads(self) -> list[str]:
        if not self.name.endswith("-s3"):
            return []
        client, bucket, _ = self._s3()
        return sorted(u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))

    def _delta_unreferenced(self) -> list[str]:
        """Data files of Delta tables that no commit of their log ever added (staged, never committed)."""
        files = self._files()
        added: set[str] = set()
        for rel, body in files.items():
            if rel.endswith(".json") and body is not None:
                table = rel.split("/_delta_log/")[0]
                for line in body.decode().splitlines():
                    action = json.loads(line) if line.strip() else {}
                    if "add" in action:
                        added.add(f"{table}/{unquote(action['add']['path'])}")
        def crc_of_added(rel: str) -> bool:  # Hadoop's checksum sidecar of a committed file (delta-spark)
            folder, _, name = rel.rpartition("/")
            return name.startswith(".") and name.endswith(".crc") and f"{folder}/{name[1:-4]}" in added

        return sorted(r for r in files if "/_delta_log/" not in r and r not in added and not crc_of_added(r))

    def staged(self, obj: DataObject, job_id: str) -> int:
        """How many things (files, uploads, rows) job ``job_id`` has staged for ``obj``, looking at
        storage directly: proves that a stage wrote something before an abort removes it."""
        family = self.name.split("-")[0]
        tag = f"part-{job_id[:8]}-"
        if family in ("files", "objects"):
            staging = f"{obj.name}/_dao_staging/{job_id}/"
            uploads = [k for k in self._uploads() if k.split("/")[-1].startswith(tag)]
            return sum(1 for rel in self._files() if rel.startswith(staging)) + len(uploads)
        if family == "delta":
            return sum(1 for rel in self._delta_unreferenced()
                       if rel.startswith(f"{obj.name}/") and rel.split("/")[-1].startswith(tag))
        if self.name == "redshift":  # staged Parquet files under <s3_temp_dir>/<job id>/
            return sum(1 for rel in self._files() if rel.startswith(f"{job_id}/"))
        if self.name == "example-sqlite":
            with sqlite3.connect(self.store.configs["path"]) as conn:
                try:
                    return conn.execute(f"SELECT count(*) FROM _dao_stage_{job_id}").fetchone()[0]
                except sqlite3.OperationalError:  # no such table
                    return 0
        raise NotImplementedError(f"staged(): teach the contract suite where kind {self.name!r} stages")

    def leftovers(self) -> list[str]:
        """Staged data of any job still on storage (after a commit or an abort: none)."""
        family = self.name.split("-")[0]
        uploads = [f"upload {k}" for k in self._uploads()]
        if family in ("files", "objects"):
            return sorted([r for r in self._files() if "/_dao_staging/" in f"/{r}" and not r.endswith("/")] + uploads)
        if family == "delta":
            return self._delta_unreferenced() + uploads
        if self.name == "redshift":  # anything left under s3_temp_dir (staged loads, unloaded reads)
            return sorted(self._files()) + uploads
        if self.name == "example-sqlite":
            if not Path(self.store.configs["path"]).exists():
                return []
            with sqlite3.connect(self.store.configs["path"]) as conn:
                return sorted(r[0] for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '\\_dao\\_stage\\_%' ESCAPE '\\'"))
        raise NotImplementedError(f"leftovers(): teach the contract suite where kind {self.name!r} stages")


@pytest.fixture(params=list(KINDS))
def store_kind(request: pytest.FixtureRequest) -> Kind:
    """Each store kind in turn: a :class:`Kind` with a fresh, empty store ``lake``."""
    make, capabilities = KINDS[request.param]
    catalog = {"stores": {"lake": make(request)}, "objects": {k: dict(v) for k, v in OBJECTS.items()}}
    dao = DataAccessObject(catalog)
    # a BaseInterface subclass declares what it cannot do: those capabilities are off whatever KINDS says
    cls = type(get_interface(dao.catalog.store("lake")))
    flags = {"partitions": "supports_partitions", "upsert": "supports_upsert"}
    capabilities = frozenset(c for c in capabilities if getattr(cls, flags.get(c, ""), True))
    return Kind(request.param, capabilities, catalog, dao, request)
