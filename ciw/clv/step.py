"""The lifetime-value step of the pipeline, run between two dbt builds.

1. read ``marts.customer_rfm_summary`` (built by the first dbt build),
2. fit BG/NBD (purchase frequency and dropout) and Gamma-Gamma (spend) by maximum likelihood —
   or, when the latest fit is recent (var ``clv_refit_days``, as-of dates apart), re-use its
   parameters: they describe the whole customer base and barely move in a few days, while
   every customer's own history (and so their score) is re-read on every run,
3. score every buying customer,
4. write ``clv.model_fits`` (one row per fit) and replace ``clv.customer_predictions``,

then the second dbt build turns the predictions into ``customer_lifetime_value`` and the marts
that read it. Degenerate input (too few customers or repeat buyers, no convergence) raises
:class:`~ciw.clv.models.ClvFitError`: the step never writes silently bad parameters.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ciw.clv.models import (
    BgNbdParams,
    ClvFitError,
    GammaGammaParams,
    conditional_expected_spend,
    discounted_expected_purchases,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
)
from ciw.config import project_vars
from ciw.warehouse import Warehouse, relation_exists

RFM_MODEL = "customer_rfm_summary"
WEEKS_PER_YEAR = 52.0
# threads for the discounted sum (at most one per core), each given at least this many
# distinct histories (fewer are not worth a thread)
SCORING_THREADS = 4
MIN_HISTORIES_PER_THREAD = 10_000


@dataclass(frozen=True)
class ClvSettings:
    """From dbt_project.yml ``vars`` and this run's overrides (so dbt and this step agree)."""

    horizon_months: int = 12
    annual_discount_rate: float = 0.10
    min_customers: int = 100
    min_repeat_customers: int = 30
    refit_days: int = 7

    @classmethod
    def from_project(cls, project: Path, overrides: Mapping[str, Any] | None = None) -> ClvSettings:
        found = project_vars(project, overrides)
        return cls(
            horizon_months=int(found.get("clv_horizon_months", cls.horizon_months)),
            annual_discount_rate=float(
                found.get("clv_annual_discount_rate", cls.annual_discount_rate)
            ),
            min_customers=int(found.get("clv_min_customers", cls.min_customers)),
            min_repeat_customers=int(
                found.get("clv_min_repeat_customers", cls.min_repeat_customers)
            ),
            refit_days=int(found.get("clv_refit_days", cls.refit_days)),
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
    refitted: bool = True


def rfm_relation(project: Path) -> str:
    """The relation of customer_rfm_summary (from dbt's manifest when there is one)."""
    from ciw.dbt import model_relation

    return model_relation(project, RFM_MODEL)


def read_rfm(warehouse: Warehouse, relation: str) -> RfmData:
    """The RFM summary through COPY (fast enough for millions of customers)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    buffer = io.BytesIO()
    with warehouse.cursor() as cur:
        if not relation_exists(cur, relation):
            raise ClvFitError(
                f"{relation} does not exist: build the models first (dbt build), then fit"
            )
        cur.copy_expert(
            f"copy (select customer_id, frequency, recency_weeks, age_weeks, "
            f"coalesce(monetary_value, 0), as_of_date from {relation} "
            f"order by customer_id) to stdout with (format csv)",
            buffer,
        )
    if not buffer.getbuffer().nbytes:
        raise ClvFitError(f"{relation} is empty: no buying customers to fit on")
    names = ["customer_id", "frequency", "recency", "age", "monetary", "as_of_date"]
    table = pacsv.read_csv(
        io.BytesIO(buffer.getvalue()),
        read_options=pacsv.ReadOptions(column_names=names),
        convert_options=pacsv.ConvertOptions(
            column_types={
                "customer_id": pa.int64(),
                "frequency": pa.float64(),
                "recency": pa.float64(),
                "age": pa.float64(),
                "monetary": pa.float64(),
                "as_of_date": pa.string(),
            }
        ),
    )
    as_of = table.column("as_of_date")[0].as_py()
    return RfmData(
        customer_id=table.column("customer_id").to_numpy(),
        frequency=table.column("frequency").to_numpy(),
        recency=table.column("recency").to_numpy(),
        age=table.column("age").to_numpy(),
        monetary=table.column("monetary").to_numpy(),
        as_of_date=dt.date.fromisoformat(as_of) if as_of else None,
    )


def unique_histories(
    *columns: np.ndarray,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """The distinct rows of equally long columns (e.g. x, t_x, T): (the distinct rows as one
    array per column, sorted; for every input row the index of its distinct row; how many
    input rows each distinct row has). The same as np.unique(np.stack(columns), axis=1,
    return_inverse=True, return_counts=True), by one lexsort instead of a sort of row
    records (seven times faster on a million customers)."""
    n = len(columns[0])
    order = np.lexsort(columns[::-1])  # np.lexsort's primary key is its last
    ordered = [np.asarray(column)[order] for column in columns]
    starts_group = np.zeros(n, dtype=bool)
    if n:
        starts_group[0] = True
        for column in ordered:
            starts_group[1:] |= column[1:] != column[:-1]
    group = np.cumsum(starts_group) - 1
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = group
    starts = np.flatnonzero(starts_group)
    counts = np.diff(np.append(starts, n))
    return [column[starts] for column in ordered], inverse, counts


def fit_models(data: RfmData, settings: ClvSettings) -> tuple[BgNbdParams, GammaGammaParams]:
    """Fit BG/NBD on every customer with history and Gamma-Gamma on the repeat buyers."""
    fitted = data.age > 0  # a customer who first bought today carries no information yet
    if int(fitted.sum()) < settings.min_customers:
        raise ClvFitError(
            f"only {int(fitted.sum())} customers with history to fit the purchase model on "
            f"(var clv_min_customers = {settings.min_customers})"
        )
    # identical (x, t_x, T) histories are fitted once, weighted by how many customers share them
    triples, _, counts = unique_histories(
        data.frequency[fitted], data.recency[fitted], data.age[fitted]
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
    return bgnbd, spend


def score_customers(
    data: RfmData, settings: ClvSettings, bgnbd: BgNbdParams, spend: GammaGammaParams
) -> dict[str, np.ndarray]:
    """Every customer's predictions under the given parameters; refuses non-finite scores.
    The purchase-model scores depend on (x, t_x, T) only: each distinct history is scored once
    (the discounted sum costs one hypergeometric evaluation per week of the horizon, so it
    runs in a thread per core: scipy's ufuncs release the GIL)."""
    (x, t_x, age), inverse, _ = unique_histories(data.frequency, data.recency, data.age)

    def discounted(part: slice) -> np.ndarray:
        return discounted_expected_purchases(
            bgnbd,
            x[part],
            t_x[part],
            age[part],
            horizon_periods=int(round(settings.horizon_weeks)),
            periods_per_year=WEEKS_PER_YEAR,
            annual_discount_rate=settings.annual_discount_rate,
        )

    workers = max(1, min(SCORING_THREADS, os.cpu_count() or 1, len(x) // MIN_HISTORIES_PER_THREAD))
    bounds = np.linspace(0, len(x), workers + 1).astype(int)
    parts = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        discounted_parts = list(pool.map(discounted, parts))
    scores = {
        "probability_alive": probability_alive(bgnbd, x, t_x, age)[inverse],
        "expected_purchases": expected_purchases(bgnbd, settings.horizon_weeks, x, t_x, age)[
            inverse
        ],
        "discounted_expected_purchases": np.concatenate(discounted_parts)[inverse],
        "expected_purchase_value": conditional_expected_spend(
            spend, data.frequency, np.where(data.monetary > 0, data.monetary, 0.0)
        ),
    }
    for name, values in scores.items():
        if not np.all(np.isfinite(values)):
            bad = int((~np.isfinite(values)).sum())
            raise ClvFitError(f"{bad} customers got a non-finite {name}: refusing to write")
    return scores


def fit_and_score(data: RfmData, settings: ClvSettings) -> tuple[dict, dict, dict]:
    """Fit both models and score every customer; returns (bgnbd, gamma_gamma, scores)."""
    bgnbd, spend = fit_models(data, settings)
    return _params(bgnbd), _params(spend), score_customers(data, settings, bgnbd, spend)


@dataclass(frozen=True)
class StoredFit:
    fit_id: str
    as_of_date: dt.date
    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams


def latest_fit(warehouse: Warehouse) -> StoredFit | None:
    """The most recent fit in clv.model_fits (None before the first)."""
    with warehouse.cursor() as cur:
        if not relation_exists(cur, "clv.model_fits"):
            return None
        cur.execute(
            "select fit_id, as_of_date, bgnbd_r, bgnbd_alpha, bgnbd_a, bgnbd_b, "
            "bgnbd_log_likelihood, customer_count, gamma_gamma_p, gamma_gamma_q, "
            "gamma_gamma_gamma, gamma_gamma_log_likelihood, repeat_customer_count "
            "from clv.model_fits order by fitted_at desc, fit_id desc limit 1"
        )
        row = cur.fetchone()
    if row is None:
        return None
    return StoredFit(
        fit_id=row[0],
        as_of_date=row[1],
        bgnbd=BgNbdParams(*map(float, row[2:7]), n_customers=int(row[7])),
        gamma_gamma=GammaGammaParams(*map(float, row[8:12]), n_customers=int(row[12])),
    )


def needs_refit(stored: StoredFit | None, as_of: dt.date, settings: ClvSettings) -> bool:
    """Refit without a fit, when the fit's as-of date is refit_days or more before this one, or
    when this as-of date lies before the fit's (a replay of the past must not use the future)."""
    if stored is None or settings.refit_days <= 0:
        return True
    age_days = (as_of - stored.as_of_date).days
    return age_days < 0 or age_days >= settings.refit_days


def _params(params: object) -> dict[str, float]:
    return {
        key: float(value)
        for key, value in vars(params).items()
        if isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    }


# The numeric types of clv.customer_predictions (macro create_clv_tables), which are those of
# stg_clv__customer_predictions: written as decimals, so that nothing is cast when the lifetime
# value mart reads a million of them (a float -> numeric cast of four columns took 2 s there).
PREDICTION_COLUMNS = {
    "probability_alive": (8, 6),
    "expected_purchases": (12, 4),
    "discounted_expected_purchases": (12, 4),
    "expected_purchase_value": (14, 2),
}


def _as_decimal(name: str, values: np.ndarray, precision: int, scale: int):
    """Scores rounded half away from zero to `scale` decimals, as PostgreSQL rounds to
    numeric(precision, scale); a value too large for the column is refused, never wrapped."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rounded = pc.round(pa.array(values, pa.float64()), scale, "half_towards_infinity")
    try:
        return pc.cast(rounded, pa.decimal128(precision, scale))
    except pa.ArrowInvalid as exc:
        raise ClvFitError(
            f"{name} does not fit numeric({precision}, {scale}) (largest "
            f"{float(np.max(np.abs(values))):.6g}): refusing to write"
        ) from exc


def write_predictions(
    warehouse: Warehouse,
    fit_id: str,
    data: RfmData,
    settings: ClvSettings,
    bgnbd: dict[str, float],
    spend: dict[str, float],
    scores: dict[str, np.ndarray],
    fit_seconds: float,
    log_fit: bool = True,
) -> None:
    """Replace the predictions and log the fit (unless it is a stored one), in one transaction."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.table(
        {
            "customer_id": pa.array(data.customer_id, pa.int64()),
            "fit_id": pa.array([fit_id] * len(data.customer_id), pa.string()),
            **{
                name: _as_decimal(name, scores[name], precision, scale)
                for name, (precision, scale) in PREDICTION_COLUMNS.items()
            },
        }
    )
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False))
    buffer = io.BytesIO(sink.getvalue().to_pybytes())
    with warehouse.cursor() as cur:
        for table in ("clv.model_fits", "clv.customer_predictions"):
            if not relation_exists(cur, table):
                raise ClvFitError(f"{table} does not exist: run dbt once (on-run-start creates it)")
        if log_fit:
            _log_fit(cur, fit_id, data, settings, bgnbd, spend, fit_seconds)
        cur.execute("truncate clv.customer_predictions")
        cur.copy_expert(
            "copy clv.customer_predictions (customer_id, fit_id, probability_alive, "
            "expected_purchases, discounted_expected_purchases, expected_purchase_value) "
            # freeze: the table was truncated in this transaction, so the rows can be written
            # frozen, and the first read (customer_lifetime_value) does not rewrite every page
            # to set hint bits
            "from stdin with (format csv, freeze true)",
            buffer,
        )


def _log_fit(cur, fit_id, data, settings, bgnbd, spend, fit_seconds) -> None:
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


def run_clv_step(
    warehouse: Warehouse,
    project: Path,
    refit: bool | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ClvStepResult:
    """Read, fit (or re-use a recent fit), score and write; raises ClvFitError on degenerate
    input. ``refit``: True forces a fit, False re-uses the latest fit whatever its age, None
    (default) refits when the latest fit is var clv_refit_days or more old (see needs_refit).
    ``overrides``: this run's dbt vars (`ciw run --vars`), over dbt_project.yml's."""
    settings = ClvSettings.from_project(project, overrides)
    started = time.monotonic()
    data = read_rfm(warehouse, rfm_relation(project))
    read_done = time.monotonic()
    as_of = data.as_of_date or dt.date.today()
    stored = latest_fit(warehouse)
    if refit is None:
        refit = needs_refit(stored, as_of, settings)
    if not refit and stored is None:
        raise ClvFitError("no stored fit to re-use: fit first (ciw clv --refit)")
    if refit:
        bgnbd_fit, spend_fit = fit_models(data, settings)
        fit_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    else:
        bgnbd_fit, spend_fit, fit_id = stored.bgnbd, stored.gamma_gamma, stored.fit_id
    scores = score_customers(data, settings, bgnbd_fit, spend_fit)
    bgnbd, spend = _params(bgnbd_fit), _params(spend_fit)
    fit_done = time.monotonic()
    write_predictions(
        warehouse,
        fit_id,
        data,
        settings,
        bgnbd,
        spend,
        scores,
        fit_done - read_done,
        log_fit=refit,
    )
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
        refitted=refit,
    )
