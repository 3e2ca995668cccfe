"""Unit tests of row validation: types, required values, drift pass-through, JSON lines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ingestion.quarantine import (
    Column,
    Quarantined,
    RowError,
    TableSpec,
    parse_jsonl,
    parse_timestamp,
    quarantine_item,
    validate_rows,
)

SPEC = TableSpec(
    "demo",
    "things",
    [
        Column("thing_id", "text", required=True),
        Column("amount", "decimal"),
        Column("count", "bigint"),
        Column("happened_at", "timestamp", required=True),
        Column("born_on", "date"),
        Column("is_ok", "bool"),
    ],
    primary_key=["thing_id"],
)


def _flatten(items):
    rows, bad = [], []
    for item in items:
        if isinstance(item, Quarantined):
            bad.append(item)
        else:
            rows.extend(item)
    return rows, bad


def test_clean_types_values_and_blanks():
    row = SPEC.clean(
        {
            "thing_id": "a1",
            "amount": " 12.50 ",
            "count": "3",
            "happened_at": "2026-01-05T10:00:00Z",
            "born_on": "1985-02-03",
            "is_ok": "yes",
        }
    )
    assert row["amount"] == Decimal("12.50")
    assert row["count"] == 3
    assert row["happened_at"] == dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)
    assert row["born_on"] == dt.date(1985, 2, 3)
    assert row["is_ok"] is True
    assert (
        SPEC.clean({"thing_id": "a", "happened_at": "2026-01-05", "amount": ""})["amount"] is None
    )


@pytest.mark.parametrize(
    "row, reason",
    [
        ({"thing_id": "", "happened_at": "2026-01-01"}, "thing_id: required value is missing"),
        ({"happened_at": "2026-01-01"}, "thing_id: required value is missing"),
        ({"thing_id": "x", "happened_at": "2026-13-45T99:00:00Z"}, "happened_at: not a timestamp"),
        ({"thing_id": "x", "happened_at": "2026-01-01", "amount": "abc"}, "amount: not a number"),
        ({"thing_id": "x", "happened_at": "2026-01-01", "count": "1.5"}, "count: not an integer"),
        (
            {"thing_id": "x", "happened_at": "2026-01-01", "born_on": "31/02/1985"},
            "born_on: not a date",
        ),
        ({"thing_id": "x", "happened_at": "2026-01-01", "amount": "NaN"}, "amount: not a finite"),
        ({"thing_id": "x", "happened_at": "2026-01-01", "count": True}, "count: not an integer"),
    ],
)
def test_malformed_rows_raise_with_reason(row, reason):
    with pytest.raises(RowError, match=reason):
        SPEC.clean(row)


def test_unknown_columns_pass_through_for_schema_drift():
    row = SPEC.clean({"thing_id": "x", "happened_at": "2026-01-01", "new_col": "v"})
    assert row["new_col"] == "v"


def test_naive_and_offset_timestamps_become_utc():
    assert parse_timestamp("2026-01-01 10:00:00") == dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
    assert parse_timestamp("2026-01-01T12:00:00+02:00") == dt.datetime(
        2026, 1, 1, 10, tzinfo=dt.UTC
    )


def test_validate_rows_splits_good_and_bad_and_loses_nothing():
    rows = [{"thing_id": str(i), "happened_at": "2026-01-01"} for i in range(12_000)]
    rows[5]["amount"] = "abc"
    rows[7000]["thing_id"] = None
    good, bad = _flatten(validate_rows(SPEC, rows, location="file.csv"))
    assert len(good) + len(bad) == 12_000
    assert {b["record_key"] for b in bad} == {"5", None}
    assert all(b["source_location"] == "file.csv" and b["target_table"] == "things" for b in bad)


def test_quarantine_id_is_stable_for_the_same_bad_row():
    first = quarantine_item("demo", "things", {"a": 1}, "bad", "f.csv")
    again = quarantine_item("demo", "things", {"a": 1}, "bad", "f.csv")
    other = quarantine_item("demo", "things", {"a": 2}, "bad", "f.csv")
    assert first["quarantine_id"] == again["quarantine_id"] != other["quarantine_id"]


def test_parse_jsonl_quarantines_broken_lines_and_non_objects():
    lines = [
        '{"thing_id": "1", "happened_at": "2026-01-01T00:00:00Z"}\n',
        '{"thing_id": "2", "happened_at": \n',
        "[1, 2]\n",
        "\n",
        b'{"thing_id": "3", "happened_at": "yesterday"}\n',
    ]
    good, bad = _flatten(parse_jsonl(SPEC, lines, location="events.jsonl"))
    assert [g["thing_id"] for g in good] == ["1"]
    reasons = sorted(b["reason"].split(":")[0] for b in bad)
    assert reasons == ["happened_at", "invalid JSON at line 2", "line 3 is not a JSON object"]
