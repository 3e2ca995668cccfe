"""Vectorised quarantine for Arrow batches read from the shop database."""

from __future__ import annotations

from typing import Any

import dlt
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


def quarantined_row(
    table: ShopTable, row: dict[str, Any], problems: list[str], source_name: str = "shop"
) -> Any:
    """The quarantine row of a shop table's row (its key, the problems found)."""
    key = "|".join("" if row.get(k) is None else str(row.get(k)) for k in table.primary_key)
    return quarantine_item(
        source_name,
        table.name,
        row,
        "; ".join(problems),
        location=f"table {table.name}",
        record_key=key or None,
    )


def arrow_splitter(table: ShopTable, source_name: str = "shop"):
    """Splitter (see ``split_quarantine``): valid rows stay one Arrow table; rows missing a key
    or a required value, or with text that cannot be loaded (a NUL byte, over the length limit)
    become quarantine rows. Checked column-wise: the fast path stays fast."""

    checked = tuple(dict.fromkeys((*table.primary_key, *table.required, table.cursor)))

    def quarantined(row: dict[str, Any], problems: list[str]) -> Any:
        return quarantined_row(table, row, problems, source_name)

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
            return keys_not_null(item), []
        # (a sum over no rows is null: connectorx's stream may end with an empty batch)
        invalid_count = len(item) - (pc.sum(pc.cast(valid, pa.int64())).as_py() or 0)
        if invalid_count == 0:
            return keys_not_null(item), []
        bad = [
            quarantined(row, _row_problems(table, row, checked))
            for row in item.filter(pc.invert(valid)).to_pylist()
        ]
        return keys_not_null(item.filter(valid)), bad

    def keys_not_null(item: pa.Table | pa.RecordBatch) -> pa.Table | pa.RecordBatch:
        # the key columns as dlt's hints have them (not null: the rows without were split
        # off), else dlt warns of differing hints on every batch
        schema = item.schema
        for name in table.primary_key:
            index = schema.get_field_index(name)
            if index >= 0:
                schema = schema.set(index, schema.field(index).with_nullable(False))
        return item if schema == item.schema else item.cast(schema)

    return _split


def sqlite_type_checks(table: sa.Table) -> dict[str, tuple[Any, str]]:
    """SQLite keeps any value in any column (a declared type is only a preference): 'abc' in a
    NUMERIC column, 'yesterday' in a DATETIME one. SQLAlchemy's converters then fail on the
    whole batch, and the source would stop on every run. Per column whose values SQLAlchemy
    converts: (the SQL condition under which a value fits, what it must be). Dates must be
    valid calendar dates ('2026-02-31' is not), as Python's date and datetime require."""

    def calendar_date(column: Any) -> Any:
        # SQLite's date() with a modifier normalises '2026-02-31' to '2026-03-03': a valid
        # date is its own normal form
        return sa.func.date(column, "+0 days") == sa.func.substr(column, 1, 10)

    checks: dict[str, tuple[Any, str]] = {}
    for column in table.columns:
        kind, storage = column.type, sa.func.typeof(column)
        if isinstance(kind, sa.Boolean | sa.Integer):
            checks[column.name] = (storage.in_(["integer", "null"]), "an integer")
        elif isinstance(kind, sa.Numeric):
            # and within dlt's decimal(38, 9): at most 29 digits before the point
            fits = sa.and_(storage.in_(["integer", "real"]), sa.func.abs(column) < 1e29)
            checks[column.name] = (sa.or_(storage == "null", fits), "a number of up to 29 digits")
        elif isinstance(kind, sa.DateTime):
            fits = sa.and_(
                storage == "text",
                sa.func.datetime(column, "+0 days").is_not(None),
                calendar_date(column),
            )
            checks[column.name] = (sa.or_(storage == "null", fits), "a timestamp")
        elif isinstance(kind, sa.Date):
            fits = sa.and_(storage == "text", sa.func.date(column, "+0 days") == column)
            checks[column.name] = (sa.or_(storage == "null", fits), "a date (YYYY-MM-DD)")
        elif isinstance(kind, sa.String):
            checks[column.name] = (storage != "blob", "text")
    # never null (a null condition would leave a row out of both the load and the quarantine)
    return {
        name: (sa.func.coalesce(check, False), expected)
        for name, (check, expected) in checks.items()
    }


