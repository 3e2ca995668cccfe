"""Web analytics events: JSON-lines drops."""

from __future__ import annotations

from ingestion.quarantine import Column, TableSpec

SOURCE = "web"

EVENTS = TableSpec(
    SOURCE,
    "events",
    [
        Column("event_id", "text", required=True),
        Column("event_type", "text", required=True),
        Column("cookie_id", "text", required=True),
        Column("account_id", "bigint"),
        Column("page_url", "text"),
        Column("product_sku", "text"),
        Column("occurred_at", "timestamp", required=True),
    ],
    primary_key=["event_id"],
)

EVENTS_GLOB = "events/*.jsonl"
