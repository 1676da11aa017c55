"""Commits written here, not by deltalake: a schema change along with the data, and removes of
files that carry deletion vectors — each one commit.

``mergeSchema=true`` adds the data's new columns to the table's schema. deltalake has no one-commit
way to append files *and* change the schema (``alter.add_columns`` is a commit of its own, and its
``create_write_transaction`` changes the schema only when replacing every file), so these commits
are written here, as Delta's protocol defines them: one ``_delta_log/<version>.json`` holding
``commitInfo``, the ``metaData`` with the new schema (every other field of the table's metadata
kept), and the write's ``add`` / ``remove`` actions, created only if absent (a local hard link; on
S3 a conditional PUT, ``If-None-Match: *``). A version taken by a concurrent writer is retried on
the new version, as deltalake's own commits are.

The same writer does overwrites of tables with deletion vectors: a remove must name the file's
deletion vector (Delta identifies a file by path *and* vector), which deltalake's removes cannot;
``_delta_replay`` finds each file's vector in the log.

Only tables whose writer features this commit honours take it (no CHECK constraints, invariants,
generated or identity columns, row tracking, column mapping); others are refused by name before
anything is written.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import pyarrow as pa

from ..catalog.model import DataObject
from ..errors import DaoError
from . import _arrow

#: writer features an append / remove commit written here honours (the rest need a real engine)
SAFE_WRITER_FEATURES = frozenset({"appendOnly", "timestampNtz", "deletionVectors", "changeDataFeed",
                                  "v2Checkpoint", "vacuumProtocolCheck", "checkpointProtection"})
#: features a table may list while using none of them (delta-spark and deltalake list some on every
#: writer-v7 table): safe while the schema and configuration show no use (checked below)
UNUSED_OK_FEATURES = frozenset({"invariants", "checkConstraints", "generatedColumns", "identityColumns",
                                "variantType"})
_METADATA_MARKERS = ("delta.invariants", "delta.generationExpression", "delta.identity.start", '"variant"')


def merged_schema(incoming: pa.Schema, stored: pa.Schema, *, what: str) -> pa.Schema:
    """The table's columns (stored types; the data may miss some: they are written as nulls), then
    the data's new columns. A column whose type does not fit the stored one is a SchemaMismatch."""
    inc = {f.name: _arrow.normalize_type(f.type) for f in incoming}
    ext = {f.name: _arrow.normalize_type(f.type) for f in stored}
    changed = [f"{c} ({inc[c]} -> stored {ext[c]})" for c in inc
               if c in ext and not inc[c].equals(ext[c]) and not _arrow._widens(inc[c], ext[c])
               and not pa.types.is_null(incoming.field(c).type)]
    _arrow.check_mismatch([], [], changed, what=what, against="the stored schema",
                          fix="write with mode='overwrite' and overwriteSchema=true to replace the schema")
    return pa.schema([pa.field(n, t) for n, t in ext.items()]
                     + [pa.field(n, t) for n, t in inc.items() if n not in ext])


def check_writable(obj: DataObject, table: Any, *, what: str = "mergeSchema") -> None:
    """Refuse tables this commit cannot honour, naming the feature (``what``: mergeSchema, or an
    overwrite of a table with deletion vectors)."""
    protocol = table.protocol()
    features = set(protocol.writer_features or ())
    problems = sorted(features - SAFE_WRITER_FEATURES - UNUSED_OK_FEATURES) if protocol.min_writer_version >= 7 else []
    if protocol.min_writer_version in (3, 4, 5, 6):
        problems.append(f"writer version {protocol.min_writer_version}")
    config = table.metadata().configuration or {}
    problems += sorted(k for k in config if k.startswith("delta.constraints."))
    schema_json = table.schema().to_json()
    problems += [m for m in _METADATA_MARKERS if m in schema_json]
    if problems and what == "mergeSchema":
        raise DaoError(
            f"writing {obj.full_name!r} (store {obj.store_name!r}): mergeSchema cannot change the schema of the "
            f"Delta table at {obj.location}: it uses {', '.join(problems)}. Add the columns with delta-spark "
            "(ALTER TABLE ... ADD COLUMNS) or the native path (engine='spark' on a session with Delta), then write"
        )
    if problems:
        raise DaoError(
            f"writing {obj.full_name!r} (store {obj.store_name!r}): the Python path cannot {what} the Delta table at "
            f"{obj.location}, which has deletion vectors and uses {', '.join(problems)}; use the native path "
            "(engine='spark' on a session with Delta)"
        )


