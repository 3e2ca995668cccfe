"""Loaders against a real PostgreSQL: first load, idempotent re-load, incremental pick-up,
quarantine of bad rows, resume after failures, schema drift. One block per source."""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from ingestion.runner import run_source
from ingestion.sources.esp import esp_source
from ingestion.sources.helpdesk import helpdesk_source
from ingestion.sources.pos import pos_source
from ingestion.sources.shop import shop_source
from ingestion.sources.web import web_source

pytestmark = pytest.mark.serverpath


def count(warehouse, table: str, where: str = "true") -> int:
    return warehouse.query(f"select count(*) from {table} where {where}")[0][0]


def distinct(warehouse, table: str, key: str) -> int:
    return warehouse.query(f"select count(distinct ({key})) from {table}")[0][0]


def quarantined(warehouse, schema: str, target: str) -> int:
    return count(warehouse, f"{schema}._quarantine", f"target_table = '{target}'")


def load(name, source, warehouse, tmp_path: Path, raise_on_error=False):
    return run_source(
        name, source, warehouse, tmp_path / "pipelines", raise_on_error=raise_on_error
    )


@pytest.fixture
def dlt_warnings(caplog):
    """The warnings dlt logged during the test (its logger does not reach the root's)."""
    logger = logging.getLogger("dlt")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="dlt")
    yield lambda: [r.getMessage() for r in caplog.records if r.name == "dlt"]
    logger.removeHandler(caplog.handler)


def csv_data_lines(folder: Path) -> int:
    total = 0
    for path in folder.glob("*.csv"):
        with path.open(newline="", encoding="utf-8") as f:
            total += sum(1 for _ in csv.reader(f)) - 1
    return total


# ----------------------------------------------------------------------------- shop


def shop(demo: Path, **kw):
    return shop_source(credentials=f"sqlite:///{demo / 'shop.sqlite'}", **kw)


def test_sqlite_values_that_do_not_fit_their_column_are_quarantined_not_blocking(
    warehouse, demo_copy, tmp_path
):
    """SQLite keeps any value in any column. A product price 'abc', an order total 'n/a' with
    the updated_at 'yesterday', a quantity 'two' and a birth date '1980-02-31' each once failed
    the whole shop source on every run. Each row is quarantined with the columns that do not
    fit, every other row loads; a later run loads the row fixed at the source, quarantines a
    new bad one, and keeps each quarantined row once."""
    db = sqlite3.connect(demo_copy / "shop.sqlite")
    first_of = {
        table: db.execute(f"select min({key}) from {table}").fetchone()[0]
        for table, key in (
            ("products", "product_id"),
            ("orders", "order_id"),
            ("order_lines", "order_line_id"),
            ("accounts", "account_id"),
        )
    }
    counts = {
        table: db.execute(f"select count(*) from {table}").fetchone()[0] for table in first_of
    }
    bad_lines = db.execute("select count(*) from order_lines where order_id is null").fetchone()[0]
    db.execute(
        "update products set unit_price = 'abc' where product_id = ?", (first_of["products"],)
    )
    db.execute(
        "update orders set total_amount = 'n/a', updated_at = 'yesterday' where order_id = ?",
        (first_of["orders"],),
    )
    db.execute(
        "update order_lines set quantity = 'two' where order_line_id = ?",
        (first_of["order_lines"],),
    )
    db.execute(
        "update accounts set date_of_birth = '1980-02-31' where account_id = ?",
        (first_of["accounts"],),
    )
    db.commit()

    first = load("shop", shop(demo_copy), warehouse, tmp_path)
    assert first.ok, first.error
    reasons = dict(
        warehouse.query(
            "select target_table || ':' || record_key, reason from shop._quarantine "
            "where reason like '%is not%'"
        )
    )
    assert reasons == {
        f"products:{first_of['products']}": (
            "unit_price: 'abc' is not a number of up to 29 digits"
        ),
        f"orders:{first_of['orders']}": (
            "total_amount: 'n/a' is not a number of up to 29 digits; "
            "updated_at: 'yesterday' is not a timestamp"
        ),
        f"order_lines:{first_of['order_lines']}": "quantity: 'two' is not an integer",
        f"accounts:{first_of['accounts']}": (
            "date_of_birth: '1980-02-31' is not a date (YYYY-MM-DD)"
        ),
    }
    for table, n in counts.items():
        others = bad_lines if table == "order_lines" else 0
        assert count(warehouse, f"shop.{table}") == n - 1 - others, table

    db.execute(
        "update products set unit_price = 9.99, updated_at = '2099-01-01 00:00:00' "
        "where product_id = ?",
        (first_of["products"],),
    )
    db.execute(
        "insert into products (product_id, sku, unit_price, updated_at) "
        "values (999999, 'SKU-NEW', 'free', '2099-01-01 00:00:00')"
    )
    db.commit()
    db.close()
    second = load("shop", shop(demo_copy), warehouse, tmp_path)
    assert second.ok, second.error
    assert warehouse.query(
        "select unit_price from shop.products where product_id = %s", (first_of["products"],)
    ) == [(Decimal("9.99"),)]
    assert second.quarantined_new == 1
    assert warehouse.query(
        "select record_key, reason from shop._quarantine where record_key = '999999'"
    ) == [("999999", "unit_price: 'free' is not a number of up to 29 digits")]
    assert count(warehouse, "shop._quarantine") == distinct(
        warehouse, "shop._quarantine", "quarantine_id"
    )


