"""Run dlt sources into the warehouse and summarise what happened.

Fast path by default: the sources yield Arrow (shop) or typed rows, and the loader uses the
``csv`` file format, which dlt's postgres destination loads with COPY.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.common.runtime.collector import Collector, LogCollector, NullCollector

from ingestion.quarantine import QUARANTINE_TABLE

SOURCE_NAMES = ("shop", "pos", "helpdesk", "web", "esp")

# A row's load time as the staging models compute it (dbt macro `dlt_loaded_at`: dlt's load id
# is the epoch of the load's start). Every loaded table gets an index on exactly this
# expression, so an incremental model's `loaded_at > <watermark>` reads only the new loads by
# index instead of scanning the table (tests/test_loaders.py checks the planner uses it).
LOADED_AT_EXPRESSION = "to_timestamp(_dlt_load_id::numeric)"

# Arrow items (the shop's fast path) get dlt's load id too: staging models and the run summary
# read it. Set as environment defaults so .dlt/config.toml or the caller can still override.
DLT_DEFAULTS = {
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
    "DATA_WRITER__BUFFER_MAX_ITEMS": "50000",
    "DATA_WRITER__FILE_MAX_ITEMS": "500000",
    # the load files are local and short-lived: gzip costs more CPU than COPY itself
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
    # Arrow batches from a database differ when a chunk's column is all NULL (null type) or
    # its decimals have another precision: promote instead of failing
    "DATA_WRITER__ARROW_CONCAT_PROMOTE_OPTIONS": "permissive",
    # no personal data left on disk once loaded (right to erasure, docs/erasure.md): the load
    # files of a package that loaded are deleted, and the merge staging tables truncated
    "LOAD__DELETE_COMPLETED_JOBS": "true",
    "LOAD__TRUNCATE_STAGING_DATASET": "true",
}
for _key, _value in DLT_DEFAULTS.items():
    os.environ.setdefault(_key, _value)


@dataclass
class LoadResult:
    source: str
    rows: dict[str, int] = field(default_factory=dict)  # rows extracted per table this run
    quarantined_new: int = 0  # bad rows seen for the first time in this run
    quarantined_total: int = 0  # bad rows in the source's quarantine table
    drift: list[str] = field(default_factory=list)  # "table.column" added to existing tables
    duration_s: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def pipeline_for(source_name: str, warehouse: Any, pipelines_dir: Path, progress: Any = None):
    """The dlt pipeline of one source: raw schema named after the source, state in the
    warehouse (``<schema>._dlt_pipeline_state``), working folder under ``pipelines_dir``."""
    return dlt.pipeline(
        pipeline_name=f"ciw_{source_name}",
        destination=warehouse.dlt_destination(),
        dataset_name=source_name,
        pipelines_dir=str(pipelines_dir),
        progress=progress or NullCollector(),
    )


def _columns(warehouse: Any, schema: str) -> dict[str, set[str]]:
    rows = warehouse.query(
        "select table_name, column_name from information_schema.columns where table_schema = %s",
        (schema,),
    )
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        tables.setdefault(table, set()).add(column)
    return tables


def _count(warehouse: Any, schema: str, table: str) -> int:
    exists = warehouse.query("select to_regclass(%s)", (f'"{schema}"."{table}"',))[0][0]
    if not exists:
        return 0
    return warehouse.query(f'select count(*) from "{schema}"."{table}"')[0][0]


def run_source(
    source_name: str,
    source: Any,
    warehouse: Any,
    pipelines_dir: Path,
    progress: Collector | None = None,
    loader_file_format: str = "csv",
    raise_on_error: bool = False,
) -> LoadResult:
    """Extract, normalise and load one source. Errors are captured in the result (unless
    ``raise_on_error``): a failed source leaves its state unchanged so the next run resumes."""
    result = LoadResult(source=source_name)
    started = time.monotonic()
    before = _columns(warehouse, source_name)
    quarantined_before = _count(warehouse, source_name, QUARANTINE_TABLE)
    pipeline = pipeline_for(source_name, warehouse, pipelines_dir, progress)
    load_ids: list[str] = []
    try:
        # finish a package a crashed run left behind before extracting anything new
        if pipeline.has_pending_data:
            info = pipeline.load()
            load_ids.extend(info.loads_ids)
        info = pipeline.run(source, loader_file_format=loader_file_format)
        load_ids.extend(info.loads_ids)
        index_loaded_tables(warehouse, source_name, pipeline)
        # erased people stay erased: their rows sent again are deleted on arrival
        from ciw.erasure import apply_tombstones

        for schema in (source_name, f"{source_name}_staging"):
            apply_tombstones(warehouse, schema, load_ids)
    except Exception as exc:  # reported, and re-raised on request
        result.error = _error_message(exc)
        if raise_on_error:
            raise
    finally:
        result.duration_s = time.monotonic() - started
    after = _columns(warehouse, source_name)
    for table in sorted(after):
        if table.startswith("_dlt") or table == QUARANTINE_TABLE:
            continue
        result.rows[table] = 0
        if load_ids and "_dlt_load_id" in after[table]:
            # the index range from the earliest of these loads, then their exact ids
            result.rows[table] = warehouse.query(
                f'select count(*) from "{source_name}"."{table}" '
                f"where {LOADED_AT_EXPRESSION} >= to_timestamp(%s::numeric) "
                "and _dlt_load_id = any(%s)",
                (min(load_ids, key=float), load_ids),
            )[0][0]
    for table, columns in sorted(after.items()):
        if table in before and not table.startswith("_dlt"):
            result.drift.extend(f"{table}.{c}" for c in sorted(columns - before[table]))
    result.quarantined_total = _count(warehouse, source_name, QUARANTINE_TABLE)
    result.quarantined_new = result.quarantined_total - quarantined_before
    return result


def index_loaded_tables(warehouse: Any, schema: str, pipeline: Any) -> None:
    """Index every loaded table of ``schema`` on its rows' load time (LOADED_AT_EXPRESSION) and
    on its primary key: new loads and a customer's rows are then read by index, and dlt's merge
    deletes the rows it replaces by index instead of scanning the table. Built once, when a
    table first appears (seconds for ten million rows); afterwards a no-op, and COPY keeps them
    up to date. Not unique: an append table's key is a hint, not a promise."""
    tables = {
        table["name"]: table["columns"]
        for table in pipeline.default_schema.data_tables()
        if table["name"] != QUARANTINE_TABLE
    }
    existing = _columns(warehouse, schema)
    for table, columns in sorted(tables.items()):
        if table not in existing:
            continue
        wanted = {}
        if "_dlt_load_id" in columns:
            wanted["dlt_loaded_at"] = f"({LOADED_AT_EXPRESSION})"
        key = [name for name, column in columns.items() if column.get("primary_key")]
        if key:
            wanted["dlt_primary_key"] = ", ".join(f'"{name}"' for name in key)
        for suffix, expression in wanted.items():
            warehouse.query(
                f'create index if not exists "{table[:40]}__{suffix}" '
                f'on "{schema}"."{table}" ({expression})'
            )


def _error_message(exc: BaseException) -> str:
    """The innermost useful message of a dlt PipelineStepFailed chain."""
    messages = []
    current: BaseException | None = exc
    while current is not None and len(messages) < 4:
        messages.append(f"{type(current).__name__}: {str(current).strip().splitlines()[0]}")
        current = current.__cause__ or current.__context__
    return " <- ".join(reversed(messages[-2:])) if len(messages) > 1 else messages[0]


def log_progress(stream: Any, period_s: float = 5.0) -> Collector:
    """dlt's periodic progress log (items per resource, rate, memory) on ``stream``."""
    return LogCollector(log_period=period_s, logger=stream, dump_system_stats=True)


ProgressFactory = Callable[[str], Collector | None]
