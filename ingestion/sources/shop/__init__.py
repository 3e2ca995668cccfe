"""Web shop database source: any SQLAlchemy URL (the demo's SQLite file, MariaDB, PostgreSQL).

Built on dlt's ``sql_database`` source with the pyarrow backend: every table is read
incrementally on ``updated_at`` and merged on its primary key; malformed rows go to
``shop._quarantine``, on SQLite also the rows with a value that does not fit its column's type
(SQLite stores any value in any column).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

import dlt
import sqlalchemy as sa
from dlt.sources.sql_database import sql_table

from ingestion.quarantine import split_quarantine
from ingestion.sources.shop.helpers import (
    arrow_splitter,
    sqlite_cursor_query,
    sqlite_mistyped_rows,
)
from ingestion.sources.shop.settings import DEFAULT_CHUNK_SIZE, SHOP_TABLES

# server databases whose rows connectorx reads straight into Arrow, in Rust: twice as fast as
# SQLAlchemy's row processing (docs/loading.md). SQLite stays on pyarrow: its checks of
# values that do not fit their column (sqlite_cursor_query) are SQLAlchemy queries
CONNECTORX_DIALECTS = ("postgresql", "mysql", "mariadb")


# the drivers the project installs, for URLs that name none (SQLAlchemy's own defaults,
# psycopg 3 and mysqlclient, are not installed)
DRIVERS = {"postgresql": "psycopg2", "mysql": "pymysql", "mariadb": "pymysql"}


def with_driver(url: str) -> sa.URL:
    """``url`` with the installed driver where it names none (postgresql://, mysql://)."""
    parsed = sa.make_url(url)
    if parsed.drivername in DRIVERS:
        parsed = parsed.set(drivername=f"{parsed.drivername}+{DRIVERS[parsed.drivername]}")
    return parsed


def default_backend(engine: sa.Engine) -> str:
    """connectorx for a server database it reads (when installed), else pyarrow."""
    if engine.dialect.name in CONNECTORX_DIALECTS and importlib.util.find_spec("connectorx"):
        return "connectorx"
    return "pyarrow"


@dlt.source(name="shop", max_table_nesting=0)
def shop_source(
    credentials: str = dlt.secrets.value,
    table_names: Iterable[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    backend: str | None = None,
):
    """One incremental, merged resource per shop table. ``backend``: dlt's sql_database
    backend (default: default_backend)."""
    engine = (
        sa.create_engine(with_driver(credentials)) if isinstance(credentials, str) else credentials
    )
    backend = backend or default_backend(engine)
    names = list(table_names or SHOP_TABLES)
    unknown = sorted(set(names) - set(SHOP_TABLES))
    if unknown:
        raise ValueError(f"unknown shop tables: {', '.join(unknown)}")
    for name in names:
        table = SHOP_TABLES[name]
        resource = sql_table(
            credentials=engine,
            table=name,
            incremental=dlt.sources.incremental(table.cursor),
            chunk_size=chunk_size,
            backend=backend,
            # connectorx reads a whole table into memory unless it streams batches
            backend_kwargs={"return_type": "arrow_stream"} if backend == "connectorx" else None,
            reflection_level="full",
            defer_table_reflect=True,
            write_disposition="merge",
            primary_key=list(table.primary_key),
            query_adapter_callback=sqlite_cursor_query,
        )
        yield from split_quarantine(
            resource.with_name(f"read_{name}"),
            name,
            arrow_splitter(table),
            primary_key=list(table.primary_key),
            write_disposition="merge",
        )
        if engine.dialect.name == "sqlite":
            yield sqlite_mistyped_rows(engine, table)
