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
