"""Reverse-ETL against local receivers we control: exactly once per key through retries,
time-outs, dropped connections, partial batches, a channel dying mid-run and our own crash
between sending and recording; dead letters retried later; the mirror delete guard; dry runs;
PII hashed for ad platforms; signed webhooks; CSV drops and CRM tables."""

from __future__ import annotations

import csv
import re
import sqlite3
from pathlib import Path

import pytest

from ciw.demo.receivers import ChannelReceivers
from reverse_etl.config import load_syncs
from reverse_etl.connectors import ConfigError
from reverse_etl.engine import SyncEngine

pytestmark = pytest.mark.serverpath

ROOT = Path(__file__).absolute().parent.parent
MACRO = ROOT / "macros" / "intelligence" / "create_reverse_etl_tables.sql"


def _ledger_ddl() -> str:
    """The send ledger as dbt's on-run-start creates it (the macro's SQL, jinja removed)."""
    text = re.sub(r"\{#.*?#\}", "", MACRO.read_text(), flags=re.S)
    return re.sub(r"\{%.*?%\}", "", text, flags=re.S)


@pytest.fixture
def receivers():
    with ChannelReceivers(secret="test-secret") as server:
        yield server


@pytest.fixture
def wh(warehouse):
    warehouse.query(_ledger_ddl())
    warehouse.query(
        "create schema marts; create table marts.audience_welcome (idempotency_key text, "
        "customer_id bigint, channel text, contact_point text, first_name text, reason text)"
    )
    return warehouse


def _audience(warehouse, rows: int, start: int = 1, channel: str = "email") -> None:
    warehouse.query(
        "insert into marts.audience_welcome select 'welcome:' || n, n, %s, "
        "case when %s = 'sms' then '+4477009' || lpad(n::text, 5, '0') "
        "else 'c' || n || '@example.org' end, 'Name' || n, 'event' || n "
        "from generate_series(%s, %s) as n",
        (channel, channel, start, start + rows - 1),
    )


def _config(tmp_path: Path, url: str, body: str) -> Path:
    path = tmp_path / "syncs.yml"
    path.write_text(body.replace("URL", url))
    return path


EMAIL = """
defaults: {batch_size: 10, max_retries: 4, timeout_seconds: 1, rate_limit_per_second: 0}
syncs:
  - name: welcome_email
    audience: audience_welcome
    filter: {channel: email}
    kind: message
    connector: {type: email_service, url: URL/email}
    fields: {email: contact_point, first_name: first_name, template: "=welcome"}
"""


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _engine(wh, sleeps=None, crash=None) -> SyncEngine:
    engine = SyncEngine(
        wh.connect,
        lambda name: f"marts.{name}",
        sleep=sleeps if sleeps is not None else Sleeps(),
        crash_after_send=crash,
    )
    engine.ensure_tables()
    return engine


def _ledger(wh) -> dict[str, str]:
    return dict(wh.query("select idempotency_key, status from reverse_etl.send_ledger"))


def test_messages_go_exactly_once_and_an_unchanged_rerun_sends_nothing(wh, receivers, tmp_path):
    _audience(wh, 25)
    (sync,) = load_syncs(_config(tmp_path, receivers.url, EMAIL))
    result = _engine(wh).run(sync)
    assert (result.status, result.planned_adds, result.sent) == ("ok", 25, 25)
    assert set(receivers.delivery_counts("email").values()) == {1}
    assert len(receivers.delivery_counts("email")) == 25
    assert set(_ledger(wh).values()) == {"sent"}
    requests_before = len(receivers.state.requests)
    again = _engine(wh).run(sync)
    assert (again.planned_adds, again.sent) == (0, 0)
    assert len(receivers.state.requests) == requests_before
    log = wh.query("select status, sent_count from reverse_etl.sync_runs order by started_at")
    assert log == [("ok", 25), ("ok", 0)]


def test_retries_honour_retry_after_and_survive_timeouts_and_dropped_connections(
    wh, receivers, tmp_path
):
    _audience(wh, 30)
    receivers.inject_fault("/email", status=500, times=2)
    receivers.inject_fault("/email", status=429, retry_after=3, times=1)
    receivers.inject_fault("/email", status=0, times=1)  # dropped connection
    receivers.inject_fault("/email", status=200, delay=1.5, times=1)  # time-out (1 s)
    config = EMAIL.replace("max_retries: 4", "max_retries: 6")
    (sync,) = load_syncs(_config(tmp_path, receivers.url, config))
    sleeps = Sleeps()
    result = _engine(wh, sleeps).run(sync)
    assert (result.status, result.sent, result.failed) == ("ok", 30, 0)
    assert 3.0 in sleeps  # Retry-After honoured
    assert result.retries >= 5
    counts = receivers.delivery_counts("email")
    assert len(counts) == 30 and set(counts.values()) == {1}
    assert wh.query("select retry_count from reverse_etl.sync_runs") == [(result.retries,)]


