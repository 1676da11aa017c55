"""S3 chaos: writes, upserts, raw uploads and reads through a proxy that drops, delays and fails
a random share of requests (tests/chaos_proxy.py, in front of moto's real HTTP server).

The invariant, for every operation:

* it completes, and the target then holds exactly the expected new state; or
* it raises a :class:`DaoError`, and the target holds exactly the old state or exactly the new
  state (the request that applied the change may have lost its answer), never a mix;
* afterwards no staging object, folder marker or uncompleted multipart upload of the finished job
  remains.

Known limitation, tallied as "raw upload orphan": a raw upload above the multipart threshold is
boto3's managed transfer; when the answer to its CreateMultipartUpload is lost, botocore retries
and a second upload is created. The first one holds no part and no reader sees it, but nothing
aborts it until a bucket lifecycle rule does (AbortIncompleteMultipartUpload). The files
interface's own staged uploads carry the job's tag in their names, so its commit and abort find
and abort such orphans. A leftover is allowed only where a best-effort cleanup failed too and
logged a warning. A later cleanup removes it: the test checks that by running the files
interface's own abort of the job's uploads with no faults.

State is checked with a boto3 client talking to moto directly (not through the proxy), parsing
the stored parquet files itself. Seeds are fixed, so a run is repeatable as far as thread
scheduling allows. The run must meet faults and failed operations: it fails unless a fault was
injected and some write, upsert or upload failed and left its target unchanged. Time: the retry
pauses are shortened (``fast_retries``; the number of attempts is unchanged) and the write lock
lease is 2 s (``CHAOS_LEASE``), so 50 rounds take ~20 s instead of ~4 min. Knobs: ``SPARK_DAO_CHAOS_ROUNDS`` (default 50), ``SPARK_DAO_CHAOS_SEED``,
``SPARK_DAO_CHAOS_RATE`` (share of faulted requests, default 0.25), ``SPARK_DAO_CHAOS_SPARK_ROUNDS`` (default 3), e.g.::

    SPARK_DAO_CHAOS_ROUNDS=400 pytest -q -s tests/test_s3_chaos.py
"""

from __future__ import annotations

import collections
import hashlib
import io
import logging
import os
import posixpath
import random
import re
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chaos_proxy import ChaosProxy

from spark_dao import DaoError, DataAccessObject
from spark_dao.interfaces._s3 import abort_job_uploads
from spark_dao.interfaces.files import STAGING

ROUNDS = int(os.environ.get("SPARK_DAO_CHAOS_ROUNDS", "50"))
SEED = int(os.environ.get("SPARK_DAO_CHAOS_SEED", "20261125"))
RATE = float(os.environ.get("SPARK_DAO_CHAOS_RATE", "0.25"))
COUNTRIES = ("DE", "FR", "US")
PREFIX = "lake"
BIG = 6 * 1024 * 1024  # above the store's 5 MB multipart threshold: a multipart raw upload

Row = tuple[int, str, float]


def catalog(endpoint: str, bucket: str, **configs: Any) -> dict:
    store = {"interfaces": ["files", "objects"], "bucket": bucket, "prefix": PREFIX, "endpoint_url": endpoint,
             "region": "us-east-1", "access_key": "testing", "secret_key": "testing",
             # few attempts and short timeouts, so that faults turn into failed operations too
             "max_attempts": 3, "connect_timeout": 1, "request_timeout": 5, "multipart_threshold": "5MB",
             **configs}
    return {"stores": {"lake": store},
            "objects": {"lake.events": {"partition_by": ["c"], "keys": ["id"]},
                        "lake.flat": {"keys": ["id"]},
                        "lake.raw": {}}}


# --------------------------------------------------------------------------- direct observation
def keys_under(client: Any, bucket: str, prefix: str) -> list[tuple[str, int]]:
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend((o["Key"], o["Size"]) for o in page.get("Contents", []))
    return sorted(out)


def _hidden(rel: str) -> bool:
    return any(seg.startswith(("_", ".")) for seg in rel.split("/"))


def table_state(client: Any, bucket: str, name: str) -> list[Row]:
    """The rows a reader would see: every visible parquet file under the object, parsed here."""
    base = f"{PREFIX}/{name}/"
    rows: list[Row] = []
    for key, _ in keys_under(client, bucket, base):
        rel = key[len(base):]
        if _hidden(rel) or key.endswith("/"):
            continue
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        parts = dict(seg.split("=", 1) for seg in rel.split("/")[:-1])
        for r in pq.read_table(io.BytesIO(data)).to_pylist():
            r.update(parts)
            rows.append((int(r["id"]), str(r["c"]), float(r["v"])))
    return sorted(rows)


