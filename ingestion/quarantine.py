"""Row validation and quarantine, shared by every source.

A malformed row (bad date, missing key, wrong type, broken JSON line) never stops a load and is
never dropped silently: it is written to the ``_quarantine`` table of the source's raw schema
with the table it was meant for, the raw payload and the reason. The quarantine table is merged
on a hash of (table, payload, reason), so re-reading the same bad row does not duplicate it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import dlt

QUARANTINE_TABLE = "_quarantine"

QUARANTINE_COLUMNS = {
    "quarantine_id": {"data_type": "text", "nullable": False},
    "source_name": {"data_type": "text", "nullable": False},
    "target_table": {"data_type": "text", "nullable": False},
    "source_location": {"data_type": "text"},
    "record_key": {"data_type": "text"},
    "reason": {"data_type": "text", "nullable": False},
    "raw_payload": {"data_type": "text", "nullable": False},
    "quarantined_at": {"data_type": "timestamp"},
}


class Quarantined(dict):
    """A malformed row on its way to ``_quarantine`` (see ``split_quarantine``)."""


class RowError(ValueError):
    """A value that cannot be converted to its declared type."""


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, sort_keys=True)


def parse_timestamp(value: Any) -> dt.datetime:
    """ISO 8601 (with Z, offset or naive = UTC) or 'YYYY-MM-DD HH:MM:SS' -> aware UTC."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise RowError(f"not a timestamp: {value!r}") from exc
    else:
        raise RowError(f"not a timestamp: {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def parse_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError as exc:
            raise RowError(f"not a date (YYYY-MM-DD): {value!r}") from exc
    raise RowError(f"not a date: {value!r}")


def parse_int(value: Any) -> int:
    if isinstance(value, bool):
        raise RowError(f"not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError as exc:
            raise RowError(f"not an integer: {value!r}") from exc
    raise RowError(f"not an integer: {value!r}")


def parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise RowError(f"not a number: {value!r}")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation as exc:
            raise RowError(f"not a number: {value!r}") from exc
        if not number.is_finite():
            raise RowError(f"not a finite number: {value!r}")
        return number
    raise RowError(f"not a number: {value!r}")


def parse_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    raise RowError(f"not text: {value!r}")


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "t", "yes", "y"):
        return True
    if text in ("0", "false", "f", "no", "n"):
        return False
    raise RowError(f"not a boolean: {value!r}")


PARSERS: dict[str, Callable[[Any], Any]] = {
    "text": parse_text,
    "bigint": parse_int,
    "decimal": parse_decimal,
    "timestamp": parse_timestamp,
    "date": parse_date,
    "bool": parse_bool,
}


@dataclass(frozen=True)
class Column:
    """A declared column: its dlt data type and whether a row without it is malformed."""

    name: str
    data_type: str = "text"
    required: bool = False

    def hint(self) -> dict[str, Any]:
        hint: dict[str, Any] = {"data_type": self.data_type, "nullable": not self.required}
        if self.data_type == "decimal":
            hint["precision"] = 18
            hint["scale"] = 4
        return hint


@dataclass
class TableSpec:
    """What a valid row of one raw table looks like."""

    source_name: str
    table: str
    columns: Sequence[Column]
    primary_key: Sequence[str]
    # validated but loaded as received (API cursor fields: dlt's incremental compares them)
    raw_columns: Sequence[str] = ()
    by_name: dict[str, Column] = field(init=False)

    def __post_init__(self) -> None:
        self.by_name = {column.name: column for column in self.columns}

    def hints(self) -> dict[str, dict[str, Any]]:
        return {column.name: column.hint() for column in self.columns}

    def clean(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Typed copy of ``row``; raises RowError with every problem found.

        Empty strings become NULL. Columns the spec does not know (schema drift) pass through
        unchanged so dlt adds them to the table and the run reports them.
        """
        problems: list[str] = []
        out: dict[str, Any] = {}
        for name, value in row.items():
            column = self.by_name.get(name)
            if isinstance(value, str) and value.strip() == "":
                value = None
            if column is None or value is None:
                out[name] = value
                continue
            try:
                parsed = PARSERS[column.data_type](value)
                out[name] = value if name in self.raw_columns else parsed
            except RowError as exc:
                problems.append(f"{name}: {exc}")
        for column in self.columns:
            already = any(p.startswith(f"{column.name}:") for p in problems)
            if column.required and out.get(column.name) is None and not already:
                problems.append(f"{column.name}: required value is missing")
        if problems:
            raise RowError("; ".join(problems))
        return out

    def record_key(self, row: Mapping[str, Any]) -> str | None:
        values = [row.get(key) for key in self.primary_key]
        if all(v is None or v == "" for v in values):
            return None
        return "|".join("" if v is None else str(v) for v in values)


def quarantine_item(
    source_name: str,
    target_table: str,
    raw: Any,
    reason: str,
    location: str | None = None,
    record_key: str | None = None,
) -> Any:
    """A row for the ``_quarantine`` table, keyed by a stable hash so re-reads merge."""
    payload = _to_text(raw)
    digest = hashlib.sha256(
        "\x1f".join([target_table, location or "", payload, reason]).encode()
    ).hexdigest()[:32]
    return Quarantined(
        {
            "quarantine_id": digest,
            "source_name": source_name,
            "target_table": target_table,
            "source_location": location,
            "record_key": record_key,
            "reason": reason,
            "raw_payload": payload,
            "quarantined_at": dt.datetime.now(dt.UTC),
        }
    )


Splitter = Callable[[Any], tuple[Any, list["Quarantined"]]]


def split_marked(items: Any) -> tuple[Any, list[Quarantined]]:
    """Splitter for readers that already yield ``Quarantined`` rows among the valid ones."""
    if isinstance(items, Quarantined):
        return None, [items]
    if isinstance(items, list):
        good = [item for item in items if not isinstance(item, Quarantined)]
        return good or None, [item for item in items if isinstance(item, Quarantined)]
    return items, []


def row_splitter(spec: TableSpec, location: str | None = None) -> Splitter:
    """Splitter validating dict rows against ``spec`` (for resources with a row cursor, whose
    incremental step must only ever see the rows as the source sent them)."""

    def split(items: Any) -> tuple[Any, list[Quarantined]]:
        rows = items if isinstance(items, list) else [items]
        good: list[dict[str, Any]] = []
        bad: list[Quarantined] = []
        for row in rows:
            if not isinstance(row, Mapping):
                bad.append(
                    quarantine_item(
                        spec.source_name, spec.table, row, "not a JSON object", location
                    )
                )
                continue
            try:
                good.append(spec.clean(row))
            except RowError as exc:
                bad.append(
                    quarantine_item(
                        spec.source_name,
                        spec.table,
                        dict(row),
                        str(exc),
                        location,
                        spec.record_key(row),
                    )
                )
        return good or None, bad

    return split


def split_quarantine(
    parent: Any, table: str, splitter: Splitter = split_marked, **hints: Any
) -> list[Any]:
    """Fork a reading resource into the table it loads and the source's ``_quarantine`` table.

    ``parent`` is not loaded itself (``selected=False``) but feeds two transformers that apply
    ``splitter`` (item -> valid part, malformed rows): ``table`` with ``hints`` (primary key,
    write disposition, columns) and ``<table>__quarantine``, which writes to ``_quarantine``
    (insert-only merge on ``quarantine_id``). Splitting after the parent keeps dlt's
    incremental cursor on the parent working on the rows exactly as the source sent them.
    """
    parent.selected = False

    @dlt.transformer(name=table, standalone=True)
    def valid_rows(items: Any) -> Iterator[Any]:
        good, _ = splitter(items)
        if good is not None:
            yield good

    @dlt.transformer(
        name=f"{table}__quarantine",
        table_name=QUARANTINE_TABLE,
        primary_key="quarantine_id",
        write_disposition={"disposition": "merge", "strategy": "insert-only"},
        columns=QUARANTINE_COLUMNS,
        standalone=True,
    )
    def quarantined_rows(items: Any) -> Iterator[Any]:
        _, bad = splitter(items)
        if bad:
            yield bad

    good = parent | valid_rows()
    good.apply_hints(**hints)
    return [good, parent | quarantined_rows()]


def validate_rows(
    spec: TableSpec, rows: Iterable[Mapping[str, Any]], location: str | None = None
) -> Iterator[Any]:
    """Yield cleaned rows (in lists, for speed) and quarantine items for the bad ones."""
    batch: list[dict[str, Any]] = []
    for row in rows:
        try:
            batch.append(spec.clean(row))
        except RowError as exc:
            yield quarantine_item(
                spec.source_name, spec.table, dict(row), str(exc), location, spec.record_key(row)
            )
            continue
        if len(batch) >= 5000:
            yield batch
            batch = []
    if batch:
        yield batch


def parse_jsonl(
    spec: TableSpec, lines: Iterable[str | bytes], location: str | None = None
) -> Iterator[Any]:
    """Parse JSON lines; a broken line is quarantined with its line number."""

    def rows() -> Iterator[Mapping[str, Any]]:
        for number, line in enumerate(lines, start=1):
            text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                bad.append(
                    quarantine_item(
                        spec.source_name,
                        spec.table,
                        text.rstrip("\n"),
                        f"invalid JSON at line {number}: {exc.msg}",
                        location,
                    )
                )
                continue
            if not isinstance(obj, dict):
                bad.append(
                    quarantine_item(
                        spec.source_name,
                        spec.table,
                        text.rstrip("\n"),
                        f"line {number} is not a JSON object",
                        location,
                    )
                )
                continue
            yield obj

    bad: list[Any] = []
    for item in validate_rows(spec, rows(), location):
        yield from bad
        bad.clear()
        yield item
    yield from bad
