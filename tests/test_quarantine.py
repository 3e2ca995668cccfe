"""Unit tests of row validation: types, required values, drift pass-through, JSON lines."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from decimal import Decimal

import pyarrow as pa
import pytest

from ingestion import quarantine
from ingestion.quarantine import (
    Column,
    Quarantined,
    RowError,
    TableSpec,
    parse_date,
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
    """(valid rows, quarantined rows) of a validator's items; the rows of an Arrow batch as
    dicts, without dlt's row ids."""
    rows, bad = [], []
    for item in items:
        if isinstance(item, Quarantined):
            bad.append(item)
        elif isinstance(item, pa.Table):
            rows.extend(item.drop_columns([quarantine.DLT_ID]).to_pylist())
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


def test_valid_rows_come_as_arrow_with_the_values_the_rows_had():
    """Cleaned rows become an Arrow batch of the same values (every type), each with its own
    dlt row id; drift, raw columns and values Arrow refuses keep the row list."""
    raw = [
        {
            "thing_id": "a",
            "amount": "12.34567",
            "count": "-9223372036854775808",
            "happened_at": "2026-01-01T10:00:00+02:00",
            "born_on": "1980-02-29",
            "is_ok": "yes",
        },
        {"thing_id": "b", "happened_at": "2026-01-02"},
    ]
    rows = [SPEC.clean(row) for row in raw]
    batch = SPEC.as_arrow(rows)
    assert isinstance(batch, pa.Table) and batch.num_rows == 2
    ids = batch.column(quarantine.DLT_ID).to_pylist()
    assert len(set(ids)) == 2 and all(ids)
    loaded = batch.drop_columns([quarantine.DLT_ID]).to_pylist()
    for row, back in zip(rows, loaded, strict=True):
        assert {k: v for k, v in back.items() if v is not None} == row
    # rounded to the column's scale as PostgreSQL rounds (half away from zero)
    assert rows[0]["amount"] == Decimal("12.3457")
    assert SPEC.clean({**raw[1], "amount": "-0.00005"})["amount"] == Decimal("-0.0001")
    # the batch's fields say what the columns' dlt hints say (else dlt warns on every batch)
    for column in SPEC.columns:
        field, hint = batch.schema.field(column.name), column.hint()
        assert field.nullable == hint["nullable"], column.name
        if column.data_type == "decimal":
            assert (field.type.precision, field.type.scale) == (hint["precision"], hint["scale"])
    assert not batch.schema.field(quarantine.DLT_ID).nullable
    drifted = [*rows, SPEC.clean({"thing_id": "c", "happened_at": "2026-01-03", "new": "x"})]
    assert SPEC.as_arrow(drifted) is drifted
    raw_spec = TableSpec("demo", "things", SPEC.columns, ["thing_id"], raw_columns=["happened_at"])
    assert raw_spec.as_arrow(rows) is rows
    # more decimal places than the Arrow type holds: PostgreSQL rounds them, as in a list
    precise = [{**rows[0], "amount": Decimal("1." + "1" * 20)}]
    assert SPEC.as_arrow(precise) is precise


def test_naive_and_offset_timestamps_become_utc():
    assert parse_timestamp("2026-01-01 10:00:00") == dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
    assert parse_timestamp("2026-01-01T12:00:00+02:00") == dt.datetime(
        2026, 1, 1, 10, tzinfo=dt.UTC
    )


def test_date_and_timestamp_formats_and_the_zone_of_naive_timestamps():
    """ISO 8601 always; a source's strptime patterns after it, in order; a naive timestamp in
    the source's zone. What no pattern reads is an error naming the patterns."""
    assert parse_date("19800102") == dt.date(1980, 1, 2)  # ISO 8601's basic form
    assert parse_date("1980-01-02", formats=("%d/%m/%Y",)) == dt.date(1980, 1, 2)
    assert parse_date("02/01/1980", formats=("%m-%d-%Y", "%d/%m/%Y")) == dt.date(1980, 1, 2)
    assert parse_date("01-02-1980", formats=("%m-%d-%Y", "%d/%m/%Y")) == dt.date(1980, 1, 2)
    with pytest.raises(RowError, match=r"not a date \(YYYY-MM-DD\)"):
        parse_date("02/01/1980")
    with pytest.raises(RowError, match=r"ISO 8601 or %d/%m/%Y"):
        parse_date("1980/01/02", formats=("%d/%m/%Y",))
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    assert parse_timestamp("2026-07-01 10:00:00", zone=berlin) == dt.datetime(
        2026, 7, 1, 8, tzinfo=dt.UTC
    )
    assert parse_timestamp("2026-01-01T10:00:00Z", zone=berlin) == dt.datetime(
        2026, 1, 1, 10, tzinfo=dt.UTC
    )
    assert parse_timestamp(
        "01.01.2026 10:00", formats=("%d.%m.%Y %H:%M",), zone=berlin
    ) == dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)
    with pytest.raises(RowError, match="not a timestamp"):
        parse_timestamp("01.01.2026 10:00")


