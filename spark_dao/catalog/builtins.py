"""The registry of built-in interfaces, as plain strings (no imports here).

Short names (``files``, ``objects``, ``delta``, ``redshift``) and the class names used in the
user's original documents (``S3SparkInterface``, ``S3Boto3Interface``, ``RedshiftSparkInterface``, ...)
map to a lazily imported ``module:Class`` target plus the extra that provides its libraries.
Third-party interfaces register under the entry-point group ``spark_dao.interfaces``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

ENTRY_POINT_GROUP = "spark_dao.interfaces"

_LOCATION_KEYS = frozenset({"path", "root", "base_path", "bucket", "bucket_name", "prefix"})
_S3_KEYS = frozenset(
    {
        "endpoint_url",
        "region",
        "access_key",
        "secret_key",
        "session_token",
        "profile",
        "storage_options",
        "path_style",
        "max_attempts",
        "connect_timeout",
        "request_timeout",
    }
)


@dataclass(frozen=True)
class BuiltinInterface:
    name: str
    target: str  # "module:Class"
    extra: str | None  # pip extra that provides its libraries
    config_keys: frozenset[str]
    formats: frozenset[str] = frozenset()
    #: interfaces that exist only as a catalog name so far (a later release builds them)
    available: bool = True
    #: object ``options`` are validated at load against ``settings.CATALOG_OPTIONS`` (the files
    #: interface's read and write options); other interfaces check their own options when called
    checks_options: bool = False
    #: object keys of this interface beside the common ones (``table``, ``keys``...): the loader
    #: accepts them on the interface's objects and passes them on in the object's ``options``
    object_keys: frozenset[str] = frozenset()


BUILTINS: dict[str, BuiltinInterface] = {
    "files": BuiltinInterface(
        "files",
        "spark_dao.interfaces.files:FilesInterface",
        None,
        _LOCATION_KEYS
        | _S3_KEYS
        | {"format", "options", "max_rows_per_file", "compression", "header", "delimiter", "s3_commit",
           "max_concurrency", "lock_timeout", "lock_lease", "stale_staging_hours", "engine_path"},
        formats=frozenset({"parquet", "csv", "json"}),
        checks_options=True,
    ),
    "objects": BuiltinInterface(
        "objects",
        "spark_dao.interfaces.objects:ObjectsInterface",
        "s3",
        _LOCATION_KEYS | _S3_KEYS | {"format", "options", "multipart_threshold", "max_concurrency", "s3_commit"},
        formats=frozenset({"parquet", "csv", "json"}),
        available=True,
        checks_options=True,
    ),
    "delta": BuiltinInterface(
        "delta",
        "spark_dao.interfaces.delta:DeltaInterface",
        "delta",
        _LOCATION_KEYS | _S3_KEYS | {"format", "options", "engine_path"},
        formats=frozenset({"delta", "parquet"}),  # parquet: the data files (a one-line switch from files)
    ),
    "redshift": BuiltinInterface(
        "redshift",
        "spark_dao.interfaces.redshift:RedshiftInterface",
        "redshift",
        frozenset(
            {
                "host",
                "port",
                "user",
                "password",
                "database",
                "db_schema",
                "schema",
                "s3_temp_dir",
                "iam_role_arn",
                "ssl",
                "iam",
                "cluster_identifier",
                "db_user",
                "temp_store",
                "timeout",
                "options",
                "format",
            }
        )
        | _S3_KEYS,
        object_keys=frozenset({"dist_key", "dist_style", "sort_key", "column_types", "query"}),
    ),
}

#: Class names from the user's documents and obvious spellings -> built-in short name.
CLASS_ALIASES: dict[str, str] = {
    "FilesInterface": "files",
    "LocalInterface": "files",
    "LocalFilesInterface": "files",
    "S3SparkInterface": "files",
    "S3PandasInterface": "files",
    "S3FilesInterface": "files",
    "SparkInterface": "files",
    "PandasInterface": "files",
    "ObjectsInterface": "objects",
    "S3Boto3Interface": "objects",
    "S3ObjectsInterface": "objects",
    "LocalObjectsInterface": "objects",
    "DeltaInterface": "delta",
    "DeltaSparkInterface": "delta",
    "DeltaLakeInterface": "delta",
    "RedshiftInterface": "redshift",
    "RedshiftSparkInterface": "redshift",
    "RedshiftPandasInterface": "redshift",
}

#: ``interface_class_location`` packages (and their sub-modules) that mean "the built-in one":
#: the seed's module layout (``interface_classes.s3.spark``), its library ``dao``, and this package.
BUILTIN_LOCATION_PREFIXES = ("interface_classes", "spark_dao.interfaces", "dao")


@lru_cache(maxsize=1)
def entry_point_names() -> dict[str, str]:
    """Third-party interfaces: entry-point name -> ``module:Class`` (no import happens)."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def all_interface_names() -> list[str]:
    return sorted(set(BUILTINS) | set(CLASS_ALIASES) | set(entry_point_names()))