def test_partial_batches_go_to_dead_letters_and_are_retried_later(wh, receivers, tmp_path):
    _audience(wh, 10)
    receivers.inject_fault("/email", partial=True, times=1)
    (sync,) = load_syncs(_config(tmp_path, receivers.url, EMAIL))
    first = _engine(wh).run(sync)
    assert (first.status, first.sent, first.failed) == ("partial", 5, 5)
    dead = wh.query("select count(*) from reverse_etl.dead_letters where resolved_at is null")
    assert dead == [(5,)]
    assert sorted(_ledger(wh).values()) == ["failed"] * 5 + ["sent"] * 5
    second = _engine(wh).run(sync)
    assert (second.planned_adds, second.sent, second.failed) == (5, 5, 0)
    assert wh.query("select count(*) from reverse_etl.dead_letters where resolved_at is null") == [
        (0,)
    ]
    counts = receivers.delivery_counts("email")
    assert len(counts) == 10 and set(counts.values()) == {1}


def test_a_crash_between_sending_and_recording_never_sends_twice_or_skips(wh, receivers, tmp_path):
    _audience(wh, 25)
    (sync,) = load_syncs(_config(tmp_path, receivers.url, EMAIL))

    class Crash(Exception):
        pass

    def die(name, batch):
        raise Crash("killed after the request, before recording it")

    with pytest.raises(Crash):
        _engine(wh, crash=die).run(sync)
    assert list(_ledger(wh).values()) == ["pending"] * 10  # sent, but not recorded
    assert len(receivers.delivered("email")) == 10
    result = _engine(wh).run(sync)
    assert (result.planned_adds, result.sent) == (25, 25)  # the 10 "maybe sent" go again
    counts = receivers.delivery_counts("email")
    assert len(counts) == 25 and set(counts.values()) == {1}
    assert sum(receivers.state.duplicates.values()) == 10  # acknowledged, not re-delivered
    assert set(_ledger(wh).values()) == {"sent"}


def test_a_channel_dying_mid_run_is_logged_and_the_rest_goes_next_run(wh, receivers, tmp_path):
    _audience(wh, 40)
    receivers.inject_fault("/email", status=503, times=1000, after_requests=2)
    (sync,) = load_syncs(_config(tmp_path, receivers.url, EMAIL))
    first = _engine(wh).run(sync)
    assert (first.status, first.sent, first.failed) == ("partial", 20, 20)
    (error,) = wh.query("select error from reverse_etl.sync_runs")[0]
    assert "gave up" in error and "503" in error
    receivers.clear_faults()
    second = _engine(wh).run(sync)
    assert (second.status, second.sent) == ("ok", 20)
    counts = receivers.delivery_counts("email")
    assert len(counts) == 40 and set(counts.values()) == {1}


def test_repeated_failures_end_dead_and_are_not_retried_forever(wh, receivers, tmp_path):
    _audience(wh, 3, channel="sms")
    wh.query("update marts.audience_welcome set contact_point = '07700 9000' where customer_id = 2")
    config = _config(
        tmp_path,
        receivers.url,
        """
defaults: {max_attempts: 2, rate_limit_per_second: 0}
syncs:
  - name: welcome_sms
    audience: audience_welcome
    filter: {channel: sms}
    kind: message
    connector: {type: sms, url: URL/sms, template: "Welcome {first_name}!"}
    fields: {to: contact_point, first_name: first_name}
""",
    )
    (sync,) = load_syncs(config)
    assert _engine(wh).run(sync).failed == 1  # not E.164: the API refuses it (422)
    assert _engine(wh).run(sync).dead == 1
    assert _engine(wh).run(sync).planned_adds == 0
    assert _ledger(wh)["welcome:2"] == "dead"
    assert sorted(receivers.delivery_counts("sms")) == ["welcome:1", "welcome:3"]
    assert all(d.data["text"].startswith("Welcome Name") for d in receivers.delivered("sms"))


