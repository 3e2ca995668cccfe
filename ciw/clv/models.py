"""BG/NBD and Gamma-Gamma customer-lifetime-value models, fitted by maximum likelihood.

* BG/NBD: Fader, Hardie and Lee (2005), "Counting your customers" the easy way: an alternative
  to the Pareto/NBD model, Marketing Science 24(2). Purchases while active follow a Poisson
  process with rate ~ Gamma(r, alpha); after each purchase the customer drops out with
  probability p ~ Beta(a, b). Per customer: x repeat purchases, t_x the time of the last,
  T the time since the first (all in the same unit, weeks here).
* Gamma-Gamma: Fader, Hardie and Lee (2005), RFM and CLV: using iso-value curves for customer
  base analysis, JMR 42(4); Fader and Hardie (2013), The Gamma-Gamma model of monetary value.
  A customer's purchase values ~ Gamma(p, nu), nu ~ Gamma(q, gamma); fitted on customers with
  repeat purchases, from x and the mean value m_x of those repeat purchases.

Degenerate input raises :class:`ClvFitError`; nothing here returns silently bad parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

MAX_PARAMETER = 1e6  # beyond this a fit has run off to a boundary: not a usable model


class ClvFitError(ValueError):
    """The models cannot be fitted to this input (explained in the message)."""


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n_customers: int
    converged: bool = True


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float
    log_likelihood: float
    n_customers: int
    converged: bool = True


def _arrays(*values: object) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in values]


def _check_rfm(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, min_customers: int) -> None:  # noqa: N803
    if not (x.shape == t_x.shape == T.shape) or x.ndim != 1:
        raise ClvFitError("frequency, recency and age must be 1-d arrays of the same length")
    if len(x) == 0:
        raise ClvFitError("no customers to fit on")
    for name, values in (("frequency", x), ("recency", t_x), ("age", T)):
        if not np.all(np.isfinite(values)):
            raise ClvFitError(f"{name} has missing or infinite values")
        if np.any(values < 0):
            raise ClvFitError(f"{name} has negative values")
    if np.any(t_x > T + 1e-9):
        raise ClvFitError(f"{int((t_x > T + 1e-9).sum())} customers have recency > age")
    if np.any((x > 0) & (t_x <= 0)):
        raise ClvFitError("customers with repeat purchases need a recency > 0")
    if np.any(x != np.round(x)):
        raise ClvFitError("frequency must be a whole number of repeat purchases")
    if len(x) < min_customers:
        raise ClvFitError(f"only {len(x)} customers; at least {min_customers} are needed")
    if not np.any(x > 0):
        raise ClvFitError("nobody made a repeat purchase: purchase rates cannot be estimated")


def bgnbd_log_likelihood(
    params: tuple[float, float, float, float],
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,  # noqa: N803
) -> np.ndarray:
    """Per-customer log-likelihood (FHL 2005, eq. 6, in log space)."""
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = (
        special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return a1 + a2 + np.logaddexp(a3, a4)


def _minimise(negative_ll, start: np.ndarray) -> optimize.OptimizeResult | None:
    """L-BFGS-B; when it does not converge, Nelder-Mead from where it stopped, and the better
    of the two (a run that merely ran out of iterations counts only if nothing converged)."""
    first = optimize.minimize(negative_ll, start, method="L-BFGS-B", options={"maxiter": 20000})
    if first.success and np.isfinite(first.fun):
        return first
    restart = first.x if np.all(np.isfinite(first.x)) else start
    second = optimize.minimize(
        negative_ll,
        restart,
        method="Nelder-Mead",
        options={"maxiter": 20000, "maxfev": 40000, "xatol": 1e-8, "fatol": 1e-10},
    )
    results = [r for r in (first, second) if np.isfinite(r.fun)]
    if not results:
        return None
    converged = [r for r in results if r.success]
    return min(converged or results, key=lambda r: r.fun)


def fit_bgnbd(
    x: object,
    t_x: object,
    T: object,  # noqa: N803
    weights: object | None = None,
    min_customers: int = 1,
) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters (optimised on log-parameters)."""
    x, t_x, T = _arrays(x, t_x, T)  # noqa: N806
    _check_rfm(x, t_x, T, min_customers)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    scale = float(np.mean(T)) or 1.0

    def negative_ll(log_params: np.ndarray) -> float:
        params = np.exp(log_params)
        if not np.all(np.isfinite(params)):
            return np.inf
        value = -np.sum(w * bgnbd_log_likelihood(tuple(params), x, t_x, T))
        return float(value) if np.isfinite(value) else np.inf

    start = np.log([1.0, scale, 1.0, 1.0])
    result = _minimise(negative_ll, start)
    if result is None:
        raise ClvFitError("BG/NBD fit failed: the likelihood is not finite anywhere tried")
    r, alpha, a, b = (float(v) for v in np.exp(result.x))
    _check_parameters("BG/NBD", {"r": r, "alpha": alpha, "a": a, "b": b})
    if not result.success and "ABNORMAL" not in str(result.message).upper():
        raise ClvFitError(f"BG/NBD fit did not converge: {result.message}")
    return BgNbdParams(r, alpha, a, b, float(-result.fun), len(x), bool(result.success))


