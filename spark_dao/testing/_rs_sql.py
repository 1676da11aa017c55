"""Redshift SQL the test server handles itself: COPY FROM S3 and UNLOAD parsed into plain data,
Redshift-only CREATE TABLE clauses stripped, and secrets masked in any SQL that is logged.

Nothing here does I/O; :mod:`._rs_commands` executes what is parsed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .._redact import redact

# --------------------------------------------------------------------------------- lexing
_TOKEN = re.compile(r"""
    (?P<ws>\s+|--[^\n]*|/\*.*?\*/)
  | (?P<str>[eE]?'(?:[^']|'')*')
  | (?P<ident>"(?:[^"]|"")*")
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<punct>.)
""", re.X | re.S)


class SqlSyntaxError(ValueError):
    """The statement is not COPY/UNLOAD as Redshift accepts it; the message says where."""


@dataclass(frozen=True)
class Token:
    kind: str  # str, ident, num, word, punct
    value: str  # str: the unquoted text; ident: unquoted name; word: UPPER; num/punct: as written
    raw: str


def tokenize(sql: str) -> list[Token]:
    tokens = []
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup
        raw = m.group()
        if kind == "ws":
            continue
        if kind == "str":
            if raw[0] in "eE":
                raise SqlSyntaxError("escape string literals (E'...') are not supported here")
            value = raw[1:-1].replace("''", "'")
        elif kind == "ident":
            value = raw[1:-1].replace('""', '"')
        elif kind == "word":
            value = raw.upper()
        else:
            value = raw
        tokens.append(Token(kind, value, raw))  # type: ignore[arg-type]
    return tokens


def first_word(sql: str) -> str:
    for tok in tokenize_head(sql):
        return tok.value if tok.kind == "word" else ""
    return ""


def tokenize_head(sql: str, limit: int = 6) -> list[Token]:
    out = []
    for m in _TOKEN.finditer(sql):
        if m.lastgroup == "ws":
            continue
        raw = m.group()
        out.append(Token(m.lastgroup, raw.upper() if m.lastgroup == "word" else raw, raw))  # type: ignore[arg-type]
        if len(out) >= limit:
            break
    return out


def single_statement(sql: str) -> str:
    """``sql`` without trailing semicolons and whitespace."""
    return sql.strip().rstrip(";").strip()


# --------------------------------------------------------------------------------- parsed commands
@dataclass(frozen=True)
class Authorization:
    iam_roles: tuple[str, ...] = ()
    default_role: bool = False
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # never show keys
        return f"Authorization(iam_roles={self.iam_roles!r}, default_role={self.default_role}, keys={'***' if self.access_key else None})"


@dataclass(frozen=True)
class CopyCommand:
    table: str  # as written (quoted parts kept), for PostgreSQL
    table_name: str  # the unqualified name, for messages
    columns: tuple[str, ...] | None  # as written (quoted where they were), or None: all columns
    source: str
    auth: Authorization
    format: str = "TEXT"
    manifest: bool = False
    region: str | None = None
    delimiter: str | None = None
    ignore_header: int = 0
    null_as: str | None = None
    quote: str | None = None
    compression: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnloadCommand:
    query: str
    target: str
    auth: Authorization
    format: str = "TEXT"
    manifest: bool = False
    manifest_verbose: bool = False
    allow_overwrite: bool = False
    clean_path: bool = False
    parallel: bool = True
    max_file_size: int | None = None
    header: bool = False
    delimiter: str | None = None
    region: str | None = None
    extension: str | None = None


class _Parser:
    def __init__(self, tokens: list[Token], what: str) -> None:
        self.toks = tokens
        self.i = 0
        self.what = what

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise SqlSyntaxError(f"syntax error at end of {self.what} statement")
        self.i += 1
        return tok

    def accept(self, *words: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok.kind == "word" and tok.value in words:
            self.i += 1
            return tok.value
        return None

    def expect_punct(self, ch: str) -> None:
        tok = self.next()
        if tok.kind != "punct" or tok.value != ch:
            raise SqlSyntaxError(f"syntax error at or near {tok.raw!r} in {self.what}: expected {ch!r}")

    def string(self, after: str) -> str:
        self.accept("AS")
        tok = self.next()
        if tok.kind != "str":
            raise SqlSyntaxError(f"syntax error at or near {tok.raw!r}: {after} needs a quoted string")
        return tok.value

    def number(self, after: str) -> float:
        self.accept("AS")
        tok = self.next()
        if tok.kind != "num":
            raise SqlSyntaxError(f"syntax error at or near {tok.raw!r}: {after} needs a number")
        return float(tok.value)

    def auth_option(self, word: str, state: dict) -> bool:
        if word == "IAM_ROLE":
            if self.accept("DEFAULT"):
                state["default_role"] = True
            else:
                state["iam_roles"] = tuple(r.strip() for r in self.string("IAM_ROLE").split(",") if r.strip())
        elif word == "CREDENTIALS" or word == "WITH" and self.accept("CREDENTIALS"):
            text = self.string("CREDENTIALS")
            pairs = dict(part.split("=", 1) for part in text.split(";") if "=" in part)
            pairs = {k.strip().lower(): v.strip() for k, v in pairs.items()}
            if "aws_iam_role" in pairs:
                state["iam_roles"] = tuple(r.strip() for r in pairs["aws_iam_role"].split(","))
            else:
                state["access_key"] = pairs.get("aws_access_key_id")
                state["secret_key"] = pairs.get("aws_secret_access_key")
                state["session_token"] = pairs.get("token")
                if not state["access_key"] or not state["secret_key"]:
                    raise SqlSyntaxError("CREDENTIALS needs aws_iam_role=... or "
                                         "aws_access_key_id=...;aws_secret_access_key=...")
        elif word == "ACCESS_KEY_ID":
            state["access_key"] = self.string(word)
        elif word == "SECRET_ACCESS_KEY":
            state["secret_key"] = self.string(word)
        elif word == "SESSION_TOKEN":
            state["session_token"] = self.string(word)
        else:
            return False
        return True

    def format_option(self, word: str) -> str | None:
        if word == "FORMAT":
            self.accept("AS")
            tok = self.next()
            if tok.kind != "word":
                raise SqlSyntaxError(f"syntax error at or near {tok.raw!r} after FORMAT")
            return tok.value
        if word in ("PARQUET", "CSV", "JSON", "AVRO", "ORC", "FIXEDWIDTH"):
            return word
        return None

    def onoff(self) -> bool:
        value = self.accept("ON", "OFF", "TRUE", "FALSE")
        return value not in ("OFF", "FALSE")


def _authorization(state: dict, what: str) -> Authorization:
    auth = Authorization(iam_roles=state.get("iam_roles", ()), default_role=state.get("default_role", False),
                         access_key=state.get("access_key"), secret_key=state.get("secret_key"),
                         session_token=state.get("session_token"))
    if not (auth.iam_roles or auth.default_role or auth.access_key):
        raise SqlSyntaxError(f"{what} needs an authorization: IAM_ROLE, CREDENTIALS or ACCESS_KEY_ID/SECRET_ACCESS_KEY")
    return auth


def parse_copy(sql: str) -> CopyCommand | None:
    """A COPY FROM 's3://...' statement parsed, or None when the statement is another COPY."""
    toks = tokenize(single_statement(sql))
    p = _Parser(toks, "COPY")
    if not p.accept("COPY"):
        return None
    name_parts: list[Token] = [p.next()]
    while (tok := p.peek()) is not None and tok.kind == "punct" and tok.value == ".":
        p.next()
        name_parts.append(p.next())
    if any(t.kind not in ("word", "ident") for t in name_parts):
        return None
    columns = None
    if (tok := p.peek()) is not None and tok.kind == "punct" and tok.value == "(":
        p.next()
        cols = []
        while True:
            tok = p.next()
            if tok.kind not in ("word", "ident"):
                raise SqlSyntaxError(f"syntax error at or near {tok.raw!r} in the COPY column list")
            cols.append(tok.raw)
            tok = p.next()
            if tok.value == ")":
                break
            if tok.value != ",":
                raise SqlSyntaxError(f"syntax error at or near {tok.raw!r} in the COPY column list")
        columns = tuple(cols)
    if not p.accept("FROM"):
        return None
    src = p.peek()
    if src is None or src.kind != "str" or not src.value.lower().startswith("s3://"):
        return None
    p.next()
    state: dict = {}
    fmt, manifest, region, delimiter, null_as, ignore_header, options = "TEXT", False, None, None, None, 0, []
    quote, compression = None, None
    while (tok := p.peek()) is not None:
        if tok.kind == "punct" and tok.value == ";":
            break
        word = p.next()
        if word.kind != "word":
            raise SqlSyntaxError(f"syntax error at or near {word.raw!r} in COPY")
        w = word.value
        if p.auth_option(w, state):
            continue
        if (f := p.format_option(w)) is not None:
            fmt = f
            if f == "CSV" and p.accept("QUOTE"):
                quote = p.string("QUOTE")
        elif w == "MANIFEST":
            manifest = True
        elif w == "REGION":
            region = p.string(w)
        elif w == "DELIMITER":
            delimiter = p.string(w)
        elif w == "NULL":
            null_as = p.string(w)
        elif w in ("GZIP", "BZIP2"):
            compression = w
        elif w == "IGNOREHEADER":
            ignore_header = int(p.number(w))
        elif w in ("STATUPDATE", "COMPUPDATE"):
            p.accept("ON", "OFF", "TRUE", "FALSE", "PRESET")
        elif w == "ACCEPTINVCHARS":
            if (t := p.peek()) is not None and (t.kind == "str" or t.value == "AS"):
                p.string(w)
        elif w in ("FILLRECORD", "EXPLICIT_IDS", "SERIALIZETOJSON", "TRUNCATECOLUMNS", "BLANKSASNULL",
                   "EMPTYASNULL", "REMOVEQUOTES", "TRIMBLANKS"):
            options.append(w)
        else:
            raise SqlSyntaxError(f"COPY option {w} is not supported by the Redshift test server")
    table = ".".join(t.raw for t in name_parts)
    return CopyCommand(table=table, table_name=name_parts[-1].value if name_parts[-1].kind == "ident"
                       else name_parts[-1].raw.lower(), columns=columns, source=src.value,
                       auth=_authorization(state, "COPY"), format=fmt, manifest=manifest, region=region,
                       delimiter=delimiter, ignore_header=ignore_header, null_as=null_as, quote=quote,
                       compression=compression, options=tuple(options))


def parse_unload(sql: str) -> UnloadCommand:
    toks = tokenize(single_statement(sql))
    p = _Parser(toks, "UNLOAD")
    p.accept("UNLOAD")
    p.expect_punct("(")
    query = p.string("UNLOAD (")
    p.expect_punct(")")
    if not p.accept("TO"):
        raise SqlSyntaxError("syntax error in UNLOAD: expected TO 's3://...'")
    target = p.string("TO")
    if not target.lower().startswith("s3://"):
        raise SqlSyntaxError(f"UNLOAD destination must be an s3:// location, not {target!r}")
    state: dict = {}
    values: dict = {}
    while (tok := p.peek()) is not None:
        if tok.kind == "punct" and tok.value == ";":
            break
        word = p.next()
        if word.kind != "word":
            raise SqlSyntaxError(f"syntax error at or near {word.raw!r} in UNLOAD")
        w = word.value
        if p.auth_option(w, state):
            continue
        if (f := p.format_option(w)) is not None:
            values["format"] = f
        elif w == "MANIFEST":
            values["manifest"] = True
            values["manifest_verbose"] = bool(p.accept("VERBOSE"))
        elif w == "ALLOWOVERWRITE":
            values["allow_overwrite"] = True
        elif w == "CLEANPATH":
            values["clean_path"] = True
        elif w == "PARALLEL":
            values["parallel"] = p.onoff()
        elif w in ("MAXFILESIZE", "ROWGROUPSIZE"):
            size = p.number(w)
            unit = p.accept("MB", "GB") or "MB"
            if w == "MAXFILESIZE":
                values["max_file_size"] = int(size * (1024 ** 3 if unit == "GB" else 1024 ** 2))
                if not 5 * 1024**2 <= values["max_file_size"] <= int(6.2 * 1024**3):
                    raise SqlSyntaxError("MAXFILESIZE must be between 5 MB and 6.2 GB")
        elif w == "HEADER":
            values["header"] = True
        elif w == "DELIMITER":
            values["delimiter"] = p.string(w)
        elif w == "REGION":
            values["region"] = p.string(w)
        elif w == "EXTENSION":
            values["extension"] = p.string(w)
        else:
            raise SqlSyntaxError(f"UNLOAD option {w} is not supported by the Redshift test server")
    return UnloadCommand(query=query, target=target, auth=_authorization(state, "UNLOAD"), **values)


# --------------------------------------------------------------------------------- DDL
_CREATE_TABLE = re.compile(r"^\s*(?:CREATE\s+(?:(?:LOCAL\s+)?(?:TEMP|TEMPORARY)\s+)?TABLE|ALTER\s+TABLE)\b", re.I)
_DDL_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(?:COMPOUND\s+|INTERLEAVED\s+)?SORTKEY\s*\([^)]*\)", re.I), ""),
    (re.compile(r"\bSORTKEY\s+AUTO\b", re.I), ""),
    (re.compile(r"\bDISTKEY\s*\([^)]*\)", re.I), ""),
    (re.compile(r"\bDISTSTYLE\s+(?:AUTO|EVEN|KEY|ALL)\b", re.I), ""),
    (re.compile(r"\bENCODE\s+[A-Za-z0-9_]+", re.I), ""),
    (re.compile(r"\bBACKUP\s+(?:YES|NO)\b", re.I), ""),
    (re.compile(r"\b(?:DISTKEY|SORTKEY)\b", re.I), ""),
    (re.compile(r"\bIDENTITY\s*\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)", re.I),
     r"GENERATED BY DEFAULT AS IDENTITY (START WITH \1 INCREMENT BY \2)"),
    (re.compile(r"\b((?:VARCHAR|CHARACTER\s+VARYING|NVARCHAR))\s*\(\s*MAX\s*\)", re.I), r"\1(65535)"),
)


def rewrite_ddl(sql: str) -> str:
    """CREATE/ALTER TABLE with Redshift-only clauses (DISTKEY, SORTKEY, DISTSTYLE, ENCODE, BACKUP,
    IDENTITY(s, i), VARCHAR(MAX)) rewritten for PostgreSQL; any other statement unchanged."""
    if not _CREATE_TABLE.match(sql):
        return sql
    for pattern, repl in _DDL_REWRITES:
        sql = pattern.sub(repl, sql)
    return sql


# --------------------------------------------------------------------------------- secrets
_SECRET_CLAUSE = re.compile(
    r"\b(CREDENTIALS|ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|PASSWORD|IAM_ROLE)(\s+(?:AS\s+)?)'(?:[^']|'')*'",
    re.I,
)


def redact_sql(sql: str) -> str:
    """``sql`` with the values of CREDENTIALS, keys, tokens and passwords replaced by ``'***'``."""
    return redact(_SECRET_CLAUSE.sub(r"\1\2'***'", sql))
