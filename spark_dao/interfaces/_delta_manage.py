"""Table maintenance of the Delta interface: ``history``, ``optimize``, ``vacuum``, ``restore``
(``dao.history("lake.users")`` and the rest call these). A mixin of
:class:`~spark_dao.interfaces.delta.DeltaInterface`, which provides ``_table`` and ``_missing``.
"""

from __future__ import annotations

import logging
from typing import Any

import pyarrow as pa

from ..catalog.model import DataObject
from ..errors import DaoError
from ._delta_log import _partition_filters
from .base import PartitionFilter

log = logging.getLogger("spark_dao.delta")


class DeltaManagement:
    """``history`` / ``optimize`` / ``vacuum`` / ``restore`` of one Delta table, through deltalake."""

    _table: Any
    _missing: Any

    def history(self, obj: DataObject, limit: int | None = None) -> list[dict[str, Any]]:
        """The table's commits, newest first (version, timestamp, operation, parameters, metrics)."""
        table = self._table(obj)
        if table is None:
            raise self._missing(obj)
        return [dict(h) for h in table.history(limit)]

    def optimize(self, obj: DataObject, *, zorder_by: list[str] | None = None,
                 where: list[PartitionFilter] | None = None, target_size: int | None = None) -> dict[str, Any]:
        """Compact small files (and Z-order by ``zorder_by``) in one commit; ``where`` limits it to
        partitions (``[("day", "=", "2025-01-08")]``). Returns delta-rs's metrics."""
        table = self._existing(obj)
        filters = _partition_filters(obj, table, where)
        if zorder_by:
            unknown = [c for c in zorder_by if c not in pa.schema(table.schema().to_arrow()).names]
            if unknown:
                raise DaoError(f"optimizing {obj.full_name!r}: zorder_by columns {unknown} are not in the table")
            metrics = table.optimize.z_order(list(zorder_by), partition_filters=filters, target_size=target_size)
        else:
            metrics = table.optimize.compact(partition_filters=filters, target_size=target_size)
        log.info("%s: optimize -> version %d: %s", obj.full_name, self._existing(obj).version(), metrics)
        return dict(metrics)

    def vacuum(self, obj: DataObject, *, retention_hours: float = 168, dry_run: bool = True) -> list[str]:
        """Files no version within ``retention_hours`` references (and files no version ever
        referenced, such as the output of dead jobs, once that old): listed, and deleted unless
        ``dry_run``. Time travel to versions older than the retention stops working for what is deleted."""
        if retention_hours < 0:
            raise DaoError(f"vacuum of {obj.full_name!r}: retention_hours={retention_hours} must be 0 or more")
        table = self._existing(obj)
        files = list(table.vacuum(retention_hours=int(retention_hours), dry_run=dry_run,
                                  enforce_retention_duration=False))
        log.info("%s: vacuum (%s, retention %sh): %d files", obj.full_name, "dry run" if dry_run else "deleted",
                 retention_hours, len(files))
        return files

    def restore(self, obj: DataObject, version: int) -> dict[str, Any]:
        """A new version whose data is that of ``version`` (history keeps everything in between)."""
        table = self._existing(obj)
        if not 0 <= int(version) <= table.version():
            raise DaoError(f"restoring {obj.full_name!r}: version {version} does not exist; the table's versions "
                           f"are 0 to {table.version()}")
        metrics = table.restore(int(version))
        log.info("%s: restored version %d as version %d", obj.full_name, version, self._existing(obj).version())
        return dict(metrics)

    def _existing(self, obj: DataObject) -> Any:
        table = self._table(obj)
        if table is None:
            raise self._missing(obj)
        return table

