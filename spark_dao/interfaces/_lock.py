"""Per-object write serialisation for file datasets: a lease lock next to the object.

Why: an upsert, an overwrite and a dynamic partition overwrite *read* the object at commit (the
keys or the file listing) and then *replace* what they read. Two of them committing at once each
replace the state they read, so one update is lost or rows are duplicated. The commits that read
then replace therefore run one at a time per object; a plain append only adds files with unique
names and never removes any, so it is not serialised (any interleaving equals some serial order).

The lock is one small JSON document, ``_dao_lock.<object folder>`` in the object's parent folder
(hidden: readers and ``list()`` skip names starting with ``_``; next to the object rather than in
it, so a single-file object works too and an empty object never gains a folder just for the lock):

* **create**, atomically, only if absent: local folders ``os.link`` of a complete temp file (fails
  when the name exists, so nobody ever reads a half-written lock); S3 ``PutObject`` with
  ``If-None-Match: *`` (conditional write; boto3, the shared client of ``_s3.py``);
* **holds** owner id (a random token), host, pid, operation, since, lease and expiry: no secrets;
* **lease**: ``lock_lease`` seconds (default 60). A heartbeat thread renews it every lease/3 while
  the commit runs, with a conditional replace (S3 ``If-Match: <etag>``; local: re-read + atomic
  rename under an ``flock`` on the parent folder), so a live holder never expires and a holder
  whose renewal finds someone else's lock knows it lost it;
* **waiters** retry with jittered exponential backoff until ``lock_timeout`` seconds (default 300;
  0 = fail at once), then raise :class:`~spark_dao.errors.WriteConflict` naming the object, the
  store and the holder (owner, host, pid, operation, since, lease end). Nothing was written then;
* **takeover**: a lock whose expiry has passed (its holder died or hung) is replaced with the same
  conditional replace as a renewal: of several waiters exactly one wins; each re-reads the lock
  after writing it and owns it only if it reads its own token back;
* **fencing**: just before an upsert publishes, the holder re-reads the lock and stops with
  ``WriteConflict`` (nothing published) if it is no longer its own;
* **release**: conditional delete (S3 ``If-Match``; local under the ``flock``) of its own lock only.

Expiry compares the holder's wall clock with the waiter's: hosts must agree within lease/3 (NTP).
Stores where no atomic create exists (S3 without boto3, other pyarrow filesystems) commit without
the lock and log a warning once; the upsert's optimistic check (``files_upsert.py``) still applies.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import posixpath
import random
import shlex
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..catalog.model import DataObject, DataStore
from ..errors import DaoError, WriteConflict

log = logging.getLogger("spark_dao.lock")

LOCK_PREFIX = "_dao_lock."
#: seconds a lock stays valid without renewal (store config / write option ``lock_lease``)
DEFAULT_LEASE = 60.0
#: seconds a writer waits for the lock before ``WriteConflict`` (``lock_timeout``)
DEFAULT_TIMEOUT = 300.0
#: the shortest lease accepted: renewals every lease/3 must fit several round trips
MIN_LEASE = 0.5
#: modes whose commit reads the target and replaces what it read (see the module docstring)
SERIALISED_MODES = ("overwrite", "dynamic", "errorifexists", "ignore")

_warned: set[str] = set()


@dataclass(frozen=True)
class LockSettings:
    """``lock_timeout`` / ``lock_lease`` of a write: the write option, else the store config, else the default."""

    timeout: float = DEFAULT_TIMEOUT
    lease: float = DEFAULT_LEASE

    @classmethod
    def resolve(cls, options: Mapping[str, Any], store: DataStore, *, what: str) -> LockSettings:
        def number(key: str, default: float, minimum: float, strict: bool) -> float:
            raw = options.get(key, store.configs.get(key))
            if raw is None:
                return default
            try:
                value = float(raw)
            except (TypeError, ValueError):
                value = float("nan")
            if isinstance(raw, bool) or not (value > minimum if strict else value >= minimum):
                raise DaoError(
                    f"{what}: {key}={raw!r} must be a number of seconds "
                    f"{'above' if strict else 'of at least'} {minimum:g}"
                )
            return value

        return cls(timeout=number("lock_timeout", DEFAULT_TIMEOUT, 0.0, False),
                   lease=number("lock_lease", DEFAULT_LEASE, MIN_LEASE, False))


def needs_lock(spec: Any) -> bool:
    """Does this commit read the target and replace what it read? (upserts and the replacing modes)"""
    return spec.operation == "upsert" or spec.mode in SERIALISED_MODES


# --------------------------------------------------------------------------- the lock document
@dataclass(frozen=True)
class _Holder:
    token: str
    host: str
    pid: int
    operation: str
    since: float
    expires: float
    lease: float

    def to_bytes(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True).encode()

    @classmethod
    def parse(cls, data: bytes) -> _Holder | None:
        try:
            d = json.loads(data)
            return cls(token=str(d["token"]), host=str(d["host"]), pid=int(d["pid"]),
                       operation=str(d["operation"]), since=float(d["since"]),
                       expires=float(d["expires"]), lease=float(d["lease"]))
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        return (f"owner {self.token[:12]} on host {self.host!r} (pid {self.pid}, {self.operation}) "
                f"since {_iso(self.since)}, lease until {_iso(self.expires)}")


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


# --------------------------------------------------------------------------- storage of the document
class _Unreadable(str):
    """The version ``read()`` reports for a lock entry that exists but cannot be read (a dangling
    symbolic link, a folder, no permission): held by an unknown writer, never taken over."""


class _LocalBackend:
    """The lock as a file. Create: ``os.link`` (exclusive, the content complete before it has the name);
    every change of an existing lock happens under ``flock`` on the parent folder (released by the
    kernel if the process dies, so it can never be left held)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.folder = os.path.dirname(path)
        self.location = path
        self.remove_hint = f"rm {shlex.quote(path)}"

    def _tmp(self, data: bytes) -> str:
        tmp = f"{self.path}.{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return tmp

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # not POSIX: the re-read after every write still catches a lost race
            yield
            return
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock

    def create(self, data: bytes) -> Any:
        os.makedirs(self.folder, exist_ok=True)
        tmp = self._tmp(data)
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            return None
        finally:
            os.unlink(tmp)
        return data

    def read(self) -> tuple[bytes, Any] | None:
        """(content, version), or None when there is no lock. An entry that exists but cannot be
        read reports an :class:`_Unreadable` version (never None: that would read as "free")."""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError as exc:
            if not os.path.lexists(self.path):
                return None  # released meanwhile
            if os.path.islink(self.path) and isinstance(exc, FileNotFoundError):
                reason = f"a symbolic link to the missing {os.readlink(self.path)}"
            else:
                reason = exc.strerror or str(exc)
            return b"", _Unreadable(reason)
        return data, data

    def replace(self, data: bytes, expected: Any) -> Any:
        with self._guard():
            current = self.read()
            if current is None or current[1] != expected:
                return None
            tmp = self._tmp(data)
            try:
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
        return data

    def delete(self, expected: Any) -> bool:
        with self._guard():
            current = self.read()
            if current is None or current[1] != expected:
                return False
            os.unlink(self.path)
        return True


