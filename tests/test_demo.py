"""The demo source systems: deterministic, complete, and holding the hard cases."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import requests

from ciw.demo.generator import generate


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_arguments_give_identical_files(tmp_path, demo_data):
    again = generate(tmp_path / "again", customers=300, seed=7)
    assert _digest(again.out_dir) == _digest(demo_data)
    other = generate(tmp_path / "other", customers=300, seed=8)
    assert _digest(other.out_dir) != _digest(demo_data)


def test_every_table_and_file_is_there(demo_data):
    db = sqlite3.connect(demo_data / "shop.sqlite")
    tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
    assert tables == {
        "products",
        "accounts",
        "guest_checkouts",
        "orders",
        "order_lines",
        "returns",
        "marketing_preferences",
    }
    for table in tables:
        assert db.execute(f"select count(*) from {table}").fetchone()[0] > 0, table
    for folder in ("transactions", "transaction_lines", "loyalty_signups"):
        assert list((demo_data / "pos" / folder).glob("*.csv")), folder
    assert list((demo_data / "web" / "events").glob("*.jsonl"))
    for rel in ("helpdesk/tickets.json", "esp/contacts.json", "esp/events.json"):
        assert json.loads((demo_data / rel).read_text()), rel


def _truth(demo: Path) -> dict[tuple[str, str], str]:
    with (demo / "truth" / "identity_truth.csv").open() as f:
        return {
            (r["source_table"], r["source_record_id"]): r["person_id"] for r in csv.DictReader(f)
        }


def test_truth_covers_every_person_bearing_record(demo_data):
    truth = _truth(demo_data)
    db = sqlite3.connect(demo_data / "shop.sqlite")
    for table, key in (
        ("accounts", "account_id"),
        ("guest_checkouts", "guest_checkout_id"),
        ("orders", "order_id"),
    ):
        for (record_id,) in db.execute(f"select {key} from {table}"):
            assert (table, str(record_id)) in truth, (table, record_id)
    tickets = json.loads((demo_data / "helpdesk" / "tickets.json").read_text())
    assert all(("tickets", str(t["ticket_id"])) in truth for t in tickets if t["ticket_id"])
    contacts = json.loads((demo_data / "esp" / "contacts.json").read_text())
    assert all(("contacts", c["contact_id"]) in truth for c in contacts)
    for path in (demo_data / "pos" / "loyalty_signups").glob("*.csv"):
        for row in csv.DictReader(path.open()):
            if row["loyalty_card_id"]:
                assert ("loyalty_signups", row["loyalty_card_id"]) in truth


def test_hard_cases_are_present(demo_data):
    truth = _truth(demo_data)
    persons = list(csv.DictReader((demo_data / "truth" / "persons.csv").open()))
    households = Counter(p["household_id"] for p in persons)
    assert any(n > 1 for n in households.values()), "households sharing an address"
    db = sqlite3.connect(demo_data / "shop.sqlite")
    accounts = db.execute("select account_id, email, phone, first_name from accounts").fetchall()
    by_email = defaultdict(set)
    for account_id, email, _, _ in accounts:
        by_email[(email or "").strip().lower()].add(truth[("accounts", str(account_id))])
    junk = {"test@test.com", "noemail@noemail.com", "n/a", "none", ""}
    shared = {e for e, people in by_email.items() if len(people) > 1}
    assert shared, "an email shared by different persons (junk or family)"
    per_person = Counter(truth[("accounts", str(a))] for a, *_ in accounts)
    assert any(n > 1 for n in per_person.values()), "duplicate shop accounts"
    tickets = json.loads((demo_data / "helpdesk" / "tickets.json").read_text())
    buyers = {truth[("orders", str(o))] for (o,) in db.execute("select order_id from orders")}
    prospects = {p["person_id"] for p in persons if p["is_prospect"] == "1"}
    assert prospects and not prospects & buyers
    enquirers = {truth[("tickets", str(t["ticket_id"]))] for t in tickets if t["ticket_id"]}
    assert prospects & enquirers, "prospects who enquire and never buy"
    first_names = {a[3] for a in accounts}
    assert first_names & {"Bill", "Bob", "Liz", "Kate", "Mike", "Tom", "Jim", "Will", "Rob"}
    phones = {a[2] for a in accounts if a[2]}
    assert any(p.startswith("+44") for p in phones) and any(p.startswith("07") for p in phones)
    assert junk & set(by_email), "junk identifiers"


def test_late_and_bad_rows_exist(demo_data):
    late = 0
    for path in (demo_data / "pos" / "transactions").glob("*.csv"):
        week = path.stem.split("_")[-1]
        for row in csv.DictReader(path.open()):
            if row["transacted_at"][:10] < week and row["transacted_at"][:4].isdigit():
                late += 1
    assert late > 0, "late-arriving POS rows"
    db = sqlite3.connect(demo_data / "shop.sqlite")
    assert db.execute("select count(*) from order_lines where order_id is null").fetchone()[0] >= 1


def test_generate_rejects_bad_scale(tmp_path):
    with pytest.raises(ValueError, match="customers"):
        generate(tmp_path / "x", customers=0)


# ----------------------------------------------------------------------------- demo APIs


def _get(server, path, token="test-token", **params):
    return requests.get(
        f"{server.url}{path}",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )


def test_api_auth_pagination_and_cursor(api_server, demo_copy):
    assert _get(api_server, "/helpdesk/api/v2/tickets", token="nope").status_code == 401
    tickets = json.loads((demo_copy / "helpdesk" / "tickets.json").read_text())
    seen, url = [], f"{api_server.url}/helpdesk/api/v2/tickets?per_page=37"
    while url:
        body = requests.get(url, headers={"Authorization": "Bearer test-token"}, timeout=5).json()
        seen.extend(body["tickets"])
        url = body["next_page"]
    assert len(seen) == len(tickets)
    cutoff = sorted(t["updated_at"] for t in tickets)[len(tickets) // 2]
    body = _get(api_server, "/helpdesk/api/v2/tickets", updated_since=cutoff, per_page=10_000)
    assert body.json()["count"] == sum(t["updated_at"] >= cutoff for t in tickets)
    events = _get(api_server, "/esp/v1/events", limit=10).json()
    assert len(events["data"]) == 10 and events["next_cursor"] == "10"


def test_api_faults_and_upsert(api_server):
    api_server.inject_fault("/esp", status=429, times=1, retry_after=3)
    first = _get(api_server, "/esp/v1/contacts")
    assert first.status_code == 429 and first.headers["Retry-After"] == "3"
    assert _get(api_server, "/esp/v1/contacts").status_code == 200
    api_server.inject_fault("/esp", status=0, times=1)
    with pytest.raises(requests.ConnectionError):
        _get(api_server, "/esp/v1/contacts")
    api_server.upsert(
        "contacts",
        [
            {
                "contact_id": "c_new",
                "email": "n@example.com",
                "status": "subscribed",
                "updated_at": "2099-01-01T00:00:00Z",
            }
        ],
    )
    body = _get(api_server, "/esp/v1/contacts", updated_since="2098-01-01T00:00:00Z").json()
    assert [c["contact_id"] for c in body["data"]] == ["c_new"]
