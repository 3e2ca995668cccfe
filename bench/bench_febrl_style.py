"""Benchmark: speed and quality of identity matching on 200,000 FEBRL-style records (issue #21).

    .venv/bin/python bench/bench_febrl_style.py [--records 200000] [--seed 0]
        [--dsn postgresql://...] [--keep DIR]

The issue's speed target: load + estimation + build of 200,000 FEBRL-style records no slower
than Splink's 58-73 s on this machine. The records (ciw.evaluation.synthetic: values from
FEBRL1's and FEBRL2's pools, a fifth duplicates with FEBRL-like corruptions) go in as one POS
loyalty sign-up CSV dropped into a tiny demo, as FEBRL1 and FEBRL2 do (evaluate_febrl), on a
fresh warehouse (a temporary embedded PostgreSQL, or the empty database --dsn). Timed:

1. load: every source of the demo plus the drop, by the CLI's loaders (`ciw load --demo`),
   with dbt parsing the project meanwhile as `ciw run` does (ciw.dbt.parsing_ahead);
2. fit: the match-model step as `ciw run` runs it with a refit (dbt's parse, which reads
   back what was parsed during the load, then the matched layer up to the candidate pairs,
   the random pairs, the estimation, every pair weighed again);
3. build: `dbt build --select +identity_map --indirect-selection cautious`.

Then pairwise precision / recall / F1, cluster F1 and blocking recall over the generated
records, and the slowest dbt models of the fit and the build (dbt's run_results.json).
--keep DIR keeps the work folder (drop, dbt target, logs) and the embedded server's data
(DIR/pgdata) for inspection; the server itself stops when the bench exits.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import ROOT, bench_warehouse

SPLINK_SECONDS = (58.0, 73.0)  # Splink on this machine, issue #21
SLOWEST = 8  # dbt models listed per phase
MATCHER_PATHS = ("models", "macros", "seeds", "ciw", "ingestion", "dbt_project.yml")


@dataclass
class Invocation:
    """One dbt invocation: its phase, arguments, wall seconds and, from its run_results.json,
    dbt's own elapsed seconds and (resource type, name, seconds) per node."""

    phase: str
    args: list[str]
    seconds: float
    elapsed: float = 0.0
    nodes: list[tuple[str, str, float]] = field(default_factory=list)


def recording_session(warehouse, paths, invocations: list[Invocation], phase: str):
    """A DbtSession that keeps every invocation's times (run_results.json in dbt's target
    folder, which bench_warehouse sets) and keeps dbt's console output off the screen."""
    from ciw.dbt import DbtSession

    class RecordingSession(DbtSession):
        def run(self, args, capture: bool = False):
            results = Path(os.environ["DBT_TARGET_PATH"]) / "run_results.json"
            before = results.stat().st_mtime_ns if results.exists() else None
            started = time.monotonic()
            result = super().run(args, capture=True)
            invocation = Invocation(phase, list(args), time.monotonic() - started)
            if results.exists() and results.stat().st_mtime_ns != before:
                data = json.loads(results.read_text())
                invocation.elapsed = data.get("elapsed_time") or 0.0
                for node in data.get("results", []):
                    kind, *_, name = node["unique_id"].split(".")
                    invocation.nodes.append((kind, name, node.get("execution_time") or 0.0))
            invocations.append(invocation)
            return result

    return RecordingSession(warehouse, paths)


def report_dbt(invocations: list[Invocation], phase: str) -> None:
    """Where a phase's dbt time went: per invocation, per kind of node, slowest models."""
    mine = [invocation for invocation in invocations if invocation.phase == phase]
    print(f"dbt in the {phase}: {len(mine)} invocations")
    for invocation in mine:
        by_kind: dict[str, float] = {}
        for kind, _, seconds in invocation.nodes:
            by_kind[kind] = by_kind.get(kind, 0.0) + seconds
        kinds = ", ".join(f"{kind} {seconds:.1f}s" for kind, seconds in sorted(by_kind.items()))
        print(
            f"  dbt {' '.join(invocation.args)}: {invocation.seconds:.1f}s wall, dbt's elapsed "
            f"{invocation.elapsed:.1f}s; nodes (summed over threads): {kinds or 'none'}"
        )
    models = sorted(
        (
            (seconds, name)
            for invocation in mine
            for kind, name, seconds in invocation.nodes
            if kind == "model"
        ),
        reverse=True,
    )[:SLOWEST]
    print("  slowest models: " + ", ".join(f"{name} {seconds:.1f}s" for seconds, name in models))


def project_version() -> str:
    """The commit the project is at, and whether the matcher's files differ from it (other
    people's edits to a shared working tree change the figures)."""
    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--", *MATCHER_PATHS)
    return f"commit {commit}" + (" with uncommitted changes to the matcher" if changed else "")