ADS = """
defaults: {batch_size: 100, rate_limit_per_second: 0, max_delete_share: 0.25}
syncs:
  - name: welcome_ads
    audience: audience_welcome
    kind: list
    mode: mirror
    key: customer_id
    connector: {type: ad_audience, url: URL/ads, audience: new-customers}
    fields: {email: contact_point, first_name: first_name}
"""


def test_mirror_sync_diffs_guards_mass_deletes_and_hashes_pii(wh, receivers, tmp_path):
    _audience(wh, 20)
    (sync,) = load_syncs(_config(tmp_path, receivers.url, ADS))
    first = _engine(wh).run(sync)
    assert (first.planned_adds, first.sent) == (20, 20)
    members = receivers.delivered("ads:new-customers", "add")
    assert len(members) == 20
    assert all("@" not in str(m.data) for m in members)  # no raw PII left
    assert all(re.fullmatch(r"[0-9a-f]{64}", m.data["email_sha256"]) for m in members)

    # one changed, one gone: only those two travel
    wh.query(
        "update marts.audience_welcome set contact_point = 'new@example.org' where customer_id = 3"
    )
    wh.query("delete from marts.audience_welcome where customer_id = 4")
    second = _engine(wh).run(sync)
    assert (second.planned_adds, second.planned_updates, second.planned_removes) == (0, 1, 1)
    assert [m.key for m in receivers.delivered("ads:new-customers", "remove")] == ["4"]

    # an audience that suddenly lost most of its rows: refused, nothing removed
    wh.query("delete from marts.audience_welcome where customer_id > 5")
    refused = _engine(wh).run(sync)
    assert refused.status == "refused" and "refusing" in refused.error
    assert len(receivers.delivered("ads:new-customers", "remove")) == 1
    # a dry run plans and sends nothing
    planned = _engine(wh).run(sync, dry_run=True, force=True)
    assert (planned.status, planned.planned_removes, planned.sent) == ("dry_run", 15, 0)
    assert len(receivers.delivered("ads:new-customers", "remove")) == 1
    forced = _engine(wh).run(sync, force=True)
    assert forced.sent == 15 and len(receivers.delivered("ads:new-customers", "remove")) == 16
    assert wh.query("select count(*) from reverse_etl.sync_state") == [(4,)]


WEBHOOK = """
defaults: {batch_size: 50, rate_limit_per_second: 0, max_retries: 1}
syncs:
  - name: welcome_webhook
    audience: audience_welcome
    kind: list
    key: customer_id
    connector: {type: webhook, url: URL/webhook, secret: SECRET}
    fields: {customer_id: customer_id, first_name: first_name}
"""


def test_webhook_is_signed_and_a_bad_secret_is_refused(wh, receivers, tmp_path):
    _audience(wh, 5)
    (bad,) = load_syncs(_config(tmp_path, receivers.url, WEBHOOK.replace("SECRET", "wrong")))
    refused = _engine(wh).run(bad)
    assert (refused.sent, refused.failed) == (0, 5) and "401" in refused.errors[0]
    assert receivers.delivered("webhook") == []
    (good,) = load_syncs(_config(tmp_path, receivers.url, WEBHOOK.replace("SECRET", "test-secret")))
    accepted = _engine(wh).run(good)
    assert accepted.sent == 5 and len(receivers.delivered("webhook")) == 5


def _post_webhook(receivers, body: bytes, signature: str):
    import requests

    return requests.post(
        f"{receivers.url}/webhook",
        data=body,
        headers={"X-Signature": signature, "Content-Type": "application/json"},
        timeout=5,
    )


def test_webhook_signatures_cover_time_and_nonce_stale_and_replayed_are_refused(receivers):
    """A signed request captured on the way is worth nothing: sent again it is a replay (409),
    later it is stale (401); the body, time and nonce cannot be changed without the secret;
    the old signature of the body alone is refused."""
    import hashlib
    import hmac
    import json
    import time

    from reverse_etl.connectors import sign_webhook

    body = json.dumps({"records": [{"key": "1", "op": "upsert", "data": {}}]}).encode()
    signature = sign_webhook("test-secret", body)
    assert _post_webhook(receivers, body, signature).status_code == 200
    replayed = _post_webhook(receivers, body, signature)
    assert replayed.status_code == 409 and "replayed" in replayed.json()["error"]
    now = int(time.time())
    for stale in (now - 301, now + 301):
        answer = _post_webhook(receivers, body, sign_webhook("test-secret", body, stale))
        assert answer.status_code == 401 and "stale" in answer.json()["error"]
    assert _post_webhook(receivers, body, sign_webhook("test-secret", body, now - 200)).ok
    forged = signature.replace("t=", "t=1", 1)  # another time under the same HMAC
    assert _post_webhook(receivers, body, forged).status_code == 401
    assert (
        _post_webhook(receivers, body + b" ", sign_webhook("wrong", body + b" ")).status_code == 401
    )
    body_only = "sha256=" + hmac.new(b"test-secret", body, hashlib.sha256).hexdigest()
    assert _post_webhook(receivers, body, body_only).status_code == 401
    assert len(receivers.delivered("webhook")) == 1  # one record, delivered once


