"""Redshift benchmark: the DAO's Redshift store against redshift_connector's own paths, one run, one server.

    .venv/bin/python bench/bench_redshift.py                          # 1M rows x 10 columns
    .venv/bin/python bench/bench_redshift.py --rows 200000 --baseline-rows 20000 --out /tmp/rs.md

Against the local Redshift test server (``spark_dao.testing.redshift``: PostgreSQL 18 behind a
Redshift wire proxy, COPY/UNLOAD against a moto S3 server), in one process:

1. load     ``dao.write(table, name, mode="overwrite", engine="pandas")`` (Parquet to S3 + one COPY)
            vs ``cursor.write_dataframe(df, table)`` (redshift_connector: executemany INSERT). The
            INSERT baseline runs on ``--baseline-rows`` rows (default: all) and is reported as rows/s;
            the ratio compares throughput. Target: dao >= 50x.
2. read     tables of several sizes, whole: ``dao.read(name, engine="pandas")`` with ``read_mode=unload``,
            ``direct`` and ``auto`` (timed itself, its capped COUNT included), vs ``cursor.execute("SELECT
            ..."); cursor.fetch_dataframe()``; how much slower auto is than the faster mode (target:
            <= 20%); and one filtered read (auto's count then scans the table).
3. upsert   1% of the rows (half updates, half new keys) with ``dao.upsert`` vs overwriting the
            whole table with ``dao.write(mode="overwrite")``. Target: <= 0.3x.

The server is local (no network between client, S3 and the warehouse; PostgreSQL does the work a
cluster's slices would do), so absolute times say little about a real cluster; the ratios between
paths sharing one server are the point. Data generation and server start are not timed.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def make_table(rows: int, seed: int = 7):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    base = np.datetime64("2025-01-01T00:00:00", "us")
    return pa.table({
        "id": pa.array(np.arange(rows, dtype=np.int64)),
        "user_id": pa.array(rng.integers(0, 100_000, rows, dtype=np.int64)),
        "amount": pa.array(rng.random(rows) * 100),
        "qty": pa.array(rng.integers(0, 50, rows, dtype=np.int32)),
        "country": pa.array(np.array(["DE", "FR", "US", "GB", "JP"])[rng.integers(0, 5, rows)]),
        "name": pa.array([f"user-{i % 100_000}" for i in range(rows)]),
        "active": pa.array(rng.random(rows) > 0.5),
        "score": pa.array(rng.random(rows)),
        "created_at": pa.array(base + rng.integers(0, 10**12, rows).astype("timedelta64[us]"), pa.timestamp("us")),
        "updated_at": pa.array(np.full(rows, 1, dtype=np.int64)),
    })


def change_batch(table, share: float):
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = max(2, int(table.num_rows * share))
    updates = table.slice(0, n // 2)
    updates = updates.set_column(updates.schema.get_field_index("updated_at"), "updated_at",
                                 pc.add(updates["updated_at"], 1))
    new = table.slice(0, n - n // 2)
    new = new.set_column(0, "id", pa.array(np.arange(table.num_rows, table.num_rows + new.num_rows, dtype=np.int64)))
    return pa.concat_tables([updates, new])


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--baseline-rows", type=int, default=0, help="rows for the executemany INSERT baseline (0: --rows)")
    ap.add_argument("--read-sizes", default="3000,10000,30000,100000,1000000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", help="also write the report (markdown) to this file")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import boto3
    import moto.server

    from spark_dao import DataAccessObject
    from spark_dao.interfaces import redshift as rs_mod
    from spark_dao.testing.redshift import RedshiftTestServer

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                      AWS_EC2_METADATA_DISABLED="true")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    s3 = moto.server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    host, port = s3.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    role = "arn:aws:iam::123456789012:role/bench"
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    with RedshiftTestServer(s3_endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                            iam_roles=(role,)) as server:
        store = {"interface": "redshift", **server.store_config(), "s3_temp_dir": f"s3://{bucket}/tmp/",
                 "iam_role_arn": role, "endpoint_url": endpoint, "region": "us-east-1",
                 "access_key": "testing", "secret_key": "testing"}
        dao = DataAccessObject({"stores": {"wh": store}, "objects": {"wh.bench": {"keys": ["id"]}}})
        dao.catalog.store("wh")
        conn = server.connect()
        cur = conn.cursor()
        table = make_table(args.rows)
        say(f"# Redshift benchmark ({args.rows:,} rows x {table.num_columns} columns)")
        say()
        say(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores; local Redshift test "
            f"server (PostgreSQL 18 + proxy) and moto S3 in the same process; median of {args.repeat}.")
        say()
        say("| operation | dao | baseline | ratio | target |")
        say("|---|---|---|---|---|")

        # 1. load -------------------------------------------------------------------------------------
        dao.write(table.slice(0, 1000), "wh.bench", mode="overwrite", engine="pandas")  # warm-up, creates the table
        t_dao, _ = timed(lambda: dao.write(table, "wh.bench", mode="overwrite", engine="pandas"), args.repeat)
        n_base = args.baseline_rows or args.rows
        base_df = table.slice(0, n_base).to_pandas()
        cur.execute("CREATE TABLE bench_insert (LIKE bench)")
        conn.commit()
        t0 = time.perf_counter()
        cur.write_dataframe(base_df, "bench_insert")
        conn.commit()
        t_base = time.perf_counter() - t0
        dao_rps, base_rps = args.rows / t_dao, n_base / t_base
        ratio = dao_rps / base_rps
        say(f"| load {args.rows:,} rows | {t_dao:.2f} s ({dao_rps:,.0f} rows/s) | write_dataframe {n_base:,} rows: "
            f"{t_base:.2f} s ({base_rps:,.0f} rows/s) | {ratio:.0f}x throughput | >= 50x: "
            f"{'PASS' if ratio >= 50 else 'MISS'} |")

        # 3. upsert -----------------------------------------------------------------------------------
        changes = change_batch(table, 0.01)
        t_up, r = timed(lambda: dao.upsert(changes, "wh.bench", order_by="updated_at", engine="pandas"), 1)
        t_over = t_dao
        ratio = t_up / t_over
        say(f"| upsert 1% ({changes.num_rows:,} rows: {r.rows_updated:,} updated, {r.rows_inserted:,} inserted) "
            f"into {args.rows:,} | {t_up:.2f} s | overwrite of the table: {t_over:.2f} s | {ratio:.2f}x | <= 0.3x: "
            f"{'PASS' if ratio <= 0.3 else 'MISS'} |")
        dao.write(table, "wh.bench", mode="overwrite", engine="pandas")

        # 2. reads: tables of several sizes, read whole (auto decides by the table's size) ------------
        worst = 0.0
        for size in [int(s) for s in args.read_sizes.split(",") if int(s) <= args.rows]:
            name = f"bench_{size}"
            dao.write(table.slice(0, size), f"wh.{name}", mode="overwrite", engine="pandas")

            def direct_fetch(name: str = name) -> object:
                cur.execute(f"SELECT * FROM {name}")
                return cur.fetch_dataframe()

            t_fetch, _ = timed(direct_fetch, args.repeat)
            t_unload, got = timed(lambda n=name: dao.read(f"wh.{n}", engine="pandas",
                                                          options={"read_mode": "unload"}), args.repeat)
            assert len(got) == size
            t_direct, _ = timed(lambda n=name: dao.read(f"wh.{n}", engine="pandas", options={"read_mode": "direct"}),
                                args.repeat)
            t_auto, _ = timed(lambda n=name: dao.read(f"wh.{n}", engine="pandas"), args.repeat)
            auto = "direct" if size * table.num_columns <= rs_mod.DIRECT_MAX_CELLS else "unload"
            best = min(t_direct, t_unload)
            worst = max(worst, t_auto / best - 1)
            say(f"| read {size:,} rows | unload {t_unload:.2f} s, direct {t_direct:.2f} s; auto {t_auto:.2f} s, picks {auto} "
                f"({(t_auto / best - 1) * 100:+.0f}% vs the faster) | fetch_dataframe {t_fetch:.2f} s | "
                f"unload {t_fetch / t_unload:.2f}x, direct {t_fetch / t_direct:.2f}x | auto <= +20%: "
                f"{'PASS' if t_auto <= best * 1.2 else 'MISS'} |")
        # a filtered read: auto's count scans the table (here without a sort key or index)
        filters = [("id", "<", 10_000)]
        t_f_direct, _ = timed(lambda: dao.read("wh.bench", engine="pandas", filters=filters,
                                               options={"read_mode": "direct"}), args.repeat)
        t_f_auto, _ = timed(lambda: dao.read("wh.bench", engine="pandas", filters=filters), args.repeat)
        say(f"| read 10,000 of {args.rows:,} rows (filter pushed down) | direct {t_f_direct:.2f} s; auto "
            f"{t_f_auto:.2f} s, picks direct ({(t_f_auto / t_f_direct - 1) * 100:+.0f}%: its count) | | | |")
        conn.close()
    s3.stop()
    say()
    say(f"auto's threshold: DIRECT_MAX_CELLS = {rs_mod.DIRECT_MAX_CELLS:,} cells (rows x columns); worst auto "
        f"penalty measured: {worst * 100:+.0f}%.")
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
