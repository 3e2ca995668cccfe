"""Benchmark: identity resolution (staged + matched + customer 360) at scale, with match
quality against the generator's ground truth.

    .venv/bin/python bench/bench_matching.py [--customers 100000] [--dsn postgresql://...]

Generates the demo at N persons, loads it, runs `dbt build`, and prints wall time per model,
identity records per second through the matched layer, the database size, the match quality
(pairwise precision / recall / F1, split persons, mixed customers, household-only merges), then
adds 1% new accounts and times the incremental run.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import time
from pathlib import Path

from _common import ROOT, bench_warehouse


def timed_build(warehouse, paths, label: str) -> float:
    from ciw.dbt import run_dbt

    started = time.monotonic()
    result = run_dbt(["build", "--exclude", "test_type:data"], warehouse, paths, capture=True)
    elapsed = time.monotonic() - started
    if not result.ok:
        print(f"{label}: dbt build failed: {result.failures[:5]}")
        raise SystemExit(1)
    data = json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "run_results.json").read_text())
    slowest = sorted(
        (r for r in data["results"] if r["unique_id"].startswith("model.")),
        key=lambda r: -r["execution_time"],
    )
    print(f"{label}: dbt build {elapsed:.1f}s; slowest models:")
    for node in slowest[:8]:
        print(f"  {node['unique_id'].split('.')[-1]:<40} {node['execution_time']:7.1f}s")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--dsn", help="PostgreSQL DSN (default: a temporary embedded server)")
    args = parser.parse_args()

    from match_quality import derived_truth, evidence_ceiling, score, truth_by_record

    from ciw.cli import load_sources
    from ciw.config import Paths
    from ciw.demo.generator import generate

    with bench_warehouse(args.dsn, "ciw-bench-match-") as (warehouse, work):
        paths = Paths(project=ROOT, home=work)
        t = time.monotonic()
        generate(paths.demo, customers=args.customers, seed=42)
        print(f"generate {args.customers:,} persons: {time.monotonic() - t:.1f}s")
        t = time.monotonic()
        results = load_sources(
            warehouse, paths, ["shop", "pos", "helpdesk", "web", "esp"], paths.demo, quiet=True
        )
        rows = sum(sum(r.rows.values()) for r in results)
        print(f"load: {rows:,} rows in {time.monotonic() - t:.1f}s")

        full_s = timed_build(warehouse, paths, "full build")
        records = warehouse.query("select count(*) from matched.int_identity_records_unioned")[0][0]
        size = warehouse.query("select pg_size_pretty(pg_database_size(current_database()))")[0][0]
        print(
            f"identity records: {records:,}; {records / full_s:,.0f} records/s end to end "
            f"(whole dbt build); database size {size}"
        )

        truth = truth_by_record(paths.demo / "truth")
        derived_truth(warehouse, truth)
        mapped = warehouse.query(
            "select source_system, source_table, source_record_id, customer_id "
            "from marts.identity_map"
        )
        quality = score(mapped, truth, paths.demo / "truth" / "persons.csv")
        quality.update(evidence_ceiling(warehouse, mapped, truth))
        print("match quality:", json.dumps(quality))

        db = sqlite3.connect(paths.demo / "shop.sqlite")
        start = db.execute("select max(account_id) from accounts").fetchone()[0] + 1
        extra = max(records // 100, 1)
        db.executemany(
            "insert into accounts (account_id, email, first_name, last_name, created_at, "
            "updated_at) values (?, ?, 'New', 'Customer', '2030-01-01 00:00:00', "
            "'2030-01-01 00:00:00')",
            [(start + i, f"new{start + i}@example.org") for i in range(extra)],
        )
        db.commit()
        load_sources(warehouse, paths, ["shop"], paths.demo, quiet=True)
        incremental_s = timed_build(warehouse, paths, f"incremental build (+{extra:,} records)")
        print(f"incremental / full: {incremental_s / full_s:.0%} (target < 10%)")


if __name__ == "__main__":
    main()
