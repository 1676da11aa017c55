"""The loopback proxy between a Redshift client (redshift_connector) and PostgreSQL.

Per client connection, one thread relays the wire protocol both ways and steps in where Redshift
and PostgreSQL differ:

* startup: an SSLRequest is answered 'N'; startup parameters PostgreSQL does not know
  (``client_protocol_version``, ``driver_version``, ``os_version``, ...) are dropped; the reported
  ``server_version`` is Redshift's ``8.0.2`` (the driver then reports COPY row counts, as on Redshift).
* statements: ``COPY ... FROM 's3://...'`` and ``UNLOAD`` never reach PostgreSQL as such; the proxy
  answers their Parse/Bind/Describe/Execute/Close/Sync (or simple Query) itself and runs them with
  :mod:`._rs_commands` on the client's own backend connection, inside the client's transaction.
  CREATE/ALTER TABLE lose their Redshift-only clauses (:func:`._rs_sql.rewrite_ddl`).
* injected errors (:meth:`ProxyServer.inject_error`): a statement matching a pattern fails with the
  given error and aborts the transaction, e.g. Redshift's 1023 serialization error.

Local answers are sent only when PostgreSQL has answered every earlier Sync, so the order of replies
is kept for clients that wait for ReadyForQuery between batches (redshift_connector, psycopg).
"""

from __future__ import annotations

import itertools
import logging
import re
import select
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._pgwire import (
    BIND_COMPLETE,
    CANCEL_REQUEST,
    CLOSE_COMPLETE,
    GSSENC_REQUEST,
    NO_DATA,
    NO_PARAMETERS,
    PARSE_COMPLETE,
    PROTOCOL_3,
    SSL_REQUEST,
    MessageStream,
    PgError,
    QueryRunner,
    WireError,
    build_parse,
    command_complete,
    cstr,
    error_fields,
    error_response,
    message,
    parse_bind_names,
    parse_error_body,
    parse_parse,
    parse_startup,
    read_cstr,
    ready_for_query,
    startup_packet,
)
from ._rs_commands import CommandContext, RedshiftError, S3Config, _abort_transaction, run_copy, run_unload
from ._rs_sql import (
    SqlSyntaxError,
    first_word,
    parse_copy,
    parse_unload,
    redact_sql,
    rewrite_ddl,
    single_statement,
)

_log = logging.getLogger("spark_dao.testing.redshift")

#: startup parameters passed on to PostgreSQL (lower case); every other key is Redshift's or a driver's
STARTUP_KEYS = {"user", "database", "options", "application_name", "client_encoding", "datestyle", "timezone",
                "intervalstyle", "extra_float_digits", "search_path"}
REDSHIFT_SERVER_VERSION = "8.0.2"


@dataclass
class InjectedError:
    pattern: re.Pattern[str]
    fields: dict[str, str]
    remaining: int | None


