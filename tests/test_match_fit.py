"""The match-model fit (ciw/matching/fit.py) on comparison vectors drawn from a known model: u
from random pairs, m by EM per blocking rule, the prior; no database."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from ciw.matching.fit import (
    COMPARISONS,
    Levels,
    MatchSettings,
    VectorCounts,
    estimate_m,
    estimate_u,
    expectation_maximisation,
    household_disagreements,
    needs_refit,
    non_match_weights,
    prior_probability,
)

# two or three levels per comparison (the last one: different), as the seed names them
LEVELS = {c: [3, 2, 0] for c in COMPARISONS}
TRUE_M = {c: [0.85, 0.10, 0.05] for c in COMPARISONS}
TRUE_U = {c: [0.01, 0.03, 0.96] for c in COMPARISONS}


def _levels(default_m: float = 1 / 3) -> Levels:
    keys = [(c, level) for c in COMPARISONS for level in LEVELS[c]]
    return Levels(
        levels=dict(LEVELS),
        default_m={key: default_m for key in keys},
        default_u={key: 1 / 3 for key in keys},
        term_frequency=set(),
    )


def _draw(rng: np.random.Generator, n: int, probabilities: dict[str, list[float]]) -> np.ndarray:
    columns = [
        rng.choice(LEVELS[c], size=n, p=probabilities[c]).astype(np.int16) for c in COMPARISONS
    ]
    return np.stack(columns, axis=1)


def _counts(vectors: np.ndarray, rules: list[frozenset[str]] | None = None) -> VectorCounts:
    """Distinct vectors and counts, as read_vectors returns them."""
    if rules is None:
        unique, counts = np.unique(vectors, axis=0, return_counts=True)
        return VectorCounts(unique, counts.astype(float))
    keyed: dict[tuple, float] = {}
    for row, rule in zip(vectors, rules, strict=True):
        key = (tuple(row), rule)
        keyed[key] = keyed.get(key, 0.0) + 1
    return VectorCounts(
        np.array([k[0] for k in keyed], dtype=np.int16),
        np.array(list(keyed.values())),
        [k[1] for k in keyed],
    )


def test_u_is_each_levels_share_among_random_pairs():
    rng = np.random.default_rng(1)
    sample = _counts(_draw(rng, 200_000, TRUE_U))
    u = estimate_u(sample, _levels())
    for comparison in COMPARISONS:
        for level, expected in zip(LEVELS[comparison], TRUE_U[comparison], strict=True):
            assert u[(comparison, level)] == pytest.approx(expected, abs=0.003)


def test_u_keeps_the_default_where_the_sample_has_no_value():
    rng = np.random.default_rng(2)
    vectors = _draw(rng, 50_000, TRUE_U)
    vectors[:, COMPARISONS.index("email")] = -1  # nobody has an email
    levels = _levels()
    levels.default_u[("email", 3)] = 0.0001
    u = estimate_u(_counts(vectors), levels)
    assert u[("email", 3)] < 0.01  # the default's order, not a uniform 1/3
    assert u[("first_name", 3)] == pytest.approx(0.01, abs=0.005)


def test_u_leaves_out_the_random_pairs_that_are_matches():
    """A random sample holds about prior x pairs matches. Where their agreement is as rare as a
    match (true u of an exact email 1e-6), counting them as chance makes u about prior x m;
    weighed by their probability of being two people, they drop out."""
    rng = np.random.default_rng(3)
    true_u = {c: [1e-6, 1e-6, 1 - 2e-6] if c == "email" else TRUE_U[c] for c in COMPARISONS}
    prior = 0.002
    non_matches = _draw(rng, 200_000, true_u)
    matches = _draw(rng, int(200_000 * prior), TRUE_M)
    sample = _counts(np.concatenate([non_matches, matches]))
    levels = _levels()
    levels.default_u[("email", 3)] = 0.0001  # as seeds/match_comparison_levels.csv
    m = {(c, level): p for c in COMPARISONS for level, p in zip(LEVELS[c], TRUE_M[c], strict=True)}
    naive = estimate_u(sample, levels)
    corrected = estimate_u(sample, levels, non_match_weights(sample, m, naive, prior))
    assert naive[("email", 3)] > 1e-3  # the matches' 0.85 x 400 pairs, counted as chance
    assert corrected[("email", 3)] < 1e-4  # left with the pseudo-count
    # a common agreement is barely moved
    assert corrected[("first_name", 3)] == pytest.approx(TRUE_U["first_name"][0], abs=0.003)


def test_em_recovers_m_and_the_share_of_matches():
    rng = np.random.default_rng(3)
    matches = _draw(rng, 6_000, TRUE_M)
    others = _draw(rng, 14_000, TRUE_U)
    data = _counts(np.vstack([matches, others]))
    u = {(c, lv): p for c in COMPARISONS for lv, p in zip(LEVELS[c], TRUE_U[c], strict=True)}
    levels = _levels()
    m, lam, iterations = expectation_maximisation(
        data, levels.default_m, u, levels, list(range(len(COMPARISONS)))
    )
    assert lam == pytest.approx(0.3, abs=0.02)
    assert 1 < iterations < 100
    for comparison in COMPARISONS:
        for level, expected in zip(LEVELS[comparison], TRUE_M[comparison], strict=True):
            assert m[(comparison, level)] == pytest.approx(expected, abs=0.03)


def test_each_session_leaves_out_what_its_rule_forced():
    """Pairs blocked on birth date all agree on it: a session that estimated m of birth date
    from them would find agreement certain. The dob_name session leaves birth date out, the
    address session estimates it (its pairs are not forced to agree)."""
    rng = np.random.default_rng(4)
    n = 4_000
    blocked_on_dob = _draw(rng, n, TRUE_M)
    blocked_on_dob[:, COMPARISONS.index("birth_date")] = 3
    blocked_on_dob[:, COMPARISONS.index("first_name")] = 3
    blocked_on_dob[:, COMPARISONS.index("last_name")] = 3
    blocked_on_address = _draw(rng, n, TRUE_M)
    blocked_on_address[:, COMPARISONS.index("postcode")] = 3
    vectors = np.vstack([blocked_on_dob, blocked_on_address])
    rules = [frozenset({"dob_name"})] * n + [frozenset({"address"})] * n
    u = {(c, lv): p for c in COMPARISONS for lv, p in zip(LEVELS[c], TRUE_U[c], strict=True)}
    m, _, sessions = estimate_m(_counts(vectors, rules), u, _levels())
    by_rule = {s["blocking_rule"]: s for s in sessions}
    assert "birth_date" not in by_rule["dob_name"]["estimated"]
    assert "birth_date" in by_rule["address"]["estimated"]
    assert m[("birth_date", 3)] == pytest.approx(0.85, abs=0.05)  # not 1.0


def test_household_pairs_are_left_out_of_learning():
    vectors = np.full((4, len(COMPARISONS)), -1, dtype=np.int16)
    col = {c: i for i, c in enumerate(COMPARISONS)}
    # one address, another first name and another birth date: two people of one household
    vectors[0, [col["house_number"], col["street"]]] = 3
    vectors[0, [col["first_name"], col["birth_date"]]] = 0
    # one address, only the birth date differs: a retyped birth date can be one person
    vectors[1, [col["house_number"], col["street"]]] = 3
    vectors[1, col["birth_date"]] = 0
    # another first name on a shared email: a family email
    vectors[2, col["email"]] = 3
    vectors[2, col["first_name"]] = 0
    # other addresses, two disagreements: not a household pair
    vectors[3, [col["first_name"], col["birth_date"]]] = 0
    assert household_disagreements(vectors).tolist() == [True, False, True, False]


def test_prior_is_the_expected_matches_over_all_pairs():
    rng = np.random.default_rng(5)
    data = _counts(np.vstack([_draw(rng, 900, TRUE_M), _draw(rng, 100, TRUE_U)]))
    m = {(c, lv): p for c in COMPARISONS for lv, p in zip(LEVELS[c], TRUE_M[c], strict=True)}
    u = {(c, lv): p for c in COMPARISONS for lv, p in zip(LEVELS[c], TRUE_U[c], strict=True)}
    prior = prior_probability(data, m, u, _levels(), record_count=2_000)
    assert prior == pytest.approx(900 / (2_000 * 1_999 / 2), rel=0.1)


def test_refit_when_missing_old_or_always():
    now = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
    settings = MatchSettings(refit_days=30)
    assert needs_refit(None, now, settings)
    assert not needs_refit(now - dt.timedelta(days=29), now, settings)
    assert needs_refit(now - dt.timedelta(days=30), now, settings)
    assert needs_refit(now, now, MatchSettings(refit_days=0))
