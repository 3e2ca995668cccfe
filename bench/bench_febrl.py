"""Benchmark: identity matching on the public FEBRL1 and FEBRL2 benchmark sets.

    .venv/bin/python bench/bench_febrl.py [--sets 1,2] [--together] [--dsn postgresql://...]

Each set goes in as a POS loyalty sign-up CSV dropped into a tiny demo (a POS-only warehouse
does not build yet, issue #23), loaded by the loaders and matched by
`dbt build --select +identity_map` (ciw.evaluation.febrl.evaluate_febrl, as tests/test_febrl.py
does). Prints per set: records, true pairs, predicted pairs, pairwise precision / recall / F1,
cluster F1, the blocking recall (the share of true pairs among the pairs the matcher compared,
from matched.int_identity_pairs_compared when the matched layer has it) and the seconds of load
and build. By default every set gets a warehouse of its own (a temporary embedded PostgreSQL),
so the seconds are the set's; --together loads them into one, as the test does; --dsn (an empty
database) implies it. Only FEBRL1 and FEBRL2: the package's other sets are held out
(docs/matching-evaluation.md).
"""

from __future__ import annotations

import argparse
import logging

from _common import ROOT, bench_warehouse

SET_CHOICES = ("1", "2")


def report(evaluation, together: bool) -> None:
    from ciw.evaluation.febrl import CANDIDATE_PAIRS_MODEL

    timing = f"load {evaluation.load_seconds:.1f}s, build {evaluation.build_seconds:.1f}s" + (
        " (all sets together)" if together else ""
    )
    for number, result in sorted(evaluation.scores.items()):
        scores = result.scores
        blocking = (
            f"{result.blocking_recall:.4f}"
            if result.blocking_recall is not None
            else f"not available (no {CANDIDATE_PAIRS_MODEL})"
        )
        print(f"FEBRL{number}")
        print(
            f"  records {scores.records:,} (impossible birth dates left empty: "
            f"{result.impossible_birth_dates}, missing from identity_map: "
            f"{scores.records_missing}), true pairs {scores.true_pairs:,}, "
            f"predicted pairs {scores.predicted_pairs:,} ({scores.correct_pairs:,} correct)"
        )
        print(
            f"  precision {scores.precision:.4f}  recall {scores.recall:.4f}  "
            f"F1 {scores.f1:.4f}  cluster F1 {scores.cluster_f1:.4f} "
            f"({scores.exact_clusters:,} of {scores.true_clusters:,} true clusters exact, "
            f"{scores.predicted_clusters:,} predicted)"
        )
        print(f"  blocking recall {blocking}")
        print(f"  records joined to records outside the set: {result.records_joined_to_others}")
        print(f"  {timing}")
    for failure in evaluation.build.failures:
        print(f"  dbt: {failure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sets", default="1,2", help="comma-separated FEBRL sets: 1, 2 (no others)"
    )
    parser.add_argument(
        "--together", action="store_true", help="all sets in one warehouse (as the test)"
    )
    parser.add_argument("--dsn", help="an empty PostgreSQL database (default: embedded, temporary)")
    parser.add_argument("--customers", type=int, help="persons of the demo the sets go into")
    args = parser.parse_args()
    names = [name.strip() for name in args.sets.split(",") if name.strip()]
    refused = [name for name in names if name not in SET_CHOICES]
    if refused or not names:
        parser.error(
            f"--sets: only 1 and 2 (FEBRL3, 4a and 4b are held out), not {', '.join(refused)}"
        )
    numbers = [int(name) for name in names]

    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    import dbt.cli.main  # noqa: F401  (imported before the clock starts)

    from ciw.config import Paths
    from ciw.evaluation.febrl import DEMO_CUSTOMERS, evaluate_febrl

    customers = args.customers or DEMO_CUSTOMERS
    groups = [numbers] if args.together or args.dsn else [[number] for number in numbers]
    for group in groups:
        with bench_warehouse(args.dsn, "ciw-bench-febrl-") as (warehouse, work):
            paths = Paths(project=ROOT, home=work)
            evaluation = evaluate_febrl(warehouse, paths, group, customers=customers)
            report(evaluation, together=len(group) > 1)


if __name__ == "__main__":
    main()
