"""Helpdesk / contact-centre API: tickets (enquiries and complaints)."""

from __future__ import annotations

from ingestion.quarantine import Column, TableSpec

SOURCE = "helpdesk"
INITIAL_UPDATED_SINCE = "1970-01-01T00:00:00Z"
PAGE_SIZE = 100

TICKETS = TableSpec(
    SOURCE,
    "tickets",
    [
        Column("ticket_id", "bigint", required=True),
        Column("contact_type", "text", required=True),
        Column("channel", "text", required=True),
        Column("status", "text"),
        Column("subject", "text"),
        Column("product_sku", "text"),
        Column("product_category", "text"),
        Column("handle_minutes", "decimal"),
        Column("requester_name", "text"),
        Column("requester_email", "text"),
        Column("requester_phone", "text"),
        Column("created_at", "timestamp", required=True),
        Column("updated_at", "timestamp", required=True),
        Column("solved_at", "timestamp"),
    ],
    primary_key=["ticket_id"],
    raw_columns=["updated_at"],
)
