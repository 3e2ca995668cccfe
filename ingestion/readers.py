"""dlt transformers that read dropped files row by row, validating and quarantining.

Every file source has a format (FileFormat: its settings in .dlt/config.toml): an encoding
(default UTF-8), read strictly: bytes that are not valid in it never load as replacement
characters; their row is quarantined. A byte-order mark (as Excel writes) is dropped. The CSV
delimiter, the date and timestamp formats besides ISO 8601, and the time zone of naive
timestamps; a value no format reads is quarantined. Lines are read at most MAX_LINE_CHARS at a
time, so one huge line costs neither the memory nor the file.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import io
import zoneinfo
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any

import dlt
from dlt.sources.filesystem import FileItemDict

from ingestion import quarantine as q
from ingestion.quarantine import (
    OversizedLine,
    TableSpec,
    parse_date,
    parse_jsonl,
    parse_timestamp,
    quarantine_item,
    split_quarantine,
    validate_numbered_rows,
)

DEFAULT_ENCODING = "utf-8"
# stands in for a line over MAX_LINE_CHARS in the CSV reader's input (a private-use character:
# no export holds it)
_OVERSIZED = "\ue000ciw:oversized-line\ue000"


def checked_encoding(encoding: str | None) -> str:
    """The codec name of ``encoding`` (default UTF-8); an unknown one is a clear error."""
    try:
        return codecs.lookup(encoding or DEFAULT_ENCODING).name
    except LookupError as exc:
        raise ValueError(f"unknown file encoding {encoding!r}") from exc


@dataclass(frozen=True)
class FileFormat:
    """How a file source writes its files: the text encoding, the CSV delimiter, the strptime
    patterns of its dates and timestamps (tried after ISO 8601, in order: ``%Y%m%d``,
    ``%d/%m/%Y``, ``%d.%m.%Y %H:%M``) and the time zone of its naive timestamps (an IANA name:
    ``Europe/Berlin``). ``checked`` builds one from settings and says what is wrong."""

    encoding: str = DEFAULT_ENCODING
    delimiter: str = ","
    date_formats: tuple[str, ...] = ()
    timestamp_formats: tuple[str, ...] = ()
    timezone: str = "UTC"
    # per table, the files' own column names -> the loader's ({"loyalty_signups": {"Card No":
    # "loyalty_card_id"}})
    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def checked(
        cls,
        encoding: str | None = None,
        delimiter: str | None = None,
        date_formats: Sequence[str] | str | None = None,
        timestamp_formats: Sequence[str] | str | None = None,
        timezone: str | None = None,
        columns: Mapping[str, Mapping[str, str]] | None = None,
        tables: Mapping[str, TableSpec] | None = None,
    ) -> FileFormat:
        """A format from a source's settings (None: the default); ValueError naming the
        setting that is wrong. ``tables`` (the source's specs by table) check ``columns``."""
        delimiter = delimiter or ","
        if len(delimiter) != 1 or delimiter in '\r\n"':
            raise ValueError(
                f"delimiter: one character other than a quote or newline, not {delimiter!r}"
            )
        zone = timezone or "UTC"
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"timezone: not a time zone name: {zone!r}") from exc
        return cls(
            encoding=checked_encoding(encoding),
            delimiter=delimiter,
            date_formats=_checked_patterns("date_formats", date_formats),
            timestamp_formats=_checked_patterns("timestamp_formats", timestamp_formats),
            timezone=zone,
            columns=_checked_columns(columns or {}, tables or {}),
        )

    def spec(self, spec: TableSpec) -> TableSpec:
        """``spec`` reading the files' column names and parsing dates and timestamps as this
        format says."""
        renames = self.columns.get(spec.table)
        if renames:
            spec = replace(spec, renames=dict(renames))
        if not self.date_formats and not self.timestamp_formats and self.timezone == "UTC":
            return spec
        zone = dt.UTC if self.timezone == "UTC" else zoneinfo.ZoneInfo(self.timezone)
        return spec.with_parsers(
            {
                "date": functools.partial(parse_date, formats=self.date_formats),
                "timestamp": functools.partial(
                    parse_timestamp, formats=self.timestamp_formats, zone=zone
                ),
            }
        )


def file_source_tables(source: str) -> dict[str, tuple[TableSpec, str]]:
    """The tables of file source ``source`` (pos, web): table -> (spec, file glob)."""
    if source == "pos":
        from ingestion.sources.pos.settings import POS_TABLES

        return {table: (spec, glob) for table, (spec, glob, _) in POS_TABLES.items()}
    from ingestion.sources.web.settings import EVENTS, EVENTS_GLOB

    return {"events": (EVENTS, EVENTS_GLOB)}


