"""The intelligence marts on a small demo, end to end: lifetime-value fit between the two dbt
builds, first-purchase events corrected by late data and merges, contact costs recomputed
independently, active customers against a brute-force count, and KPI alerts that fire on an
injected bad day."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from conftest import DEMO_CUSTOMERS

from ciw import cli

pytestmark = [pytest.mark.slow, pytest.mark.serverpath]

ROOT = Path(__file__).absolute().parent.parent
CUSTOMERS = DEMO_CUSTOMERS  # the scale of the demo warehouse (conftest)


@pytest.fixture
def built(demo_warehouse):
    """A demo warehouse of its own (for tests that change it)."""
    return demo_warehouse.warehouse, demo_warehouse.home, demo_warehouse.target


@pytest.fixture(scope="module")
def shared(demo_warehouse_readonly):
    """One demo warehouse for the tests that only read it."""
    return demo_warehouse_readonly.warehouse


def _run_results(target: Path) -> dict[str, str]:
    data = json.loads((target / "run_results.json").read_text())
    return {r["unique_id"].split(".")[2]: r["status"] for r in data["results"]}


def test_lifetime_value_fitted_between_builds_and_every_buyer_scored(shared):
    warehouse = shared
    fits = warehouse.query(
        "select customer_count, repeat_customer_count, bgnbd_r, bgnbd_alpha, bgnbd_a, bgnbd_b, "
        "gamma_gamma_p, gamma_gamma_q, gamma_gamma_gamma from clv.model_fits"
    )
    assert len(fits) == 1
    customers, repeaters, *params = fits[0]
    assert customers >= 100 and 30 <= repeaters < customers
    assert all(p > 0 for p in params)
    buyers = warehouse.query("select count(*) from marts.customer_rfm_summary")[0][0]
    scored = warehouse.query(
        "select count(*), count(*) filter (where is_predicted), "
        "count(*) filter (where probability_alive between 0 and 1), "
        "count(*) filter (where expected_purchases >= 0 and expected_purchase_value > 0) "
        "from marts.customer_lifetime_value"
    )[0]
    assert scored == (buyers, buyers, buyers, buyers)
    # the customers who bought most recently and most often are more likely alive
    alive = warehouse.query(
        "select avg(probability_alive) filter (where frequency >= 2 and "
        "as_of_date - last_purchase_date < 90), avg(probability_alive) filter (where "
        "frequency >= 2 and as_of_date - last_purchase_date > 400) "
        "from marts.customer_lifetime_value join marts.customer_rfm_summary using (customer_id)"
    )[0]
    assert alive[0] > alive[1]


def test_every_buyer_has_one_first_purchase_and_no_average_costs(shared):
    warehouse = shared
    first = warehouse.query(
        "select count(*), count(distinct customer_id) from marts.first_purchase_events "
        "where event_type = 'first_purchase' and not is_retracted"
    )[0]
    buyers = warehouse.query(
        "select count(distinct customer_id) from marts.fct_orders "
        "where customer_id is not null and not is_cancelled"
    )[0][0]
    assert first == (buyers, buyers)
    # each first purchase is the customer's earliest order
    wrong = warehouse.query(
        "select count(*) from marts.first_purchase_events as e join (select customer_id, "
        "min(ordered_at) as first_at from marts.fct_orders where not is_cancelled "
        "group by customer_id) as o using (customer_id) where e.event_type = 'first_purchase' "
        "and e.purchased_at != o.first_at"
    )
    assert wrong == [(0,)]

    # contact costs recomputed here from the raw tickets and the seed file
    rates = {}
    for line in (ROOT / "seeds" / "contact_cost_rates.csv").read_text().splitlines()[1:]:
        channel, kind, per_contact, per_minute = line.split(",")
        rates[(channel, kind)] = (Decimal(per_contact), Decimal(per_minute))
    tickets = warehouse.query(
        "select ticket_id, lower(channel), lower(contact_type), handle_minutes "
        "from helpdesk.tickets"
    )
    costed = dict(warehouse.query("select ticket_id, contact_cost from marts.fct_contacts_costed"))
    checked = 0
    for ticket_id, channel, kind, minutes in tickets:
        if minutes is None:
            continue
        per_contact, per_minute = rates[(channel, kind)]
        cost = per_contact + Decimal(minutes) * per_minute
        expected = cost.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)  # as PostgreSQL
        assert costed[ticket_id] == expected, ticket_id
        checked += 1
    assert checked > 50
    # cost to serve per customer adds up to their own contacts, not an average
    mismatched = warehouse.query(
        "select count(*) from (select customer_id, sum(contact_cost) as cost from "
        "marts.customer_cost_to_serve group by customer_id) as s full join (select customer_id, "
        "sum(contact_cost) as cost from marts.fct_contacts_costed where customer_id is not null "
        "group by customer_id) as c using (customer_id) where coalesce(s.cost, 0) != c.cost"
    )
    assert mismatched == [(0,)]
    spread = warehouse.query(
        "select count(distinct contact_cost) from marts.customer_profitability "
        "where contact_cost > 0"
    )[0][0]
    assert spread > 10


def test_active_customers_and_retention_match_a_brute_force_count(shared):
    warehouse = shared
    for day in ("2025-06-30", "2025-12-01", "2026-10-15"):
        expected = warehouse.query(
            "with p as (select customer_id, purchase_date from marts.int_customer_purchase_days),"
            " now_active as (select distinct customer_id from p where purchase_date > %(d)s::date"
            " - 365 and purchase_date <= %(d)s::date), year_ago as (select distinct customer_id "
            "from p where purchase_date > %(d)s::date - 730 and purchase_date <= %(d)s::date - 365)"
            " select (select count(*) from now_active), (select count(*) from year_ago), "
            "(select count(*) from year_ago join now_active using (customer_id))",
            {"d": day},
        )[0]
        actual = warehouse.query(
            "select active_customer_count, retention_base_count, retained_customer_count "
            "from marts.int_customers_active_daily where kpi_date = %s",
            (day,),
        )[0]
        assert actual == expected, day
        assert expected[0] > 0


def test_scorecard_orders_and_revenue_match_a_count_of_every_order(shared):
    """The scorecard counts known customers' orders from their purchase days and only the
    anonymous ones from fct_orders: the sum must equal a plain count of the orders per day and
    channel (the demo has anonymous store sales and several channels a day)."""
    warehouse = shared
    query = (
        "with o as (select (ordered_at at time zone 'utc')::date as kpi_date, sales_channel, "
        "revenue_amount, customer_id from marts.fct_orders where not is_cancelled), "
        "counted as (select kpi_date, coalesce(sales_channel, 'all') as sales_channel, "
        "count(*) as n, sum(revenue_amount) as revenue from o group by grouping sets "
        "((kpi_date, sales_channel), (kpi_date))) "
        "select s.kpi_date, s.sales_channel, s.order_count, s.revenue_amount, "
        "coalesce(c.n, 0), coalesce(c.revenue, 0)::numeric(16, 2) "
        "from marts.kpi_daily_scorecard as s left join counted as c "
        "on s.kpi_date = c.kpi_date and s.sales_channel = c.sales_channel"
    )
    rows = warehouse.query(query)
    assert rows, "the scorecard is empty"
    wrong = [row for row in rows if (row[2], row[3]) != (row[4], row[5])]
    assert not wrong, wrong[:5]
    assert sum(row[2] for row in rows if row[1] == "all") > 100
    anonymous = warehouse.query(
        "select count(*) from marts.fct_orders where customer_id is null and not is_cancelled "
        "and (ordered_at at time zone 'utc')::date in (select kpi_date from "
        "marts.kpi_daily_scorecard)"
    )[0][0]
    assert anonymous > 0, "the demo should hold anonymous orders in the scorecard's days"


def _add_account(db: sqlite3.Connection, account_id: int, email: str, phone: str) -> None:
    db.execute(
        "insert into accounts (account_id, email, first_name, last_name, phone, created_at, "
        "updated_at) values (?, ?, 'Firsty', 'Buyerson', ?, '2026-10-01 00:00:00', "
        "'2026-11-20 00:00:00')",
        (account_id, email, phone),
    )


def _add_order(
    db: sqlite3.Connection, order_id: int, account_id: int, channel: str, at: str, updated: str
):
    db.execute(
        "insert into orders (order_id, account_id, sales_channel, order_status, currency, "
        "shipping_amount, total_amount, ordered_at, updated_at) values "
        "(?, ?, ?, 'delivered', 'GBP', 0, 25, ?, ?)",
        (order_id, account_id, channel, at, updated),
    )
    product_id = db.execute("select min(product_id) from products").fetchone()[0]
    db.execute(
        "insert into order_lines (order_line_id, order_id, product_id, quantity, unit_price, "
        "discount_amount, updated_at) values (?, ?, ?, 1, 25, 0, ?)",
        (order_id * 10, order_id, product_id, updated),
    )


def _add_guest_checkout(db: sqlite3.Connection, checkout_id: int, email: str, phone: str) -> None:
    """A guest checkout of 'firsty buyerson' (with one account's email and another's phone, it
    joins the two)."""
    db.execute(
        "insert into guest_checkouts (guest_checkout_id, email, first_name, last_name, phone, "
        "created_at, updated_at) values (?, ?, 'firsty', 'buyerson', ?, '2026-11-21 00:00:00', "
        "'2026-11-21 00:00:00')",
        (checkout_id, email, phone),
    )


def _events(warehouse, customer_ids) -> set[tuple]:
    rows = warehouse.query(
        "select customer_id, event_type, sales_channel, order_key, is_retracted, "
        "retraction_reason from marts.first_purchase_events where customer_id = any(%s)",
        (list(customer_ids),),
    )
    return set(rows)


def test_first_purchase_events_corrected_by_late_orders_and_merges(built):
    warehouse, home, _ = built
    shop = sqlite3.connect(Path(home) / "demo" / "shop.sqlite")
    _add_account(shop, 900001, "firsty.one@example.org", "07700 900101")
    _add_account(shop, 900002, "firsty.two@example.org", "07700 900102")
    _add_order(shop, 9000001, 900001, "web", "2026-10-20 10:00:00", "2026-11-20 00:00:00")
    _add_order(shop, 9000002, 900002, "phone", "2026-10-25 10:00:00", "2026-11-20 00:00:00")
    shop.commit()
    assert cli.main(["run", "--customers", CUSTOMERS, "--quiet"]) == 0
    ids = dict(
        warehouse.query(
            "select source_record_id, customer_id from marts.identity_map where "
            "source_system = 'shop' and source_table = 'accounts' and "
            "source_record_id in ('900001', '900002')"
        )
    )
    one, two = ids["900001"], ids["900002"]
    assert _events(warehouse, [one, two]) == {
        (one, "first_purchase", "web", "shop:9000001", False, None),
        (two, "first_purchase", "phone", "shop:9000002", False, None),
    }

    # a late order from before the "first" one, and a guest checkout that joins the two
    _add_order(shop, 9000003, 900001, "web", "2026-10-05 10:00:00", "2026-11-21 00:00:00")
    _add_guest_checkout(shop, 900003, "firsty.one@example.org", "+44 7700 900102")
    shop.commit()
    assert cli.main(["run", "--customers", CUSTOMERS, "--quiet"]) == 0
    survivor, merged = min(one, two), max(one, two)
    reason = {
        one: "earlier_purchase_found",
        two: "earlier_purchase_found",
        merged: "customer_merged",
    }
    assert _events(warehouse, [one, two]) == {
        (one, "first_purchase", "web", "shop:9000001", True, reason[one]),
        (two, "first_purchase", "phone", "shop:9000002", True, reason[two]),
        (survivor, "first_purchase", "web", "shop:9000003", False, None),
        (survivor, "first_purchase_in_channel", "phone", "shop:9000002", False, None),
    }
    # the retraction keeps when the mistaken event was recorded: a mistaken welcome is measurable
    recorded = warehouse.query(
        "select count(*) from marts.first_purchase_events where is_retracted "
        "and recorded_at < retracted_at and customer_id = any(%s)",
        ([one, two],),
    )
    assert recorded == [(2,)]
    # a third run with nothing new changes nothing
    before = warehouse.query("select * from marts.first_purchase_events order by event_id")
    assert cli.main(["run", "--customers", CUSTOMERS, "--quiet"]) == 0
    after = warehouse.query("select * from marts.first_purchase_events order by event_id")
    assert before == after
    _assert_purchase_days_match_a_full_recount(warehouse, merged)
    # the later runs scored with the first run's fit (var clv_refit_days); --refit fits again
    fits = warehouse.query("select fit_id from clv.model_fits")
    assert len(fits) == 1
    assert warehouse.query("select distinct fit_id from clv.customer_predictions") == fits
    assert cli.main(["clv", "--refit"]) == 0
    assert len(warehouse.query("select fit_id from clv.model_fits")) == 2


def _assert_purchase_days_match_a_full_recount(warehouse, merged: int) -> None:
    """The incremental purchase days (re-computed only for customers whose orders changed: the
    late order, both ends of the merge) equal a count from scratch over every order."""
    recount = warehouse.query(
        "select customer_id, (ordered_at at time zone 'utc')::date, count(*), "
        "sum(revenue_amount)::numeric(18, 2) from marts.fct_orders "
        "where customer_id is not null and not is_cancelled group by 1, 2 order by 1, 2"
    )
    table = warehouse.query(
        "select customer_id, purchase_date, order_count, revenue_amount "
        "from marts.int_customer_purchase_days order by 1, 2"
    )
    assert table == recount
    assert len(table) > 100
    assert not any(row[0] == merged for row in table)
    previous = warehouse.query(
        "select count(*) from marts.int_customer_purchase_days as p where previous_purchase_date "
        "is distinct from (select max(q.purchase_date) from marts.int_customer_purchase_days "
        "as q where q.customer_id = p.customer_id and q.purchase_date < p.purchase_date)"
    )
    assert previous == [(0,)]


def _copy_raw_row(warehouse, table: str, where: str, overrides: dict[str, str], params: dict):
    """Insert a copy of one raw row (as a loader would land it) with some columns replaced by
    SQL expressions (which may use %(name)s parameters)."""
    schema, name = table.split(".")
    columns = [
        row[0]
        for row in warehouse.query(
            "select column_name from information_schema.columns where table_schema = %s "
            "and table_name = %s order by ordinal_position",
            (schema, name),
        )
    ]
    values = ", ".join(overrides.get(column, column) for column in columns)
    warehouse.query(
        f"insert into {table} ({', '.join(columns)}) select {values} from {table} "
        f"where {where} limit 1",
        params,
    )


def _add_ticket(warehouse, ticket_id: int, email: str, minutes: float | None) -> None:
    _copy_raw_row(
        warehouse,
        "helpdesk.tickets",
        "handle_minutes is not null",
        {
            "ticket_id": "%(id)s",
            "requester_email": "%(email)s",
            "requester_phone": "null",
            "requester_name": "'Firsty Buyerson'",
            "handle_minutes": "%(minutes)s",
            "created_at": "timestamptz '2026-10-22 10:00:00+00'",
            "updated_at": "timestamptz '2026-10-22 10:00:00+00'",
            "_dlt_id": "md5(%(id)s::text)",
            "_dlt_load_id": "extract(epoch from now())::text",
        },
        {"id": ticket_id, "email": email, "minutes": minutes},
    )


def _costs(warehouse) -> list[tuple]:
    return warehouse.query(
        "select customer_id, cost_month, contact_count, enquiry_count, complaint_count, "
        "return_count, marketing_send_count, contact_cost, return_handling_cost, "
        "marketing_cost, cost_to_serve from marts.customer_cost_to_serve order by 1, 2"
    )


def test_cost_to_serve_incremental_run_equals_a_full_rebuild(built, monkeypatch):
    """customer_cost_to_serve sums again only the customers whose costs changed (new and
    changed tickets, new sends, a merge, a new rate) and ends where a full rebuild ends."""
    warehouse, home, _ = built
    monkeypatch.setenv("CIW_HOME", str(home))
    shop = sqlite3.connect(Path(home) / "demo" / "shop.sqlite")
    _add_account(shop, 900011, "costly.one@example.org", "07700 900111")
    _add_account(shop, 900012, "costly.two@example.org", "07700 900112")
    _add_order(shop, 9000011, 900011, "web", "2026-10-20 10:00:00", "2026-11-20 00:00:00")
    _add_order(shop, 9000012, 900012, "phone", "2026-10-21 10:00:00", "2026-11-20 00:00:00")
    shop.commit()
    _add_ticket(warehouse, 99000011, "costly.one@example.org", 12.0)
    _add_ticket(warehouse, 99000012, "costly.two@example.org", None)  # minutes estimated
    assert cli.main(["run", "--customers", CUSTOMERS, "--quiet"]) == 0
    ids = dict(
        warehouse.query(
            "select source_record_id, customer_id from marts.identity_map where "
            "source_system = 'helpdesk' and source_record_id in ('99000011', '99000012')"
        )
    )
    one, two = ids["99000011"], ids["99000012"]
    assert one != two
    first = _costs(warehouse)
    assert {row[0] for row in first} >= {one, two}

    # the next day: a guest checkout joins the two, one more ticket of theirs, another
    # customer's ticket re-handled for longer, new sends to an existing email contact
    _add_guest_checkout(shop, 900013, "costly.one@example.org", "+44 7700 900112")
    shop.commit()
    _add_ticket(warehouse, 99000013, "costly.two@example.org", 30.0)
    warehouse.query(
        "update helpdesk.tickets set handle_minutes = handle_minutes + 7 where ticket_id = "
        "(select min(ticket_id) from helpdesk.tickets where handle_minutes is not null "
        "and ticket_id < 99000000)"
    )
    _copy_raw_row(
        warehouse,
        "esp.events",
        "lower(event_type) = 'send'",
        {
            "event_id": "event_id || '-again'",
            "occurred_at": "timestamptz '2026-10-30 08:00:00+00'",
            "_dlt_id": "_dlt_id || '-again'",
            "_dlt_load_id": "extract(epoch from now())::text",
        },
        {},
    )
    assert cli.main(["run", "--customers", CUSTOMERS, "--quiet"]) == 0
    survivor, merged = min(one, two), max(one, two)
    incremental = _costs(warehouse)
    by_customer = {row[0] for row in incremental}
    assert survivor in by_customer and merged not in by_customer
    summed_again, total = warehouse.query(
        "select count(*) filter (where computed_at = (select max(computed_at) from "
        "marts.customer_cost_to_serve)), count(*) from marts.customer_cost_to_serve"
    )[0]
    assert 0 < summed_again < total / 2  # only the changed customers were summed again
    assert incremental != first

    assert cli.main(["dbt", "run", "--full-refresh", "--select", "customer_cost_to_serve"]) == 0
    assert _costs(warehouse) == incremental

    # a new marketing rate re-prices every customer with sends, incrementally too
    warehouse.query(
        "update reference.service_cost_rates set unit_cost = unit_cost + 0.01 "
        "where activity = 'marketing_send'"
    )
    assert cli.main(["dbt", "run", "--select", "customer_cost_to_serve"]) == 0
    repriced = _costs(warehouse)
    assert repriced != incremental
    assert cli.main(["dbt", "run", "--full-refresh", "--select", "customer_cost_to_serve"]) == 0
    assert _costs(warehouse) == repriced


def _states(warehouse) -> list[tuple]:
    """int_customer_purchase_states without the columns that say when a row was computed."""
    return warehouse.query(
        "select customer_id, purchase_day_count, order_count, revenue_amount, "
        "gross_margin_amount, repeat_purchase_value, revenue_amount_12m, gross_margin_amount_12m, "
        "gross_margin_amount_365d, recent_return_gap_days, first_purchase_date, "
        "last_purchase_date from marts.int_customer_purchase_states order by 1"
    )


def test_purchase_states_follow_the_as_of_date_and_changed_orders_incrementally(built, monkeypatch):
    """int_customer_purchase_states computes again only the customers whose orders changed or
    whose purchase days a move of the as-of date (forwards, backwards, by a day or by months)
    took across a window edge, and ends where a full rebuild ends."""
    warehouse, home, _ = built
    monkeypatch.setenv("CIW_HOME", str(home))
    model = "int_customer_purchase_states"

    def run(as_of: str, *, full: bool = False, active_days: int = 180, select=model) -> None:
        variables = {"intelligence_as_of_date": as_of, "lifecycle_active_days": active_days}
        args = ["dbt", "run", "--select", *select.split(), "--vars", json.dumps(variables)]
        assert cli.main([*args, *(["--full-refresh"] if full else [])]) == 0

    def written_last() -> tuple[int, int]:
        return warehouse.query(
            "select count(*) filter (where computed_at = (select max(computed_at) from "
            f"marts.{model})), count(*) from marts.{model}"
        )[0]

    # a day with purchases: moving the as-of date onto it changes those customers' rows
    day = warehouse.query(
        "select max(purchase_date) from marts.int_customer_purchase_days "
        "where purchase_date <= date '2026-06-16'"
    )[0][0]
    run(str(day - dt.timedelta(days=1)), full=True)
    for as_of, active_days in [
        (day, 180),  # a day on
        (day + dt.timedelta(days=100), 180),  # months on
        (dt.date(2025, 12, 31), 180),  # back
        (dt.date(2025, 12, 31), 120),  # a new active window: everyone again
    ]:
        run(str(as_of), active_days=active_days)
        incremental = _states(warehouse)
        again, total = written_last()
        if as_of == day:
            assert 0 < again < total / 2  # only the customers the move changed
        if active_days == 120:
            assert again == total
        run(str(as_of), full=True, active_days=active_days)
        assert _states(warehouse) == incremental, f"as of {as_of}"
    # the same as-of date again, nothing changed: nothing computed again
    before = written_last()
    run("2025-12-31", active_days=120)
    assert written_last() == before

    # orders change: a customer's orders all cancelled, another's new order on the as-of date
    gone, grown = warehouse.query(
        "select min(customer_id), max(customer_id) from marts.int_customer_purchase_states"
    )[0]
    warehouse.query(
        "update marts.fct_orders set is_cancelled = true, loaded_at = now() where customer_id = %s",
        (gone,),
    )
    _copy_order(warehouse, grown, "2025-12-31 09:00:00")
    chain = "int_customer_order_changes int_customer_purchase_days " + model
    run("2025-12-31", active_days=120, select=chain)
    incremental = _states(warehouse)
    assert gone not in {row[0] for row in incremental}
    assert written_last()[0] >= 1
    # the purchase days: only the changed ones written (the new order's day, and any later
    # day of the same customer whose previous purchase day it became), the cancelled ones gone
    rewritten = warehouse.query(
        "select distinct customer_id from marts.int_customer_purchase_days where computed_at "
        "= (select max(computed_at) from marts.int_customer_purchase_days)"
    )
    assert rewritten == [(grown,)]
    assert warehouse.query(
        "select count(*) from marts.int_customer_purchase_days where customer_id = %s", (gone,)
    ) == [(0,)]
    run("2025-12-31", full=True, active_days=120, select=chain)
    assert _states(warehouse) == incremental


def _copy_order(warehouse, customer_id: int, ordered_at: str) -> None:
    """A new order of the customer in marts.fct_orders, as the orders model would add it."""
    _copy_raw_row(
        warehouse,
        "marts.fct_orders",
        "customer_id = %(customer)s",
        {
            "order_key": "order_key || '-copy'",
            "source_order_id": "source_order_id || '-copy'",
            "ordered_at": "%(ordered_at)s::timestamptz",
            "loaded_at": "now()",
        },
        {"customer": customer_id, "ordered_at": ordered_at},
    )


def test_kpi_alerts_fire_on_an_injected_bad_day(built, monkeypatch):
    warehouse, home, target = built
    monkeypatch.setenv("CIW_HOME", str(home))
    bad_day = "2026-10-20"
    alert_vars = json.dumps(
        {"intelligence_as_of_date": "2026-10-21", "kpi_threshold_min_orders": 0}
    )
    select = ["--select", "fct_contacts_costed+", "--vars", alert_vars]
    # an ordinary day first: the alerts stay quiet (so a failure below is the injected day's)
    warehouse.query(f"delete from helpdesk.tickets where created_at::date = '{bad_day}'")
    assert cli.main(["dbt", "build", *select]) == 0
    results = _run_results(target)
    assert results["alert_complaints_abnormally_high"] == "pass"
    assert results["alert_complaints_per_1000_orders_over_threshold"] == "pass"
    # a bad day: 40 complaints
    warehouse.query(
        "insert into helpdesk.tickets (ticket_id, contact_type, channel, status, subject, "
        "handle_minutes, requester_name, created_at, updated_at, _dlt_load_id, _dlt_id) "
        "select 990000 + n, 'complaint', 'phone', 'open', 'Broken again', 12, 'Angry Person', "
        f"timestamptz '{bad_day} 12:00:00+00', timestamptz '{bad_day} 12:00:00+00', "
        "'1700000000.0', 'injected' || n from generate_series(1, 40) as n"
    )
    order_on_bad_day = warehouse.query(
        f"select count(*) from marts.fct_orders where ordered_at::date = '{bad_day}'"
    )[0][0]
    # a fired alert is a business event reported as a warning, never a failed build
    assert cli.main(["dbt", "build", *select]) == 0
    results = _run_results(target)
    assert results["alert_complaints_abnormally_high"] == "warn"
    expected = "warn" if order_on_bad_day else "pass"  # no orders: no rate to compare
    assert results["alert_complaints_per_1000_orders_over_threshold"] == expected
    assert os.path.exists(target / "run_results.json")


def test_the_demo_run_welcomes_a_new_customer_once_through_the_receivers(built):
    warehouse, home, _ = built
    shop = sqlite3.connect(Path(home) / "demo" / "shop.sqlite")
    # a first purchase an hour ago: inside the welcome window whatever day the tests run
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    now = moment.strftime("%Y-%m-%d %H:%M:%S")
    _add_account(shop, 900011, "welcome.me@example.org", "07700 900111")
    shop.execute(
        "insert into marketing_preferences (account_id, channel, is_opted_in, updated_at) "
        "values (900011, 'email', 1, ?)",
        (now,),
    )
    _add_order(shop, 9000011, 900011, "web", now, now)
    shop.commit()
    assert cli.main(["run", "--customers", CUSTOMERS, "--quiet"]) == 0
    (customer_id,) = warehouse.query(
        "select customer_id from marts.identity_map where source_system = 'shop' "
        "and source_table = 'accounts' and source_record_id = '900011'"
    )[0]
    ledger = warehouse.query(
        "select channel, status, attempt_count from reverse_etl.send_ledger "
        "where audience = 'welcome' and customer_id = %s",
        (customer_id,),
    )
    assert ledger == [("email", "sent", 1)]
    # nobody in the ledger twice, nobody suppressed contacted
    assert warehouse.query(
        "select count(*) - count(distinct (audience, customer_id, reason)) "
        "from reverse_etl.send_ledger"
    ) == [(0,)]
    assert warehouse.query(
        "select count(*) from reverse_etl.send_ledger as l join marts.dim_customers as c "
        "using (customer_id) where l.channel = 'email' and not coalesce(c.is_email_consented, "
        "false) and l.status = 'sent'"
    ) == [(0,)]
    # the next run: the customer is known as welcomed, nothing is sent again
    assert cli.main(["run", "--customers", CUSTOMERS, "--quiet"]) == 0
    assert warehouse.query(
        "select count(*) from marts.audience_welcome where customer_id = %s", (customer_id,)
    ) == [(0,)]
    runs = warehouse.query(
        "select sync_name, sent_count from reverse_etl.sync_runs where run_id = "
        "(select max(run_id) from reverse_etl.sync_runs) and sync_name like 'welcome%%'"
    )
    assert runs and all(sent == 0 for _, sent in runs), runs
    assert warehouse.query(
        "select attempt_count from reverse_etl.send_ledger where customer_id = %s "
        "and audience = 'welcome'",
        (customer_id,),
    ) == [(1,)]
    welcomed = warehouse.query(
        "select welcomed_share from marts.kpi_daily_scorecard where sales_channel = 'all' "
        "and kpi_date = %s",
        (moment.date(),),
    )
    assert welcomed and welcomed[0][0] is not None and welcomed[0][0] > 0
