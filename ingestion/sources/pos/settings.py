"""Store POS export files: one folder per table, weekly CSV drops."""

from __future__ import annotations

from ingestion.quarantine import MAX_KEY_CHARS, Column, TableSpec

SOURCE = "pos"

TRANSACTIONS = TableSpec(
    SOURCE,
    "transactions",
    [
        Column("transaction_id", "text", required=True),
        Column("store_id", "text", required=True),
        Column("transaction_type", "text", required=True),
        # identifiers the matched layer indexes: no longer than a key
        Column("loyalty_card_id", "text", max_length=MAX_KEY_CHARS),
        Column("card_token_hash", "text", max_length=MAX_KEY_CHARS),
        Column("payment_method", "text"),
        Column("total_amount", "decimal", required=True),
        Column("transacted_at", "timestamp", required=True),
    ],
    primary_key=["transaction_id"],
)

TRANSACTION_LINES = TableSpec(
    SOURCE,
    "transaction_lines",
    [
        Column("transaction_line_id", "text", required=True),
        Column("transaction_id", "text", required=True),
        Column("sku", "text", required=True),
        Column("quantity", "bigint", required=True),
        Column("unit_price", "decimal", required=True),
        Column("discount_amount", "decimal"),
    ],
    primary_key=["transaction_line_id"],
)

LOYALTY_SIGNUPS = TableSpec(
    SOURCE,
    "loyalty_signups",
    [
        Column("loyalty_card_id", "text", required=True),
        Column("first_name", "text"),
        Column("last_name", "text"),
        Column("date_of_birth", "date"),
        Column("email", "text"),
        Column("phone", "text"),
        Column("address_line1", "text"),
        # optional: older exports have neither column (their rows load with both null)
        Column("address_line2", "text"),
        Column("city", "text"),
        Column("postcode", "text"),
        Column("country_code", "text"),  # ISO 3166-1 alpha-2; empty = the source's default
        Column("store_id", "text"),
        Column("signed_up_at", "timestamp", required=True),
    ],
    primary_key=["loyalty_card_id"],
)

# table spec, glob under the bucket, write disposition
POS_TABLES = {
    "transactions": (TRANSACTIONS, "transactions/*.csv", "insert-only"),
    "transaction_lines": (TRANSACTION_LINES, "transaction_lines/*.csv", "insert-only"),
    "loyalty_signups": (LOYALTY_SIGNUPS, "loyalty_signups/*.csv", "merge"),
}
