"""Raw objects — files kept exactly as received — in an S3 bucket prefix or a local folder.

The seed's ``S3Boto3Interface``: bronze ingestion of CSV exports, JSON logs, any bytes::

    itf = get_interface(catalog.store("bronze"))
    with open("users.csv", "rb") as f:
        itf.put(catalog.get("bronze.users_raw"), f, path="s3://my-company-bronze/users_raw/2025-01-07/")
    itf.list(catalog.get("bronze.users_raw"))        # [ObjectInfo(key='2025-01-07/users.csv', ...)]

Keys are relative to the object's location (``<store location>/<object path or name>``), the same
on both kinds of store: ``s3://bucket/prefix`` (boto3) and an absolute local folder. Every key,
``path`` and ``prefix`` must stay inside the object's location; anything else raises
:class:`~spark_dao.errors.DaoError` before a byte is written.

Guarantees:

* S3 uploads are managed transfers (multipart above ``multipart_threshold``, default 64 MB, parts in
  parallel up to ``max_concurrency``), each part sent with a SHA-256 checksum that S3 verifies; the
  stored size is compared with the bytes sent afterwards, and a mismatching object is removed.
  A single S3 PUT (or a completed multipart upload) is atomic: readers see the old object or the
  new one, never a partial one.
* Local writes go to a hidden temporary file next to the target and are renamed into place (atomic
  on one filesystem); a failed write leaves the target as it was.
* Transient S3 errors (throttling, 5xx, dropped connections) are retried with exponential backoff
  (store configs ``max_attempts``, ``connect_timeout``, ``request_timeout``, so nothing hangs); a persistent failure raises
  :class:`DaoError` naming the object, store, bucket and key.

Tabular reads and writes (``dao.read("bronze.users_raw", format="csv")``) use the files interface's
Arrow contract: :class:`ObjectsInterface` holds a :class:`~spark_dao.interfaces.files.FilesInterface`
of the same store (``itf.files``) and hands those calls to it; it is not a ``FilesInterface``, whose
``exists``/``delete`` mean something else (see :meth:`ObjectsInterface.exists`).

This module holds :class:`ObjectsInterface` and the names other modules and tests import from here;
it is composed from:

* ``_objects_backend.py``: :class:`ObjectInfo`, the ``_Backend`` operations every kind of location
  implements, what ``put`` accepts (``_source``) and the progress line of big transfers;
* ``_objects_local.py``: ``_LocalBackend``, a local folder;
* ``_objects_s3.py``: ``_S3Backend``, an S3 bucket prefix with boto3.
"""

from __future__ import annotations

import logging
import os
import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..catalog.model import DataObject, DataStore, is_uri, join_inside
from ..errors import CatalogError, DaoError
from ._fs import _wrap_io
from ._layout import STAGING
from ._objects_backend import ObjectInfo, _Backend, _Progress, _source, _walk_files
from ._objects_local import _LocalBackend
from ._objects_s3 import _S3Backend
from ._s3 import _cached_client, _client_settings, _transfer_settings
from ._s3settings import S3_SCHEMES as _S3_SCHEMES
from .base import BaseInterface, PartitionFilter, ReadPlan, ReadTask, StagedPart, WriteResult, WriteSpec
from .files import FilesInterface, _list_files

if TYPE_CHECKING:
    import pyarrow as pa

#: names other modules and tests import from here. The backends' tunables (``PROGRESS_MIN_BYTES``,
#: ``LIST_PAGE_SIZE``, ``DELETE_BATCH``, ...) are not: patch them where they are read, in
#: ``_objects_backend`` and ``_objects_s3``.
__all__ = [
    "ObjectInfo", "ObjectsInterface", "_LocalBackend", "_Progress", "_S3Backend", "_backend", "_cached_client",
    "_client_settings", "_transfer_settings",
]

log = logging.getLogger("spark_dao.objects")


#: file name endings -> the format the files interface reads them as
_FORMAT_BY_SUFFIX = {".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json", ".parquet": "parquet",
                     ".pq": "parquet"}
