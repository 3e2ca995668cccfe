"""Web analytics events (anonymous cookies, page/product views, logins) from JSONL drops.

Built on dlt's ``filesystem`` source; events are merged insert-only on ``event_id`` so late
or re-dropped files never duplicate; broken JSON lines are quarantined. The files' format is a
setting (``[sources.web]``): ``encoding`` (default UTF-8, read strictly), ``timestamp_formats``
(strptime patterns tried after ISO 8601), ``timezone`` (of naive timestamps; default UTC) and
``column_names`` (``{"events": {"your name": "ours"}}``).
"""

from __future__ import annotations

import dlt

from ingestion.readers import (
    DEFAULT_ENCODING,
    INSERT_ONLY,
    FileFormat,
    file_drop_resource,
    jsonl_reader,
)
from ingestion.sources.web.settings import EVENTS, EVENTS_GLOB


@dlt.source(name="web", max_table_nesting=0)
def web_source(
    bucket_url: str = dlt.config.value,
    encoding: str = DEFAULT_ENCODING,
    timestamp_formats: list[str] | None = None,
    timezone: str = "UTC",
    column_names: dict[str, dict[str, str]] | None = None,
):
    file_format = FileFormat.checked(
        encoding,
        timestamp_formats=timestamp_formats,
        timezone=timezone,
        columns=column_names,
        tables={"events": EVENTS},
    )
    yield from file_drop_resource(
        bucket_url, EVENTS_GLOB, EVENTS, jsonl_reader, INSERT_ONLY, file_format
    )
