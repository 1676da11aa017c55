"""Load and validate a catalog from a YAML/JSON file, a dict, or ``SPARK_DAO_CATALOG``.

Two shapes are accepted:

* the seed's: top-level store names, each ``{interface_class, interface_class_location, default_configs}``;
* the full one: ``{stores: {...}, objects: {"store.object": {...}}}`` (objects may also nest under
  their store), with per-object ``path``/``table``, ``format``, ``partition_by``, ``keys``,
  ``order_by``, ``schema`` and ``options``.

Validation happens here, before any I/O: every error is a :class:`CatalogError` naming the file,
the key path and, where one is close, the key that was probably meant.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import CatalogError, ObjectNotFound, did_you_mean
from ._links import link_temp_stores, object_keys_of
from ._text import check_keys as _check_keys
from ._text import interpolate_env as _interpolate
from ._text import parse_document, read_document
from .builtins import (
    BUILTIN_LOCATION_PREFIXES,
    BUILTINS,
    CLASS_ALIASES,
    all_interface_names,
    entry_point_names,
)
from .model import DataObject, DataStore, InterfaceSpec, check_object_name, is_uri, join_inside
from .settings import (
    CALL_ONLY_OPTIONS,
    CATALOG_OPTIONS,
    READ_OPTIONS,
    SETTING_TYPES,
    STORE_OPTION_KEYS,
    WRITE_OPTIONS,
    SettingTypeError,
    check_options,
    coerce,
)

ENV_VAR = "SPARK_DAO_CATALOG"

_STORE_KEYS = {
    "interface",
    "interface_class",
    "interface_class_location",
    "interfaces",
    "additional_interfaces",
    "default_configs",
    "objects",
    "description",
}
_OBJECT_KEYS = {
    "path",
    "table",
    "format",
    "partition_by",
    "keys",
    "order_by",
    "schema",
    "options",
    "description",
}
_TOP_KEYS = {"stores", "objects", "version", "description"}
_INTERFACE_KEYS = {"interface", "interface_class", "interface_class_location"}
_STORE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_TYPE_RE = re.compile(
    r"^(string|str|binary|bool|boolean|byte|tinyint|short|smallint|int|integer|long|bigint|"
    r"float|double|date|timestamp|timestamp_ntz|decimal\(\s*\d+\s*,\s*\d+\s*\))$",
    re.I,
)
_LOCAL_PATH_KEYS = ("path", "root", "base_path")


@dataclass(frozen=True)
class Catalog:
    """The parsed, validated catalog: stores and declared objects. Immutable and picklable.

    >>> catalog = Catalog.load("conf/catalog.yaml")          # doctest: +SKIP
    >>> catalog.get("silver.users_clean").location           # doctest: +SKIP
    '/.../conf/data/silver/users_clean'
    """

    stores: dict[str, DataStore]
    objects: dict[str, DataObject] = field(default_factory=dict)
    source: str = "<dict>"

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, source: Catalog | Mapping[str, Any] | str | os.PathLike[str] | None = None, *,
             errors: list[CatalogError] | None = None) -> Catalog:
        """Load from a path (``.yaml``/``.yml``/``.json``), a dict, a Catalog, or ``$SPARK_DAO_CATALOG``.

        With ``errors`` (a list), the errors of each store and object are appended to it and loading
        goes on with the others (``spark-dao catalog validate`` lists them all); see :func:`parse_catalog`.
        """
        if isinstance(source, Catalog):
            return source
        if source is None:
            env = os.environ.get(ENV_VAR)
            if not env:
                raise CatalogError(
                    "no catalog given: pass a path or dict (DataAccessObject('conf/catalog.yaml'), "
                    f".option('catalog', ...)) or set {ENV_VAR}=path/to/catalog.yaml"
                )
            source = env
        if isinstance(source, Mapping):
            return parse_catalog(copy.deepcopy(dict(source)), source="<dict>", base_dir=Path.cwd(), errors=errors)
        if not isinstance(source, str | os.PathLike):
            raise CatalogError(
                f"a catalog is a path to a .yaml/.json file, a dict or a Catalog, got {type(source).__name__}"
            )
        from ._remote import fetch_s3, is_remote, local_path

        text_source = os.fspath(source)
        if is_remote(text_source):  # s3://bucket/conf/catalog.yaml: relative paths in it are the cwd's
            data = parse_document(fetch_s3(text_source), name=text_source, source_name=text_source,
                                  known_keys=_known_keys())
            return parse_catalog(data, source=text_source, base_dir=Path.cwd(), errors=errors)
        path = local_path(text_source)
        data, source_name = read_document(path, known_keys=_known_keys())
        return parse_catalog(data, source=source_name, base_dir=path.resolve().parent, errors=errors)

    # ------------------------------------------------------------------ lookups
    def store(self, name: str) -> DataStore:
        """The store called ``name``; :class:`ObjectNotFound` with close names otherwise."""
        store = self.stores.get(name) if isinstance(name, str) else None
        if store is None:
            raise ObjectNotFound(
                f"unknown store {name!r} in catalog {self.source}; known stores: "
                f"{', '.join(sorted(self.stores)) or '(none)'}.{did_you_mean(str(name), self.stores)}"
            )
        return store

    def get(self, name: str | DataObject) -> DataObject:
        """Resolve ``"store.object"`` (or a :class:`DataObject`) to a fully described object.

        Objects not declared in the catalog resolve from their store's defaults:
        ``catalog.get("bronze.users_raw")`` lives at ``<bronze root>/users_raw``.
        """
        if isinstance(name, DataObject):
            return self.resolve(name)
        if not isinstance(name, str) or "." not in name:
            raise ObjectNotFound(
                f"{name!r} is not a data object name: use 'store.object', e.g. "
                f"'{next(iter(self.stores), 'silver')}.my_table'"
            )
        store_name, obj_name = name.split(".", 1)
        store = self.store(store_name)
        declared = self.objects.get(name)
        if declared is not None:
            return declared
        return self._default_object(obj_name, store)

    def resolve(self, obj: DataObject) -> DataObject:
        """Fill a user-made ``DataObject(name, store)`` with the catalog's declaration, if any.

        Properties set on ``obj`` win over the declared ones.
        """
        store = self.store(obj.store_name) if isinstance(obj.store, str) else obj.store
        declared = self.objects.get(f"{store.name}.{obj.name}")
        base = declared if declared is not None else self._default_object(obj.name, store)
        changes: dict[str, Any] = {"store": store}
        for attr in ("path", "table", "format", "order_by", "schema", "description"):
            value = getattr(obj, attr)
            if value is not None:
                changes[attr] = value
        for attr in ("partition_by", "keys"):
            if getattr(obj, attr):
                changes[attr] = getattr(obj, attr)
        if obj.options:
            changes["options"] = {**base.options, **obj.options}
        return base.with_(**changes)

    def _default_object(self, name: str, store: DataStore) -> DataObject:
        check_object_name(name, store=store.name)
        return DataObject(
            name=name,
            store=store,
            format=store.configs.get("format"),
            options=store_option_defaults(store),
        )

    def list(self, store: str | None = None) -> list[str]:
        """Declared object names, all or of one store: ``catalog.list("silver")``."""
        if store is not None:
            self.store(store)
            return sorted(n for n, o in self.objects.items() if o.store_name == store)
        return sorted(self.objects)

    def missing_hint(self, name: str) -> str:
        return did_you_mean(name, list(self.objects))

    @property
    def fingerprint(self) -> str:
        """A short stable hash of the catalog's content (used to name bound Spark sources)."""
        payload = {
            "stores": {n: [repr(s.interfaces), _stable(s.configs)] for n, s in sorted(self.stores.items())},
            "objects": {
                n: {f.name: getattr(o, f.name) for f in fields(o) if f.name != "store"}
                | {"store": o.store_name}
                for n, o in sorted(self.objects.items())
            },
        }
        return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:10]

    def __repr__(self) -> str:
        return f"Catalog(source={self.source!r}, stores={sorted(self.stores)}, objects={len(self.objects)})"