#: compressions pyarrow detects when reading csv and json (``users.csv.gz`` is csv)
_COMPRESSED = (".gz", ".bz2", ".zst", ".lz4")


def _suffix(name: str) -> str:
    name = posixpath.basename(name).lower()
    for ending in _COMPRESSED:
        if name.endswith(ending):
            inner = posixpath.splitext(name[: -len(ending)])[1]
            return inner if _FORMAT_BY_SUFFIX.get(inner) in ("csv", "json") else ending  # no gzipped parquet
    return posixpath.splitext(name)[1]


# --------------------------------------------------------------------------- backends of a location
def _same_place(a: _Backend, b: _Backend) -> bool:
    """Equal URIs name the same file: both local, or both S3 behind the same endpoint."""
    if isinstance(a, _S3Backend) and isinstance(b, _S3Backend):
        return a.store.configs.get("endpoint_url") == b.store.configs.get("endpoint_url")
    return isinstance(a, _LocalBackend) and isinstance(b, _LocalBackend)


def _backend(store: DataStore, location: str, what: str) -> _Backend:
    """The backend of ``location``: S3 for ``s3``/``s3a``/``s3n`` URIs, a local folder otherwise."""
    if is_uri(location):
        scheme, _, rest = location.partition("://")
        if scheme.lower() in _S3_SCHEMES:
            return _S3Backend(store, location, what)
        if scheme.lower() == "file":
            return _LocalBackend(store, "/" + rest.lstrip("/"), what)
        raise DaoError(
            f"{what} (store {store.name!r}): the objects interface handles s3:// locations and local "
            f"folders, not {scheme}:// ({location})"
        )
    return _LocalBackend(store, location, what)


