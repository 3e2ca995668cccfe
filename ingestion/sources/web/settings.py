"""Web analytics events: JSON-lines drops."""

from __future__ import annotations

from ingestion.quarantine import MAX_KEY_CHARS, Column, TableSpec

SOURCE = "web"

EVENTS = TableSpec(
    SOURCE,
    "events",
    [
        Column("event_id", "text", required=True),
        Column("event_type", "text", required=True),
        # a record key of the matched layer (indexed): no longer than a key. Loaded exactly as
        # sent (case, spaces): two cookies that differ in any character stay two cookies
        Column("cookie_id", "text", required=True, max_length=MAX_KEY_CHARS),
        Column("account_id", "bigint"),
        Column("page_url", "text"),
        Column("product_sku", "text"),
        Column("occurred_at", "timestamp", required=True),
    ],
    primary_key=["event_id"],
)

EVENTS_GLOB = "events/*.jsonl"
