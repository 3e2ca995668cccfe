"""`ciw check`: a newcomer's settings checked before anything loads (issue #23 item 6)."""

from __future__ import annotations

import json
from pathlib import Path

from ciw import cli
from ingestion.check import check_sources

TRANSACTIONS_HEADER = (
    "transaction_id;store_id;transaction_type;loyalty_card_id;card_token_hash;payment_method;"
    "total_amount;transacted_at"
)


def _by_check(findings, source: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for finding in findings:
        if finding.source == source:
            found.setdefault(finding.check, []).append(finding)
    return found


def _till_export(folder: Path) -> None:
    """A till system's transactions: semicolons, day-first local times, one bad amount."""
    (folder / "transactions").mkdir(parents=True)
    rows = [
        "T1;S01;sale;;;cash;9,99;05/07/2026 10:30",
        "T2;S01;sale;;;card;12.50;05/07/2026 11:00",
        "T3;S01;sale;;;card;3.10;05/07/2026 11:30",
    ]
    (folder / "transactions" / "transactions_2026-07-05.csv").write_text(
        "\n".join([TRANSACTIONS_HEADER, *rows, ""]), encoding="utf-8"
    )


def test_check_finds_what_a_load_would_trip_over_and_passes_once_configured(
    tmp_path, monkeypatch, capsys
):
    till = tmp_path / "till"
    _till_export(till)
    monkeypatch.setenv("SOURCES__POS__BUCKET_URL", str(till))

    # unconfigured: the header reads as one column, and check says why
    pos = _by_check(check_sources(["pos"]), "pos")
    assert pos["settings"][0].status == "ok"
    (columns,) = pos["columns"]
    assert columns.status == "fail"
    assert "lacks the required column(s) transaction_id" in columns.detail
    assert "is the delimiter set?" in columns.detail
    # the tables without files yet are warnings: they stay empty
    assert {f.status for f in pos["reachable"]} == {"ok", "warn"}
    assert cli.main(["check", "pos"]) == 1

    # the delimiter set: the columns are found, and the sample shows the day-first times
    monkeypatch.setenv("SOURCES__POS__DELIMITER", ";")
    pos = _by_check(check_sources(["pos"]), "pos")
    assert [f.status for f in pos["columns"]] == ["ok"]
    (sample,) = pos["sample"]
    assert sample.status == "fail"
    assert "3 of 3 row(s) of transactions_2026-07-05.csv would be quarantined" in sample.detail
    assert "transacted_at: not a timestamp" in sample.detail

    # and the formats: only the row with a decimal comma is left to quarantine
    monkeypatch.setenv("SOURCES__POS__TIMESTAMP_FORMATS", '["%d/%m/%Y %H:%M"]')
    monkeypatch.setenv("SOURCES__POS__TIMEZONE", "Europe/Berlin")
    pos = _by_check(check_sources(["pos"]), "pos")
    (sample,) = pos["sample"]
    assert sample.status == "warn"
    assert "1 of 3 row(s)" in sample.detail and "total_amount" in sample.detail
    assert "naive times in Europe/Berlin" in pos["settings"][0].detail
    capsys.readouterr()
    assert cli.main(["check", "pos", "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)
    assert {row["status"] for row in reported} == {"ok", "warn"}

    # a setting that cannot be is named, and nothing else is tried
    monkeypatch.setenv("SOURCES__POS__TIMEZONE", "Europe/Atlantis")
    (only,) = check_sources(["pos"])
    assert (only.check, only.status) == ("settings", "fail")
    assert "timezone" in only.detail


def test_check_of_the_shop_and_the_apis(demo_data, api_server, monkeypatch, tmp_path):
    monkeypatch.setenv("SOURCES__SHOP__CREDENTIALS", f"sqlite:///{demo_data / 'shop.sqlite'}")
    shop = _by_check(check_sources(["shop"]), "shop")
    assert [f.status for f in shop["reachable"]] == ["ok"]
    assert {f.status for f in shop["columns"]} == {"ok"}
    assert len(shop["columns"]) == 7

    monkeypatch.setenv("SOURCES__SHOP__CREDENTIALS", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    shop = _by_check(check_sources(["shop"]), "shop")
    assert {f.status for f in shop["columns"]} == {"warn"}  # no tables: stand-ins

    # an API without its token (.dlt/config.toml has the demo's base_url); then the demo's,
    # first with a wrong token
    monkeypatch.delenv("SOURCES__HELPDESK__TOKEN", raising=False)
    helpdesk = check_sources(["helpdesk"])
    assert [(f.check, f.status) for f in helpdesk] == [("settings", "fail")]
    assert helpdesk[0].detail.startswith("no token: set [sources.helpdesk]")
    monkeypatch.setenv("SOURCES__HELPDESK__BASE_URL", f"{api_server.url}/helpdesk/api/v2")
    monkeypatch.setenv("SOURCES__HELPDESK__TOKEN", "wrong")
    reach = _by_check(check_sources(["helpdesk"]), "helpdesk")["reachable"][0]
    assert reach.status == "fail" and "token is refused" in reach.detail
    monkeypatch.setenv("SOURCES__HELPDESK__TOKEN", "test-token")
    assert _by_check(check_sources(["helpdesk"]), "helpdesk")["reachable"][0].status == "ok"
