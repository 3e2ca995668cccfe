"""dbt's unit tests (the `unit_tests:` of models/**/*.yml: normalisation, matching rules, stable
ids, first purchases, cost allocation, segments). `ciw run` leaves them out of its builds, as dbt
recommends for production (their inputs are fixed rows); here every one of them runs, on a demo
warehouse (dbt reads the columns of each model a unit test gives rows for)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ciw.config import Paths
from ciw.dbt import run_dbt

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).absolute().parent.parent


def _declared_unit_tests() -> set[str]:
    names = set()
    for path in (ROOT / "models").rglob("*.yml"):
        for test in (yaml.safe_load(path.read_text()) or {}).get("unit_tests", []) or []:
            names.add(test["name"])
    return names


def test_every_dbt_unit_test_passes(demo_warehouse):
    declared = _declared_unit_tests()
    assert len(declared) >= 30
    paths = Paths(project=ROOT, home=demo_warehouse.home)
    result = run_dbt(
        ["test", "--select", "test_type:unit"], demo_warehouse.warehouse, paths, capture=True
    )
    assert result.ok, result.failures
    assert result.counts["unit_test:pass"] == len(declared), result.counts


def test_ciw_run_builds_without_the_unit_tests(demo_warehouse):
    """Both of the demo build's dbt builds (`ciw run`: before and after the lifetime-value fit)
    ran models and data tests, and no unit test: dbt's log of the build names every node it
    ran (the demo build's log folder is beside its target folder, conftest.demo_build)."""
    log = (demo_warehouse.target.parent / "logs" / "dbt.log").read_text()
    assert "model.customer_intelligence.identity_map" in log
    assert "test.customer_intelligence." in log
    assert "unit_test.customer_intelligence." not in log
