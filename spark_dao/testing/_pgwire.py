"""The PostgreSQL frontend/backend protocol (version 3), the parts the Redshift test server needs.

Framing of messages (``Byte1 type, Int32 length, body``; the startup packet has no type byte),
builders for the backend messages the proxy answers itself (ParseComplete, CommandComplete,
ErrorResponse, ReadyForQuery, ...), and :class:`PgClient`, a minimal client (startup, trust or md5
authentication, simple queries with text results) used for setup, for the separate connection
that writes ``stl_load_errors`` and, through :class:`BackendSession`, for the statements the proxy
runs on a client's own backend connection.
"""

from __future__ import annotations

import hashlib
import socket
import struct
from dataclasses import dataclass, field

PROTOCOL_3 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102


class WireError(Exception):
    """The peer closed the connection or sent something that is not the protocol."""


@dataclass
class PgError(Exception):
    """An ErrorResponse: ``fields`` maps the one-letter field codes (S, C, M, D, W, ...) to values."""

    fields: dict[str, str] = field(default_factory=dict)

    @property
    def sqlstate(self) -> str:
        return self.fields.get("C", "")

    @property
    def message(self) -> str:
        return self.fields.get("M", "")

    def __str__(self) -> str:
        return f"{self.sqlstate}: {self.message}"


