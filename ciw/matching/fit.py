"""The match-model fit: Fellegi-Sunter m and u probabilities estimated from the warehouse's own
records, like Splink does it, on the comparison levels dbt computed
(``macros/matching/comparisons.sql``):

- u (how often two different people agree that far) from random record pairs
  (``int_identity_pairs_sampled``);
- m (how often one person's two records do) by expectation-maximisation over the candidate
  pairs (``int_identity_pairs_compared``), one session per blocking rule; a session leaves out
  the comparisons its rule forced to agree (they say nothing about matches there) and the
  estimates of the sessions are averaged;
- the prior (two records drawn at random are one person) from the expected matches among the
  candidates;
- term frequencies of names, towns and postcodes, so an exact agreement on a rare value weighs
  more than one on a common value.

The EM runs on the distinct comparison vectors and their counts (a few thousand rows even at
millions of pairs), so it takes seconds. No library does this on PostgreSQL without moving
every pair into Python: Splink would (it runs on DuckDB or Spark, not on our warehouse), which
is why it is written here; the model it writes is the same kind Splink's charts show.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ciw.config import project_vars
from ciw.warehouse import Warehouse

log = logging.getLogger(__name__)

COMPARISONS = (
    "first_name",
    "last_name",
    "birth_date",
    "house_number",
    "street",
    "locality",
    "town",
    "postcode",
    "email",
    "phone",
)

# the comparisons each blocking rule (int_identity_block_keys' key prefix) forces to agree
RULE_COMPARISONS = {
    "dob_postcode": {"birth_date", "postcode"},
    "dob_name": {"birth_date", "first_name", "last_name"},
    "address": {"postcode", "house_number", "street"},
    "postcode_name": {"postcode", "first_name", "last_name"},
    "street_name": {"street", "house_number", "first_name", "last_name"},
    "locality_name": {"locality", "house_number", "first_name", "last_name"},
    "name_town": {"town", "first_name", "last_name"},
    "surname_town": {"town", "last_name"},
    "email": {"email"},
    "phone": {"phone"},
}

# the value a term-frequency adjusted comparison agrees on (int_identity_records_unioned)
TERM_FREQUENCY_COLUMNS = {
    "first_name": "first_name_normalized",
    "last_name": "last_name_normalized",
    "town": "town_normalized",
    "postcode": "postcode",
}

MAX_ITERATIONS = 100
TOLERANCE = 1e-6
PSEUDO_COUNT = 0.5  # added to every level's count: a level never seen is rare, not impossible
# m is estimated as a posterior mean: the default m of seeds/match_comparison_levels.csv counts
# as this many matched pairs, so a level the candidates never show keeps a plausible m (not 0,
# which would make it a veto) and a small warehouse cannot push m to extremes
PRIOR_PAIRS = 50.0
# u likewise, with the default u counting as this many random pairs: a comparison the sample
# never has (no emails in the data) keeps its default instead of a uniform guess
U_PRIOR_PAIRS = 100.0


class MatchFitError(RuntimeError):
    """The warehouse holds too little to fit a match model."""


@dataclass
class MatchSettings:
    """From dbt_project.yml ``vars`` and this run's overrides (so dbt and this step agree)."""

    refit_days: int = 30
    u_sample_pairs: int = 300000

    @classmethod
    def from_project(
        cls, project: Path, overrides: Mapping[str, Any] | None = None
    ) -> MatchSettings:
        found = project_vars(project, overrides)
        return cls(
            refit_days=int(found.get("match_refit_days", cls.refit_days)),
            u_sample_pairs=int(found.get("match_u_sample_pairs", cls.u_sample_pairs)),
        )


@dataclass
class Levels:
    """Every comparison's levels (seeds/match_comparison_levels.csv) with the default m and u."""

    levels: dict[str, list[int]]
    default_m: dict[tuple[str, int], float]
    default_u: dict[tuple[str, int], float]
    term_frequency: set[str]


@dataclass
class VectorCounts:
    """Distinct comparison vectors (one column per comparison; -1 = missing) and their counts."""

    vectors: np.ndarray
    counts: np.ndarray
    rules: list[frozenset[str]] = field(default_factory=list)


@dataclass
class MatchModel:
    model_id: str
    m: dict[tuple[str, int], float]
    u: dict[tuple[str, int], float]
    prior_match_probability: float
    record_count: int
    candidate_pair_count: int
    sampled_pair_count: int
    em_iterations: int
    em_sessions: list[dict]
    term_frequencies: dict[str, dict[str, float]]
    fit_seconds: float = 0.0