def test_shop_first_load_reload_and_incremental(warehouse, demo_copy, tmp_path, dlt_warnings):
    db = sqlite3.connect(demo_copy / "shop.sqlite")
    src_counts = {
        t: db.execute(f"select count(*) from {t}").fetchone()[0]
        for t in ("accounts", "orders", "order_lines", "products", "returns")
    }
    bad_lines = db.execute("select count(*) from order_lines where order_id is null").fetchone()[0]
    assert bad_lines >= 1, "the demo data must contain a malformed order line"

    first = load("shop", shop(demo_copy), warehouse, tmp_path)
    assert first.ok, first.error
    for table, n in src_counts.items():
        loaded = count(warehouse, f"shop.{table}")
        expected = n - bad_lines if table == "order_lines" else n
        assert loaded == expected, table
    assert quarantined(warehouse, "shop", "order_lines") == bad_lines
    assert first.quarantined_new == bad_lines
    # the batches' Arrow schemas say what the tables' hints say: no warning per batch
    assert dlt_warnings() == []
    # every loaded table is indexed on its load time and its primary key
    indexes = {
        (table, definition.split(" USING btree ")[1])
        for table, definition in warehouse.query(
            "select tablename, indexdef from pg_indexes where schemaname = 'shop'"
        )
    }
    for table in src_counts:
        assert (table, "(to_timestamp(((_dlt_load_id)::numeric)::double precision))") in indexes
    assert ("accounts", "(account_id)") in indexes
    assert ("marketing_preferences", "(account_id, channel)") in indexes

    again = load("shop", shop(demo_copy), warehouse, tmp_path)
    assert again.ok, again.error
    assert count(warehouse, "shop.orders") == distinct(warehouse, "shop.orders", "order_id")
    assert count(warehouse, "shop.orders") == src_counts["orders"]
    assert sum(again.rows.values()) == 0, again.rows
    assert again.quarantined_new == 0

    # incremental: one changed order and one new account only
    db.execute(
        "update orders set order_status = 'cancelled', updated_at = '2030-01-01 00:00:00' "
        "where order_id = (select min(order_id) from orders)"
    )
    db.execute(
        "insert into accounts (account_id, email, first_name, last_name, created_at, updated_at) "
        "values (999999, 'new@example.com', 'New', 'Person', '2030-01-01 00:00:00', "
        "'2030-01-01 00:00:00')"
    )
    db.commit()
    third = load("shop", shop(demo_copy), warehouse, tmp_path)
    assert third.ok, third.error
    assert third.rows["orders"] == 1 and third.rows["accounts"] == 1
    assert third.rows["order_lines"] == 0
    assert count(warehouse, "shop.orders") == src_counts["orders"]
    status = warehouse.query(
        "select order_status from shop.orders "
        "where order_id = (select min(order_id) from shop.orders)"
    )
    assert status == [("cancelled",)]

    # late data in the same second as the newest row already loaded (SQLite keeps datetimes
    # as text: a naive comparison with the bound cursor skipped these)
    db.execute(
        "insert into accounts (account_id, email, first_name, last_name, created_at, updated_at) "
        "values (999998, 'late@example.com', 'Late', 'Person', '2030-01-01 00:00:00', "
        "'2030-01-01 00:00:00')"
    )
    db.commit()
    fourth = load("shop", shop(demo_copy), warehouse, tmp_path)
    assert fourth.ok, fourth.error
    assert fourth.rows["accounts"] == 1, fourth.rows
    assert count(warehouse, "shop.accounts", "account_id = 999998") == 1
    assert count(warehouse, "shop.accounts") == distinct(warehouse, "shop.accounts", "account_id")
    # and the boundary rows read again are not loaded twice
    fifth = load("shop", shop(demo_copy), warehouse, tmp_path)
    assert fifth.ok and sum(fifth.rows.values()) == 0, fifth.rows


def test_shop_resumes_after_a_crash_between_normalize_and_load(warehouse, demo_copy, tmp_path):
    from ingestion.runner import pipeline_for

    pipeline = pipeline_for("shop", warehouse, tmp_path / "pipelines")
    pipeline.extract(shop(demo_copy, table_names=["orders"]), loader_file_format="csv")
    pipeline.normalize()  # ... and the process dies here, before loading
    assert pipeline.has_pending_data

    result = load("shop", shop(demo_copy, table_names=["orders", "products"]), warehouse, tmp_path)
    assert result.ok, result.error
    n_orders = (
        sqlite3.connect(demo_copy / "shop.sqlite")
        .execute("select count(*) from orders")
        .fetchone()[0]
    )
    assert (
        count(warehouse, "shop.orders")
        == n_orders
        == distinct(warehouse, "shop.orders", "order_id")
    )
    assert count(warehouse, "shop.products") > 0


def test_shop_first_load_appends_then_merges(warehouse, demo_copy, tmp_path):
    """A first load into empty tables has nothing to merge with: it COPYs straight into the
    tables (no staging tables, no delete + insert), and the next load merges."""
    first = load("shop", shop(demo_copy, table_names=["orders"]), warehouse, tmp_path)
    assert first.ok, first.error
    assert warehouse.query("select to_regclass('shop_staging.orders')") == [(None,)]
    db = sqlite3.connect(demo_copy / "shop.sqlite")
    db.execute(
        "update orders set order_status = 'cancelled', updated_at = '2030-01-01 00:00:00' "
        "where order_id = (select min(order_id) from orders)"
    )
    db.commit()
    second = load("shop", shop(demo_copy, table_names=["orders"]), warehouse, tmp_path)
    assert second.ok and second.rows["orders"] == 1
    assert warehouse.query("select to_regclass('shop_staging.orders')") != [(None,)]
    n = db.execute("select count(*) from orders").fetchone()[0]
    assert count(warehouse, "shop.orders") == n == distinct(warehouse, "shop.orders", "order_id")


def test_shop_schema_drift_is_loaded_and_reported(warehouse, demo_copy, tmp_path):
    assert load("shop", shop(demo_copy, table_names=["products"]), warehouse, tmp_path).ok
    db = sqlite3.connect(demo_copy / "shop.sqlite")
    db.execute("alter table products add column brand text")
    db.execute("update products set brand = 'Acme', updated_at = '2030-01-01 00:00:00'")
    db.commit()
    result = load("shop", shop(demo_copy, table_names=["products"]), warehouse, tmp_path)
    assert result.ok, result.error
    assert result.drift == ["products.brand"]
    assert count(warehouse, "shop.products", "brand = 'Acme'") == count(warehouse, "shop.products")