# ---------------------------------------------------------------------------------------- framing
class MessageStream:
    """Buffered reading of whole protocol messages from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise WireError("connection closed by peer")
        self.buf += chunk

    def has_message(self) -> bool:
        if len(self.buf) < 5:
            return False
        (length,) = struct.unpack_from("!i", self.buf, 1)
        return len(self.buf) >= 1 + length

    def read(self) -> tuple[bytes, bytes]:
        """The next typed message as ``(type, body)``; blocks until it is complete."""
        while not self.has_message():
            self._fill()
        (length,) = struct.unpack_from("!i", self.buf, 1)
        kind, body = bytes(self.buf[:1]), bytes(self.buf[5:1 + length])
        del self.buf[:1 + length]
        return kind, body

    def read_untyped(self) -> bytes:
        """The startup-phase packet (no type byte): its body after the length."""
        while len(self.buf) < 4:
            self._fill()
        (length,) = struct.unpack_from("!i", self.buf, 0)
        if not 8 <= length <= 10_000:
            raise WireError("bad startup packet length")
        while len(self.buf) < length:
            self._fill()
        body = bytes(self.buf[4:length])
        del self.buf[:length]
        return body

    def read_available(self) -> None:
        """One ``recv`` into the buffer (the caller saw the socket readable)."""
        self._fill()


def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def cstr(text: str | bytes) -> bytes:
    return (text.encode() if isinstance(text, str) else text) + b"\0"


def read_cstr(body: bytes, pos: int) -> tuple[str, int]:
    end = body.index(b"\0", pos)
    return body[pos:end].decode("utf-8", "replace"), end + 1


def startup_packet(params: dict[str, str]) -> bytes:
    body = struct.pack("!i", PROTOCOL_3) + b"".join(cstr(k) + cstr(v) for k, v in params.items()) + b"\0"
    return struct.pack("!i", len(body) + 4) + body


def parse_startup(body: bytes) -> tuple[int, dict[str, str]]:
    (code,) = struct.unpack_from("!i", body, 0)
    params: dict[str, str] = {}
    pos = 4
    if code == PROTOCOL_3:
        while pos < len(body) and body[pos] != 0:
            key, pos = read_cstr(body, pos)
            value, pos = read_cstr(body, pos)
            params[key] = value
    return code, params


# ------------------------------------------------------------------------- backend messages
def error_response(fields: dict[str, str], *, notice: bool = False) -> bytes:
    body = b"".join(code.encode() + cstr(value) for code, value in fields.items() if value is not None) + b"\0"
    return message(b"N" if notice else b"E", body)


def error_fields(sqlstate: str, text: str, *, detail: str | None = None, severity: str = "ERROR") -> dict[str, str]:
    fields = {"S": severity, "V": severity, "C": sqlstate, "M": text}
    if detail:
        fields["D"] = detail
    return fields


def command_complete(tag: str) -> bytes:
    return message(b"C", cstr(tag))


def ready_for_query(status: bytes) -> bytes:
    return message(b"Z", status)


PARSE_COMPLETE = message(b"1")
BIND_COMPLETE = message(b"2")
CLOSE_COMPLETE = message(b"3")
NO_DATA = message(b"n")
NO_PARAMETERS = message(b"t", struct.pack("!h", 0))


def parse_error_body(body: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in body.split(b"\0"):
        if part:
            fields[part[:1].decode()] = part[1:].decode("utf-8", "replace")
    return fields


# ------------------------------------------------------------------------- frontend messages
def parse_parse(body: bytes) -> tuple[str, str, bytes]:
    """Parse message -> (statement name, query, the rest: parameter type oids)."""
    name, pos = read_cstr(body, 0)
    query, pos = read_cstr(body, pos)
    return name, query, body[pos:]


def build_parse(name: str, query: str, rest: bytes) -> bytes:
    return message(b"P", cstr(name) + cstr(query) + rest)


def parse_bind_names(body: bytes) -> tuple[str, str]:
    """Bind message -> (portal, statement)."""
    portal, pos = read_cstr(body, 0)
    statement, _ = read_cstr(body, pos)
    return portal, statement


@dataclass
class Column:
    name: str
    type_oid: int
    typmod: int


@dataclass
class Result:
    columns: list[Column] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    tag: str = ""


def parse_row_description(body: bytes) -> list[Column]:
    (count,) = struct.unpack_from("!h", body, 0)
    pos, cols = 2, []
    for _ in range(count):
        name, pos = read_cstr(body, pos)
        _table, _attnum, type_oid, _size, typmod, _fmt = struct.unpack_from("!ihihih", body, pos)
        pos += 18
        cols.append(Column(name, type_oid, typmod))
    return cols


def parse_data_row(body: bytes) -> list[str | None]:
    (count,) = struct.unpack_from("!h", body, 0)
    pos, values = 2, []
    for _ in range(count):
        (length,) = struct.unpack_from("!i", body, pos)
        pos += 4
        if length < 0:
            values.append(None)
        else:
            values.append(body[pos:pos + length].decode("utf-8"))
            pos += length
    return values


class QueryRunner:
    """Runs simple queries on a connection whose protocol state is 'ready' and reads the replies.

    ``status`` is the transaction status of the last ReadyForQuery (I idle, T in a block, E failed).
    """

    def __init__(self, sock: socket.socket, stream: MessageStream) -> None:
        self.sock = sock
        self.stream = stream
        self.status = b"I"

    def query(self, sql: str) -> Result:
        """Run one statement; raise :class:`PgError` (after the ReadyForQuery) when it fails."""
        self.sock.sendall(message(b"Q", cstr(sql)))
        result, error = Result(), None
        while True:
            kind, body = self.stream.read()
            if kind == b"T":
                result.columns = parse_row_description(body)
            elif kind == b"D":
                result.rows.append(parse_data_row(body))
            elif kind == b"C":
                result.tag = body[:-1].decode()
            elif kind == b"E":
                error = PgError(parse_error_body(body))
            elif kind == b"G":  # COPY FROM STDIN is never sent by the server itself: refuse it
                self.sock.sendall(message(b"f", cstr("not supported")))
            elif kind == b"Z":
                self.status = body[:1]
                break
        if error is not None:
            raise error
        return result


class PgClient(QueryRunner):
    """A minimal PostgreSQL client: ``PgClient.connect(...)`` then :meth:`query` and :meth:`close`."""

    @classmethod
    def connect(cls, *, user: str, database: str, password: str | None = None,
                host: str = "127.0.0.1", port: int = 5432, unix_socket: str | None = None,
                timeout: float = 30.0) -> PgClient:
        if unix_socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: object = unix_socket
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            target = (host, port)
        sock.settimeout(timeout)
        try:
            sock.connect(target)  # type: ignore[arg-type]
            sock.sendall(startup_packet({"user": user, "database": database}))
            client = cls(sock, MessageStream(sock))
            client._authenticate(user, password)
        except BaseException:
            sock.close()
            raise
        sock.settimeout(None)
        return client

    def _authenticate(self, user: str, password: str | None) -> None:
        while True:
            kind, body = self.stream.read()
            if kind == b"R":
                (code,) = struct.unpack_from("!i", body, 0)
                if code == 5:  # md5
                    salt = body[4:8]
                    self.sock.sendall(message(b"p", cstr(md5_password(user, password or "", salt))))
                elif code == 3:
                    self.sock.sendall(message(b"p", cstr(password or "")))
                elif code != 0:
                    raise WireError(f"unsupported authentication request {code}")
            elif kind == b"E":
                raise PgError(parse_error_body(body))
            elif kind == b"Z":
                self.status = body[:1]
                return

    def close(self) -> None:
        try:
            self.sock.sendall(message(b"X"))
        except OSError:
            pass
        self.sock.close()


def md5_password(user: str, password: str, salt: bytes) -> str:
    inner = hashlib.md5((password + user).encode()).hexdigest()
    return "md5" + hashlib.md5(inner.encode() + salt).hexdigest()


def quote_literal(text: str) -> str:
    """A SQL string literal (standard_conforming_strings is on in every server this module starts)."""
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
