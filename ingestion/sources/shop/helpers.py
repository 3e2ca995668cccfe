"""Vectorised quarantine for Arrow batches read from the shop database."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

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
