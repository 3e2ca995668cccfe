"""Lifetime-value models: the CDNOW sample reproduces the published BG/NBD and Gamma-Gamma
parameters, the closed forms agree with the papers and with each other, simulated customers
recover the parameters they were drawn from, and degenerate input fails loudly."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests
from scipy import special

from ciw.clv import (
    BgNbdParams,
    CdnowDownloadError,
    CdnowIntegrityError,
    ClvFitError,
    GammaGammaParams,
    cdnow_rfm,
    conditional_expected_spend,
    discounted_expected_purchases,
    expected_purchases,
    expected_purchases_unconditional,
    fit_bgnbd,
    fit_gamma_gamma,
    load_cdnow_sample,
    probability_alive,
)
from ciw.clv import cdnow as cdnow_module

ROOT = Path(__file__).absolute().parent.parent

# FHL 2005, "Counting your customers" the easy way, section 4; FHL 2005, RFM and CLV (946 repeat
# customers of the 39-week calibration period)
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}


@pytest.fixture(scope="module")
def cdnow() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    try:
        return cdnow_rfm()
    except CdnowDownloadError as exc:  # pragma: no cover - only without PyPI and no cache
        pytest.skip(f"PyPI unreachable and no cached lifetimes wheel: {exc}")


@pytest.fixture(scope="module")
def cdnow_fit(cdnow) -> BgNbdParams:
    x, t_x, T, _ = cdnow  # noqa: N806
    return fit_bgnbd(x, t_x, T)


def _within_1pct(fitted: object, published: dict[str, float]) -> None:
    for name, value in published.items():
        actual = getattr(fitted, name)
        assert abs(actual - value) / value < 0.01, f"{name} = {actual:.4f}, published {value}"


# ---------------------------------------------------------------------------------------------
# CDNOW


def test_cdnow_summary_follows_the_papers_conventions(cdnow):
    x, t_x, T, monetary = cdnow  # noqa: N806
    assert len(x) == 2357 and int((x > 0).sum()) == 946 and int(x.sum()) == 2457
    assert T.max() == pytest.approx(272 / 7)  # born 1997-01-01, calibration ends 1997-09-30
    assert (x[0], round(t_x[0], 2), round(T[0], 2)) == (2, 30.43, 38.86)  # the paper's example
    assert np.all(monetary[x == 0] == 0) and np.all(monetary[x > 0] > 0)
    # lifetimes ships the published per-customer summary (2 decimals): ours agrees with it
    with zipfile.ZipFile(cdnow_module.wheel_path()) as wheel:
        text = wheel.read("lifetimes/datasets/cdnow_customers_summary_with_transactions.csv")
    published = np.genfromtxt(io.BytesIO(text), delimiter=",", names=True)
    assert np.array_equal(published["x"], x)
    for ours, theirs in ((t_x, "t_x"), (T, "T"), (monetary, "zbar")):
        assert np.max(np.abs(ours - published[theirs])) <= 0.005 + 1e-9, theirs


def test_cdnow_transactions_load_from_the_wheel(cdnow):
    rows = load_cdnow_sample()
    assert len(rows) == 6919
    customer, day, cds, dollars = rows[0]
    assert (customer, day.isoformat(), cds, dollars) == (1, "1997-01-01", 2, 29.33)
    assert {r[0] for r in rows} == set(range(1, 2358))


def test_cdnow_reproduces_the_published_bgnbd_parameters(cdnow_fit):
    _within_1pct(cdnow_fit, PUBLISHED_BGNBD)
    assert cdnow_fit.log_likelihood == pytest.approx(-9582.4, abs=0.05)  # the paper's LL
    assert cdnow_fit.n_customers == 2357 and cdnow_fit.converged


def test_cdnow_reproduces_the_published_gamma_gamma_parameters(cdnow):
    x, _, _, monetary = cdnow
    spend = fit_gamma_gamma(x, monetary)
    assert spend.n_customers == 946 and spend.converged
    _within_1pct(spend, PUBLISHED_GAMMA_GAMMA)


def test_weighted_identical_histories_give_the_same_fit(cdnow, cdnow_fit):
    x, t_x, T, _ = cdnow  # noqa: N806
    rows, counts = np.unique(np.stack([x, t_x, T]), axis=1, return_counts=True)
    weighted = fit_bgnbd(rows[0], rows[1], rows[2], weights=counts)
    assert weighted.n_customers == 2357
    assert weighted.log_likelihood == pytest.approx(cdnow_fit.log_likelihood, abs=1e-6)
    for name in PUBLISHED_BGNBD:
        assert getattr(weighted, name) == pytest.approx(getattr(cdnow_fit, name), rel=1e-5)


def _numeric_gradient(mean_ll, params: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    steps = np.eye(len(params)) * eps * params
    return np.array(
        [
            (mean_ll(params + s) - mean_ll(params - s)) / (2 * e)
            for s, e in zip(steps, eps * params, strict=True)
        ]
    )


@pytest.mark.parametrize("params", [(0.243, 4.414, 0.793, 2.426), (2.0, 0.5, 3.0, 0.7)])
def test_bgnbd_objective_equals_the_per_customer_likelihood_and_its_gradient(cdnow, params):
    """The optimiser's objective evaluates the gamma functions once per distinct x: it must
    equal the weighted mean of the per-customer likelihood (eq. 6), and its analytic gradient
    the numeric one."""
    from ciw.clv.models import _bgnbd_mean_ll_and_grad, bgnbd_log_likelihood

    x, t_x, T, _ = cdnow  # noqa: N806
    w = np.random.default_rng(3).integers(1, 4, len(x)).astype(float)

    def mean_ll(p):
        return float((w * bgnbd_log_likelihood(p, x, t_x, T)).sum() / w.sum())

    params = np.array(params)
    value, grad = _bgnbd_mean_ll_and_grad(x, t_x, T, w)(params)
    assert value == pytest.approx(mean_ll(params), rel=1e-12)
    assert grad == pytest.approx(_numeric_gradient(mean_ll, params), rel=1e-5, abs=1e-8)


@pytest.mark.parametrize("params", [(6.25, 3.74, 15.44), (1.0, 600.0, 16000.0)])
def test_gamma_gamma_objective_equals_the_per_customer_likelihood_and_its_gradient(cdnow, params):
    from ciw.clv.models import _gamma_gamma_mean_ll_and_grad, gamma_gamma_log_likelihood

    x, _, _, m = cdnow
    x, m = x[x > 0], m[x > 0]
    w = np.random.default_rng(4).integers(1, 4, len(x)).astype(float)

    def mean_ll(p):
        return float((w * gamma_gamma_log_likelihood(p, x, m)).sum() / w.sum())

    params = np.array(params)
    value, grad = _gamma_gamma_mean_ll_and_grad(x, m, w)(params)
    assert value == pytest.approx(mean_ll(params), rel=1e-12)
    assert grad == pytest.approx(_numeric_gradient(mean_ll, params), rel=1e-5, abs=1e-8)


def test_unique_histories_agree_with_numpy_unique_rows():
    from ciw.clv.step import unique_histories

    rng = np.random.default_rng(7)
    n = 5000  # few distinct values: many ties in each column and across columns
    x = rng.integers(0, 4, n).astype(float)
    t_x = rng.integers(0, 3, n) * 0.5
    T = rng.integers(1, 4, n) * 1.0  # noqa: N806
    (ux, ut, uT), inverse, counts = unique_histories(x, t_x, T)  # noqa: N806
    rows, np_inverse, np_counts = np.unique(
        np.stack([x, t_x, T]), axis=1, return_inverse=True, return_counts=True
    )
    assert np.array_equal(np.stack([ux, ut, uT]), rows)
    assert np.array_equal(inverse, np_inverse.reshape(-1))
    assert np.array_equal(counts, np_counts)
    # every input row maps back to its own values
    assert np.array_equal(ux[inverse], x) and np.array_equal(uT[inverse], T)
    empty, empty_inverse, empty_counts = unique_histories(np.array([]), np.array([]))
    assert [len(c) for c in empty] == [0, 0] and len(empty_inverse) == len(empty_counts) == 0


def test_scoring_in_threads_equals_scoring_each_history_alone(cdnow, cdnow_fit):
    """score_customers splits the distinct histories across threads: every customer must get
    exactly the scores of the closed forms evaluated for their own history."""
    from ciw.clv.step import WEEKS_PER_YEAR, ClvSettings, RfmData, score_customers

    x, t_x, T, monetary = cdnow  # noqa: N806
    repeat = 40  # 94,280 customers: enough histories for several threads
    data = RfmData(
        customer_id=np.arange(len(x) * repeat),
        frequency=np.tile(x, repeat),
        recency=np.tile(t_x, repeat),
        age=np.tile(T, repeat) + np.repeat(np.arange(repeat), len(x)) * 0.25,
        monetary=np.tile(monetary, repeat),
        as_of_date=None,
    )
    settings = ClvSettings.from_project(Path(__file__).absolute().parent.parent)
    spend = fit_gamma_gamma(x, monetary)
    scores = score_customers(data, settings, cdnow_fit, spend)
    expected = discounted_expected_purchases(
        cdnow_fit,
        data.frequency,
        data.recency,
        data.age,
        horizon_periods=int(round(settings.horizon_weeks)),
        periods_per_year=WEEKS_PER_YEAR,
        annual_discount_rate=settings.annual_discount_rate,
    )
    # equal up to the last bits (numpy's vector loops may round a chunk's tail differently)
    np.testing.assert_allclose(scores["discounted_expected_purchases"], expected, rtol=1e-12)
    np.testing.assert_allclose(
        scores["probability_alive"],
        probability_alive(cdnow_fit, data.frequency, data.recency, data.age),
        rtol=1e-12,
    )


# ---------------------------------------------------------------------------------------------
# closed forms


def test_conditional_expectation_matches_the_papers_worked_example(cdnow_fit):
    # FHL 2005, section 4: x = 2, t_x = 30.43, T = 38.86 -> 1.226 purchases in the next 39 weeks
    for params in (cdnow_fit, BgNbdParams(**PUBLISHED_BGNBD, log_likelihood=0.0, n_customers=0)):
        assert expected_purchases(params, 39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=6e-4)


def _eq10_direct(params: BgNbdParams, t, x, t_x, T):  # noqa: N803
    """FHL 2005 eq. (10) as printed (no Euler transformation)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + T + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    growth = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    odds = np.where(x > 0, a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
    return growth / (1 + odds)


def test_closed_forms_agree_with_the_printed_formulas(cdnow, cdnow_fit):
    x, t_x, T, _ = cdnow  # noqa: N806
    for t in (1.0, 39.0, 78.0):
        ours = expected_purchases(cdnow_fit, t, x, t_x, T)
        assert np.allclose(ours, _eq10_direct(cdnow_fit, t, x, t_x, T), rtol=1e-10, atol=1e-13)
    # eq. (9) is eq. (10) for a customer who has just made their first purchase
    t = np.array([0.0, 1.0, 39.0, 78.0])
    unconditional = expected_purchases_unconditional(cdnow_fit, t)
    assert np.allclose(unconditional, expected_purchases(cdnow_fit, t, 0, 0, 0))
    assert unconditional[0] == 0 and np.all(np.diff(unconditional) > 0)
    # P(alive): 1 without repeat purchases, the closed form otherwise, recent buyers likelier
    r, alpha, a, b = cdnow_fit.r, cdnow_fit.alpha, cdnow_fit.a, cdnow_fit.b
    expected = 1 / (1 + a / (b + 1) * ((alpha + 38.86) / (alpha + 30.43)) ** (r + 2))
    alive = probability_alive(cdnow_fit, [2, 2, 2, 0], [30.43, 38.0, 5.0, 0.0], 38.86)
    assert alive[0] == pytest.approx(expected, rel=1e-12)
    assert alive[1] > alive[0] > alive[2] and alive[3] == 1.0
    # nothing overflows for very frequent, long-lapsed customers
    assert expected_purchases(cdnow_fit, 52, 1000, 1.0, 104) == pytest.approx(0, abs=1e-12)


def test_discounting(cdnow_fit):
    x, t_x, T = np.array([0.0, 3.0]), np.array([0.0, 20.0]), np.array([30.0, 38.0])  # noqa: N806
    plain = expected_purchases(cdnow_fit, 52, x, t_x, T)
    undiscounted = discounted_expected_purchases(cdnow_fit, x, t_x, T, 52, 52, 0.0)
    assert np.allclose(undiscounted, plain, rtol=1e-12)
    discounted = discounted_expected_purchases(cdnow_fit, x, t_x, T, 52, 52, 0.1)
    cumulative = [expected_purchases(cdnow_fit, k, x, t_x, T) for k in range(53)]
    by_hand = sum((cumulative[k] - cumulative[k - 1]) / 1.1 ** (k / 52) for k in range(1, 53))
    assert np.allclose(discounted, by_hand, rtol=1e-12)
    assert np.all(discounted < plain) and np.all(discounted > plain / 1.1)
    with pytest.raises(ClvFitError, match="horizon_periods"):
        discounted_expected_purchases(cdnow_fit, x, t_x, T, 0, 52, 0.1)


def test_gamma_gamma_shrinks_towards_the_population_mean():
    spend = GammaGammaParams(**PUBLISHED_GAMMA_GAMMA, log_likelihood=0.0, n_customers=0)
    population = spend.p * spend.gamma / (spend.q - 1)
    low, high, none, nan = conditional_expected_spend(
        spend, [5, 5, 0, 0], [10.0, 200.0, 0.0, np.nan]
    )
    assert 10 < low < population < high < 200
    assert none == pytest.approx(population) and nan == pytest.approx(population)
    weight = spend.p * 5 / (spend.p * 5 + spend.q - 1)  # Fader-Hardie 2013, eq. (5)
    assert high == pytest.approx(weight * 200 + (1 - weight) * population)


# ---------------------------------------------------------------------------------------------
# simulation round trips


def _simulate_bgnbd(
    r: float,
    alpha: float,
    a: float,
    b: float,
    customers: int,
    seed: int,
    ages: tuple[float, float] = (39.0, 78.0),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customers born at time 0 and observed for T ~ Uniform(ages) weeks: Poisson(lambda)
    purchases with lambda ~ Gamma(r, rate alpha); after each repeat purchase the customer
    drops out with probability p ~ Beta(a, b). All customers step through their purchases
    together, one purchase per round."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(r, 1 / alpha, customers)
    dropout = rng.beta(a, b, customers)
    age = rng.uniform(*ages, customers)
    x, t_x, now = np.zeros(customers), np.zeros(customers), np.zeros(customers)
    active = np.ones(customers, dtype=bool)
    while active.any():
        now[active] += rng.exponential(1 / rates[active])
        active &= now <= age
        x[active] += 1
        t_x[active] = now[active]
        active &= rng.random(customers) >= dropout
    return x, t_x, age


def test_simulated_customers_recover_their_bgnbd_parameters():
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 3.0}
    x, t_x, T = _simulate_bgnbd(**truth, customers=20_000, seed=2005)  # noqa: N806
    fitted = fit_bgnbd(x, t_x, T)
    tolerance = {"r": 0.05, "alpha": 0.08, "a": 0.15, "b": 0.2}  # about 3 standard errors
    for name, value in truth.items():
        assert getattr(fitted, name) == pytest.approx(value, rel=tolerance[name]), name
    # the simulated mean repeat purchases in the first 39 weeks match eq. (9)
    x39, _, _ = _simulate_bgnbd(**truth, customers=20_000, seed=1, ages=(39.0, 39.0))
    predicted = expected_purchases_unconditional(fitted, 39.0)
    assert x39.mean() == pytest.approx(predicted, rel=0.05)


def test_simulated_spend_recovers_the_gamma_gamma_parameters():
    rng = np.random.default_rng(2013)
    x = rng.integers(1, 11, 5000).astype(float)
    nu = rng.gamma(4.0, 1 / 15.0, 5000)  # q = 4, gamma = 15
    monetary = rng.gamma(6.0 * x, 1 / (nu * x))  # mean of x Gamma(p = 6, rate nu) values
    fitted = fit_gamma_gamma(x, monetary)
    assert fitted.p == pytest.approx(6.0, rel=0.2)
    assert fitted.q == pytest.approx(4.0, rel=0.1)
    assert fitted.gamma == pytest.approx(15.0, rel=0.25)
    assert fitted.p * fitted.gamma / (fitted.q - 1) == pytest.approx(30.0, rel=0.05)


# ---------------------------------------------------------------------------------------------
# degenerate input


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([], [], []), "no customers"),
        (([1, 2], [1], [2, 2]), "1-d arrays of one length"),
        (([1, np.nan], [1, 1], [2, 2]), "frequency has 1 missing"),
        (([1, 1], [1, 1], [2, np.inf]), "age has 1 missing"),
        (([1, -1], [1, 1], [2, 2]), "frequency has 1 negative"),
        (([1, 1], [1, -1], [2, 2]), "recency has 1 negative"),
        (([1.5, 1], [1, 1], [2, 2]), "whole number"),
        (([1, 1], [3, 1], [2, 2]), r"recency > age \(t_x > T\)"),
        (([1, 1], [0, 1], [2, 2]), r"repeat purchases \(x > 0\) but recency 0"),
        (([0, 1], [1, 1], [2, 2]), "recency must be 0 when frequency is 0"),
    ],
)
def test_bgnbd_rejects_inconsistent_input(args, message):
    with pytest.raises(ClvFitError, match=message):
        fit_bgnbd(*args)