def run(args: argparse.Namespace) -> None:
    from ciw.config import Paths
    from ciw.evaluation.febrl import (
        BUILD_SELECTION,
        DEMO_AS_OF,
        DEMO_CUSTOMERS,
        DEMO_SEED,
        SOURCE_SYSTEM,
        SOURCE_TABLE,
        blocking_recall,
        candidate_pairs,
        load_demo,
        predicted_customers,
        records_joined_to_others,
        require_identity_map_built,
        score_clusters,
        write_loyalty_signups,
    )
    from ciw.evaluation.synthetic import generate_febrl_style

    version = project_version()
    print(f"project at {version}")
    started = time.monotonic()
    records = generate_febrl_style(args.records, seed=args.seed)
    print(
        f"generated {len(records.records):,} FEBRL-style records (seed {args.seed}): "
        f"{records.originals:,} originals, {records.duplicates:,} duplicates, "
        f"{len(records.true_pairs()):,} true pairs ({time.monotonic() - started:.1f}s, untimed)"
    )
    with bench_warehouse(args.dsn, "ciw-bench-febrl-style-", keep=args.keep) as (warehouse, work):
        from ciw.dbt import parsing_ahead
        from ciw.demo.generator import generate
        from ciw.matching.step import run_match_step

        paths = Paths(project=ROOT, home=work)
        generate(paths.demo, customers=DEMO_CUSTOMERS, seed=DEMO_SEED, as_of=DEMO_AS_OF)
        drop = write_loyalty_signups(records, paths.demo / SOURCE_SYSTEM / SOURCE_TABLE)
        invocations: list[Invocation] = []

        with parsing_ahead(warehouse, paths):  # as `ciw run` loads: dbt parses meanwhile
            load_seconds = load_demo(warehouse, paths)

        started = time.monotonic()
        session = recording_session(warehouse, paths, invocations, "fit")
        session.parse()  # as `ciw run` builds: one parse, its manifest for every invocation
        parse_seconds = time.monotonic() - started
        step = run_match_step(session, warehouse, paths.project, refit=True)
        fit_seconds = time.monotonic() - started

        started = time.monotonic()
        build = recording_session(warehouse, paths, invocations, "build").run(list(BUILD_SELECTION))
        build_seconds = time.monotonic() - started

        total = load_seconds + fit_seconds + build_seconds
        model = step.model
        low, high = SPLINK_SECONDS
        verdict = "faster than" if total < low else "within" if total <= high else "slower than"
        print(
            f"load  {load_seconds:6.1f}s  (every demo source + {drop.records:,} sign-ups, "
            f"{drop.impossible_birth_dates:,} impossible birth dates written empty)"
        )
        print(
            f"fit   {fit_seconds:6.1f}s  (dbt parse {parse_seconds:.1f}s, then ciw match --refit; "
            "the estimation itself "
            f"{model.fit_seconds:.1f}s, {model.candidate_pair_count:,} candidate pairs, "
            f"{model.sampled_pair_count:,} random pairs, {model.em_iterations} EM iterations)"
        )
        print(f"build {build_seconds:6.1f}s  (dbt {' '.join(BUILD_SELECTION)})")
        print(f"total {total:6.1f}s  {verdict} Splink's {low:.0f}-{high:.0f} s (issue #21)")
        print(
            f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
            "(other work on the machine slows every phase)"
        )
        for phase in ("fit", "build"):
            report_dbt(invocations, phase)
        for failure in build.failures:
            print(f"dbt: {failure}")
        require_identity_map_built(build)

        started = time.monotonic()
        predicted = predicted_customers(warehouse, paths.project, records)
        scores = score_clusters(records.truth(), predicted)
        candidates = candidate_pairs(warehouse, paths.project)
        joined = records_joined_to_others(warehouse, paths.project, records)
        true_pairs = records.true_pairs()
        # a pair of two duplicates is joined through their original when both meet it
        with_original = {pair for pair in true_pairs if any(k.endswith("-org") for k in pair)}
        blocking = blocking_recall(candidates, true_pairs) if candidates is not None else None
        score_seconds = time.monotonic() - started

        print(
            f"records {scores.records:,} (missing from identity_map: {scores.records_missing}), "
            f"true pairs {scores.true_pairs:,}, predicted pairs {scores.predicted_pairs:,} "
            f"({scores.correct_pairs:,} correct)"
        )
        print(
            f"precision {scores.precision:.4f}  recall {scores.recall:.4f}  F1 {scores.f1:.4f}  "
            f"cluster F1 {scores.cluster_f1:.4f} ({scores.exact_clusters:,} of "
            f"{scores.true_clusters:,} true clusters exact, {scores.predicted_clusters:,} "
            "predicted)"
        )
        if blocking is None:
            print("blocking recall: not available (no candidate pairs table)")
        else:
            print(
                f"blocking recall {blocking:.4f} ({len(candidates):,} candidate pairs); of the "
                f"{len(with_original):,} original-duplicate pairs "
                f"{blocking_recall(candidates, with_original):.4f}, of the "
                f"{len(true_pairs) - len(with_original):,} duplicate-duplicate pairs "
                f"{blocking_recall(candidates, true_pairs - with_original):.4f}"
            )
        print(f"records joined to demo records: {joined}  (scoring {score_seconds:.1f}s, untimed)")
        if args.keep:
            print(f"kept: {work} (embedded server data in {work / 'pgdata'})")
    if project_version() != version:
        print(f"the project changed during the run: now at {project_version()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="records to generate")
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    parser.add_argument("--dsn", help="an empty PostgreSQL database (default: embedded, temporary)")
    parser.add_argument("--keep", type=Path, help="keep the work folder and its warehouse here")
    args = parser.parse_args()
    if args.records < 1:
        parser.error("--records: at least 1")
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep: {args.keep} is not empty (the bench wants a fresh warehouse)")
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    import dbt.cli.main  # noqa: F401  (imported before the clock starts)

    run(args)


if __name__ == "__main__":
    main()