def _since(table: sa.Table, cursor: str, last_value: Any) -> Any:
    """SQLite rows whose cursor is at or after ``last_value`` (see sqlite_cursor_query)."""
    if hasattr(last_value, "strftime"):
        last_value = last_value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return sa.func.datetime(table.c[cursor]) >= sa.func.datetime(str(last_value))


def _mistyped(table: sa.Table, cursor: str, last_value: Any) -> tuple[Any, dict]:
    """The condition of the rows of ``table`` with a value that does not fit its column
    (sqlite_type_checks), among those changed since ``last_value`` (or every row) and those
    whose cursor itself does not fit (they have no time to be changed at); and the checks."""
    checks = sqlite_type_checks(table)
    if not checks:
        return sa.false(), checks
    condition = sa.not_(sa.and_(*(check for check, _ in checks.values())))
    if last_value is not None:
        window = _since(table, cursor, last_value)
        if cursor in checks:
            window = sa.or_(sa.not_(checks[cursor][0]), window)
        condition = sa.and_(window, condition)
    return condition, checks


def sqlite_cursor_query(query, table, incremental=None, engine=None):
    """On SQLite, the rows of dlt's query but those with a value that does not fit its
    column's type (found first by their keys, so that a clean table is read as fast as before;
    sqlite_mistyped_rows quarantines them), and the incremental filter as below. Other
    databases enforce their types and keep dlt's query.

    dlt's incremental filter compares the cursor with a bound datetime. SQLite keeps
    datetimes as text and SQLAlchemy binds them with microseconds, so a stored
    '2030-01-01 00:00:00' is *less* than the bound '2030-01-01 00:00:00.000000': rows updated
    in the same second as the last load's newest row were silently skipped. On SQLite, compare
    through SQLite's datetime() on both sides instead (boundary rows are read again; dlt
    de-duplicates them by primary key and the merge is idempotent)."""
    if engine is None or engine.dialect.name != "sqlite":
        return query
    last_value = incremental.last_value if incremental is not None else None
    cursor = incremental.cursor_path if incremental is not None else None
    select = table.select()
    if last_value is not None:
        select = select.where(_since(table, cursor, last_value))
    condition, _ = _mistyped(table, cursor, last_value)
    keys = list(table.primary_key.columns) or [sa.column("rowid")]
    with engine.connect() as connection:
        bad = connection.execute(sa.select(*keys).select_from(table).where(condition)).all()
    if bad:
        select = select.where(sa.not_(sa.tuple_(*keys).in_([tuple(row) for row in bad])))
    return select


def sqlite_mistyped_rows(engine: sa.Engine, spec: ShopTable, source_name: str = "shop"):
    """Resource: the rows of a SQLite shop table that sqlite_cursor_query leaves out (a value
    that does not fit its column's type), read as text into the source's ``_quarantine`` with
    the columns that do not fit. It reads the rows changed since its last run (its own
    state: the newest cursor it had seen) and those whose cursor does not fit; the quarantine
    is merged on a hash of the row, so a row read twice is kept once, and a row fixed at the
    source loads as usual."""

    @dlt.resource(
        name=f"{spec.name}__mistyped",
        table_name=q.QUARANTINE_TABLE,
        primary_key="quarantine_id",
        write_disposition={"disposition": "merge", "strategy": "insert-only"},
        columns=q.QUARANTINE_COLUMNS,
    )
    def mistyped() -> Any:
        state = dlt.current.resource_state()
        table = sa.Table(spec.name, sa.MetaData(), autoload_with=engine)
        condition, checks = _mistyped(table, spec.cursor, state.get("seen_to"))
        if not checks:
            return
        values = [sa.cast(column, sa.Text).label(column.name) for column in table.columns]
        flags = [check.label(f"__fits_{index}") for index, (check, _) in enumerate(checks.values())]
        with engine.connect() as connection:
            # text, as SQLite's datetime() gives it (a cursor that does not fit has none)
            newest = sa.func.max(sa.func.datetime(table.c[spec.cursor]))
            seen_to = connection.execute(sa.select(newest)).scalar()
            for row in connection.execute(sa.select(*values, *flags).where(condition)).mappings():
                raw = {column.name: row[column.name] for column in table.columns}
                problems = [
                    f"{name}: {q.safe_text(raw[name], 60)!r} is not {expected}"
                    for index, (name, (_, expected)) in enumerate(checks.items())
                    if not row[f"__fits_{index}"]
                ]
                yield quarantined_row(spec, raw, problems, source_name)
        if seen_to is not None:
            state["seen_to"] = str(seen_to)

    return mistyped
