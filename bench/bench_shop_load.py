"""Benchmark: load N shop orders plus their lines with the dlt shop loader, next to a raw
PostgreSQL COPY of the same rows into the same server, measured in the same run.

    .venv/bin/python bench/bench_shop_load.py [--orders 1000000] [--dsn postgresql://...]

Prints rows/s for both paths, the ratio (target: dlt >= 50% of raw COPY) and the dlt path's
peak memory (target: < 1 GB). Without --dsn it uses a throw-away embedded PostgreSQL.

The shop is a SQLite file unless --source-dsn names a PostgreSQL server
(postgresql://user@host:port/db): the orders are then copied into a new database of that
server, ciw_bench_shop, dropped afterwards, and read from there as a server shop is (the
default backend for a server database is connectorx, for SQLite pyarrow).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from _common import run_child

ORDERS_DDL = """
create table orders (order_id INTEGER PRIMARY KEY, account_id INTEGER, guest_checkout_id INTEGER,
  sales_channel TEXT, order_status TEXT, currency TEXT, shipping_amount NUMERIC,
  total_amount NUMERIC, ordered_at DATETIME, updated_at DATETIME);
create table order_lines (order_line_id INTEGER PRIMARY KEY, order_id INTEGER, product_id INTEGER,
  quantity INTEGER, unit_price NUMERIC, discount_amount NUMERIC, updated_at DATETIME);
create index orders_updated on orders (updated_at);
create index order_lines_updated on order_lines (updated_at);
"""

PG_DDL = """
create table {schema}.orders (order_id bigint primary key, account_id bigint,
  guest_checkout_id bigint, sales_channel text, order_status text, currency text,
  shipping_amount numeric, total_amount numeric, ordered_at timestamptz, updated_at timestamptz);
create table {schema}.order_lines (order_line_id bigint primary key, order_id bigint,
  product_id bigint, quantity bigint, unit_price numeric, discount_amount numeric,
  updated_at timestamptz);
