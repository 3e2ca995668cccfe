"""Lifetime-value models: the CDNOW sample reproduces the published parameters, simulated data
recover their parameters, and degenerate input fails loudly."""

from __future__ import annotations

import numpy as np
import pytest

from ciw.clv import (
    ClvFitError,
    conditional_expected_spend,
    discounted_expected_purchases,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
)
from ciw.clv.cdnow import CdnowUnavailable, cdnow_rfm
from ciw.clv.models import BgNbdParams


@pytest.fixture(scope="module")
def cdnow():
    try:
        return cdnow_rfm()
    except CdnowUnavailable as exc:  # pragma: no cover - only without PyPI and no cache
        pytest.skip(f"CDNOW sample unavailable: {exc}")


def _close(actual: float, published: float) -> bool:
    return abs(actual - published) / published < 0.01


def test_cdnow_reproduces_the_published_bgnbd_and_gamma_gamma_parameters(cdnow):
    x, t_x, T, monetary = cdnow  # noqa: N806
    assert len(x) == 2357 and int((x > 0).sum()) == 946
    bgnbd = fit_bgnbd(x, t_x, T)
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert _close(getattr(bgnbd, name), value), (name, getattr(bgnbd, name), value)
    assert bgnbd.log_likelihood == pytest.approx(-9582.4, abs=0.1)  # the paper's LL
    spend = fit_gamma_gamma(x, monetary)
    assert spend.n_customers == 946
    for name, value in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
        assert _close(getattr(spend, name), value), (name, getattr(spend, name), value)


def test_conditional_expectation_matches_the_papers_worked_example(cdnow):
    x, t_x, T, _ = cdnow  # noqa: N806
    params = fit_bgnbd(x, t_x, T)
    # FHL 2005: x = 2, t_x = 30.43, T = 38.86 -> 1.226 purchases in the next 39 weeks
    assert expected_purchases(params, 39, [2], [30.43], [38.86])[0] == pytest.approx(1.226, 1e-3)
    # more recent buyers are likelier alive; nobody without repeats is "dead"
    alive = probability_alive(params, [2, 2, 0], [38.0, 5.0, 0.0], [38.86, 38.86, 38.86])
    assert alive[0] > alive[1] and alive[2] == 1.0
    # discounting lowers the horizon total, a zero rate leaves it unchanged
    plain = expected_purchases(params, 52, [3], [20.0], [38.0])[0]
    undiscounted = discounted_expected_purchases(params, [3], [20.0], [38.0], 52, 52, 0.0)[0]
    discounted = discounted_expected_purchases(params, [3], [20.0], [38.0], 52, 52, 0.1)[0]
    assert undiscounted == pytest.approx(plain, rel=1e-9) and discounted < plain


def _simulate(params: BgNbdParams, customers: int, weeks: float, seed: int):
    rng = np.random.default_rng(seed)
    rates = rng.gamma(params.r, 1 / params.alpha, customers)
    dropout = rng.beta(params.a, params.b, customers)
    birth = rng.uniform(0, weeks * 0.5, customers)
    x, t_x, T = [], [], []  # noqa: N806
    for rate, p, born in zip(rates, dropout, birth, strict=True):
        horizon, now, count, last = weeks - born, 0.0, 0, 0.0
        while True:
            now += rng.exponential(1 / rate)
            if now > horizon:
                break
            count, last = count + 1, now
            if rng.random() < p:
                break
        x.append(count)
        t_x.append(last)
        T.append(horizon)
    return np.array(x, float), np.array(t_x), np.array(T)


def test_simulated_customers_recover_their_parameters():
    truth = BgNbdParams(r=0.5, alpha=6.0, a=0.9, b=3.0, log_likelihood=0.0, n_customers=0)
    x, t_x, T = _simulate(truth, 6000, 104, seed=7)  # noqa: N806
    fitted = fit_bgnbd(x, t_x, T)
    assert fitted.r == pytest.approx(truth.r, rel=0.15)
    assert fitted.alpha == pytest.approx(truth.alpha, rel=0.2)
    assert fitted.a == pytest.approx(truth.a, rel=0.35)
    assert fitted.b == pytest.approx(truth.b, rel=0.45)


def test_gamma_gamma_shrinks_towards_the_population_mean(cdnow):
    x, _, _, monetary = cdnow
    spend = fit_gamma_gamma(x, monetary)
    population = spend.p * spend.gamma / (spend.q - 1)
    low, high, none = conditional_expected_spend(spend, [5, 5, 0], [10.0, 200.0, 0.0])
    assert 10 < low < population < high < 200
    assert none == pytest.approx(population)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([], [], []), "no customers"),
        (([1, np.nan], [1, 1], [2, 2]), "missing or infinite"),
        (([1, -1], [1, 1], [2, 2]), "negative"),
        (([1, 1], [3, 1], [2, 2]), "recency > age"),
        (([1, 1], [0, 1], [2, 2]), "recency > 0"),
        (([0, 0, 0], [0, 0, 0], [5, 6, 7]), "nobody made a repeat purchase"),
        (([1.5, 1], [1, 1], [2, 2]), "whole number"),
    ],
)
def test_bgnbd_rejects_degenerate_input(args, message):
    with pytest.raises(ClvFitError, match=message):
        fit_bgnbd(*args)


def test_bgnbd_needs_enough_customers():
    with pytest.raises(ClvFitError, match="at least 100"):
        fit_bgnbd([1, 0, 2], [1, 0, 3], [5, 5, 5], min_customers=100)


def test_bgnbd_refuses_a_fit_that_runs_off_to_a_boundary():
    # everyone buys every week and never stops: dropout -> 0, the beta parameters explode
    x = np.full(200, 50.0)
    with pytest.raises(ClvFitError, match="boundary|converge"):
        fit_bgnbd(x, x, x)


@pytest.mark.parametrize(
    ("frequency", "monetary", "message"),
    [
        ([1], [10.0], "only 1 repeat customers"),
        ([0, 0, 0], [0.0, 0.0, 0.0], "only 0 repeat customers"),
        ([1, 2, 3], [10.0, 10.0, 10.0], "same monetary value"),
        ([1, 2], [10.0, -5.0], "positive monetary value"),
        ([1, 2], [10.0, np.inf], "missing or infinite"),
    ],
)
def test_gamma_gamma_rejects_degenerate_input(frequency, monetary, message):
    with pytest.raises(ClvFitError, match=message):
        fit_gamma_gamma(frequency, monetary)
