"""``DataStoreRegistry``: the seed's process-wide lookup of stores by name.

``DataAccessObject(config)`` registers its catalog's stores here, so the user's original code works:

    dao = DataAccessObject(config)
    bronze_store = DataStoreRegistry.get("bronze")
    users_raw = DataObject("users_raw", bronze_store)
"""

from __future__ import annotations

import threading
from typing import ClassVar

from .catalog import Catalog, DataStore
from .errors import ObjectNotFound, did_you_mean


class DataStoreRegistry:
    """Stores by name, filled by every ``DataAccessObject`` created (the latest one wins a name)."""

    _stores: ClassVar[dict[str, DataStore]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def register(cls, store: DataStore) -> None:
        with cls._lock:
            cls._stores[store.name] = store

    @classmethod
    def register_catalog(cls, catalog: Catalog) -> None:
        for store in catalog.stores.values():
            cls.register(store)

    @classmethod
    def get(cls, name: str) -> DataStore:
        """``DataStoreRegistry.get("silver")``; :class:`ObjectNotFound` with close names otherwise."""
        try:
            return cls._stores[name]
        except KeyError:
            raise ObjectNotFound(
                f"no store {name!r} is registered; create DataAccessObject(config) first. Registered: "
                f"{', '.join(sorted(cls._stores)) or '(none)'}.{did_you_mean(name, cls._stores)}"
            ) from None

    @classmethod
    def names(cls) -> list[str]:
        return sorted(cls._stores)

    @classmethod
    def clear(cls) -> None:
        with cls._lock:
            cls._stores.clear()
