"""Customer lifetime value: BG/NBD + Gamma-Gamma fitted by maximum likelihood."""

from ciw.clv.models import (
    BgNbdParams,
    ClvFitError,
    GammaGammaParams,
    conditional_expected_spend,
    discounted_expected_purchases,
    expected_purchases,
    expected_purchases_unconditional,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
)

__all__ = [
    "BgNbdParams",
    "ClvFitError",
    "GammaGammaParams",
    "conditional_expected_spend",
    "discounted_expected_purchases",
    "expected_purchases",
    "expected_purchases_unconditional",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "probability_alive",
]
