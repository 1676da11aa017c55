"""Concurrent writers on one files object (issue 7, finding 13), local folders and S3 (moto).

Upserts, overwrites and dynamic overwrites serialise on the object's lease lock; the upsert also
re-checks the files it read before publishing; a failed upsert rolls back what it published.
Writers run as separate processes (spawn) and as threads; every test asserts on the data.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from spark_dao import DaoError, DataAccessObject, WriteConflict
from spark_dao.interfaces import files as files_mod

SPAWN = multiprocessing.get_context("spawn")
NAME = "silver.users"
#: short leases and timeouts keep the tests quick; a live holder renews every lease/3
FAST = {"lock_lease": 1.5, "lock_timeout": 60}


# --------------------------------------------------------------------------- catalogs and data
def local_catalog(tmp_path: Path) -> dict:
    return {
        "stores": {"silver": {"interface": "files", "path": str(tmp_path / "silver")}},
        "objects": {NAME: {"keys": ["id"], "order_by": "ts"}},
    }


def s3_catalog(endpoint: str, bucket: str) -> dict:
    return {
        "stores": {"silver": {"interface": "files", "bucket": bucket, "prefix": "lake", "endpoint_url": endpoint,
                              "region": "us-east-1", "access_key": "testing", "secret_key": "testing"}},
        "objects": {NAME: {"keys": ["id"], "order_by": "ts"}},
    }


@pytest.fixture(params=["local", "s3"])
def catalog(request, tmp_path) -> dict:
    if request.param == "local":
        return local_catalog(tmp_path)
    endpoint = request.getfixturevalue("s3_server")
    return s3_catalog(endpoint, request.getfixturevalue("s3_bucket"))


BASE_IDS = 120


def base_rows() -> dict[str, list]:
    return {"id": list(range(BASE_IDS)), "v": ["base"] * BASE_IDS, "ts": [0] * BASE_IDS}


def seed(dao: DataAccessObject) -> None:
    dao.write(pa.table(base_rows()), NAME, mode="overwrite", options={"max_rows_per_file": 30})


def rows_of(dao: DataAccessObject) -> list[tuple]:
    t = dao.read(NAME, engine="arrow")
    return sorted(zip(t["id"].to_pylist(), t["v"].to_pylist(), t["ts"].to_pylist(), strict=True))


def writer_batches(w: int, writers: int, rounds: int) -> list[dict[str, list]]:
    """Writer ``w``'s upserts: its own existing keys, keys every writer updates, keys every writer
    inserts, and keys only it inserts. Every (writer, round) has its own ``ts``: the newest wins."""
    out = []
    for r in range(rounds):
        ts = 1 + r * writers + w
        ids = ([i for i in range(40, BASE_IDS) if i % writers == w]  # disjoint updates
               + list(range(0, 20))  # overlapping updates
               + list(range(500, 505))  # overlapping inserts
               + [1000 + 100 * w + r])  # own insert
        out.append({"id": ids, "v": [f"w{w}r{r}"] * len(ids), "ts": [ts] * len(ids)})
    return out


def expected_after(batches: list[dict[str, list]]) -> list[tuple]:
    """The sequential result, whatever the order: per key the row with the newest ts."""
    state = {i: ("base", 0) for i in range(BASE_IDS)}
    for b in batches:
        for i, v, ts in zip(b["id"], b["v"], b["ts"], strict=True):
            if i not in state or ts > state[i][1]:
                state[i] = (v, ts)
    return sorted((i, v, ts) for i, (v, ts) in state.items())


def visible_files(dao: DataAccessObject) -> dict[str, int]:
    """Every data file of the object (name -> size), as readers see them."""
    itf_fs, base = files_mod.filesystem_for(dao.catalog.stores["silver"], dao.catalog.objects[NAME].location)
    return dict(files_mod._list_files(itf_fs, base))


def hidden_leftovers(dao: DataAccessObject) -> list[str]:
    """Everything under the object and its lock name that a reader would not see (but the upserts'
    key index, which is meant to stay)."""
    store = dao.catalog.stores["silver"]
    fs, base = files_mod.filesystem_for(store, dao.catalog.objects[NAME].location)
    parent = base.rsplit("/", 1)[0]
    out = []
    for fi in fs.get_file_info(pafs.FileSelector(parent, recursive=True, allow_not_found=True)):
        rel = fi.path[len(parent) + 1:]
        if fi.type == pafs.FileType.File and files_mod._hidden(rel) and "/_dao_index/" not in f"/{rel}":
            out.append(rel)
    return sorted(out)


# --------------------------------------------------------------------------- child processes
def _upsert_worker(catalog: dict, batches: list[dict], start: Any, results: Any, options: dict) -> None:
    try:
        dao = DataAccessObject(catalog)
        start.wait(60)
        for b in batches:
            dao.upsert(pa.table(b), NAME, options=options)
        results.put(("ok", os.getpid(), ""))
    except BaseException as exc:  # reported to the parent, which asserts on it
        results.put(("error", os.getpid(), f"{type(exc).__name__}: {exc}"))


def _upsert_stuck(catalog: dict, batch: dict, ready: Any, go: Any, options: dict, where: str,
                  results: Any) -> None:
    """An upsert that stops mid-commit (holding the lock, when there is one) until ``go``: just
    before publishing (``where="publish"``) or after scanning the keys (``where="merge"``)."""
    from spark_dao.interfaces import files_upsert
    from spark_dao.interfaces.files import FilesInterface

    owner, attr = (FilesInterface, "_publish") if where == "publish" else (files_upsert, "plan_merge")
    original = getattr(owner, attr)

    def stuck(*args, **kwargs):  # fault injection: a writer stalled mid-commit
        ready.set()
        go.wait(120)
        return original(*args, **kwargs)

    setattr(owner, attr, stuck)
    try:
        DataAccessObject(catalog).upsert(pa.table(batch), NAME, options=options)
        results.put("ok")
    except BaseException as exc:
        results.put(f"{type(exc).__name__}: {exc}")


def start_stuck_holder(catalog: dict, batch: dict, options: dict, where: str = "publish") -> tuple[Any, Any, Any]:
    ready, go, results = SPAWN.Event(), SPAWN.Event(), SPAWN.Queue()
    proc = SPAWN.Process(target=_upsert_stuck, args=(catalog, batch, ready, go, options, where, results),
                         daemon=True)
    proc.start()
    assert ready.wait(120), "the holder never reached its stalled step"
    return proc, go, results


# --------------------------------------------------------------------------- concurrent upserts
def run_concurrently(catalog: dict, writers: int, rounds: int, how: str) -> list[tuple]:
    batches = [writer_batches(w, writers, rounds) for w in range(writers)]
    if how == "threads":
        dao = DataAccessObject(catalog)

        def one(w: int) -> None:
            for b in batches[w]:
                dao.upsert(pa.table(b), NAME, options=FAST)

        with ThreadPoolExecutor(writers) as pool:
            list(pool.map(one, range(writers)))  # re-raises the first failure
    else:
        start, results = SPAWN.Event(), SPAWN.Queue()
        procs = [SPAWN.Process(target=_upsert_worker, args=(catalog, batches[w], start, results, FAST))
                 for w in range(writers)]
        for p in procs:
            p.start()
        start.set()
        outcomes = [results.get(timeout=180) for _ in procs]
        for p in procs:
            p.join(30)
        assert [o for o in outcomes if o[0] != "ok"] == []
    return expected_after([b for per_writer in batches for b in per_writer])


@pytest.mark.parametrize("how", ["processes", "threads"])
def test_concurrent_upserts_equal_the_sequential_result(catalog, how):
    dao = DataAccessObject(catalog)
    seed(dao)
    expected = run_concurrently(catalog, writers=3, rounds=3, how=how)
    got = rows_of(dao)
    ids = [r[0] for r in got]
    assert len(ids) == len(set(ids)), f"duplicate keys: {sorted({i for i in ids if ids.count(i) > 1})[:10]}"
    assert got == expected  # every update present, exact row count
    assert hidden_leftovers(dao) == []  # no lock, backups or staging left


def test_appends_running_alongside_upserts_are_all_kept(catalog):
    """Appends are not serialised: each lands whole, before or after any upsert, and none is lost."""
    dao = DataAccessObject(catalog)
    seed(dao)
    batches = [writer_batches(w, 2, 3) for w in range(2)]
    appends = [{"id": [2000 + i], "v": [f"a{i}"], "ts": [1]} for i in range(6)]

    def upserter(w: int) -> None:
        for b in batches[w]:
            dao.upsert(pa.table(b), NAME, options=FAST)

    def appender(i: int) -> None:
        dao.write(pa.table(appends[i]), NAME, mode="append")

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(upserter, w) for w in range(2)] + [pool.submit(appender, i) for i in range(6)]
        for f in futures:
            f.result()
    expected = sorted(expected_after([b for per in batches for b in per])
                      + [(a["id"][0], a["v"][0], 1) for a in appends])
    assert rows_of(dao) == expected


# --------------------------------------------------------------------------- waiting, timeout, takeover
def test_waiter_past_its_timeout_gets_write_conflict_naming_the_holder(catalog):
    dao = DataAccessObject(catalog)
    seed(dao)
    before, files_before = rows_of(dao), visible_files(dao)
    holder_batch = {"id": [1, 2], "v": ["holder", "holder"], "ts": [5, 5]}
    proc, go, outcome = start_stuck_holder(catalog, holder_batch, FAST)
    try:
        t0 = time.monotonic()
        with pytest.raises(WriteConflict) as err:
            dao.upsert(pa.table({"id": [1, 3], "v": ["waiter", "waiter"], "ts": [9, 9]}), NAME,
                       options={**FAST, "lock_timeout": 1})
        waited = time.monotonic() - t0
        msg = str(err.value)
        assert f"object {NAME!r} (store 'silver')" in msg
        assert f"host {socket.gethostname()!r} (pid {proc.pid}, upsert)" in msg
        assert "lock_timeout=1" in msg and "nothing was written" in msg
        assert "testing" not in msg  # no credentials
        assert 1.0 <= waited < 5
        # the waiter left nothing: same files, same rows, no staging of its own
        assert visible_files(dao) == files_before and rows_of(dao) == before
    finally:
        go.set()
        proc.join(60)
    assert outcome.get(timeout=30) == "ok"
    after = {r[0]: r[1:] for r in rows_of(dao)}
    assert after[1] == ("holder", 5) and after[2] == ("holder", 5) and after[3] == ("base", 0)
    assert len(after) == BASE_IDS and hidden_leftovers(dao) == []


def test_holder_that_dies_is_taken_over_after_its_lease(catalog):
    dao = DataAccessObject(catalog)
    seed(dao)
    proc, _go, _ = start_stuck_holder(catalog, {"id": [1], "v": ["dead"], "ts": [5]}, FAST)
    assert any(n.startswith("_dao_lock.") for n in hidden_leftovers(dao))  # the holder's lock
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    killed = time.monotonic()
    result = dao.upsert(pa.table({"id": [1, 200], "v": ["next", "next"], "ts": [9, 9]}), NAME,
                        options={**FAST, "lock_timeout": 20})
    waited = time.monotonic() - killed
    assert (result.rows_updated, result.rows_inserted) == (1, 1)
    assert 0.2 < waited < 10  # it waited for the dead holder's lease (1.5 s at most), then took over
    rows = {r[0]: r[1:] for r in rows_of(dao)}
    assert rows[1] == ("next", 9) and rows[200] == ("next", 9) and len(rows) == BASE_IDS + 1
    assert not [n for n in hidden_leftovers(dao) if n.startswith("_dao_lock.")]


def test_holder_that_stalls_past_its_lease_loses_the_lock_and_publishes_nothing(catalog):
    """A paused holder (SIGSTOP: no heartbeat) is taken over; when it resumes it must not publish."""
    dao = DataAccessObject(catalog)
    seed(dao)
    proc, go, outcome = start_stuck_holder(catalog, {"id": [1, 2], "v": ["stalled"] * 2, "ts": [50, 50]},
                                           {**FAST, "lock_lease": 1}, where="merge")
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        dao.upsert(pa.table({"id": [2, 3], "v": ["next", "next"], "ts": [9, 9]}), NAME,
                   options={**FAST, "lock_timeout": 20})
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        go.set()
    message = outcome.get(timeout=60)
    proc.join(30)
    assert message.startswith("WriteConflict: upsert into 'silver.users': object 'silver.users' (store 'silver')")
    assert "lost the write lock" in message and "nothing was published" in message
    rows = {r[0]: r[1:] for r in rows_of(dao)}
    assert rows[1] == ("base", 0) and rows[2] == ("next", 9) and rows[3] == ("next", 9)
    assert len(rows) == BASE_IDS and hidden_leftovers(dao) == []


def test_overwrite_waits_for_the_lock_and_append_does_not(tmp_path):
    catalog = local_catalog(tmp_path)
    dao = DataAccessObject(catalog)
    seed(dao)
    proc, go, _ = start_stuck_holder(catalog, {"id": [1], "v": ["holder"], "ts": [5]}, FAST)
    try:
        with pytest.raises(WriteConflict, match=r"writing 'silver.users' \(mode 'overwrite'\)"):
            dao.write(pa.table({"id": [7], "v": ["x"], "ts": [1]}), NAME, mode="overwrite",
                      options={"lock_timeout": 0.5})
        # the same from the store's configs
        patient = dict(catalog, stores={"silver": {**catalog["stores"]["silver"], "lock_timeout": 0.2}})
        t0 = time.monotonic()
        with pytest.raises(WriteConflict, match=r"lock_timeout=0.2\)"):
            DataAccessObject(patient).write(pa.table({"id": [7], "v": ["x"], "ts": [1]}), NAME, mode="overwrite")
        assert time.monotonic() - t0 < 3
        # appends add uniquely named files and never remove any: they need not wait
        dao.write(pa.table({"id": [900], "v": ["appended"], "ts": [1]}), NAME, mode="append")
    finally:
        go.set()
        proc.join(60)
    rows = {r[0]: r[1:] for r in rows_of(dao)}
    assert rows[900] == ("appended", 1) and rows[1] == ("holder", 5) and len(rows) == BASE_IDS + 1


def test_lock_options_are_checked_before_any_io(tmp_path):
    dao = DataAccessObject(local_catalog(tmp_path))
    with pytest.raises(DaoError, match=r"lock_timeout='soon' is not valid: expected a number of seconds, 0 or more"):
        dao.upsert(pa.table({"id": [1], "v": ["x"], "ts": [1]}), NAME, options={"lock_timeout": "soon"})
    with pytest.raises(DaoError, match=r"lock_lease=0 is not valid: expected a positive number of seconds"):
        dao.write(pa.table({"id": [1], "v": ["x"], "ts": [1]}), NAME, mode="overwrite", options={"lock_lease": 0})
    with pytest.raises(DaoError, match=r"lock_lease=0.2 must be a number of seconds of at least 0.5"):
        dao.write(pa.table({"id": [1], "v": ["x"], "ts": [1]}), NAME, mode="overwrite", options={"lock_lease": 0.2})
    assert not (tmp_path / "silver").exists()


# --------------------------------------------------------------------------- optimistic check
def test_upsert_whose_read_files_changed_raises_write_conflict_and_publishes_nothing(catalog, monkeypatch):
    """Second line: a writer that bypassed the lock (an old client) rewrote a file the upsert read."""
    from spark_dao.interfaces import files_upsert

    dao = DataAccessObject(catalog)
    seed(dao)
    other = DataAccessObject(catalog)
    original = files_upsert.plan_merge

    def foreign_writer_meanwhile(*args, **kwargs):  # fault injection: runs after the key scan
        monkeypatch.setattr(files_upsert, "plan_merge", original)
        monkeypatch.setattr(files_mod, "acquire_for_commit", lambda *a, **k: None, raising=False)  # no lock
        other.upsert(pa.table({"id": [2], "v": ["other"], "ts": [7]}), NAME)
        monkeypatch.undo()
        return original(*args, **kwargs)

    monkeypatch.setattr(files_upsert, "plan_merge", foreign_writer_meanwhile)
    with pytest.raises(WriteConflict, match=r"another writer changed 1 file\(s\) this upsert read.*Retry"):
        dao.upsert(pa.table({"id": [3], "v": ["mine"], "ts": [9]}), NAME)
    rows = {r[0]: r[1:] for r in rows_of(dao)}
    assert rows[2] == ("other", 7) and rows[3] == ("base", 0) and len(rows) == BASE_IDS
    assert hidden_leftovers(dao) == []


# --------------------------------------------------------------------------- rollback of a failed publish
class _FailingRemoval(pafs.LocalFileSystem):
    """Local filesystem that fails the 2nd removal of a visible data file (a delete, or a move out of
    place), after recording which visible files were published by moves."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.published: list[str] = []
        self.removals = 0

    def _visible(self, path: str) -> bool:
        return path.startswith(self.base + "/") and not files_mod._hidden(path[len(self.base) + 1:])

    def _removal(self, path: str) -> None:
        if self._visible(path):
            self.removals += 1
            if self.removals == 2:
                raise OSError(f"injected failure removing {path}")

    def delete_file(self, path: str) -> None:
        self._removal(path)
        super().delete_file(path)

    def move(self, src: str, dest: str) -> None:
        if self._visible(src) and not self._visible(dest):
            self._removal(src)
        super().move(src, dest)
        if self._visible(dest) and not self._visible(src):
            self.published.append(dest)


