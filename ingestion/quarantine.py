"""Row validation and quarantine, shared by every source.

A malformed row (bad date, missing key, wrong type, broken JSON line) never stops a load and is
never dropped silently: it is written to the ``_quarantine`` table of the source's raw schema
with the table it was meant for, the file (or API) and line it came from, the raw payload and the
reason. The quarantine table is merged on a hash of (table, location, line, payload, reason), so
re-reading the same bad row does not duplicate it.

Poison is whatever would make PostgreSQL's COPY (or dlt's extract) fail for the whole load
package and so block the source on every run: a NUL byte (PostgreSQL text cannot hold one), a
lone surrogate or undecodable bytes (not UTF-8), an integer beyond 64 bits, a number wider than
``numeric(18,4)``, a key too long for a btree index. ``TableSpec.clean`` refuses every one of
them row by row, in declared and undeclared (schema drift) columns alike, nested values
included; ``docs/ingestion.md`` lists the catalogue of bad input and what becomes of each kind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.normalizers.utils import generate_dlt_ids

QUARANTINE_TABLE = "_quarantine"

# Limits of what a row may hold (docs/ingestion.md). A text value longer than MAX_TEXT_CHARS, a
# key or identifier column longer than MAX_KEY_CHARS (btree index entries are limited to about
# 2,700 bytes; RFC 5321 limits an email address to 254 characters) and a line (JSONL) or record
# (CSV) longer than MAX_LINE_CHARS are quarantined; a row bringing more than MAX_NEW_COLUMNS
# columns the spec does not declare is too (PostgreSQL tables hold at most 1,600 columns).
MAX_TEXT_CHARS = 131_072
MAX_KEY_CHARS = 254
MAX_LINE_CHARS = 4 * 1024 * 1024
MAX_NEW_COLUMNS = 100
# the raw payload kept in the quarantine row is cut to this many characters
MAX_PAYLOAD_CHARS = 10_000
# numeric(18,4): 14 digits before the point
DECIMAL_PRECISION, DECIMAL_SCALE = 18, 4
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1

QUARANTINE_COLUMNS = {
    "quarantine_id": {"data_type": "text", "nullable": False},
    "source_name": {"data_type": "text", "nullable": False},
    "target_table": {"data_type": "text", "nullable": False},
    "source_location": {"data_type": "text"},
    "source_line": {"data_type": "bigint"},
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


# characters PostgreSQL text cannot hold: NUL, and surrogates (a lone surrogate from a JSON
# "\\ud800" escape, or an undecodable byte read with ``surrogateescape``: U+DC80..U+DCFF)
_UNLOADABLE = re.compile("[\x00\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if "\udc80" <= char <= "\udcff":
        return f"\\x{ord(char) - 0xDC00:02x}"
    return f"\\u{ord(char):04x}" if char != "\x00" else "\\x00"


def safe_text(value: str, limit: int | None = None) -> str:
    """``value`` made loadable: NUL bytes, lone surrogates and undecodable bytes written as
    backslash escapes, cut to ``limit`` characters."""
    if limit is not None and len(value) > limit:
        value = f"{value[:limit]}... [{len(value) - limit:,} more characters]"
    return _UNLOADABLE.sub(_escape, value)


def text_problem(value: str, limit: int = MAX_TEXT_CHARS) -> str | None:
    """Why ``value`` cannot be loaded as PostgreSQL text, or None."""
    bad = _UNLOADABLE.search(value)
    if bad is not None:
        if bad.group() == "\x00":
            return "contains a NUL byte"
        return "not valid UTF-8 (undecodable bytes or a lone surrogate)"
    if len(value) > limit:
        return f"{len(value):,} characters, over the limit of {limit:,}"
    return None


def value_problem(value: Any, depth: int = 0) -> str | None:
    """Why a value of an undeclared column (or nested in one) cannot be loaded, or None."""
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if not BIGINT_MIN <= value <= BIGINT_MAX:
            return "integer beyond 64 bits"
        return None
    if isinstance(value, Mapping | list | tuple):
        if depth > 32:
            return "nested too deeply"
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        for key, item in items:
            problem = (isinstance(key, str) and text_problem(key)) or value_problem(item, depth + 1)
            if problem:
                return problem
    return None


def parse_timestamp(
    value: Any, formats: Sequence[str] = (), zone: dt.tzinfo = dt.UTC
) -> dt.datetime:
    """ISO 8601 (with Z or an offset) or 'YYYY-MM-DD HH:MM:SS', else one of ``formats``
    (strptime patterns, tried in order) -> aware UTC. A naive timestamp is in ``zone``."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            parsed = _strptime(value.strip(), formats)
            if parsed is None:
                raise RowError(f"not a timestamp{_formats_named(formats)}: {value!r}") from exc
    else:
        raise RowError(f"not a timestamp: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise RowError(f"timestamp out of range: {value!r}") from exc


def parse_date(value: Any, formats: Sequence[str] = ()) -> dt.date:
    """YYYY-MM-DD, else one of ``formats`` (strptime patterns, tried in order)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError as exc:
            parsed = _strptime(value.strip(), formats)
            if parsed is None:
                named = _formats_named(formats) or " (YYYY-MM-DD)"
                raise RowError(f"not a date{named}: {value!r}") from exc
            return parsed.date()
    raise RowError(f"not a date: {value!r}")


def _strptime(text: str, formats: Sequence[str]) -> dt.datetime | None:
    """``text`` read by the first of ``formats`` that reads it whole, else None."""
    for pattern in formats:
        try:
            return dt.datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


def _formats_named(formats: Sequence[str]) -> str:
    return f" (ISO 8601 or {', '.join(formats)})" if formats else ""


def parse_int(value: Any) -> int:
    """A bigint: an integer within 64 bits."""
    if isinstance(value, bool):
        raise RowError(f"not an integer: {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError as exc:
            raise RowError(f"not an integer: {_short(value)}") from exc
    else:
        raise RowError(f"not an integer: {_short(value)}")
    if not BIGINT_MIN <= number <= BIGINT_MAX:
        raise RowError(f"integer beyond 64 bits: {_short(value)}")
    return number


def _short(value: Any, limit: int = 60) -> str:
    """``repr`` of a value for a reason, cut short (a reason names the problem, the payload
    holds the value)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def parse_decimal(value: Any) -> Decimal:
    """A ``numeric(18,4)``: finite, at most 14 digits before the point (more decimals are
    rounded by PostgreSQL, as for any numeric column)."""
    if isinstance(value, bool):
        raise RowError(f"not a number: {value!r}")
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation as exc:
            raise RowError(f"not a number: {_short(value)}") from exc
    else:
        raise RowError(f"not a number: {_short(value)}")
    if not number.is_finite():
        raise RowError(f"not a finite number: {_short(value)}")
    digits = DECIMAL_PRECISION - DECIMAL_SCALE
    wide = f"wider than numeric({DECIMAL_PRECISION},{DECIMAL_SCALE}): {_short(value)}"
    if number.adjusted() >= digits:
        raise RowError(wide)
    # rounded as PostgreSQL rounds it into numeric(18, 4) (half away from zero), so that it
    # also fits an Arrow decimal of that scale
    rounded = number.quantize(Decimal(1).scaleb(-DECIMAL_SCALE), rounding=ROUND_HALF_UP)
    if abs(rounded) >= Decimal(10) ** digits:
        raise RowError(wide)
    return rounded


def parse_text(value: Any) -> str:
    """Text: a string, or an integer written in full. A JSON float is refused: its text is
    not the source's (12345678901234567.0 and 12345678901234568.0 are one float), so two
    different ids sent as numbers could become one."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        raise RowError(f"a number where text is expected (digits may be lost): {_short(value)}")
    raise RowError(f"not text: {_short(value)}")


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "t", "yes", "y"):
        return True
    if text in ("0", "false", "f", "no", "n"):
        return False
    raise RowError(f"not a boolean: {value!r}")


# the Arrow type of each parsed value (TableSpec.as_arrow); decimals get room for the digits
# PostgreSQL rounds away (numeric(18,4) keeps four)
ARROW_TYPES = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "decimal": pa.decimal128(DECIMAL_PRECISION, DECIMAL_SCALE),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "bool": pa.bool_(),
}
# dlt's row id, which its row normaliser adds to every row (a unique, non-null column of every
# raw table): an Arrow batch brings its own
DLT_ID = "_dlt_id"
DLT_ID_HINT = {"data_type": "text", "nullable": False, "unique": True}

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
    """A declared column: its dlt data type, whether a row without it is malformed and, for
    text, its longest value (default MAX_TEXT_CHARS; MAX_KEY_CHARS for a primary key)."""

    name: str
    data_type: str = "text"
    required: bool = False
    max_length: int | None = None

    def hint(self) -> dict[str, Any]:
        hint: dict[str, Any] = {"data_type": self.data_type, "nullable": not self.required}
        if self.data_type == "decimal":
            hint["precision"] = DECIMAL_PRECISION
            hint["scale"] = DECIMAL_SCALE
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
    # the parser of each data type (default PARSERS; a source's date formats and time zone:
    # with_parsers)
    parsers: Mapping[str, Callable[[Any], Any]] = field(default_factory=lambda: PARSERS)
    # a file's own column names -> this spec's (a source's `columns` setting); the quarantine
    # keeps a row as received
    renames: Mapping[str, str] = field(default_factory=dict)
    by_name: dict[str, Column] = field(init=False)
    max_chars: dict[str, int] = field(init=False)
    required_columns: tuple[Column, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.by_name = {column.name: column for column in self.columns}
        self.required_columns = tuple(column for column in self.columns if column.required)
        self.max_chars = {
            column.name: column.max_length
            or (MAX_KEY_CHARS if column.name in self.primary_key else MAX_TEXT_CHARS)
            for column in self.columns
        }

    def hints(self) -> dict[str, dict[str, Any]]:
        return {column.name: column.hint() for column in self.columns}

    def with_parsers(self, parsers: Mapping[str, Callable[[Any], Any]]) -> TableSpec:
        """This spec with ``parsers`` in place of the default parser of their data types."""
        return replace(self, parsers={**self.parsers, **parsers})

    def renamed(self, row: Mapping[str, Any]) -> Mapping[str, Any]:
        """``row`` with the file's column names as this spec names them (``renames``)."""
        if not self.renames:
            return row
        return {self.renames.get(name, name): value for name, value in row.items()}

    def as_arrow(self, rows: list[dict[str, Any]]) -> pa.Table | list[dict[str, Any]]:
        """Cleaned rows as one Arrow table with dlt's row ids, which dlt loads without
        normalising each row (200,000 sign-ups: 9 s where the rows took 18 s). Rows bringing
        columns the spec does not declare (schema drift) or values Arrow refuses stay a list,
        which dlt's row normaliser types and adds columns for; so do the rows of a spec with
        raw columns (loaded as received)."""
        if self.raw_columns or not set().union(*rows) <= self.by_name.keys():
            return rows
        # the types and nullability of the columns' dlt hints (else dlt warns on every batch)
        schema = pa.schema(
            [
                pa.field(column.name, ARROW_TYPES[column.data_type], nullable=not column.required)
                for column in self.columns
            ]
        )
        try:
            table = pa.Table.from_pylist(rows, schema=schema)
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            return rows
        return table.append_column(
            pa.field(DLT_ID, pa.string(), nullable=False), pa.array(generate_dlt_ids(len(rows)))
        )

    def clean(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Typed copy of ``row``; raises RowError with every problem found.

        Empty strings become NULL. Columns the spec does not know (schema drift) pass through
        unchanged so dlt adds them to the table and the run reports them, unless they hold
        something no column can load (a NUL byte, an integer beyond 64 bits, ...) or are too
        many (MAX_NEW_COLUMNS).
        """
        row = self.renamed(row)
        problems: list[str] = []
        out: dict[str, Any] = {}
        new_columns = 0
        # one search over the row's texts: only a row that holds an unloadable character
        # (rare) has each of its texts searched (a search per value cost a third of the check)
        texts = [value for value in row.values() if isinstance(value, str)]
        clean_texts = _UNLOADABLE.search("".join(texts)) is None
        for name, value in row.items():
            column = self.by_name.get(name)
            if isinstance(value, str) and value.strip() == "":
                value = None
            if column is None:
                new_columns += 1
                problem = text_problem(name, MAX_KEY_CHARS) if isinstance(name, str) else None
                if problem:
                    problems.append(f"column name {safe_text(name, 40)!r}: {problem}")
                    continue
                problem = value_problem(value)
                if problem:
                    problems.append(f"{safe_text(name, 60)}: {problem}")
                    continue
                out[name] = value
                continue
            if value is None:
                out[name] = value
                continue
            if isinstance(value, str):
                if clean_texts and len(value) <= self.max_chars[name]:
                    problem = None
                else:
                    problem = text_problem(value, self.max_chars[name])
                if problem:
                    problems.append(f"{name}: {problem}")
                    continue
            try:
                parsed = self.parsers[column.data_type](value)
                out[name] = value if name in self.raw_columns else parsed
            except RowError as exc:
                problems.append(f"{name}: {exc}")
        if new_columns > MAX_NEW_COLUMNS:
            problems.append(
                f"{new_columns} columns not in the spec, over the limit of {MAX_NEW_COLUMNS}"
            )
        for column in self.required_columns:
            if out.get(column.name) is None and not any(
                p.startswith(f"{column.name}:") for p in problems
            ):
                problems.append(f"{column.name}: required value is missing")
        if problems:
            raise RowError("; ".join(problems))
        return out

    def quarantined(
        self, row: Mapping[str, Any], error: RowError, location: str | None, line: int | None = None
    ) -> Any:
        """The quarantine row of a row ``clean`` refused with ``error``."""
        return quarantine_item(
            self.source_name,
            self.table,
            dict(row),
            str(error),
            location,
            self.record_key(row),
            line,
        )

    def record_key(self, row: Mapping[str, Any]) -> str | None:
        row = self.renamed(row)
        values = [row.get(key) for key in self.primary_key]
        if all(v is None or v == "" for v in values):
            return None
        return safe_text("|".join("" if v is None else str(v) for v in values), MAX_KEY_CHARS)


def quarantine_item(
    source_name: str,
    target_table: str,
    raw: Any,
    reason: str,
    location: str | None = None,
    record_key: str | None = None,
    line: int | None = None,
) -> Any:
    """A row for the ``_quarantine`` table, keyed by a stable hash so re-reads merge. The
    payload is cut to MAX_PAYLOAD_CHARS and, like the reason, made loadable (``safe_text``):
    a quarantine row is never poison itself."""
    payload = safe_text(_to_text(raw), MAX_PAYLOAD_CHARS)
    reason = safe_text(reason, MAX_PAYLOAD_CHARS)
    parts = [target_table, location or "", payload, reason]
    if line is not None:  # rows of sources without lines keep the ids they always had
        parts.append(str(line))
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return Quarantined(
        {
            "quarantine_id": digest,
            "source_name": source_name,
            "target_table": target_table,
            "source_location": location,
            "source_line": line,
            "record_key": None if record_key is None else safe_text(record_key, MAX_KEY_CHARS),
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
                bad.append(spec.quarantined(row, exc, location))
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
    """Yield cleaned rows (in batches, for speed) and quarantine items for the bad ones."""
    return validate_numbered_rows(spec, ((None, row) for row in rows), location)


def validate_numbered_rows(
    spec: TableSpec,
    rows: Iterable[tuple[int | None, Mapping[str, Any]]],
    location: str | None = None,
) -> Iterator[Any]:
    """``validate_rows`` for (line, row) pairs: a quarantined row names its line. The valid
    rows come in Arrow tables where they can (``TableSpec.as_arrow``)."""
    batch: list[dict[str, Any]] = []
    for line, row in rows:
        try:
            batch.append(spec.clean(row))
        except RowError as exc:
            yield spec.quarantined(row, exc, location, line)
            continue
        if len(batch) >= 5000:
            yield spec.as_arrow(batch)
            batch = []
    if batch:
        yield spec.as_arrow(batch)


@dataclass(frozen=True)
class OversizedLine:
    """A line longer than MAX_LINE_CHARS, read no further than its first characters."""

    head: str
    length: int


def parse_jsonl(
    spec: TableSpec,
    lines: Iterable[str | bytes | OversizedLine],
    location: str | None = None,
    encoding: str = "utf-8",
) -> Iterator[Any]:
    """Parse JSON lines; a line that is not valid ``encoding`` (strict: no replacement
    characters), not JSON, not an object or over MAX_LINE_CHARS is quarantined with its line
    number. A byte-order mark before the first line is dropped."""

    def reject(number: int, raw: str, reason: str) -> None:
        bad.append(
            quarantine_item(
                spec.source_name, spec.table, raw.rstrip("\r\n"), reason, location, None, number
            )
        )

    def rows() -> Iterator[tuple[int, Mapping[str, Any]]]:
        for number, line in enumerate(lines, start=1):
            if isinstance(line, OversizedLine):
                reject(
                    number,
                    line.head,
                    f"line of {line.length:,} characters, over the limit of {MAX_LINE_CHARS:,}",
                )
                continue
            if isinstance(line, bytes):
                try:
                    text = line.decode(encoding)
                except UnicodeDecodeError as exc:
                    reject(
                        number,
                        line.decode(encoding, errors="backslashreplace"),
                        f"not valid {encoding}: byte {line[exc.start]:#04x} at position "
                        f"{exc.start}",
                    )
                    continue
            else:
                text = line
            if number == 1:
                text = text.removeprefix("\ufeff")
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                reject(number, text, f"invalid JSON: {exc.msg}")
                continue
            except (ValueError, RecursionError) as exc:  # 4,301 digits, nested 10,000 deep
                reject(number, text, f"invalid JSON: {str(exc) or type(exc).__name__}")
                continue
            if not isinstance(obj, dict):
                reject(number, text, "not a JSON object")
                continue
            yield number, obj

    bad: list[Any] = []
    for item in validate_numbered_rows(spec, rows(), location):
        yield from bad
        bad.clear()
        yield item
    yield from bad