def read_levels(warehouse: Warehouse, relation: str) -> Levels:
    rows = warehouse.query(
        f"select comparison, comparison_level, m_probability, u_probability, "
        f"is_term_frequency_adjusted from {relation}"
    )
    levels: dict[str, list[int]] = {}
    default_m, default_u, term_frequency = {}, {}, set()
    for comparison, level, m, u, is_tf in rows:
        levels.setdefault(comparison, []).append(int(level))
        default_m[(comparison, int(level))] = float(m)
        default_u[(comparison, int(level))] = float(u)
        if is_tf:
            term_frequency.add(comparison)
    missing = [c for c in COMPARISONS if c not in levels]
    if missing:
        raise MatchFitError(f"no levels for {missing} in {relation}")
    return Levels(levels, default_m, default_u, term_frequency)


def read_vectors(warehouse: Warehouse, relation: str, with_rules: bool) -> VectorCounts:
    columns = ", ".join(f"coalesce({c}_level, -1)" for c in COMPARISONS)
    rules = ", blocking_rules" if with_rules else ""
    rows = warehouse.query(
        f"select {columns}{rules}, count(*) from {relation} group by {columns}{rules}"
    )
    width = len(COMPARISONS)
    vectors = np.array([row[:width] for row in rows], dtype=np.int16).reshape(-1, width)
    counts = np.array([row[-1] for row in rows], dtype=np.float64)
    found = [frozenset(row[width]) for row in rows] if with_rules else []
    return VectorCounts(vectors, counts, found)


def estimate_u(
    sample: VectorCounts, levels: Levels, weights: np.ndarray | None = None
) -> dict[tuple[str, int], float]:
    """Share of each level among the random pairs that have the comparison at all; each pair
    counted `weights` times (default once)."""
    counts = sample.counts if weights is None else sample.counts * weights
    u = {}
    for index, comparison in enumerate(COMPARISONS):
        column = sample.vectors[:, index] if len(counts) else np.array([])
        present = counts[column >= 0].sum() if len(counts) else 0.0
        names = levels.levels[comparison]
        for level in names:
            seen = counts[column == level].sum() if len(counts) else 0.0
            u[(comparison, level)] = (
                seen + PSEUDO_COUNT + U_PRIOR_PAIRS * levels.default_u[(comparison, level)]
            ) / (present + PSEUDO_COUNT * len(names) + U_PRIOR_PAIRS)
    return u


def non_match_weights(
    sample: VectorCounts,
    m: dict[tuple[str, int], float],
    u: dict[tuple[str, int], float],
    prior: float,
) -> np.ndarray:
    """Each random pair's probability of being two different people under a first fit. A
    random sample holds about prior x pairs matches, and where an agreement is as rare as a
    match (one email, one phone), they are most of the pairs that agree: counted as chance,
    they make u about prior x m, and an email or phone would weigh little more than the
    prior against it."""
    every = list(range(len(COMPARISONS)))
    ratio = _level_probabilities(sample.vectors, m, every) / np.maximum(
        _level_probabilities(sample.vectors, u, every), 1e-300
    )
    return (1 - prior) / (prior * ratio + (1 - prior))


def _level_probabilities(
    vectors: np.ndarray, probabilities: dict[tuple[str, int], float], comparisons: list[int]
) -> np.ndarray:
    """Product over `comparisons` (column indexes) of each vector's level probability; a
    missing value contributes 1."""
    product = np.ones(len(vectors))
    for index in comparisons:
        comparison = COMPARISONS[index]
        column = vectors[:, index]
        factor = np.ones(len(vectors))
        for (name, level), value in probabilities.items():
            if name == comparison:
                factor[column == level] = value
        product *= factor
    return product


def expectation_maximisation(
    data: VectorCounts,
    m: dict[tuple[str, int], float],
    u: dict[tuple[str, int], float],
    levels: Levels,
    estimate: list[int],
    lam: float = 0.3,
) -> tuple[dict[tuple[str, int], float], float, int]:
    """m of the comparisons `estimate` (column indexes) and the share of matches among the
    pairs, with u fixed. Returns (m, lambda, iterations)."""
    m = dict(m)
    iterations = 0
    for iterations in range(1, MAX_ITERATIONS + 1):  # noqa: B007
        match = lam * _level_probabilities(data.vectors, m, estimate)
        other = (1 - lam) * _level_probabilities(data.vectors, u, estimate)
        posterior = match / np.maximum(match + other, 1e-300)
        weighted = posterior * data.counts
        new_lam = float(weighted.sum() / data.counts.sum())
        change = abs(new_lam - lam)
        for index in estimate:
            comparison = COMPARISONS[index]
            column = data.vectors[:, index]
            present = weighted[column >= 0].sum()
            names = levels.levels[comparison]
            for level in names:
                value = (
                    weighted[column == level].sum()
                    + PRIOR_PAIRS * levels.default_m[(comparison, level)]
                ) / (present + PRIOR_PAIRS)
                change = max(change, abs(value - m[(comparison, level)]))
                m[(comparison, level)] = value
        lam = min(max(new_lam, 1e-9), 1 - 1e-9)
        if change < TOLERANCE:
            break
    return m, lam, iterations


