"""Links between stores, resolved once when a catalog is loaded (plain data, no I/O).

A Redshift store may name an S3 store for its staging bucket (``temp_store: temp``): the S3
settings of that store (endpoint, region, credentials, addressing) are copied into the Redshift
store's configs under :data:`TEMP_STORE_CONFIGS`, and its location becomes the default
``s3_temp_dir``. The interface then needs no catalog to find them (executors get only the store).
"""

from __future__ import annotations

from typing import Any

from ..errors import CatalogError, did_you_mean
from .builtins import BUILTINS
from .model import DataStore

#: the configs key holding the linked temp store's S3 settings (and its name and location)
TEMP_STORE_CONFIGS = "temp_store_configs"
_S3_KINDS = ("files", "objects", "delta")


def object_keys_of(store: DataStore) -> frozenset[str]:
    """The object keys the store's interface adds to the common ones (Redshift: ``dist_key``...)."""
    builtin = BUILTINS.get(store.interface.kind)
    return builtin.object_keys if builtin is not None else frozenset()


def link_temp_stores(stores: dict[str, DataStore], *, where: str, only: str | None = None) -> dict[str, DataStore]:
    """``stores`` with every ``temp_store`` reference resolved (see the module docstring); with
    ``only``, that one store's."""
    out = dict(stores)
    for name, store in stores.items():
        if only is not None and name != only:
            continue
        ref = store.configs.get("temp_store")
        if not ref:
            continue
        target = stores.get(str(ref))
        if target is None:
            raise CatalogError(
                f"{where}: store {name!r}: temp_store {ref!r} names no store of the catalog."
                f"{did_you_mean(str(ref), stores)} Stores: {', '.join(sorted(stores))}"
            )
        location = target.location or ""
        if target.interface.kind not in _S3_KINDS or not location.startswith(("s3://", "s3a://", "s3n://")):
            raise CatalogError(
                f"{where}: store {name!r}: temp_store {ref!r} must be an S3 store (interface files, objects "
                f"or delta with a 'bucket'), not {target.interface.label!r} at {location or 'no location'}"
            )
        s3_keys = BUILTINS["files"].config_keys & BUILTINS["redshift"].config_keys - {"options", "format"}
        linked: dict[str, Any] = {k: v for k, v in target.configs.items() if k in s3_keys}
        linked.update(name=str(ref), location=location)
        configs = {**store.configs, TEMP_STORE_CONFIGS: linked}
        out[name] = DataStore(name=store.name, interfaces=store.interfaces, configs=configs, source=store.source)
    return out
