"""Shared fixtures: a real PostgreSQL (embedded pgserver, or $CIW_TEST_DSN), a fresh database
per test, the demo source data at a small scale, the demo APIs on loopback, and the demo
warehouse built once (`ciw run`) for the end-to-end tests, cloned for each test that needs it."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ciw.warehouse import Dsn, EmbeddedPostgres, Warehouse

TEST_CUSTOMERS = int(os.environ.get("CIW_TEST_CUSTOMERS", "300"))
DEMO_AS_OF = "2026-11-01"
# the scale of the end-to-end tests' demo warehouse (`ciw run --customers DEMO_CUSTOMERS`)
DEMO_CUSTOMERS = "250"


@pytest.fixture(autouse=True)
def demo_as_of_pinned(monkeypatch):
    """Demos the CLI generates in tests end on a fixed day (by default they end today): the
    tests' dates and figures stay the same whatever day they run."""
    monkeypatch.setenv("CIW_DEMO_AS_OF", DEMO_AS_OF)


@pytest.fixture(autouse=True)
def dbt_files_of_the_test(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """dbt's target and log folders of the test's own (a test or fixture may set others), not
    the project's target/ and logs/: tests running side by side (pytest -n) never read each
    other's manifest or run results."""
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Warehouse]:
    """A PostgreSQL server for the session: $CIW_TEST_DSN, else an embedded one."""
    dsn = os.environ.get("CIW_TEST_DSN")
    if dsn:
        yield Warehouse(Dsn.parse(dsn))
        return
    root = Path(tempfile.mkdtemp(prefix="ciw-pg-"))
    root.chmod(0o755)  # pgserver runs postgres as an unprivileged user when we are root
    embedded = EmbeddedPostgres(root / "pgdata")
    warehouse = embedded.start(stop_on_exit=True)
    try:
        yield warehouse
    finally:
        embedded.stop()
        shutil.rmtree(root, ignore_errors=True)


def _create_database(admin: Warehouse) -> Warehouse:
    name = f"t_{uuid.uuid4().hex[:10]}"
    conn = admin.connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'create database "{name}"')
    conn.close()
    return Warehouse(admin.dsn.with_database(name), embedded=admin.embedded)


def _drop_database(admin: Warehouse, warehouse: Warehouse) -> None:
    conn = admin.connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'drop database if exists "{warehouse.dsn.database}" with (force)')
    conn.close()


@pytest.fixture
def warehouse(pg_admin: Warehouse) -> Iterator[Warehouse]:
    """A fresh, empty database for one test."""
    wh = _create_database(pg_admin)
    try:
        yield wh
    finally:
        _drop_database(pg_admin, wh)


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo source systems at test scale (read-only: copy before changing files)."""
    from ciw.demo.generator import generate

    out = tmp_path_factory.mktemp("demo")
    generate(out, customers=TEST_CUSTOMERS, seed=7)
    return out


@pytest.fixture
def demo_copy(demo_data: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the demo data."""
    target = tmp_path / "demo"
    shutil.copytree(demo_data, target)
    return target


@pytest.fixture
def api_server(demo_copy: Path):
    from ciw.demo.servers import DemoApiServer

    with DemoApiServer(demo_copy, token="test-token", page_size=50) as server:
        yield server


FAST_HTTP_RETRIES = {
    "RUNTIME__REQUEST_MAX_ATTEMPTS": "4",
    "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.05",
    "RUNTIME__REQUEST_TIMEOUT": "2",
    "RUNTIME__LOG_LEVEL": "WARNING",
}


@pytest.fixture(autouse=True)
def _fast_http_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """dlt's HTTP client: few, quick retries so fault tests stay fast."""
    for name, value in FAST_HTTP_RETRIES.items():
        monkeypatch.setenv(name, value)


@dataclass(frozen=True)
class DemoBuild:
    """A demo warehouse as `ciw run` leaves it: the database, CIW_HOME (the demo source files
    and dlt's pipeline state) and dbt's target folder (DBT_TARGET_PATH)."""

    warehouse: Warehouse
    home: Path
    target: Path


@pytest.fixture(scope="session")
def demo_build(
    pg_admin: Warehouse, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoBuild]:
    """`ciw run --customers DEMO_CUSTOMERS` once for the session, for the end-to-end tests to
    clone (demo_warehouse, demo_warehouse_clone): never use it directly. Its files wait in
    home.built and target.built; a clone gets them back at the paths they were built at, so that
    dlt's state (which names the demo files by their path) reads as after this run."""
    from ciw import cli

    folder = tmp_path_factory.mktemp("demo-build")
    warehouse = _create_database(pg_admin)
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            # the function-scoped autouse fixtures are not set up yet for a session fixture
            for name, value in {**FAST_HTTP_RETRIES, "CIW_DEMO_AS_OF": DEMO_AS_OF}.items():
                monkeypatch.setenv(name, value)
            monkeypatch.setenv("CIW_HOME", str(folder / "home"))
            monkeypatch.setenv("CIW_DSN", warehouse.dsn.url())
            monkeypatch.setenv("DBT_TARGET_PATH", str(folder / "target"))
            monkeypatch.setenv("DBT_LOG_PATH", str(folder / "logs"))
            assert cli.main(["run", "--customers", DEMO_CUSTOMERS, "--quiet"]) == 0
        (folder / "home").rename(folder / "home.built")
        (folder / "target").rename(folder / "target.built")
        yield DemoBuild(warehouse, folder / "home", folder / "target")
    finally:
        _drop_database(pg_admin, warehouse)