def _known_keys() -> set[str]:
    return (
        _STORE_KEYS | _OBJECT_KEYS | _TOP_KEYS | set(SETTING_TYPES) | set(READ_OPTIONS) | set(WRITE_OPTIONS)
        | {"default_configs", "stores", "objects"}
    )


def _stable(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


# ---------------------------------------------------------------------- parsing
def parse_catalog(
    data: dict[str, Any], *, source: str, base_dir: Path, errors: list[CatalogError] | None = None
) -> Catalog:
    """Parse a catalog mapping (either shape) into a :class:`Catalog`.

    The first error raises, unless ``errors`` is a list: then each unset ``${env:VAR}`` and the first
    error of each store and each object are appended to it, a store or object with an error is left
    out, and parsing goes on (a catalog with no stores at all still raises).
    """
    where = source

    def attempt(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CatalogError as exc:
            if errors is None:
                raise
            errors.append(exc)
            return None

    data = _interpolate(data, where=where, path="", errors=errors)
    if "stores" in data and isinstance(data["stores"], dict):
        attempt(_check_keys, data, _TOP_KEYS, where=where, path="", what="top-level key")
        raw_stores = data["stores"]
        raw_objects = data.get("objects") or {}
        if not isinstance(raw_objects, dict):
            attempt(_fail, f"{where}: 'objects' must be a mapping of 'store.object' names")
            raw_objects = {}
    else:
        raw_stores = data
        raw_objects = {}
    if not raw_stores:
        raise CatalogError(f"{where}: the catalog declares no stores")

    stores: dict[str, DataStore] = {}
    nested: dict[str, Any] = {}
    for name, entry in raw_stores.items():
        path = f"stores.{name}" if "stores" in data else str(name)
        parsed = attempt(_parse_store, str(name), entry, where=where, path=path, base_dir=base_dir)
        if parsed is None:
            continue
        store, objs = parsed
        stores[store.name] = store
        for obj_name, obj_entry in objs.items():
            nested[f"{name}.{obj_name}"] = (obj_entry, f"{path}.objects.{obj_name}")

    for name in list(stores):  # store by store, so that every bad temp_store is reported
        linked = attempt(link_temp_stores, stores, where=where, only=name)
        stores = linked if linked is not None else {k: v for k, v in stores.items() if k != name}
    objects: dict[str, DataObject] = {}
    for full, entry in raw_objects.items():
        if full in nested:
            attempt(_fail, f"{where}: objects.{full}: object {full!r} is declared twice, here and at "
                           f"{nested[full][1]}; keep one")
            continue
        nested[full] = (entry, f"objects.{full}")
    for full, (entry, path) in nested.items():
        obj = attempt(_object_entry, full, entry, stores, raw_stores, where=where, path=path)
        if obj is not None:
            objects[full] = obj
    return Catalog(stores=stores, objects=objects, source=source)


def _fail(message: str) -> None:
    raise CatalogError(message)


def _object_entry(full: Any, entry: Any, stores: dict[str, DataStore], raw_stores: Mapping[str, Any], *,
                  where: str, path: str) -> DataObject | None:
    if not isinstance(full, str) or "." not in full:
        raise CatalogError(f"{where}: {path}: object names must be 'store.object', got {full!r}")
    store_name, obj_name = full.split(".", 1)
    if store_name not in stores:
        if store_name in raw_stores:
            return None  # its store has errors, already reported
        raise CatalogError(
            f"{where}: {path}: object {full!r} names unknown store {store_name!r}."
            f"{did_you_mean(store_name, [str(k) for k in raw_stores])}"
        )
    return _parse_object(obj_name, stores[store_name], entry, where=where, path=path)


def _parse_store(
    name: str, entry: Any, *, where: str, path: str, base_dir: Path
) -> tuple[DataStore, dict[str, Any]]:
    if not _STORE_NAME_RE.fullmatch(name):  # fullmatch: '$' alone lets a trailing newline through
        raise CatalogError(
            f"{where}: {path}: invalid store name {name!r}; use letters, digits, '_' and '-' (no dots)"
        )
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: {path}: a store must be a mapping, got {type(entry).__name__}")

    specs: list[InterfaceSpec] = []
    if _INTERFACE_KEYS & entry.keys():
        specs.append(_parse_interface(entry, where=where, path=path))
    for key in ("interfaces", "additional_interfaces"):
        extra = entry.get(key)
        if extra is None:
            continue
        if not isinstance(extra, list):
            raise CatalogError(f"{where}: {path}.{key}: expected a list of interfaces")
        for i, item in enumerate(extra):
            spec_entry = {"interface": item} if isinstance(item, str) else item
            if not isinstance(spec_entry, dict):
                raise CatalogError(f"{where}: {path}.{key}[{i}]: expected a name or a mapping")
            _check_keys(spec_entry, _INTERFACE_KEYS, where=where, path=f"{path}.{key}[{i}]", what="interface key")
            specs.append(_parse_interface(spec_entry, where=where, path=f"{path}.{key}[{i}]"))
    if not specs:
        raise CatalogError(
            f"{where}: {path}: store {name!r} names no interface; add 'interface: files' "
            "(or the seed's 'interface_class')"
        )

    configs = entry.get("default_configs") or {}
    if not isinstance(configs, dict):
        raise CatalogError(f"{where}: {path}.default_configs: expected a mapping, got {type(configs).__name__}")
    configs = dict(configs)
    # Where each setting was written, so errors point at the right line of the file.
    origin = {key: f"{path}.default_configs.{key}" for key in configs}
    allowed_cfg = _allowed_config_keys(specs)
    store_keys = _STORE_KEYS | (allowed_cfg or set())
    # The full shape lets store-level keys such as 'path' or 'format' stand beside 'interface'.
    for key, value in entry.items():
        if key in _STORE_KEYS:
            continue
        if allowed_cfg is None:
            raise CatalogError(
                f"{where}: {path}.{key}: unknown key {key!r} for store {name!r}.{did_you_mean(str(key), _STORE_KEYS)}"
                " Settings of a custom interface go under 'default_configs'"
            )
        if key not in allowed_cfg:
            raise CatalogError(
                f"{where}: {path}.{key}: unknown key {key!r} for store {name!r}.{did_you_mean(str(key), store_keys)}"
                f" Valid keys: {', '.join(sorted(store_keys))}"
            )
        if key in configs:
            raise CatalogError(
                f"{where}: {path}.{key}: {key!r} is set twice, here and at {path}.default_configs.{key}; keep one"
            )
        configs[key] = value
        origin[key] = f"{path}.{key}"
    if allowed_cfg is not None:
        for key in configs:
            if key not in allowed_cfg:
                raise CatalogError(
                    f"{where}: {origin[key]}: unknown key {key!r} for interface {specs[0].label!r}."
                    f"{did_you_mean(str(key), allowed_cfg)} Valid keys: {', '.join(sorted(allowed_cfg))}"
                )
            setting = SETTING_TYPES.get(key)
            # paths, format and options have their own checks below
            if setting is None or configs[key] is None or key in (*_LOCAL_PATH_KEYS, "format", "options"):
                continue
            try:
                configs[key] = coerce(key, configs[key], setting)
            except SettingTypeError as exc:
                raise CatalogError(f"{where}: {origin[key]}: {exc}") from None
    for key in _LOCAL_PATH_KEYS:
        value = configs.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise CatalogError(f"{where}: {origin[key]}: expected a non-empty string path")
        if not is_uri(value):
            configs[key] = str((base_dir / Path(value).expanduser()).resolve())
    if "format" in configs:
        _check_format(configs["format"], specs[0], where=where, path=origin["format"])
    if "options" in configs and not isinstance(configs["options"], dict):
        raise CatalogError(
            f"{where}: {origin['options']}: expected a mapping, got {type(configs['options']).__name__}"
        )
    if configs.get("options") and _checks_options(specs[0]):
        configs["options"] = _check_catalog_options(
            configs["options"], where=where, path=origin["options"], owner=f"store {name!r}"
        )
    objs = entry.get("objects") or {}
    if not isinstance(objs, dict):
        raise CatalogError(f"{where}: {path}.objects: expected a mapping of object names")
    return DataStore(name=name, interfaces=tuple(specs), configs=configs, source=where), objs


def _parse_interface(entry: dict[str, Any], *, where: str, path: str) -> InterfaceSpec:
    short = entry.get("interface")
    cls_name = entry.get("interface_class")
    location = entry.get("interface_class_location")
    if short is not None and (cls_name is not None or location is not None):
        raise CatalogError(
            f"{where}: {path}: give either 'interface' or 'interface_class' (+ 'interface_class_location'), "
            "not both"
        )
    if short is not None:
        if not isinstance(short, str):
            raise CatalogError(f"{where}: {path}.interface: expected a string, got {type(short).__name__}")
        if short in BUILTINS:
            return InterfaceSpec(short)
        if short in CLASS_ALIASES:
            return InterfaceSpec(CLASS_ALIASES[short])
        if short in entry_point_names():
            return InterfaceSpec(short)
        if ":" in short:  # "my_pkg.module:MyInterface"
            module, _, cls = short.partition(":")
            if not _is_module_path(module) or not cls.isidentifier():
                raise CatalogError(f"{where}: {path}.interface: {short!r} is not 'module.path:ClassName'")
            return InterfaceSpec("custom", class_name=cls, location=module)
        raise CatalogError(
            f"{where}: {path}.interface: unknown interface {short!r}.{did_you_mean(short, all_interface_names())}"
            f" Built-in: {', '.join(sorted(BUILTINS))}; a custom class is 'module.path:ClassName'"
        )
    if not isinstance(cls_name, str) or not cls_name.isidentifier():
        raise CatalogError(f"{where}: {path}.interface_class: expected a class name, got {cls_name!r}")
    if location is not None and not (isinstance(location, str) and _is_module_path(location)):
        raise CatalogError(
            f"{where}: {path}.interface_class_location: expected a module path such as "
            f"'my_pkg.interfaces', got {location!r}"
        )
    if location is None or _in_packages(location, BUILTIN_LOCATION_PREFIXES):
        if cls_name in CLASS_ALIASES:
            return InterfaceSpec(CLASS_ALIASES[cls_name])
        if cls_name in BUILTINS:
            return InterfaceSpec(cls_name)
        if location is None:
            raise CatalogError(
                f"{where}: {path}.interface_class: unknown interface {cls_name!r}."
                f"{did_you_mean(cls_name, all_interface_names())} A custom class also needs "
                "'interface_class_location' (its module path)"
            )
        if _in_packages(location, ("interface_classes", "spark_dao.interfaces")):
            raise CatalogError(
                f"{where}: {path}.interface_class: unknown built-in interface {cls_name!r}."
                f"{did_you_mean(cls_name, CLASS_ALIASES)} Known: {', '.join(sorted(CLASS_ALIASES))}"
            )
    return InterfaceSpec("custom", class_name=cls_name, location=location)


def _is_module_path(value: str) -> bool:
    return bool(value) and all(part.isidentifier() for part in value.split("."))


def _in_packages(module: str, packages: tuple[str, ...]) -> bool:
    """``module`` is one of ``packages`` or inside one (``interface_classes.s3`` yes, ``interface_classesX`` no)."""
    return any(module == pkg or module.startswith(pkg + ".") for pkg in packages)


def _allowed_config_keys(specs: list[InterfaceSpec]) -> set[str] | None:
    """Keys valid in ``default_configs`` for these interfaces; None when a custom one accepts anything."""
    allowed: set[str] = set()
    for spec in specs:
        builtin = BUILTINS.get(spec.kind)
        if builtin is None:
            return None
        allowed |= builtin.config_keys
    return allowed


def _check_format(value: Any, spec: InterfaceSpec, *, where: str, path: str) -> None:
    builtin = BUILTINS.get(spec.kind)
    if not isinstance(value, str):
        raise CatalogError(f"{where}: {path}: expected a format name string, got {type(value).__name__}")
    if builtin is not None and builtin.formats and value.lower() not in builtin.formats:
        raise CatalogError(
            f"{where}: {path}: unknown format {value!r} for interface {spec.kind!r}."
            f"{did_you_mean(value.lower(), builtin.formats)} Valid: {', '.join(sorted(builtin.formats))}"
        )


def _parse_object(name: str, store: DataStore, entry: Any, *, where: str, path: str) -> DataObject:
    if entry is None:
        entry = {}
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: {path}: an object must be a mapping, got {type(entry).__name__}")
    extra_keys = object_keys_of(store)
    _check_keys(entry, _OBJECT_KEYS | extra_keys, where=where, path=path, what="object key")
    try:
        check_object_name(name, store=store.name)
    except CatalogError as exc:
        raise CatalogError(f"{where}: {path}: {exc}") from None

    def str_or_none(key: str) -> str | None:
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            raise CatalogError(f"{where}: {path}.{key}: expected a string, got {type(value).__name__}")
        return value

    def str_list(key: str) -> tuple[str, ...]:
        value = entry.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise CatalogError(f"{where}: {path}.{key}: expected a list of column names")
        if len(set(value)) != len(value):
            raise CatalogError(f"{where}: {path}.{key}: duplicate column names in {value}")
        return tuple(value)

    fmt = str_or_none("format") or store.configs.get("format")
    if fmt is not None:
        _check_format(fmt, store.interface, where=where, path=f"{path}.format")
    schema = entry.get("schema")
    if schema is not None:
        if not isinstance(schema, dict) or not schema:
            raise CatalogError(f"{where}: {path}.schema: expected a mapping of column -> type, e.g. {{id: long}}")
        for col, typ in schema.items():
            if not isinstance(typ, str) or not _TYPE_RE.match(typ.strip()):
                raise CatalogError(
                    f"{where}: {path}.schema.{col}: unknown type {typ!r}; use one of string, long, int, "
                    "short, byte, double, float, boolean, date, timestamp, timestamp_ntz, binary, decimal(p,s)"
                )
        schema = {str(k): str(v).strip().lower() for k, v in schema.items()}
    options = entry.get("options") or {}
    if not isinstance(options, dict):
        raise CatalogError(f"{where}: {path}.options: expected a mapping")
    if _checks_options(store.interface):
        options = _check_catalog_options(
            options, where=where, path=f"{path}.options", owner=f"object '{store.name}.{name}'"
        )
    obj_path = str_or_none("path")
    obj = DataObject(
        name=name,
        store=store,
        path=obj_path,
        table=str_or_none("table"),
        format=fmt,
        partition_by=str_list("partition_by"),
        keys=str_list("keys"),
        order_by=str_or_none("order_by"),
        schema=schema,
        options={**store_option_defaults(store), **options, **{k: entry[k] for k in extra_keys if k in entry}},
        description=str_or_none("description"),
        declared=True,
    )
    if schema is not None:
        missing = [c for c in obj.partition_by + obj.keys if c not in schema]
        if missing:
            raise CatalogError(f"{where}: {path}: columns {missing} are used but not in its schema")
    if obj_path is not None:
        # A store without a location yet (e.g. a warehouse) still gets a root-relative check.
        root = store.location if store.location is not None else "/"
        try:
            join_inside(root, obj_path, what=f"object {obj.full_name!r}")
        except CatalogError as exc:
            raise CatalogError(f"{where}: {path}.path: {exc}") from None
    return obj


def _checks_options(spec: InterfaceSpec) -> bool:
    builtin = BUILTINS.get(spec.kind)
    return builtin is not None and builtin.checks_options


def store_option_defaults(store: DataStore) -> dict[str, Any]:
    """The options every object of ``store`` starts from: its option-like settings, then ``options``.

    ``{interface: files, delimiter: ";", options: {compression: zstd}}`` gives
    ``{"delimiter": ";", "compression": "zstd"}``; an object's own ``options`` override them.
    """
    out: dict[str, Any] = {}
    if _checks_options(store.interface):
        out = {k: store.configs[k] for k in STORE_OPTION_KEYS if store.configs.get(k) is not None}
    return {**out, **(store.configs.get("options") or {})}


def _check_catalog_options(options: dict[Any, Any], *, where: str, path: str, owner: str) -> dict[str, Any]:
    """Catalog ``options`` checked like call options, at load: known keys (any read or write option
    of the files interface), typed values. Keys come back lower-cased, values typed."""
    for raw_key in options:
        key = str(raw_key).lower()
        if key in CALL_ONLY_OPTIONS:
            raise CatalogError(
                f"{where}: {path}.{raw_key}: option {str(raw_key)!r} of {owner} cannot be set in the catalog: "
                f"{CALL_ONLY_OPTIONS[key]}"
            )
        if key not in CATALOG_OPTIONS:
            beside = (
                f" {str(raw_key)!r} is an object key: put it beside 'options', not inside."
                if key in _OBJECT_KEYS else ""
            )
            raise CatalogError(
                f"{where}: {path}.{raw_key}: unknown option {str(raw_key)!r} for {owner}."
                f"{did_you_mean(key, CATALOG_OPTIONS)}{beside} Valid options: {', '.join(sorted(CATALOG_OPTIONS))}"
            )
    try:
        return check_options(options, CATALOG_OPTIONS, as_written=True)
    except SettingTypeError as exc:
        raise CatalogError(f"{where}: {path}.{getattr(exc, 'key', '?')}: {exc}") from None
