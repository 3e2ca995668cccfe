"""Vectorised quarantine for Arrow batches read from the shop database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.quarantine import quarantine_item
from ingestion.sources.shop.settings import ShopTable


def split_malformed(table: ShopTable, source_name: str = "shop"):
    """A dlt yield-map: passes valid rows on as Arrow, quarantines rows missing a key or a
    required value (checked column-wise, so the fast path stays fast)."""

    checked = tuple(dict.fromkeys((*table.primary_key, *table.required, table.cursor)))

    def _split(item: Any) -> Iterator[Any]:
        if not isinstance(item, pa.Table | pa.RecordBatch):
            yield item  # sqlalchemy backend yields dicts; they are checked by the database
            return
        present = [name for name in checked if name in item.schema.names]
        if not present:
            yield item
            return
        valid = None
        for name in present:
            col_valid = pc.is_valid(item.column(name))
            valid = col_valid if valid is None else pc.and_(valid, col_valid)
        invalid_count = len(item) - pc.sum(pc.cast(valid, pa.int64())).as_py()
        if invalid_count == 0:
            yield item
            return
        yield item.filter(valid)
        for row in item.filter(pc.invert(valid)).to_pylist():
            missing = [name for name in present if row.get(name) is None]
            key = "|".join("" if row.get(k) is None else str(row.get(k)) for k in table.primary_key)
            yield quarantine_item(
                source_name,
                table.name,
                row,
                "required value is missing: " + ", ".join(missing),
                location=f"table {table.name}",
                record_key=key or None,
            )

    return _split
