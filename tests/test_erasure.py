"""Erasure that holds and contact points that may be used (docs/erasure.md): `ciw forget` by
any identifier of any record, refusing a value that matches nobody; the sync engine checks
erasure, placeholders and hard bounces at send time; `--erase` leaves the person's email, phone
and name nowhere (every text column of every schema, every file under the warehouse home),
also after a rebuild and a re-load of the same source rows."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sqlite3
from pathlib import Path

import pytest

from ciw import cli
from ciw.demo.receivers import ChannelReceivers
from reverse_etl.config import load_syncs
from reverse_etl.engine import SyncEngine

pytestmark = pytest.mark.serverpath

ROOT = Path(__file__).absolute().parent.parent
MACRO = ROOT / "macros" / "intelligence" / "create_reverse_etl_tables.sql"
EMAIL = """
defaults: {batch_size: 10, max_retries: 1, timeout_seconds: 1, rate_limit_per_second: 0}
syncs:
  - name: welcome_email
    audience: audience_welcome
    filter: {channel: email}
    kind: message
    connector: {type: email_service, url: URL/email}
    fields: {email: contact_point, first_name: first_name, template: "=welcome"}
"""


def _ledger_ddl() -> str:
    """The reverse-ETL tables as dbt's on-run-start creates them (the macro, jinja removed)."""
    text = re.sub(r"\{#.*?#\}", "", MACRO.read_text(), flags=re.S)
    return re.sub(r"\{%.*?%\}", "", text, flags=re.S)


# --------------------------------------------------------------------------- send time


@pytest.fixture
def audience_wh(warehouse):
    warehouse.query(_ledger_ddl())
    warehouse.query(
        "create schema marts; create table marts.audience_welcome (idempotency_key text, "
        "customer_id bigint, channel text, contact_point text, first_name text, reason text);"
        "insert into marts.audience_welcome values "
        "('welcome:1', 1, 'email', 'ann@example.org', 'Ann', 'e1'),"
        "('welcome:2', 2, 'email', 'test@test.com', 'Placeholder', 'e2'),"
        "('welcome:3', 3, 'email', 'bounced@example.org', 'Bo', 'e3'),"
        "('welcome:4', 4, 'email', 'gone@example.org', 'Gone', 'e4'),"
        "('welcome:5', 5, 'email', 'asked@example.org', 'Asked', 'e5');"
        "create schema reference; create table reference.identifier_blocklist "
        "(identifier_type text, identifier_value text, reason text);"
        "insert into reference.identifier_blocklist values ('email', 'test@test.com', 'x');"
        "create schema staging; create table staging.stg_esp__events "
        "(event_type text, email_normalized text);"
        "insert into staging.stg_esp__events values ('bounce', 'bounced@example.org');"
    )
    return warehouse


def test_the_engine_checks_erasure_placeholders_and_bounces_at_send_time(audience_wh, tmp_path):
    """The audience was built before customer 4 was forgotten (tombstone) and customer 5 asked
    by email (request): neither gets the message, nor the placeholder or the bounced address."""
    digest = hashlib.sha256(b"email:gone@example.org").hexdigest()  # as ciw forget writes
    audience_wh.query(
        "create table if not exists reverse_etl.erasure_tombstones (tombstone_sha256 text "
        "primary key, identifier_type text not null, erasure_id bigint not null);"
        "insert into reverse_etl.erasure_tombstones values (%s, 'email', 1)",
        (digest,),
    )
    audience_wh.query(
        "insert into reverse_etl.erasure_requests (email) values ('Asked@Example.org')"
    )
    with ChannelReceivers(secret="test-secret") as receivers:
        config = tmp_path / "syncs.yml"
        config.write_text(EMAIL.replace("URL", receivers.url))
        (sync,) = load_syncs(config)
        engine = SyncEngine(audience_wh.connect, lambda name: f"marts.{name}", sleep=lambda s: None)
        engine.ensure_tables()
        result = engine.run(sync)
        delivered = {d.data.get("email") for d in receivers.delivered("email")}
    assert delivered == {"ann@example.org"}
    assert result.sent == 1
    assert result.suppressed == {"blocklisted": 1, "hard_bounced": 1, "erased": 2}


