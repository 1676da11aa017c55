"""The catalog: stores, objects and the names that resolve to them. Plain data, no I/O libraries."""

from .loader import ENV_VAR, Catalog, parse_catalog
from .model import DataObject, DataStore, InterfaceSpec, redact

__all__ = ["ENV_VAR", "Catalog", "DataObject", "DataStore", "InterfaceSpec", "parse_catalog", "redact"]
