"""The warehouse connection: one DSN used by dlt, dbt and the CLI alike.

Without a DSN the project runs on an embedded PostgreSQL (pgserver) whose data lives in a
project-local folder (``.warehouse/pgdata``) and which the CLI starts and stops.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import psycopg2

DSN_ENV = "CIW_DSN"
# the warehouse password for dbt: a DBT_ENV_SECRET_ variable, which dbt scrubs from its logs
PASSWORD_ENV = "DBT_ENV_SECRET_CIW_PG_PASSWORD"
# what url() puts in place of no password, for dlt (which insists on one; trust and peer
# authentication ignore it). Not a word dbt prints: dbt masks a password wherever it logs it.
DUMMY_PASSWORD = "ciw-no-password"


def relation_exists(cur: psycopg2.extensions.cursor, relation: str) -> bool:
    """Whether table or view ``relation`` (schema.name, quoted or not) exists, on an open
    cursor (inside the caller's transaction)."""
    cur.execute("select to_regclass(%s) is not null", (relation,))
    return cur.fetchone()[0]


class WarehouseError(RuntimeError):
    """A warehouse could not be reached or started; the message says what to do."""


# libpq keywords a DSN may carry in its query string, other than the ones Dsn keeps in fields,
# and the environment variable libpq reads each from (what dbt gets: its profile has no field
# for most of them). https://www.postgresql.org/docs/current/libpq-envars.html
LIBPQ_ENVIRONMENT = {
    "options": "PGOPTIONS",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI",
    "sslcompression": "PGSSLCOMPRESSION",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "requirepeer": "PGREQUIREPEER",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "gsslib": "PGGSSLIB",
    "channel_binding": "PGCHANNELBINDING",
    "require_auth": "PGREQUIREAUTH",
    "service": "PGSERVICE",
    "passfile": "PGPASSFILE",
    "application_name": "PGAPPNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "client_encoding": "PGCLIENTENCODING",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
    "hostaddr": "PGHOSTADDR",
    "keepalives": None,
    "keepalives_idle": None,
    "keepalives_interval": None,
    "keepalives_count": None,
    "tcp_user_timeout": None,
}
_FIELDS = {"host", "port", "user", "password", "dbname"}
_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2")
_USAGE = "expected postgresql://user:password@host:port/database[?sslmode=...&options=...]"
# a password in a URL (scheme://user:password@) or a keyword (password=...), for redact()
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:@/\s]*:)[^/\s]*@")
_KEYWORD_PASSWORD = re.compile(r"(?i)\b(password|pass|pwd)=('[^']*'|[^\s&;,]*)")


def redact(text: str) -> str:
    """``text`` with every password in it (URL ``user:password@``, ``password=...``) replaced by
    ``***``: for what goes to a terminal, a log or an error message."""
    text = _URL_PASSWORD.sub(r"\1***@", text)
    return _KEYWORD_PASSWORD.sub(r"\1=***", text)


