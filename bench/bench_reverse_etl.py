"""Benchmark: reverse-ETL throughput, unchanged re-sync, and purchase-to-welcome latency.

    .venv/bin/python bench/bench_reverse_etl.py [--rows 100000] [--latency-customers 100000]
                                                [--dsn postgresql://...] [--skip-latency]

1. Throughput: N welcome rows (an audience table made in the warehouse) synced to the signed
   webhook connector on loopback (local receivers), rows/s; then an unchanged re-sync (must send
   nothing) and its time. The same for the email connector as exactly-once messages (ledger).
2. Latency: the demo at M customers loaded and built once; then a new customer's first order
   lands in the shop database and one incremental cycle runs (load, build, fit, sync): the
   time from the order landing to its welcome being delivered at the receiver.

Targets: >= 5,000 rows/s; unchanged re-sync < 5 s; purchase-to-welcome < 2 minutes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sqlite3
import time
from pathlib import Path

from _common import ROOT, bench_warehouse

SYNCS = """
defaults: {batch_size: 1000, rate_limit_per_second: 0, max_retries: 3}
syncs:
  - name: welcome_webhook
    audience: audience_welcome
    kind: list
    key: customer_id
    connector: {type: webhook, url: URL/webhook, secret: bench-secret}
    fields: {customer_id: customer_id, first_name: first_name, channel: channel,
             contact: contact_point}
  - name: welcome_email
    audience: audience_welcome
    kind: message
    connector: {type: email_service, url: URL/email}
    fields: {email: contact_point, first_name: first_name, template: "=welcome"}
"""


def throughput(warehouse, rows: int, work: Path) -> None:
    from ciw.demo.receivers import ChannelReceivers
    from reverse_etl.config import load_syncs
    from reverse_etl.engine import SyncEngine

    macro = (ROOT / "macros/intelligence/create_reverse_etl_tables.sql").read_text()
    ddl = re.sub(r"\{%.*?%\}", "", re.sub(r"\{#.*?#\}", "", macro, flags=re.S), flags=re.S)
    warehouse.query(ddl)
    warehouse.query(
        "drop schema if exists marts cascade; create schema marts; "
        "create table marts.audience_welcome as select 'welcome:' || n as idempotency_key, "
        "n::bigint as customer_id, 'email' as channel, 'c' || n || '@example.org' as "
        "contact_point, 'Name' || n as first_name, 'event' || n as reason "
        f"from generate_series(1, {rows}) as n"
    )
    with ChannelReceivers(secret="bench-secret") as receivers:
        config = work / "syncs.yml"
        config.write_text(SYNCS.replace("URL", receivers.url))
        for sync in load_syncs(config):
            engine = SyncEngine(warehouse.connect, lambda name: f"marts.{name}")
            engine.ensure_tables()
            started = time.monotonic()
            result = engine.run(sync)
            elapsed = time.monotonic() - started
            assert result.sent == rows, result
            started = time.monotonic()
            again = SyncEngine(warehouse.connect, lambda name: f"marts.{name}").run(sync)
            unchanged = time.monotonic() - started
            assert again.sent == 0 and again.planned_adds + again.planned_updates == 0
            delivered = len(receivers.delivery_counts(sync.connector["type"].split("_")[0]))
            print(
                f"{sync.name} ({sync.kind}): {rows:,} rows in {elapsed:.1f}s = "
                f"{rows / elapsed:,.0f} rows/s (target >= 5,000); unchanged re-sync "
                f"{unchanged:.2f}s, sent nothing (target < 5 s); receiver holds {delivered:,}"
            )


def latency(warehouse, customers: int, work: Path) -> None:
    from ciw import cli
    from ciw.config import Paths

    os.environ["CIW_HOME"] = str(work / "home")
    os.environ["CIW_DSN"] = warehouse.dsn.url()
    started = time.monotonic()
    assert cli.main(["run", "--customers", str(customers), "--quiet"]) == 0
    print(f"initial run at {customers:,} customers: {time.monotonic() - started:.0f}s")
    paths = Paths(project=ROOT, home=work / "home")
    shop = sqlite3.connect(paths.demo / "shop.sqlite")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    shop.execute(
        "insert into accounts (account_id, email, first_name, last_name, phone, created_at, "
        "updated_at) values (990000001, 'brand.new@example.org', 'Brand', 'New', "
        "'07700 990001', ?, ?)",
        (now, now),
    )
    shop.execute(
        "insert into marketing_preferences (account_id, channel, is_opted_in, updated_at) "
        "values (990000001, 'email', 1, ?)",
        (now,),
    )
    product = shop.execute("select min(product_id) from products").fetchone()[0]
    shop.execute(
        "insert into orders (order_id, account_id, sales_channel, order_status, currency, "
        "shipping_amount, total_amount, ordered_at, updated_at) values (990000001, 990000001, "
        "'web', 'delivered', 'GBP', 0, 30, ?, ?)",
        (now, now),
    )
    shop.execute(
        "insert into order_lines (order_line_id, order_id, product_id, quantity, unit_price, "
        "discount_amount, updated_at) values (9900000010, 990000001, ?, 1, 30, 0, ?)",
        (product, now),
    )
    shop.commit()
    landed = time.monotonic()
    assert cli.main(["run", "--customers", str(customers), "--quiet"]) == 0
    cycle = time.monotonic() - landed
    sent = warehouse.query(
        "select l.sent_at from reverse_etl.send_ledger as l join marts.identity_map as m "
        "using (customer_id) where m.source_system = 'shop' and m.source_table = 'accounts' "
        "and m.source_record_id = '990000001' and l.audience = 'welcome' and l.status = 'sent'"
    )
    assert sent, "the new customer was not welcomed"
    print(
        f"purchase-to-welcome: {cycle:.0f}s through one cycle of load, build, fit and sync "
        f"(target < 120 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--latency-customers", type=int, default=100_000)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--dsn", help="PostgreSQL DSN (default: a temporary embedded server)")
    args = parser.parse_args()

    with bench_warehouse(args.dsn, "ciw-bench-retl-") as (warehouse, work):
        throughput(warehouse, args.rows, work)
        if not args.skip_latency:
            warehouse.query(
                "drop schema if exists marts cascade; drop schema if exists reverse_etl cascade"
            )
            latency(warehouse, args.latency_customers, work)


if __name__ == "__main__":
    main()