# ----------------------------------------------------------------------------- pos


def test_pos_loads_validates_and_is_idempotent(warehouse, demo_copy, tmp_path, dlt_warnings):
    pos_dir = demo_copy / "pos"
    result = load("pos", pos_source(bucket_url=str(pos_dir)), warehouse, tmp_path)
    assert result.ok, result.error
    assert dlt_warnings() == []  # the checked rows' Arrow batches agree with the hints
    for table, key in (
        ("transactions", "transaction_id"),
        ("transaction_lines", "transaction_line_id"),
        ("loyalty_signups", "loyalty_card_id"),
    ):
        loaded = count(warehouse, f"pos.{table}")
        bad = quarantined(warehouse, "pos", table)
        assert bad >= 1 or table == "transaction_lines", f"demo {table} should hold bad rows"
        assert loaded == distinct(warehouse, f"pos.{table}", key)
        assert loaded + bad == csv_data_lines(pos_dir / table), f"rows lost in {table}"
    reasons = {r for (r,) in warehouse.query("select reason from pos._quarantine")}
    assert any("not a timestamp" in r for r in reasons)

    again = load("pos", pos_source(bucket_url=str(pos_dir)), warehouse, tmp_path)
    assert again.ok and sum(again.rows.values()) == 0 and again.quarantined_new == 0


def test_pos_picks_up_new_and_late_files_and_redrops_without_duplicates(
    warehouse, demo_copy, tmp_path
):
    pos_dir = demo_copy / "pos"
    assert load("pos", pos_source(bucket_url=str(pos_dir)), warehouse, tmp_path).ok
    before = count(warehouse, "pos.transactions")
    existing = sorted((pos_dir / "transactions").glob("*.csv"))[0]
    header, first_row = existing.read_text(encoding="utf-8").splitlines()[:2]
    # a late file: one new transaction from long ago, plus a re-sent copy of an old row
    late = pos_dir / "transactions" / "transactions_2099-01-01.csv"
    late.write_text(
        "\n".join([header, first_row, "LATE-1,S01,sale,,,cash,9.99,2020-01-01T09:00:00Z"]) + "\n",
        encoding="utf-8",
    )
    result = load("pos", pos_source(bucket_url=str(pos_dir)), warehouse, tmp_path)
    assert result.ok, result.error
    assert result.rows["transactions"] == 1
    assert count(warehouse, "pos.transactions") == before + 1
    assert count(warehouse, "pos.transactions", "transaction_id = 'LATE-1'") == 1


def test_pos_malformed_csv_line_is_quarantined_not_fatal(warehouse, tmp_path):
    folder = tmp_path / "pos" / "transactions"
    folder.mkdir(parents=True)
    (folder / "transactions_2026-01-05.csv").write_text(
        "transaction_id,store_id,transaction_type,loyalty_card_id,card_token_hash,"
        "payment_method,total_amount,transacted_at\n"
        "A,S01,sale,,,cash,1.00,2026-01-05T10:00:00Z\n"
        "B,S01,sale\n"
        "C,S01,sale,,,cash,1.00,2026-01-05T10:00:00Z,extra\n"
        ",S01,sale,,,cash,1.00,2026-01-05T10:00:00Z\n",
        encoding="utf-8",
    )
    result = load("pos", pos_source(bucket_url=str(tmp_path / "pos")), warehouse, tmp_path)
    assert result.ok, result.error
    assert count(warehouse, "pos.transactions") == 1
    assert result.quarantined_new == 3
    keys = {k for (k,) in warehouse.query("select record_key from pos._quarantine")}
    assert keys == {"B", "C", None}


def _refuse_store(warehouse, store_id: str) -> None:
    """The warehouse refuses rows the loader's own checks pass (since those catch the values
    that used to be refused, a number wider than numeric(18,4) or a NUL byte): a constraint of
    the warehouse's on pos.transactions and on the staging table its rows are copied into."""
    for schema in ("pos", "pos_staging"):
        warehouse.query(
            f"alter table {schema}.transactions add constraint no_store_{store_id.lower()} "
            f"check (store_id <> '{store_id}')"
        )


TRANSACTIONS_HEADER = (
    "transaction_id,store_id,transaction_type,loyalty_card_id,card_token_hash,"
    "payment_method,total_amount,transacted_at\n"
)


