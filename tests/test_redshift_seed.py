"""The seed's gold step (shared/seeds/004_*.txt, "Step 4: Load to Gold") verbatim: its JSON config
(host ``redshift.company.redshift.amazonaws.com``, no port, ``ssl`` by default, password ``***``,
``s3_temp_dir``, ``iam_role_arn``) and its calls, with a Spark DataFrame, against the local
Redshift test server and moto.

Nothing in the config or the calls is changed. What is redirected is the *environment*, as a
developer's machine would be set up, in a fresh Python process (and its Spark workers):

* the seed's host on port 5439 resolves to a local TLS endpoint (``redshift_connector`` connects
  with ``ssl=True`` and verifies the certificate, here one made for that host and trusted through
  ``SSL_CERT_FILE``), which forwards to the test server;
* S3 is moto: ``AWS_ENDPOINT_URL`` (boto3 reads it; pyarrow does not, so the environment's
  ``sitecustomize`` passes it on to ``pyarrow.fs.S3FileSystem``), with virtual-hosted bucket names
  under ``localhost``.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from test_seed import SEED_CONFIG

SEED_HOST = "redshift.company.redshift.amazonaws.com"
SEED_ROLE = "arn:aws:iam::123456789:role/redshift-role"
REPO_ROOT = Path(__file__).resolve().parents[1]

SITECUSTOMIZE = '''
import os, socket
_HOST, _PORT = os.environ["SEED_REDSHIFT_HOST"], int(os.environ["SEED_REDSHIFT_TLS_PORT"])
_real = socket.getaddrinfo
def _getaddrinfo(host, port, *args, **kwargs):
    if host == _HOST and int(port or 0) == 5439:
        return _real("127.0.0.1", _PORT, *args, **kwargs)
    if isinstance(host, str) and host.endswith(".localhost"):
        return _real("127.0.0.1", port, *args, **kwargs)
    return _real(host, port, *args, **kwargs)
socket.getaddrinfo = _getaddrinfo
try:
    import pyarrow.fs as _pafs
    _S3 = _pafs.S3FileSystem
    def _s3(**kwargs):
        scheme, _, hostport = os.environ["AWS_ENDPOINT_URL"].partition("://")
        kwargs.setdefault("endpoint_override", hostport)
        kwargs.setdefault("scheme", scheme)
        return _S3(**kwargs)
    _pafs.S3FileSystem = _s3
except ImportError:
    pass
'''

SEED_STEP = '''
import json, sys
from spark_dao import DataAccessObject, DataObject, DataStoreRegistry
from pyspark.sql import SparkSession

config = json.loads(sys.argv[1])
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.sql.session.timeZone", "UTC").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
users_clean_data = spark.createDataFrame(
    [(1, 10.0, "2025-01-01 10:00:00"), (1, 30.0, "2025-01-05 10:00:00"), (3, 7.5, "2025-01-03 10:00:00")],
    "id long, order_value double, created_at string").selectExpr("id", "order_value", "timestamp(created_at) AS created_at")

# --- the seed's Step 1 and Step 4, as written --------------------------------------------------
dao = DataAccessObject(config)

from pyspark.sql.functions import col, count, avg, max

users_agg = (users_clean_data
    .groupBy('id')
    .agg(
        count('*').alias('total_purchases'),
        avg('order_value').alias('avg_order_value'),
        max('created_at').alias('last_purchase_date')
    )
)

# Write to Redshift (gold layer)
gold_store = DataStoreRegistry.get('gold')
users_agg_obj = DataObject('users_agg', gold_store)

dao.write(
    data=users_agg,
    data_object=users_agg_obj,
    format='parquet'  # or spark's native write
)
# -----------------------------------------------------------------------------------------------
back = dao.read(data_object=users_agg_obj, engine="arrow").sort_by("id")
print("ROWS " + json.dumps(back.to_pylist(), default=str))
'''


class TlsForwarder:
    """A TLS endpoint for PostgreSQL-protocol clients: answers the SSLRequest with 'S', completes the
    handshake with ``cert``, then relays the plain protocol to ``upstream``."""

    def __init__(self, cert: Path, key: Path, upstream: tuple[str, int]) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(cert), str(key))
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            request = client.recv(8)
            if request != (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big"):
                client.close()  # only TLS clients: a plain one is refused, as by a cluster requiring SSL
                return
            client.sendall(b"S")
            tls = self.context.wrap_socket(client, server_side=True)
            self.connections += 1
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(upstream, tls), daemon=True).start()
        pump(tls, upstream)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def seed_server(s3_server, s3_client):
    from spark_dao.testing.redshift import RedshiftTestServer

    try:
        s3_client.create_bucket(Bucket="my-company-temp")
    except s3_client.exceptions.BucketAlreadyOwnedByYou:
        pass
    gold = SEED_CONFIG["gold"]["default_configs"]
    with RedshiftTestServer(s3_endpoint_url=s3_server, aws_access_key_id="testing", aws_secret_access_key="testing",
                            iam_roles=(SEED_ROLE,), user=gold["user"], password=gold["password"],
                            database=gold["database"]) as server:
        yield server


def test_seed_gold_step_verbatim_with_spark(seed_server, s3_server, s3_client, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", f"/CN={SEED_HOST}", "-addext", f"subjectAltName=DNS:{SEED_HOST}"],
                   check=True, capture_output=True)
    forwarder = TlsForwarder(cert, key, (seed_server.host, seed_server.port))
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    script = tmp_path / "seed_step.py"
    script.write_text(textwrap.dedent(SEED_STEP))
    env = {**os.environ, "SEED_REDSHIFT_HOST": SEED_HOST, "SEED_REDSHIFT_TLS_PORT": str(forwarder.port),
           "SSL_CERT_FILE": str(cert), "AWS_ENDPOINT_URL": s3_server.replace("127.0.0.1", "localhost"),
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
           "PYTHONPATH": os.pathsep.join([str(site), str(REPO_ROOT)]), "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable}
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_SECURITY_TOKEN", None)
    try:
        done = subprocess.run([sys.executable, str(script), json.dumps(SEED_CONFIG)], env=env, capture_output=True,
                              text=True, timeout=300)
    finally:
        forwarder.close()
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("ROWS "))
    got = json.loads(line[5:])
    assert [(r["id"], r["total_purchases"], r["avg_order_value"]) for r in got] == [(1, 2, 20.0), (3, 1, 7.5)]
    assert [r["last_purchase_date"][:19] for r in got] == ["2025-01-05 10:00:00", "2025-01-03 10:00:00"]
    assert forwarder.connections >= 2  # the driver's checks and the commit (a Spark worker), all over TLS
    # in the warehouse: analytics.public.users_agg, created from the DataFrame's schema
    conn = seed_server.connect()
    cur = conn.cursor()
    cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' "
                "AND table_name = 'users_agg' ORDER BY ordinal_position")
    assert [tuple(r) for r in cur.fetchall()] == [
        ("id", "bigint"), ("total_purchases", "bigint"), ("avg_order_value", "double precision"),
        ("last_purchase_date", "timestamp with time zone")]
    conn.close()
    listed = s3_client.list_objects_v2(Bucket="my-company-temp", Prefix="redshift/")
    assert listed.get("KeyCount", 0) == 0  # staged files and manifest deleted
