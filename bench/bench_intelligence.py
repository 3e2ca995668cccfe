"""Benchmark: the intelligence marts and the lifetime-value fit at scale.

    .venv/bin/python bench/bench_intelligence.py [--customers 1000000] [--orders 10000000]
                                                  [--dsn postgresql://...] [--home DIR]
    .venv/bin/python bench/bench_intelligence.py --home DIR --incremental-only

Builds the whole project once on a small demo (so every table exists), then replaces the
inputs of the intelligence marts (marts.fct_orders, marts.dim_customers, marts.identity_map,
helpdesk.tickets, esp.events) with synthetic data at N customers and M orders generated inside
PostgreSQL (generate_series: repeat buying, several channels, two years), and times:

1. phase 1: `dbt build` of the intelligence marts upstream of the fit (tests included),
2. the lifetime-value step (read RFM summary, fit BG/NBD + Gamma-Gamma, score, write),
3. phase 2: `dbt build` of the marts that read the fit,
4. an incremental cycle the next day: the as-of date moves on by a day (so the windows of the
   as-of marts move, as in production) and that day's new orders (0.5% of M) are loaded (the
   lifetime-value step re-uses the fit, as `ciw run` does within var clv_refit_days). Each
   --incremental-only run is the day after the one before.

Prints wall time per step and the slowest models. Targets: full < 10 min, incremental < 1 min.
With --home DIR the warehouse stays in DIR (an embedded server in DIR/pgdata, or --dsn), and
--incremental-only then runs just another incremental cycle (step 4) on it: for tuning.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT, bench_warehouse

AS_OF = "2026-11-01"
INTELLIGENCE = "models/marts/intelligence int_returns_attributed"
SELECT = ["--select", INTELLIGENCE, "--exclude", "source:clv+", "test_type:unit"]
PHASE2 = ["--select", "source:clv+", "--exclude", "test_type:unit"]


def as_of_vars(as_of: str) -> list[str]:
    """dbt arguments that compute the marts as of a replayed date."""
    return ["--vars", json.dumps({"intelligence_as_of_date": as_of})]


def build(session, args: list[str], label: str, as_of: str = AS_OF) -> float:
    """A timed `dbt build` in the session (which parses first unless it has parsed)."""
    started = time.monotonic()
    result = session.run(["build", *args, *as_of_vars(as_of)], capture=True)
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


def dbt_import_seconds() -> float:
    """What importing dbt costs a new `ciw run` process (dbt runs in the CLI's process): 0
    when this process has not imported it yet (the cycle's first dbt command then pays it),
    else timed in a new interpreter."""
    if "dbt.cli.main" not in sys.modules:
        return 0.0
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import dbt.cli.main"], check=True)
    return time.monotonic() - started


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
        "copy orders",
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
        if sql == "copy orders":
            copy_orders(warehouse, simulate_orders(customers, orders))
            print(f"    {'orders simulated and copied in':<70} {time.monotonic() - started:6.1f}s")
            continue
        warehouse.query(sql)
        print(f"    {' '.join(sql.split())[:70]:<70} {time.monotonic() - started:6.1f}s")


def simulate_orders(customers: int, orders: int, seed: int = 7):
    """M orders from N customers who buy and drop out the way BG/NBD assumes.

    Each customer first buys on a day of their own in the last two years, then buys at a
    Poisson rate (gamma-distributed across customers) and after each purchase stops for good
    with a probability of their own (beta-distributed); some purchase days hold two orders.
    The total is then thinned or topped up with same-day orders to exactly M. Data without
    dropout (orders spread uniformly) make the fit rightly refuse (a -> 0).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    age = rng.uniform(1.0, 104.0, customers)  # weeks since the first purchase
    rate = rng.gamma(0.9, 1 / 3.0, customers)  # purchases per week while active
    dropout = rng.beta(0.8, 6.0, customers)
    repeats = np.minimum(rng.geometric(np.clip(dropout, 1e-6, 1)) - 1, 400)
    owner = np.repeat(np.arange(customers), repeats)
    # weeks between purchases (capped: a gap longer than two years never lands anyway)
    gaps = np.minimum(rng.exponential(1.0, owner.size) / np.maximum(rate[owner], 1e-9), 1000.0)
    # cumulative time of each repeat purchase within its customer
    ends = np.cumsum(repeats)
    totals = np.cumsum(gaps)
    starts = np.zeros(customers)
    has = repeats > 0
    starts[has] = totals[(ends - repeats)[has]] - gaps[(ends - repeats)[has]]
    since_first = totals - starts[owner]
    keep = since_first < age[owner]
    purchase_owner = np.concatenate((np.arange(customers), owner[keep]))
    weeks_ago = np.concatenate((age, age[owner][keep] - since_first[keep]))
    # thin or top up to exactly M orders (extra orders land on an existing purchase day)
    if purchase_owner.size >= orders:
        pick = rng.choice(purchase_owner.size, orders, replace=False)
    else:
        extra = rng.choice(purchase_owner.size, orders - purchase_owner.size, replace=True)
        pick = np.concatenate((np.arange(purchase_owner.size), extra))
    return purchase_owner[pick] + 1, weeks_ago[pick]


def copy_orders(warehouse, simulated) -> None:
    import tempfile

    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    customer_id, weeks_ago = simulated
    n = np.arange(1, customer_id.size + 1)
    rng = np.random.default_rng(11)
    as_of = np.datetime64(f"{AS_OF}T00:00:00", "s")
    ordered_at = as_of - (weeks_ago * 7 * 86400).astype("timedelta64[s]")
    channels = np.array(["web", "web", "store", "phone"])[n % 4]
    loaded_at = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime())
    revenue = np.round(10 + rng.random(n.size) * 90, 2)
    cost = np.round(revenue * 0.6, 2)
    table = pa.table(
        {
            "order_key": pa.array(np.char.add("shop:", n.astype(str))),
            "source_order_id": pa.array(n.astype(str)),
            "customer_id": pa.array(customer_id),
            "sales_channel": pa.array(channels),
            "order_status": pa.array(np.full(n.size, "completed")),
            "item_count": pa.array(np.full(n.size, 2)),
            "revenue_amount": pa.array(revenue),
            "cost_amount": pa.array(cost),
            "gross_margin_amount": pa.array(np.round(revenue - cost, 2)),
            "return_count": pa.array(np.zeros(n.size, dtype=np.int64)),
            "refunded_amount": pa.array(np.zeros(n.size)),
            "is_cancelled": pa.array(n % 97 == 0),
            "ordered_at": pa.array(ordered_at.astype("datetime64[s]").astype(str)),
            "loaded_at": pa.array(np.full(n.size, loaded_at)),
        }
    )
    # every column in the copy, none updated after it: an update of ten million rows would
    # leave fct_orders (and its index) twice its size, which a built table never is
    with tempfile.NamedTemporaryFile(suffix=".csv") as spool:
        pacsv.write_csv(table, spool.name, pacsv.WriteOptions(include_header=False))
        with open(spool.name) as data, warehouse.cursor() as cur:
            cur.copy_expert(
                "copy marts.fct_orders (order_key, source_order_id, customer_id, sales_channel, "
                "order_status, item_count, revenue_amount, cost_amount, gross_margin_amount, "
                "return_count, refunded_amount, is_cancelled, ordered_at, loaded_at) "
                "from stdin with (format csv)",
                data,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--dsn", help="PostgreSQL DSN (default: a temporary embedded server)")
    parser.add_argument(
        "--home", type=Path, help="keep the work folder (and its embedded server) here"
    )
    parser.add_argument(
        "--incremental-only",
        action="store_true",
        help="with --home: only another incremental cycle on the warehouse a run left there",
    )
    args = parser.parse_args()
    if args.incremental_only and not args.home:
        parser.error("--incremental-only needs --home (the warehouse a full run left there)")

    from ciw.clv.step import run_clv_step
    from ciw.config import Paths
    from ciw.dbt import DbtSession, dbt_env, dbt_executable

    with bench_warehouse(args.dsn, "ciw-bench-intel-", keep=args.home) as (warehouse, work):
        paths = Paths(project=ROOT, home=work)
        if not args.incremental_only:
            full_build(warehouse, paths, args)
        customers = warehouse.query("select count(*) from marts.dim_customers")[0][0]
        orders = warehouse.query("select count(*) from marts.fct_orders")[0][0]
        day = max(orders // 200, 1)
        # a daily run: the day after the as-of date the marts were last built for, with that
        # day's orders (so the windows of the as-of marts move as they do in production)
        as_of = warehouse.query(
            "select (max(computed_as_of_date) + 1)::text from marts.int_customer_purchase_states"
        )[0][0]
        warehouse.query(
            f"""insert into marts.fct_orders (order_key, source_order_id, customer_id,
            sales_channel, order_status, item_count, revenue_amount, cost_amount,
            gross_margin_amount, return_count, refunded_amount, is_cancelled, ordered_at,
            loaded_at)
            select 'shop:new' || n || '_' || e, 'new' || n || '_' || e,
                   1 + floor(random() * {customers})::bigint,
                   'web', 'completed', 1, 40, 24, 16, 0, 0, false,
                   timestamptz '{as_of}' + random() * interval '20 hours', now()
            from generate_series(1, {day}) as n,
                 (select extract(epoch from now())::bigint as e) as run"""
        )
        # a new --vars value makes dbt re-parse the whole project; production's daily run
        # (no as-of var: the marts are computed as of today) partial-parses, so the bench
        # parses for the replayed day (in a dbt process of its own) before the timed cycle,
        # and prints what that took
        parsed = time.monotonic()
        subprocess.run(
            [dbt_executable(), "parse", "--quiet", *as_of_vars(as_of)],
            cwd=ROOT,
            env=dbt_env(warehouse, paths),
            check=True,
        )
        print(
            f"4. re-parse for the replayed as-of date (not in the cycle): "
            f"{time.monotonic() - parsed:.1f}s"
        )
        # the cycle as `ciw run` builds: one dbt session parses (nothing changed since the
        # parse above, as in production) and builds phase 1, the fit, phase 2
        imported = dbt_import_seconds()
        started = time.monotonic()
        dbt = DbtSession(warehouse, paths)
        if not dbt.parse(as_of_vars(as_of), capture=True).ok:
            raise SystemExit("dbt parse failed")
        print(f"4. dbt import and parse: {time.monotonic() - started + imported:.1f}s")
        label = f"4. incremental phase 1 (+{day:,} orders, as of {as_of})"
        build(dbt, SELECT, label, as_of)
        step = time.monotonic()
        again = run_clv_step(warehouse, ROOT)  # as `ciw run`: refit every clv_refit_days
        print(
            f"4. lifetime-value step: {time.monotonic() - step:.1f}s "
            f"({'refitted' if again.refitted else 're-used the fit'}: read "
            f"{again.read_seconds:.1f}s, fit + score {again.fit_seconds:.1f}s, write "
            f"{again.write_seconds:.1f}s)"
        )
        build(dbt, PHASE2, "4. incremental phase 2", as_of)
        incremental = time.monotonic() - started + imported
        print(f"incremental cycle: {incremental:.1f}s (target < 60 s)")


def full_build(warehouse, paths, args) -> None:
    from ciw.cli import load_sources
    from ciw.clv.step import run_clv_step
    from ciw.dbt import DbtSession
    from ciw.demo.generator import generate

    dbt = DbtSession(warehouse, paths)  # not parsed: each build parses (partially) first
    generate(paths.demo, customers=300, seed=42)
    load_sources(
        warehouse, paths, ["shop", "pos", "helpdesk", "web", "esp"], paths.demo, quiet=True
    )
    build(dbt, ["--exclude", "source:clv+"], "setup build (small demo)")
    run_clv_step(warehouse, ROOT)
    build(dbt, ["--select", "source:clv+"], "setup build, phase 2")

    print(f"synthesising {args.customers:,} customers and {args.orders:,} orders:")
    started = time.monotonic()
    synthesise(warehouse, args.customers, args.orders)
    print(f"  synthesised in {time.monotonic() - started:.1f}s")

    full = build(dbt, SELECT, "1. intelligence marts, phase 1")
    started = time.monotonic()
    fit = run_clv_step(warehouse, ROOT, refit=True)
    fit_s = time.monotonic() - started
    print(
        f"2. lifetime-value step: {fit_s:.1f}s (read {fit.read_seconds:.1f}s, fit + score "
        f"{fit.fit_seconds:.1f}s, write {fit.write_seconds:.1f}s) on {fit.customers:,} "
        f"customers, {fit.repeat_customers:,} repeat; BG/NBD {fit.bgnbd}"
    )
    second = build(dbt, PHASE2, "3. marts reading the fit, phase 2")
    total = full + fit_s + second
    size = warehouse.query("select pg_size_pretty(pg_database_size(current_database()))")[0][0]
    print(f"full: {total:.1f}s = {total / 60:.1f} min (target < 10 min); database {size}")


if __name__ == "__main__":
    main()