def test_pos_value_the_warehouse_refuses_is_set_aside_not_blocking(warehouse, tmp_path):
    """Rows PostgreSQL refuses used to fail the package on every run: now those rows go to the
    quarantine with the warehouse's reason, the rest of their file and the next files load, and
    the run says so. Values the loader's own checks catch (a number wider than numeric(18,4),
    a NUL byte) never reach the warehouse."""
    folder = tmp_path / "pos" / "transactions"
    folder.mkdir(parents=True)
    bucket = str(tmp_path / "pos")
    (folder / "transactions_2026-01-04.csv").write_text(
        TRANSACTIONS_HEADER + "A,S01,sale,,,cash,1.00,2026-01-04T10:00:00Z\n", encoding="utf-8"
    )
    assert load("pos", pos_source(bucket_url=bucket), warehouse, tmp_path).ok
    _refuse_store(warehouse, "S99")
    (folder / "transactions_2026-01-05.csv").write_text(
        TRANSACTIONS_HEADER + "B,S99,sale,,,cash,1.00,2026-01-05T10:00:00Z\n"
        "O,S01,sale,,,cash,100000000000000000000,2026-01-05T10:10:00Z\n"
        "N\x00,S01,sale,,,ca\x00sh,1.00,2026-01-05T10:30:00Z\n"
        "C,S01,sale,,,cash,2.00,2026-01-05T11:00:00Z\n",
        encoding="utf-8",
    )
    result = load("pos", pos_source(bucket_url=bucket), warehouse, tmp_path)
    assert result.ok, result.error
    assert result.rows["transactions"] == 1 and result.quarantined_new == 3
    assert len(result.set_aside) == 1 and "no_store_s99" in result.set_aside[0]
    reasons = dict(
        warehouse.query(
            "select record_key, reason from pos._quarantine where target_table = 'transactions'"
        )
    )
    assert reasons.keys() == {"B", "O", "N\\x00"}, reasons
    assert (
        reasons["B"].startswith("load refused: CheckViolation: ")
        and "no_store_s99" in (reasons["B"])
    )
    assert not reasons["O"].startswith("load refused") and "total_amount" in reasons["O"]

    # the next file loads, and a malformed line goes through dlt to the same _quarantine
    (folder / "transactions_2026-01-12.csv").write_text(
        TRANSACTIONS_HEADER + "D,S01,sale,,,cash,3.00,2026-01-12T10:00:00Z\nE,S01,sale\n",
        encoding="utf-8",
    )
    again = load("pos", pos_source(bucket_url=bucket), warehouse, tmp_path)
    assert again.ok, again.error
    assert again.rows["transactions"] == 1 and not again.set_aside and not again.recovered
    loaded = warehouse.query("select transaction_id from pos.transactions order by 1")
    assert loaded == [("A",), ("C",), ("D",)]
    assert quarantined(warehouse, "pos", "transactions") == 4
    assert again.quarantined_new == 1


def test_refused_load_file_in_another_format_is_quarantined_whole(warehouse, tmp_path):
    """Only CSV files are probed record by record; a file in another format (here dlt's
    insert_values) is quarantined as it is, and the source goes on."""
    folder = tmp_path / "pos" / "transactions"
    folder.mkdir(parents=True)
    pipelines = tmp_path / "pipelines"
    (folder / "transactions_2026-01-04.csv").write_text(
        TRANSACTIONS_HEADER + "Z,S01,sale,,,cash,1.00,2026-01-04T10:00:00Z\n", encoding="utf-8"
    )
    source = pos_source(bucket_url=str(tmp_path / "pos"))
    first = run_source("pos", source, warehouse, pipelines, loader_file_format="insert_values")
    assert first.ok, first.error
    _refuse_store(warehouse, "S99")
    (folder / "transactions_2026-01-05.csv").write_text(
        TRANSACTIONS_HEADER + "A,S01,sale,,,cash,1.00,2026-01-05T10:00:00Z\n"
        "B,S99,sale,,,cash,1.00,2026-01-05T10:00:00Z\n",
        encoding="utf-8",
    )
    source = pos_source(bucket_url=str(tmp_path / "pos"))
    result = run_source("pos", source, warehouse, pipelines, loader_file_format="insert_values")
    assert result.ok, result.error
    assert len(result.set_aside) == 1 and "quarantined whole" in result.set_aside[0]
    (payload,) = warehouse.query("select raw_payload from pos._quarantine")[0]
    assert "'S99'" in payload and "'A'" in payload


def test_set_aside_reads_csv_records_and_tells_data_errors_from_lost_connections():
    from ingestion.set_aside import csv_records, is_data_error

    text = '"id","note"\n"1","two\nlines, and ""quotes"""\n"2",""\n"3","last"'
    assert list(csv_records(text)) == [
        '"id","note"\n',
        '"1","two\nlines, and ""quotes"""\n',
        '"2",""\n',
        '"3","last"\n',
    ]
    assert is_data_error("psycopg2.errors.NumericValueOutOfRange: numeric field overflow")
    assert is_data_error("psycopg2.errors.CharacterNotInRepertoire: invalid byte sequence")
    assert is_data_error("psycopg2.errors.UniqueViolation: duplicate key value")
    assert not is_data_error("psycopg2.OperationalError: server closed the connection")
    assert not is_data_error("psycopg2.errors.AdminShutdown: terminating connection")
    assert not is_data_error(None)


def _load_killed_after_a_committed_copy(name, source, warehouse, tmp_path) -> int:
    """run_source in a forked child that dies (SIGKILL) right after its first COPY has
    committed, before dlt records the job as done: the moment of the issue's crash."""
    import os
    import signal

    pid = os.fork()
    if pid == 0:
        try:
            from dlt.destinations.impl.postgres.postgres import PostgresCsvCopyJob

            original = PostgresCsvCopyJob.run

            def run_then_die(self):
                original(self)
                os.kill(os.getpid(), signal.SIGKILL)

            PostgresCsvCopyJob.run = run_then_die
            load(name, source, warehouse, tmp_path)
        finally:
            os._exit(3)  # not killed: the test fails below
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else -1


def test_pos_killed_mid_load_is_completed_by_the_next_run(warehouse, demo_copy, tmp_path):
    """The issue's crash: kill -9 while the POS source loads. The next run used to fail for
    ever (UniqueViolation on _dlt_id), or, with the package moved away, report ok with the
    rows missing (the cursor had been saved with the package)."""
    import signal

    pos_dir = demo_copy / "pos"
    killed = _load_killed_after_a_committed_copy(
        "pos", pos_source(bucket_url=str(pos_dir)), warehouse, tmp_path
    )
    assert killed == signal.SIGKILL
    result = load("pos", pos_source(bucket_url=str(pos_dir)), warehouse, tmp_path)
    assert result.ok, result.error
    assert len(result.recovered) == 1 and "read again" in result.recovered[0]
    for table, key in (
        ("transactions", "transaction_id"),
        ("transaction_lines", "transaction_line_id"),
        ("loyalty_signups", "loyalty_card_id"),
    ):
        loaded = count(warehouse, f"pos.{table}")
        assert loaded == distinct(warehouse, f"pos.{table}", key), f"duplicates in {table}"
        assert loaded + quarantined(warehouse, "pos", table) == csv_data_lines(pos_dir / table)
    assert count(warehouse, "pos._quarantine") == distinct(
        warehouse, "pos._quarantine", "quarantine_id"
    )
    again = load("pos", pos_source(bucket_url=str(pos_dir)), warehouse, tmp_path)
    assert again.ok and sum(again.rows.values()) == 0 and not again.recovered


