"""BG/NBD and Gamma-Gamma customer-lifetime-value models, fitted by maximum likelihood.

* BG/NBD: Fader, Hardie and Lee (2005), "Counting your customers" the easy way: an alternative
  to the Pareto/NBD model, Marketing Science 24(2), 275-284 (FHL 2005a). While active, a
  customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after each purchase
  they drop out with probability p ~ Beta(a, b). Per customer: x repeat purchases, t_x the
  time of the last one, T the time since the first (all from the first purchase, in one unit:
  weeks here).
* Gamma-Gamma: Fader, Hardie and Lee (2005), RFM and CLV: using iso-value curves for customer
  base analysis, Journal of Marketing Research 42(4), 415-430 (FHL 2005b); Fader and Hardie
  (2013), The Gamma-Gamma model of monetary value. A customer's transaction values are
  Gamma(p, nu) with nu ~ Gamma(q, gamma) across customers; fitted from x and the mean value
  m_x of the x repeat transactions of each customer with x > 0.

Both fits optimise log-parameters with L-BFGS-B and analytic gradients from several starting
points, then check the gradient at the optimum. Degenerate input, a fit that does not
converge and parameters that run off to a boundary raise :class:`ClvFitError`: nothing here
returns silently bad parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special

MAX_PARAMETER = 1e6  # a fitted parameter beyond this (or below 1 / this) is not a usable model
_LOG_BOUND = float(np.log(1e9))  # optimiser box on log-parameters: wide of MAX_PARAMETER
_GRADIENT_TOLERANCE = 1e-5  # |d mean log-likelihood / d log-parameter| accepted as optimal


class ClvFitError(Exception):
    """The models cannot be fitted to this input; the message says why."""


@dataclass(frozen=True)
class BgNbdParams:
    """Fitted BG/NBD parameters (FHL 2005a); ``log_likelihood`` is the (weighted) total."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n_customers: int
    converged: bool = True


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma parameters (Fader and Hardie 2013); ``n_customers`` counts the
    repeat customers the model was fitted on."""

    p: float
    q: float
    gamma: float
    log_likelihood: float
    n_customers: int
    converged: bool = True


# ---------------------------------------------------------------------------------------------
# input checks


def _arrays(*values: ArrayLike) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in values]


def _weights(weights: ArrayLike | None, shape: tuple[int, ...]) -> np.ndarray:
    if weights is None:
        return np.ones(shape)
    w = np.asarray(weights, dtype=float)
    if w.shape != shape:
        raise ClvFitError(f"weights have shape {w.shape}, the data {shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ClvFitError("weights must be finite and non-negative")
    return w


def _count(w: np.ndarray) -> int:
    """Customers represented by weighted rows (a weight counts customers sharing a row)."""
    return int(round(float(w.sum())))


def _check_rfm(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> None:  # noqa: N803
    if x.ndim != 1 or not (x.shape == t_x.shape == T.shape):
        raise ClvFitError(
            f"frequency, recency and age must be 1-d arrays of one length "
            f"(got shapes {x.shape}, {t_x.shape}, {T.shape})"
        )
    if len(x) == 0:
        raise ClvFitError("no customers to fit on (empty input)")
    for name, values in (("frequency", x), ("recency", t_x), ("age", T)):
        if not np.all(np.isfinite(values)):
            bad = int((~np.isfinite(values)).sum())
            raise ClvFitError(f"{name} has {bad} missing (NaN) or infinite values")
        if np.any(values < 0):
            raise ClvFitError(f"{name} has {int((values < 0).sum())} negative values")
    if np.any(x != np.round(x)):
        raise ClvFitError("frequency must be a whole number of repeat purchases")
    if np.any(t_x > T + 1e-9):
        raise ClvFitError(
            f"{int((t_x > T + 1e-9).sum())} customers have recency > age (t_x > T): the last "
            f"purchase cannot come after the end of the observation period"
        )
    if np.any((x > 0) & (t_x <= 0)):
        raise ClvFitError(
            f"{int(((x > 0) & (t_x <= 0)).sum())} customers have repeat purchases (x > 0) but "
            f"recency 0: a repeat purchase must come after the first (merge same-day orders)"
        )
    if np.any((x == 0) & (t_x > 0)):
        raise ClvFitError(
            f"{int(((x == 0) & (t_x > 0)).sum())} customers have no repeat purchases but "
            f"recency > 0: recency must be 0 when frequency is 0"
        )


def _check_parameters(model: str, params: dict[str, float]) -> None:
    for name, value in params.items():
        if not np.isfinite(value) or value <= 0:
            raise ClvFitError(f"{model} fit gave {name} = {value}: not a usable model")
        if value > MAX_PARAMETER or value < 1 / MAX_PARAMETER:
            raise ClvFitError(
                f"{model} fit ran off to a boundary ({name} = {value:.3g}, outside "
                f"[{1 / MAX_PARAMETER:g}, {MAX_PARAMETER:g}]): the data do not identify the "
                f"model (too few customers, or too uniform behaviour)"
            )


# ---------------------------------------------------------------------------------------------
# optimisation


def _maximise(
    model: str,
    mean_ll_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    starts: Sequence[Sequence[float]],
    max_iterations: int,
) -> tuple[np.ndarray, float]:
    """Maximise a mean log-likelihood over log-parameters from several starts (L-BFGS-B with
    the analytic gradient); the best optimum must have a near-zero gradient. Returns
    (parameters, mean log-likelihood)."""

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(all="ignore"):
            value, grad = mean_ll_and_grad(np.exp(log_params))
            grad = grad * np.exp(log_params)  # chain rule to log-parameters
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return np.inf, np.zeros_like(log_params)
        return -value, -grad

    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(starts[0])
    options = {"maxiter": max_iterations, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20}
    best: optimize.OptimizeResult | None = None
    for start in starts:
        result = optimize.minimize(
            objective, np.log(start), jac=True, method="L-BFGS-B", bounds=bounds, options=options
        )
        if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
            best = result
    if best is None:
        raise ClvFitError(f"{model} fit failed: the likelihood is not finite at any start")
    params = np.exp(best.x)
    return params, -float(best.fun)


def _check_converged(
    model: str,
    names: Sequence[str],
    params: np.ndarray,
    mean_ll_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
) -> None:
    with np.errstate(all="ignore"):
        _, grad = mean_ll_and_grad(params)
    grad = np.abs(grad * params)  # per log-parameter
    if not np.all(np.isfinite(grad)) or np.max(grad) > _GRADIENT_TOLERANCE:
        worst = names[int(np.nanargmax(np.where(np.isfinite(grad), grad, np.inf)))]
        raise ClvFitError(
            f"{model} fit did not converge: the log-likelihood gradient is still "
            f"{np.nanmax(grad):.2g} per customer (in log {worst}) at "
            + ", ".join(f"{n} = {v:.4g}" for n, v in zip(names, params, strict=True))
        )


# ---------------------------------------------------------------------------------------------
# BG/NBD


def _bgnbd_terms(
    params: Sequence[float],
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,  # noqa: N803
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = (
        special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    a4 = np.full_like(a3, -np.inf)
    a4[repeat] = (
        np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    )
    return a1, a2, a3, a4


def bgnbd_log_likelihood(
    params: Sequence[float],
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
) -> np.ndarray:
    """Per-customer log-likelihood, FHL 2005a eq. (6) in log space:
    ln L = A1 + A2 + ln(exp(A3) + [x > 0] exp(A4)) with
    A1 = lnG(r+x) - lnG(r) + r ln(alpha), A2 = lnB(a, b+x) - lnB(a, b),
    A3 = -(r+x) ln(alpha+T), A4 = ln(a) - ln(b+x-1) - (r+x) ln(alpha+t_x)."""
    x, t_x, T = _arrays(x, t_x, T)  # noqa: N806
    a1, a2, a3, a4 = _bgnbd_terms(params, np.atleast_1d(x), np.atleast_1d(t_x), np.atleast_1d(T))
    return (a1 + a2 + np.logaddexp(a3, a4)).reshape(x.shape)


def _bgnbd_mean_ll_and_grad(
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    w: np.ndarray,  # noqa: N803
) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """The mean log-likelihood and its gradient. The gamma functions depend on x only: they
    are evaluated once per distinct x and weighted by how many customers have it; customers
    without repeat purchases (x = 0, A4 = -inf) need one log per evaluation, the others two
    logs and one exponential."""
    total = float(w.sum())
    xs, inverse = np.unique(x, return_inverse=True)
    w_x = np.bincount(inverse, weights=w, minlength=len(xs))  # customers per distinct x
    once = x == 0
    w0, big_t0 = w[once], T[once]
    rep = ~once
    x1, t1, big_t1, w1 = x[rep], t_x[rep], T[rep], w[rep]
    xs_of_1 = inverse[rep]

    def mean_ll_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = params
        # per distinct x
        ab_x = a + b + xs
        a12 = (
            special.gammaln(r + xs)
            - special.gammaln(r)
            + r * np.log(alpha)
            + special.gammaln(a + b)
            + special.gammaln(b + xs)
            - special.gammaln(b)
            - special.gammaln(ab_x)
        )
        dig_ab, dig_abx = special.digamma(a + b), special.digamma(ab_x)
        log_b_x1 = np.log(np.maximum(b + xs - 1, np.finfo(float).tiny))  # used where x > 0
        # x = 0: ln(L) = A1 + A2 - r ln(alpha + T)
        log_t0 = np.log(alpha + big_t0)
        # x > 0: ln(L) = A1 + A2 + ln(exp(A3) + exp(A4))
        r_x1 = r + x1
        log_big_t1 = np.log(alpha + big_t1)
        log_t1 = np.log(alpha + t1)
        a3 = -r_x1 * log_big_t1
        a4 = np.log(a) - log_b_x1[xs_of_1] - r_x1 * log_t1
        tail = np.logaddexp(a3, a4)
        share4 = special.expit(a4 - a3)  # exp(A4 - tail); exp(A3 - tail) = 1 - share4
        share3 = special.expit(a3 - a4)
        ll = float((w_x * a12).sum()) - r * float((w0 * log_t0).sum()) + float((w1 * tail).sum())
        d_r = (
            float((w_x * (special.digamma(r + xs) - special.digamma(r))).sum())
            + total * np.log(alpha)
            - float((w0 * log_t0).sum())
            - float((w1 * (share3 * log_big_t1 + share4 * log_t1)).sum())
        )
        d_alpha = (
            total * r / alpha
            - r * float((w0 / (alpha + big_t0)).sum())
            - float((w1 * r_x1 * (share3 / (alpha + big_t1) + share4 / (alpha + t1))).sum())
        )
        w1_share4 = float((w1 * share4).sum())
        d_a = float((w_x * (dig_ab - dig_abx)).sum()) + w1_share4 / a
        d_b = float(
            (w_x * (dig_ab + special.digamma(b + xs) - special.digamma(b) - dig_abx)).sum()
        ) - float((w1 * share4 / (b + x1 - 1)).sum())
        return ll / total, np.array([d_r, d_alpha, d_a, d_b]) / total

    return mean_ll_and_grad


def fit_bgnbd(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
    weights: ArrayLike | None = None,
    min_customers: int = 100,
    max_iterations: int = 2000,
) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters (FHL 2005a, eq. 6).

    ``x`` = repeat purchases, ``t_x`` = time of the last purchase and ``T`` = time of the end
    of observation, both from the first purchase. ``weights`` (optional) count how many
    customers share each row, so identical histories can be fitted once; ``min_customers``
    applies to that count. Raises :class:`ClvFitError` on degenerate input, too few customers,
    no convergence within ``max_iterations`` or parameters outside [1e-6, 1e6]."""
    x, t_x, T = _arrays(x, t_x, T)  # noqa: N806
    _check_rfm(x, t_x, T)
    w = _weights(weights, x.shape)
    customers = _count(w)
    if customers < min_customers:
        raise ClvFitError(
            f"only {customers} customers; at least {min_customers} are needed to fit BG/NBD "
            f"(min_customers)"
        )
    if not np.any((x > 0) & (w > 0)):
        raise ClvFitError("nobody made a repeat purchase: purchase rates cannot be estimated")

    # starting points: r / alpha set from the mean repeat-purchase rate of the population
    rate = float((w * x).sum() / max((w * T).sum(), 1e-12))
    starts = [
        (1.0, 1.0 / rate, 1.0, 1.0),
        (0.25, 0.25 / rate, 0.8, 2.5),
        (2.0, 2.0 / rate, 2.0, 6.0),
    ]
    mean_ll_and_grad = _bgnbd_mean_ll_and_grad(x, t_x, T, w)
    params, mean_ll = _maximise("BG/NBD", mean_ll_and_grad, starts, max_iterations)
    names = ("r", "alpha", "a", "b")
    _check_parameters("BG/NBD", dict(zip(names, map(float, params), strict=True)))
    _check_converged("BG/NBD", names, params, mean_ll_and_grad)
    r, alpha, a, b = (float(v) for v in params)
    return BgNbdParams(r, alpha, a, b, mean_ll * float(w.sum()), customers, True)


