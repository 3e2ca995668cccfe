"""Helpdesk / contact-centre tickets from a paginated REST API (bearer token, ``updated_since``
cursor), read with dlt's ``rest_api`` source and merged on ``ticket_id``. dlt's HTTP client
retries 5xx, 429 (honouring Retry-After), connection errors and timeouts."""

from __future__ import annotations

import dlt

from ingestion.rest import bearer, incremental_param, validated_rest_resources
from ingestion.sources.helpdesk.settings import INITIAL_UPDATED_SINCE, PAGE_SIZE, TICKETS


@dlt.source(name="helpdesk", max_table_nesting=0)
def helpdesk_source(
    base_url: str = dlt.config.value,
    token: str = dlt.secrets.value,
    page_size: int = PAGE_SIZE,
):
    config = {
        "client": {
            "base_url": base_url.rstrip("/") + "/",
            "auth": bearer(token),
            "paginator": {"type": "json_link", "next_url_path": "next_page"},
        },
        "resources": [
            {
                "name": "tickets",
                "primary_key": "ticket_id",
                "write_disposition": "merge",
                "endpoint": {
                    "path": "tickets",
                    "data_selector": "tickets",
                    "params": {
                        "per_page": page_size,
                        "updated_since": incremental_param("updated_at", INITIAL_UPDATED_SINCE),
                    },
                },
            }
        ],
    }
    yield from validated_rest_resources(config, {"tickets": TICKETS})
