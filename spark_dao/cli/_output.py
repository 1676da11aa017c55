"""What the ``spark-dao`` commands print: text for people, one JSON document for scripts, error
lines, and progress bars on a terminal (tqdm, imported only when one is drawn)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from collections.abc import Iterable
from contextlib import contextmanager
from decimal import Decimal
from pathlib import PurePath
from typing import Any


def _plain(value: Any) -> Any:
    """``value`` as JSON can hold it: dataclasses as dicts, dates as ISO text, bytes as hex."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, PurePath):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def stderr_is_tty() -> bool:
    """Whether stderr is a terminal (progress bars are drawn only then)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class Output:
    """Prints a command's result: ``out.emit(data, lines)`` prints ``lines`` (text mode) or ``data``
    as one JSON document (``--json``)."""

    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode

    def emit(self, data: Any, lines: Iterable[str] = ()) -> None:
        if self.json_mode:
            print(json.dumps(_plain(data), indent=2, ensure_ascii=False))
        else:
            for line in lines:
                print(line)

    @staticmethod
    def error(command: str, message: str) -> None:
        """One line on stderr: ``spark-dao preview: object 'silver.users' ...``."""
        print(f"spark-dao {command}: {' '.join(str(message).split())}", file=sys.stderr)

    @contextmanager
    def progress(self, label: str, *, unit: str = "rows"):  # type: ignore[no-untyped-def]
        """A tqdm bar on stderr when it is a terminal, else nothing; yields ``update(n)``."""
        if not stderr_is_tty():
            yield lambda n: None
            return
        from tqdm import tqdm

        bar = tqdm(desc=label, unit=f" {unit}", file=sys.stderr, leave=True, dynamic_ncols=True)
        try:
            yield bar.update
        finally:
            bar.close()