# --------------------------------------------------------------------------- the interface
class ObjectsInterface(BaseInterface):
    """Raw files of a store — upload as received, list, fetch, copy, delete — on S3 or a local folder.

    >>> itf = get_interface(catalog.store("bronze"))                                   # doctest: +SKIP
    >>> users_raw = catalog.get("bronze.users_raw")                                    # doctest: +SKIP
    >>> with open("users.csv", "rb") as f:                                             # doctest: +SKIP
    ...     itf.put(users_raw, f, path="s3://my-company-bronze/users_raw/2025-01-07/")
    >>> [i.key for i in itf.list(users_raw)]                                           # doctest: +SKIP
    ['2025-01-07/users.csv']

    Holds only the (picklable) store and ``files``, the :class:`FilesInterface` of the same store;
    boto3 clients are made inside each call, cached per process. Tabular reads and writes of the
    same files (``dao.read("bronze.users_raw", format="csv")``) are handed to ``files``.
    """

    def __init__(self, store: DataStore) -> None:
        super().__init__(store)
        #: the Arrow contract (plan_read, read, prepare_write, stage, commit, abort, ...) on this store
        self.files = FilesInterface(store)

    @classmethod
    def from_store(cls, store: DataStore) -> ObjectsInterface:
        return cls(store)

    def __repr__(self) -> str:
        return f"ObjectsInterface(store={self.store.name!r}, location={self.store.location!r})"

    # ------------------------------------------------------------------ tables (the files interface)
    # The Arrow contract the engines call on a store's interface, handed to ``self.files``. Not
    # here: ``exists``/``delete`` (the raw-file meaning below) and ``list_objects`` (this store's
    # folders, listed by the backend).
    def plan_read(
        self, obj: DataObject, options: Mapping[str, Any], filters: Iterable[PartitionFilter] = ()
    ) -> ReadPlan:
        """Plan a tabular read of the object's files: :meth:`FilesInterface.plan_read`.

        >>> dao.read(data_object=users_raw)        # 2025-01-07/users.csv, ... -> read as csv  # doctest: +SKIP

        Raw files arrive in any format, so with no ``format`` in the call or the catalog the files'
        names decide (``.csv``, ``.json``/``.jsonl``/``.ndjson``, ``.parquet``; also compressed,
        ``users.csv.gz``) rather than the files interface's default, parquet.
        """
        if not obj.format and not any(str(k).lower() == "format" and v for k, v in options.items()):
            fmt = self._format_of_files(obj)
            if fmt is not None:
                obj = obj.with_(format=fmt)
        return self.files.plan_read(obj, options, filters)

    def _format_of_files(self, obj: DataObject) -> str | None:
        """The one format the object's file names say, None when it has no files (the files
        interface then says what is missing); a DaoError for mixed or unknown endings."""
        fs, base = self.files._where(obj)
        kinds: dict[str, list[str]] = {}
        for rel, _ in _list_files(fs, base):
            name = rel or posixpath.basename(base)
            kinds.setdefault(_FORMAT_BY_SUFFIX.get(_suffix(name), "unknown"), []).append(name)
        if len(kinds) == 1 and "unknown" not in kinds:
            return next(iter(kinds))
        if not kinds:
            return None
        found = "; ".join(
            f"{len(names)} {kind} ({', '.join(names[:2])}{', ...' if len(names) > 2 else ''})"
            for kind, names in sorted(kinds.items())
        )
        what = "the file names do not say it" if list(kinds) == ["unknown"] else "its files are of several kinds"
        raise DaoError(
            f"reading object {obj.full_name!r} (store {obj.store_name!r}) at {obj.location}: no format given "
            f"and {what}: {found}. Pass the format, e.g. dao.read({obj.full_name!r}, format='csv') "
            "(csv, json or parquet), with path= to read one kind of file, or set 'format' on the object "
            "in the catalog"
        )

    def read(self, task: ReadTask) -> Iterator[pa.RecordBatch]:
        """Read one task of a plan: :meth:`FilesInterface.read`."""
        return self.files.read(task)

    def prepare_write(self, obj: DataObject, schema: pa.Schema, options: Mapping[str, Any]) -> WriteSpec:
        """Resolve a tabular write's options: :meth:`FilesInterface.prepare_write`."""
        return self.files.prepare_write(obj, schema, options)

    def start_job(self, obj: DataObject, spec: WriteSpec, job_id: str) -> WriteSpec:
        """Mark a Spark job live before its tasks run: :meth:`FilesInterface.start_job`."""
        return self.files.start_job(obj, spec, job_id)

    def stage(
        self, obj: DataObject, batches: Iterable[pa.RecordBatch], spec: WriteSpec, job_id: str
    ) -> StagedPart:
        """Write batches invisibly: :meth:`FilesInterface.stage`."""
        return self.files.stage(obj, batches, spec, job_id)

    def commit(self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec) -> WriteResult:
        """Make staged files visible: :meth:`FilesInterface.commit`."""
        return self.files.commit(obj, parts, spec)

    def abort(
        self, obj: DataObject, parts: list[StagedPart], spec: WriteSpec | None = None, *,
        job_id: str | None = None,
    ) -> None:
        """Remove what a failed job staged: :meth:`FilesInterface.abort`."""
        self.files.abort(obj, parts, spec, job_id=job_id)

    def cleanup(self, obj: DataObject, *, older_than: float | None = None) -> list[str]:
        """Remove the staging of dead tabular writes (``dao.cleanup``): :meth:`FilesInterface.cleanup`."""
        return self.files.cleanup(obj, older_than=older_than)

    # ------------------------------------------------------------------ helpers
    def _store_of(self, obj: DataObject) -> DataStore:
        return obj.store if isinstance(obj.store, DataStore) else self.store

    def _open(self, obj: DataObject) -> _Backend:
        # obj.location raises CatalogError (a DaoError) for a store without a location
        return _backend(self._store_of(obj), obj.location, f"object {obj.full_name!r}")

    def _rel(
        self, obj: DataObject, backend: _Backend, path: str, *, what: str, allow_root: bool = False
    ) -> str:
        """``path`` (relative, or a URI / absolute path inside the object) as a key relative to ``obj``."""
        if not isinstance(path, str):
            raise DaoError(f"{what} {obj.full_name!r}: expected a string key, got {type(path).__name__}")
        try:
            full = join_inside(backend.location, path, what=f"object {obj.full_name!r}")
        except CatalogError as exc:
            raise DaoError(
                f"{what} object {obj.full_name!r} (store {obj.store_name!r}): path {path!r} is not inside "
                f"the object's location {backend.location}; use a key relative to it (without '..') or a "
                "location under it"
            ) from exc
        rel = full[len(backend.location.rstrip("/")) :].strip("/")
        if not rel and not allow_root:
            raise DaoError(
                f"{what} object {obj.full_name!r} (store {obj.store_name!r}): path {path!r} names the "
                "object's folder itself; give a file name"
            )
        return rel

    def _put_key(
        self, obj: DataObject, backend: _Backend, name: str | None, path: str | None, default: str | None
    ) -> str:
        what = "writing to"
        if name is not None:
            name_rel = self._rel(obj, backend, name, what=what)
            if path is None:
                return name_rel
            folder = self._rel(obj, backend, path, what=what, allow_root=True)
            return self._rel(obj, backend, f"{folder}/{name_rel}" if folder else name_rel, what=what)
        if path is None:
            if default is None:
                raise DaoError(
                    f"writing to object {obj.full_name!r} (store {obj.store_name!r}): the data has no file "
                    "name; pass name='users.csv' or a path ending with the file name"
                )
            return self._rel(obj, backend, default, what=what)
        rel = self._rel(obj, backend, path, what=what, allow_root=True)
        # Like `cp`: a path ending with '/', the object's own folder or an existing folder receives
        # the file under its own name; any other path is the full key.
        if path.endswith("/") or not rel or (default is not None and backend.is_folder(rel)):
            if default is None:
                raise DaoError(
                    f"writing to object {obj.full_name!r} (store {obj.store_name!r}): path {path!r} is a "
                    "folder and the data has no file name; pass name='users.csv'"
                )
            return self._rel(obj, backend, f"{rel}/{default}" if rel else default, what=what)
        return rel

    # ------------------------------------------------------------------ writing
    @_wrap_io("writing to")
    def put(
        self, obj: DataObject, data: Any, name: str | None = None, *, path: str | None = None
    ) -> ObjectInfo:
        """Upload one file as-is: bytes, a binary file object or a local file path.

        >>> itf.put(users_raw, open("users.csv", "rb"), path="2025-01-07/")            # doctest: +SKIP
        ObjectInfo(key='2025-01-07/users.csv', size=1234, ...)

        ``name`` defaults to the file's own name. ``path`` is a sub-folder of the object (ending
        with ``/``, or an existing folder), a full key, or a location inside the object such as
        ``s3://my-company-bronze/users_raw/2025-01-07/``. A key outside the object's location is a
        :class:`DaoError` and nothing is written. Atomic per file (see the module docstring).
        """
        backend = self._open(obj)
        source = _source(data, what=f"writing to object {obj.full_name!r} (store {obj.store_name!r})")
        rel = self._put_key(obj, backend, name, path, source.default_name)
        if source.file is not None:
            info = backend.put_file(rel, source.file)
        else:
            assert source.stream is not None
            info = backend.put_stream(rel, source.stream, source.size)
        log.info("put %s (%d bytes) into %s", info.location, info.size, obj.full_name)
        return info

    @_wrap_io("writing to")
    def put_folder(
        self, obj: DataObject, local_dir: str | os.PathLike[str], *, path: str | None = None
    ) -> list[ObjectInfo]:
        """Upload every file under ``local_dir``, keeping sub-folders: keys are ``<path>/<relative path>``.

        >>> itf.put_folder(events_raw, "exports/2025-01-07", path="2025-01-07/")      # doctest: +SKIP

        Every key is checked before the first upload. Small files go up in parallel
        (``max_concurrency``); each file is atomic, the folder as a whole is not.
        """
        backend = self._open(obj)
        root = os.fspath(local_dir)
        if not os.path.isdir(root):
            raise DaoError(
                f"writing to object {obj.full_name!r} (store {obj.store_name!r}): {root!r} is not a local folder"
            )
        folder = self._rel(obj, backend, path, what="writing to", allow_root=True) if path is not None else ""
        jobs = [
            (self._rel(obj, backend, f"{folder}/{rel}" if folder else rel, what="writing to"), full)
            for rel, full in _walk_files(root)
        ]
        threshold = _transfer_settings(self._store_of(obj)).threshold
        small = [job for job in jobs if os.path.getsize(job[1]) < threshold]
        large = [job for job in jobs if os.path.getsize(job[1]) >= threshold]
        # the small files together get one progress bar (on a terminal, when big); a large one has its own
        progress = _Progress(f"uploading {len(small)} files from {root}", sum(os.path.getsize(f) for _, f in small))

        def put_small(rel: str, full: str) -> ObjectInfo:
            info = backend.put_file(rel, full)
            progress(info.size)
            return info

        try:
            results = dict(self._parallel(obj, put_small, small))
        finally:
            progress.close()
        for rel, full in large:  # each is already uploaded in parallel parts
            results[rel] = backend.put_file(rel, full)
        log.info("put %d files from %s into %s", len(jobs), root, obj.full_name)
        return [results[rel] for rel, _ in jobs]

    def _parallel(
        self, obj: DataObject, fn: Callable[[str, str], Any], jobs: list[tuple[str, str]]
    ) -> list[tuple[str, Any]]:
        if len(jobs) <= 1:
            return [(rel, fn(rel, other)) for rel, other in jobs]
        workers = min(len(jobs), _transfer_settings(self._store_of(obj)).concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spark_dao_objects") as pool:
            return list(zip([rel for rel, _ in jobs], pool.map(lambda job: fn(*job), jobs), strict=True))

    # ------------------------------------------------------------------ reading
    @_wrap_io("reading")
    def get(self, obj: DataObject, name: str) -> bytes:
        """The content of one file: ``itf.get(users_raw, "2025-01-07/users.csv")``.

        Missing file: :class:`~spark_dao.errors.ObjectNotFound`.
        """
        backend = self._open(obj)
        return backend.get(self._rel(obj, backend, name, what="reading"))

    @_wrap_io("downloading from")
    def download(self, obj: DataObject, name: str, dest: str | os.PathLike[str]) -> Path:
        """Save one file locally; ``dest`` is a file path or an existing folder. Returns the file's path.

        >>> itf.download(users_raw, "2025-01-07/users.csv", "/tmp/in/")             # doctest: +SKIP
        """
        backend = self._open(obj)
        rel = self._rel(obj, backend, name, what="downloading")
        target = Path(dest)
        if target.is_dir() or str(dest).endswith(("/", os.sep)):
            target = target / posixpath.basename(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        backend.download(rel, str(target))
        return target

    @_wrap_io("downloading from")
    def download_folder(
        self, obj: DataObject, dest: str | os.PathLike[str], *, prefix: str | None = None
    ) -> list[Path]:
        """Save every file of the object (or those whose key starts with ``prefix``) under ``dest``.

        >>> itf.download_folder(users_raw, "/tmp/users_raw", prefix="2025-01-")      # doctest: +SKIP
        """
        backend = self._open(obj)
        root = Path(dest).resolve()
        jobs: list[tuple[str, str]] = []
        for info in self.list(obj, prefix):
            target = (root / info.key).resolve()
            if root not in target.parents:  # a key like "a/../../x" must not write outside dest
                raise DaoError(
                    f"downloading object {obj.full_name!r} (store {obj.store_name!r}): key {info.key!r} "
                    f"would be written outside {root}"
                )
            jobs.append((info.key, str(target)))

        def fetch(rel: str, target: str) -> Path:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            backend.download(rel, target)
            return Path(target)

        return [path for _, path in self._parallel(obj, fetch, jobs)]

    @_wrap_io("listing")
    def list(self, obj: DataObject, prefix: str | None = None) -> list[ObjectInfo]:
        """Every file of the object, sorted by key; ``prefix`` keeps keys starting with it.

        >>> [i.key for i in itf.list(users_raw, prefix="2025-01-07/")]                # doctest: +SKIP
        ['2025-01-07/users.csv']
        """
        backend = self._open(obj)
        if prefix:
            clean = self._rel(obj, backend, prefix, what="listing", allow_root=True)
            # keep a trailing '/' (folder) and partial names ("2025-01-") as given
            if prefix.endswith("/") and clean:
                clean += "/"
            prefix = clean
        return backend.list(prefix or "")

    @_wrap_io("checking")
    def info(self, obj: DataObject, name: str) -> ObjectInfo | None:
        """Size and modification time of one file, or None when it does not exist."""
        backend = self._open(obj)
        return backend.info(self._rel(obj, backend, name, what="checking"))

    # ------------------------------------------------------------------ management
    @_wrap_io("checking")
    def exists(self, obj: DataObject, name: str | None = None) -> bool:
        """True when the object holds any file (``name=None``), or when file/folder ``name`` exists."""
        backend = self._open(obj)
        rel = "" if name is None else self._rel(obj, backend, name, what="checking")
        if rel:
            return backend.has(rel)
        if not backend.has(""):
            return False
        # the whole object: a table write still staging (hidden ``_dao_staging/``) is not data yet
        return any(info.key.split("/", 1)[0] != STAGING for info in backend.list(""))

    @_wrap_io("deleting")
    def delete(self, obj: DataObject, name: str | None = None) -> bool:
        """Remove file/folder ``name``, or everything under the object; False when there was nothing.

        Not atomic for folders: a failure part-way leaves the files not yet deleted.
        """
        backend = self._open(obj)
        rel = "" if name is None else self._rel(obj, backend, name, what="deleting")
        removed = backend.remove(rel)
        if removed:
            log.info("deleted %d files of %s%s", removed, obj.full_name, f" under {rel!r}" if rel else "")
        return bool(removed)

    @_wrap_io("copying")
    def copy(
        self, obj: DataObject, name: str, dest_obj: DataObject, dest_name: str | None = None
    ) -> ObjectInfo:
        """Copy one file to another object (any store); server-side when both are on the same S3 account.

        >>> itf.copy(users_raw, "2025-01-07/users.csv", archive, "users/2025-01-07.csv")  # doctest: +SKIP
        """
        src = self._open(obj)
        src_rel = self._rel(obj, src, name, what="copying from")
        dst = self._open(dest_obj)
        rel = self._rel(dest_obj, dst, dest_name if dest_name is not None else src_rel, what="copying to")
        if src.uri(src_rel) == dst.uri(rel) and _same_place(src, dst):
            info = src.info(src_rel)  # a file copied onto itself: nothing to do
            if info is None:
                raise src.missing(src_rel)
            return info
        info = dst.copy_here(src, src_rel, rel)
        if info is None:
            with src.open(src_rel) as (stream, size):
                info = dst.put_stream(rel, stream, size)
        log.info("copied %s to %s", src.uri(src_rel), info.location)
        return info

    @_wrap_io("moving")
    def move(
        self, obj: DataObject, name: str, dest_obj: DataObject, dest_name: str | None = None
    ) -> ObjectInfo:
        """Copy one file, then delete the original (not atomic: a failed delete leaves both copies)."""
        src = self._open(obj)
        src_uri = src.uri(self._rel(obj, src, name, what="moving"))
        info = self.copy(obj, name, dest_obj, dest_name)
        if info.location != src_uri:  # moving a file onto itself must not delete it
            self.delete(obj, name)
        return info

    def list_objects(self) -> list[str]:
        """Names of the top-level folders in the store's location (one per data object)."""
        root = self.store.location
        if root is None:
            return []
        return _backend(self.store, root, f"store {self.store.name!r}").folders()
