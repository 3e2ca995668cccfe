"""The whole pipeline on a small demo: load, dbt build (models + tests), identity resolution
invariants, and stable customer ids when new records merge two existing customers."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from conftest import DEMO_CUSTOMERS

from ciw import cli

ROOT = Path(__file__).absolute().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.serverpath]


@pytest.fixture
def built(demo_warehouse):
    """A demo warehouse of its own, as `ciw run --customers 250` leaves it (for tests that change
    it or read its files)."""
    return demo_warehouse.warehouse, demo_warehouse.home


@pytest.fixture(scope="module")
def shared(demo_warehouse_readonly):
    """One demo warehouse for the tests that only read it (and its demo files)."""
    return demo_warehouse_readonly.warehouse, demo_warehouse_readonly.home


def _identity(warehouse) -> dict[tuple[str, str, str], int]:
    rows = warehouse.query(
        "select source_system, source_table, source_record_id, customer_id from marts.identity_map"
    )
    return {(s, t, r): c for s, t, r, c in rows}


def test_build_produces_consistent_identity_map_and_golden_records(shared):
    warehouse, _ = shared
    identity = _identity(warehouse)
    records = warehouse.query("select count(*) from matched.int_identity_records_unioned")[0][0]
    assert len(identity) == records > 0
    customers = warehouse.query(
        "select count(*), count(distinct customer_id) from marts.dim_customers"
    )
    assert customers[0][0] == customers[0][1] == len(set(identity.values()))
    rules = {
        r for (r,) in warehouse.query("select distinct matched_by_rule from marts.identity_map")
    }
    assert {"same_account", "same_email", "singleton"} <= rules
    # junk identifiers never link anybody
    junk = warehouse.query(
        "select count(*) from matched.int_identity_links_deterministic "
        "where evidence in ('email=test@test.com', 'phone=+440000000000', 'email=n/a')"
    )
    assert junk == [(0,)]


def test_staged_load_times_are_read_by_the_loaders_index(shared):
    """The loader indexes every raw table on the load-time expression of the staging models:
    an incremental model's `loaded_at > <watermark>` on a staging view reads new loads by index
    (the index must match the dbt macro dlt_loaded_at exactly, or the planner cannot use it)."""
    warehouse, _ = shared
    views = warehouse.query(
        "select table_name from information_schema.columns "
        "where table_schema = 'staging' and column_name = 'loaded_at' "
        "and table_name in (select table_name from information_schema.views "
        "where table_schema = 'staging') and table_name not like 'stg_clv%%' "
        "and table_name not like 'stg_reverse_etl%%'"
    )
    assert len(views) >= 10
    with warehouse.cursor() as cur:
        cur.execute("set enable_seqscan = off")
        for (view,) in views:
            cur.execute(
                f"explain select * from staging.{view} where loaded_at > now() - interval '1 day'"
            )
            plan = "\n".join(row[0] for row in cur.fetchall())
            assert "__dlt_loaded_at" in plan, (view, plan)


def test_match_quality_against_ground_truth(shared):
    import sys

    sys.path.insert(0, str(Path(__file__).absolute().parent.parent / "bench"))
    from match_quality import derived_truth, evidence_ceiling, score, truth_by_record

    warehouse, home = shared
    truth_dir = Path(home) / "demo" / "truth"
    truth = truth_by_record(truth_dir)
    derived_truth(warehouse, truth)
    records = warehouse.query(
        "select source_system, source_table, source_record_id, customer_id from marts.identity_map"
    )
    result = score(records, truth, truth_dir / "persons.csv")
    result.update(evidence_ceiling(warehouse, records, truth))
    assert result["records_scored"] == len(records)
    assert result["pairwise_precision"] >= 0.998, result
    assert result["pairwise_recall"] >= 0.85, result
    # of the pairs the data holds evidence for, nearly all are found
    assert result["recall_of_reachable"] >= 0.97, result
    assert result["pairwise_recall"] <= result["evidence_ceiling_recall"] <= 1.0, result
    assert result["household_only_merges"] == 0, result


def _add_account(db: sqlite3.Connection, account_id: int, email: str, phone: str) -> None:
    db.execute(
        "insert into accounts (account_id, email, first_name, last_name, phone, created_at, "
        "updated_at) values (?, ?, 'Testy', 'Mergeson', ?, '2030-01-01 00:00:00', "
        "'2030-01-01 00:00:00')",
        (account_id, email, phone),
    )


def test_new_record_merges_two_customers_older_id_survives(built):
    warehouse, home = built
    shop_db = sqlite3.connect(Path(home) / "demo" / "shop.sqlite")
    _add_account(shop_db, 900001, "testy.one@example.org", "07700 900001")
    _add_account(shop_db, 900002, "testy.two@example.org", "07700 900002")
    shop_db.commit()
    assert cli.main(["run", "--customers", DEMO_CUSTOMERS, "--quiet"]) == 0
    before = _identity(warehouse)
    first = before[("shop", "accounts", "900001")]
    second = before[("shop", "accounts", "900002")]
    assert first != second

    # a guest checkout carrying the first account's email and the second one's phone
    shop_db.execute(
        "insert into guest_checkouts (guest_checkout_id, email, first_name, last_name, phone, "
        "created_at, updated_at) values (900003, 'TESTY.ONE@example.org', 'testy', 'mergeson', "
        "'+44 7700 900002', '2030-01-02 00:00:00', '2030-01-02 00:00:00')"
    )
    shop_db.commit()
    assert cli.main(["run", "--customers", DEMO_CUSTOMERS, "--quiet"]) == 0
    after = _identity(warehouse)
    survivor = min(first, second)
    for key in (
        ("shop", "accounts", "900001"),
        ("shop", "accounts", "900002"),
        ("shop", "guest_checkouts", "900003"),
    ):
        assert after[key] == survivor
    unrelated = {k: v for k, v in before.items() if v not in (first, second)}
    assert all(after[k] == v for k, v in unrelated.items()), "unrelated customers changed id"
    changes = warehouse.query(
        "select customer_id, previous_customer_id, change_type, match_rules, evidence "
        "from matched.int_customer_id_changes"
    )
    assert len(changes) == 1
    customer_id, previous, change_type, rules, evidence = changes[0]
    assert (customer_id, previous, change_type) == (survivor, max(first, second), "merge")
    assert "same_" in rules and ("900002" in evidence or "testy" in evidence)
    retired = warehouse.query(
        "select count(*) from marts.dim_customers where customer_id = %s", (max(first, second),)
    )
    assert retired == [(0,)]


def test_sources_files_declare_every_loaded_column_with_its_type(shared):
    """The empty stand-in of a source that is not loaded (macro create_absent_source_tables)
    is made from the sources files: they must declare every column the loaders write, with
    the type they write it as."""
    import yaml

    warehouse, _ = shared
    loaded: dict[tuple[str, str], dict[str, str]] = {}
    for schema, table, column, data_type in warehouse.query(
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        "where table_schema in ('shop', 'pos', 'web', 'helpdesk', 'esp') "
        "and table_name not like '\\_%%'"
    ):
        loaded.setdefault((schema, table), {})[column] = {"character varying": "text"}.get(
            data_type, data_type
        )
    declared: dict[tuple[str, str], dict[str, str]] = {}
    for path in (ROOT / "models" / "staging").glob("*/_*__sources.yml"):
        for source in yaml.safe_load(path.read_text())["sources"]:
            for table in source["tables"]:
                declared[(source["name"], table["name"])] = {
                    c["name"]: c.get("data_type") for c in table.get("columns", [])
                }
    assert len(loaded) >= 14
    for key, columns in loaded.items():
        assert declared.get(key) == columns, key


def test_a_source_without_new_rows_for_days_is_reported_stale(built, monkeypatch):
    """`ciw run` checks the freshness of the sources it loaded (declared in their sources
    files, on the load time of their rows): the freshest table of each counts."""
    from ciw.config import Paths
    from ciw.dbt import DbtSession, source_freshness

    warehouse, home = built
    warehouse.query(
        "update helpdesk.tickets set _dlt_load_id = (extract(epoch from now()) - 3 * 86400)::text"
    )
    session = DbtSession(warehouse, Paths(project=ROOT, home=home), verbose=False, progress=False)
    verdicts = {v.source: v for v in source_freshness(session, ["shop", "helpdesk"])}
    assert verdicts["helpdesk"].status == "error"
    assert verdicts["helpdesk"].describe() == "helpdesk: newest rows loaded 3 days ago (error)"
    assert verdicts["shop"].status == "pass"


def test_run_as_of_a_past_day_with_vars_reaches_dbt_and_the_python_steps(built, capsys):
    """One set of vars for the whole run (`ciw run --as-of`, `--vars`): the marts are computed
    as of the given day and the lifetime-value fit uses the same horizon as dbt."""
    warehouse, _ = built
    assert (
        cli.main(
            [
                "run",
                "--customers",
                DEMO_CUSTOMERS,
                "--as-of",
                "2026-09-15",
                "--vars",
                "{clv_horizon_months: 24, clv_refit_days: 0}",
                "--quiet",
                "--skip-sync",
            ]
        )
        == 0
    ), capsys.readouterr().out[-3000:]
    assert warehouse.query("select distinct as_of_date from marts.customer_rfm_summary") == [
        (dt.date(2026, 9, 15),)
    ]
    fit = warehouse.query(
        "select as_of_date, horizon_weeks from clv.model_fits order by fitted_at desc limit 1"
    )[0]
    assert fit[0] == dt.date(2026, 9, 15) and round(fit[1]) == 104  # 24 months, not 12
    # a bad value is a clear usage error (exit 2), before anything runs
    assert cli.main(["run", "--vars", "[1, 2]"]) == 2
    assert cli.main(["run", "--as-of", "yesterday"]) == 2
    assert "--as-of must be a date" in capsys.readouterr().err