"""


def make_shop(path: Path, n_orders: int, seed: int = 1) -> int:
    """A SQLite shop with n_orders orders and ~2.5 lines each; returns the number of lines."""
    rng = random.Random(seed)
    db = sqlite3.connect(path)
    db.executescript(ORDERS_DDL)
    base = 1_700_000_000
    line_id = 0
    orders, lines = [], []
    for order_id in range(1, n_orders + 1):
        ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(base + order_id * 30))
        n_lines = rng.choice((1, 1, 2, 2, 3, 3, 4, 4))
        total = 0.0
        for _ in range(n_lines):
            line_id += 1
            price = round(rng.uniform(2, 200), 2)
            qty = rng.randint(1, 3)
            total += price * qty
            lines.append((line_id, order_id, rng.randint(1, 200), qty, price, 0, ts))
        orders.append(
            (
                order_id,
                rng.randint(1, n_orders // 3 + 1),
                None,
                "web",
                "delivered",
                "GBP",
                3.95,
                round(total + 3.95, 2),
                ts,
                ts,
            )
        )
        if len(orders) >= 100_000:
            db.executemany("insert into orders values (?,?,?,?,?,?,?,?,?,?)", orders)
            db.executemany("insert into order_lines values (?,?,?,?,?,?,?)", lines)
            orders, lines = [], []
    db.executemany("insert into orders values (?,?,?,?,?,?,?,?,?,?)", orders)
    db.executemany("insert into order_lines values (?,?,?,?,?,?,?)", lines)
    db.commit()
    db.close()
    return line_id


def export_csv(sqlite_path: Path, folder: Path) -> dict[str, Path]:
    db = sqlite3.connect(sqlite_path)
    out = {}
    for table in ("orders", "order_lines"):
        path = folder / f"{table}.csv"
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            cur = db.execute(f"select * from {table}")
            while rows := cur.fetchmany(100_000):
                writer.writerows(rows)
        out[table] = path
    return out


def raw_copy(dsn: str, files: dict[str, Path]) -> float:
    from ciw.warehouse import Dsn, Warehouse

    wh = Warehouse(Dsn.parse(dsn))
    with wh.cursor() as cur:
        cur.execute("drop schema if exists bench_copy cascade; create schema bench_copy")
        cur.execute(PG_DDL.format(schema="bench_copy"))
    conn = wh.connect()
    started = time.monotonic()
    with conn, conn.cursor() as cur:
        for table, path in files.items():
            with path.open() as f:
                cur.copy_expert(f"copy bench_copy.{table} from stdin with (format csv)", f)
    elapsed = time.monotonic() - started
    conn.close()
    return elapsed


SOURCE_DATABASE = "ciw_bench_shop"


def server_shop(source_dsn: str, files: dict[str, Path]) -> str:
    """The orders copied into a new database SOURCE_DATABASE of the PostgreSQL server
    ``source_dsn``; its SQLAlchemy URL."""
    import psycopg2
    import sqlalchemy as sa

    admin = psycopg2.connect(source_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"drop database if exists {SOURCE_DATABASE}")
        cur.execute(f"create database {SOURCE_DATABASE}")
    admin.close()
    url = sa.make_url(source_dsn).set(database=SOURCE_DATABASE)
    conn = psycopg2.connect(url.render_as_string(hide_password=False))
    with conn, conn.cursor() as cur:
        cur.execute(PG_DDL.format(schema="public"))
        for table, path in files.items():
            with path.open() as f:
                cur.copy_expert(f"copy {table} from stdin with (format csv)", f)
            cur.execute(f"create index on {table} (updated_at)")
    conn.close()
    return url.render_as_string(hide_password=False)


def drop_server_shop(source_dsn: str) -> None:
    import psycopg2

    admin = psycopg2.connect(source_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"drop database if exists {SOURCE_DATABASE}")
    admin.close()


def child_dlt(dsn: str, shop_url: str, pipelines_dir: str, backend: str) -> None:
    """Runs in a subprocess so its peak RSS is the loader's own."""
    from ciw.warehouse import Dsn, Warehouse
    from ingestion.runner import run_source
    from ingestion.sources.shop import shop_source

    wh = Warehouse(Dsn.parse(dsn))
    with wh.cursor() as cur:
        cur.execute(
            "drop schema if exists shop cascade; drop schema if exists shop_staging cascade"
        )
    source = shop_source(
        credentials=shop_url,
        table_names=["orders", "order_lines"],
        backend=None if backend == "default" else backend,
    )
    started = time.monotonic()
    result = run_source("shop", source, wh, Path(pipelines_dir), raise_on_error=True)
    elapsed = time.monotonic() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": elapsed, "rows": result.rows, "peak_rss_mb": peak_kb / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--dsn", help="PostgreSQL DSN (default: a temporary embedded server)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument(
        "--backends",
        default="default,pyarrow,connectorx",
        help="sql_database backends to measure (comma-separated; default: the shop's own)",
    )
    parser.add_argument("--source-dsn", help="a PostgreSQL server to read the shop from")
    args = parser.parse_args()
    if args.child:
        child_dlt(*args.child)
        return

    work = Path(tempfile.mkdtemp(prefix="ciw-bench-"))
    work.chmod(0o755)
    embedded = None
    try:
        dsn = args.dsn
        if not dsn:
            from ciw.warehouse import EmbeddedPostgres

            embedded = EmbeddedPostgres(work / "pgdata")
            dsn = embedded.start(stop_on_exit=True).dsn.url()
        print(f"generating {args.orders:,} orders ...", flush=True)
        t = time.monotonic()
        n_lines = make_shop(work / "shop.sqlite", args.orders)
        total_rows = args.orders + n_lines
        print(f"  {args.orders:,} orders + {n_lines:,} lines in {time.monotonic() - t:.1f}s")
        files = export_csv(work / "shop.sqlite", work)

        copy_s = raw_copy(dsn, files)
        print(f"raw COPY: {total_rows:,} rows in {copy_s:.1f}s = {total_rows / copy_s:,.0f} rows/s")

        shop_url = f"sqlite:///{work / 'shop.sqlite'}"
        if args.source_dsn:
            shop_url = server_shop(args.source_dsn, files)
            print(f"shop read from PostgreSQL database {SOURCE_DATABASE}")
        env = dict(os.environ, RUNTIME__LOG_LEVEL="WARNING")
        for backend in args.backends.split(","):
            figures = run_child(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    dsn,
                    shop_url,
                    str(work / f"pipelines_{backend}"),
                    backend,
                ],
                f"the {backend} load",
                env=env,
            )
            loaded = sum(figures["rows"].values())
            dlt_s = figures["seconds"]
            if backend == "default":
                import sqlalchemy as sa

                from ingestion.sources.shop import default_backend, with_driver

                backend = f"default = {default_backend(sa.create_engine(with_driver(shop_url)))}"
            print(
                f"dlt shop loader (sql_database backend={backend}, csv/COPY, first load appends): "
                f"{loaded:,} rows in {dlt_s:.1f}s = {loaded / dlt_s:,.0f} rows/s, "
                f"peak RSS {figures['peak_rss_mb']:,.0f} MB"
            )
            print(
                f"  dlt / raw COPY throughput: {(loaded / dlt_s) / (total_rows / copy_s):.0%} "
                "(target >= 50%); peak memory target < 1024 MB"
            )
            if loaded != total_rows:
                print(f"  WARNING: loaded {loaded:,} rows, expected {total_rows:,}")
    finally:
        if args.source_dsn:
            drop_server_shop(args.source_dsn)
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