def test_file_format_settings_are_checked_and_reach_the_spec():
    from ingestion.readers import FileFormat

    assert FileFormat.checked() == FileFormat()
    assert FileFormat.checked().spec(SPEC) is SPEC  # nothing to change: the shared parsers
    latin = FileFormat.checked("latin-1", ";", "%d/%m/%Y", ["%d.%m.%Y %H:%M"], "Europe/Berlin")
    assert (latin.encoding, latin.delimiter, latin.date_formats) == (
        "iso8859-1",
        ";",
        ("%d/%m/%Y",),
    )
    spec = latin.spec(SPEC)
    row = spec.clean({"thing_id": "a", "happened_at": "01.07.2026 10:00", "born_on": "01/07/2026"})
    assert row["happened_at"] == dt.datetime(2026, 7, 1, 8, tzinfo=dt.UTC)
    assert row["born_on"] == dt.date(2026, 7, 1)
    with pytest.raises(RowError, match="not a timestamp"):
        SPEC.clean({"thing_id": "a", "happened_at": "01.07.2026 10:00"})
    for settings, named in (
        ({"encoding": "klingon"}, "encoding"),
        ({"delimiter": ";;"}, "delimiter"),
        ({"delimiter": '"'}, "delimiter"),
        ({"date_formats": ["YYYYMMDD"]}, "date_formats: 'YYYYMMDD' is not a strptime pattern"),
        ({"timestamp_formats": "%d/%m/%Y", "timezone": "Mars/Olympus"}, "timezone"),
    ):
        with pytest.raises(ValueError, match=named):
            FileFormat.checked(**settings)


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
    reasons = sorted((b["source_line"], b["reason"].split(":")[0]) for b in bad)
    assert reasons == [(2, "invalid JSON"), (3, "not a JSON object"), (5, "happened_at")]
    assert {b["source_location"] for b in bad} == {"events.jsonl"}


# ----------------------------------------------------------------------------- poison input
# values that once made COPY or dlt's extract fail for the whole load package (issue 22)

GOOD = {"thing_id": "x", "happened_at": "2026-01-01"}


@pytest.mark.parametrize(
    "extra, reason",
    [
        ({"amount": "123456789012345678"}, "amount: wider than numeric(18,4)"),
        ({"amount": 1e20}, "amount: wider than numeric(18,4)"),
        ({"amount": "99999999999999.99999"}, "amount: wider than numeric(18,4)"),
        ({"amount": float("inf")}, "amount: not a finite number"),
        ({"count": 2**64}, "count: integer beyond 64 bits"),
        ({"count": "-9223372036854775809"}, "count: integer beyond 64 bits"),
        ({"thing_id": "a\x00b"}, "thing_id: contains a NUL byte"),
        ({"note": "a\x00b"}, "note: contains a NUL byte"),
        ({"note": "Jos\udce9"}, "note: not valid UTF-8"),
        ({"note": "\ud800"}, "note: not valid UTF-8"),
        ({"note": 2**70}, "note: integer beyond 64 bits"),
        ({"note": {"deep": ["ok", "a\x00"]}}, "note: contains a NUL byte"),
        ({"note": "x" * 131_073}, "note: 131,073 characters, over the limit of 131,072"),
        ({"thing_id": "k" * 255}, "thing_id: 255 characters, over the limit of 254"),
        ({"bad\x00name": "v"}, "column name"),
        ({f"c{i}": 1 for i in range(101)}, "101 columns not in the spec"),
        ({"happened_at": "0001-01-01T00:00:00+01:00"}, "happened_at: timestamp out of range"),
    ],
)
def test_poison_values_raise_with_reason(extra, reason):
    with pytest.raises(RowError, match=re.escape(reason)):
        SPEC.clean({**GOOD, **extra})


