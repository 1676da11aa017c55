"""A local Redshift test server: the real ``redshift_connector`` driver against PostgreSQL 18.

Install with ``pip install 'spark-dao[redshift-test]'``. A context manager::

    from spark_dao.testing.redshift import RedshiftTestServer

    with RedshiftTestServer(s3_endpoint_url="http://127.0.0.1:5000", aws_access_key_id="testing",
                            aws_secret_access_key="testing",
                            iam_roles=("arn:aws:iam::123456789012:role/redshift",)) as rs:
        conn = rs.connect()           # redshift_connector.connect(host=rs.host, port=rs.port, ..., ssl=False)
        catalog_store = rs.store_config()   # host, port, user, password, database, ssl

or a session-scoped pytest fixture: ``from spark_dao.testing.redshift import redshift_server`` in a
``conftest.py``; define a session fixture ``redshift_server_options`` returning the keyword
arguments (e.g. the moto endpoint) to configure it. See ``docs/testing-redshift.md`` for what is
emulated (COPY FROM S3 Parquet, UNLOAD, Redshift DDL clauses, ``stl_load_errors``, injected errors)
and what is not.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

from .._redact import protect
from ..errors import DaoError, require
from ._pgwire import PgClient, quote_literal
from ._rs_commands import S3Config
from ._rs_postgres import EmbeddedPostgres
from ._rs_proxy import ProxyServer

__all__ = ["SERIALIZATION_DETAIL", "RedshiftTestServer", "redshift_server"]

_log = logging.getLogger("spark_dao.testing.redshift")

#: the DETAIL of Redshift's serializable isolation violation (error 1023), the default injected error
SERIALIZATION_DETAIL = ("Serializable isolation violation on table - 100001, transactions forming the cycle are: "
                        "1001, 1002 (pid:4242)")
_LOAD_ERROR_COLUMNS = ("userid", "slice", "tbl", "starttime", "session", "query", "filename", "line_number",
                       "colname", "type", "col_length", "position", "raw_line", "raw_field_value", "err_code",
                       "err_reason", "is_partial", "start_offset")
_running: weakref.WeakSet[RedshiftTestServer] = weakref.WeakSet()


class RedshiftTestServer:
    """A Redshift-speaking PostgreSQL on a free loopback port, for tests; see the module docstring.

    ``host``, ``port``, ``user``, ``password`` and ``database`` are what a client connects with
    (``ssl=False``). ``serializable=True`` runs every transaction SERIALIZABLE, as Redshift does by
    default (PostgreSQL's conflicts then reach the client as Redshift's error 1023); the default is
    PostgreSQL's READ COMMITTED, where conflicts only come from :meth:`inject_error`. Starting takes about a second; :meth:`stop` (or leaving the ``with`` block)
    stops PostgreSQL and removes its temporary directory. Several servers can run in one process.
    """

    host = "127.0.0.1"

    def __init__(self, *, s3_endpoint_url: str | None = None, aws_access_key_id: str | None = None,
                 aws_secret_access_key: str | None = None, region: str = "us-east-1",
                 iam_roles: tuple[str, ...] | list[str] = (), user: str = "pipeline_user",
                 password: str | None = None, database: str = "analytics", serializable: bool = False) -> None:
        self.user = user
        self.password = password or "Rs-" + secrets.token_hex(12)
        self.database = database
        self.port = 0
        self._s3 = S3Config(endpoint_url=s3_endpoint_url, access_key=aws_access_key_id,
                            secret_key=aws_secret_access_key, region=region, iam_roles=tuple(iam_roles))
        self._pg: EmbeddedPostgres | None = None
        self._proxy: ProxyServer | None = None
        self._lock = threading.Lock()
        self.startup_seconds = 0.0
        self._owner_pid = 0
        self.serializable = serializable

    def __repr__(self) -> str:
        state = f"port={self.port}" if self._proxy else "stopped"
        return (f"RedshiftTestServer({state}, user={self.user!r}, database={self.database!r}, "
                f"s3_endpoint_url={self._s3.endpoint_url!r}, password='***')")

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> RedshiftTestServer:
        """Start PostgreSQL and the proxy (idempotent); returns ``self``."""
        with self._lock:
            if self._proxy is not None:
                return self
            began = time.monotonic()
            protect([self.password, self._s3.access_key, self._s3.secret_key])
            if self._s3.endpoint_url:
                require("boto3", "redshift-test")
            pg = EmbeddedPostgres()
            try:
                pg.start(user=self.user, password=self.password, database=self.database,
                         serializable=self.serializable)
                proxy = ProxyServer(pg_port=pg.port, s3=self._s3, tempdir=pg.tempdir,  # type: ignore[arg-type]
                                    record_load_error=self._record_load_error)
                proxy.start()
            except BaseException:
                pg.stop()
                raise
            self._pg, self._proxy, self.port = pg, proxy, proxy.port
            self._owner_pid = os.getpid()
            _running.add(self)
            self.startup_seconds = time.monotonic() - began
            _log.info("Redshift test server on %s:%s (PostgreSQL on port %s) started in %.2fs", self.host,
                      self.port, pg.port, self.startup_seconds)
            return self

    def stop(self) -> None:
        """Stop the proxy and PostgreSQL and remove the temporary directory (idempotent)."""
        with self._lock:
            proxy, pg = self._proxy, self._pg
            self._proxy = self._pg = None
            try:
                if proxy is not None:
                    proxy.stop()
            finally:
                if pg is not None:
                    pg.stop()
            _running.discard(self)

    def __enter__(self) -> RedshiftTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proxy is not None

    @property
    def tempdir(self) -> str | None:
        """The temporary directory of PostgreSQL's data (removed by :meth:`stop`)."""
        return str(self._pg.tempdir) if self._pg and self._pg.tempdir else None

    @property
    def postgres_pid(self) -> int | None:
        return self._pg.postmaster_pid if self._pg else None

    def _require_running(self) -> tuple[EmbeddedPostgres, ProxyServer]:
        if self._pg is None or self._proxy is None:
            raise DaoError("the Redshift test server is not running: use it as a context manager or call start()")
        return self._pg, self._proxy

    # ------------------------------------------------------------------ clients
    def connect(self, **kwargs: Any) -> Any:
        """A ``redshift_connector`` connection as :attr:`user` to :attr:`database` (``ssl=False``)."""
        self._require_running()
        redshift_connector = require("redshift_connector", "redshift-test")
        params = {"host": self.host, "port": self.port, "user": self.user, "password": self.password,
                  "database": self.database, "ssl": False, **kwargs}
        return redshift_connector.connect(**params)

    def store_config(self) -> dict[str, Any]:
        """The catalog store keys that reach this server: host, port, user, password, database, ssl."""
        self._require_running()
        return {"host": self.host, "port": self.port, "user": self.user, "password": self.password,
                "database": self.database, "ssl": False}

    def admin_query(self, sql: str, database: str | None = None) -> list[list[str | None]]:
        """Run ``sql`` as PostgreSQL's superuser on a separate connection (text values): for tests
        that inspect or arrange state behind the client's back."""
        pg, _ = self._require_running()
        client = pg.admin(database or self.database)
        try:
            return client.query(sql).rows
        finally:
            client.close()

    # ------------------------------------------------------------------ error injection
    def inject_error(self, pattern: str, *, sqlstate: str = "XX000", message: str = "1023",
                     detail: str | None = SERIALIZATION_DETAIL, times: int | None = 1) -> None:
        """Make the next ``times`` statements whose SQL matches the regular expression ``pattern``
        (case-insensitive; ``None``: every one) fail with this error and abort their transaction.

        The default is Redshift's serializable isolation violation (``1023``), e.g.
        ``rs.inject_error(r"^\\s*insert into silver\\.users")`` to test a writer's retry.
        """
        _, proxy = self._require_running()
        fields = {"S": "ERROR", "V": "ERROR", "C": sqlstate, "M": message}
        if detail:
            fields["D"] = detail
        proxy.inject_error(pattern, fields, times)

    def clear_injected_errors(self) -> None:
        """Forget every error :meth:`inject_error` armed and that has not fired yet."""
        _, proxy = self._require_running()
        proxy.clear_injected_errors()

    # ------------------------------------------------------------------ internals
    def _record_load_error(self, database: str, row: dict[str, Any]) -> None:
        """One ``stl_load_errors`` row, committed on a separate connection (survives the client's rollback)."""
        pg = self._pg
        if pg is None:
            return
        values = ", ".join("NULL" if row.get(c) is None else
                           str(row[c]) if isinstance(row[c], int) else quote_literal(str(row[c]))
                           for c in _LOAD_ERROR_COLUMNS)
        client: PgClient = pg.admin(database)
        try:
            client.query(f"INSERT INTO pg_catalog.stl_load_errors ({', '.join(_LOAD_ERROR_COLUMNS)}) "
                         f"VALUES ({values})")
        finally:
            client.close()


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        if server._owner_pid != os.getpid():  # a forked child exiting must not stop its parent's server
            continue
        try:
            server.stop()
        except Exception:  # at exit, best effort: the OS reclaims the rest
            pass


try:
    import pytest
except ImportError:  # pytest is only needed for the fixture
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def redshift_server(request: Any) -> Iterator[RedshiftTestServer]:
        """A :class:`RedshiftTestServer` for the whole test session.

        Its keyword arguments come from a session fixture ``redshift_server_options`` when the
        test suite defines one (e.g. the S3 endpoint of a moto server), else the defaults (no S3).
        """
        try:
            options = request.getfixturevalue("redshift_server_options")
        except pytest.FixtureLookupError:
            options = {}
        with RedshiftTestServer(**options) as server:
            yield server
