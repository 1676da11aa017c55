"""Plain, immutable, picklable descriptions of stores and objects. No I/O happens here."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..errors import CatalogError
from .settings import SECRET_KEY_PATTERN

__all__ = ["SECRET_KEY_PATTERN", "Configs", "DataObject", "DataStore", "InterfaceSpec", "redact"]

_URI_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")


def is_uri(path: str) -> bool:
    return bool(_URI_RE.match(path))


_URL_PASSWORD = re.compile(r"(://[^/@:\s]*:)[^/@\s]+@")


def redact(configs: Mapping[str, Any]) -> dict[str, Any]:
    """A plain-dict copy of ``configs`` with secret values replaced by ``'***'``, and the password
    of a URL that carries one (``http://user:pass@host``) too."""
    out: dict[str, Any] = {}
    for key, value in configs.items():
        if SECRET_KEY_PATTERN.search(str(key)) and value is not None:
            out[key] = "***"
        elif isinstance(value, dict):
            out[key] = redact(value)
        elif isinstance(value, list):
            out[key] = [redact(v) if isinstance(v, dict) else v for v in value]
        elif isinstance(value, str) and "@" in value:
            out[key] = _URL_PASSWORD.sub(r"\1***@", value)
        else:
            out[key] = value
    return out


class Configs(dict):  # type: ignore[type-arg]
    """A store's settings: a plain ``dict`` whose ``repr``/``str`` (and so ``print``, f-strings,
    ``pprint`` and log lines) show secret values as ``'***'``.

    Code reads the real values as from any dict: ``configs["secret_key"]``, ``dict(configs)``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(redact(self))

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (Configs, (dict(self),))


@dataclass(frozen=True)
class InterfaceSpec:
    """Which interface a store uses: a built-in short name, an entry point, or a custom class.

    ``InterfaceSpec("files")`` is the built-in files interface; a custom one is
    ``InterfaceSpec("custom", class_name="MyInterface", location="my_pkg.interfaces")``.
    """

    kind: str
    class_name: str | None = None
    location: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "custom":
            return f"{self.location}.{self.class_name}"
        return self.kind


@dataclass(frozen=True, eq=True)
class DataStore:
    """A named storage location: a local folder, an S3 bucket/prefix, a Delta root, a Redshift schema.

    Built by the catalog (``catalog.store("silver")`` or the seed's ``DataStoreRegistry.get("silver")``);
    plain data, safe to pickle to executors. ``configs`` holds the store's ``default_configs``.
    """

    name: str
    interfaces: tuple[InterfaceSpec, ...]
    configs: dict[str, Any] = field(default_factory=dict, hash=False)
    source: str = field(default="<dict>", compare=False)  # provenance, not identity

    def __post_init__(self) -> None:
        if not isinstance(self.configs, Configs):
            object.__setattr__(self, "configs", Configs(self.configs or {}))

    def __repr__(self) -> str:  # never shows secrets
        return (
            f"DataStore(name={self.name!r}, interface={self.interface.label!r}, "
            f"location={self.location!r}, configs={redact(self.configs)!r})"
        )

    __str__ = __repr__

    @property
    def interface(self) -> InterfaceSpec:
        """The primary interface."""
        return self.interfaces[0]

    @property
    def location(self) -> str | None:
        """Root of the store: an absolute local folder or a URI such as ``s3://bucket/prefix``."""
        cfg = self.configs
        prefix = str(cfg.get("prefix") or "").strip("/")
        for key in ("path", "root", "base_path"):
            if cfg.get(key):
                root = str(cfg[key]).rstrip("/") or "/"
                # a prefix applies under a path as under a bucket (the seed's silver: prefix "datasets")
                return (root.rstrip("/") + "/" + prefix) if prefix else root
        bucket = cfg.get("bucket") or cfg.get("bucket_name")
        if bucket:
            bucket = str(bucket)
            if bucket.startswith("s3://"):
                bucket = bucket[5:]
            return f"s3://{bucket.strip('/')}" + (f"/{prefix}" if prefix else "")
        return None


@dataclass(frozen=True)
class DataObject:
    """A named dataset in one store, e.g. ``DataObject("users_clean", silver_store)``.

    Properties declared here (path, format, partition_by, keys, order_by, schema, options) override
    the store's defaults. ``full_name`` is ``"silver.users_clean"``.
    """

    name: str
    store: DataStore | str
    path: str | None = None
    table: str | None = None
    format: str | None = None
    partition_by: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    order_by: str | None = None
    schema: dict[str, str] | None = field(default=None, hash=False)
    options: dict[str, Any] = field(default_factory=dict, hash=False)
    description: str | None = None
    declared: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        # Accept lists from callers; keep tuples so the object stays immutable.
        if isinstance(self.partition_by, str):
            object.__setattr__(self, "partition_by", (self.partition_by,))
        elif not isinstance(self.partition_by, tuple):
            object.__setattr__(self, "partition_by", tuple(self.partition_by or ()))
        if isinstance(self.keys, str):
            object.__setattr__(self, "keys", (self.keys,))
        elif not isinstance(self.keys, tuple):
            object.__setattr__(self, "keys", tuple(self.keys or ()))
        check_object_name(self.name, store=self.store_name)

    def __repr__(self) -> str:  # options may carry credentials: never show their values
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "options":
                value = redact(value)
            if f.name in ("name", "store") or value not in (None, (), {}):
                shown.append(f"{f.name}={value!r}")
        return f"DataObject({', '.join(shown)})"

    __str__ = __repr__

    @property
    def store_name(self) -> str:
        return self.store if isinstance(self.store, str) else self.store.name

    @property
    def full_name(self) -> str:
        return f"{self.store_name}.{self.name}"

    @property
    def location(self) -> str:
        """Where the object's data lives: ``<store location>/<path or name>``.

        Raises :class:`CatalogError` when the store has no location or the path escapes the store.
        """
        if isinstance(self.store, str):
            raise CatalogError(
                f"object {self.full_name!r}: store {self.store!r} is only a name here; "
                "resolve it through a catalog (DataAccessObject or Catalog.get)"
            )
        root = self.store.location
        if root is None:
            raise CatalogError(
                f"object {self.full_name!r}: store {self.store_name!r} has no location; "
                "set 'path' (a local folder) or 'bucket' (+ 'prefix') in its default_configs"
            )
        return join_inside(root, self.path or self.name, what=f"object {self.full_name!r}")

    def with_(self, **changes: Any) -> DataObject:
        """A copy with some properties changed, e.g. ``obj.with_(format="csv")``."""
        return replace(self, **changes)


_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*(/[A-Za-z0-9_][A-Za-z0-9_\-=.]*)*$")


def check_object_name(name: str, *, store: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or ".." in name.split("/"):
        raise CatalogError(
            f"invalid object name {name!r} in store {store!r}: use letters, digits, '_' and '-' "
            "(sub-folders with '/'); names cannot be absolute or contain '..'"
        )


def join_inside(root: str, rel: str, *, what: str) -> str:
    """``root/rel`` normalised; raises :class:`CatalogError` when the result leaves ``root``.

    ``rel`` may also be a full path or URI that already lies inside ``root``.
    """
    root = root.rstrip("/") or "/"
    if is_uri(rel) or rel.startswith("/"):
        candidate = rel.rstrip("/")
    else:
        if rel.startswith("~") or "\\" in rel:
            raise CatalogError(f"{what}: path {rel!r} must be relative to its store ({root})")
        candidate = root + "/" + rel.strip("/") if rel.strip("/") else root
    scheme, sep, rest = candidate.partition("://")
    if sep:
        normal = scheme + "://" + posixpath.normpath(rest)
    else:
        normal = posixpath.normpath(candidate)
    r_scheme, r_sep, r_rest = root.partition("://")
    root_norm = (r_scheme + "://" + posixpath.normpath(r_rest)) if r_sep else posixpath.normpath(root)
    if normal != root_norm and not normal.startswith(root_norm.rstrip("/") + "/"):
        raise CatalogError(
            f"{what}: path {rel!r} escapes its store (root {root_norm}); "
            "use a path relative to the store, without '..'"
        )
    if ".." in rel.replace("\\", "/").split("/"):
        raise CatalogError(
            f"{what}: path {rel!r} contains '..'; use a path relative to the store, without '..'"
        )
    return normal
