"""Store POS exports: CSV drops in a local folder or any fsspec URL (s3://, gs://, file://).

Built on dlt's ``filesystem`` source: new or changed files are picked up by modification date;
rows are validated, malformed ones quarantined. Transactions and lines are immutable events,
merged insert-only on their ids (a re-dropped or late file never duplicates); loyalty sign-ups
are merged so a corrected export replaces the earlier row. The exports' format is a setting
(``[sources.pos]`` in .dlt/config.toml, or ``SOURCES__POS__...``): ``encoding`` (default UTF-8,
read strictly), ``delimiter``, ``date_formats`` and ``timestamp_formats`` (strptime patterns tried
after ISO 8601), ``timezone`` (of naive timestamps; default UTC) and ``column_names`` (per
table, your column names -> ours): see FileFormat.
"""

from __future__ import annotations

import dlt

from ingestion.readers import (
    DEFAULT_ENCODING,
    INSERT_ONLY,
    MERGE,
    FileFormat,
    csv_reader,
    file_drop_resource,
)
from ingestion.sources.pos.settings import POS_TABLES


@dlt.source(name="pos", max_table_nesting=0)
def pos_source(
    bucket_url: str = dlt.config.value,
    encoding: str = DEFAULT_ENCODING,
    delimiter: str = ",",
    date_formats: list[str] | None = None,
    timestamp_formats: list[str] | None = None,
    timezone: str = "UTC",
    column_names: dict[str, dict[str, str]] | None = None,
):
    file_format = FileFormat.checked(
        encoding,
        delimiter,
        date_formats,
        timestamp_formats,
        timezone,
        column_names,
        tables={table: spec for table, (spec, _, _) in POS_TABLES.items()},
    )
    for spec, glob, disposition in POS_TABLES.values():
        yield from file_drop_resource(
            bucket_url,
            glob,
            spec,
            csv_reader,
            INSERT_ONLY if disposition == "insert-only" else MERGE,
            file_format,
        )
