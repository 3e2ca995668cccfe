"""`ciw init` and `ciw check`: a newcomer's settings written and checked before anything loads
(issue #23 item 6)."""

from __future__ import annotations

import datetime as dt
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


def test_a_newcomer_inits_edits_checks_and_loads_a_till_export(
    warehouse, tmp_path, monkeypatch, capsys
):
    """init reads the format from the files (Latin-1, semicolons, day-first dates, naive local
    times), asks what it cannot know, and the configuration it writes, once answered, passes
    check and loads every row."""
    import tomllib

    from ingestion.runner import run_source
    from ingestion.sources.pos import pos_source

    till = tmp_path / "till" / "loyalty_signups"
    till.mkdir(parents=True)
    header = (
        "loyalty_card_id;first_name;last_name;date_of_birth;email;phone;address_line1;city;"
        "postcode;store_id;signed_up_at"
    )
    rows = [
        "LC1;José;Müller;24/12/1980;;;Hauptstraße 1;Köln;50667;S01;05/07/2026 10:30",
        "LC2;Anna;Groß;02/01/1975;;;Ring 2;Bonn;53111;S01;05/07/2026 11:00",
    ]
    (till / "signups_2026-07-05.csv").write_bytes("\n".join([header, *rows, ""]).encode("latin-1"))
    out = tmp_path / "config.toml"
    assert cli.main(["init", "--pos", str(till.parent), "--out", str(out)]) == 0
    text = out.read_text()
    config = tomllib.loads(text)
    assert config["ciw"]["sources"] == ["pos"]
    pos = config["sources"]["pos"]
    assert pos == {
        "bucket_url": str(till.parent),
        "encoding": "cp1252",
        "delimiter": ";",
        "date_formats": ["%d/%m/%Y"],
        "timestamp_formats": ["%d/%m/%Y %H:%M"],
        "timezone": "UTC",
    }
    assert "# ? the timestamps carry no zone" in text.replace("  # ?", "# ?")
    assert "no transactions/*.csv under" in text  # asked, not guessed
    # a second init does not overwrite without --force
    assert cli.main(["init", "--pos", str(till.parent), "--out", str(out)]) == 2

    # the newcomer answers the question, then check and load (dlt's settings, as the file's)
    pos["timezone"] = "Europe/Berlin"
    for key, value in pos.items():
        monkeypatch.setenv(
            f"SOURCES__POS__{key.upper()}", value if isinstance(value, str) else json.dumps(value)
        )
    findings = check_sources(["pos"])
    assert "fail" not in {f.status for f in findings}, findings
    result = run_source("pos", pos_source(), warehouse, tmp_path / "pipelines")
    assert result.ok and result.rows["loyalty_signups"] == 2 and result.quarantined_new == 0
    assert warehouse.query(
        "select first_name, date_of_birth, signed_up_at from pos.loyalty_signups "
        "order by loyalty_card_id"
    ) == [
        ("José", dt.date(1980, 12, 24), dt.datetime(2026, 7, 5, 8, 30, tzinfo=dt.UTC)),
        ("Anna", dt.date(1975, 1, 2), dt.datetime(2026, 7, 5, 9, 0, tzinfo=dt.UTC)),
    ]


def test_init_asks_where_the_files_cannot_say(tmp_path):
    """Days all 12 or less: day first is assumed, and asked. A few unreadable values among ISO
    ones are bad rows, not a format. A shop URL's password is never written."""
    from ingestion.init import propose, render

    folder = tmp_path / "pos" / "loyalty_signups"
    folder.mkdir(parents=True)
    header = "loyalty_card_id,date_of_birth,signed_up_at"
    rows = [f"LC{i},0{i % 9 + 1}/0{i % 8 + 1}/1980,2026-07-05T10:00:00Z" for i in range(40)]
    rows.append("LC99,not a date,2026-13-45T99:00:00Z")
    (folder / "signups.csv").write_text("\n".join([header, *rows, ""]), encoding="utf-8")
    pos, shop = propose({"pos": str(tmp_path / "pos"), "shop": "mysql://reader:s3cret@db/shop"})
    assert pos.settings["date_formats"] == ["%d/%m/%Y"]
    assert "timestamp_formats" not in pos.settings and "timezone" not in pos.settings
    questions = " ".join(pos.questions)
    assert "day first is assumed" in questions
    assert "1 of 41 sampled timestamps read as no date" in questions
    text = render([pos, shop], dt.date(2026, 12, 8))
    assert "s3cret" not in text and "mysql://reader:***@db/shop" in text
