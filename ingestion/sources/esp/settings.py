"""Email service provider API: contacts and campaign events."""

from __future__ import annotations

from ingestion.quarantine import Column, TableSpec

SOURCE = "esp"
INITIAL_SINCE = "1970-01-01T00:00:00Z"
PAGE_SIZE = 500

CONTACTS = TableSpec(
    SOURCE,
    "contacts",
    [
        Column("contact_id", "text", required=True),
        Column("email", "text", required=True),
        Column("first_name", "text"),
        Column("last_name", "text"),
        Column("status", "text", required=True),
        Column("created_at", "timestamp"),
        Column("updated_at", "timestamp", required=True),
    ],
    primary_key=["contact_id"],
    raw_columns=["updated_at"],
)

EVENTS = TableSpec(
    SOURCE,
    "events",
    [
        Column("event_id", "text", required=True),
        Column("event_type", "text", required=True),
        Column("contact_id", "text", required=True),
        Column("email", "text"),
        Column("campaign_id", "text"),
        Column("campaign_name", "text"),
        Column("url", "text"),
        Column("occurred_at", "timestamp", required=True),
    ],
    primary_key=["event_id"],
    raw_columns=["occurred_at"],
)