def raw_state(client: Any, bucket: str) -> dict[str, str]:
    base = f"{PREFIX}/raw/"
    return {key[len(base):]: hashlib.sha256(client.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()
            for key, _ in keys_under(client, bucket, base)}


def leftovers(client: Any, bucket: str) -> list[str]:
    """Staging objects, folder markers and uncompleted multipart uploads (of finished jobs: the run
    is sequential, so every job is finished when this is called)."""
    out = [f"object {k}" for k, _ in keys_under(client, bucket, "") if STAGING in k or k.endswith("/")]
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    out += [f"upload {u['Key']}" for u in uploads]
    return out


def sweep(client: Any, bucket: str, direct: DataAccessObject) -> None:
    """Remove leftovers as a later cleanup would: the files interface's own abort of a job's uploads
    (by the job tag in the file names, with no faults), then whatever else directly."""
    store = direct.catalog.store("lake")
    for name in ("events", "flat"):
        tags = {posixpath.basename(u["Key"])[: len("part-") + 9]
                for u in client.list_multipart_uploads(Bucket=bucket, Prefix=f"{PREFIX}/{name}/").get("Uploads", [])}
        if tags:
            abort_job_uploads(store, f"s3://{bucket}/{PREFIX}/{name}", sorted(tags), what=name)
    for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
    for k, _ in keys_under(client, bucket, ""):
        if STAGING in k or k.endswith("/"):
            client.delete_object(Bucket=bucket, Key=k)
    assert leftovers(client, bucket) == []


class Warnings(logging.Handler):
    """spark_dao's warnings (a best-effort cleanup that could not finish logs one)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


# --------------------------------------------------------------------------- the run
def to_table(rows: list[Row]) -> pa.Table:
    return pa.table({"id": pa.array([r[0] for r in rows], pa.int64()), "c": [r[1] for r in rows],
                     "v": pa.array([r[2] for r in rows], pa.float64())})


class Run:
    def __init__(self, dao: DataAccessObject, direct: DataAccessObject, client: Any, bucket: str,
                 proxy: ChaosProxy, seed: int) -> None:
        self.dao, self.direct, self.client, self.bucket, self.proxy = dao, direct, client, bucket, proxy
        self.seed = seed
        self.rng = random.Random(seed)
        self.next_id = 1
        self.tally: collections.Counter[tuple[str, str]] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.violations: list[dict[str, Any]] = []
        #: leftovers by kind: "cleanup failed (logged)", "raw upload orphan", "unexplained"
        self.leftovers: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        self.warnings = Warnings()
        #: (seconds, round, label) of every operation, for the report's slowest ones
        self.durations: list[tuple[float, int, str]] = []

    def fresh_rows(self, n: int, v: float, countries: tuple[str, ...] = COUNTRIES) -> list[Row]:
        rows = []
        while len(rows) < n:
            i = self.next_id
            self.next_id += 1
            if COUNTRIES[i % 3] in countries:
                rows.append((i, COUNTRIES[i % 3], v))  # a key's country never changes
        return rows

    def round(self, i: int) -> None:
        name = self.rng.choice(("events", "flat"))
        op = self.rng.choice(("append", "overwrite", "dynamic", "upsert", "read", "upload"))
        if op == "dynamic" and name == "flat":
            op = "overwrite"
        full = f"lake.{name}"
        v = float(i)
        if op == "upload":
            self.upload_round(i)
            return
        old = table_state(self.client, self.bucket, name)
        if op == "read":
            new = old
            call = lambda: self.dao.read(full, engine="pandas")  # noqa: E731
        elif op == "upsert":
            known = sorted({r[0] for r in old})
            picked = self.rng.sample(known, min(len(known), self.rng.randint(0, 3)))
            batch = [(k, COUNTRIES[k % 3], v) for k in picked] + self.fresh_rows(self.rng.randint(1, 3), v)
            ids = {r[0] for r in batch}
            new = sorted([r for r in old if r[0] not in ids] + batch)
            call = lambda: self.dao.upsert(to_table(batch), full)  # noqa: E731
        else:
            countries = COUNTRIES if op != "dynamic" else tuple(self.rng.sample(COUNTRIES, self.rng.randint(1, 2)))
            batch = self.fresh_rows(self.rng.randint(2, 8), v, countries)
            if op == "append":
                new = sorted(old + batch)
            elif op == "overwrite":
                new = sorted(batch)
            else:
                touched = {r[1] for r in batch}
                new = sorted([r for r in old if r[1] not in touched] + batch)
            call = lambda: self.dao.write(to_table(batch), full, mode=op)  # noqa: E731
        self.check(f"{op} {name}", op, call, old, new,
                   lambda: table_state(self.client, self.bucket, name), i)

    def upload_round(self, i: int) -> None:
        key = self.rng.choice(("a.csv", "b.bin", "day/c.json"))
        big = self.rng.random() < 0.1
        body = (f"round {i}\n".encode() * (BIG // 9 + 1))[:BIG] if big else f"round {i} {key}\n".encode() * 50
        old = raw_state(self.client, self.bucket)
        new = {**old, key: hashlib.sha256(body).hexdigest()}
        self.check("upload raw" + (" (multipart)" if big else ""), "upload",
                   lambda: self.dao.upload(body, "lake.raw", path=key), old, new,
                   lambda: raw_state(self.client, self.bucket), i)

    def check(self, label: str, op: str, call: Any, old: Any, new: Any, observe: Any, i: int) -> None:
        mark = len(self.proxy.events)
        error: BaseException | None = None
        self.warnings.messages.clear()
        logging.getLogger("spark_dao").addHandler(self.warnings)
        started = time.monotonic()
        try:
            result = call()
        except Exception as exc:  # noqa: BLE001 - classified below
            error, result = exc, None
        finally:
            logging.getLogger("spark_dao").removeHandler(self.warnings)
            self.durations.append((time.monotonic() - started, i, label))
        if error is not None:
            self.errors[_signature(error)] += 1
        self.proxy.enabled = False  # observe and sweep without faults
        try:
            after = observe()
            faults = self.proxy.events[mark:]
            if op == "read" and error is None:
                got = sorted((int(r.id), str(r.c), float(r.v)) for r in result.itertuples())
                outcome = "completed" if got == after else "violation: read returned other rows"
            elif error is None:
                outcome = "completed" if after == new else "violation: success, wrong state"
            elif not isinstance(error, DaoError):
                outcome = f"violation: {type(error).__name__} is not a DaoError"
            elif after == old:
                outcome = "failed-clean"
            elif after == new:
                outcome = "failed-applied"  # the change landed, its answer was lost: allowed
            else:
                outcome = "violation: mixed state after a failure"
            self.tally[(label, outcome.split(":")[0])] += 1
            if outcome.startswith("violation"):
                self.violations.append({"round": i, "op": label, "outcome": outcome, "error": repr(error)[:500],
                                        "faults": faults, "old": _short(old), "new": _short(new),
                                        "after": _short(after)})
            left = leftovers(self.client, self.bucket)
            if left:
                if all(item.startswith(f"upload {PREFIX}/raw/") for item in left):
                    # boto3's managed upload retried a CreateMultipartUpload whose answer was lost:
                    # the first upload exists on S3 but nobody knows its id (see the module docstring)
                    kind = "raw upload orphan"
                elif any("abort" in m or "could not" in m or "dao.cleanup(" in m for m in self.warnings.messages):
                    # a best-effort cleanup met the faults too, and said so (its warning names the
                    # retry: "the next write or dao.cleanup(...) retries")
                    kind = "cleanup failed (logged)"
                else:
                    kind = "unexplained"
                self.leftovers[kind].append({"round": i, "op": label, "outcome": outcome, "left": left,
                                             "faults": faults, "warnings": self.warnings.messages[:2],
                                             "error": repr(error)[:300]})
                sweep(self.client, self.bucket, self.direct)
        finally:
            self.proxy.enabled = True

    def report(self) -> str:
        lines = [f"S3 chaos: {sum(self.tally.values())} operations, seed {self.seed}, fault rate {self.proxy.rate}, "
                 f"requests {self.proxy.faults()}"]
        by_op: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for (label, outcome), n in self.tally.items():
            by_op[label][outcome] += n
        for label in sorted(by_op):
            lines.append(f"  {label:28s} " + ", ".join(f"{k}={n}" for k, n in sorted(by_op[label].items())))
        lines.append(f"  violations={len(self.violations)} leftovers: "
                     + (", ".join(f"{k}={len(v)}" for k, v in sorted(self.leftovers.items())) or "none"))
        lines.append("  errors: " + "; ".join(f"{n}x {sig}" for sig, n in self.errors.most_common()))
        lines.append("  slowest: " + ", ".join(f"round {i} {label} {s:.1f}s"
                                                for s, i, label in sorted(self.durations, reverse=True)[:5]))
        for v in self.violations:
            lines.append(f"  VIOLATION {v}")
        for kind, items in sorted(self.leftovers.items()):
            for left in items:
                lines.append(f"  LEFTOVER ({kind}) {left}")
        return "\n".join(lines)


def _short(state: Any) -> Any:
    return state if len(state) <= 12 else f"<{len(state)} entries>"


def _signature(error: BaseException) -> str:
    """The kind of an error, without names, keys and ids: for the tally."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"|\(store [^)]*\)|s3://\S+|http://\S+|\d+", "_", str(error))
    return f"{type(error).__name__}: {text[:110]}"


