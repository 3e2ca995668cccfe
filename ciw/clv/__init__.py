"""Customer lifetime value: BG/NBD (purchases and dropout) and Gamma-Gamma (spend) fitted by
maximum likelihood, plus the CDNOW sample they are checked against."""

from ciw.clv.cdnow import CdnowDownloadError, CdnowIntegrityError, cdnow_rfm, load_cdnow_sample
from ciw.clv.models import (
    BgNbdParams,
    ClvFitError,
    GammaGammaParams,
    bgnbd_log_likelihood,
    conditional_expected_spend,
    discounted_expected_purchases,
    expected_purchases,
    expected_purchases_unconditional,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
    probability_alive,
)

__all__ = [
    "BgNbdParams",
    "CdnowDownloadError",
    "CdnowIntegrityError",
    "ClvFitError",
    "GammaGammaParams",
    "bgnbd_log_likelihood",
    "cdnow_rfm",
    "conditional_expected_spend",
    "discounted_expected_purchases",
    "expected_purchases",
    "expected_purchases_unconditional",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "gamma_gamma_log_likelihood",
    "load_cdnow_sample",
    "probability_alive",
]
