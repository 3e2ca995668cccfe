"""Benchmark: identity resolution (staged + matched layer + identity_map / dim_customers) at
scale, with match quality against the generator's ground truth.

    .venv/bin/python bench/bench_matching.py [--customers 100000] [--dsn postgresql://...]
    .venv/bin/python bench/bench_matching.py --home /work/bench1m     # re-use a loaded demo

Generates the demo at N persons and loads it (or, with --home, re-uses a CIW_HOME whose demo
`ciw run --skip-build` already loaded into its embedded PostgreSQL or into --dsn), then:

1. a full build of the matched layer (`dbt run --full-refresh`), the match-model fit as
   `ciw match --refit` runs it (estimation, then every pair weighed again), the ids after it
   (as the build after the fit in `ciw run`), then its data tests, with wall time per model,
   identity records per second and the database size;
2. match quality (pairwise precision / recall / F1, split persons, mixed customers,
   household-only merges, evidence ceiling);
3. 1% new records, as they arrive in real life: half new guest checkouts of existing shop
   customers (their email, name, phone and address, sometimes with a typo), half accounts of
   new people; loaded by the shop loader, then an incremental run of the same models, timed
   against the full build (target < 10%).

The warehouse of a --home run is kept (the new records stay in its shop database); without
--home everything is removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sqlite3
import time
from pathlib import Path

from _common import ROOT, bench_warehouse

# the matched layer and the two public marts it feeds
SELECTION = ["+identity_map", "+dim_customers", "int_customer_id_changes", "int_identity_review"]
MATCHED_MODELS = {
    "int_identity_records_unioned",
    "int_identifiers_unpivoted",
    "int_identity_block_keys",
    "int_identity_pairs_compared",
    "int_identity_pairs_sampled",
    "int_identity_records_touched",
    "int_identifiers_assessed",
    "int_identity_links_deterministic",
    "int_identity_links_fuzzy",
    "int_identity_links_unioned",
    "int_identity_records_clustered",
    "int_customer_ids_assigned",
    "int_customer_id_changes",
    "int_identity_review",
    "identity_map",
    "dim_customers",
}


def timed_dbt(warehouse, paths, args: list[str], label: str) -> tuple[float, dict[str, float]]:
    import dbt.cli.main  # noqa: F401  (imported before the clock starts: no run pays the import)

    from ciw.dbt import run_dbt

    started = time.monotonic()
    result = run_dbt(args, warehouse, paths, capture=True)
    elapsed = time.monotonic() - started
    if not result.ok:
        print(f"{label}: dbt failed: {result.failures[:5]}")
        raise SystemExit(1)
    data = json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "run_results.json").read_text())
    per_node = {
        r["unique_id"].split(".")[-1]: r["execution_time"]
        for r in data["results"]
        if r["unique_id"].startswith("model.")
    }
    print(f"{label}: {elapsed:.1f}s wall (dbt {' '.join(args[:2])})")
    for name, seconds in sorted(per_node.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {name:<40} {seconds:7.1f}s")
    return elapsed, per_node


def timed_fit(warehouse, paths):
    """The match-model step as `ciw match --refit` runs it: candidate pairs up to date, random
    pairs drawn, EM fit, every pair weighed again (the layer after the weighed links rebuilt)."""
    from ciw.dbt import DbtSession
    from ciw.matching.step import run_match_step

    started = time.monotonic()
    result = run_match_step(DbtSession(warehouse, paths), warehouse, paths.project, refit=True)
    elapsed = time.monotonic() - started
    model = result.model
    print(
        f"match-model fit: {elapsed:.1f}s wall, estimation {model.fit_seconds:.1f}s on "
        f"{model.candidate_pair_count:,} candidate and {model.sampled_pair_count:,} random "
        f"pairs ({model.em_iterations} EM iterations), prior {model.prior_match_probability:.3g}"
    )
    return elapsed, model


def add_new_records(shop_db: Path, count: int) -> tuple[int, int]:
    """`count` new shop records: half guest checkouts of existing account holders, half
    accounts of new people. Returns (existing-person records, new-person records)."""
    from ciw.demo.generator import FIRST_NAMES, LAST_NAMES, STREETS

    db = sqlite3.connect(shop_db)
    existing = db.execute(
        "select email, first_name, last_name, phone, address_line1, city, postcode "
        "from accounts where email is not null and first_name is not null "
        "and abs(random()) % 100 < 5 limit ?",
        (count // 2,),
    ).fetchall()
    next_guest = db.execute("select max(guest_checkout_id) from guest_checkouts").fetchone()[0] + 1
    next_account = db.execute("select max(account_id) from accounts").fetchone()[0] + 1
    rng = random.Random(next_account)  # another increment each time a demo is re-used
    # later than anything the shop holds (as a live shop's clock would be)
    newest = max(
        db.execute(f"select max(updated_at) from {table}").fetchone()[0] or ""
        for table in ("accounts", "guest_checkouts")
    )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    if newest:
        now = max(now, dt.datetime.fromisoformat(newest[:19]) + dt.timedelta(seconds=1))
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")

    def typo(name: str) -> str:
        if len(name) > 4 and rng.random() < 0.2:
            i = rng.randrange(1, len(name) - 1)
            return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        return name

    guests = [
        (next_guest + i, email, typo(first), last, phone, address, city, postcode, stamp, stamp)
        for i, (email, first, last, phone, address, city, postcode) in enumerate(existing)
    ]
    db.executemany(
        "insert into guest_checkouts (guest_checkout_id, email, first_name, last_name, phone, "
        "address_line1, city, postcode, created_at, updated_at) values (?,?,?,?,?,?,?,?,?,?)",
        guests,
    )
    new_people = []
    for i in range(count - len(guests)):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        street, kind = rng.choice(STREETS)
        new_people.append(
            (
                next_account + i,
                f"new.person{next_account + i}@example.org",
                first,
                last,
                f"07{rng.randrange(10**8, 10**9)}",
                str(dt.date(rng.randrange(1950, 2005), rng.randrange(1, 13), rng.randrange(1, 29))),
                f"{rng.randrange(1, 300)} {street} {kind}",
                "Newtown",
                f"NT{rng.randrange(1, 99)} {rng.randrange(1, 9)}AB",
                stamp,
                stamp,
            )
        )
    db.executemany(
        "insert into accounts (account_id, email, first_name, last_name, phone, date_of_birth, "
        "address_line1, city, postcode, created_at, updated_at) values (?,?,?,?,?,?,?,?,?,?,?)",
        new_people,
    )
    db.commit()
    db.close()
    return len(guests), len(new_people)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--dsn", help="PostgreSQL DSN (default: a temporary embedded server)")
    parser.add_argument(
        "--home", type=Path, help="re-use this CIW_HOME: its demo is already loaded (no generate)"
    )
    parser.add_argument("--no-incremental", action="store_true", help="skip the 1%% increment")
    parser.add_argument(
        "--incremental-only",
        action="store_true",
        help="with --home: only the 1%% increment on the warehouse as it is",
    )
    args = parser.parse_args()

    from ciw.config import Paths
    from ciw.warehouse import Dsn, EmbeddedPostgres, Warehouse

    if args.home:
        os.environ["DBT_TARGET_PATH"] = str(args.home / "bench-target")
        os.environ["DBT_LOG_PATH"] = str(args.home / "bench-logs")
        os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
        embedded = None
        if args.dsn:
            warehouse = Warehouse(Dsn.parse(args.dsn))
        else:
            embedded = EmbeddedPostgres(args.home / "pgdata")
            warehouse = embedded.start(stop_on_exit=True)
        try:
            run(warehouse, Paths(project=ROOT, home=args.home), args, generate=False)
        finally:
            if embedded is not None:
                embedded.stop()
        return

    with bench_warehouse(args.dsn, "ciw-bench-match-") as (warehouse, work):
        run(warehouse, Paths(project=ROOT, home=work), args, generate=True)


def run(warehouse, paths, args, generate: bool) -> None:
    from match_quality import derived_truth, evidence_ceiling, score, truth_by_record

    from ciw.cli import load_sources
    from ciw.demo.generator import generate as generate_demo

    if generate:
        t = time.monotonic()
        generate_demo(paths.demo, customers=args.customers, seed=42)
        print(f"generate {args.customers:,} persons: {time.monotonic() - t:.1f}s")
        t = time.monotonic()
        results = load_sources(
            warehouse, paths, ["shop", "pos", "helpdesk", "web", "esp"], paths.demo, quiet=True
        )
        rows = sum(sum(r.rows.values()) for r in results)
        print(f"load: {rows:,} rows in {time.monotonic() - t:.1f}s")

    selection = ["--select", *SELECTION]
    if args.incremental_only:
        records = warehouse.query("select count(*) from matched.int_identity_records_unioned")[0][0]
        increment(warehouse, paths, records, selection, None)
        return
    timed_dbt(warehouse, paths, ["seed"], "seeds")
    full_s, full_nodes = timed_dbt(
        warehouse, paths, ["run", "--full-refresh", *selection], "full build"
    )
    # as `ciw run` would have: the fitted model weighs every pair again, then the ids follow
    fit_s, fit = timed_fit(warehouse, paths)
    catch_up_s, _ = timed_dbt(warehouse, paths, ["run", *selection], "ids after the fit")
    tests_s, _ = timed_dbt(
        warehouse,
        paths,
        ["test", *selection, "--indirect-selection", "cautious"],
        "data tests of the layer",
    )
    records = warehouse.query("select count(*) from matched.int_identity_records_unioned")[0][0]
    customers = warehouse.query("select count(*) from marts.dim_customers")[0][0]
    size = warehouse.query("select pg_database_size(current_database())")[0][0]
    matched_s = sum(s for n, s in full_nodes.items() if n in MATCHED_MODELS)
    print(
        f"identity records: {records:,} -> {customers:,} customers; full build {full_s:.1f}s "
        f"wall ({records / full_s:,.0f} records/s), matched models {matched_s:.1f}s, "
        f"match-model fit {fit.fit_seconds:.1f}s of {fit_s:.1f}s (with the re-weighing) and "
        f"{catch_up_s:.1f}s for the ids after it, full build + fit {full_s + fit_s:.1f}s, "
        f"data tests {tests_s:.1f}s; "
        f"candidate pairs {fit.candidate_pair_count:,}; database {size / 1e9:.1f} GB"
    )

    truth_dir = paths.demo / "truth"
    if (truth_dir / "identity_truth.csv").exists():
        truth = truth_by_record(truth_dir)
        derived_truth(warehouse, truth)
        mapped = warehouse.query(
            "select source_system, source_table, source_record_id, customer_id "
            "from marts.identity_map"
        )
        quality = score(mapped, truth, truth_dir / "persons.csv")
        quality.update(evidence_ceiling(warehouse, mapped, truth))
        print("match quality:", json.dumps(quality))

    if not args.no_incremental:
        increment(warehouse, paths, records, selection, full_s)


def increment(warehouse, paths, records: int, selection: list[str], full_s: float | None) -> None:
    from ciw.cli import load_sources

    extra = max(records // 100, 2)
    existing, new = add_new_records(paths.demo / "shop.sqlite", extra)
    t = time.monotonic()
    load_sources(warehouse, paths, ["shop"], paths.demo, quiet=True)
    print(
        f"+{existing + new:,} records ({existing:,} of existing customers, {new:,} new people): "
        f"shop load {time.monotonic() - t:.1f}s"
    )
    started_at = warehouse.query("select now()")[0][0]
    incremental_s, _ = timed_dbt(warehouse, paths, ["run", *selection], "incremental run")
    touched = warehouse.query(
        "select count(*) from matched.int_identity_records_touched "
        "where touched_at = (select max(touched_at) from matched.int_identity_records_touched)"
    )[0][0]
    changes = warehouse.query(
        "select change_type, count(*) from matched.int_customer_id_changes "
        "where changed_at > %s group by 1",
        (started_at,),
    )
    ratio = f"; incremental / full: {incremental_s / full_s:.1%} (target < 10%)" if full_s else ""
    print(
        f"incremental: {incremental_s:.1f}s, {touched:,} records re-matched, id changes "
        f"{dict(changes)}{ratio}"
    )


if __name__ == "__main__":
    main()