def test_bgnbd_needs_enough_customers_and_repeat_buyers():
    with pytest.raises(ClvFitError, match="only 3 customers; at least 100 are needed"):
        fit_bgnbd([1, 0, 2], [1, 0, 3], [5, 5, 5])
    with pytest.raises(ClvFitError, match="only 99 customers"):
        fit_bgnbd([1, 0], [1, 0], [5, 5], weights=[50, 49])
    with pytest.raises(ClvFitError, match="nobody made a repeat purchase"):
        fit_bgnbd(np.zeros(150), np.zeros(150), np.full(150, 10.0))
    with pytest.raises(ClvFitError, match="non-negative"):
        fit_bgnbd([1, 0], [1, 0], [5, 5], weights=[150, -1])


def test_bgnbd_refuses_an_unconverged_fit(cdnow):
    x, t_x, T, _ = cdnow  # noqa: N806
    with pytest.raises(ClvFitError, match="BG/NBD fit did not converge: .*gradient"):
        fit_bgnbd(x, t_x, T, max_iterations=2)


def test_bgnbd_refuses_a_fit_that_runs_off_to_a_boundary():
    # everyone buys every week and never stops: the dropout and rate mixtures degenerate
    x = np.full(200, 50.0)
    with pytest.raises(ClvFitError, match=r"BG/NBD fit ran off to a boundary \(\w+ = "):
        fit_bgnbd(x, x, x)