def test_erase_scrubs_outbox_files_crm_tables_and_dlt_packages(tmp_path):
    """The files under the warehouse home: loaded dlt packages go, pending ones lose the
    person's lines, outbox CSV files and SQLite tables lose their rows (by the ledger's keys,
    the customer id or a contact point); the demo's source files stay."""
    import sqlite3

    from ciw.erasure import Needles, Person, phone_pattern, scrub_files

    home = tmp_path / "home"
    loaded = home / "dlt_pipelines" / "ciw_shop" / "load" / "loaded" / "1" / "completed_jobs"
    pending = home / "dlt_pipelines" / "ciw_shop" / "load" / "normalized" / "2" / "new_jobs"
    post = home / "outbox" / "welcome_post"
    for folder in (loaded, pending, post, home / "demo"):
        folder.mkdir(parents=True)
    (loaded / "accounts.csv").write_text("account_id,email\n7,ann@example.org\n")
    (pending / "accounts.csv").write_text(
        "account_id,email,phone\n7,Ann@Example.org,\n8,bob@example.org,07700 900123\n9,c@x.org,\n"
    )
    (post / "welcome_post-1.csv").write_text(
        "key,op,address,first_name\nwelcome:7,upsert,1 high st,Ann\nwelcome:9,upsert,9 low st,Cy\n"
    )
    (home / "demo" / "accounts.csv").write_text("ann@example.org\n")
    crm = sqlite3.connect(home / "outbox" / "crm.sqlite")
    crm.execute("create table win_back_call_list (record_key text, first_name text)")
    crm.executemany("insert into win_back_call_list values (?, ?)", [("7", "Ann"), ("9", "Cy")])
    crm.commit()
    crm.close()
    person = Person("email", customer_ids=[7], record_keys=["shop:accounts:7"])
    needles = Needles(["ann@example.org"], [phone_pattern("7700900123")])
    changed = scrub_files(home, person, needles, {"welcome:7"})
    assert len(changed) == 4
    assert not loaded.exists()
    assert (pending / "accounts.csv").read_text() == "account_id,email,phone\n9,c@x.org,\n"
    assert "welcome:7" not in (post / "welcome_post-1.csv").read_text()
    assert "welcome:9" in (post / "welcome_post-1.csv").read_text()
    crm = sqlite3.connect(home / "outbox" / "crm.sqlite")
    assert crm.execute("select record_key from win_back_call_list").fetchall() == [("9",)]
    crm.close()
    assert (home / "demo" / "accounts.csv").read_text() == "ann@example.org\n"


# --------------------------------------------------------------------------- the demo


def _ciw(*args: str) -> int:
    return cli.main(list(args))


def test_forget_refuses_a_value_that_matches_nobody(demo_warehouse, capsys):
    wh = demo_warehouse.warehouse
    assert _ciw("forget", "--email", "nobody-at-all@example.invalid") == 1
    assert "nobody matched" in capsys.readouterr().out
    assert wh.query("select count(*) from reverse_etl.erasure_requests") == [(0,)]


def test_forget_finds_the_customer_by_any_identifier_of_any_record(demo_warehouse, capsys):
    """An email that is not the golden one, a phone written the national way, a shop account
    and a loyalty card each find their customer; the audiences drop them at the next build."""
    wh = demo_warehouse.warehouse
    rows = wh.query(
        "with held as (select identifiers.identifier_type, identifiers.identifier_value, "
        "min(identity_map.customer_id) as customer_id, count(distinct "
        "identity_map.customer_id) as holders from marts.identity_map inner join "
        "matched.int_identifiers_unpivoted as identifiers on identifiers.record_key = "
        "identity_map.source_system || ':' || identity_map.source_table || ':' || "
        "identity_map.source_record_id where identifiers.is_current group by 1, 2) "
        "select held.customer_id, held.identifier_type, min(held.identifier_value) from held "
        "inner join marts.dim_customers using (customer_id) where held.holders = 1 "
        "and held.identifier_value is distinct from dim_customers.email "
        "and held.identifier_type in ('email', 'phone', 'account', 'loyalty_card') "
        "group by 1, 2 order by 2, 1"
    )
    chosen = {}
    for customer_id, kind, value in rows:
        chosen.setdefault(kind, (customer_id, value))
    assert set(chosen) == {"email", "phone", "account", "loyalty_card"}
    for kind, (customer_id, value) in sorted(chosen.items()):
        if kind == "phone":  # +447700900123 as the person would write it: 07700 900123
            value = "0" + value.removeprefix("+44")[:4] + " " + value.removeprefix("+44")[4:]
        option = "--" + kind.replace("_", "-")
        assert _ciw("forget", option, value) == 0, (kind, value)
        assert f"matched customer(s) {customer_id}" in capsys.readouterr().out, kind


