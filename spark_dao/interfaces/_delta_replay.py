"""The active files of one Delta version as the log spells them, with their deletion vectors.

deltalake's ``get_add_actions`` gives neither a file's deletion vector nor its path exactly as the
log holds it, and a ``remove`` must name both (Delta identifies a file by path *and* vector). This
replays the log from the newest classic checkpoint at or before the version (its ``add`` column)
through the JSON commits after it. Tables with v2 checkpoints are refused by name.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any
from urllib.parse import unquote

from ..catalog.model import DataObject
from ..errors import DaoError

_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(?:\.(\d{10})\.(\d{10}))?\.parquet$")
_V2_CHECKPOINT = re.compile(r"^\d{20}\.checkpoint\.[0-9a-fA-F-]{36}\.(?:json|parquet)$")
_COMMIT = re.compile(r"^(\d{20})\.json$")


def _dv_key(dv: Any) -> str:
    if not dv:
        return ""
    return f"{dv.get('storageType')}|{dv.get('pathOrInlineDv')}|{dv.get('offset')}"


def active_files(obj: DataObject, fs: Any, base: str, version: int) -> dict[str, tuple[str, dict | None]]:
    """``{decoded path: (path as in the log, deletion vector or None)}`` for every file of ``version``."""
    import pyarrow.fs as pafs

    log_dir = f"{base}/_delta_log"
    names = [posixpath.basename(i.path) for i in fs.get_file_info(pafs.FileSelector(log_dir))]
    if any(_V2_CHECKPOINT.match(n) for n in names):
        raise DaoError(f"writing {obj.full_name!r} (store {obj.store_name!r}): the Delta table at {obj.location} has "
                       "v2 checkpoints, which this writer does not read; use the native path")
    parts: dict[int, dict[int, str]] = {}
    totals: dict[int, int] = {}
    for n in names:
        m = _CHECKPOINT.match(n)
        if m and int(m.group(1)) <= version:
            v = int(m.group(1))
            parts.setdefault(v, {})[int(m.group(2) or 1)] = n
            totals[v] = int(m.group(3) or 1)
    complete = [v for v in parts if len(parts[v]) == totals[v]]
    start = max(complete) if complete else -1
    active: dict[tuple[str, str], tuple[str, dict | None]] = {}
    if start >= 0:
        import pyarrow.parquet as pq

        for name in sorted(parts[start].values()):
            with fs.open_input_file(f"{log_dir}/{name}") as f:
                table = pq.read_table(f, columns=["add"])
            for add in table.column("add").to_pylist():
                if add:
                    dv = add.get("deletionVector") or None
                    active[(add["path"], _dv_key(dv))] = (add["path"], dv)
    commits = sorted(int(m.group(1)) for n in names if (m := _COMMIT.match(n)))
    for v in (c for c in commits if start < c <= version):
        with fs.open_input_stream(f"{log_dir}/{v:020d}.json") as f:
            lines = f.read().decode().splitlines()
        for line in lines:
            if not line.strip():
                continue
            action = json.loads(line)
            if "add" in action:
                add = action["add"]
                dv = add.get("deletionVector") or None
                active[(add["path"], _dv_key(dv))] = (add["path"], dv)
            elif "remove" in action:
                rm = action["remove"]
                active.pop((rm["path"], _dv_key(rm.get("deletionVector"))), None)
    return {unquote(path): (path, dv) for path, dv in active.values()}
