"""Benchmark: Splink on the FEBRL-style records of bench_febrl_style.py, timed on this machine.

    .venv/bin/python bench/bench_splink_febrl_style.py --python /path/to/python-with-splink
        [--records 200000] [--seed 0]

Issue #21 sets our speed target against Splink on the same records and the same machine.
Machines differ from day to day (the VM's neighbours, its page cache): a figure for Splink
taken on another day compares badly with ours. This bench runs Splink 5 (DuckDB backend) on
the records bench_febrl_style.py makes, so both can be run back to back and compared within
one run. Splink is not a dependency of the project: give the interpreter of an environment
that has it (`python -m venv /tmp/splink && /tmp/splink/bin/pip install "splink>=5,<6"`).

The model is the standard one of Splink's FEBRL examples: names by NameComparison, the birth
date by DateOfBirthComparison (string dates), the address fields by their exact or Levenshtein
levels, term frequencies on names, suburb and postcode; the probability that two random records
match from deterministic rules, u from random pairs (`--u-pairs`, 5 million), m by expectation
maximisation on two blocking rules; links above a match probability of 0.9 (`--threshold`),
clustered. Timed as ours are: load (the CSV into DuckDB), estimation, prediction and clustering.
Scored with the same code as our matcher (ciw.evaluation.febrl.score_clusters).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, run_child

# the FEBRL columns we load (ciw.evaluation.febrl.FEBRL_COLUMNS but the id, state and social
# security number), the record key as Splink's unique_id
LEFT_OUT = ("rec_id", "state", "soc_sec_id")


def write_records(records, path: Path) -> None:
    """The records as Splink reads them: empty values as nulls, the birth date ISO (an
    impossible one empty, as our loader gets it)."""
    from ciw.evaluation.febrl import FEBRL_COLUMNS, iso_birth_date

    columns = [column for column in FEBRL_COLUMNS if column not in LEFT_OUT]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["unique_id", *columns])
        for record in records.records:
            values = {column: getattr(record, column) for column in columns}
            values["date_of_birth"] = iso_birth_date(record.date_of_birth) or ""
            writer.writerow([records.record_key(record), *values.values()])


def splink_worker(
    records_csv: Path, clusters_csv: Path, threshold: float, u_pairs: float
) -> dict[str, float]:
    """Runs in the interpreter that has Splink: load, estimate, predict, cluster; writes
    unique_id,cluster_id and returns the seconds of each phase."""
    import logging

    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    seconds: dict[str, float] = {}
    started = time.monotonic()
    con = duckdb.connect()
    con.execute(
        "create table records as select * from read_csv(?, header = true, all_varchar = true)",
        [str(records_csv)],
    )
    con.execute(
        "create table people as select * replace ("
        "try_cast(nullif(date_of_birth, '') as date) as date_of_birth) from records"
    )
    db_api = DuckDBAPI(connection=con)
    people = db_api.register("people")
    seconds["load"] = time.monotonic() - started

    started = time.monotonic()
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=False),
            cl.DamerauLevenshteinAtThresholds("street_number", [1]),
            cl.DamerauLevenshteinAtThresholds("address_1", [1, 2]),
            cl.DamerauLevenshteinAtThresholds("address_2", [1, 2]),
            cl.DamerauLevenshteinAtThresholds("suburb", [1, 2]).configure(
                term_frequency_adjustments=True
            ),
            cl.DamerauLevenshteinAtThresholds("postcode", [1]).configure(
                term_frequency_adjustments=True
            ),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"),
            block_on("surname", "date_of_birth"),
            block_on("given_name", "date_of_birth"),
            block_on("postcode", "substr(given_name, 1, 2)"),
            block_on("suburb", "substr(surname, 1, 2)"),
            block_on("street_number", "address_1"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(people, settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("given_name", "surname")
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth", "postcode")
    )
    seconds["estimation"] = time.monotonic() - started

    started = time.monotonic()
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold
    )
    con.execute(
        f"copy (select unique_id, cluster_id from {clusters.physical_name}) to ? (header)",
        [str(clusters_csv)],
    )
    seconds["predict and cluster"] = time.monotonic() - started
    return seconds


def run(args: argparse.Namespace) -> None:
    from ciw.evaluation.febrl import score_clusters
    from ciw.evaluation.synthetic import generate_febrl_style

    records = generate_febrl_style(args.records, seed=args.seed)
    print(f"generated {len(records.records):,} FEBRL-style records (seed {args.seed}, untimed)")
    with tempfile.TemporaryDirectory(prefix="ciw-bench-splink-") as work:
        records_csv, clusters_csv = Path(work) / "records.csv", Path(work) / "clusters.csv"
        write_records(records, records_csv)
        seconds = run_child(
            [
                args.python,
                str(Path(__file__).absolute()),
                "--worker",
                str(records_csv),
                str(clusters_csv),
                "--threshold",
                str(args.threshold),
                "--u-pairs",
                str(args.u_pairs),
            ],
            f"the Splink run ({args.python})",
            cwd=ROOT,
        )
        with clusters_csv.open(newline="", encoding="utf-8") as f:
            predicted = {row["unique_id"]: row["cluster_id"] for row in csv.DictReader(f)}
    for phase, value in seconds.items():
        print(f"{phase:20s} {value:6.1f}s")
    print(f"{'total':20s} {sum(seconds.values()):6.1f}s  (Splink, DuckDB, on this machine)")
    scores = score_clusters(records.truth(), predicted)
    print(
        f"precision {scores.precision:.4f}  recall {scores.recall:.4f}  F1 {scores.f1:.4f}  "
        f"cluster F1 {scores.cluster_f1:.4f} (threshold {args.threshold}, "
        f"{args.u_pairs:,.0f} random pairs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.9, help="match probability")
    parser.add_argument("--u-pairs", type=float, default=5e6, help="random pairs for u")
    parser.add_argument(
        "--python", default=sys.executable, help="an interpreter that has splink 5 installed"
    )
    parser.add_argument("--worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(splink_worker(*args.worker, args.threshold, args.u_pairs)))
    else:
        run(args)


if __name__ == "__main__":
    main()
