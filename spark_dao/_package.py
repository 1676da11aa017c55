"""A zip of spark_dao (and ``pyspark_dao``, the ``format("dao")`` auto-registration) for Spark's
``--py-files``, so executors without spark-dao installed can run the ``dao`` source:

    spark-dao package --out dist/spark_dao.zip
    spark-submit --py-files dist/spark_dao.zip job.py

The executors still need spark-dao's dependencies (pyarrow, pyyaml; pandas, boto3, deltalake for
the stores used), which PySpark clusters usually have; otherwise ship a packed virtualenv with
``--archives`` (docs/deployment.md).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path


def build_pyfiles(dest: str | os.PathLike[str]) -> Path:
    """Write the zip to ``dest`` (folders created); returns its path."""
    import pyspark_dao
    import spark_dao

    dest = Path(dest)
    if dest.is_dir():
        raise IsADirectoryError(21, "it is a folder", str(dest))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for package in (spark_dao, pyspark_dao):
                root = Path(package.__file__).resolve().parent
                for path in sorted(root.rglob("*")):
                    if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".typed"):
                        zf.write(path, f"{root.name}/{path.relative_to(root).as_posix()}")
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
