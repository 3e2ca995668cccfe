"""dlt transformers that read dropped files row by row, validating and quarantining."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import dlt
from dlt.sources.filesystem import FileItemDict

from ingestion.quarantine import (
    TableSpec,
    parse_jsonl,
    quarantine_item,
    split_quarantine,
    validate_rows,
)


def _csv_rows(spec: TableSpec, stream: io.TextIOBase, location: str) -> Iterator[Any]:
    reader = csv.DictReader(stream, restkey="__extra__", restval="__missing__")
    bad: list[Any] = []

    def rows() -> Iterator[dict[str, Any]]:
        for row in reader:
            line = reader.line_num
            if "__extra__" in row or "__missing__" in row.values():
                raw = {k: v for k, v in row.items() if k != "__extra__" and v != "__missing__"}
                if "__extra__" in row:
                    raw["__extra__"] = row["__extra__"]
                bad.append(
                    quarantine_item(
                        spec.source_name,
                        spec.table,
                        raw,
                        f"line {line}: wrong number of fields",
                        location,
                        spec.record_key(raw),
                    )
                )
                continue
            yield row

    for item in validate_rows(spec, rows(), location):
        yield from bad
        bad.clear()
        yield item
    yield from bad


def csv_reader(spec: TableSpec):
    """Transformer: CSV files (header row, UTF-8) -> validated rows of ``spec``."""

    @dlt.transformer(name=f"read_{spec.table}", standalone=True)
    def read(items: list[FileItemDict]) -> Iterator[Any]:
        for file_obj in items:
            location = file_obj["file_url"]
            with file_obj.open(mode="rt", encoding="utf-8", newline="", errors="replace") as f:
                yield from _csv_rows(spec, f, location)

    return read


def jsonl_reader(spec: TableSpec):
    """Transformer: JSON-lines files -> validated rows; broken lines are quarantined."""

    @dlt.transformer(name=f"read_{spec.table}", standalone=True)
    def read(items: list[FileItemDict]) -> Iterator[Any]:
        for file_obj in items:
            location = file_obj["file_url"]
            with file_obj.open(mode="rb") as f:
                yield from parse_jsonl(spec, f, location)

    return read


def file_drop_resource(
    bucket_url: str, file_glob: str, spec: TableSpec, reader_factory, write_disposition: Any
):
    """Resources for the files under ``bucket_url`` matching ``file_glob``, read incrementally by
    modification date, merged on the spec's primary key (a re-dropped file never duplicates
    rows), malformed rows split off to ``_quarantine``."""
    from dlt.sources.filesystem import filesystem

    files = filesystem(bucket_url=bucket_url, file_glob=file_glob)
    files.apply_hints(incremental=dlt.sources.incremental("modification_date"))
    reader = (files | reader_factory(spec)()).with_name(f"read_{spec.table}")
    return split_quarantine(
        reader,
        spec.table,
        primary_key=list(spec.primary_key),
        write_disposition=write_disposition,
        columns=spec.hints(),
    )


INSERT_ONLY = {"disposition": "merge", "strategy": "insert-only"}
MERGE = {"disposition": "merge", "strategy": "delete-insert"}