def test_golden_records_carry_no_placeholder(demo_warehouse_readonly):
    wh = demo_warehouse_readonly.warehouse
    rows = wh.query(
        "select count(*) from marts.dim_customers as customers inner join "
        "reference.identifier_blocklist as blocklist on lower(blocklist.identifier_value) in "
        "(customers.email, customers.phone)"
    )
    assert rows == [(0,)]


def test_a_forget_between_build_and_sync_sends_nothing(demo_warehouse, capsys):
    """Customer X's message is due (their ledger row removed: as after a new build); they are
    forgotten by email before `ciw sync`: the sync sends them nothing."""
    wh = demo_warehouse.warehouse
    customer_id, key = wh.query(
        "select customer_id, idempotency_key from reverse_etl.send_ledger "
        "where status = 'sent' and channel = 'email' order by customer_id limit 1"
    )[0]
    (email,) = wh.query(
        "select email from marts.dim_customers where customer_id = %s", (customer_id,)
    )[0]
    wh.query("delete from reverse_etl.send_ledger where idempotency_key = %s", (key,))
    assert _ciw("forget", "--email", email.upper()) == 0
    forgotten = capsys.readouterr().out
    assert _ciw("sync", "--demo") == 0
    synced = capsys.readouterr().out
    assert wh.query(
        "select count(*) from reverse_etl.send_ledger where customer_id = %s", (customer_id,)
    ) == [(0,)]
    assert f"matched customer(s) {customer_id}" in forgotten
    # the summary says what the send-time check held back, and why
    assert "held back at send time: erased" in synced, synced


def test_an_opt_out_loaded_between_build_and_sync_stops_that_channel(demo_warehouse, capsys):
    """Customer X's email is due (their ledger row removed: as after a new build). X opts out
    of email in the shop, and the shop is loaded again without a build: the sync sends X no
    email, and its summary says why."""
    wh = demo_warehouse.warehouse
    customer_id, key, account_id = wh.query(
        "select ledger.customer_id, ledger.idempotency_key, identities.source_record_id "
        "from reverse_etl.send_ledger as ledger inner join marts.identity_map as identities "
        "on identities.customer_id = ledger.customer_id and identities.source_system = 'shop' "
        "and identities.source_table = 'accounts' "
        "where ledger.status = 'sent' and ledger.channel = 'email' order by 1, 3 limit 1"
    )[0]
    wh.query("delete from reverse_etl.send_ledger where idempotency_key = %s", (key,))
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    with sqlite3.connect(demo_warehouse.home / "demo" / "shop.sqlite") as shop:
        shop.execute(
            "insert or replace into marketing_preferences values (?, 'email', 0, ?)",
            (int(account_id), now),
        )
    assert _ciw("load", "--demo", "shop") == 0
    capsys.readouterr()
    assert _ciw("sync", "--demo") == 0
    synced = capsys.readouterr().out
    assert wh.query(
        "select count(*) from reverse_etl.send_ledger where customer_id = %s and channel = 'email'",
        (customer_id,),
    ) == [(0,)]
    assert "held back at send time: opted_out" in synced, synced


def _text_columns(wh) -> list[tuple[str, str, str]]:
    return wh.query(
        "select columns.table_schema, columns.table_name, columns.column_name "
        "from information_schema.columns inner join information_schema.tables on "
        "columns.table_schema = tables.table_schema and columns.table_name = tables.table_name "
        "where columns.table_schema not in ('pg_catalog', 'information_schema') "
        "and columns.data_type in ('text', 'character varying', 'jsonb', 'json', 'ARRAY') "
        "order by 1, 2, 3"
    )


def _occurrences(wh, emails: list[str], phone: str, first_names: list[str], last_name: str) -> list:
    """(schema, table, rows) of every table or view with a row holding one of the emails, the
    phone (however written), "<first> <last>" in one column or the first and last names in two
    columns of the same row."""
    by_table: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in _text_columns(wh):
        by_table.setdefault((schema, table), []).append(f'lower("{column}"::text)')
    full_names = [f"%{first} {last_name}%" for first in first_names]
    hits = []
    for (schema, table), values in sorted(by_table.items()):
        conditions, params = [], []
        for value in values:
            conditions.append(f"{value} like any(%s) or {value} like any(%s) or {value} ~ %s")
            params += [[f"%{e}%" for e in emails], full_names, phone]
        any_first = " or ".join(f"{value} = any(%s)" for value in values)
        any_last = " or ".join(f"{value} = %s" for value in values)
        conditions.append(f"(({any_first}) and ({any_last}))")
        params += [first_names] * len(values) + [last_name] * len(values)
        found = wh.query(
            f'select count(*) from "{schema}"."{table}" where {" or ".join(conditions)}', params
        )[0][0]
        if found:
            hits.append((schema, table, found))
    return hits


