"""Backends implementing the Arrow contract. Never imports pyspark."""

from .base import (
    WRITE_MODES,
    Interface,
    ReadPlan,
    ReadTask,
    StagedFile,
    StagedPart,
    WriteResult,
    WriteSpec,
    get_interface,
    parse_mode,
)

__all__ = [
    "WRITE_MODES",
    "Interface",
    "ReadPlan",
    "ReadTask",
    "StagedFile",
    "StagedPart",
    "WriteResult",
    "WriteSpec",
    "get_interface",
    "parse_mode",
]
