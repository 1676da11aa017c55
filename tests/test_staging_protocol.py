"""The staging protocol of the files interface: concurrent writers, live markers, late tasks, sweeps.

* Every job that stages marks itself live (``_dao_staging/<job>.live``) before anything is staged;
  ``commit``/``abort`` remove the marker first, then the job's staging and uploads.
* A Spark task checks the marker before staging and again after: a task that finds it gone
  removes its own output and fails.
* Every commit, abort and ``dao.cleanup`` sweeps the staging of dead jobs: unmarked ones at once,
  marked ones with nothing newer than ``stale_staging_hours``.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest
from _helpers import s3_keys, uploads

from spark_dao import Catalog, DaoError, DataAccessObject
from spark_dao.interfaces.base import StagedPart, get_interface
from spark_dao.interfaces.files import LIVE, STAGING


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []






def local_catalog(tmp_path: Path) -> dict:
    return {
        "stores": {"silver": {"interface": "files", "path": str(tmp_path / "silver")}},
        "objects": {"silver.flat": {}, "silver.events": {"partition_by": ["country"]}},
    }


def s3_catalog(endpoint: str, bucket: str, **store) -> dict:
    return {
        "stores": {"silver": {"interface": "files", "bucket": bucket, "prefix": "lake", "endpoint_url": endpoint,
                              "access_key": "testing", "secret_key": "testing", **store}},
        "objects": {"silver.flat": {}, "silver.events": {"partition_by": ["country"]}},
    }


def batch(writer: int, round_: int) -> pa.Table:
    base = writer * 100_000 + round_ * 10
    return pa.table({"id": list(range(base, base + 3)), "country": ["DE", "FR", "DE"]})


def expected_ids(writers: int, rounds: int) -> list[int]:
    return sorted(i for w in range(writers) for r in range(rounds) for i in batch(w, r)["id"].to_pylist())


def append_rounds(catalog: dict, name: str, writer: int, rounds: int) -> list[str]:
    """Append ``rounds`` batches; returns the errors (empty when every append succeeded)."""
    dao = DataAccessObject(catalog)
    errors = []
    for r in range(rounds):
        try:
            dao.write(batch(writer, r), name, mode="append")
        except Exception as exc:  # collected: the test reports every failed append
            errors.append(f"writer {writer} round {r}: {type(exc).__name__}: {exc}")
    return errors


def run_threads(catalog: dict, name: str, writers: int, rounds: int) -> list[str]:
    errors: list[str] = []
    barrier = threading.Barrier(writers)

    def work(w: int) -> None:
        barrier.wait()
        errors.extend(append_rounds(catalog, name, w, rounds))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


# --------------------------------------------------------------------------- finding 12: concurrent appends
@pytest.mark.parametrize("name", ["silver.flat", "silver.events"])
def test_concurrent_appends_from_threads_all_land_exactly_once_local(tmp_path, name):
    catalog = local_catalog(tmp_path)
    errors = run_threads(catalog, name, writers=8, rounds=100)
    assert errors == []
    ids = sorted(DataAccessObject(catalog).read(name, engine="arrow")["id"].to_pylist())
    assert ids == expected_ids(8, 100)
    root = tmp_path / "silver" / name.split(".")[1]
    assert not (root / STAGING).exists()
    assert not [f for f in files_under(root) if f.startswith(("_", "."))]


def _process_writer(args: tuple[dict, str, int, int, float]) -> list[str]:
    *work, start_at = args
    time.sleep(max(0.0, start_at - time.time()))  # every process starts appending at the same instant
    return append_rounds(*work)


def test_concurrent_appends_from_processes_all_land_exactly_once_local(tmp_path):
    catalog = local_catalog(tmp_path)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(6) as pool:
        start_at = time.time() + 8
        results = pool.map(_process_writer, [(catalog, "silver.events", w, 40, start_at) for w in range(6)])
    assert [e for r in results for e in r] == []
    ids = sorted(DataAccessObject(catalog).read("silver.events", engine="arrow")["id"].to_pylist())
    assert ids == expected_ids(6, 40)
    assert not (tmp_path / "silver" / "events" / STAGING).exists()


@pytest.mark.parametrize("commit", ["multipart", "copy"])
def test_concurrent_appends_from_threads_all_land_exactly_once_s3(s3_server, s3_bucket, s3_client, commit):
    catalog = s3_catalog(s3_server, s3_bucket, s3_commit=commit)
    errors = run_threads(catalog, "silver.events", writers=8, rounds=6)
    assert errors == []
    ids = sorted(DataAccessObject(catalog).read("silver.events", engine="arrow")["id"].to_pylist())
    assert ids == expected_ids(8, 6)
    assert [k for k in s3_keys(s3_client, s3_bucket) if STAGING in k or k.endswith("/")] == []
    assert uploads(s3_client, s3_bucket) == []


# --------------------------------------------------------------------------- finding 10: no folder markers
@pytest.mark.parametrize("name", ["silver.flat", "silver.events"])
@pytest.mark.parametrize("previous", [True, False])
def test_failed_copy_staging_then_abort_leaves_exactly_the_previous_keys(s3_server, s3_bucket, s3_client,
                                                                         name, previous):
    catalog = Catalog.load(s3_catalog(s3_server, s3_bucket, s3_commit="copy"))
    if previous:
        DataAccessObject(catalog).write(pa.table({"id": [1], "country": ["US"]}), name, mode="overwrite")
    before = s3_keys(s3_client, s3_bucket)
    obj = catalog.get(name)
    itf = get_interface(obj.store)
    spec = itf.prepare_write(obj, pa.schema([("id", pa.int64()), ("country", pa.string())]),
                             {"mode": "append", "max_rows_per_file": 1})
    job = "d" * 32

    def batches():
        for i in range(6):
            yield pa.record_batch({"id": [i], "country": ["FR" if i % 2 else "DE"]})
        raise RuntimeError("source died mid-staging")

    with pytest.raises(RuntimeError, match="source died mid-staging"):
        itf.stage(obj, batches(), spec, job)
    itf.abort(obj, [StagedPart(job_id=job)], spec)
    time.sleep(0.5)  # the dataset writer may still close a file after it raised: the sweep below covers it
    DataAccessObject(catalog).cleanup(name)
    assert s3_keys(s3_client, s3_bucket) == before
    assert uploads(s3_client, s3_bucket) == []


def test_failed_copy_staging_abort_alone_leaves_exactly_the_previous_keys(s3_server, s3_bucket, s3_client):
    catalog = Catalog.load(s3_catalog(s3_server, s3_bucket, s3_commit="copy"))
    DataAccessObject(catalog).write(pa.table({"id": [1]}), "silver.flat", mode="overwrite")
    before = s3_keys(s3_client, s3_bucket)
    obj = catalog.get("silver.flat")
    itf = get_interface(obj.store)
    spec = itf.prepare_write(obj, pa.schema([("id", pa.int64())]), {"mode": "append", "max_rows_per_file": 1})

    def batches():
        for i in range(3):
            yield pa.record_batch({"id": [i]})
        raise RuntimeError("source died mid-staging")

    with pytest.raises(RuntimeError, match="source died mid-staging"):
        itf.stage(obj, batches(), spec, "e" * 32)
    staged = [k for k in s3_keys(s3_client, s3_bucket) if f"{STAGING}/{'e' * 32}/" in k]
    assert len(staged) == 3  # the unpartitioned writer closes each file before it raises
    itf.abort(obj, [StagedPart(job_id="e" * 32)], spec)
    assert s3_keys(s3_client, s3_bucket) == before  # no folder marker objects left behind


# --------------------------------------------------------------------------- finding 11: late tasks
def _late_task(itf, obj, spec, job, on_half):
    """Stage 4 one-row files; ``on_half`` runs (the driver's abort) after the first 2 are written."""

    def batches():
        for i in range(4):
            if i == 2:
                on_half()
            yield pa.record_batch({"id": [i], "country": ["DE"]})

    return itf.stage(obj, batches(), spec, job)


@pytest.mark.parametrize("where", ["local", "s3-multipart", "s3-copy"])
def test_task_that_outlives_the_abort_removes_its_own_output(tmp_path, request, where):
    if where == "local":
        catalog = Catalog.load(local_catalog(tmp_path))
        root = tmp_path / "silver" / "flat"

        def state():
            return files_under(root)
    else:
        server, bucket, client = (request.getfixturevalue(f) for f in ("s3_server", "s3_bucket", "s3_client"))
        catalog = Catalog.load(s3_catalog(server, bucket, s3_commit=where.split("-")[1]))

        def state():
            return s3_keys(client, bucket), uploads(client, bucket)
    dao = DataAccessObject(catalog)
    dao.write(pa.table({"id": [-1], "country": ["US"]}), "silver.flat", mode="overwrite")
    before = state()
    obj = catalog.get("silver.flat")
    itf = get_interface(obj.store)
    spec = itf.prepare_write(obj, pa.schema([("id", pa.int64()), ("country", pa.string())]),
                             {"mode": "append", "max_rows_per_file": 1})
    job = "1" * 32
    spec = itf.start_job(obj, spec, job)  # the driver (Spark's writer()) marks the job live
    seen: list = []

    def driver_aborts():
        seen.append(state())  # the task has staged its first files
        itf.abort(obj, [StagedPart(job_id=job)], spec)

    with pytest.raises(DaoError, match=r"job 1{32} ended \(aborted or committed\) while this task was staging; "
                                       r"the task's staged files were removed"):
        _late_task(itf, obj, spec, job, driver_aborts)
    assert seen[0] != before  # something was staged when the abort ran
    assert state() == before
    # a task attempt that starts after the abort stages nothing
    with pytest.raises(DaoError, match=r"job 1{32} already ended .* before this task staged anything; "
                                       r"nothing was written"):
        itf.stage(obj, [pa.record_batch({"id": [5], "country": ["DE"]})], spec, job)
    assert state() == before
    assert dao.read("silver.flat", engine="arrow")["id"].to_pylist() == [-1]


def test_commit_removes_what_a_late_attempt_staged_after_it(tmp_path):
    """A speculative attempt still running when the job commits: its output never becomes visible."""
    catalog = Catalog.load(local_catalog(tmp_path))
    obj = catalog.get("silver.flat")
    itf = get_interface(obj.store)
    spec = itf.prepare_write(obj, pa.schema([("id", pa.int64()), ("country", pa.string())]),
                             {"mode": "append", "max_rows_per_file": 1})
    job = "2" * 32
    spec = itf.start_job(obj, spec, job)
    winner = itf.stage(obj, [pa.record_batch({"id": [1], "country": ["DE"]})], spec, job)

    with pytest.raises(DaoError, match="ended"):
        _late_task(itf, obj, spec, job, lambda: itf.commit(obj, [winner], spec))
    assert DataAccessObject(catalog).read("silver.flat", engine="arrow")["id"].to_pylist() == [1]
    assert not (tmp_path / "silver" / "flat" / STAGING).exists()


# --------------------------------------------------------------------------- the sweep
def _leave_dead_job(root: Path, job: str, age_hours: float = 0.0, *, live: bool = False) -> None:
    """What a killed task leaves: staged files of ``job`` (optionally still marked live), ``age_hours`` old."""
    folder = root / STAGING / job / "country=DE"
    folder.mkdir(parents=True)
    (folder / f"part-{job[:8]}-x-0.parquet").write_bytes(b"PAR1")
    paths = [folder / f"part-{job[:8]}-x-0.parquet", folder, folder.parent]
    if live:
        (root / STAGING / f"{job}{LIVE}").write_bytes(b"")
        paths.append(root / STAGING / f"{job}{LIVE}")
    stamp = time.time() - age_hours * 3600
    for p in paths:
        os.utime(p, (stamp, stamp))


def test_next_write_sweeps_dead_jobs_and_keeps_running_ones_local(tmp_path):
    catalog = local_catalog(tmp_path)
    dao = DataAccessObject(catalog)
    dao.write(pa.table({"id": [1], "country": ["DE"]}), "silver.events", mode="overwrite")
    root = tmp_path / "silver" / "events"
    ended, stale, running = "a" * 32, "b" * 32, "c" * 32
    _leave_dead_job(root, ended)  # no marker: its job ended (a task killed after the abort's listing)
    _leave_dead_job(root, stale, age_hours=30, live=True)  # marked, but the driver died 30 h ago
    _leave_dead_job(root, running, age_hours=2, live=True)  # a job running right now (2 h old)
    dao.write(pa.table({"id": [2], "country": ["FR"]}), "silver.events", mode="append")
    assert sorted(f for f in files_under(root) if f.startswith(STAGING)) == [
        f"{STAGING}/{running}{LIVE}", f"{STAGING}/{running}/country=DE/part-{running[:8]}-x-0.parquet"]
    assert sorted(dao.read("silver.events", engine="arrow")["id"].to_pylist()) == [1, 2]
    # dao.cleanup with a shorter age takes the running-but-idle job too, and says what it removed
    removed = dao.cleanup("silver.events", older_than=1)
    assert removed == [f"{root}/{STAGING}/{running}/", f"{root}/{STAGING}/{running}{LIVE}"]
    assert not (root / STAGING).exists()
    assert dao.cleanup("silver.events") == []


def test_stale_staging_hours_store_config(tmp_path):
    catalog = local_catalog(tmp_path)
    catalog["stores"]["silver"]["stale_staging_hours"] = 1
    dao = DataAccessObject(catalog)
    root = tmp_path / "silver" / "flat"
    _leave_dead_job(root, "e" * 32, age_hours=2, live=True)
    dao.write(pa.table({"id": [1]}), "silver.flat", mode="append")
    assert not (root / STAGING).exists()
    catalog["stores"]["silver"]["stale_staging_hours"] = "soon"
    with pytest.raises(DaoError, match=r"stores\.silver\.stale_staging_hours: expected a number of hours, 0 or more, "
                       r"got 'soon'\. Write e\.g\. stale_staging_hours: 24"):
        DataAccessObject(catalog).cleanup("silver.flat")
    with pytest.raises(DaoError, match=r"older_than=-1 must be >= 0 hours"):
        dao.cleanup("silver.flat", older_than=-1)


def test_next_write_aborts_uploads_of_ended_jobs_and_keeps_running_ones_s3(s3_server, s3_bucket, s3_client):
    catalog = Catalog.load(s3_catalog(s3_server, s3_bucket))
    dao = DataAccessObject(catalog)
    dao.write(pa.table({"id": [1], "country": ["DE"]}), "silver.events", mode="overwrite")
    before = s3_keys(s3_client, s3_bucket)
    obj = catalog.get("silver.events")
    itf = get_interface(obj.store)
    spec = itf.prepare_write(obj, pa.schema([("id", pa.int64()), ("country", pa.string())]), {"mode": "append"})
    ended, running = "a" * 32, "b" * 32
    # an ended job's late upload: the task was killed after the abort had listed the uploads
    s3_client.create_multipart_upload(Bucket=s3_bucket, Key=f"lake/events/country=FR/part-{ended[:8]}-x-0.parquet")
    running_spec = itf.start_job(obj, spec, running)
    running_part = itf.stage(obj, [pa.record_batch({"id": [3], "country": ["US"]})], running_spec, running)
    dao.write(pa.table({"id": [2], "country": ["FR"]}), "silver.events", mode="append")
    assert uploads(s3_client, s3_bucket) == [f"lake/events/country=US/part-{running[:8]}-{running_part.files[0].path.split('-')[2]}-0.parquet"]
    itf.commit(obj, [running_part], running_spec)  # the running job was not disturbed
    assert sorted(dao.read("silver.events", engine="arrow")["id"].to_pylist()) == [1, 2, 3]
    assert uploads(s3_client, s3_bucket) == []
    assert not [k for k in s3_keys(s3_client, s3_bucket) if STAGING in k or k.endswith("/")]
    assert len(s3_keys(s3_client, s3_bucket)) == len(before) + 2


def test_cleanup_reports_uploads_and_staging_s3(s3_server, s3_bucket, s3_client):
    catalog = Catalog.load(s3_catalog(s3_server, s3_bucket))
    dao = DataAccessObject(catalog)
    key = "lake/events/country=FR/part-abcdef12-x-0.parquet"
    s3_client.create_multipart_upload(Bucket=s3_bucket, Key=key)
    s3_client.put_object(Bucket=s3_bucket, Key=f"lake/events/{STAGING}/{'f' * 32}/part-ffffffff-x-0.parquet", Body=b"x")
    s3_client.put_object(Bucket=s3_bucket, Key=f"lake/events/{STAGING}/", Body=b"")  # a folder marker
    removed = dao.cleanup("silver.events")
    assert removed == [f"s3://{s3_bucket}/{key} (uncompleted upload)",
                       f"s3://{s3_bucket}/lake/events/{STAGING}/{'f' * 32}/",
                       f"s3://{s3_bucket}/lake/events/{STAGING}/"]
    assert s3_keys(s3_client, s3_bucket) == [] and uploads(s3_client, s3_bucket) == []


def test_cleanup_cli(tmp_path):
    import yaml

    catalog = local_catalog(tmp_path)
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog))
    root = tmp_path / "silver" / "flat"
    _leave_dead_job(root, "9" * 32)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "spark_dao.cli", "cleanup", "silver.flat", "--catalog", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"removed {root}/{STAGING}/{'9' * 32}/",
                                       "silver.flat: removed 1 item(s)"]
    assert not (root / STAGING).exists()
    out = subprocess.run([*cmd, "--older-than", "48"], capture_output=True, text=True, env=env, timeout=120)
    assert (out.returncode, out.stdout) == (0, "silver.flat: nothing to clean up\n")
    bad = subprocess.run([sys.executable, "-m", "spark_dao.cli", "cleanup", "silvr.flat", "--catalog", str(path)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1 and bad.stderr.startswith("spark-dao cleanup: ") and "'silvr'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_cli_entry_point_and_in_process_main(tmp_path, capsys):
    import tomllib

    from spark_dao.cli import main

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {"spark-dao": "spark_dao.cli:main"}
    catalog = tmp_path / "catalog.json"
    catalog.write_text(__import__("json").dumps(local_catalog(tmp_path)))
    _leave_dead_job(tmp_path / "silver" / "events", "8" * 32, age_hours=3, live=True)
    assert main(["cleanup", "silver.events", "--catalog", str(catalog), "--older-than", "4"]) == 0
    assert capsys.readouterr().out == "silver.events: nothing to clean up\n"
    assert main(["cleanup", "silver.events", "--catalog", str(catalog), "--older-than", "2"]) == 0
    root = tmp_path / "silver" / "events" / STAGING
    assert capsys.readouterr().out.splitlines() == [f"removed {root}/{'8' * 32}/", f"removed {root}/{'8' * 32}{LIVE}",
                                                    "silver.events: removed 2 item(s)"]
    with pytest.raises(SystemExit) as exit_:
        main(["cleanup", "silver.events", "--older-than", "soon"])
    assert exit_.value.code == 2
