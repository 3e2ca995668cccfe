"""The match-model step of the pipeline: bring the candidate pairs up to date, draw the random
pairs, fit (ciw.matching.fit), write the model, and weigh every pair again with it (when any
pair was weighed before: on a new warehouse the next build weighs them first with it).

`ciw run` calls it before its build and refits only when there is no model or the latest is
var ``match_refit_days`` old; ``ciw match --refit`` refits now."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from ciw.matching.fit import (
    MatchFitError,
    MatchModel,
    MatchSettings,
    fit_match_model,
    latest_fit,
    needs_refit,
    weighed_by,
    write_match_model,
)

log = logging.getLogger(__name__)

# the models the fit reads, and what it rebuilds after writing a model: every matched model
# downstream of the weighed links, except the stable customer ids and their audit trail (which
# follow the new clusters incrementally, keeping every id that survives)
CANDIDATES = "int_identity_pairs_compared"
WEIGHED = "int_identity_links_fuzzy"
SAMPLE = "int_identity_pairs_sampled"
REWEIGH = "int_identity_links_fuzzy+,path:models/matched"
LEVELS = "match_comparison_levels"
KEEP = ["int_customer_ids_assigned", "int_customer_id_changes"]


@dataclass
class MatchStepResult:
    refitted: bool
    model: MatchModel | None = None
    fitted_at: dt.datetime | None = None
    # the latest fit's re-weighing had not finished (a run killed after writing the model):
    # this run did it; after a refit: every pair was weighed again (False: none was weighed
    # yet, the next build weighs them)
    reweighed: bool = False


def _weighed_layer_exists(warehouse, project) -> bool:
    """Whether any model the re-weighing rebuilds exists: the weighed links and the matched
    models after them (the manifest's children), the kept ones aside. None does on a new
    warehouse, whose first build of them weighs every pair with the latest fit anyway."""
    from ciw.dbt import model_descendants, model_relation

    names = {WEIGHED, *model_descendants(project, WEIGHED, under="models/matched")} - set(KEEP)
    return any(warehouse.exists(model_relation(project, name, "matched")) for name in names)


def _reweigh(dbt) -> None:
    """Every pair weighed again with the latest model, and the matched models after the
    weighed links rebuilt (the customer ids follow incrementally)."""
    args = ["run", "--full-refresh", "--select", REWEIGH, "--exclude", *KEEP]
    result = dbt.run(args)
    if not result.ok:
        raise MatchFitError(f"dbt {' '.join(args)} failed: {'; '.join(result.failures)}")


def run_match_step(dbt, warehouse, project, refit: bool | None = None) -> MatchStepResult:
    """`dbt` is a ciw.dbt.DbtSession. refit None: only when needed (needs_refit). Without a
    refit, a latest fit whose links were never weighed again (the run that wrote it died
    before) is finished now: else the weighed links would follow the new model and the links,
    clusters and ids after them the old one."""
    from ciw.dbt import model_relation

    settings = MatchSettings.from_project(project, dbt.paths.vars)
    latest = latest_fit(warehouse)
    fitted_at = latest[1] if latest else None
    if refit is None:
        refit = needs_refit(fitted_at, dt.datetime.now(dt.UTC), settings)
    if not refit:
        weighed = weighed_by(warehouse, model_relation(project, WEIGHED, "matched"))
        if latest and weighed is not None and weighed != latest[0]:
            log.warning(
                "links weighed by %s, not the latest fit %s: weighing again", weighed, latest[0]
            )
            _reweigh(dbt)
            return MatchStepResult(refitted=False, fitted_at=fitted_at, reweighed=True)
        return MatchStepResult(refitted=False, fitted_at=fitted_at)
    # a new sample of random pairs: the invocation below builds it afresh (the model keeps
    # its sample on every other build)
    warehouse.query(f"drop table if exists {model_relation(project, SAMPLE, 'matched')}")
    # the seeds and models the weighed links and the models after them read, the random pairs
    # and the levels the fit reads: one invocation (dbt starts in seconds, the seeds load in one)
    args = [
        "build",
        "--resource-type",
        "seed",
        "model",
        "--select",
        "+path:models/matched",
        LEVELS,
        "--exclude",
        f"{WEIGHED}+",
    ]
    result = dbt.run(args)
    if not result.ok:
        raise MatchFitError(f"dbt {' '.join(args)} failed: {'; '.join(result.failures)}")
    relations = {
        "levels": model_relation(project, LEVELS, "reference"),
        "candidates": model_relation(project, CANDIDATES, "matched"),
        "sample": model_relation(project, SAMPLE, "matched"),
        "records": model_relation(project, "int_identity_records_unioned", "matched"),
    }
    model = fit_match_model(warehouse, relations)
    write_match_model(warehouse, model)
    log.info("match model %s written", model.model_id)
    if not _weighed_layer_exists(warehouse, project):
        log.info("no pair weighed yet: the next build weighs them with %s", model.model_id)
        return MatchStepResult(refitted=True, model=model, fitted_at=fitted_at)
    _reweigh(dbt)
    return MatchStepResult(refitted=True, model=model, fitted_at=fitted_at, reweighed=True)
