"""Load files the warehouse refuses: their bad rows go to the quarantine, the rest loads.

A load job fails for good when PostgreSQL rejects its data (a value outside its column's type or
precision, a NUL byte, an invalid encoding, a broken constraint): dlt retries it, gives up and
keeps the package pending, and every later run would fail on the same rows. Instead the failed
file is set aside: its CSV records are probed against a temporary copy of the target table
(COPY in halves until each refused record is alone, under savepoints, nothing kept), the refused
records are quarantined in the source's ``_quarantine`` with PostgreSQL's reason, and the file
is rewritten with the records the warehouse accepts, which then load as part of the same
package. A file in another format, or one whose records all load on their own, is quarantined
whole. The quarantine rows carry the package's load id, so an interrupted run's rollback
(``runner.rollback_loads``) removes them with the rest of the package.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors

from ingestion.quarantine import QUARANTINE_TABLE, quarantine_item

# SQLSTATE classes that mean "these rows", not "this connection": data exceptions (22) and
# integrity constraint violations (23)
DATA_ERRORS = (psycopg2.DataError, psycopg2.IntegrityError)
_ERROR_NAME = re.compile(r"psycopg2\.errors\.(\w+)")


@dataclass
class SetAside:
    """What one failed load file became."""

    table: str
    file_name: str
    rows_kept: int = 0
    rows_quarantined: int = 0
    reasons: list[str] = field(default_factory=list)
    whole_file: bool = False  # not CSV: quarantined as it is, not record by record

    def describe(self, dataset: str) -> str:
        reason = self.reasons[0] if self.reasons else "refused by the warehouse"
        more = (
            f" (+{len(set(self.reasons)) - 1} other reasons)" if len(set(self.reasons)) > 1 else ""
        )
        if self.whole_file:
            return (
                f"{self.table}: load file {self.file_name} the warehouse refused quarantined "
                f"whole in {dataset}.{QUARANTINE_TABLE} ({self.rows_quarantined:,} item(s)); "
                f"{reason}"
            )
        return (
            f"{self.table}: {self.rows_quarantined:,} row(s) the warehouse refused quarantined in "
            f"{dataset}.{QUARANTINE_TABLE}, {self.rows_kept:,} of the same file loaded; "
            f"{reason}{more}"
        )


def is_data_error(message: str | None) -> bool:
    """Whether a failed job's message names a PostgreSQL error about the data itself."""
    for name in _ERROR_NAME.findall(message or ""):
        error = getattr(psycopg2.errors, name, None)
        if isinstance(error, type) and issubclass(error, DATA_ERRORS):
            return True
    return False