def test_limits_are_exact_at_the_limit_loads_one_past_is_refused():
    at_limit = {
        "amount": "-99999999999999.9999",
        "count": 2**63 - 1,
        "note": "x" * 131_072,
        "thing_id": "k" * 254,
        "undeclared": -(2**63),
    }
    row = SPEC.clean({**GOOD, **at_limit})
    assert row["amount"] == Decimal("-99999999999999.9999") and row["count"] == 2**63 - 1
    one_past = {
        "amount": "-100000000000000",
        "count": 2**63,
        "note": "x" * 131_073,
        "thing_id": "k" * 255,
        "undeclared": -(2**63) - 1,
    }
    for name, value in one_past.items():
        with pytest.raises(RowError, match=f"^{name}: "):
            SPEC.clean({**GOOD, **at_limit, name: value})


def test_text_ids_sent_as_floats_are_refused_not_collapsed():
    """Two cookie ids sent as JSON numbers that are one float must not become one id."""
    spec = TableSpec("web", "events", [Column("cookie_id", required=True)], ["cookie_id"])
    assert spec.clean({"cookie_id": 12345678901234567})["cookie_id"] == "12345678901234567"
    for value in (12345678901234567.0, 12345678901234568.0, 1.5):
        with pytest.raises(RowError, match="cookie_id: a number where text is expected"):
            spec.clean({"cookie_id": value})


def test_quarantine_rows_are_never_poison_themselves():
    item = quarantine_item(
        "demo", "things", "a\x00b Jos\udce9 \ud800" + "y" * 20_000, "bad \x00", "f", "k\x00", 7
    )
    for value in (item["raw_payload"], item["reason"], item["record_key"]):
        assert quarantine.text_problem(value) is None
    assert item["raw_payload"].startswith("a\\x00b Jos\\xe9 \\ud800")
    assert len(item["raw_payload"]) < 10_100 and item["source_line"] == 7


def test_parse_jsonl_strict_encoding_bom_big_numbers_and_long_lines():
    lines = [
        b'\xef\xbb\xbf{"thing_id": "bom", "happened_at": "2026-01-01"}\n',
        b'{"thing_id": "latin", "happened_at": "2026-01-01", "note": "Jos\xe9"}\n',
        b'{"thing_id": "nul", "happened_at": "2026-01-01", "note": "a\\u0000"}\n',
        b'{"thing_id": "big", "happened_at": "2026-01-01", "count": 18446744073709551616}\n',
        b'{"thing_id": "huge", "happened_at": "2026-01-01", "n": ' + b"9" * 5000 + b"}\n",
        quarantine.OversizedLine('{"thing_id": "long"', 5_000_000),
    ]
    good, bad = _flatten(parse_jsonl(SPEC, lines, location="e.jsonl"))
    assert [g["thing_id"] for g in good] == ["bom"]
    reasons = {b["source_line"]: b["reason"] for b in bad}
    assert reasons[2].startswith("not valid utf-8: byte 0xe9")
    assert "Jos\\xe9" in bad[0]["raw_payload"] and "\ufffd" not in str(good + bad)
    assert reasons[3] == "note: contains a NUL byte"
    assert reasons[4].startswith("count: integer beyond 64 bits")
    assert reasons[5].startswith("invalid JSON: Exceeds the limit")
    assert reasons[6].startswith("line of 5,000,000 characters")
    latin = list(parse_jsonl(SPEC, lines[1:2], encoding="latin-1"))
    assert latin[0][0]["note"] == "José"


def test_the_same_bad_row_on_two_lines_is_two_quarantine_rows():
    lines = ['{"thing_id": "1"}\n', '{"thing_id": "1"}\n']
    _, bad = _flatten(parse_jsonl(SPEC, lines, location="e.jsonl"))
    assert len({b["quarantine_id"] for b in bad}) == 2