@pytest.mark.parametrize(
    ("frequency", "monetary", "message"),
    [
        ([], [], "no customers"),
        ([1, np.nan], [10.0, 12.0], "frequency has 1 missing"),
        ([1, 2], [10.0, np.nan], "1 missing .* among repeat customers"),
        ([1, 2], [10.0, np.inf], "1 missing .* among repeat customers"),
        ([1, 2], [10.0, -5.0], "monetary value has 1 negative"),
        ([1, -2], [10.0, 5.0], "non-negative number"),
        ([1, 2], [10.0, 0.0], "1 repeat customers have monetary value 0"),
        ([1] * 29 + [0], [10.0] * 30, "only 29 repeat customers .* at least 30"),
        ([0, 0, 0], [0.0, 0.0, 0.0], "only 0 repeat customers"),
        ([1, 2, 3] * 20, [10.0] * 60, "same monetary value"),
    ],
)
def test_gamma_gamma_rejects_degenerate_input(frequency, monetary, message):
    with pytest.raises(ClvFitError, match=message):
        fit_gamma_gamma(frequency, monetary)


def test_gamma_gamma_refuses_an_undefined_mean_spend():
    # spend rates nu ~ Gamma(q = 0.6, .): the mean transaction value p gamma / (q - 1) diverges
    rng = np.random.default_rng(7)
    x = rng.integers(1, 6, 2000).astype(float)
    monetary = rng.gamma(4.0 * x, 1 / (rng.gamma(0.6, 0.1, 2000) * x))
    with pytest.raises(ClvFitError, match=r"q = 0\.\d+ <= 1: the mean transaction value"):
        fit_gamma_gamma(x, monetary)


