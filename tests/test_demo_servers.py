"""The local demo helpdesk and ESP APIs: auth, pagination, cursors, upserts and faults."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ciw.demo.generator import generate
from ciw.demo.servers import DemoApiServer

TOKEN = "secret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def api_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo_api")
    generate(out, customers=150, seed=21)
    return out


@pytest.fixture
def server(api_data: Path, tmp_path: Path) -> Iterator[DemoApiServer]:
    data = tmp_path / "data"
    shutil.copytree(api_data, data)
    with DemoApiServer(data, token=TOKEN, page_size=25) as srv:
        yield srv


def _get(
    server: DemoApiServer, path: str, headers: dict | None = None, **params
) -> requests.Response:
    return requests.get(
        f"{server.url}{path}",
        params=params,
        headers=AUTH if headers is None else headers,
        timeout=5,
    )


def _load(api_data: Path, rel: str) -> list[dict]:
    return json.loads((api_data / rel).read_text(encoding="utf-8"))


def _key(record: dict) -> str:
    return json.dumps(record, sort_keys=True)


def _walk_tickets(url: str) -> list[dict]:
    seen: list[dict] = []
    while url:
        body = requests.get(url, headers=AUTH, timeout=5).json()
        seen.extend(body["tickets"])
        url = body["next_page"]
    return seen


def _walk_esp(server: DemoApiServer, kind: str, **params) -> list[dict]:
    seen: list[dict] = []
    cursor = None
    while True:
        query = dict(params)
        if cursor is not None:
            query["cursor"] = cursor
        body = _get(server, f"/esp/v1/{kind}", **query).json()
        seen.extend(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


# ----------------------------------------------------------------------------- basics


def test_url_and_auth(server: DemoApiServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    for path in ("/helpdesk/api/v2/tickets", "/esp/v1/contacts", "/esp/v1/events"):
        assert _get(server, path, headers={}).status_code == 401
        wrong = _get(server, path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "error" in wrong.json()
        assert _get(server, path).status_code == 200
    assert _get(server, "/nothing/here").status_code == 404
    assert ("GET", "/esp/v1/events", 401) in server.request_log


def test_bad_parameters_are_400(server: DemoApiServer) -> None:
    assert _get(server, "/helpdesk/api/v2/tickets", page="x").status_code == 400
    assert _get(server, "/helpdesk/api/v2/tickets", per_page=0).status_code == 400
    assert _get(server, "/helpdesk/api/v2/tickets", updated_since="yesterday").status_code == 400
    assert _get(server, "/esp/v1/events", limit=-1).status_code == 400
    assert _get(server, "/esp/v1/contacts", cursor="zz").status_code == 400


def test_missing_files_mean_empty_apis(tmp_path: Path) -> None:
    with DemoApiServer(tmp_path, token=TOKEN) as srv:
        body = _get(srv, "/helpdesk/api/v2/tickets").json()
        assert body == {"tickets": [], "page": 1, "next_page": None, "count": 0}
        assert _get(srv, "/esp/v1/events").json() == {"data": [], "next_cursor": None}


def test_stop_without_start_does_not_hang(tmp_path: Path) -> None:
    srv = DemoApiServer(tmp_path)
    srv.stop()


# ----------------------------------------------------------------------------- paging


def test_ticket_pages_cover_every_record_once(server: DemoApiServer, api_data: Path) -> None:
    tickets = _load(api_data, "helpdesk/tickets.json")
    assert len(tickets) > 60
    first = _get(server, "/helpdesk/api/v2/tickets", per_page=17).json()
    assert first["page"] == 1 and first["count"] == len(tickets) and len(first["tickets"]) == 17
    assert first["next_page"].startswith(server.url) and "per_page=17" in first["next_page"]
    seen = _walk_tickets(f"{server.url}/helpdesk/api/v2/tickets?per_page=17")
    assert Counter(map(_key, seen)) == Counter(map(_key, tickets))  # bad rows included
    order = [(t["updated_at"], str(t["ticket_id"])) for t in seen]
    assert order == sorted(order)
    default = _get(server, "/helpdesk/api/v2/tickets").json()
    assert len(default["tickets"]) == 25  # the server's page size


def test_ticket_updated_since_filter(server: DemoApiServer, api_data: Path) -> None:
    tickets = _load(api_data, "helpdesk/tickets.json")
    cutoff = sorted(t["updated_at"] for t in tickets)[len(tickets) // 2]
    url = f"{server.url}/helpdesk/api/v2/tickets?updated_since={cutoff}&per_page=9"
    seen = _walk_tickets(url)
    expected = [t for t in tickets if t["updated_at"] >= cutoff]
    assert Counter(map(_key, seen)) == Counter(map(_key, expected))
    body = requests.get(url, headers=AUTH, timeout=5).json()
    assert body["count"] == len(expected)
    assert "updated_since=" in body["next_page"]
    # an offset timestamp is compared as a moment, not as text: 12:00+01:00 is 11:00Z
    shifted = cutoff.replace("Z", "+01:00")
    moment = _moment(shifted)
    later = _get(server, "/helpdesk/api/v2/tickets", updated_since=shifted, per_page=10_000)
    assert later.json()["count"] == sum(_moment(t["updated_at"]) >= moment for t in tickets)
    assert later.json()["count"] >= len(expected)


def _moment(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("kind", "rel", "field", "since_name", "id_field"),
    [
        ("contacts", "esp/contacts.json", "updated_at", "updated_since", "contact_id"),
        ("events", "esp/events.json", "occurred_at", "since", "event_id"),
    ],
)
def test_esp_cursor_pages(
    server: DemoApiServer,
    api_data: Path,
    kind: str,
    rel: str,
    field: str,
    since_name: str,
    id_field: str,
) -> None:
    records = _load(api_data, rel)
    assert len(records) > 30
    seen = _walk_esp(server, kind, limit=13)
    assert Counter(map(_key, seen)) == Counter(map(_key, records))
    order = [(r[field], str(r[id_field])) for r in seen]
    assert order == sorted(order)
    cutoff = sorted(r[field] for r in records)[len(records) // 3]
    filtered = _walk_esp(server, kind, limit=50, **{since_name: cutoff})
    assert Counter(map(_key, filtered)) == Counter(_key(r) for r in records if r[field] >= cutoff)
    page = _get(server, f"/esp/v1/{kind}", limit=5).json()
    assert len(page["data"]) == 5 and isinstance(page["next_cursor"], str)


# ----------------------------------------------------------------------------- upserts


def test_upsert_replaces_and_appends(server: DemoApiServer, api_data: Path) -> None:
    tickets = _load(api_data, "helpdesk/tickets.json")
    changed = dict(next(t for t in tickets if t["ticket_id"] is not None))
    changed.update(status="closed", updated_at="2099-01-01T00:00:00Z")
    new = dict(changed, ticket_id=10_000_000, subject="brand new")
    server.upsert("tickets", [changed, new])
    body = _get(server, "/helpdesk/api/v2/tickets", updated_since="2098-12-31T00:00:00Z").json()
    assert [t["ticket_id"] for t in body["tickets"]] == [changed["ticket_id"], 10_000_000]
    everything = _walk_tickets(f"{server.url}/helpdesk/api/v2/tickets?per_page=100")
    assert len(everything) == len(tickets) + 1

    server.upsert(
        "contacts",
        [{"contact_id": "c_new", "email": "n@example.com", "updated_at": "2099-01-01T00:00:00Z"}],
    )
    contacts = _get(server, "/esp/v1/contacts", updated_since="2098-01-01T00:00:00Z").json()
    assert [c["contact_id"] for c in contacts["data"]] == ["c_new"]
    server.upsert("events", [{"event_id": "e_new", "occurred_at": "2099-02-01T00:00:00Z"}])
    events = _get(server, "/esp/v1/events", since="2099-01-01T00:00:00Z").json()
    assert [e["event_id"] for e in events["data"]] == ["e_new"]
    with pytest.raises(ValueError, match="kind"):
        server.upsert("orders", [])


# ----------------------------------------------------------------------------- faults


def test_500_then_success(server: DemoApiServer) -> None:
    server.inject_fault("/helpdesk", status=500, times=2)
    assert _get(server, "/esp/v1/contacts").status_code == 200  # other paths unaffected
    assert _get(server, "/helpdesk/api/v2/tickets").status_code == 500
    assert _get(server, "/helpdesk/api/v2/tickets").status_code == 500
    assert _get(server, "/helpdesk/api/v2/tickets").status_code == 200
    statuses = [s for _, path, s in server.request_log if path.startswith("/helpdesk")]
    assert statuses == [500, 500, 200]


def test_429_with_retry_after(server: DemoApiServer) -> None:
    server.inject_fault("/esp/v1/events", status=429, retry_after=7)
    limited = _get(server, "/esp/v1/events")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    server.inject_fault("/esp/v1/events", status=429)
    assert "Retry-After" not in _get(server, "/esp/v1/events").headers
    assert _get(server, "/esp/v1/events").status_code == 200


def test_fault_after_some_good_requests(server: DemoApiServer) -> None:
    server.inject_fault("/esp", status=503, times=1, after_requests=2)
    codes = [_get(server, "/esp/v1/contacts").status_code for _ in range(4)]
    assert codes == [200, 200, 503, 200]


def test_connection_dropped(server: DemoApiServer) -> None:
    server.inject_fault("/esp/v1/contacts", status=0)
    with pytest.raises(requests.ConnectionError):
        _get(server, "/esp/v1/contacts")
    assert _get(server, "/esp/v1/contacts").status_code == 200
    assert ("GET", "/esp/v1/contacts", 0) in server.request_log


def test_slow_answer_provokes_client_timeout(server: DemoApiServer) -> None:
    server.inject_fault("/helpdesk", status=200, delay=1.0)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.get(f"{server.url}/helpdesk/api/v2/tickets", headers=AUTH, timeout=0.3)
    assert time.monotonic() - started < 1.0
    server.inject_fault("/helpdesk", status=200, delay=0.3)
    started = time.monotonic()
    assert _get(server, "/helpdesk/api/v2/tickets").status_code == 200
    assert time.monotonic() - started >= 0.3