def newest_file_head(bucket_url: str, glob: str, limit: int) -> tuple[str, int, bytes] | None:
    """The newest file under ``bucket_url`` matching ``glob`` (by modification date): its name,
    how many files match, and its first ``limit`` bytes. None when no file matches."""
    from dlt.sources.filesystem import filesystem

    files = list(filesystem(bucket_url=bucket_url, file_glob=glob))
    if not files:
        return None
    newest = max(files, key=lambda item: item["modification_date"])
    with newest.open(mode="rb") as raw:
        return newest["file_name"], len(files), raw.read(limit)


def _checked_columns(
    columns: Mapping[str, Mapping[str, str]], tables: Mapping[str, TableSpec]
) -> dict[str, dict[str, str]]:
    """The ``column_names`` setting, checked against the source's tables: known tables, columns the
    table has, no column named twice."""
    checked: dict[str, dict[str, str]] = {}
    for table, renames in columns.items():
        if table not in tables:
            raise ValueError(
                f"column_names: no table {table!r} (the source has {', '.join(sorted(tables))})"
            )
        if not isinstance(renames, Mapping):
            raise ValueError(f"column_names.{table}: a mapping of your column names to ours")
        spec = tables[table]
        for theirs, ours in renames.items():
            if ours not in spec.by_name:
                raise ValueError(
                    f"column_names.{table}: {theirs!r} maps to {ours!r}, which {table} does not "
                    f"have ({', '.join(spec.by_name)})"
                )
        twice = sorted(
            {ours for ours in renames.values() if list(renames.values()).count(ours) > 1}
        )
        if twice:
            raise ValueError(f"column_names.{table}: several columns map to {', '.join(twice)}")
        checked[table] = {str(theirs): str(ours) for theirs, ours in renames.items()}
    return checked


def _checked_patterns(setting: str, patterns: Sequence[str] | str | None) -> tuple[str, ...]:
    """strptime patterns from a setting (a list, or one pattern); each must hold a directive."""
    if patterns is None:
        return ()
    found = (patterns,) if isinstance(patterns, str) else tuple(patterns)
    for pattern in found:
        if not isinstance(pattern, str) or "%" not in pattern:
            raise ValueError(
                f"{setting}: {pattern!r} is not a strptime pattern (such as '%Y%m%d', '%d/%m/%Y')"
            )
    return found


def bounded_lines(stream: IO[Any], limit: int | None = None) -> Iterator[Any]:
    """The lines of ``stream``; a line over ``limit`` characters (or bytes) is read no further
    than the limit and comes as an ``OversizedLine``, the rest of it skipped."""
    limit = limit or q.MAX_LINE_CHARS
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line[-1:] in ("\n", b"\n"):
            yield line
            continue
        length = len(line)
        while True:  # skip the rest of the line, a bounded piece at a time
            rest = stream.readline(limit)
            length += len(rest)
            if not rest or rest[-1:] in ("\n", b"\n"):
                break
        head = line[:1000]
        if isinstance(head, bytes):
            head = head.decode("utf-8", errors="backslashreplace")
        yield OversizedLine(head, length)


def _csv_lines(stream: IO[str], oversized: list[int]) -> Iterator[str]:
    """The lines of a CSV file, an over-long one replaced by _OVERSIZED (counted in
    ``oversized``)."""
    for line in bounded_lines(stream):
        if isinstance(line, OversizedLine):
            oversized.append(line.length)
            line = _OVERSIZED + "\n"
        yield line