def household_disagreements(vectors: np.ndarray) -> np.ndarray:
    """The pairs int_identity_links_fuzzy's household guard decides: two records at one address
    (house number and street; or one postcode where a record has no street address) or on one
    email or phone that disagree on two or more of first
    name, last name, birth date, email and phone (or carry another first name on the shared
    email or phone). Two people of one household agree on everything the address brings,
    which the independence of the comparisons cannot express: learning from them would teach
    that a match often has another birth date."""
    column = {name: vectors[:, i] for i, name in enumerate(COMPARISONS)}
    shared_contact = (column["email"] == 3) | (column["phone"] == 3)
    same_address = (column["house_number"] == 3) & (column["street"] == 3)
    same_postcode_no_street = (column["postcode"] == 3) & (
        (column["house_number"] < 0) | (column["street"] < 0)
    )
    both_contacts = (column["email"] == 3) & (column["phone"] == 3)
    household = (same_address | same_postcode_no_street | shared_contact) & ~both_contacts
    disagreements = sum(
        (column[name] == 0).astype(int)
        for name in ("first_name", "last_name", "birth_date", "email", "phone")
    )
    unnamed_other = (column["first_name"] < 0) & (
        (column["birth_date"] == 0) | (column["email"] == 0) | (column["phone"] == 0)
    )
    family_contact = shared_contact & ~both_contacts & ((column["first_name"] == 0) | unnamed_other)
    return household & ((disagreements >= 2) | family_contact)


def estimate_m(
    candidates: VectorCounts, u: dict[tuple[str, int], float], levels: Levels
) -> tuple[dict[tuple[str, int], float], int, list[dict]]:
    """One EM session per blocking rule on the pairs that rule made, estimating the comparisons
    it did not force; each comparison's m is the mean of its sessions' estimates. The pairs the
    household guard decides are left out (household_disagreements)."""
    estimates: dict[tuple[str, int], list[float]] = {}
    sessions, total_iterations = [], 0
    all_rules = sorted({rule for rules in candidates.rules for rule in rules})
    learnable = ~household_disagreements(candidates.vectors)
    for rule in all_rules:
        chosen = learnable & np.array([rule in rules for rules in candidates.rules])
        if not chosen.any():
            continue
        session = VectorCounts(candidates.vectors[chosen], candidates.counts[chosen])
        forced = RULE_COMPARISONS.get(rule, set())
        estimate = [i for i, c in enumerate(COMPARISONS) if c not in forced]
        m, lam, iterations = expectation_maximisation(
            session, levels.default_m, u, levels, estimate
        )
        total_iterations += iterations
        sessions.append(
            {
                "blocking_rule": rule,
                "pairs": int(session.counts.sum()),
                "match_share": round(lam, 6),
                "iterations": iterations,
                "estimated": [COMPARISONS[i] for i in estimate],
            }
        )
        for index in estimate:
            comparison = COMPARISONS[index]
            present = session.counts[session.vectors[:, index] >= 0].sum()
            if present == 0:
                continue
            for level in levels.levels[comparison]:
                estimates.setdefault((comparison, level), []).append(m[(comparison, level)])
        log.info("EM session %s: %d pairs, %d iterations", rule, session.counts.sum(), iterations)
    m = {
        key: float(np.mean(estimates[key])) if key in estimates else levels.default_m[key]
        for key in levels.default_m
    }
    return m, total_iterations, sessions


def prior_probability(
    candidates: VectorCounts,
    m: dict[tuple[str, int], float],
    u: dict[tuple[str, int], float],
    levels: Levels,
    record_count: int,
) -> float:
    """Expected matches among the candidate pairs (EM on the share only, m and u fixed) over
    every pair of records."""
    every = list(range(len(COMPARISONS)))
    ratio = _level_probabilities(candidates.vectors, m, every) / np.maximum(
        _level_probabilities(candidates.vectors, u, every), 1e-300
    )
    lam = 0.1
    for _ in range(MAX_ITERATIONS):
        posterior = lam * ratio / (lam * ratio + (1 - lam))
        new_lam = float((posterior * candidates.counts).sum() / candidates.counts.sum())
        if abs(new_lam - lam) < TOLERANCE:
            lam = new_lam
            break
        lam = new_lam
    expected_matches = lam * candidates.counts.sum()
    all_pairs = max(record_count * (record_count - 1) / 2, 1.0)
    return float(min(max(expected_matches / all_pairs, 1e-12), 0.5))