def clone_demo(pg_admin: Warehouse, build: DemoBuild, *, files: bool = True) -> Warehouse:
    """A new database copied from the demo build (CREATE DATABASE ... TEMPLATE) and, with
    ``files``, the build's CIW_HOME and target folder put back in place (replacing those of the
    clone before)."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    conn = pg_admin.connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        # a template must have no sessions: end any a test left behind
        cur.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = %s and pid <> pg_backend_pid()",
            (build.warehouse.dsn.database,),
        )
        cur.execute(f'create database "{name}" template "{build.warehouse.dsn.database}"')
    conn.close()
    if files:
        for path in (build.home, build.target):
            shutil.rmtree(path, ignore_errors=True)
            shutil.copytree(path.with_name(path.name + ".built"), path)
    return Warehouse(pg_admin.dsn.with_database(name), embedded=pg_admin.embedded)


@pytest.fixture
def demo_warehouse(
    pg_admin: Warehouse, demo_build: DemoBuild, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DemoBuild]:
    """A demo warehouse of the test's own, as after `ciw run --customers DEMO_CUSTOMERS` (a
    clone of demo_build), with CIW_HOME, CIW_DSN and DBT_TARGET_PATH pointing at it: for tests
    that change it and run ciw again."""
    warehouse = clone_demo(pg_admin, demo_build)
    monkeypatch.setenv("CIW_HOME", str(demo_build.home))
    monkeypatch.setenv("CIW_DSN", warehouse.dsn.url())
    monkeypatch.setenv("DBT_TARGET_PATH", str(demo_build.target))
    try:
        yield DemoBuild(warehouse, demo_build.home, demo_build.target)
    finally:
        _drop_database(pg_admin, warehouse)


@pytest.fixture(scope="module")
def demo_warehouse_readonly(pg_admin: Warehouse, demo_build: DemoBuild) -> Iterator[DemoBuild]:
    """One demo warehouse (a clone of demo_build) for the tests of a module that only read it,
    and the build's own files (home.built, target.built): read them, never change them."""
    warehouse = clone_demo(pg_admin, demo_build, files=False)
    try:
        yield DemoBuild(
            warehouse,
            demo_build.home.with_name("home.built"),
            demo_build.target.with_name("target.built"),
        )
    finally:
        _drop_database(pg_admin, warehouse)


@contextlib.contextmanager
def _server_shop(base: str, demo: Path) -> Iterator[str]:
    """The demo shop database copied into a fresh database of the server at SQLAlchemy URL
    ``base``; the new database's URL."""
    import sqlalchemy as sa

    from ingestion.sources.shop import with_driver

    name = f"ciw_shop_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(with_driver(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"create database {name}"))
    url = sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    source = sa.create_engine(f"sqlite:///{demo / 'shop.sqlite'}")
    target = sa.create_engine(with_driver(url))
    meta = sa.MetaData()
    meta.reflect(source)
    for table in meta.tables.values():
        for column in table.columns:  # MariaDB needs lengths on indexed text columns
            if isinstance(column.type, sa.Text | sa.String) and not getattr(
                column.type, "length", None
            ):
                column.type = sa.String(255)
            elif isinstance(column.type, sa.Numeric) and column.type.precision is None:
                column.type = sa.Numeric(18, 4)  # MariaDB's bare NUMERIC has no decimals
            elif isinstance(column.type, sa.DateTime):
                column.type = sa.DateTime()  # SQLite's DATETIME is no PostgreSQL type
    meta.create_all(target)
    with source.connect() as src, target.begin() as dst:
        for table in meta.sorted_tables:
            rows = [dict(r._mapping) for r in src.execute(table.select())]
            if rows:
                dst.execute(table.insert(), rows)
    try:
        yield url
    finally:
        target.dispose()
        with admin.connect() as conn:
            # the loader's engine may still hold connections: PostgreSQL ends them
            force = " with (force)" if admin.dialect.name == "postgresql" else ""
            conn.execute(sa.text(f"drop database if exists {name}{force}"))
        admin.dispose()


@pytest.fixture
def mariadb_shop_url(demo_copy: Path) -> Iterator[str]:
    """The demo shop database copied into a fresh MariaDB database ($CIW_TEST_MARIADB_URL,
    e.g. mysql+pymysql://root@127.0.0.1:3306)."""
    base = os.environ.get("CIW_TEST_MARIADB_URL")
    if not base:
        pytest.skip("CIW_TEST_MARIADB_URL is not set (the server tests run from .ci/run)")
    with _server_shop(base, demo_copy) as url:
        yield url


@pytest.fixture
def postgres_shop_url(demo_copy: Path) -> Iterator[str]:
    """The demo shop database copied into a fresh database of the PostgreSQL server
    $CIW_TEST_DSN (a plain postgresql:// URL, as a user gives it)."""
    base = os.environ.get("CIW_TEST_DSN")
    if not base:
        pytest.skip("CIW_TEST_DSN is not set (the server tests run from .ci/run)")
    with _server_shop(base, demo_copy) as url:
        yield url
