"""Backends implementing the Arrow contract. Never imports pyspark."""

from .base import (
    WRITE_MODES,
    BaseInterface,
    Interface,
    ReadPlan,
    ReadTask,
    StagedFile,
    StagedPart,
    WriteRequest,
    WriteResult,
    WriteSpec,
    error_boundary,
    get_interface,
    parse_mode,
)

__all__ = [
    "WRITE_MODES",
    "BaseInterface",
    "Interface",
    "ReadPlan",
    "ReadTask",
    "StagedFile",
    "StagedPart",
    "WriteRequest",
    "WriteResult",
    "WriteSpec",
    "error_boundary",
    "get_interface",
    "parse_mode",
]