def term_frequencies(
    warehouse: Warehouse, records: str, levels: Levels
) -> dict[str, dict[str, float]]:
    """Share of records holding each value held twice or more, per adjusted comparison."""
    found = {}
    for comparison in sorted(levels.term_frequency):
        column = TERM_FREQUENCY_COLUMNS[comparison]
        rows = warehouse.query(
            f"select {column}, count(*)::float / sum(count(*)) over () from {records} "
            f"where {column} is not null group by {column}"
        )
        found[comparison] = {value: share for value, share in rows if share * 0 == 0}
        # a value held once cannot agree with another record yet: left out (average u)
        singles = min(found[comparison].values(), default=0.0)
        found[comparison] = {v: s for v, s in found[comparison].items() if s > singles}
    return found


def fit_match_model(warehouse: Warehouse, relations: dict[str, str]) -> MatchModel:
    """Fit on the relations {"levels", "candidates", "sample", "records"}; nothing written."""
    started = time.monotonic()
    levels = read_levels(warehouse, relations["levels"])
    sample = read_vectors(warehouse, relations["sample"], with_rules=False)
    candidates = read_vectors(warehouse, relations["candidates"], with_rules=True)
    record_count = warehouse.query(
        f"select count(*) from {relations['records']} where first_name_normalized is not null "
        "or last_name_normalized is not null or birth_date is not null"
    )[0][0]
    if sample.counts.sum() < 100 or candidates.counts.sum() < 10:
        raise MatchFitError(
            f"too little to fit a match model: {int(sample.counts.sum())} random pairs and "
            f"{int(candidates.counts.sum())} candidate pairs (at least 100 and 10)"
        )
    # u, m and the prior; then u again without the random pairs that are matches, and m and
    # the prior with it
    u = estimate_u(sample, levels)
    m, iterations, sessions = estimate_m(candidates, u, levels)
    prior = prior_probability(candidates, m, u, levels, record_count)
    u = estimate_u(sample, levels, non_match_weights(sample, m, u, prior))
    m, more_iterations, sessions = estimate_m(candidates, u, levels)
    iterations += more_iterations
    prior = prior_probability(candidates, m, u, levels, record_count)
    frequencies = term_frequencies(warehouse, relations["records"], levels)
    model_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return MatchModel(
        model_id=model_id,
        m=m,
        u=u,
        prior_match_probability=prior,
        record_count=int(record_count),
        candidate_pair_count=int(candidates.counts.sum()),
        sampled_pair_count=int(sample.counts.sum()),
        em_iterations=iterations,
        em_sessions=sessions,
        term_frequencies=frequencies,
        fit_seconds=time.monotonic() - started,
    )


def write_match_model(warehouse: Warehouse, model: MatchModel) -> None:
    """One transaction: the model, its weights and term frequencies."""
    from psycopg2.extras import execute_values

    with warehouse.cursor() as cur:
        cur.execute(
            "insert into matching.match_models (model_id, record_count, candidate_pair_count, "
            "sampled_pair_count, prior_match_probability, em_iterations, em_sessions, "
            "fit_seconds) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                model.model_id,
                model.record_count,
                model.candidate_pair_count,
                model.sampled_pair_count,
                float(model.prior_match_probability),
                model.em_iterations,
                json.dumps(model.em_sessions),
                model.fit_seconds,
            ),
        )
        execute_values(
            cur,
            "insert into matching.match_weights (model_id, comparison, comparison_level, "
            "m_probability, u_probability) values %s",
            [
                (model.model_id, comparison, level, float(model.m[(comparison, level)]), float(u))
                for (comparison, level), u in model.u.items()
            ],
        )
        execute_values(
            cur,
            "insert into matching.match_term_frequencies (model_id, comparison, "
            "comparison_value, value_frequency) values %s",
            [
                (model.model_id, comparison, value, float(share))
                for comparison, shares in model.term_frequencies.items()
                for value, share in shares.items()
            ],
            page_size=10000,
        )


def latest_fit(warehouse: Warehouse) -> tuple[str, dt.datetime] | None:
    """(model_id, fitted_at) of the latest fit, or None before the first."""
    if not warehouse.exists("matching.match_models"):
        return None
    rows = warehouse.query(
        "select model_id, fitted_at from matching.match_models order by fitted_at desc limit 1"
    )
    return (rows[0][0], rows[0][1]) if rows else None


def weighed_by(warehouse: Warehouse, relation: str) -> str | None:
    """The model the newest weighed links of `relation` (int_identity_links_fuzzy) were
    weighed by; None when the table does not exist or holds no link."""
    if not warehouse.exists(relation):
        return None
    rows = warehouse.query(f"select model_id from {relation} order by computed_at desc limit 1")
    return rows[0][0] if rows else None


def needs_refit(fitted_at: dt.datetime | None, now: dt.datetime, settings: MatchSettings) -> bool:
    """Refit without a model, or when the latest is refit_days or more old (0 = every run)."""
    if fitted_at is None or settings.refit_days <= 0:
        return True
    return (now - fitted_at).total_seconds() >= settings.refit_days * 86400
