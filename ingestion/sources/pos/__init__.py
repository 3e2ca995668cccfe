"""Store POS exports: CSV drops in a local folder or any fsspec URL (s3://, gs://, file://).

Built on dlt's ``filesystem`` source: new or changed files are picked up by modification date;
rows are validated, malformed ones quarantined. Transactions and lines are immutable events,
merged insert-only on their ids (a re-dropped or late file never duplicates); loyalty sign-ups
are merged so a corrected export replaces the earlier row. ``encoding`` is the exports' text
encoding (default UTF-8, read strictly; ``sources.pos.encoding`` in .dlt/config.toml).
"""

from __future__ import annotations

import dlt

from ingestion.readers import DEFAULT_ENCODING, INSERT_ONLY, MERGE, csv_reader, file_drop_resource
from ingestion.sources.pos.settings import POS_TABLES


@dlt.source(name="pos", max_table_nesting=0)
def pos_source(bucket_url: str = dlt.config.value, encoding: str = DEFAULT_ENCODING):
    for spec, glob, disposition in POS_TABLES.values():
        yield from file_drop_resource(
            bucket_url,
            glob,
            spec,
            csv_reader,
            INSERT_ONLY if disposition == "insert-only" else MERGE,
            encoding,
        )
