"""The lifetime-value step of the pipeline, run between two dbt builds.

1. read ``marts.customer_rfm_summary`` (built by the first dbt build),
2. fit BG/NBD (purchase frequency and dropout) and Gamma-Gamma (spend) by maximum likelihood,
3. score every buying customer,
4. write ``clv.model_fits`` (one row per fit) and replace ``clv.customer_predictions``,

then the second dbt build turns the predictions into ``customer_lifetime_value`` and the marts
that read it. Degenerate input (too few customers or repeat buyers, no convergence) raises
:class:`~ciw.clv.models.ClvFitError`: the step never writes silently bad parameters.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ciw.clv.models import (
    ClvFitError,
    conditional_expected_spend,
    discounted_expected_purchases,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
)
from ciw.warehouse import Warehouse

RFM_MODEL = "customer_rfm_summary"
WEEKS_PER_YEAR = 52.0


@dataclass(frozen=True)
class ClvSettings:
    """From dbt_project.yml ``vars`` (so dbt and this step agree)."""

    horizon_months: int = 12
    annual_discount_rate: float = 0.10
    min_customers: int = 100
    min_repeat_customers: int = 30

    @classmethod
    def from_project(cls, project: Path) -> ClvSettings:
        data = yaml.safe_load((project / "dbt_project.yml").read_text()) or {}
        found = data.get("vars") or {}
        return cls(
            horizon_months=int(found.get("clv_horizon_months", cls.horizon_months)),
            annual_discount_rate=float(
                found.get("clv_annual_discount_rate", cls.annual_discount_rate)
            ),
            min_customers=int(found.get("clv_min_customers", cls.min_customers)),
            min_repeat_customers=int(
                found.get("clv_min_repeat_customers", cls.min_repeat_customers)
            ),
        )

    @property
    def horizon_weeks(self) -> float:
        return self.horizon_months * WEEKS_PER_YEAR / 12.0


@dataclass
class RfmData:
    customer_id: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    age: np.ndarray
    monetary: np.ndarray
    as_of_date: dt.date | None


@dataclass
class ClvStepResult:
    fit_id: str
    customers: int
    fitted_customers: int
    repeat_customers: int
    bgnbd: dict[str, float]
    gamma_gamma: dict[str, float]
    read_seconds: float
    fit_seconds: float
    write_seconds: float


def rfm_relation(project: Path) -> str:
    """The relation of customer_rfm_summary (from dbt's manifest when there is one)."""
    from ciw.dbt import model_relation

    return model_relation(project, RFM_MODEL)


def read_rfm(warehouse: Warehouse, relation: str) -> RfmData:
    """The RFM summary through COPY (fast enough for millions of customers)."""
    buffer = io.StringIO()
    with warehouse.cursor() as cur:
        cur.execute("select to_regclass(%s)", (relation,))
        if cur.fetchone()[0] is None:
            raise ClvFitError(
                f"{relation} does not exist: build the models first (dbt build), then fit"
            )
        cur.copy_expert(
            f"copy (select customer_id, frequency, recency_weeks, age_weeks, "
            f"coalesce(monetary_value, 0), as_of_date from {relation} "
            f"order by customer_id) to stdout with (format csv)",
            buffer,
        )
    buffer.seek(0)
    rows = list(csv.reader(buffer))
    if not rows:
        raise ClvFitError(f"{relation} is empty: no buying customers to fit on")
    columns = list(zip(*rows, strict=True))
    return RfmData(
        customer_id=np.asarray(columns[0], dtype=np.int64),
        frequency=np.asarray(columns[1], dtype=float),
        recency=np.asarray(columns[2], dtype=float),
        age=np.asarray(columns[3], dtype=float),
        monetary=np.asarray(columns[4], dtype=float),
        as_of_date=dt.date.fromisoformat(columns[5][0]) if columns[5][0] else None,
    )


def fit_and_score(data: RfmData, settings: ClvSettings) -> tuple[dict, dict, dict]:
    """Fit both models and score every customer; returns (bgnbd, gamma_gamma, scores)."""
    fitted = data.age > 0  # a customer who first bought today carries no information yet
    if int(fitted.sum()) < settings.min_customers:
        raise ClvFitError(
            f"only {int(fitted.sum())} customers with history to fit the purchase model on "
            f"(var clv_min_customers = {settings.min_customers})"
        )
    # identical (x, t_x, T) histories are fitted once, weighted by how many customers share them
    triples, counts = np.unique(
        np.stack([data.frequency[fitted], data.recency[fitted], data.age[fitted]]),
        axis=1,
        return_counts=True,
    )
    bgnbd = fit_bgnbd(
        triples[0], triples[1], triples[2], weights=counts, min_customers=settings.min_customers
    )
    repeat = (data.frequency > 0) & (data.monetary > 0)
    if int(repeat.sum()) < settings.min_repeat_customers:
        raise ClvFitError(
            f"only {int(repeat.sum())} repeat customers to fit the spend model on "
            f"(var clv_min_repeat_customers = {settings.min_repeat_customers})"
        )
    spend = fit_gamma_gamma(
        data.frequency[repeat],
        data.monetary[repeat],
        min_repeat_customers=settings.min_repeat_customers,
    )
    scores = {
        "probability_alive": probability_alive(bgnbd, data.frequency, data.recency, data.age),
        "expected_purchases": expected_purchases(
            bgnbd, settings.horizon_weeks, data.frequency, data.recency, data.age
        ),
        "discounted_expected_purchases": discounted_expected_purchases(
            bgnbd,
            data.frequency,
            data.recency,
            data.age,
            horizon_periods=int(round(settings.horizon_weeks)),
            periods_per_year=WEEKS_PER_YEAR,
            annual_discount_rate=settings.annual_discount_rate,
        ),
        "expected_purchase_value": conditional_expected_spend(
            spend, data.frequency, np.where(data.monetary > 0, data.monetary, 0.0)
        ),
    }
    for name, values in scores.items():
        if not np.all(np.isfinite(values)):
            bad = int((~np.isfinite(values)).sum())
            raise ClvFitError(f"{bad} customers got a non-finite {name}: refusing to write")
    return _params(bgnbd), _params(spend), scores


def _params(params: object) -> dict[str, float]:
    return {
        key: float(value)
        for key, value in vars(params).items()
        if isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    }


def write_predictions(
    warehouse: Warehouse,
    fit_id: str,
    data: RfmData,
    settings: ClvSettings,
    bgnbd: dict[str, float],
    spend: dict[str, float],
    scores: dict[str, np.ndarray],
    fit_seconds: float,
) -> None:
    """Replace the predictions and log the fit, in one transaction."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = (
        data.customer_id,
        scores["probability_alive"],
        scores["expected_purchases"],
        scores["discounted_expected_purchases"],
        scores["expected_purchase_value"],
    )
    for customer_id, alive, purchases, discounted, value in zip(*columns, strict=True):
        writer.writerow(
            (
                int(customer_id),
                fit_id,
                f"{alive:.8g}",
                f"{purchases:.8g}",
                f"{discounted:.8g}",
                f"{value:.8g}",
            )
        )
    buffer.seek(0)
    with warehouse.cursor() as cur:
        for table in ("clv.model_fits", "clv.customer_predictions"):
            cur.execute("select to_regclass(%s)", (table,))
            if cur.fetchone()[0] is None:
                raise ClvFitError(f"{table} does not exist: run dbt once (on-run-start creates it)")
        cur.execute(
            "insert into clv.model_fits (fit_id, as_of_date, customer_count, "
            "repeat_customer_count, horizon_weeks, annual_discount_rate, bgnbd_r, bgnbd_alpha, "
            "bgnbd_a, bgnbd_b, bgnbd_log_likelihood, gamma_gamma_p, gamma_gamma_q, "
            "gamma_gamma_gamma, gamma_gamma_log_likelihood, fit_seconds) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                fit_id,
                data.as_of_date or dt.date.today(),
                int(bgnbd.get("n_customers", 0)),
                int(spend.get("n_customers", 0)),
                settings.horizon_weeks,
                settings.annual_discount_rate,
                bgnbd["r"],
                bgnbd["alpha"],
                bgnbd["a"],
                bgnbd["b"],
                bgnbd["log_likelihood"],
                spend["p"],
                spend["q"],
                spend["gamma"],
                spend["log_likelihood"],
                fit_seconds,
            ),
        )
        cur.execute("truncate clv.customer_predictions")
        cur.copy_expert(
            "copy clv.customer_predictions (customer_id, fit_id, probability_alive, "
            "expected_purchases, discounted_expected_purchases, expected_purchase_value) "
            "from stdin with (format csv)",
            buffer,
        )


def run_clv_step(warehouse: Warehouse, project: Path) -> ClvStepResult:
    """Read, fit, score and write; raises ClvFitError on degenerate input."""
    settings = ClvSettings.from_project(project)
    started = time.monotonic()
    data = read_rfm(warehouse, rfm_relation(project))
    read_done = time.monotonic()
    bgnbd, spend, scores = fit_and_score(data, settings)
    fit_done = time.monotonic()
    fit_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    write_predictions(warehouse, fit_id, data, settings, bgnbd, spend, scores, fit_done - read_done)
    return ClvStepResult(
        fit_id=fit_id,
        customers=len(data.customer_id),
        fitted_customers=int(bgnbd.get("n_customers", 0)),
        repeat_customers=int(spend.get("n_customers", 0)),
        bgnbd={k: bgnbd[k] for k in ("r", "alpha", "a", "b")},
        gamma_gamma={k: spend[k] for k in ("p", "q", "gamma")},
        read_seconds=read_done - started,
        fit_seconds=fit_done - read_done,
        write_seconds=time.monotonic() - fit_done,
    )