def _csv_rows(
    spec: TableSpec, stream: io.TextIOBase, location: str, delimiter: str = ","
) -> Iterator[Any]:
    """Rows of a CSV file with their first line number; records the reader cannot take
    (wrong number of fields, over-long, a header naming a column twice) are quarantined."""
    # a field up to a whole record: longer text values are quarantined by TableSpec.clean
    csv.field_size_limit(max(csv.field_size_limit(), q.MAX_LINE_CHARS))
    oversized: list[int] = []
    reader = csv.DictReader(
        _csv_lines(stream, oversized),
        restkey="__extra__",
        restval="__missing__",
        delimiter=delimiter,
    )
    bad: list[Any] = []

    def reject(line: int, raw: Any, reason: str) -> None:
        key = spec.record_key(raw) if isinstance(raw, dict) else None
        bad.append(quarantine_item(spec.source_name, spec.table, raw, reason, location, key, line))

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            header = reader.fieldnames
        except csv.Error as exc:
            reject(1, "", f"unreadable CSV header: {exc}")
            return
        if not header:
            return
        if header[0].startswith("\ufeff"):  # a BOM the codec did not remove
            header = reader.fieldnames = [header[0].removeprefix("\ufeff"), *header[1:]]
        twice = sorted(name for name, n in Counter(header).items() if n > 1)
        oversized_header = any(_OVERSIZED in name for name in header)
        last = reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                reject(last + 1, "", f"unreadable CSV record: {exc}")
                last = reader.line_num
                continue
            line, last = last + 1, reader.line_num
            extra = row.pop("__extra__", None)
            if oversized and (
                oversized_header or any(_OVERSIZED in str(v) for v in (*row.values(), extra))
            ):
                reject(
                    line,
                    {k: v for k, v in row.items() if v != "__missing__"},
                    f"a line over the limit of {q.MAX_LINE_CHARS:,} characters",
                )
                continue
            if twice:
                reject(line, row, "header names a column twice: " + ", ".join(twice))
                continue
            if extra is not None or "__missing__" in row.values():
                raw = {k: v for k, v in row.items() if v != "__missing__"}
                if extra is not None:
                    raw["__extra__"] = extra
                reject(line, raw, "wrong number of fields")
                continue
            yield line, row

    for item in validate_numbered_rows(spec, rows(), location):
        yield from bad
        bad.clear()
        yield item
    yield from bad


class FileReadError(RuntimeError):
    """A file that could not be read at all (not a bad row: those are quarantined)."""


def _named(location: str, read_file: Any) -> Iterator[Any]:
    """The items of ``read_file()``; an error that escapes the row checks names the file."""
    try:
        yield from read_file()
    except Exception as exc:
        raise FileReadError(f"cannot read {location}: {type(exc).__name__}: {exc}") from exc


def csv_reader(spec: TableSpec, file_format: FileFormat = FileFormat()):
    """Transformer: CSV files (a header row, ``file_format``) -> validated rows of ``spec``."""
    codec = checked_encoding(file_format.encoding)
    spec = file_format.spec(spec)
    # UTF-8 files from Excel start with a byte-order mark: utf-8-sig drops it. Undecodable
    # bytes are kept as surrogate escapes, so that only their row is quarantined
    text_codec = "utf-8-sig" if codec == "utf-8" else codec

    @dlt.transformer(name=f"read_{spec.table}", standalone=True)
    def read(items: list[FileItemDict]) -> Iterator[Any]:
        for file_obj in items:
            location = file_obj["file_url"]

            def read_file(file_obj: FileItemDict = file_obj, location: str = location):
                with file_obj.open(mode="rb") as raw:
                    stream = io.TextIOWrapper(
                        raw, encoding=text_codec, errors="surrogateescape", newline=""
                    )
                    yield from _csv_rows(spec, stream, location, file_format.delimiter)

            yield from _named(location, read_file)

    return read


def jsonl_reader(spec: TableSpec, file_format: FileFormat = FileFormat()):
    """Transformer: JSON-lines files (``file_format``: its delimiter aside) -> validated rows;
    broken lines are quarantined."""
    codec = checked_encoding(file_format.encoding)
    spec = file_format.spec(spec)

    @dlt.transformer(name=f"read_{spec.table}", standalone=True)
    def read(items: list[FileItemDict]) -> Iterator[Any]:
        for file_obj in items:
            location = file_obj["file_url"]

            def read_file(file_obj: FileItemDict = file_obj, location: str = location):
                with file_obj.open(mode="rb") as f:
                    yield from parse_jsonl(spec, bounded_lines(f), location, codec)

            yield from _named(location, read_file)

    return read


def file_drop_resource(
    bucket_url: str,
    file_glob: str,
    spec: TableSpec,
    reader_factory,
    write_disposition: Any,
    file_format: FileFormat = FileFormat(),
):
    """Resources for the files under ``bucket_url`` matching ``file_glob`` (written as
    ``file_format`` says), read incrementally by modification date, merged on the spec's primary
    key (a re-dropped file never duplicates rows), malformed rows split off to ``_quarantine``."""
    from dlt.sources.filesystem import filesystem

    files = filesystem(bucket_url=bucket_url, file_glob=file_glob)
    files.apply_hints(incremental=dlt.sources.incremental("modification_date"))
    reader = (files | reader_factory(spec, file_format)()).with_name(f"read_{spec.table}")
    return split_quarantine(
        reader,
        spec.table,
        primary_key=list(spec.primary_key),
        write_disposition=write_disposition,
        columns={**spec.hints(), q.DLT_ID: q.DLT_ID_HINT},
    )


INSERT_ONLY = {"disposition": "merge", "strategy": "insert-only"}
MERGE = {"disposition": "merge", "strategy": "delete-insert"}
