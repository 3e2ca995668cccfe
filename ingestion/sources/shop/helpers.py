"""Vectorised quarantine for Arrow batches read from the shop database."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from ingestion import quarantine as q
from ingestion.quarantine import quarantine_item, text_problem
from ingestion.sources.shop.settings import ShopTable


def _text_limit(table: ShopTable, name: str) -> int:
    return q.MAX_KEY_CHARS if name in table.primary_key else q.MAX_TEXT_CHARS


def _row_problems(table: ShopTable, row: dict[str, Any], checked: tuple[str, ...]) -> list[str]:
    """Why a row cannot be loaded: a key or required value missing, text PostgreSQL cannot
    hold (a NUL byte: SQLite and MariaDB text may contain one) or too long."""
    missing = [name for name in checked if name in row and row[name] is None]
    problems = ["required value is missing: " + ", ".join(missing)] if missing else []
    for name, value in row.items():
        if isinstance(value, str):
            problem = text_problem(value, _text_limit(table, name))
            if problem:
                problems.append(f"{name}: {problem}")
    return problems


def arrow_splitter(table: ShopTable, source_name: str = "shop"):
    """Splitter (see ``split_quarantine``): valid rows stay one Arrow table; rows missing a key
    or a required value, or with text that cannot be loaded (a NUL byte, over the length limit)
    become quarantine rows. Checked column-wise: the fast path stays fast."""

    checked = tuple(dict.fromkeys((*table.primary_key, *table.required, table.cursor)))

    def quarantined(row: dict[str, Any], problems: list[str]) -> Any:
        key = "|".join("" if row.get(k) is None else str(row.get(k)) for k in table.primary_key)
        return quarantine_item(
            source_name,
            table.name,
            row,
            "; ".join(problems),
            location=f"table {table.name}",
            record_key=key or None,
        )

    def _split(item: Any) -> tuple[Any, list[Any]]:
        if isinstance(item, dict | list):  # the sqlalchemy backend yields dicts
            rows = item if isinstance(item, list) else [item]
            good, bad = [], []
            for row in rows:
                problems = _row_problems(table, row, checked)
                if problems:
                    bad.append(quarantined(row, problems))
                else:
                    good.append(row)
            return good or None, bad
        if not isinstance(item, pa.Table | pa.RecordBatch):
            return item, []
        valid = None
        for name in checked:
            if name in item.schema.names:
                col_valid = pc.is_valid(item.column(name))
                valid = col_valid if valid is None else pc.and_(valid, col_valid)
        for index, column in enumerate(item.schema):
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                continue
            values = item.column(index)
            loadable = pc.and_kleene(
                pc.invert(pc.match_substring(values, "\x00")),
                pc.less_equal(pc.utf8_length(values), _text_limit(table, column.name)),
            )
            loadable = pc.fill_null(loadable, True)
            valid = loadable if valid is None else pc.and_(valid, loadable)
        if valid is None:
            return item, []
        invalid_count = len(item) - pc.sum(pc.cast(valid, pa.int64())).as_py()
        if invalid_count == 0:
            return item, []
        bad = [
            quarantined(row, _row_problems(table, row, checked))
            for row in item.filter(pc.invert(valid)).to_pylist()
        ]
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
