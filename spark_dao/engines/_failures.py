"""A Spark write that failed, as the :class:`DaoError` a user sees (no pyspark import here)."""

from __future__ import annotations

import re
from collections.abc import Callable

from ..catalog.model import DataObject
from ..errors import DaoError

_WORKER_ERROR = re.compile(r"spark_dao\.errors\.(\w+): (.+)")
_CAUSE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit): .+")


WORKER_HINT = (
    "Spark's Python workers could not import spark_dao. They run the interpreter named by "
    "PYSPARK_PYTHON or spark.pyspark.python (default: python3 on the PATH). In local mode, "
    "spark_dao.register(spark, ...) points them at this interpreter; on a cluster install spark-dao "
    "on every node (a cluster library, a bootstrap action, or spark-submit --py-files / --archives "
    "with a packed environment) or set spark.pyspark.python to an interpreter that has it"
)


def worker_hint(exc: BaseException) -> str | None:
    """The fix, when a Spark error says the Python workers cannot import spark_dao (or pyspark_dao)."""
    text = str(exc)
    if "No module named 'spark_dao'" in text or "No module named 'pyspark_dao'" in text:
        return WORKER_HINT
    return None


def raised_in_worker(exc: BaseException) -> DaoError | None:
    """The DaoError a Python worker raised (its class and message, from the traceback that Spark
    forwards in ``exc``), or None when the failure was not one of spark_dao's."""
    from .. import errors

    found = _WORKER_ERROR.search(str(exc))
    cls = getattr(errors, found.group(1), None) if found else None
    if found and isinstance(cls, type) and issubclass(cls, DaoError):
        return cls(found.group(2).strip())
    return None


def _spark_failure(exc: BaseException, obj: DataObject) -> DaoError:
    """A failed Spark write as the DaoError the failing task raised (its class and message, found in
    the Python worker's traceback that Spark forwards), or a DaoError quoting Spark's first line.

    The job's abort has run by then (Spark calls it before raising), so the target is unchanged.
    """
    text = str(exc)
    hint = worker_hint(exc)
    if hint:
        return DaoError(f"writing {obj.full_name!r} (store {obj.store_name!r}) with Spark failed: {hint}")
    raised = raised_in_worker(exc)
    if raised is not None:
        return raised
    # (py4j puts the JVM's exception on a line of its own starting with ": ")
    lines = [line.strip().removeprefix(": ") for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    # a Python worker's error: its first line only announces it; the cause is the traceback's last
    # "SomeError: message" line
    cause = next((line for line in reversed(lines) if _CAUSE.match(line)), None)
    if cause and cause not in first:
        first = f"{first.rstrip(':')}: {cause}"
    return DaoError(f"writing {obj.full_name!r} (store {obj.store_name!r}) with Spark failed: {first}")


def run_spark_write(save: Callable[[], object], obj: DataObject) -> None:
    """Run ``save`` (a DataFrameWriter's ``save``); a Spark or py4j failure becomes the DaoError its
    task raised (:func:`_spark_failure`); other errors pass unchanged."""
    try:
        save()
    except DaoError:
        raise
    except Exception as exc:
        if not type(exc).__module__.startswith(("pyspark", "py4j")):
            raise
        raise _spark_failure(exc, obj) from exc