def _check_parameters(model: str, params: dict[str, float]) -> None:
    for name, value in params.items():
        if not np.isfinite(value) or value <= 0:
            raise ClvFitError(f"{model} fit gave {name} = {value}: not a usable model")
        if value > MAX_PARAMETER or value < 1 / MAX_PARAMETER:
            raise ClvFitError(
                f"{model} fit ran off to a boundary ({name} = {value:.3g}): the data do not "
                f"identify the model (too few or too uniform customers)"
            )


def probability_alive(params: BgNbdParams, x: object, t_x: object, T: object) -> np.ndarray:  # noqa: N803
    """P(still active | x, t_x, T) (FHL 2005, eq. 12); 1 for customers without repeats."""
    x, t_x, T = _arrays(x, t_x, T)  # noqa: N806
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_ratio = (
            np.log(a)
            - np.log(np.maximum(b + x - 1, 1e-300))
            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
        value = np.where(x > 0, 1.0 / (1.0 + np.exp(log_ratio)), 1.0)
    return value


def expected_purchases_unconditional(params: BgNbdParams, t: object) -> np.ndarray:
    """E[X(t)] for a randomly chosen new customer (FHL 2005, eq. 9)."""
    t = np.asarray(t, dtype=float)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + t)
    return (
        (a + b - 1)
        / (a - 1)
        * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, z))
    )


def expected_purchases(
    params: BgNbdParams,
    t: object,
    x: object,
    t_x: object,
    T: object,  # noqa: N803
) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t periods (FHL 2005, eq. 10)."""
    x, t_x, T = _arrays(x, t_x, T)  # noqa: N806
    t = np.asarray(t, dtype=float)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if a == 1:
        a = 1 + 1e-9  # the formula's removable singularity
    z = t / (alpha + T + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    numerator = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(
            x > 0,
            a / np.maximum(b + x - 1, 1e-300) * ((alpha + T) / (alpha + t_x)) ** (r + x),
            0.0,
        )
    return numerator / (1 + ratio)


def discounted_expected_purchases(
    params: BgNbdParams,
    x: object,
    t_x: object,
    T: object,  # noqa: N803
    horizon_periods: int,
    periods_per_year: float,
    annual_discount_rate: float,
) -> np.ndarray:
    """Sum over periods k = 1..horizon of (E[Y(k)] - E[Y(k-1)]) / (1 + d)^(k / per_year)."""
    if horizon_periods < 1:
        raise ClvFitError("horizon_periods must be at least 1")
    x, t_x, T = _arrays(x, t_x, T)  # noqa: N806
    total = np.zeros_like(x)
    previous = np.zeros_like(x)
    for k in range(1, horizon_periods + 1):
        current = expected_purchases(params, float(k), x, t_x, T)
        total += (current - previous) / (1 + annual_discount_rate) ** (k / periods_per_year)
        previous = current
    return total


def gamma_gamma_log_likelihood(
    params: tuple[float, float, float], x: np.ndarray, m: np.ndarray
) -> np.ndarray:
    """Per-customer log-likelihood of the mean value m of x purchases (Fader-Hardie 2013)."""
    p, q, gamma = params
    return (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(x * m + gamma)
    )


def fit_gamma_gamma(
    frequency: object,
    monetary_value: object,
    weights: object | None = None,
    min_repeat_customers: int = 1,
) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters from the customers with repeat purchases
    (frequency > 0; monetary_value = mean value of their repeat purchases)."""
    x, m = _arrays(frequency, monetary_value)
    if x.shape != m.shape or x.ndim != 1:
        raise ClvFitError("frequency and monetary value must be 1-d arrays of the same length")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(m))):
        raise ClvFitError("frequency or monetary value has missing or infinite values")
    keep = x > 0
    if np.any(m[keep] <= 0):
        raise ClvFitError("repeat customers need a positive monetary value")
    x, m = x[keep], m[keep]
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)[keep]
    if len(x) < max(min_repeat_customers, 2):
        raise ClvFitError(
            f"only {len(x)} repeat customers; at least {max(min_repeat_customers, 2)} are needed "
            f"for the spend model"
        )
    if np.allclose(m, m[0]):
        raise ClvFitError("every repeat customer has the same monetary value: nothing to fit")

    def negative_ll(log_params: np.ndarray) -> float:
        params = np.exp(log_params)
        if not np.all(np.isfinite(params)):
            return np.inf
        value = -np.sum(w * gamma_gamma_log_likelihood(tuple(params), x, m))
        return float(value) if np.isfinite(value) else np.inf

    start = np.log([1.0, 2.0, float(np.mean(m))])
    result = _minimise(negative_ll, start)
    if result is None:
        raise ClvFitError("Gamma-Gamma fit failed: the likelihood is not finite anywhere tried")
    p, q, gamma = (float(v) for v in np.exp(result.x))
    _check_parameters("Gamma-Gamma", {"p": p, "q": q, "gamma": gamma})
    if q <= 1:
        raise ClvFitError(f"Gamma-Gamma q = {q:.3g} <= 1: the mean spend is undefined")
    return GammaGammaParams(p, q, gamma, float(-result.fun), len(x), bool(result.success))


def conditional_expected_spend(
    params: GammaGammaParams, frequency: object, monetary_value: object
) -> np.ndarray:
    """E[value of a purchase | x, m_x] = p (gamma + x m_x) / (p x + q - 1); the population
    mean p gamma / (q - 1) for customers without repeat purchases."""
    x, m = _arrays(frequency, monetary_value)
    p, q, gamma = params.p, params.q, params.gamma
    m = np.where(x > 0, m, 0.0)
    return p * (gamma + x * m) / (p * x + q - 1)