def probability_alive(
    params: BgNbdParams,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
) -> np.ndarray:
    """P(active at T | x, t_x, T) = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) /
    (alpha + t_x))^(r + x)) (Fader, Hardie and Lee 2008, "Computing P(alive) using the BG/NBD
    model"): exactly 1 without repeat purchases, since the model only lets a customer drop
    out right after a purchase."""
    x, t_x, T = np.broadcast_arrays(*_arrays(x, t_x, T))  # noqa: N806
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    with np.errstate(all="ignore"):
        log_odds = (
            np.log(a)
            - np.log(np.where(repeat, b + x - 1, 1.0))
            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
        return np.where(repeat, special.expit(-log_odds), 1.0)


def _bgnbd_growth(
    params: BgNbdParams,
    t: np.ndarray,
    x: np.ndarray,
    T: np.ndarray,  # noqa: N803
) -> np.ndarray:
    """(a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)],
    z = t / (alpha+T+t): the numerator of FHL 2005a eq. (10) (eq. 9 for x = 0, T = 0).

    Computed through Euler's transformation 2F1(A, B; C; z) = (1-z)^(C-A-B)
    2F1(C-A, C-B; C; z), so that (1-z)^(r+x) 2F1(...) = (1-z)^(a-1) 2F1(a+b-1-r, a-1;
    a+b+x-1; z): small upper parameters, a fast-converging series even for large x. a = 1 is a
    removable singularity (0/0), evaluated as the mean of a = 1 -/+ 1e-5."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b

    def at(a_: float) -> np.ndarray:
        one_minus_z = (alpha + T) / (alpha + T + t)
        z = t / (alpha + T + t)
        hyp = special.hyp2f1(a_ + b - 1 - r, a_ - 1, a_ + b + x - 1, z)
        return (a_ + b + x - 1) / (a_ - 1) * (1 - one_minus_z ** (a_ - 1) * hyp)

    if abs(a - 1) < 1e-5:
        return (at(1 - 1e-5) + at(1 + 1e-5)) / 2
    return at(a)


def expected_purchases_unconditional(params: BgNbdParams, t: ArrayLike) -> np.ndarray:
    """E[X(t)], expected purchases in (0, t] of a customer who made their first purchase at
    time 0 (repeat purchases only; FHL 2005a eq. 9):
    (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]."""
    t = np.asarray(t, dtype=float)
    zero = np.zeros_like(t)
    return _bgnbd_growth(params, t, zero, zero)


def expected_purchases(
    params: BgNbdParams,
    t: ArrayLike,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
) -> np.ndarray:
    """E[Y(t) | x, t_x, T], expected purchases in the next t periods (FHL 2005a eq. 10):
    (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
    / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)).
    Broadcasts over t and the customer arrays."""
    t, x, t_x, T = np.broadcast_arrays(*_arrays(t, x, t_x, T))  # noqa: N806
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    with np.errstate(all="ignore"):
        log_ratio = (
            np.log(a)
            - np.log(np.where(repeat, b + x - 1, 1.0))
            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
        # 1 / (1 + exp(log_ratio)) = expit(-log_ratio): no overflow for long-lapsed customers
        alive = np.where(repeat, special.expit(-log_ratio), 1.0)
        return _bgnbd_growth(params, t, x, T) * alive


def discounted_expected_purchases(
    params: BgNbdParams,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
    horizon_periods: int,
    periods_per_year: float,
    annual_discount_rate: float,
) -> np.ndarray:
    """Discounted expected purchases over the next ``horizon_periods`` unit periods:
    sum_{k=1..horizon} (E[Y(k)] - E[Y(k-1)]) / (1 + d)^(k / periods_per_year), with E[Y(k)]
    from eq. (10) of FHL 2005a and E[Y(0)] = 0 (purchases in period k discounted to its end).
    """
    if int(horizon_periods) != horizon_periods or horizon_periods < 1:
        raise ClvFitError(f"horizon_periods must be a whole number >= 1, not {horizon_periods}")
    if not periods_per_year > 0:
        raise ClvFitError(f"periods_per_year must be > 0, not {periods_per_year}")
    if not annual_discount_rate > -1:
        raise ClvFitError(f"annual_discount_rate must be > -1, not {annual_discount_rate}")
    x, t_x, T = np.broadcast_arrays(*_arrays(x, t_x, T))  # noqa: N806
    total = np.zeros(x.shape)
    previous = np.zeros(x.shape)
    for k in range(1, int(horizon_periods) + 1):
        current = expected_purchases(params, float(k), x, t_x, T)
        total += (current - previous) / (1 + annual_discount_rate) ** (k / periods_per_year)
        previous = current
    return total


# ---------------------------------------------------------------------------------------------
# Gamma-Gamma


def gamma_gamma_log_likelihood(params: Sequence[float], x: ArrayLike, m: ArrayLike) -> np.ndarray:
    """Per-customer log-likelihood of the mean value m_x of x > 0 transactions (Fader and
    Hardie 2013, eq. 3): f(m_x | p, q, gamma, x) = G(px+q) / (G(px) G(q)) gamma^q
    m_x^(px-1) x^(px) / (gamma + m_x x)^(px+q)."""
    p, q, gamma = params
    x, m = _arrays(x, m)
    return (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(x * m + gamma)
    )


def _gamma_gamma_mean_ll_and_grad(
    x: np.ndarray, m: np.ndarray, w: np.ndarray
) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """The mean log-likelihood and its gradient. The special functions depend on x only: they
    are evaluated once per distinct x (repeat counts take few values) and weighted by how many
    customers have it, so each evaluation costs one log and one division per customer."""
    total = float(w.sum())
    xs, inverse = np.unique(x, return_inverse=True)
    w_x = np.bincount(inverse, weights=w, minlength=len(xs))  # customers per distinct x
    xm = x * m
    w_x_x = w * x
    # the parts of the log-likelihood that are linear in the parameters, summed once
    sum_wx_log_mx = float((w_x_x * (np.log(m) + np.log(x))).sum())
    sum_w_log_m = float((w * np.log(m)).sum())

    def mean_ll_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, gamma = params
        pxq = p * xs + q
        log_total = np.log(xm + gamma)
        sum_wx_log_total = float((w_x_x * log_total).sum())
        sum_w_log_total = float((w * log_total).sum())
        ll = (
            float((w_x * (special.gammaln(pxq) - special.gammaln(p * xs))).sum())
            - total * special.gammaln(q)
            + total * q * np.log(gamma)
            + p * sum_wx_log_mx
            - sum_w_log_m
            - p * sum_wx_log_total
            - q * sum_w_log_total
        )
        dig = special.digamma(pxq)
        d_p = (
            float((w_x * xs * (dig - special.digamma(p * xs))).sum())
            + sum_wx_log_mx
            - sum_wx_log_total
        )
        d_q = (
            float((w_x * dig).sum())
            - total * special.digamma(q)
            + total * np.log(gamma)
            - sum_w_log_total
        )
        d_gamma = total * q / gamma - float(((w * (p * x + q)) / (xm + gamma)).sum())
        return ll / total, np.array([d_p, d_q, d_gamma]) / total

    return mean_ll_and_grad


def fit_gamma_gamma(
    frequency: ArrayLike,
    monetary_value: ArrayLike,
    weights: ArrayLike | None = None,
    min_repeat_customers: int = 30,
    max_iterations: int = 2000,
) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters (Fader and Hardie 2013; FHL 2005b).

    Only customers with ``frequency`` > 0 are used; their ``monetary_value`` must be the mean
    value of their x *repeat* transactions (the first purchase excluded, as in FHL 2005b).
    The monetary value of customers without repeat purchases is ignored (0 or NaN are fine).
    Raises :class:`ClvFitError` on degenerate input, fewer than ``min_repeat_customers``
    repeat customers, no convergence, parameters outside [1e-6, 1e6], or q <= 1 (the mean
    transaction value p gamma / (q - 1) is then undefined)."""
    x, m = _arrays(frequency, monetary_value)
    if x.ndim != 1 or x.shape != m.shape:
        raise ClvFitError(
            f"frequency and monetary value must be 1-d arrays of one length "
            f"(got shapes {x.shape}, {m.shape})"
        )
    if len(x) == 0:
        raise ClvFitError("no customers to fit on (empty input)")
    w = _weights(weights, x.shape)
    if not np.all(np.isfinite(x)):
        raise ClvFitError(
            f"frequency has {int((~np.isfinite(x)).sum())} missing or infinite values"
        )
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ClvFitError("frequency must be a whole, non-negative number of repeat purchases")
    keep = x > 0
    bad = keep & ~np.isfinite(m)
    if np.any(bad):
        raise ClvFitError(
            f"monetary value has {int(bad.sum())} missing (NaN) or infinite values among "
            f"repeat customers"
        )
    if np.any(m[np.isfinite(m)] < 0):
        raise ClvFitError(f"monetary value has {int((m < 0).sum())} negative values")
    if np.any(m[keep] == 0):
        raise ClvFitError(
            f"{int((m[keep] == 0).sum())} repeat customers have monetary value 0: the spend "
            f"model needs a positive mean value per repeat customer"
        )
    x, m, w = x[keep], m[keep], w[keep]
    customers = _count(w)
    if customers < min_repeat_customers:
        raise ClvFitError(
            f"only {customers} repeat customers (frequency > 0); at least "
            f"{min_repeat_customers} are needed for the Gamma-Gamma spend model "
            f"(min_repeat_customers)"
        )
    if len(x) < 2 or np.allclose(m, m[0], rtol=1e-12, atol=0):
        raise ClvFitError("every repeat customer has the same monetary value: nothing to fit")

    # starting points: q and gamma from the spread of the customer means
    mean = float(np.average(m, weights=w))
    starts = [(1.0, 2.0, mean), (4.0, 4.0, 0.75 * mean), (10.0, 3.0, 0.2 * mean)]
    mean_ll_and_grad = _gamma_gamma_mean_ll_and_grad(x, m, w)
    params, mean_ll = _maximise("Gamma-Gamma", mean_ll_and_grad, starts, max_iterations)
    names = ("p", "q", "gamma")
    _check_parameters("Gamma-Gamma", dict(zip(names, map(float, params), strict=True)))
    _check_converged("Gamma-Gamma", names, params, mean_ll_and_grad)
    p, q, gamma = (float(v) for v in params)
    if q <= 1:
        raise ClvFitError(
            f"Gamma-Gamma fit gave q = {q:.3g} <= 1: the mean transaction value "
            f"p gamma / (q - 1) is undefined (spend too heavy-tailed across customers)"
        )
    return GammaGammaParams(p, q, gamma, mean_ll * float(w.sum()), customers, True)


def conditional_expected_spend(
    params: GammaGammaParams, frequency: ArrayLike, monetary_value: ArrayLike
) -> np.ndarray:
    """E[M | p, q, gamma, m_x, x] = (q - 1) / (p x + q - 1) * p gamma / (q - 1)
    + p x / (p x + q - 1) * m_x (Fader and Hardie 2013, eq. 5; FHL 2005b): a weighted mean of
    the population mean p gamma / (q - 1) and the customer's own mean m_x. Customers without
    repeat purchases (x = 0) get the population mean, whatever their monetary value."""
    x, m = np.broadcast_arrays(*_arrays(frequency, monetary_value))
    p, q, gamma = params.p, params.q, params.gamma
    m = np.where(x > 0, m, 0.0)
    return p * (gamma + x * m) / (p * x + q - 1)