class ProxyServer:
    """Accepts clients on a free loopback port and runs one :class:`_Session` thread per client."""

    def __init__(self, *, pg_port: int, s3: S3Config, tempdir: Path,
                 record_load_error: Callable[[str, dict[str, Any]], None]) -> None:
        self.pg_port = pg_port
        self.s3 = s3
        self.tempdir = tempdir
        self.record_load_error = record_load_error
        self._injected: list[InjectedError] = []
        self._lock = threading.Lock()
        self._sessions: set[_Session] = set()
        self._stopping = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._ids = itertools.count(1)
        self._thread = threading.Thread(target=self._accept_loop, name=f"rs-proxy-{self.port}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = _Session(self, client, next(self._ids))
            with self._lock:
                self._sessions.add(session)
            session.thread.start()

    def forget(self, session: _Session) -> None:
        with self._lock:
            self._sessions.discard(session)

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()
        self._thread.join(timeout=5)
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.close()
        for session in sessions:
            session.thread.join(timeout=5)

    # ------------------------------------------------------------------ error injection
    def inject_error(self, pattern: str, fields: dict[str, str], times: int | None) -> None:
        with self._lock:
            self._injected.append(InjectedError(re.compile(pattern, re.I | re.S), fields, times))

    def clear_injected_errors(self) -> None:
        with self._lock:
            self._injected.clear()

    def take_injection(self, sql: str | None) -> dict[str, str] | None:
        if not sql:
            return None
        with self._lock:
            for injected in self._injected:
                if injected.pattern.search(sql):
                    if injected.remaining is not None:
                        injected.remaining -= 1
                        if injected.remaining <= 0:
                            self._injected.remove(injected)
                    return dict(injected.fields)
        return None


class _Session:
    """One client connection and its PostgreSQL backend connection."""

    def __init__(self, server: ProxyServer, client: socket.socket, ident: int) -> None:
        self.server = server
        self.client = client
        self.ident = ident
        self.pg: socket.socket | None = None
        self.cin = MessageStream(client)
        self.pin: MessageStream | None = None
        self.out = bytearray()
        self.status = b"I"
        self.outstanding = 0  # Syncs and Queries forwarded and not yet answered by ReadyForQuery
        self.forwarded_since_sync = False
        self.discard_until_sync = False
        self.user = ""
        self.database = ""
        self.backend_pid = 0
        self.stmt_sql: dict[str, str] = {}
        self.local_stmts: dict[str, tuple[str, Any]] = {}
        self.local_portals: dict[str, tuple[str, Any]] = {}
        self.thread = threading.Thread(target=self.run, name=f"rs-proxy-{server.port}-session-{ident}", daemon=True)

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        for sock in (self.client, self.pg):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def send(self, data: bytes) -> None:
        self.out += data

    def flush(self) -> None:
        if self.out:
            self.client.sendall(self.out)
            self.out.clear()

    def forward(self, kind: bytes, body: bytes) -> None:
        assert self.pg is not None
        self.pg.sendall(message(kind, body))

    def run(self) -> None:
        try:
            if self.startup():
                self.loop()
        except (WireError, OSError) as exc:
            _log.debug("rs-proxy[%s] connection ended: %s", self.ident, exc)
        except Exception:
            _log.exception("rs-proxy[%s] failed", self.ident)
        finally:
            for sock in (self.client, self.pg):
                if sock is not None:
                    sock.close()
            self.server.forget(self)

    # ------------------------------------------------------------------ startup
    def startup(self) -> bool:
        body = self.cin.read_untyped()
        code, params = parse_startup(body)
        while code in (SSL_REQUEST, GSSENC_REQUEST):
            self.client.sendall(b"N")
            body = self.cin.read_untyped()
            code, params = parse_startup(body)
        if code == CANCEL_REQUEST:  # the key is PostgreSQL's own (BackendKeyData is relayed as is)
            with socket.create_connection(("127.0.0.1", self.server.pg_port), timeout=5) as pg:
                pg.sendall(struct.pack("!i", len(body) + 4) + body)
            return False
        if code != PROTOCOL_3:
            self.client.sendall(error_response(error_fields("08P01", f"unsupported protocol {code}", severity="FATAL")))
            return False
        kept = {k: v for k, v in params.items() if k.lower() in STARTUP_KEYS}
        dropped = sorted(set(params) - set(kept))
        self.user = kept.get("user", "")
        self.database = kept.get("database") or self.user
        _log.debug("rs-proxy[%s] startup user=%s database=%s (dropped %s)", self.ident, self.user,
                   self.database, dropped)
        self.pg = socket.create_connection(("127.0.0.1", self.server.pg_port), timeout=30)
        self.pg.settimeout(None)
        self.pg.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pin = MessageStream(self.pg)
        self.pg.sendall(startup_packet(kept))
        while True:
            kind, body = self.pin.read()
            if kind == b"S":
                key, pos = read_cstr(body, 0)
                if key == "server_version":
                    body = cstr(key) + cstr(REDSHIFT_SERVER_VERSION)
            elif kind == b"K":
                self.backend_pid = struct.unpack_from("!i", body, 0)[0]
            elif kind == b"E":
                fields = parse_error_body(body)
                if fields.get("C") == "28P01":  # Redshift reports a wrong password as 28000
                    fields["C"] = "28000"
                    body = error_response(fields)[5:]
            self.client.sendall(message(kind, body))
            if kind == b"R" and struct.unpack_from("!i", body, 0)[0] in (3, 5, 10, 11):
                reply_kind, reply = self.cin.read()
                self.forward(reply_kind, reply)
            elif kind == b"E":
                return False
            elif kind == b"Z":
                self.status = body[:1]
                return True

    # ------------------------------------------------------------------ main loop
    def loop(self) -> None:
        assert self.pg is not None and self.pin is not None
        while True:
            if self.cin.has_message():
                if not self.on_client(*self.cin.read()):
                    return
                continue
            if self.pin.has_message():
                self.on_backend(*self.pin.read())
                continue
            self.flush()
            readable, _, _ = select.select([self.client, self.pg], [], [], 1.0)
            if self.client in readable:
                self.cin.read_available()
            if self.pg in readable:
                self.pin.read_available()

    def on_backend(self, kind: bytes, body: bytes) -> None:
        if kind == b"Z":
            self.status = body[:1]
            self.outstanding = max(0, self.outstanding - 1)
        elif kind == b"E" and b"C40001\0" in body:
            body = error_response(redshift_serialization_error(parse_error_body(body)))[5:]
        self.send(message(kind, body))

    def wait_backend_idle(self) -> None:
        """Relay the backend's replies until every forwarded Sync/Query is answered."""
        assert self.pin is not None
        if self.forwarded_since_sync:
            self.forward(b"H", b"")
        while self.outstanding > 0:
            self.on_backend(*self.pin.read())

    def reply(self, data: bytes) -> None:
        self.wait_backend_idle()
        self.send(data)

    def on_client(self, kind: bytes, body: bytes) -> bool:
        if kind == b"X":
            self.forward(kind, body)
            return False
        if kind == b"S":
            self.discard_until_sync = False
            if self.forwarded_since_sync or self.outstanding:
                self.forward(kind, body)
                self.outstanding += 1
                self.forwarded_since_sync = False
            else:
                self.reply(ready_for_query(self.status))
            return True
        if self.discard_until_sync:
            return True
        handler = {b"P": self.on_parse, b"B": self.on_bind, b"D": self.on_describe, b"E": self.on_execute,
                   b"C": self.on_close, b"Q": self.on_query}.get(kind)
        if handler is None or not handler(body):
            if kind == b"H" and not self.forwarded_since_sync:
                return True
            self.forward(kind, body)
            if kind == b"Q":
                self.outstanding += 1
            elif kind not in (b"d", b"c", b"f", b"p"):
                self.forwarded_since_sync = True
        return True

    # ------------------------------------------------------------------ extended protocol
    def classify(self, sql: str) -> tuple[str, Any] | None:
        """("copy"|"unload", parsed) for the statements the proxy runs itself, else None."""
        word = first_word(sql)
        if word == "UNLOAD":
            return "unload", parse_unload(sql)
        if word == "COPY":
            parsed = parse_copy(sql)
            if parsed is not None:
                return "copy", parsed
        return None

    def on_parse(self, body: bytes) -> bool:
        name, sql, rest = parse_parse(body)
        _log.debug("rs-proxy[%s] parse: %s", self.ident, redact_sql(sql))
        self.stmt_sql[name] = sql
        self.local_stmts.pop(name, None)
        try:
            local = self.classify(sql)
        except SqlSyntaxError as exc:
            self.fail(error_fields("42601", str(exc)))
            return True
        if local is None:
            rewritten = rewrite_ddl(sql)
            if rewritten != sql:
                self.forward(b"P", build_parse(name, rewritten, rest)[5:])
                self.forwarded_since_sync = True
                return True
            return False
        self.local_stmts[name] = local
        self.reply(PARSE_COMPLETE)
        return True

    def on_bind(self, body: bytes) -> bool:
        portal, statement = parse_bind_names(body)
        self.local_portals.pop(portal, None)
        sql = self.stmt_sql.get(statement)
        injected = self.server.take_injection(sql)
        if injected is not None:
            self.local_portals[portal] = ("inject", (injected, sql))
        elif statement in self.local_stmts:
            self.local_portals[portal] = self.local_stmts[statement]
        else:
            return False
        self.reply(BIND_COMPLETE)
        return True

    def on_describe(self, body: bytes) -> bool:
        which, (name, _) = body[:1], read_cstr(body, 1)
        if which == b"S" and name in self.local_stmts:
            self.reply(NO_PARAMETERS + NO_DATA)
            return True
        if which == b"P" and name in self.local_portals:
            self.reply(NO_DATA)
            return True
        return False

    def on_execute(self, body: bytes) -> bool:
        portal, _ = read_cstr(body, 0)
        local = self.local_portals.get(portal)
        if local is None:
            return False
        if not self.run_local(*local):
            self.discard_until_sync = True
        return True

    def on_close(self, body: bytes) -> bool:
        which, (name, _) = body[:1], read_cstr(body, 1)
        if which == b"S":
            self.stmt_sql.pop(name, None)
            if self.local_stmts.pop(name, None) is not None:
                self.reply(CLOSE_COMPLETE)
                return True
        elif self.local_portals.pop(name, None) is not None:
            self.reply(CLOSE_COMPLETE)
            return True
        return False

    # ------------------------------------------------------------------ simple protocol
    def on_query(self, body: bytes) -> bool:
        sql, _ = read_cstr(body, 0)
        _log.debug("rs-proxy[%s] query: %s", self.ident, redact_sql(sql))
        injected = self.server.take_injection(sql)
        try:
            local = ("inject", (injected, sql)) if injected is not None else self.classify(single_statement(sql))
        except SqlSyntaxError as exc:
            self.fail(error_fields("42601", str(exc)))
            self.discard_until_sync = False  # a simple query has no Sync: its ReadyForQuery ends it
            self.reply(ready_for_query(self.status))
            return True
        if local is None:
            rewritten = rewrite_ddl(sql)
            if rewritten != sql:
                self.forward(b"Q", cstr(rewritten))
                self.outstanding += 1
                return True
            return False
        self.run_local(*local)
        self.reply(ready_for_query(self.status))
        return True

    # ------------------------------------------------------------------ local execution
    def context(self) -> tuple[CommandContext, QueryRunner]:
        assert self.pg is not None and self.pin is not None
        runner = QueryRunner(self.pg, self.pin)
        runner.status = self.status
        ctx = CommandContext(runner=runner, s3=self.server.s3, tempdir=self.server.tempdir,
                             user=self.user, session_pid=self.backend_pid,
                             record_load_error=lambda row: self.server.record_load_error(self.database, row))
        return ctx, runner

    def fail(self, fields: dict[str, str]) -> None:
        """Send an error for a statement PostgreSQL never saw, aborting the transaction like Redshift."""
        self.wait_backend_idle()
        ctx, runner = self.context()
        _abort_transaction(ctx)
        self.status = runner.status
        _log.debug("rs-proxy[%s] error: %s", self.ident, fields.get("M"))
        self.send(error_response(fields))
        self.discard_until_sync = True

    def run_local(self, kind: str, payload: Any) -> bool:
        self.wait_backend_idle()
        ctx, runner = self.context()
        try:
            if kind == "inject":
                fields, sql = payload
                if first_word(sql) in ("COMMIT", "END") and runner.status != b"I":
                    runner.query("ROLLBACK")  # a failed commit ends the transaction, as on Redshift
                else:
                    _abort_transaction(ctx)
                raise _Injected(fields)
            outcome = run_copy(ctx, payload) if kind == "copy" else run_unload(ctx, payload)
        except (_Injected, RedshiftError, PgError) as exc:
            fields = exc.fields
            if fields.get("C") == "40001":
                fields = redshift_serialization_error(fields)
            _log.debug("rs-proxy[%s] %s failed: %s", self.ident, kind, fields.get("M"))
            self.send(error_response(fields))
            return False
        except Exception as exc:
            _log.exception("rs-proxy[%s] %s failed", self.ident, kind)
            _abort_transaction(ctx)
            self.send(error_response(error_fields(
                "XX000", f"internal error of the Redshift test server: {type(exc).__name__}: "
                         f"{redact_sql(str(exc))}")))
            return False
        finally:
            self.status = runner.status
        for notice in outcome.notices:
            self.send(error_response({"S": "INFO", "V": "INFO", "C": "00000", "M": notice}, notice=True))
        self.send(command_complete(outcome.tag))
        _log.debug("rs-proxy[%s] %s done: %s", self.ident, kind, outcome.tag)
        return True


def redshift_serialization_error(fields: dict[str, str]) -> dict[str, str]:
    """PostgreSQL's serialization failure (40001) as Redshift reports one: error 1023."""
    detail = (f"Serializable isolation violation on table - 0, transactions forming the cycle are: "
              f"(PostgreSQL: {fields.get('M', '')}{'; ' + fields['D'] if fields.get('D') else ''})")
    return {"S": "ERROR", "V": "ERROR", "C": "XX000", "M": "1023", "D": detail}


class _Injected(Exception):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(fields.get("M"))
        self.fields = fields