def last_error_line(message: str | None) -> str:
    """The ``psycopg2.errors.X: text`` line of a job's failure message (or its last line)."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    for line in reversed(lines):
        if _ERROR_NAME.search(line):
            return _ERROR_NAME.sub(r"\1", line)
    return lines[-1] if lines else "load failed"


def csv_records(text: str) -> Iterator[str]:
    """The records of a CSV text, each with its line break, exactly as written (a quoted field
    may hold line breaks: a record ends at a line break outside quotes)."""
    start = 0
    quotes = 0
    for index, char in enumerate(text):
        if char == '"':
            quotes += 1
        elif char == "\n" and quotes % 2 == 0:
            yield text[start : index + 1]
            start = index + 1
            quotes = 0
    if text[start:].strip():
        yield text[start:] if text.endswith("\n") else text[start:] + "\n"


def _describe(exc: psycopg2.Error) -> str:
    diag = exc.diag
    text = diag.message_primary or str(exc).splitlines()[0]
    if diag.message_detail:
        text += f" ({diag.message_detail})"
    column = re.search(r"column (\w+)", diag.context or "")
    if column:
        text += f" in column {column.group(1)}"
    return f"{type(exc).__name__}: {text}"


def probe_csv(
    conn: Any, dataset: str, table: str, header: str, records: list[str]
) -> tuple[list[str], list[tuple[str, str]]]:
    """Split ``records`` into those the table accepts and (record, reason) for those it does
    not, by COPY into a temporary copy of the table; nothing is kept."""
    columns = next(csv.reader([header]))
    with conn.cursor() as cur:
        cur.execute(
            "select column_name from information_schema.columns "
            "where table_schema = %s and table_name = %s and is_nullable = 'YES'",
            (dataset, table),
        )
        nullable = {name for (name,) in cur.fetchall()}
        # with the table's check constraints: a row the table refuses must fail the probe
        cur.execute(
            f'create temp table ciw_probe (like "{dataset}"."{table}" including constraints)'
        )
        force_null = ",".join(f'"{c}"' for c in columns if c in nullable)
        copy_sql = (
            "copy ciw_probe ({}) from stdin with (format csv, header true, delimiter ',', "
            "null ''{})".format(
                ",".join(f'"{c}"' for c in columns),
                f", force_null({force_null})" if force_null else "",
            )
        )
        good: list[str] = []
        bad: list[tuple[str, str]] = []

        def attempt(chunk: list[str]) -> str | None:
            cur.execute("savepoint probe")
            try:
                cur.copy_expert(copy_sql, io.StringIO(header + "".join(chunk)))
                error = None
            except psycopg2.Error as exc:
                error = _describe(exc)
            cur.execute("rollback to savepoint probe")
            return error

        def bisect(chunk: list[str]) -> None:
            error = attempt(chunk)
            if error is None:
                good.extend(chunk)
            elif len(chunk) == 1:
                bad.append((chunk[0], error))
            else:
                middle = len(chunk) // 2
                bisect(chunk[:middle])
                bisect(chunk[middle:])

        if records:
            bisect(records)
        cur.execute("drop table ciw_probe")
    conn.rollback()
    return good, bad


def _rows_of(path: Path) -> list[dict[str, Any] | str]:
    """The rows of a load file in a format other than CSV, for the quarantine."""
    if path.suffix == ".jsonl" or path.name.endswith(".jsonl.gz"):
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return [path.read_text(errors="replace")]


def quarantine_rows(
    conn: Any,
    source_name: str,
    dataset: str,
    table: str,
    load_id: str,
    rows: list[tuple[Any, str]],
    primary_key: list[str],
) -> int:
    """Write (row, reason) pairs to ``<dataset>._quarantine`` (created as dlt creates it if it
    is not there yet), once per quarantine id. Does not commit."""
    with conn.cursor() as cur:
        cur.execute(
            f'create table if not exists "{dataset}"."{QUARANTINE_TABLE}" ('
            "quarantine_id varchar not null, source_name varchar not null, "
            "target_table varchar not null, source_location varchar, record_key varchar, "
            "reason varchar not null, raw_payload varchar not null, "
            "quarantined_at timestamp with time zone, "
            "_dlt_load_id varchar not null, _dlt_id varchar not null unique)"
        )
        written = 0
        for row, reason in rows:
            payload = row
            key = None
            if isinstance(row, dict):
                payload = {k: v for k, v in row.items() if not k.startswith("_dlt_")}
                values = [payload.get(k) for k in primary_key]
                if primary_key and any(v not in (None, "") for v in values):
                    key = "|".join("" if v is None else str(v) for v in values)
            item = quarantine_item(
                source_name, table, payload, f"load refused: {reason}", None, key
            )
            # PostgreSQL text holds no NUL byte (often the very reason the row was refused)
            for name in ("record_key", "reason", "raw_payload"):
                if isinstance(item[name], str):
                    item[name] = item[name].replace("\x00", "\\u0000")
            cur.execute(
                f'insert into "{dataset}"."{QUARANTINE_TABLE}" (quarantine_id, source_name, '
                "target_table, source_location, record_key, reason, raw_payload, quarantined_at, "
                "_dlt_load_id, _dlt_id) select %s, %s, %s, %s, %s, %s, %s, %s, %s, %s "
                f'where not exists (select 1 from "{dataset}"."{QUARANTINE_TABLE}" '
                "where quarantine_id = %s)",
                (
                    item["quarantine_id"],
                    item["source_name"],
                    item["target_table"],
                    item["source_location"],
                    item["record_key"],
                    item["reason"],
                    item["raw_payload"],
                    item["quarantined_at"],
                    load_id,
                    uuid.uuid4().hex[:14],
                    item["quarantine_id"],
                ),
            )
            written += cur.rowcount
    return written


def set_aside_failed_jobs(pipeline: Any, warehouse: Any, source_name: str) -> list[SetAside]:
    """Set aside every load file of the pending package that failed on its data (see the
    module's docstring). Returns what was done, empty when no failure was about data (a lost
    connection: the package is left for the next run)."""
    pending = list(pipeline.list_normalized_load_packages())
    if not pending:
        return []
    load_id = pending[0]
    dataset = pipeline.dataset_name
    schema = pipeline.default_schema
    done: list[SetAside] = []
    for job in pipeline.get_load_package_info(load_id).jobs.get("new_jobs", []):
        if not is_data_error(job.failed_message):
            continue
        path = Path(job.file_path)
        table = job.job_file_info.table_name
        columns = schema.get_table_columns(table) if table in schema.tables else {}
        primary_key = [name for name, column in columns.items() if column.get("primary_key")]
        outcome = SetAside(table, path.name)
        job_error = last_error_line(job.failed_message)
        conn = warehouse.connect()
        try:
            if job.job_file_info.file_format == "csv":
                text = path.read_text(encoding="utf-8")
                records = list(csv_records(text))
                header, body = records[0], records[1:]
                good, bad = probe_csv(conn, dataset, table, header, body)
                if not bad:  # every record loads alone: the file as a whole is the problem
                    good, bad = [], [(record, job_error) for record in body]
                names = next(csv.reader([header]))
                rows = [
                    (dict(zip(names, next(csv.reader([record])), strict=False)), reason)
                    for record, reason in bad
                ]
                quarantine_rows(conn, source_name, dataset, table, load_id, rows, primary_key)
                conn.commit()
                outcome.rows_quarantined = len(rows)
                outcome.rows_kept = len(good)
                # the accepted records replace the file and load with the package
                rewritten = path.with_name(path.name + ".tmp")
                rewritten.write_text(header + "".join(good), encoding="utf-8")
                os.replace(rewritten, path)
                outcome.reasons = [reason for _, reason in bad]
            else:
                rows = [(row, job_error) for row in _rows_of(path)]
                quarantine_rows(conn, source_name, dataset, table, load_id, rows, primary_key)
                conn.commit()
                outcome.rows_quarantined = len(rows)
                outcome.whole_file = True
                pipeline.fail_pending_job(load_id, f"{path.name}")
                outcome.reasons = [job_error]
        finally:
            conn.close()
        done.append(outcome)
    return done
