"""The per-country seeds of the staging normalisation (docs/staging.md) are consistent: one row
per ISO 3166-1 alpha-2 code, prefixes of digits, and every postcode format turns its own
example, written compactly, back into the example. No database: the dbt unit tests of the
staging models check the SQL."""

from __future__ import annotations

import csv
import re
from pathlib import Path

SEEDS = Path(__file__).absolute().parent.parent / "seeds"


def _rows(name: str) -> list[dict[str, str]]:
    with (SEEDS / f"{name}.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_calling_codes_one_row_per_country_and_digit_prefixes():
    rows = _rows("country_calling_codes")
    codes = [row["country_code"] for row in rows]
    assert len(codes) == len(set(codes))
    assert {"GB", "IE", "AU", "US", "CA", "DE", "FR", "NL"} <= set(codes)
    for row in rows:
        assert re.fullmatch(r"[A-Z]{2}", row["country_code"]), row
        assert re.fullmatch(r"[1-9][0-9]{0,2}", row["calling_code"]), row
        assert re.fullmatch(r"[0-9]*", row["trunk_prefix"]), row
        assert re.fullmatch(r"0[0-9]+", row["international_prefix"]), row
    gb = next(row for row in rows if row["country_code"] == "GB")
    # GB phones must stay exactly as before countries were added
    assert (gb["calling_code"], gb["trunk_prefix"], gb["international_prefix"]) == ("44", "0", "00")


def test_postcode_formats_normalise_their_examples():
    rows = _rows("postcode_formats")
    codes = [row["country_code"] for row in rows]
    assert len(codes) == len(set(codes))
    assert {"GB", "IE", "AU", "US", "CA", "DE", "FR", "NL"} <= set(codes)
    for row in rows:
        assert row["pattern"].startswith("^") and row["pattern"].endswith("$"), row
        compact = re.sub(r"[^A-Z0-9]", "", row["example"].upper())
        # PostgreSQL's replacement \1 is Python's \g<1>; these patterns read the same in both
        replacement = re.sub(r"\\(\d)", r"\\g<\1>", row["replacement"])
        assert re.fullmatch(row["pattern"], compact), row
        assert re.sub(row["pattern"], replacement, compact) == row["example"], row
