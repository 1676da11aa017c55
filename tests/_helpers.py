"""Small helpers shared by test modules (``from _helpers import tree``)."""

from __future__ import annotations

import os
from pathlib import Path


def tree(root: Path | str) -> list[str]:
    """Every file and folder below ``root`` (hidden ones included, symlinks not followed), relative, sorted."""
    root = str(root)
    out = []
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            out.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
    return sorted(out)


def s3_keys(client, bucket: str) -> list[str]:
    """Every key in ``bucket`` (listed with boto3, paginated), sorted."""
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out.extend(o["Key"] for o in page.get("Contents", []))
    return sorted(out)


def uploads(client, bucket: str) -> list[str]:
    """Keys of the bucket's uncompleted multipart uploads, sorted."""
    return sorted(u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))
