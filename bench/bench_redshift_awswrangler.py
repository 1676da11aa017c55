"""Redshift load: ``dao.write`` vs awswrangler's ``wr.redshift.copy``, on the local Redshift test
server and moto's S3, in the same run (issue 10's "vs awswrangler" comparison).

    pip install -e '.[bench,redshift-test]'        # awswrangler (it may pin an older pyarrow)
    python bench/bench_redshift_awswrangler.py [ROWS]    # default 1,000,000 rows x 10 columns

Both load the same pandas DataFrame in overwrite mode; 1 warm-up round, then the median of 3.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import awswrangler as wr  # noqa: E402
import boto3  # noqa: E402
from bench_redshift import make_table  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from spark_dao import DataAccessObject  # noqa: E402
from spark_dao.testing.redshift import RedshiftTestServer  # noqa: E402

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
ROLE = "arn:aws:iam::123456789012:role/redshift"
s = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
s.start()
host, port = s.get_host_and_port()
url = f"http://{host}:{port}"
creds = dict(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
boto3.client("s3", endpoint_url=url, **creds).create_bucket(Bucket="bench")
table = make_table(ROWS)
df = table.to_pandas()
with RedshiftTestServer(s3_endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing",
                        region="us-east-1", iam_roles=(ROLE,)) as rs:
    store = {"interface": "redshift", **rs.store_config(), "schema": "public", "s3_temp_dir": "s3://bench/dao-temp/",
             "iam_role_arn": ROLE, "endpoint_url": url, "region": "us-east-1", "access_key": "testing",
             "secret_key": "testing"}
    dao = DataAccessObject({"stores": {"gold": store}, "objects": {"gold.t_dao": {}}})
    wr.config.s3_endpoint_url = url
    session = boto3.Session(**creds)
    def run_dao():
        dao.write(table, "gold.t_dao", mode="overwrite", engine="pandas")
    def run_wr():
        con = rs.connect()
        try:
            wr.redshift.copy(df=df, path=f"s3://bench/wr-temp/{uuid.uuid4().hex}/", con=con, table="t_wr", schema="public",
                             iam_role=ROLE, mode="overwrite", boto3_session=session, use_threads=True)
        finally:
            con.close()
    times = {"dao.write (pandas)": [], "wr.redshift.copy": []}
    for rnd in range(4):
        for name, fn in (("dao.write (pandas)", run_dao), ("wr.redshift.copy", run_wr)):
            t0 = time.perf_counter()
            fn()
            wall = time.perf_counter() - t0
            print(f"round {rnd}: {name}: {wall:.2f}s", flush=True)
            if rnd:
                times[name].append(wall)
    con = rs.connect()
    cur = con.cursor()
    for t in ("t_dao", "t_wr"):
        cur.execute(f"select count(*) from public.{t}")
        print(t, cur.fetchone())
    con.close()
    d, w = statistics.median(times["dao.write (pandas)"]), statistics.median(times["wr.redshift.copy"])
    print(f"| rows | dao.write (pandas) s | wr.redshift.copy s | ratio (wr s / dao s) | target |\n|---:|---:|---:|---:|---|\n"
          f"| {ROWS:,} | {d:.2f} | {w:.2f} | {w / d:.2f}x | >= 1.0x {'PASS' if w / d >= 1 else 'MISS'} |")