@dataclass(frozen=True)
class Dsn:
    """A parsed ``postgresql://`` DSN. ``host`` may be a unix socket directory. ``params`` are
    the other libpq keywords of its query string (sslmode, sslrootcert, options, ...), in their
    order: dlt, dbt and psycopg2 all get them."""

    user: str
    password: str
    host: str
    port: int
    database: str
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, dsn: str) -> Dsn:
        """Raises WarehouseError, never with the password in its message, for a DSN that is not
        a PostgreSQL URL, has a port that is not a number in 1-65535 or an unknown keyword."""
        try:
            parts = urlsplit(dsn)
        except ValueError as exc:
            raise WarehouseError(f"the warehouse DSN is not a URL ({exc}): {_USAGE}") from None
        if parts.scheme not in _SCHEMES:
            raise WarehouseError(f"unsupported warehouse DSN scheme {parts.scheme!r}: {_USAGE}")
        query = parse_qsl(parts.query, keep_blank_values=True)
        single = {name: value for name, value in query if name in _FIELDS}
        unknown = sorted({n for n, _ in query if n not in _FIELDS and n not in LIBPQ_ENVIRONMENT})
        if unknown:
            raise WarehouseError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))} in the warehouse DSN "
                f"{redact(dsn)}: libpq knows {', '.join(sorted(LIBPQ_ENVIRONMENT))}"
            )
        try:
            netloc_port = parts.port
        except ValueError:
            netloc_port = parts.netloc.rpartition(":")[2]
        port_text = str(single.get("port") or netloc_port or 5432)
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise WarehouseError(
                f"bad port {port_text!r} in the warehouse DSN {redact(dsn)}: "
                f"a number from 1 to 65535; {_USAGE}"
            )
        host = single.get("host") or parts.hostname or "localhost"
        database = single.get("dbname") or unquote(parts.path.lstrip("/")) or "postgres"
        return cls(
            user=single.get("user") or unquote(parts.username or "postgres"),
            password=single.get("password") or unquote(parts.password or ""),
            host=host,
            port=int(port_text),
            database=database,
            params=tuple((n, v) for n, v in query if n not in _FIELDS),
        )

    @property
    def is_socket(self) -> bool:
        return self.host.startswith("/")

    def url(self, database: str | None = None, dummy_password: bool = True) -> str:
        """The URL form dlt accepts (it hands the query string on to psycopg2). dlt insists on
        a password, trust auth ignores it."""
        password = self.password or (DUMMY_PASSWORD if dummy_password else "")
        auth = quote(self.user, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        db = quote(database or self.database, safe="")
        query = list(self.params)
        if self.is_socket:
            query = [("host", self.host), ("port", str(self.port)), *query]
            base = f"postgresql://{auth}@localhost/{db}"
        else:
            base = f"postgresql://{auth}@{self.host}:{self.port}/{db}"
        return base + ("?" + urlencode(query) if query else "")

    def with_database(self, database: str) -> Dsn:
        return replace(self, database=database)

    def connect_kwargs(self) -> dict[str, object]:
        kwargs: dict[str, object] = {
            "user": self.user,
            "host": self.host,
            "port": self.port,
            "dbname": self.database,
            **dict(self.params),
        }
        if self.password:
            kwargs["password"] = self.password
        return kwargs

    def libpq_environment(self) -> dict[str, str]:
        """The query parameters as libpq's environment variables (PGSSLMODE, PGOPTIONS, ...),
        for a process that connects with its own settings (dbt)."""
        return {
            LIBPQ_ENVIRONMENT[name]: value
            for name, value in self.params
            if LIBPQ_ENVIRONMENT.get(name)
        }

    def redacted(self) -> str:
        return redact(self.url(dummy_password=False))


@dataclass
class Warehouse:
    """A reachable PostgreSQL warehouse."""

    dsn: Dsn
    embedded: bool = False

    def connect(self) -> psycopg2.extensions.connection:
        try:
            return psycopg2.connect(**{"connect_timeout": 10, **self.dsn.connect_kwargs()})
        except psycopg2.OperationalError as exc:
            raise WarehouseError(
                f"cannot connect to the warehouse at {self.dsn.redacted()}: {exc}".strip()
            ) from exc

    @contextlib.contextmanager
    def cursor(self) -> Iterator[psycopg2.extensions.cursor]:
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                yield cur
        finally:
            conn.close()

    def query(self, sql: str, params: tuple | dict | None = None) -> list[tuple]:
        with self.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def exists(self, relation: str) -> bool:
        """Whether table or view ``relation`` (schema.name, quoted or not) exists."""
        with self.cursor() as cur:
            return relation_exists(cur, relation)

    def dlt_destination(self):  # -> dlt destination
        import dlt

        return dlt.destinations.postgres(self.dsn.url())

    def dbt_env(self) -> dict[str, str]:
        """Environment read by profiles.yml (the dbt profile of this project), and the DSN's
        query parameters as libpq variables (PGSSLMODE, PGSSLROOTCERT, ...), which psycopg2
        reads for what the profile leaves unset. The password goes in a DBT_ENV_SECRET_
        variable: dbt scrubs those from its logs and refuses them outside profiles."""
        return {
            "CIW_PG_HOST": self.dsn.host,
            "CIW_PG_PORT": str(self.dsn.port),
            "CIW_PG_USER": self.dsn.user,
            PASSWORD_ENV: "" if self.dsn.password == DUMMY_PASSWORD else self.dsn.password,
            "CIW_PG_DATABASE": self.dsn.database,
            **self.dsn.libpq_environment(),
        }


def _pgserver():  # -> the pgserver module
    try:
        with warnings.catch_warnings():
            # pgserver keeps its lock file in the user's runtime folder; without
            # XDG_RUNTIME_DIR (root, containers, CI) platformdirs warns at every start and
            # falls back to /tmp/runtime-<uid>, which serves as well
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            import pgserver
    except ImportError as exc:  # pragma: no cover - dependency is pinned
        raise WarehouseError("pgserver is not installed: run `make venv`") from exc
    return pgserver


class EmbeddedPostgres:
    """pgserver-backed PostgreSQL 16 in a project-local data folder (socket only, no root)."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = Path(pgdata).absolute()
        self._server = None

    def is_running(self) -> bool:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return False
        return True

    def start(self, stop_on_exit: bool = True) -> Warehouse:
        """Start (or attach to) the server. With stop_on_exit the server stops when this
        process exits, unless it was already running before (then it is left running)."""
        pgserver = _pgserver()
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        was_running = self.is_running()
        mode = "stop" if stop_on_exit and not was_running else None
        fresh = not (self.pgdata / "PG_VERSION").exists()
        try:
            with _c_locale(fresh):
                self._server = _tuned_server(pgserver, self.pgdata, mode)
        except Exception as exc:
            log = self.pgdata / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise WarehouseError(
                f"could not start the embedded PostgreSQL in {self.pgdata}: {exc}\n{tail}"
            ) from exc
        return Warehouse(Dsn.parse(self._server.get_uri()), embedded=True)

    def stop(self) -> bool:
        """Stop the server whoever started it. Returns False if it was not running."""
        if not self.is_running():
            return False
        pgserver = _pgserver()

        user = "pgserver" if os.geteuid() == 0 else None
        pgserver.pg_ctl(["-w", "stop", "-m", "fast"], pgdata=self.pgdata, user=user)
        if self._server is not None:
            # stopped now: pgserver's exit hook must not try again (it logs an error)
            self._server.cleanup_mode = None
        return True


SETTINGS_FILE = "ciw-settings.conf"
_INCLUDE = f"include_if_exists = '{SETTINGS_FILE}'"
_MIB = 1024**2


def server_settings(ram_bytes: int | None = None) -> dict[str, str]:
    """The embedded server's settings, written to <pgdata>/ciw-settings.conf before each start.

    * shared_buffers: an eighth of the machine's memory, at most 2 GB and at least
      PostgreSQL's 128 MB. At 128 MB an incremental run of the matched layer at a million
      persons copies the same index and table pages in from the page cache model after model,
      and evicts dirty ones to do it: 2 GB took its runs from 31-35 s to 29 s (2026-12-06,
      alternating runs). 4 GB with other settings changed was slower the day before.

    postgresql.auto.conf is read after this file: `ALTER SYSTEM SET shared_buffers` overrides
    it (a server restart applies it)."""
    if ram_bytes is None:
        ram_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    shared_mb = max(128, min(ram_bytes // 8 // _MIB, 2048))
    return {"shared_buffers": f"{shared_mb}MB"}


def write_server_settings(pgdata: Path) -> None:
    """Write SETTINGS_FILE into an initialised data folder and include it from
    postgresql.conf (once). Read by the server at its next start."""
    lines = [f"# written by ciw at every start of the embedded server ({__name__})"]
    lines += [f"{name} = '{value}'" for name, value in server_settings().items()]
    settings = pgdata / SETTINGS_FILE
    settings.write_text("\n".join(lines) + "\n")
    settings.chmod(0o644)  # pgserver runs postgres as its own user when we are root
    conf = pgdata / "postgresql.conf"
    text = conf.read_text()
    if _INCLUDE not in text.splitlines():
        conf.write_text(text.rstrip("\n") + "\n" + _INCLUDE + "\n")


def _tuned_server(pgserver, pgdata: Path, cleanup_mode: str | None):
    """pgserver.get_server(), but with our settings written between initdb (for a new data
    folder) and the start of the server, so that the first start already has them."""

    class TunedServer(pgserver.PostgresServer):
        def ensure_pgdata_inited(self) -> None:
            super().ensure_pgdata_inited()
            if not self.is_running_now():
                write_server_settings(self.pgdata)

        def is_running_now(self) -> bool:
            info = pgserver.utils.PostmasterInfo.read_from_pgdata(self.pgdata)
            return info is not None and info.is_running()

    pgdata = pgdata.expanduser().resolve()
    known = pgserver.PostgresServer._instances.get(pgdata)
    if known is not None:
        return known
    pgdata.mkdir(exist_ok=True)
    return TunedServer(pgdata, cleanup_mode=cleanup_mode)


@contextlib.contextmanager
def _c_locale(active: bool) -> Iterator[None]:
    """A new embedded cluster is initialised with the C collation: text compares byte-wise, so
    the sorts, hashes and indexes over millions of record keys take the fast path (under a
    linguistic collation, C.UTF-8 included, PostgreSQL 16 compares through strcoll and cannot
    abbreviate keys). The character classification (LC_CTYPE) stays the environment's, so
    lower() and the regular expressions of the normalisation macros still know É from é."""
    if not active:
        yield
        return
    names = ("LC_ALL", "LC_COLLATE", "LC_CTYPE")
    saved = {name: os.environ.get(name) for name in names}
    ctype = saved["LC_ALL"] or saved["LC_CTYPE"] or os.environ.get("LANG")
    os.environ.pop("LC_ALL", None)
    os.environ["LC_COLLATE"] = "C"
    if ctype:
        os.environ["LC_CTYPE"] = ctype
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def resolve_warehouse(
    dsn: str | None, pgdata: Path, stop_on_exit: bool = True
) -> tuple[Warehouse, EmbeddedPostgres | None]:
    """The warehouse named by ``dsn`` (or $CIW_DSN); without one, the embedded server."""
    dsn = dsn or os.environ.get(DSN_ENV)
    if dsn:
        warehouse = Warehouse(Dsn.parse(dsn))
        warehouse.connect().close()
        return warehouse, None
    embedded = EmbeddedPostgres(pgdata)
    return embedded.start(stop_on_exit=stop_on_exit), embedded
