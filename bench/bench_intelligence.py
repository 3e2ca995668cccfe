"""Benchmark: the intelligence marts and the lifetime-value fit at scale.

    .venv/bin/python bench/bench_intelligence.py [--customers 1000000] [--orders 10000000]
                                                  [--dsn postgresql://...]

Builds the whole project once on a small demo (so every table exists), then replaces the
inputs of the intelligence marts (marts.fct_orders, marts.dim_customers, marts.identity_map,
helpdesk.tickets, esp.events) with synthetic data at N customers and M orders generated inside
PostgreSQL (generate_series: repeat buying, several channels, two years), and times:

1. phase 1: `dbt build` of the intelligence marts upstream of the fit (tests included),
2. the lifetime-value step (read RFM summary, fit BG/NBD + Gamma-Gamma, score, write),
3. phase 2: `dbt build` of the marts that read the fit,
4. an incremental cycle after a day's new orders (0.5% of M) dated on the as-of day.

Prints wall time per step and the slowest models. Targets: full < 10 min, incremental < 1 min.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from _common import ROOT, bench_warehouse

AS_OF = "2026-11-01"
INTELLIGENCE = "models/marts/intelligence int_returns_attributed"


def build(warehouse, paths, args: list[str], label: str) -> float:
    from ciw.dbt import run_dbt

    started = time.monotonic()
    result = run_dbt(
        ["build", *args, "--vars", json.dumps({"intelligence_as_of_date": AS_OF})],
        warehouse,
        paths,
        capture=True,
    )
    elapsed = time.monotonic() - started
    if not result.ok:
        print(f"{label}: dbt build failed: {result.failures[:5]}")
        raise SystemExit(1)
    data = json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "run_results.json").read_text())
    slowest = sorted(data["results"], key=lambda r: -r["execution_time"])
    print(f"{label}: {elapsed:.1f}s ({len(data['results'])} nodes); slowest:")
    for node in slowest[:10]:
        print(f"    {node['unique_id'].split('.')[-1][:48]:<48} {node['execution_time']:7.1f}s")
    return elapsed


def synthesise(warehouse, customers: int, orders: int) -> None:
    """Replace the mart inputs with N customers and M orders, generated in the database."""
    statements = [
        "truncate marts.identity_map, marts.dim_customers, marts.fct_orders",
        "truncate helpdesk.tickets, esp.events",
        # customers: a golden record each
        f"""insert into marts.dim_customers (customer_id, first_name, last_name, email, phone,
            postcode, source_systems, source_record_count, is_email_consented,
            is_sms_consented, is_post_consented, first_seen_at, last_seen_at)
            select n, 'First' || n, 'Last' || n, 'c' || n || '@example.org',
                   '+447700' || lpad(n::text, 6, '0'), 'AB1 2CD', 'shop', 1,
                   n % 3 > 0, n % 4 = 0, n % 10 = 0, timestamptz '2024-11-01', now()
            from generate_series(1, {customers}) as n""",
        # orders: a skewed choice of customer (repeat buyers), two years, three channels
        f"""insert into marts.fct_orders (order_key, source_order_id, customer_id, sales_channel,
            order_status, item_count, revenue_amount, cost_amount, gross_margin_amount,
            return_count, refunded_amount, is_cancelled, ordered_at, loaded_at)
            select 'shop:' || n, n::text,
                   1 + floor(power(random(), 1.6) * {customers})::bigint,
                   (array['web', 'web', 'store', 'phone'])[1 + (n % 4)], 'completed', 2,
                   round((10 + random() * 90)::numeric, 2), 0, 0, 0, 0, n % 97 = 0,
                   timestamptz '{AS_OF}' - random() * interval '730 days', now()
            from generate_series(1, {orders}) as n""",
        """update marts.fct_orders set cost_amount = round(revenue_amount * 0.6, 2),
            gross_margin_amount = revenue_amount - round(revenue_amount * 0.6, 2)""",
        # a customer id per order-less prospect too: tickets from 1 in 3 customers
        f"""insert into helpdesk.tickets (ticket_id, contact_type, channel, status, subject,
            product_category, handle_minutes, requester_name, created_at, updated_at,
            _dlt_load_id, _dlt_id)
            select n, case when n % 5 = 0 then 'complaint' else 'enquiry' end,
                   (array['phone', 'email', 'chat', 'store'])[1 + (n % 4)], 'solved', 'Question',
                   'Kitchen', round((2 + random() * 20)::numeric, 1), 'Some One',
                   timestamptz '{AS_OF}' - random() * interval '730 days', now(),
                   '1700000000.0', 't' || n
            from generate_series(1, {customers // 3}) as n""",
        f"""insert into marts.identity_map (source_system, source_table, source_record_id,
            customer_id, matched_by_rule, match_score)
            select 'helpdesk', 'tickets', n::text, 1 + (n::bigint * 7919) % {customers},
                   'same_email', 1
            from generate_series(1, {customers // 3}) as n""",
        # email: a contact per second customer, a send a month for the last six months
        f"""insert into marts.identity_map (source_system, source_table, source_record_id,
            customer_id, matched_by_rule, match_score)
            select 'esp', 'contacts', 'c_' || n, n, 'same_email', 1
            from generate_series(2, {customers}, 2) as n""",
        f"""insert into esp.events (event_id, event_type, contact_id, email, campaign_id,
            occurred_at, _dlt_load_id, _dlt_id)
            select 'e' || n || '_' || m, 'send', 'c_' || n, 'c' || n || '@example.org',
                   'cmp_' || m, timestamptz '{AS_OF}' - m * interval '30 days', '1700000000.0',
                   'e' || n || '_' || m
            from generate_series(2, {customers}, 2) as n, generate_series(1, 6) as m""",
        "analyze marts.fct_orders",
        "analyze marts.identity_map",
        "analyze marts.dim_customers",
        "analyze helpdesk.tickets",
        "analyze esp.events",
    ]
    for sql in statements:
        started = time.monotonic()
        warehouse.query(sql)
        print(f"    {' '.join(sql.split())[:70]:<70} {time.monotonic() - started:6.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--dsn", help="PostgreSQL DSN (default: a temporary embedded server)")
    args = parser.parse_args()

    from ciw.cli import load_sources
    from ciw.clv.step import run_clv_step
    from ciw.config import Paths
    from ciw.demo.generator import generate

    with bench_warehouse(args.dsn, "ciw-bench-intel-") as (warehouse, work):
        paths = Paths(project=ROOT, home=work)
        generate(paths.demo, customers=300, seed=42)
        load_sources(
            warehouse, paths, ["shop", "pos", "helpdesk", "web", "esp"], paths.demo, quiet=True
        )
        build(warehouse, paths, ["--exclude", "source:clv+"], "setup build (small demo)")
        run_clv_step(warehouse, ROOT)
        build(warehouse, paths, ["--select", "source:clv+"], "setup build, phase 2")

        print(f"synthesising {args.customers:,} customers and {args.orders:,} orders:")
        started = time.monotonic()
        synthesise(warehouse, args.customers, args.orders)
        print(f"  synthesised in {time.monotonic() - started:.1f}s")

        select = ["--select", INTELLIGENCE, "--exclude", "source:clv+", "test_type:unit"]
        full = build(warehouse, paths, select, "1. intelligence marts, phase 1")
        started = time.monotonic()
        fit = run_clv_step(warehouse, ROOT)
        fit_s = time.monotonic() - started
        print(
            f"2. lifetime-value step: {fit_s:.1f}s (read {fit.read_seconds:.1f}s, fit + score "
            f"{fit.fit_seconds:.1f}s, write {fit.write_seconds:.1f}s) on {fit.customers:,} "
            f"customers, {fit.repeat_customers:,} repeat; BG/NBD {fit.bgnbd}"
        )
        phase2 = ["--select", "source:clv+", "--exclude", "test_type:unit"]
        second = build(warehouse, paths, phase2, "3. marts reading the fit, phase 2")
        total = full + fit_s + second
        size = warehouse.query("select pg_size_pretty(pg_database_size(current_database()))")[0][0]
        print(f"full: {total:.1f}s = {total / 60:.1f} min (target < 10 min); database {size}")

        day = max(args.orders // 200, 1)
        warehouse.query(
            f"""insert into marts.fct_orders (order_key, source_order_id, customer_id,
            sales_channel, order_status, item_count, revenue_amount, cost_amount,
            gross_margin_amount, return_count, refunded_amount, is_cancelled, ordered_at,
            loaded_at)
            select 'shop:new' || n, 'new' || n, 1 + floor(random() * {args.customers})::bigint,
                   'web', 'completed', 1, 40, 24, 16, 0, 0, false,
                   timestamptz '{AS_OF}' - random() * interval '20 hours', now()
            from generate_series(1, {day}) as n"""
        )
        started = time.monotonic()
        build(warehouse, paths, select, f"4. incremental phase 1 (+{day:,} orders)")
        run_clv_step(warehouse, ROOT)
        build(warehouse, paths, phase2, "4. incremental phase 2")
        incremental = time.monotonic() - started
        print(f"incremental cycle: {incremental:.1f}s (target < 60 s)")


if __name__ == "__main__":
    main()