def test_a_retried_webhook_request_is_signed_again():
    """Every attempt has a signature of its own, so a receiver that refuses replays still
    takes a retry (after a time-out it may have processed the first attempt: the
    Idempotency-Key, the same for every attempt, makes that one delivery)."""
    import json

    import requests

    from reverse_etl.connectors import (
        HttpClient,
        Record,
        ReplayGuard,
        WebhookConnector,
        verify_webhook,
    )

    attempts: list[dict] = []

    def post(url, data, headers, timeout):
        attempts.append({**headers, "body": data})
        if len(attempts) < 3:
            raise requests.Timeout("no answer in time")
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps({"accepted": ["1"], "rejected": []}).encode()
        return response

    client = HttpClient(max_retries=3, sleep=lambda seconds: None)
    client.session.post = post
    settings = {"type": "webhook", "url": "http://receiver.invalid/webhook", "secret": "k"}
    (outcome,) = WebhookConnector("s", settings, client).send([Record("1", "upsert", {})])
    assert outcome.ok and len(attempts) == 3
    assert len({a["Idempotency-Key"] for a in attempts}) == 1
    guard = ReplayGuard(300)
    for attempt in attempts:
        check = verify_webhook("k", attempt["X-Signature"], attempt["body"])
        assert check.ok and guard.first_time(check.nonce, check.timestamp)


def test_the_webhook_has_no_default_secret(monkeypatch):
    """The shipped webhook sync needs CIW_WEBHOOK_SECRET (only when it runs); the receivers
    need a secret too. The demo run sets one of its own (`ciw run`, tests/test_cli.py)."""
    monkeypatch.delenv("CIW_WEBHOOK_SECRET", raising=False)
    shipped = ROOT / "reverse_etl" / "syncs.yml"
    with pytest.raises(ConfigError, match="'welcome_webhook'.*CIW_WEBHOOK_SECRET is not set"):
        load_syncs(shipped)
    names = [s.name for s in load_syncs(shipped, only=["welcome_email"])]
    assert "welcome_email" in names and "welcome_webhook" not in names
    assert "demo-secret" not in shipped.read_text()
    with pytest.raises(TypeError):
        ChannelReceivers()  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="needs a secret"):
        ChannelReceivers(secret="")


def test_csv_drop_and_crm_table_connectors(wh, receivers, tmp_path):
    _audience(wh, 6)
    crm = tmp_path / "crm.sqlite"
    config = _config(
        tmp_path,
        receivers.url,
        f"""
defaults: {{rate_limit_per_second: 0}}
syncs:
  - name: welcome_post
    audience: audience_welcome
    kind: message
    connector: {{type: csv_drop, path: "{tmp_path / "outbox"}"}}
    fields: {{address: contact_point, first_name: first_name}}
  - name: welcome_crm
    audience: audience_welcome
    kind: list
    mode: mirror
    key: customer_id
    connector: {{type: crm_table, url: "sqlite:///{crm}", table: new_customers}}
    fields: {{first_name: first_name, contact: contact_point}}
""",
    )
    post, crm_sync = load_syncs(config)
    assert _engine(wh).run(post).sent == 6
    (drop,) = list((tmp_path / "outbox").glob("*.csv"))
    with drop.open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["key"] for r in rows) == [f"welcome:{n}" for n in range(1, 7)]
    assert not list((tmp_path / "outbox").glob(".*partial"))
    assert _engine(wh).run(crm_sync).sent == 6
    wh.query("delete from marts.audience_welcome where customer_id = 6")
    assert _engine(wh).run(crm_sync).sent == 1
    db = sqlite3.connect(crm)
    assert sorted(r[0] for r in db.execute("select record_key from new_customers")) == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]