def schema_string(table: Any, target: pa.Schema) -> str:
    """The table's schema JSON (its fields' metadata kept) with ``target``'s new columns appended."""
    from deltalake import Schema

    current = json.loads(table.schema().to_json())
    have = {f["name"] for f in current["fields"]}
    new = [f for f in target if f.name not in have]
    if new:
        current["fields"] += json.loads(Schema.from_arrow(pa.schema(new)).to_json())["fields"]
    return json.dumps(current, separators=(",", ":"))


def log_lines(table: Any, schema_json: str | None, actions: list[Mapping[str, Any]],
              info: Mapping[str, Any]) -> bytes:
    """The commit file: ``commitInfo``, ``metaData`` (the table's, with ``schema_json``; none when
    the schema stays), the actions."""
    lines: list[Mapping[str, Any]] = [{"commitInfo": dict(info)}]
    if schema_json is not None:
        meta = table.metadata()
        lines.append({"metaData": {
            "id": meta.id, "name": meta.name, "description": meta.description,
            "format": {"provider": "parquet", "options": {}}, "schemaString": schema_json,
            "partitionColumns": list(meta.partition_columns), "configuration": dict(meta.configuration or {}),
            "createdTime": meta.created_time}})
    lines += actions
    return ("\n".join(json.dumps(line, separators=(",", ":")) for line in lines) + "\n").encode()


def add_action(path: str, size: int, partition_values: Mapping[str, str | None], stats: str, now: int) -> dict:
    return {"add": {"path": quote(path, safe="/="), "partitionValues": dict(partition_values), "size": int(size),
                    "modificationTime": now, "dataChange": True, "stats": stats}}


def remove_action(path: str, size: int, partition_values: Mapping[str, str | None], dv: Mapping[str, Any] | None,
                  now: int) -> dict:
    """A remove of a file of the snapshot (``path`` as the log spells it), naming its deletion
    vector when it has one, so that exactly that file is removed."""
    remove: dict[str, Any] = {"path": path, "deletionTimestamp": now, "dataChange": True,
                              "extendedFileMetadata": True, "partitionValues": dict(partition_values),
                              "size": int(size)}
    if dv:
        remove["deletionVector"] = {k: dv[k] for k in ("storageType", "pathOrInlineDv", "offset", "sizeInBytes",
                                                        "cardinality") if dv.get(k) is not None}
    return {"remove": remove}


def commit_info(operation_mode: str, partition_by: list[str], metrics: Mapping[str, str], read_version: int,
                custom: Mapping[str, Any], *, merge_schema: bool = True) -> dict[str, Any]:
    params = {"mode": operation_mode, "partitionBy": json.dumps(partition_by)}
    if merge_schema:
        params["mergeSchema"] = "true"
    info: dict[str, Any] = {
        "timestamp": int(time.time() * 1000), "operation": "WRITE",
        "operationParameters": params,
        "readVersion": read_version, "isBlindAppend": operation_mode == "Append",
        "operationMetrics": dict(metrics), "engineInfo": "spark_dao", "clientVersion": "spark_dao",
    }
    for key, value in custom.items():
        if key not in ("operationMetrics", "readVersion"):
            info[key] = value
    return info


def put_if_absent(store: Any, location: str, version: int, body: bytes) -> bool:
    """Create ``_delta_log/<version>.json`` unless it exists; False when a concurrent writer has it."""
    from ._s3settings import S3Settings, is_s3_location, split_location

    name = f"_delta_log/{version:020d}.json"
    if is_s3_location(location):
        bucket, prefix = split_location(location)
        key = f"{prefix.rstrip('/')}/{name}" if prefix.strip("/") else name
        client = S3Settings.from_store(store).boto3_client()
        try:
            client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
        except Exception as exc:
            from ._s3 import CONFLICT_CODES, error_code

            if error_code(exc) in CONFLICT_CODES:
                return False
            raise
        return True
    folder = location[len("file://"):] if location.startswith("file://") else location
    target = os.path.join(folder, name)
    tmp = os.path.join(folder, "_delta_log", f".{version:020d}.{uuid.uuid4().hex}.json.tmp")
    with open(tmp, "wb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, target)  # atomic, and fails if the version exists
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True