class _S3Backend:
    """The lock as an S3 object, changed only with conditional requests (``If-None-Match: *`` to create,
    ``If-Match: <etag>`` to renew, take over or delete): S3 itself decides which writer wins."""

    from ._s3 import CONFLICT_CODES, MISSING_CODES

    _LOST = CONFLICT_CODES | MISSING_CODES

    def __init__(self, store: DataStore, path: str, obj: DataObject) -> None:
        from ._s3 import client_for, split_location

        self.store = store
        self.bucket, self.key = split_location(path)
        self.location = f"s3://{self.bucket}/{self.key}"
        self.remove_hint = f"aws s3 rm {self.location}"
        self.whose = f"of {obj.full_name!r} (store {obj.store_name!r}) at {self.location}"
        self.client = client_for(store)

    def _call(self, action: str, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        from ._s3 import _boto_errors, s3_error

        try:
            return fn(Bucket=self.bucket, Key=self.key, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code")
                       or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
            if code in self._LOST:
                return None
            raise s3_error(self.store, f"{action} the write lock {self.whose}", self.bucket, self.key,
                           exc) from exc
        except _boto_errors() as exc:
            raise s3_error(self.store, f"{action} the write lock {self.whose}", self.bucket, self.key,
                           exc) from exc

    def create(self, data: bytes) -> Any:
        r = self._call("creating", self.client.put_object, Body=data, IfNoneMatch="*",
                       ContentType="application/json")
        return None if r is None else r["ETag"]

    def read(self) -> tuple[bytes, Any] | None:
        r = self._call("reading", self.client.get_object)
        return None if r is None else (r["Body"].read(), r["ETag"])

    def replace(self, data: bytes, expected: Any) -> Any:
        r = self._call("renewing", self.client.put_object, Body=data, IfMatch=expected,
                       ContentType="application/json")
        return None if r is None else r["ETag"]

    def delete(self, expected: Any) -> bool:
        return self._call("releasing", self.client.delete_object, IfMatch=expected) is not None


def lock_path(base: str) -> str:
    """``<parent>/_dao_lock.<name>`` for the object at ``base`` (a folder or a single file)."""
    parent, name = posixpath.split(base.rstrip("/"))
    if not parent or not name:  # an object that is a whole bucket: the lock goes inside it
        return f"{base.rstrip('/')}/{LOCK_PREFIX}root"
    return f"{parent}/{LOCK_PREFIX}{name}"


def _backend(store: DataStore, obj: DataObject, fs: Any, base: str) -> Any:
    from ._s3 import S3_SCHEMES

    if fs.type_name == "local":
        return _LocalBackend(lock_path(base))
    scheme = obj.location.partition("://")[0].lower() if "://" in obj.location else ""
    if scheme in S3_SCHEMES:
        import importlib.util

        if importlib.util.find_spec("boto3") is not None:
            return _S3Backend(store, lock_path(base), obj)
    if obj.location not in _warned:
        _warned.add(obj.location)
        log.warning("%s (store %r): no atomic create on %s (S3 needs boto3: pip install 'spark-dao[s3]'); "
                    "commits are not serialised, only the upsert's optimistic check applies",
                    obj.full_name, obj.store_name, obj.location)
    return None


# --------------------------------------------------------------------------- the lock
class ObjectLock:
    """The write lock of one object, held for one commit.

    >>> with ObjectLock.acquire(store, dao.catalog.object("silver.users"), fs, base,   # doctest: +SKIP
    ...                         LockSettings(), operation="upsert", what="upsert into 'silver.users'"):
    ...     ...  # read the keys, rewrite, publish
    """

    def __init__(self, backend: Any, obj: DataObject, settings: LockSettings, *, operation: str, what: str) -> None:
        self.backend = backend
        self.obj = obj
        self.settings = settings
        self.operation = operation
        self.what = what
        self.token = uuid.uuid4().hex
        self._since = time.time()
        self._data: bytes | None = None
        self._version: Any = None
        self._lost: str | None = None
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- acquiring
    @classmethod
    def acquire(cls, store: DataStore, obj: DataObject, fs: Any, base: str, settings: LockSettings, *,
                operation: str, what: str) -> ObjectLock | None:
        """Wait for the object's lock (None where the store has no atomic create: see the module doc)."""
        backend = _backend(store, obj, fs, base)
        if backend is None:
            return None
        lock = cls(backend, obj, settings, operation=operation, what=what)
        lock._acquire()
        return lock

    def _record(self) -> bytes:
        return _Holder(token=self.token, host=socket.gethostname(), pid=os.getpid(), operation=self.operation,
                       since=self._since, expires=time.time() + self.settings.lease,
                       lease=self.settings.lease).to_bytes()

    def _owned(self, data: bytes, version: Any) -> bool:
        """Read back what was just written: ours only if our token is there (a store that ignored the
        condition, or a waiter that wrote after us, shows up here)."""
        current = self.backend.read()
        if current is None or current[0] != data:
            return False
        self._data, self._version = data, version
        return True

    def _acquire(self) -> None:
        start = time.monotonic()
        deadline = start + self.settings.timeout
        delay = 0.02
        max_delay = max(0.05, min(2.0, self.settings.lease / 4))
        unknown_since: dict[Any, float] = {}
        retried_gone = False
        while True:
            data = self._record()
            version = self.backend.create(data)
            if version is not None and self._owned(data, version):
                break
            current = self.backend.read()
            holder: _Holder | None = None
            unreadable: str | None = None
            if current is None:  # released meanwhile: try again at once, the first time
                if not retried_gone:
                    retried_gone = True
                    continue
            else:
                raw, version = current
                if isinstance(version, _Unreadable):  # held by nobody we can name: wait, never take over
                    unreadable, expired = str(version), False
                else:
                    holder = _Holder.parse(raw)
                    if holder is not None:
                        expired = time.time() > holder.expires
                    else:  # not our format: expired once it stayed unchanged for a whole lease on our clock
                        unreadable = "not a spark_dao lock, or damaged"
                        first = unknown_since.setdefault(version, time.monotonic())
                        expired = time.monotonic() - first > self.settings.lease
                if expired:
                    data = self._record()
                    replaced = self.backend.replace(data, version)
                    if replaced is not None and self._owned(data, replaced):
                        log.warning("%s: took over the write lock %s of an expired holder: %s", self.what,
                                    self.backend.location, holder.describe() if holder else "unreadable lock")
                        break
            # every failed attempt checks the deadline and backs off: an entry that can never be
            # created nor read (a dangling symlink, a lock that keeps vanishing) must not spin
            now = time.monotonic()
            if now >= deadline:
                raise self._timeout(now - start, holder, unreadable)
            pause = delay * random.uniform(0.5, 1.0)
            if holder is not None:  # no point polling long past the lease end
                pause = min(pause, max(0.01, holder.expires - time.time() + 0.01))
            time.sleep(max(0.0, min(pause, deadline - now)))
            delay = min(delay * 2, max_delay)
        waited = time.monotonic() - start
        if waited > 1:
            log.info("%s: got the write lock after waiting %.1fs", self.what, waited)
        self._thread = threading.Thread(target=self._heartbeat, name="spark_dao_lock", daemon=True)
        self._thread.start()

    def _timeout(self, waited: float, holder: _Holder | None, unreadable: str | None) -> WriteConflict:
        where = f"{self.what}: object {self.obj.full_name!r} (store {self.obj.store_name!r})"
        waited_msg = (f"Waited {waited:.1f}s (lock_timeout={self.settings.timeout:g}); nothing was written.")
        if unreadable is not None:
            takeover = (f" A damaged lock left unchanged for lock_lease={self.settings.lease:g}s is taken over."
                        if unreadable.startswith("not a spark_dao lock") else "")
            return WriteConflict(
                f"{where} cannot take the write lock: the lock {self.backend.location} is unreadable "
                f"({unreadable}), so who holds it is unknown. {waited_msg}{takeover} If no other writer of "
                f"this object is running, remove it: {self.backend.remove_hint}"
            )
        who = (holder.describe() if holder is not None
               else "an unknown writer (the lock existed when creating it and was gone when reading it)")
        return WriteConflict(
            f"{where} is being written by another writer: the lock {self.backend.location} is held by {who}. "
            f"{waited_msg} Retry later or raise lock_timeout; a holder that died is taken over when its "
            "lease ends."
        )

    # ---- holding
    def _heartbeat(self) -> None:
        every = self.settings.lease / 3
        while not self._stop.wait(every):
            with self._mutex:
                if self._stop.is_set() or self._lost:
                    return
                data = self._record()
                try:
                    version = self.backend.replace(data, self._version)
                except Exception as exc:  # a network error: try again at the next beat, the lease still runs
                    log.warning("%s: could not renew the write lock %s: %s", self.what, self.backend.location, exc)
                    continue
                if version is None:
                    self._lost = "another writer replaced it (this commit's lease had expired)"
                    log.error("%s: lost the write lock %s: %s", self.what, self.backend.location, self._lost)
                    return
                self._data, self._version = data, version

    def check(self) -> None:
        """Raise :class:`WriteConflict` unless the lock is still ours (call just before publishing)."""
        with self._mutex:
            current = self.backend.read()
            if self._lost is None and (current is None or current[0] != self._data):
                self._lost = "it was taken over or removed (this commit's lease had expired)"
            if self._lost:
                raise WriteConflict(
                    f"{self.what}: object {self.obj.full_name!r} (store {self.obj.store_name!r}): lost the write "
                    f"lock {self.backend.location}: {self._lost}; nothing was published. Raise lock_lease if "
                    "commits stall longer than the lease."
                )

    def release(self) -> None:
        """Stop renewing and delete the lock if it is still ours (never someone else's)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._mutex:
            try:
                if not self._lost and not self.backend.delete(self._version):
                    log.warning("%s: the write lock %s was no longer ours at release", self.what,
                                self.backend.location)
            except Exception as exc:  # the commit is done: an undeleted lock only expires later
                log.warning("%s: could not release the write lock %s (it expires after %gs): %s", self.what,
                            self.backend.location, self.settings.lease, exc)

    def __enter__(self) -> ObjectLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def acquire_for_commit(store: DataStore, obj: DataObject, fs: Any, base: str, spec: Any) -> ObjectLock | None:
    """The lock a commit of ``spec`` holds, acquired (None for appends and stores without atomic create).

    The caller releases it after publishing: ``try: ... finally: lock.release()``.
    """
    if not needs_lock(spec):
        return None
    settings = spec.options.get("lock") or LockSettings.resolve({}, store, what=f"writing {obj.full_name!r}")
    operation = "upsert" if spec.operation == "upsert" else spec.mode
    what = (f"upsert into {obj.full_name!r}" if spec.operation == "upsert"
            else f"writing {obj.full_name!r} (mode {spec.mode!r})")
    return ObjectLock.acquire(store, obj, fs, base, settings, operation=operation, what=what)


__all__ = ["LockSettings", "ObjectLock", "acquire_for_commit", "lock_path", "needs_lock"]