def test_gamma_gamma_refuses_boundary_and_unconverged_fits(cdnow):
    rng = np.random.default_rng(3)
    x = rng.integers(1, 6, 500).astype(float)
    nearly_constant = 50 + rng.normal(0, 1e-3, 500)  # no spread between customers
    with pytest.raises(ClvFitError, match="Gamma-Gamma fit ran off to a boundary"):
        fit_gamma_gamma(x, nearly_constant)
    frequency, _, _, monetary = cdnow
    with pytest.raises(ClvFitError, match="Gamma-Gamma fit did not converge"):
        fit_gamma_gamma(frequency, monetary, max_iterations=2)


# ---------------------------------------------------------------------------------------------
# the download


def _fake_get(content: bytes | None):
    def get(url: str, timeout: float):
        if content is None:
            raise requests.ConnectionError("network is unreachable")
        response = requests.Response()
        response.status_code, response._content, response.url = 200, content, url
        return response

    return get


def test_download_failure_without_a_cache_is_explained(monkeypatch, tmp_path):
    monkeypatch.setattr(requests, "get", _fake_get(None))
    with pytest.raises(CdnowDownloadError, match="cannot download the CDNOW sample .* unreachable"):
        load_cdnow_sample(cache_dir=tmp_path)


def test_a_tampered_download_is_refused_and_not_cached(monkeypatch, tmp_path):
    monkeypatch.setattr(requests, "get", _fake_get(b"not the wheel"))
    with pytest.raises(CdnowIntegrityError, match="does not match the pinned"):
        load_cdnow_sample(cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_cached_wheel_needs_no_network(cdnow, monkeypatch, tmp_path):
    shutil.copy(cdnow_module.wheel_path(), tmp_path / cdnow_module.WHEEL_NAME)
    monkeypatch.setattr(requests, "get", _fake_get(None))
    monkeypatch.setenv("CIW_CACHE_DIR", str(tmp_path))
    assert cdnow_module.default_cache_dir() == Path(tmp_path)
    x, _, _, _ = cdnow_rfm()
    assert len(x) == 2357
    # a corrupt cached copy is not trusted: it is downloaded again (here: fails loudly)
    (tmp_path / cdnow_module.WHEEL_NAME).write_bytes(b"corrupt")
    with pytest.raises(CdnowDownloadError):
        cdnow_rfm()


def test_refit_schedule_reuses_a_recent_fit_and_never_a_future_one():
    import datetime as dt

    from ciw.clv.models import BgNbdParams, GammaGammaParams
    from ciw.clv.step import ClvSettings, StoredFit, needs_refit

    stored = StoredFit(
        fit_id="f1",
        as_of_date=dt.date(2026, 11, 1),
        bgnbd=BgNbdParams(0.2, 4.0, 0.8, 2.4, -1.0, 100),
        gamma_gamma=GammaGammaParams(6.0, 3.7, 15.0, -1.0, 50),
    )
    weekly = ClvSettings(refit_days=7)
    assert needs_refit(None, dt.date(2026, 11, 1), weekly)
    assert not needs_refit(stored, dt.date(2026, 11, 1), weekly)
    assert not needs_refit(stored, dt.date(2026, 11, 7), weekly)
    assert needs_refit(stored, dt.date(2026, 11, 8), weekly)
    # replaying an earlier day must not score with parameters fitted on later data
    assert needs_refit(stored, dt.date(2026, 10, 31), weekly)
    assert needs_refit(stored, dt.date(2026, 11, 1), ClvSettings(refit_days=0))


def test_scores_are_written_rounded_as_postgresql_rounds_to_their_numeric_columns(warehouse):
    """The scores go to clv.customer_predictions as decimals of the columns' scales, rounded
    half away from zero as PostgreSQL rounds a float to numeric(p, s) (the staging view then
    casts nothing); a score too large for its column is refused."""
    from ciw.clv.step import PREDICTION_COLUMNS, _as_decimal

    rng = np.random.default_rng(3)
    ties = [0.0000005, 0.1234565, 0.9999995, 2.5e-7, 1e-7, 0.0, 12.345, 0.125, 1.0000005]
    values = np.concatenate([ties, rng.random(2_000), rng.random(2_000) * 1e-3])
    for name, (precision, scale) in PREDICTION_COLUMNS.items():
        written = [str(v) for v in _as_decimal(name, values, precision, scale).to_pylist()]
        cast = warehouse.query(
            f"select (x::numeric({precision}, {scale}))::text from unnest(%s::float8[]) x",
            (values.tolist(),),
        )
        assert written == [row[0] for row in cast], name
    with pytest.raises(ClvFitError, match=r"probability_alive does not fit numeric\(8, 6\)"):
        _as_decimal("probability_alive", np.array([0.5, 99.9999996]), 8, 6)


def test_float_predictions_of_an_older_version_are_converted_once(warehouse, tmp_path, monkeypatch):
    """A warehouse whose clv.customer_predictions holds double precision scores (and a
    staging view on them) gets numeric columns with the values the view showed, and the
    view back, at the next dbt run."""
    from ciw import cli

    warehouse.query(
        "create schema clv; create schema staging;"
        "create table clv.customer_predictions (customer_id bigint primary key, fit_id text"
        " not null, probability_alive double precision not null, expected_purchases double"
        " precision not null, discounted_expected_purchases double precision not null,"
        " expected_purchase_value double precision not null);"
        "insert into clv.customer_predictions values (7, 'f', 0.12345678, 1.23456, 1.1, 9.999);"
        "create view staging.stg_clv__customer_predictions as"
        " select * from clv.customer_predictions"
    )
    monkeypatch.setenv("CIW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CIW_DSN", warehouse.dsn.url())
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    select = ["dbt", "run", "--select", "stg_clv__customer_predictions"]
    assert cli.main(select) == 0
    types = warehouse.query(
        "select column_name, numeric_precision, numeric_scale from information_schema.columns"
        " where table_schema = 'clv' and table_name = 'customer_predictions'"
        " and data_type = 'numeric' order by ordinal_position"
    )
    assert types == [
        ("probability_alive", 8, 6),
        ("expected_purchases", 12, 4),
        ("discounted_expected_purchases", 12, 4),
        ("expected_purchase_value", 14, 2),
    ]
    from ciw.dbt import model_relation

    view = model_relation(ROOT, "stg_clv__customer_predictions", "staging")
    assert [tuple(map(str, row)) for row in warehouse.query(f"select * from {view}")] == [
        ("7", "f", "0.123457", "1.2346", "1.1000", "10.00")
    ]
    assert cli.main(select) == 0  # converted once: the next run changes nothing