def _files_holding(home: Path, emails: list[str], phone: str, full_names: list[str]) -> list[str]:
    hits = []
    for path in home.rglob("*"):
        if not path.is_file() or path.is_relative_to(home / "demo"):
            continue  # the demo's source systems: the sources' data, loaded again below
        if path.is_relative_to(home / "pgdata"):
            continue  # an embedded server's files: its tables are scanned above
        text = path.read_bytes().decode("latin-1").lower()
        if any(n in text for n in [*emails, *full_names]) or re.search(phone, text):
            hits.append(str(path.relative_to(home)))
    return hits


def test_erase_leaves_nothing_after_a_rebuild_and_a_reload(demo_warehouse, capsys):
    """A customer with two emails, a phone and a last name nobody else has, forgotten by the
    email that is not on the golden record, with --erase. Then the shop sends all its rows
    again (its pipeline state reset: every account and checkout extracted again) and
    `ciw run` loads, builds and syncs: the email, phone and name are in no column of any table
    or view and in no file under the warehouse home."""
    from ciw.erasure import digits, phone_pattern

    wh = demo_warehouse.warehouse
    home = demo_warehouse.home
    candidates = wh.query(
        "with records as (select identity_map.customer_id, records.* from marts.identity_map "
        "inner join matched.int_identity_records_unioned as records on records.record_key = "
        "identity_map.source_system || ':' || identity_map.source_table || ':' || "
        "identity_map.source_record_id), "
        "names as (select first_name_normalized, last_name_normalized, "
        "count(distinct customer_id) as holders from records group by 1, 2) "
        "select records.customer_id, array_agg(distinct records.email_normalized) "
        "filter (where records.email_normalized is not null), max(records.phone_e164), "
        "array_agg(distinct records.first_name_normalized) filter (where "
        "records.first_name_normalized is not null), max(records.last_name_normalized) "
        "from records inner join names on names.first_name_normalized = "
        "records.first_name_normalized and names.last_name_normalized = "
        "records.last_name_normalized group by 1 "
        "having count(distinct records.email_normalized) >= 2 and max(records.phone_e164) "
        "is not null and bool_or(records.source_system = 'shop') and max(names.holders) = 1 "
        "and count(distinct records.last_name_normalized) = 1 order by 1 limit 1"
    )
    assert candidates, "the demo has a customer with two emails, a phone and a unique name"
    customer_id, emails, phone, first_names, last_name = candidates[0]
    (golden,) = wh.query(
        "select email from marts.dim_customers where customer_id = %s", (customer_id,)
    )[0]
    second = next(e for e in emails if e != golden)
    phone_regex = phone_pattern(digits(phone)[-10:])
    full_names = [f"{first} {last_name}" for first in first_names]
    assert _occurrences(wh, emails, phone_regex, first_names, last_name)  # the scan finds them

    assert _ciw("forget", "--email", second, "--erase") == 0
    out = capsys.readouterr().out
    assert f"matched customer(s) {customer_id}" in out
    assert _occurrences(wh, emails, phone_regex, first_names, last_name) == []
    assert _files_holding(home, emails, phone_regex, full_names) == []
    audit = wh.query(
        "select mode, customer_count, completed_at is not null from reverse_etl.erasures"
    )
    assert audit == [("erase", 1, True)]

    # the source sends the same rows again: the shop's state reset, every row extracted again
    wh.query("delete from shop._dlt_pipeline_state")
    import shutil

    shutil.rmtree(home / "dlt_pipelines" / "ciw_shop")
    assert _ciw("run", "--customers", "250", "--quiet") == 0
    assert wh.query("select count(*) from shop.accounts")[0][0] > 0
    assert _occurrences(wh, emails, phone_regex, first_names, last_name) == []
    assert _files_holding(home, emails, phone_regex, full_names) == []