def test_failed_upsert_rolls_back_what_it_published_local(tmp_path, monkeypatch):
    dao = DataAccessObject(local_catalog(tmp_path))
    seed(dao)
    root = tmp_path / "silver" / "users"
    before_bytes = {p.name: p.read_bytes() for p in root.iterdir()}
    before = rows_of(dao)
    fs = _FailingRemoval(str(root))
    monkeypatch.setattr(files_mod, "filesystem_for", lambda store, location: (fs, str(root)))
    # ids 1, 31 and 61 live in three different files: three files are rewritten
    with pytest.raises(DaoError, match="injected failure"):
        dao.upsert(pa.table({"id": [1, 31, 61], "v": ["new"] * 3, "ts": [9] * 3}), NAME)
    assert fs.published and fs.removals >= 2  # it did publish, and failed while removing old files
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in root.iterdir()} == before_bytes  # the same files, byte for byte
    assert rows_of(dao) == before
    assert hidden_leftovers(dao) == []


def test_failed_upsert_rolls_back_what_it_published_s3(s3_server, s3_bucket, monkeypatch):
    from spark_dao.interfaces import _s3

    dao = DataAccessObject(s3_catalog(s3_server, s3_bucket))
    seed(dao)

    import boto3
    from botocore.config import Config

    # (moto keeps a multipart object's composite checksum on a server-side copy of it: compare bytes)
    raw = boto3.session.Session().client("s3", endpoint_url=s3_server, region_name="us-east-1",
                                         config=Config(response_checksum_validation="when_required"))

    def objects() -> dict[str, bytes]:
        listing = raw.list_objects_v2(Bucket=s3_bucket, Prefix="lake/").get("Contents", [])
        return {o["Key"]: raw.get_object(Bucket=s3_bucket, Key=o["Key"])["Body"].read() for o in listing}

    before_objects, before = objects(), rows_of(dao)
    original = _s3.delete_paths
    calls: list[list[str]] = []

    def delete_first_then_fail(store, paths, *, what):  # fault injection: a delete batch that fails midway
        calls.append(list(paths))
        if any("/.part-" not in p for p in paths) and len(paths) > 1 and len(calls) == 1:
            original(store, paths[:1], what=what)
            raise DaoError("injected failure after deleting one file")
        return original(store, paths, what=what)

    monkeypatch.setattr(_s3, "delete_paths", delete_first_then_fail)
    with pytest.raises(DaoError, match="injected failure"):
        dao.upsert(pa.table({"id": [1, 31, 61], "v": ["new"] * 3, "ts": [9] * 3}), NAME)
    assert calls and len(calls[0]) == 3  # the three rewritten files: the new ones were in place by then
    monkeypatch.undo()
    assert objects() == before_objects  # the same keys with the same bytes
    assert rows_of(dao) == before