LOYALTY_HEADER_BEFORE = (
    "loyalty_card_id,first_name,last_name,date_of_birth,email,phone,address_line1,city,"
    "postcode,store_id,signed_up_at"
)


def _loyalty_drop(folder: Path, name: str, header: str, rows: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def test_pos_file_with_an_undeclared_column_loads_beside_typed_batches(warehouse, tmp_path):
    """Rows of declared columns go to dlt as Arrow batches, a file that brings a column the
    spec does not know as rows (dlt adds the column): both in one run, every row typed and
    loaded once, the new column reported as drift."""
    folder = tmp_path / "pos" / "loyalty_signups"

    def plain(day: int, ids: range) -> None:
        rows = [
            f"LC{i},Ann,Lee,1980-01-02,ann{i}@example.com,07700 900123,1 High St,Leeds,"
            f"LS1 1AA,S01,2026-01-{day:02d}T10:00:00Z"
            for i in ids
        ]
        _loyalty_drop(folder, f"loyalty_signups_2026-01-{day:02d}.csv", LOYALTY_HEADER_BEFORE, rows)

    plain(5, range(3))
    first = load("pos", pos_source(bucket_url=str(tmp_path / "pos")), warehouse, tmp_path)
    assert first.ok and first.rows["loyalty_signups"] == 3, first.error
    plain(7, range(3, 5))
    _loyalty_drop(
        folder,
        "loyalty_signups_2026-01-06.csv",
        LOYALTY_HEADER_BEFORE + ",favourite_colour",
        ["LC9,Bob,Ray,1975-03-04,,,2 Low Rd,York,YO1 7HH,S02,2026-01-06T09:30:00+01:00,teal"],
    )
    second = load("pos", pos_source(bucket_url=str(tmp_path / "pos")), warehouse, tmp_path)
    assert second.ok, second.error
    assert second.rows["loyalty_signups"] == 3 and second.quarantined_new == 0
    assert second.drift == ["loyalty_signups.favourite_colour"]
    assert warehouse.query(
        "select loyalty_card_id, date_of_birth, signed_up_at, favourite_colour "
        "from pos.loyalty_signups order by loyalty_card_id"
    ) == [
        *[
            (f"LC{i}", dt.date(1980, 1, 2), dt.datetime(2026, 1, day, 10, tzinfo=dt.UTC), None)
            for i, day in ((0, 5), (1, 5), (2, 5), (3, 7), (4, 7))
        ],
        ("LC9", dt.date(1975, 3, 4), dt.datetime(2026, 1, 6, 8, 30, tzinfo=dt.UTC), "teal"),
    ]
    assert distinct(warehouse, "pos.loyalty_signups", "_dlt_id") == 6
    assert warehouse.query(
        "select count(*) from pos.loyalty_signups where _dlt_id is null or _dlt_load_id is null"
    ) == [(0,)]


def test_pos_export_in_its_own_format_loads_as_configured(warehouse, tmp_path, monkeypatch):
    """A till system's export: Latin-1, semicolons, day-first dates, local naive times, its own
    column names. Its format set in dlt's configuration (here the environment) loads it whole;
    a date no pattern reads is quarantined (as received, under the file's names), not
    guessed."""
    for setting, value in (
        ("ENCODING", "latin-1"),
        ("DELIMITER", ";"),
        ("DATE_FORMATS", '["%d/%m/%Y", "%d.%m.%Y"]'),
        ("TIMESTAMP_FORMATS", '["%d/%m/%Y %H:%M"]'),
        ("TIMEZONE", "Europe/Berlin"),
        (
            "COLUMN_NAMES",
            '{"loyalty_signups": {"Kartennummer": "loyalty_card_id", "Geburtsdatum": '
            '"date_of_birth"}}',
        ),
    ):
        monkeypatch.setenv(f"SOURCES__POS__{setting}", value)
    folder = tmp_path / "pos" / "loyalty_signups"
    folder.mkdir(parents=True)
    # its own names for two columns (the `column_names` setting maps them)
    header = (
        LOYALTY_HEADER_BEFORE.replace(",", ";")
        .replace("loyalty_card_id", "Kartennummer")
        .replace("date_of_birth", "Geburtsdatum")
    )
    rows = [
        "LC1;José;Müller;02/01/1980;;;Hauptstraße 1;Köln;50667;S01;05/07/2026 10:30",
        "LC2;Anna;Groß;24.12.1975;;;Ring 2;Bonn;53111;S01;2026-07-05T10:30:00Z",
        "LC3;Eva;Weiß;1975-13-45;;;Ring 3;Bonn;53111;S01;05/07/2026 11:00",
    ]
    (folder / "loyalty_signups_2026-07-05.csv").write_bytes(
        "\n".join([header, *rows, ""]).encode("latin-1")
    )
    result = load("pos", pos_source(bucket_url=str(tmp_path / "pos")), warehouse, tmp_path)
    assert result.ok, result.error
    assert result.rows["loyalty_signups"] == 2 and result.quarantined_new == 1
    assert warehouse.query(
        "select loyalty_card_id, first_name, last_name, city, date_of_birth, signed_up_at "
        "from pos.loyalty_signups order by loyalty_card_id"
    ) == [
        (
            "LC1",
            "José",
            "Müller",
            "Köln",
            dt.date(1980, 1, 2),
            dt.datetime(2026, 7, 5, 8, 30, tzinfo=dt.UTC),
        ),
        (
            "LC2",
            "Anna",
            "Groß",
            "Bonn",
            dt.date(1975, 12, 24),
            dt.datetime(2026, 7, 5, 10, 30, tzinfo=dt.UTC),
        ),
    ]
    ((reason, payload),) = warehouse.query(
        "select reason, raw_payload from pos._quarantine where record_key = 'LC3'"
    )
    assert "date_of_birth: not a date (ISO 8601 or %d/%m/%Y, %d.%m.%Y)" in reason
    assert "Geburtsdatum" in str(payload)

    monkeypatch.setenv("SOURCES__POS__COLUMN_NAMES", '{"loyalty_signups": {"Karte": "card"}}')
    with pytest.raises(ValueError, match="'Karte' maps to 'card', which loyalty_signups does not"):
        pos_source(bucket_url=str(tmp_path / "pos"))
    monkeypatch.setenv("SOURCES__POS__COLUMN_NAMES", '{"signups": {"Karte": "loyalty_card_id"}}')
    with pytest.raises(ValueError, match="column_names: no table 'signups'"):
        pos_source(bucket_url=str(tmp_path / "pos"))
    monkeypatch.delenv("SOURCES__POS__COLUMN_NAMES")
    monkeypatch.setenv("SOURCES__POS__TIMEZONE", "Europe/Nowhere")
    with pytest.raises(ValueError, match="timezone: not a time zone name"):
        pos_source(bucket_url=str(tmp_path / "pos"))


def test_pos_loyalty_signups_load_with_and_without_address_line2_and_country(
    warehouse, tmp_path, monkeypatch
):
    """address_line2 and country_code are optional: an export without them still loads (both
    null), including into a table created before the spec had them (dlt adds the columns)."""
    from ingestion.quarantine import TableSpec
    from ingestion.sources.pos.settings import LOYALTY_SIGNUPS, POS_TABLES

    folder = tmp_path / "pos" / "loyalty_signups"
    bucket = str(tmp_path / "pos")
    _loyalty_drop(
        folder,
        "loyalty_signups_2026-01-05.csv",
        LOYALTY_HEADER_BEFORE,
        [
            "LC1,Ann,Lee,1980-01-02,ann@example.com,07700 900123,1 High St,Leeds,LS1 1AA,S01,"
            "2026-01-05T10:00:00Z"
        ],
    )
    # first loaded by the spec without the two columns, as a warehouse from before them
    before = [c for c in LOYALTY_SIGNUPS.columns if c.name not in ("address_line2", "country_code")]
    old_spec = TableSpec("pos", "loyalty_signups", before, ["loyalty_card_id"])
    spec, glob, disposition = POS_TABLES["loyalty_signups"]
    monkeypatch.setitem(POS_TABLES, "loyalty_signups", (old_spec, glob, disposition))
    first = load("pos", pos_source(bucket_url=bucket), warehouse, tmp_path)
    assert first.ok, first.error
    monkeypatch.setitem(POS_TABLES, "loyalty_signups", (spec, glob, disposition))

    _loyalty_drop(
        folder,
        "loyalty_signups_2026-01-12.csv",
        "loyalty_card_id,first_name,last_name,date_of_birth,email,phone,address_line1,"
        "address_line2,city,postcode,country_code,store_id,signed_up_at",
        [
            "LC2,Bob,Ray,1975-03-04,,0412 345 678,12 Miller Pl,Wylarah,Sydney,2000,AU,FEBRL,"
            "2026-01-12T10:00:00Z",
            "LC3,Cat,Fox,,,,3 Low Rd,,York,YO1 7HH,,S02,2026-01-12T11:00:00Z",
        ],
    )
    _loyalty_drop(
        folder,
        "loyalty_signups_2026-01-19.csv",
        LOYALTY_HEADER_BEFORE,
        ["LC4,Dan,Poe,,,,,Leeds,LS2 9JT,S01,2026-01-19T10:00:00Z"],
    )
    second = load("pos", pos_source(bucket_url=bucket), warehouse, tmp_path)
    assert second.ok, second.error
    assert second.rows["loyalty_signups"] == 3 and second.quarantined_new == 0
    assert sorted(second.drift) == ["loyalty_signups.address_line2", "loyalty_signups.country_code"]
    assert warehouse.query(
        "select loyalty_card_id, address_line2, country_code from pos.loyalty_signups "
        "order by loyalty_card_id"
    ) == [
        ("LC1", None, None),
        ("LC2", "Wylarah", "AU"),
        ("LC3", None, None),
        ("LC4", None, None),
    ]

    again = load("pos", pos_source(bucket_url=bucket), warehouse, tmp_path)
    assert again.ok and sum(again.rows.values()) == 0 and again.quarantined_new == 0
    assert (
        count(warehouse, "pos.loyalty_signups")
        == 4
        == distinct(warehouse, "pos.loyalty_signups", "loyalty_card_id")
    )

    # a new warehouse whose exports all lack them has both columns too (the staging model
    # reads them)
    old_only = tmp_path / "old_only" / "loyalty_signups"
    _loyalty_drop(
        old_only,
        "loyalty_signups_2026-01-05.csv",
        LOYALTY_HEADER_BEFORE,
        ["LC9,Eve,Kay,,,,,Leeds,LS1 1AA,S01,2026-01-05T10:00:00Z"],
    )
    fresh = load("pos_fresh", pos_source(bucket_url=str(old_only.parent)), warehouse, tmp_path)
    assert fresh.ok, fresh.error
    assert warehouse.query(
        "select loyalty_card_id, address_line2, country_code from pos_fresh.loyalty_signups"
    ) == [("LC9", None, None)]


# ----------------------------------------------------------------------------- web


def test_web_events_load_quarantine_and_reload(warehouse, demo_copy, tmp_path):
    web_dir = demo_copy / "web"
    lines = sum(1 for p in (web_dir / "events").glob("*.jsonl") for ln in p.open() if ln.strip())
    result = load("web", web_source(bucket_url=str(web_dir)), warehouse, tmp_path)
    assert result.ok, result.error
    loaded, bad = count(warehouse, "web.events"), quarantined(warehouse, "web", "events")
    assert bad >= 1 and loaded + bad == lines
    assert loaded == distinct(warehouse, "web.events", "event_id")
    reasons = [r for (r,) in warehouse.query("select reason from web._quarantine")]
    assert any(r.startswith("invalid JSON") for r in reasons)

    newest = sorted((web_dir / "events").glob("*.jsonl"))[-1]
    with newest.open("a", encoding="utf-8") as f:  # the file grows: re-read, no duplicates
        f.write(
            json.dumps(
                {
                    "event_id": "late-1",
                    "event_type": "page_view",
                    "cookie_id": "c",
                    "account_id": None,
                    "page_url": "/",
                    "product_sku": None,
                    "occurred_at": "2020-01-01T00:00:00Z",
                }
            )
            + "\n"
        )
    again = load("web", web_source(bucket_url=str(web_dir)), warehouse, tmp_path)
    assert again.ok, again.error
    assert again.rows["events"] == 1
    assert count(warehouse, "web.events") == loaded + 1
    assert quarantined(warehouse, "web", "events") == bad


# ----------------------------------------------------------------------------- helpdesk


def helpdesk(server):
    return helpdesk_source(base_url=f"{server.url}/helpdesk/api/v2", token="test-token")


def _tickets(demo: Path) -> list[dict]:
    return json.loads((demo / "helpdesk" / "tickets.json").read_text())


def test_helpdesk_load_incremental_and_quarantine(warehouse, api_server, demo_copy, tmp_path):
    tickets = _tickets(demo_copy)
    result = load("helpdesk", helpdesk(api_server), warehouse, tmp_path)
    assert result.ok, result.error
    loaded, bad = (
        count(warehouse, "helpdesk.tickets"),
        quarantined(warehouse, "helpdesk", "tickets"),
    )
    assert bad >= 1 and loaded + bad == len(tickets)
    assert loaded == distinct(warehouse, "helpdesk.tickets", "ticket_id")

    api_server.request_log.clear()
    again = load("helpdesk", helpdesk(api_server), warehouse, tmp_path)
    assert again.ok and again.rows["tickets"] == 0 and again.quarantined_new == 0
    assert count(warehouse, "helpdesk.tickets") == loaded
    # the second run asked only for tickets updated since the last one seen
    assert all("updated_since=1970" not in path for _, path, _ in api_server.request_log)

    good = next(t for t in tickets if isinstance(t.get("ticket_id"), int))
    changed = dict(good, status="closed", updated_at="2099-01-01T00:00:00Z")
    new = dict(good, ticket_id=10_000_001, updated_at="2099-01-01T00:00:01Z")
    api_server.upsert("tickets", [changed, new])
    third = load("helpdesk", helpdesk(api_server), warehouse, tmp_path)
    assert third.ok, third.error
    assert third.rows["tickets"] == 2
    assert count(warehouse, "helpdesk.tickets") == loaded + 1
    assert warehouse.query(
        "select status from helpdesk.tickets where ticket_id = %s", (good["ticket_id"],)
    ) == [("closed",)]


def test_helpdesk_retries_500_and_429_with_retry_after(warehouse, api_server, tmp_path):
    api_server.inject_fault("/helpdesk", status=500, times=2)
    api_server.inject_fault("/helpdesk", status=429, times=1, retry_after=1)
    result = load("helpdesk", helpdesk(api_server), warehouse, tmp_path)
    assert result.ok, result.error
    statuses = [status for _, _, status in api_server.request_log]
    assert statuses.count(500) == 2 and statuses.count(429) == 1
    assert count(warehouse, "helpdesk.tickets") == distinct(
        warehouse, "helpdesk.tickets", "ticket_id"
    )


def test_helpdesk_timeout_is_retried(warehouse, api_server, tmp_path):
    api_server.inject_fault("/helpdesk", status=200, times=1, delay=3.0)  # client timeout is 2 s
    result = load("helpdesk", helpdesk(api_server), warehouse, tmp_path)
    assert result.ok, result.error
    assert count(warehouse, "helpdesk.tickets") > 0


def test_helpdesk_dies_mid_run_then_next_run_resumes(warehouse, api_server, demo_copy, tmp_path):
    tickets = _tickets(demo_copy)
    # page 3 onwards fails more often than the client retries: the run dies mid-way
    api_server.inject_fault("/helpdesk", status=500, times=50, after_requests=2)
    failed = load("helpdesk", helpdesk(api_server), warehouse, tmp_path)
    assert not failed.ok and "500" in failed.error
    exists = warehouse.query("select to_regclass('helpdesk.tickets')")[0][0]
    assert exists is None or count(warehouse, "helpdesk.tickets") == 0  # nothing half-loaded

    api_server.clear_faults()
    resumed = load("helpdesk", helpdesk(api_server), warehouse, tmp_path)
    assert resumed.ok, resumed.error
    loaded, bad = (
        count(warehouse, "helpdesk.tickets"),
        quarantined(warehouse, "helpdesk", "tickets"),
    )
    assert loaded + bad == len(tickets)
    assert loaded == distinct(warehouse, "helpdesk.tickets", "ticket_id")


def test_helpdesk_bad_token_is_a_clear_failure(warehouse, api_server, tmp_path):
    source = helpdesk_source(base_url=f"{api_server.url}/helpdesk/api/v2", token="wrong")
    result = load("helpdesk", source, warehouse, tmp_path)
    assert not result.ok and "401" in result.error


# ----------------------------------------------------------------------------- esp


def esp(server):
    return esp_source(base_url=f"{server.url}/esp/v1", token="test-token", page_size=100)


def test_esp_contacts_and_events(warehouse, api_server, demo_copy, tmp_path):
    contacts = json.loads((demo_copy / "esp" / "contacts.json").read_text())
    events = json.loads((demo_copy / "esp" / "events.json").read_text())
    result = load("esp", esp(api_server), warehouse, tmp_path)
    assert result.ok, result.error
    assert count(warehouse, "esp.contacts") + quarantined(warehouse, "esp", "contacts") == len(
        contacts
    )
    loaded_events, bad_events = (
        count(warehouse, "esp.events"),
        quarantined(warehouse, "esp", "events"),
    )
    assert bad_events >= 1 and loaded_events + bad_events == len(events)
    assert loaded_events == distinct(warehouse, "esp.events", "event_id")

    again = load("esp", esp(api_server), warehouse, tmp_path)
    assert again.ok and sum(again.rows.values()) == 0
    assert count(warehouse, "esp.events") == loaded_events  # append + cursor: no duplicates

    last = max((e for e in events if e.get("event_id")), key=lambda e: e["occurred_at"])
    api_server.upsert(
        "events", [dict(last, event_id="new-evt-1", occurred_at="2099-01-01T00:00:00Z")]
    )
    third = load("esp", esp(api_server), warehouse, tmp_path)
    assert third.ok and third.rows["events"] == 1


def test_esp_dies_mid_run_then_resumes_without_duplicates(
    warehouse, api_server, demo_copy, tmp_path
):
    events = json.loads((demo_copy / "esp" / "events.json").read_text())
    api_server.inject_fault("/esp/v1/events", status=0, times=50, after_requests=1)
    failed = load("esp", esp(api_server), warehouse, tmp_path)
    assert not failed.ok
    api_server.clear_faults()
    resumed = load("esp", esp(api_server), warehouse, tmp_path)
    assert resumed.ok, resumed.error
    assert count(warehouse, "esp.events") + quarantined(warehouse, "esp", "events") == len(events)
    assert count(warehouse, "esp.events") == distinct(warehouse, "esp.events", "event_id")


# ----------------------------------------------------------------------------- server paths


def test_shop_urls_get_the_installed_driver_and_servers_read_through_connectorx():
    """postgresql:// and mysql:// name SQLAlchemy's default drivers (psycopg 3, mysqlclient),
    which are not installed: a user's plain URL must still work."""
    import sqlalchemy as sa

    from ingestion.sources.shop import default_backend, with_driver

    for url, driver in (
        ("postgresql://shop@db.example:5432/shop?sslmode=require", "postgresql+psycopg2"),
        ("mysql://root@127.0.0.1:3306/shop", "mysql+pymysql"),
        ("mariadb://root@127.0.0.1/shop", "mariadb+pymysql"),
        ("postgresql+psycopg2://shop@db/shop", "postgresql+psycopg2"),
        ("sqlite:///shop.sqlite", "sqlite"),
    ):
        parsed = with_driver(url)
        assert parsed.drivername == driver
        assert parsed.set(drivername="x") == sa.make_url(url).set(drivername="x")  # the rest kept
        engine = sa.create_engine(parsed)  # importable driver
        expected = "pyarrow" if driver == "sqlite" else "connectorx"
        assert default_backend(engine) == expected


def _loads_server_shop_value_for_value(warehouse, tmp_path, shop_url):
    """A server database loads through connectorx by default, value for value."""
    import sqlalchemy as sa

    from ingestion.sources.shop import default_backend, with_driver

    source_db = sa.create_engine(with_driver(shop_url))
    assert default_backend(source_db) == "connectorx"
    result = load("shop", shop_source(credentials=shop_url), warehouse, tmp_path)
    assert result.ok, result.error
    # every amount to the cent and every time to the second, as the source holds them
    query = "select order_id, total_amount, shipping_amount, ordered_at from orders"
    with source_db.connect() as connection:
        expected = sorted(tuple(row) for row in connection.execute(sa.text(query)))
    loaded = sorted(
        (order_id, total, shipping, ordered_at.astimezone(dt.UTC).replace(tzinfo=None))
        for order_id, total, shipping, ordered_at in warehouse.query(
            query.replace("from orders", "from shop.orders")
        )
    )
    assert loaded == expected and any(total % 1 for _, total, _, _ in expected)
    return result


@pytest.mark.server
def test_shop_loads_from_postgresql(warehouse, demo_copy, tmp_path, postgres_shop_url):
    _loads_server_shop_value_for_value(warehouse, tmp_path, postgres_shop_url)
    again = load("shop", shop_source(credentials=postgres_shop_url), warehouse, tmp_path)
    assert again.ok and sum(again.rows.values()) == 0


@pytest.mark.server
def test_shop_loads_from_mariadb(warehouse, demo_copy, tmp_path, mariadb_shop_url):
    _loads_server_shop_value_for_value(warehouse, tmp_path, mariadb_shop_url)
    db = sqlite3.connect(demo_copy / "shop.sqlite")
    for table in ("accounts", "orders", "products", "marketing_preferences"):
        assert (
            count(warehouse, f"shop.{table}")
            == db.execute(f"select count(*) from {table}").fetchone()[0]
        ), table
    bad = db.execute("select count(*) from order_lines where order_id is null").fetchone()[0]
    assert quarantined(warehouse, "shop", "order_lines") == bad
    again = load("shop", shop_source(credentials=mariadb_shop_url), warehouse, tmp_path)
    assert again.ok and sum(again.rows.values()) == 0


def test_shop_small_chunks_with_differing_arrow_schemas_load(warehouse, demo_copy, tmp_path):
    """Chunks where a column is all NULL or numbers differ in precision must still load."""
    result = load("shop", shop(demo_copy, chunk_size=7), warehouse, tmp_path)
    assert result.ok, result.error
    db = sqlite3.connect(demo_copy / "shop.sqlite")
    for table in ("accounts", "returns", "orders"):
        assert (
            count(warehouse, f"shop.{table}")
            == db.execute(f"select count(*) from {table}").fetchone()[0]
        ), table