#: the random run's write lock lease: a lock whose creation was applied but unanswered (the failed
#: operation cannot release what it does not know it holds) blocks the next writer until the lease
#: ends; at the default 60 s that was most of the run's time
CHAOS_LEASE = 2


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same number of attempts, with shorter pauses between them: botocore backs off up to
    1 s, 2 s... after a 503 SlowDown (50 ms otherwise), pyarrow's S3 client (the AWS SDK's standard
    strategy) up to 1 s, 2 s... after any error (its default strategy: 50 ms, 100 ms...), and
    spark_dao's settling of a commit 0.5 s, 1 s... Most of the random run's time went into these
    pauses, and what happens after the last attempt is what the test is about."""
    import pyarrow.fs as pafs
    from botocore.retries.standard import ExponentialBackoff

    from spark_dao.interfaces import _publish

    monkeypatch.setitem(ExponentialBackoff._DEFAULT_BACKOFF_CONFIG, "throttling_base_scale", 0.05)
    monkeypatch.setattr(pafs, "AwsStandardS3RetryStrategy", pafs.AwsDefaultS3RetryStrategy)
    monkeypatch.setattr(_publish, "SETTLE_BACKOFF", 0.02)


@pytest.fixture
def chaos(s3_server: str, s3_bucket: str, s3_client: Any,
          fast_retries: None) -> Iterator[tuple[ChaosProxy, DataAccessObject]]:
    proxy = ChaosProxy(s3_server, rate=RATE, seed=SEED)
    try:
        yield proxy, DataAccessObject(catalog(proxy.url, s3_bucket, lock_lease=CHAOS_LEASE))
    finally:
        proxy.close()


def test_s3_operations_under_chaos_are_all_or_nothing(chaos, s3_server, s3_client, s3_bucket, capsys):
    proxy, dao = chaos
    direct = DataAccessObject(catalog(s3_server, s3_bucket, lock_lease=CHAOS_LEASE))  # no proxy: for the sweep
    run = Run(dao, direct, s3_client, s3_bucket, proxy, SEED)
    started = time.monotonic()
    for i in range(ROUNDS):
        run.round(i)
    report = run.report() + f"\n  {time.monotonic() - started:.1f} s"
    with capsys.disabled():
        print("\n" + report)
    outcomes = collections.Counter(outcome for (_, outcome), n in run.tally.items() for _ in range(n))
    assert sum(outcomes.values()) == ROUNDS
    # the run proves something only if faults were injected and some operations failed under them:
    # at least one write, upsert or upload raised and left the target exactly as it was (rolled back)
    faults = {f: n for f, n in proxy.faults().items() if f not in ("pass", "delay")}
    assert sum(faults.values()) > 0, report
    assert outcomes["completed"] > 0 and outcomes["failed-clean"] + outcomes["failed-applied"] > 0, report
    assert any(outcome == "failed-clean" and not label.startswith("read") for label, outcome in run.tally), report
    assert run.violations == [], report
    # Leftovers only where a best-effort cleanup itself failed (and logged it; a later cleanup
    # removes them), or the raw-upload orphans described in the module docstring.
    assert not run.leftovers.get("unexplained"), report


# --------------------------------------------------------------------------- minimal reproductions
# Each failure the random run can meet at the end of a commit, forced on purpose.
@pytest.fixture
def scripted(s3_server: str, s3_bucket: str, fast_retries: None) -> Iterator[tuple[ChaosProxy, DataAccessObject]]:
    proxy = ChaosProxy(s3_server, rate=0.0, seed=SEED)
    try:
        yield proxy, DataAccessObject(catalog(proxy.url, s3_bucket))
    finally:
        proxy.close()


OLD = [(1, "FR", 1.0), (2, "US", 1.0), (3, "DE", 1.0)]
NEW = [(4, "FR", 2.0), (5, "US", 2.0)]


@pytest.mark.parametrize("name", ["flat", "events"])
def test_overwrite_whose_old_files_cannot_be_removed_restores_the_old_state(scripted, s3_client, s3_bucket, name):
    # Before the fix: DaoError, and the object read [1, 2, 3, 4, 5] (old and new together).
    proxy, dao = scripted
    dao.write(to_table(OLD), f"lake.{name}", mode="overwrite")
    proxy.by_operation = {"POST?delete": ["slowdown"] * 3}  # the removal of the old files fails, not applied
    with pytest.raises(DaoError, match="previous data is unchanged"):
        dao.write(to_table(NEW), f"lake.{name}", mode="overwrite")
    assert table_state(s3_client, s3_bucket, name) == sorted(OLD)
    assert leftovers(s3_client, s3_bucket) == []


def test_overwrite_whose_removal_was_applied_but_unanswered_completes(scripted, s3_client, s3_bucket):
    proxy, dao = scripted
    dao.write(to_table(OLD), "lake.events", mode="overwrite")
    proxy.by_operation = {"POST?delete": ["error_after"] * 3}  # applied, every answer an error
    result = dao.write(to_table(NEW), "lake.events", mode="overwrite")
    assert result.files_removed == 3
    assert table_state(s3_client, s3_bucket, "events") == sorted(NEW)
    assert leftovers(s3_client, s3_bucket) == []


def test_upsert_whose_rewritten_files_cannot_be_removed_restores_the_old_state(scripted, s3_client, s3_bucket):
    # Before the fix: DaoError, and key 1 twice (its old and its new row).
    proxy, dao = scripted
    dao.write(to_table(OLD), "lake.events", mode="overwrite")
    proxy.by_operation = {"POST?delete": ["slowdown"] * 3}
    with pytest.raises(DaoError, match="previous data is unchanged"):
        dao.upsert(to_table([(1, "FR", 9.0)]), "lake.events")
    assert table_state(s3_client, s3_bucket, "events") == sorted(OLD)
    assert leftovers(s3_client, s3_bucket) == []


def test_a_storage_that_keeps_failing_gets_an_error_that_says_both_are_visible(scripted, s3_client, s3_bucket,
                                                                               monkeypatch):
    # The residual window: with every delete refused, neither the old nor the new state can be
    # restored. The error must say so (it used to claim nothing about it).
    from spark_dao.interfaces import _publish

    monkeypatch.setattr(_publish, "SETTLE_BACKOFF", 0.01)
    proxy, dao = scripted
    dao.write(to_table(OLD), "lake.flat", mode="overwrite")
    proxy.rule = lambda op, path: "slowdown" if op == "POST?delete" else None
    with pytest.raises(DaoError, match="may hold old and new data together"):
        dao.write(to_table(NEW), "lake.flat", mode="overwrite")
    assert table_state(s3_client, s3_bucket, "flat") == sorted(OLD + NEW)


def test_a_failed_commit_whose_rollback_fails_says_what_it_left(scripted, s3_client, s3_bucket, monkeypatch):
    # Before the fix: "the previous data is unchanged" while a new file was visible.
    from spark_dao.interfaces import _publish

    monkeypatch.setattr(_publish, "SETTLE_BACKOFF", 0.01)
    proxy, dao = scripted
    dao.write(to_table(OLD), "lake.events", mode="append")

    def rule(op: str, path: str) -> str | None:
        if op == "POST?uploadId" and "c%3DUS" in path.replace("=", "%3D"):
            return "slowdown"  # completing the new file of partition US fails
        return "slowdown" if op == "POST?delete" else None  # and so does removing the FR one again

    proxy.rule = rule
    with pytest.raises(DaoError, match="holds the previous data plus some of these files") as err:
        dao.write(to_table(NEW), "lake.events", mode="append")
    assert "c=FR" in str(err.value)
    assert table_state(s3_client, s3_bucket, "events") == sorted(OLD + [NEW[0]])
    proxy.rule = lambda op, path: "slowdown" if op == "POST?uploadId" and "c%3DUS" in path.replace("=", "%3D") else None
    with pytest.raises(DaoError, match="previous data is unchanged"):  # the rollback works: old state
        dao.write(to_table(NEW), "lake.events", mode="append")
    assert table_state(s3_client, s3_bucket, "events") == sorted(OLD + [NEW[0]])


SPARK_ROUNDS = int(os.environ.get("SPARK_DAO_CHAOS_SPARK_ROUNDS", "3"))


def test_spark_writes_under_chaos_are_all_or_nothing(spark, chaos, s3_server, s3_client, s3_bucket, capsys):
    proxy, dao = chaos
    dao = DataAccessObject(catalog(proxy.url, s3_bucket), spark=spark)
    direct = DataAccessObject(catalog(s3_server, s3_bucket))
    run = Run(dao, direct, s3_client, s3_bucket, proxy, SEED + 1)
    started = time.monotonic()
    for i in range(SPARK_ROUNDS):
        mode = ("overwrite", "append", "dynamic")[i % 3]
        old = table_state(s3_client, s3_bucket, "events")
        batch = run.fresh_rows(6, float(i), COUNTRIES if mode != "dynamic" else ("FR",))
        if mode == "append":
            new = sorted(old + batch)
        elif mode == "overwrite":
            new = sorted(batch)
        else:
            new = sorted([r for r in old if r[1] != "FR"] + batch)
        sdf = spark.createDataFrame(to_table(batch).to_pandas()).repartition(2)
        run.check(f"spark {mode} events", mode, lambda sdf=sdf, mode=mode: dao.write(sdf, "lake.events", mode=mode),
                  old, new, lambda: table_state(s3_client, s3_bucket, "events"), i)
    report = run.report() + f"\n  {time.monotonic() - started:.1f} s"
    with capsys.disabled():
        print("\n" + report)
    assert run.violations == [], report
    assert not run.leftovers.get("unexplained"), report


def test_a_failed_spark_task_is_a_dao_error_and_leaves_the_old_state(spark, scripted, s3_client, s3_bucket):
    # Before the fix: pyspark's PythonException (not a DaoError) came out of dao.write.
    proxy, dao = scripted
    dao = DataAccessObject(catalog(proxy.url, s3_bucket), spark=spark)
    dao.write(to_table(OLD), "lake.events", mode="overwrite")
    proxy.rule = lambda op, path: "slowdown" if op.startswith("PUT?partNumber") else None  # every part refused
    with pytest.raises(DaoError, match=r"staging 'lake.events' \(store 'lake'\).*SlowDown"):
        dao.write(spark.createDataFrame(to_table(NEW).to_pandas()), "lake.events", mode="overwrite",
                  options={"engine_path": "python"})  # the Python path's tasks upload the parts
    proxy.rule = None
    assert table_state(s3_client, s3_bucket, "events") == sorted(OLD)
    assert leftovers(s3_client, s3_bucket) == []


def test_the_same_settling_on_a_local_folder(tmp_path, monkeypatch):
    # A local disk refusing to remove the previous files (injected once): the new ones are removed again.
    from spark_dao.interfaces.files import FilesInterface

    dao = DataAccessObject({"stores": {"local": {"interface": "files", "path": str(tmp_path)}},
                            "objects": {"local.t": {"partition_by": ["c"]}}})
    dao.write(to_table(OLD), "local.t", mode="overwrite")
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    real, calls = FilesInterface._delete, []

    def refuse_once(self, obj, fs, spec, paths):
        calls.append(list(paths))
        if len(calls) == 1:
            raise PermissionError(13, "Permission denied", paths[0])
        return real(self, obj, fs, spec, paths)

    monkeypatch.setattr(FilesInterface, "_delete", refuse_once)
    with pytest.raises(DaoError, match="previous data is unchanged"):
        dao.write(to_table(NEW), "local.t", mode="overwrite")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet")) == before
    got = dao.read("local.t", engine="arrow")
    assert sorted(zip(got["id"].to_pylist(), got["c"].to_pylist(), got["v"].to_pylist(), strict=True)) == sorted(OLD)


@pytest.mark.parametrize("fault", ["error_after", "drop_after"])
def test_a_completion_applied_but_unanswered_is_rolled_back_too(scripted, s3_client, s3_bucket, fault):
    # Before the fix: "the previous data is unchanged", while the file whose CompleteMultipartUpload
    # had been applied (its answers lost) was visible: old rows plus some new ones.
    proxy, dao = scripted
    dao.write(to_table(OLD), "lake.flat", mode="overwrite")
    proxy.by_operation = {"POST?uploadId": [fault] * 3}
    with pytest.raises(DaoError, match="previous data is unchanged"):
        dao.write(to_table(NEW), "lake.flat", mode="append")
    assert table_state(s3_client, s3_bucket, "flat") == sorted(OLD)
    assert leftovers(s3_client, s3_bucket) == []