def test_csv_drops_and_a_crm_file_are_the_owners_alone(tmp_path):
    """Files of personal data the connectors write here are 0600 whatever the umask."""
    import os
    import stat

    from reverse_etl.connectors import CrmTableConnector, CsvDropConnector, Record

    records = [Record("1", "upsert", {"address": "1 High Street", "first_name": "Ann"})]
    umask = os.umask(0o022)
    try:
        drop = CsvDropConnector("post", {"type": "csv_drop", "path": str(tmp_path / "out")}, None)
        assert drop.send(records)[0].ok
        crm_file = tmp_path / "crm" / "crm.sqlite"
        settings = {"type": "crm_table", "url": f"sqlite:///{crm_file}", "table": "calls"}
        crm = CrmTableConnector("crm", settings, None)
        assert crm.send(records)[0].ok
        crm.close()
    finally:
        os.umask(umask)
    (written,) = (tmp_path / "out").glob("*.csv")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(crm_file.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("syncs: [{name: x, audience: a, connector: {type: pigeon}, fields: {a: b}}]", "pigeon"),
        (
            "syncs: [{name: x, audience: a, kind: message, mode: mirror, connector: {type: sms}, "
            "fields: {a: b}}]",
            "cannot be taken back",
        ),
        (
            "syncs: [{name: x, audience: a, connector: {type: sms, url: '${NOPE_NOT_SET}'}, "
            "fields: {a: b}}]",
            "NOPE_NOT_SET",
        ),
        ("syncs: [{name: X-1, audience: a, connector: {type: sms}, fields: {a: b}}]", "snake"),
        (
            "syncs: [{name: x, audience: a, connector: {type: sms}, fields: {a: b}}, "
            "{name: x, audience: a, connector: {type: sms}, fields: {a: b}}]",
            "duplicate",
        ),
    ],
)
def test_bad_configuration_is_refused_with_a_clear_message(tmp_path, body, message):
    path = tmp_path / "syncs.yml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message):
        load_syncs(path)


def test_the_shipped_configuration_is_valid(monkeypatch):
    monkeypatch.setenv("CIW_WEBHOOK_SECRET", "a-secret-of-ours")
    syncs = load_syncs(ROOT / "reverse_etl" / "syncs.yml")
    assert {s.audience for s in syncs} == {
        "audience_welcome",
        "audience_thank_you",
        "audience_win_back",
    }
    assert {s.connector["type"] for s in syncs} == {
        "email_service",
        "sms",
        "csv_drop",
        "ad_audience",
        "webhook",
        "crm_table",
    }


CRM = """
defaults: {rate_limit_per_second: 0}
syncs:
  - name: welcome_crm
    audience: audience_welcome
    kind: list
    mode: mirror
    key: customer_id
    connector: {type: crm_table, url: "URL", table: new_customers}
    fields: {first_name: first_name, contact: contact_point}
"""


def _crm_round_trip(wh, tmp_path, url: str) -> None:
    import sqlalchemy as sa

    _audience(wh, 8)
    (sync,) = load_syncs(_config(tmp_path, url, CRM))
    assert _engine(wh).run(sync).sent == 8
    wh.query("update marts.audience_welcome set first_name = 'Renamed' where customer_id = 2")
    wh.query("delete from marts.audience_welcome where customer_id = 8")
    second = _engine(wh).run(sync)
    assert (second.planned_updates, second.planned_removes, second.sent) == (1, 1, 2)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        result = conn.execute(sa.text("select record_key, first_name from new_customers"))
        rows = {key: name for key, name in result.all()}
    engine.dispose()
    assert sorted(rows, key=int) == [str(n) for n in range(1, 8)]
    assert rows["2"] == "Renamed"


@pytest.mark.server
def test_crm_table_in_mariadb(wh, tmp_path):
    import os
    import uuid

    import sqlalchemy as sa

    base = os.environ.get("CIW_TEST_MARIADB_URL")
    if not base:
        pytest.skip("CIW_TEST_MARIADB_URL is not set (the server tests run from .ci/run)")
    name = f"ciw_crm_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f"create database {name}"))
    try:
        _crm_round_trip(wh, tmp_path, f"{base.rstrip('/')}/{name}")
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"drop database {name}"))
        admin.dispose()


@pytest.mark.server
def test_crm_table_in_another_postgresql_database(wh, pg_admin, tmp_path):
    from conftest import _create_database, _drop_database

    crm = _create_database(pg_admin)
    try:
        url = crm.dsn.url(dummy_password=False).replace("postgresql://", "postgresql+psycopg2://")
        _crm_round_trip(wh, tmp_path, url)
    finally:
        _drop_database(pg_admin, crm)
