"""`ciw check`: each configured source's settings, validated before anything loads.

For every source: its settings are present and can be (a file format, a URL); it is reachable
(the folder or bucket lists, the database connects, the API answers the token); its tables or
files have the columns the loader requires; and for file sources a sample of the newest file's
rows parses as the loader would parse it (TableSpec.clean in the source's FileFormat), so a
day-first date or a semicolon export shows up here rather than as a quarantine full of rows.

Nothing is written: no warehouse, no dlt state. Each finding is ``ok``, ``warn`` (loads, but
look: no files yet, some sample rows would be quarantined, columns the loader does not know)
or ``fail`` (the load would fail or lose the rows).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import dlt

from ingestion.quarantine import RowError, TableSpec
from ingestion.readers import FileFormat, file_source_tables, newest_file_head

SAMPLE_ROWS = 200
SAMPLE_BYTES = 4 << 20
TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Finding:
    source: str
    check: str  # settings, reachable, columns, sample
    status: str  # ok, warn, fail
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {
            "source": self.source,
            "check": self.check,
            "status": self.status,
            "detail": self.detail,
        }


def _setting(source: str, name: str, kind: type = str, secret: bool = False) -> Any:
    accessor = dlt.secrets if secret else dlt.config
    return accessor.get(f"sources.{source}.{name}", kind)


def configured_file_format(
    source: str, tables: dict[str, tuple[TableSpec, str]] | None = None
) -> FileFormat:
    """The FileFormat the settings of ``source`` make (ValueError naming a bad setting)."""
    return FileFormat.checked(
        _setting(source, "encoding"),
        _setting(source, "delimiter"),
        _setting(source, "date_formats", list),
        _setting(source, "timestamp_formats", list),
        _setting(source, "timezone"),
        _setting(source, "column_names", dict),
        tables={table: spec for table, (spec, _) in (tables or {}).items()},
    )


def check_sources(names: Sequence[str], sample_rows: int = SAMPLE_ROWS) -> list[Finding]:
    """The findings of every source of ``names`` (shop, pos, web, helpdesk, esp)."""
    checks: dict[str, Callable[[int], Iterator[Finding]]] = {
        "shop": lambda _: _check_shop(),
        "pos": lambda n: _check_files("pos", file_source_tables("pos"), "csv", n),
        "web": lambda n: _check_files("web", file_source_tables("web"), "jsonl", n),
        "helpdesk": lambda _: _check_api("helpdesk", "tickets"),
        "esp": lambda _: _check_api("esp", "contacts"),
    }
    findings: list[Finding] = []
    for name in names:
        try:
            findings.extend(checks[name](sample_rows))
        except Exception as exc:  # a check that breaks is a finding, not a traceback
            findings.append(Finding(name, "check", "fail", f"{type(exc).__name__}: {exc}"))
    return findings


# ----------------------------------------------------------------------------- file sources


def _check_files(
    source: str, tables: dict[str, tuple[TableSpec, str]], kind: str, sample_rows: int
) -> Iterator[Finding]:
    bucket_url = _setting(source, "bucket_url")
    if not bucket_url:
        yield Finding(
            source,
            "settings",
            "fail",
            f"no bucket_url: set [sources.{source}] bucket_url in .dlt/config.toml or "
            f"SOURCES__{source.upper()}__BUCKET_URL (a folder or an fsspec URL)",
        )
        return
    try:
        file_format = configured_file_format(source, tables)
    except ValueError as exc:
        yield Finding(source, "settings", "fail", str(exc))
        return
    yield Finding(source, "settings", "ok", _format_summary(file_format, kind))
    for table, (spec, glob) in tables.items():
        label = f"{table} ({glob})"
        try:
            # the sample's bytes: a few MB is plenty of rows
            found = newest_file_head(bucket_url, glob, SAMPLE_BYTES)
        except Exception as exc:
            yield Finding(source, "reachable", "fail", f"{bucket_url}: cannot list {glob}: {exc}")
            return
        if found is None:
            yield Finding(
                source,
                "reachable",
                "warn",
                f"{label}: no file under {bucket_url}; the table stays empty until one arrives",
            )
            continue
        file_name, count, head = found
        yield Finding(source, "reachable", "ok", f"{label}: {count} file(s), newest {file_name}")
        yield from _check_sample(
            source, table, spec, file_format, kind, head, file_name, sample_rows
        )


def _format_summary(file_format: FileFormat, kind: str) -> str:
    parts = [f"encoding {file_format.encoding}"]
    if kind == "csv":
        parts.append(f"delimiter {file_format.delimiter!r}")
    if file_format.date_formats:
        parts.append("dates " + ", ".join(file_format.date_formats))
    if file_format.timestamp_formats:
        parts.append("timestamps " + ", ".join(file_format.timestamp_formats))
    parts.append(f"naive times in {file_format.timezone}")
    return "; ".join(parts)


def _check_sample(
    source: str,
    table: str,
    spec: TableSpec,
    file_format: FileFormat,
    kind: str,
    head: bytes,
    file_name: str,
    sample_rows: int,
) -> Iterator[Finding]:
    codec = "utf-8-sig" if file_format.encoding == "utf-8" else file_format.encoding
    text = head.decode(codec, errors="surrogateescape")
    lines = text.splitlines(keepends=True)
    if len(head) == SAMPLE_BYTES and lines:
        lines = lines[:-1]  # the last line may be cut short by the sample's end
    if kind == "csv":
        reader = csv.DictReader(io.StringIO("".join(lines)), delimiter=file_format.delimiter)
        header = [name.removeprefix("\ufeff") for name in (reader.fieldnames or [])]
        rows: list[dict[str, Any]] = []
        for row in reader:
            rows.append({k.removeprefix("\ufeff"): v for k, v in row.items() if k is not None})
            if len(rows) >= sample_rows:
                break
    else:
        rows = []
        broken = 0
        for line in lines:
            if not line.strip():
                continue
            try:
                parsed = json.loads(line)
            except ValueError:
                broken += 1
                continue
            if isinstance(parsed, dict):
                rows.append(parsed)
            if len(rows) >= sample_rows:
                break
        header = sorted({key for row in rows for key in row})
        if broken:
            yield Finding(
                source, "sample", "warn", f"{table}: {broken} line(s) of {file_name} are not JSON"
            )
    renames = file_format.columns.get(table, {})
    header = [renames.get(name, name) for name in header]
    missing = [c.name for c in spec.required_columns if c.name not in header]
    unknown = [name for name in header if name not in spec.by_name]
    if missing:
        hint = ""
        if kind == "csv" and len(header) == 1 and header[0].count(";") + header[0].count("\t"):
            hint = " (the header reads as one column: is the delimiter set?)"
        yield Finding(
            source,
            "columns",
            "fail",
            f"{table}: {file_name} lacks the required column(s) {', '.join(missing)}{hint}",
        )
        return
    detail = f"{table}: the required columns are there"
    if unknown:
        detail += f"; not known to the loader, loaded as new columns: {', '.join(unknown)}"
    yield Finding(source, "columns", "warn" if unknown else "ok", detail)
    spec = file_format.spec(spec)
    reasons: list[str] = []
    for row in rows:
        try:
            spec.clean(row)
        except RowError as exc:
            reasons.append(str(exc))
    if not rows:
        yield Finding(source, "sample", "warn", f"{table}: {file_name} holds no rows")
    elif not reasons:
        yield Finding(source, "sample", "ok", f"{table}: {len(rows)} row(s) of {file_name} parse")
    else:
        status = "fail" if len(reasons) == len(rows) else "warn"
        yield Finding(
            source,
            "sample",
            status,
            f"{table}: {len(reasons)} of {len(rows)} row(s) of {file_name} would be "
            f"quarantined, e.g. {reasons[0]}",
        )


# ----------------------------------------------------------------------------- the shop


def _check_shop() -> Iterator[Finding]:
    import sqlalchemy as sa

    from ingestion.sources.shop import with_driver

    credentials = _setting("shop", "credentials", secret=True)
    if not credentials:
        yield Finding(
            "shop",
            "settings",
            "fail",
            "no credentials: set [sources.shop] credentials in .dlt/secrets.toml or "
            "SOURCES__SHOP__CREDENTIALS (any SQLAlchemy URL)",
        )
        return
    try:
        url = with_driver(credentials)
    except sa.exc.ArgumentError as exc:
        yield Finding("shop", "settings", "fail", f"credentials: not a database URL ({exc})")
        return
    shown = url.render_as_string(hide_password=True)
    yield Finding("shop", "settings", "ok", shown)
    engine = sa.create_engine(url)
    try:
        yield from _check_shop_tables(engine, shown)
    finally:
        engine.dispose()


def _check_shop_tables(engine: Any, shown: str) -> Iterator[Finding]:
    import sqlalchemy as sa

    from ingestion.sources.shop.settings import SHOP_TABLES

    try:
        inspector = sa.inspect(engine)
        present = set(inspector.get_table_names())
    except Exception as exc:
        yield Finding("shop", "reachable", "fail", f"{shown}: {type(exc).__name__}: {exc}")
        return
    yield Finding("shop", "reachable", "ok", f"{shown}: connected")
    for name, table in SHOP_TABLES.items():
        if name not in present:
            yield Finding(
                "shop", "columns", "warn", f"{name}: no such table; it stays empty (a stand-in)"
            )
            continue
        columns = {column["name"] for column in inspector.get_columns(name)}
        needed = [table.cursor, *table.primary_key, *table.required]
        missing = [column for column in dict.fromkeys(needed) if column not in columns]
        if missing:
            yield Finding(
                "shop", "columns", "fail", f"{name}: lacks the column(s) {', '.join(missing)}"
            )
        else:
            yield Finding(
                "shop", "columns", "ok", f"{name}: key, cursor and required columns there"
            )


# ----------------------------------------------------------------------------- the APIs


def _check_api(source: str, path: str) -> Iterator[Finding]:
    import requests

    base_url = _setting(source, "base_url")
    token = _setting(source, "token", secret=True)
    missing = [name for name, value in (("base_url", base_url), ("token", token)) if not value]
    if missing:
        yield Finding(
            source,
            "settings",
            "fail",
            f"no {' or '.join(missing)}: set [sources.{source}] in .dlt/config.toml and "
            f".dlt/secrets.toml, or SOURCES__{source.upper()}__BASE_URL / __TOKEN",
        )
        return
    yield Finding(source, "settings", "ok", base_url)
    url = base_url.rstrip("/") + "/" + path
    try:
        response = requests.get(
            url,
            headers={"Authorization": f"Bearer {token}"},
            params={"per_page": 1, "limit": 1},
            timeout=TIMEOUT_S,
        )
    except requests.RequestException as exc:
        yield Finding(source, "reachable", "fail", f"{url}: {type(exc).__name__}: {exc}")
        return
    if response.status_code in (401, 403):
        yield Finding(
            source,
            "reachable",
            "fail",
            f"{url}: the token is refused (HTTP {response.status_code})",
        )
    elif response.status_code >= 400:
        yield Finding(source, "reachable", "fail", f"{url}: HTTP {response.status_code}")
    else:
        yield Finding(source, "reachable", "ok", f"{url}: HTTP {response.status_code}")
