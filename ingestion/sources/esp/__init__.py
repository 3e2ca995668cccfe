"""Email service provider: contacts (merged on ``contact_id``, ``updated_since`` cursor) and
events (sends, opens, clicks, unsubscribes, bounces; appended with a ``since`` cursor whose
boundary dlt de-duplicates on ``event_id``), read with dlt's ``rest_api`` source."""

from __future__ import annotations

import dlt

from ingestion.rest import bearer, incremental_param, validated_rest_resources
from ingestion.sources.esp.settings import CONTACTS, EVENTS, INITIAL_SINCE, PAGE_SIZE


@dlt.source(name="esp", max_table_nesting=0)
def esp_source(
    base_url: str = dlt.config.value,
    token: str = dlt.secrets.value,
    page_size: int = PAGE_SIZE,
):
    paginator = {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"}
    config = {
        "client": {
            "base_url": base_url.rstrip("/") + "/",
            "auth": bearer(token),
            "paginator": paginator,
        },
        "resource_defaults": {"endpoint": {"data_selector": "data"}},
        "resources": [
            {
                "name": "contacts",
                "primary_key": "contact_id",
                "write_disposition": "merge",
                "endpoint": {
                    "path": "contacts",
                    "params": {
                        "limit": page_size,
                        "updated_since": incremental_param("updated_at", INITIAL_SINCE),
                    },
                },
            },
            {
                "name": "events",
                "primary_key": "event_id",
                "write_disposition": "append",
                "endpoint": {
                    "path": "events",
                    "params": {
                        "limit": page_size,
                        "since": incremental_param("occurred_at", INITIAL_SINCE),
                    },
                },
            },
        ],
    }
    yield from validated_rest_resources(config, {"contacts": CONTACTS, "events": EVENTS})
