"""Web analytics events (anonymous cookies, page/product views, logins) from JSONL drops.

Built on dlt's ``filesystem`` source; events are merged insert-only on ``event_id`` so late
or re-dropped files never duplicate; broken JSON lines are quarantined. ``encoding`` is the
files' text encoding (default UTF-8, read strictly; ``sources.web.encoding``).
"""

from __future__ import annotations

import dlt

from ingestion.readers import DEFAULT_ENCODING, INSERT_ONLY, file_drop_resource, jsonl_reader
from ingestion.sources.web.settings import EVENTS, EVENTS_GLOB


@dlt.source(name="web", max_table_nesting=0)
def web_source(bucket_url: str = dlt.config.value, encoding: str = DEFAULT_ENCODING):
    yield from file_drop_resource(
        bucket_url, EVENTS_GLOB, EVENTS, jsonl_reader, INSERT_ONLY, encoding
    )
