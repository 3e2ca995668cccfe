"""Vectorised quarantine for Arrow batches read from the shop database."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from ingestion.quarantine import quarantine_item
from ingestion.sources.shop.settings import ShopTable


def arrow_splitter(table: ShopTable, source_name: str = "shop"):
    """Splitter (see ``split_quarantine``): valid rows stay one Arrow table, rows missing a key
    or a required value become quarantine rows (checked column-wise: the fast path stays fast)."""

    checked = tuple(dict.fromkeys((*table.primary_key, *table.required, table.cursor)))

    def _split(item: Any) -> tuple[Any, list[Any]]:
        if not isinstance(item, pa.Table | pa.RecordBatch):
            return item, []  # the sqlalchemy backend yields dicts: the database checked them
        present = [name for name in checked if name in item.schema.names]
        if not present:
            return item, []
        valid = None
        for name in present:
            col_valid = pc.is_valid(item.column(name))
            valid = col_valid if valid is None else pc.and_(valid, col_valid)
        invalid_count = len(item) - pc.sum(pc.cast(valid, pa.int64())).as_py()
        if invalid_count == 0:
            return item, []
        bad = []
        for row in item.filter(pc.invert(valid)).to_pylist():
            missing = [name for name in present if row.get(name) is None]
            key = "|".join("" if row.get(k) is None else str(row.get(k)) for k in table.primary_key)
            bad.append(
                quarantine_item(
                    source_name,
                    table.name,
                    row,
                    "required value is missing: " + ", ".join(missing),
                    location=f"table {table.name}",
                    record_key=key or None,
                )
            )
        return item.filter(valid), bad

    return _split


def sqlite_cursor_query(query, table, incremental=None, engine=None):
    """dlt's incremental filter compares the cursor with a bound datetime. SQLite keeps
    datetimes as text and SQLAlchemy binds them with microseconds, so a stored
    '2030-01-01 00:00:00' is *less* than the bound '2030-01-01 00:00:00.000000': rows updated
    in the same second as the last load's newest row were silently skipped. On SQLite, compare
    through SQLite's datetime() on both sides instead (boundary rows are read again; dlt
    de-duplicates them by primary key and the merge is idempotent). Other databases compare
    real timestamps and keep dlt's query."""
    if engine is None or engine.dialect.name != "sqlite" or incremental is None:
        return query
    last_value = incremental.last_value
    if last_value is None:
        return query
    if hasattr(last_value, "strftime"):
        last_value = last_value.strftime("%Y-%m-%d %H:%M:%S.%f")
    column = table.c[incremental.cursor_path]
    return table.select().where(sa.func.datetime(column) >= sa.func.datetime(str(last_value)))
