"""Incremental identity resolution gives the same answer as a build from scratch.

A small demo is built, then a batch of source changes that exercise every way an incremental
run can go wrong is loaded: a new person, a record that merges two customers, a family email
that a third and fourth person start using (its link must disappear and the customer split),
an account that changes its email, namesakes moving into a household (the address rule must
stop linking it), and a payment card used with a second loyalty card. After the incremental
run, the links, identifier judgements and clusters must equal those of a --full-refresh of the
matched layer on the same data, and customers the changes did not touch keep their ids."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from ciw import cli

pytestmark = [pytest.mark.slow, pytest.mark.serverpath]

CUSTOMERS = "250"
MATCHED = [
    "int_identity_records_unioned",
    "int_identifiers_unpivoted",
    "int_identity_block_keys",
    "int_address_namesakes",
    "int_identity_records_touched",
    "int_identifiers_assessed",
    "int_identity_links_deterministic",
    "int_identity_links_fuzzy",
    "int_identity_links_unioned",
    "int_identity_records_clustered",
    "int_identity_review",
    "identity_map",
    "dim_customers",
]


def _run() -> None:
    assert cli.main(["run", "--customers", CUSTOMERS, "--quiet", "--skip-sync"]) == 0


def _state(warehouse) -> dict[str, object]:
    """What the matched layer concluded, in a form two builds can be compared by."""

    def rows(sql: str) -> set[tuple]:
        return {tuple(str(v) for v in row) for row in warehouse.query(sql)}

    def partition(sql: str) -> set[frozenset[str]]:
        groups: dict[object, set[str]] = {}
        for key, group in warehouse.query(sql):
            groups.setdefault(group, set()).add(key)
        return {frozenset(g) for g in groups.values()}

    return {
        "identifiers": rows(
            "select record_key, identifier_type, identifier_value "
            "from matched.int_identifiers_unpivoted where is_current"
        ),
        "block_keys": rows(
            "select record_key, block_key from matched.int_identity_block_keys where is_current"
        ),
        "namesakes": rows(
            "select place, address_normalized, first_name_canonical, last_name_normalized "
            "from matched.int_address_namesakes where is_ambiguous"
        ),
        "assessed": rows(
            "select identifier_type, identifier_value, record_count, people_count, "
            "unusable_reason from matched.int_identifiers_assessed"
        ),
        "deterministic": rows(
            "select left_record_key, right_record_key, identifier_type, identifier_value, "
            "match_score from matched.int_identity_links_deterministic"
        ),
        "fuzzy": rows(
            "select left_record_key, right_record_key, match_rule, match_score "
            "from matched.int_identity_links_fuzzy"
        ),
        "links": rows(
            "select left_record_key, right_record_key, match_rule, evidence, match_score "
            "from matched.int_identity_links_unioned"
        ),
        "clusters": partition(
            "select record_key, cluster_key from matched.int_identity_records_clustered"
        ),
        "cluster_rows": rows(
            "select record_key, cluster_key, source_system, source_table, source_record_id, "
            "birth_date, record_updated_at from matched.int_identity_records_clustered"
        ),
        "review": rows(
            "select review_id, review_reason, review_subject, distinct_people, record_count "
            "from matched.int_identity_review"
        ),
        "identity_map": rows(
            "select source_system, source_table, source_record_id, customer_id, "
            "matched_by_rule, match_score from marts.identity_map"
        ),
        "dim_customers": rows(
            "select customer_id, first_name, last_name, email, phone, address_line, postcode, "
            "source_systems, source_record_count, is_email_consented, is_sms_consented, "
            "is_post_consented, birth_date, first_seen_at, last_seen_at from marts.dim_customers"
        ),
    }


def _last_analysed(warehouse) -> dict[str, object]:
    """When each matched-layer table was last analysed by a command (not by autovacuum)."""
    return dict(
        warehouse.query(
            "select relname, coalesce(last_analyze, '-infinity') from pg_stat_user_tables "
            "where schemaname in ('matched', 'marts')"
        )
    )


def _customer_of(warehouse) -> dict[str, int]:
    return dict(
        warehouse.query("select record_key, customer_id from matched.int_customer_ids_assigned")
    )


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def built(monkeypatch, tmp_path, warehouse):
    home = tmp_path / "home"
    monkeypatch.setenv("CIW_HOME", str(home))
    monkeypatch.setenv("CIW_DSN", warehouse.dsn.url())
    assert cli.main(["demo", "generate", "--customers", CUSTOMERS]) == 0
    shop = sqlite3.connect(home / "demo" / "shop.sqlite")
    for account_id, email, phone in (
        (900001, "testy.one@example.org", "07700 900001"),
        (900002, "testy.two@example.org", "07700 900002"),
    ):
        shop.execute(
            "insert into accounts (account_id, email, first_name, last_name, phone, created_at, "
            "updated_at) values (?, ?, 'Testy', 'Mergeson', ?, '2030-01-01 00:00:00', "
            "'2030-01-01 00:00:00')",
            (account_id, email, phone),
        )
    shop.commit()
    shop.close()
    _run()
    return warehouse, home


def test_incremental_run_equals_a_full_rebuild(built):
    warehouse, home = built
    demo = home / "demo"
    before = _customer_of(warehouse)

    # a two-record customer linked only by an email: two more people start using that email
    shared = warehouse.query(
        """
        with sizes as (
            select cluster_key, count(*) as n from matched.int_identity_records_clustered
            group by cluster_key
        )
        select links.identifier_value, records.last_name_normalized
        from matched.int_identity_links_deterministic as links
        inner join matched.int_identity_records_clustered as clustered
            on links.left_record_key = clustered.record_key
        inner join sizes on clustered.cluster_key = sizes.cluster_key and sizes.n = 2
        inner join matched.int_identity_records_unioned as records
            on links.left_record_key = records.record_key
        where links.identifier_type = 'email'
        order by 1 limit 1
        """
    )
    assert shared, "the demo has no customer linked by an email alone"
    family_email, family_name = shared[0]
    # a household the address rule links: namesakes with two birth dates move in
    household = warehouse.query(
        """
        select records.first_name_normalized, records.last_name_normalized,
            records.postcode, records.address_normalized
        from matched.int_identity_links_fuzzy as links
        inner join matched.int_identity_records_unioned as records
            on links.left_record_key = records.record_key
        where links.match_rule = 'fuzzy_name_address'
        order by links.left_record_key limit 1
        """
    )
    # a payment card that names exactly one loyalty card
    card = warehouse.query(
        "select source_record_id, linked_loyalty_card_id "
        "from matched.int_identity_records_unioned "
        "where source_table = 'card_tokens' and linked_loyalty_card_id is not null "
        "order by 1 limit 1"
    )
    other_card = warehouse.query(
        "select source_record_id from matched.int_identity_records_unioned "
        "where source_table = 'loyalty_signups' and source_record_id <> %s order by 1 limit 1",
        (card[0][1],),
    )[0][0]
    moved_account = warehouse.query(
        "select account_id from staging.stg_shop__accounts "
        "where email_normalized is not null and account_id < 900000 order by 1 limit 1"
    )[0][0]

    shop = sqlite3.connect(demo / "shop.sqlite")
    shop.execute(
        "insert into accounts (account_id, email, first_name, last_name, created_at, "
        "updated_at) values (900010, 'brand.new@example.org', 'Brand', 'Newperson', "
        "'2030-01-02 00:00:00', '2030-01-02 00:00:00')"
    )
    # carries the first Testy account's email and the second one's phone: merges them
    shop.execute(
        "insert into guest_checkouts (guest_checkout_id, email, first_name, last_name, phone, "
        "created_at, updated_at) values (900011, 'TESTY.ONE@example.org', 'testy', 'mergeson', "
        "'+44 7700 900002', '2030-01-02 00:00:00', '2030-01-02 00:00:00')"
    )
    for guest_id, first_name in ((900012, "Zebedee"), (900013, "Quentin")):
        shop.execute(
            "insert into guest_checkouts (guest_checkout_id, email, first_name, last_name, "
            "created_at, updated_at) values (?, ?, ?, ?, '2030-01-02 00:00:00', "
            "'2030-01-02 00:00:00')",
            (guest_id, family_email, first_name, family_name),
        )
    shop.execute(
        "update accounts set email = 'moved.on@example.org', updated_at = '2030-01-02 00:00:00' "
        "where account_id = ?",
        (moved_account,),
    )
    # a customer changes a consent: only their golden record is computed again
    changed_consent = shop.execute(
        "update marketing_preferences set is_opted_in = 1 - is_opted_in, "
        "updated_at = '2030-01-02 00:00:00' "
        "where (account_id, channel) = (select account_id, channel from marketing_preferences "
        "where account_id < 900000 order by account_id, channel limit 1)"
    ).rowcount
    assert changed_consent == 1
    shop.commit()
    shop.close()

    signups = next((demo / "pos" / "loyalty_signups").glob("*.csv"))
    header = signups.read_text().splitlines()[0].split(",")
    rows = []
    if household:
        first, last, postcode, address = household[0]
        for card_id, birth_date in (("LC9000001", "1950-01-01"), ("LC9000002", "1990-06-30")):
            row = dict.fromkeys(header, "")
            row.update(
                loyalty_card_id=card_id,
                first_name=first,
                last_name=last,
                date_of_birth=birth_date,
                address_line1=address,
                city="Testville",
                postcode=postcode,
                store_id="S01",
                signed_up_at="2030-01-02T10:00:00Z",
            )
            rows.append([row[h] for h in header])
    _write_csv(demo / "pos" / "loyalty_signups" / "loyalty_signups_2030-01-01.csv", header, rows)
    transactions = next((demo / "pos" / "transactions").glob("*.csv"))
    header = transactions.read_text().splitlines()[0].split(",")
    row = dict.fromkeys(header, "")
    row.update(
        transaction_id="S01-9000001",
        store_id="S01",
        transaction_type="sale",
        loyalty_card_id=other_card,
        card_token_hash=card[0][0],
        payment_method="card",
        total_amount="12.50",
        transacted_at="2030-01-02T11:00:00Z",
    )
    _write_csv(
        demo / "pos" / "transactions" / "transactions_2030-01-01.csv",
        header,
        [[row[h] for h in header]],
    )

    analysed_before = _last_analysed(warehouse)
    _run()
    incremental = _state(warehouse)
    # the few changed rows leave the big tables' statistics alone (analyze_if_changed)
    analysed_after = _last_analysed(warehouse)
    for table in ("int_identity_records_unioned", "int_identifiers_unpivoted"):
        assert analysed_after[table] == analysed_before[table], table
    after = _customer_of(warehouse)
    touched = {
        key
        for (key,) in warehouse.query(
            "select record_key from matched.int_identity_records_touched "
            "where touched_at = (select max(touched_at) from matched.int_identity_records_touched)"
        )
    }

    # the changes did what they were chosen for
    testy = {after[f"shop:{t}:{i}"] for t, i in (("accounts", 900001), ("accounts", 900002))}
    assert len(testy) == 1 and after["shop:guest_checkouts:900011"] in testy
    assert not [
        link
        for link in incremental["deterministic"]
        if link[2] == "email" and link[3] == family_email
    ], "the email now shared by several people still links"
    assert not [
        i
        for i in incremental["identifiers"]
        if i[0] == f"pos:card_tokens:{card[0][0]}" and i[1] == "loyalty_card"
    ], "a card used with two loyalty cards still names one"
    # the clustering wrote only records whose cluster changed (the new ones among them); the
    # records outside the clusters they joined or left keep their ids
    written = {
        key
        for (key,) in warehouse.query(
            "select record_key from matched.int_identity_records_clustered where clustered_at = "
            "(select max(clustered_at) from matched.int_identity_records_clustered)"
        )
    }
    new_records = {"shop:accounts:900010", "shop:guest_checkouts:900011"}
    assert new_records <= written and new_records <= touched
    changed_clusters = {
        key
        for (key,) in warehouse.query(
            """
            with written as (
                select cluster_key, previous_cluster_key
                from matched.int_identity_records_clustered
                where clustered_at = (
                    select max(clustered_at) from matched.int_identity_records_clustered
                )
            )
            select record_key from matched.int_identity_records_clustered
            where cluster_key in (
                select cluster_key from written union select previous_cluster_key from written
            )
            """
        )
    }
    untouched = {k: v for k, v in before.items() if k not in changed_clusters}
    assert untouched and all(after[k] == v for k, v in untouched.items())
    assert len(changed_clusters) < len(after) / 2, "the incremental run re-matched most records"

    assert cli.main(["dbt", "run", "--full-refresh", "--select", *MATCHED]) == 0
    rebuilt = _state(warehouse)
    # a rebuilt table is new: analysed whatever it holds
    rebuilt_analysed = _last_analysed(warehouse)
    for table in MATCHED:
        assert rebuilt_analysed[table] > analysed_after[table], table
    for part in incremental:
        missing = rebuilt[part] - incremental[part]
        extra = incremental[part] - rebuilt[part]
        assert not missing and not extra, (part, sorted(missing)[:5], sorted(extra)[:5])
    # and the ids kept incrementally group the records exactly as the rebuilt clusters do
    groups: dict[int, set[str]] = {}
    for key, customer_id in after.items():
        groups.setdefault(customer_id, set()).add(key)
    assert {frozenset(g) for g in groups.values()} == rebuilt["clusters"]
