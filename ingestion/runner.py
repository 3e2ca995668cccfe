"""Run dlt sources into the warehouse and summarise what happened.

Fast path by default: the sources yield Arrow (shop) or typed rows, and the loader uses the
``csv`` file format, which dlt's postgres destination loads with COPY.
"""

from __future__ import annotations

import os
import re
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
    # what this run did about work an earlier run left unfinished (a crash, a kill)
    recovered: list[str] = field(default_factory=list)
    # load files that could not load: their rows went to the quarantine, with the reason
    set_aside: list[str] = field(default_factory=list)
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
    ``raise_on_error``). Whatever a failed or killed run left half loaded, the next run rolls
    back and reads again (``recover_interrupted_run``); a load file the warehouse refuses is set
    aside to the quarantine (``run_setting_aside``)."""
    result = LoadResult(source=source_name)
    started = time.monotonic()
    drop_stand_ins(warehouse, source_name)
    before = _columns(warehouse, source_name)
    quarantined_before = _count(warehouse, source_name, QUARANTINE_TABLE)
    pipeline = pipeline_for(source_name, warehouse, pipelines_dir, progress)
    load_ids: list[str] = []
    try:
        # undo what a killed run left half done before extracting anything new
        result.recovered = recover_interrupted_run(pipeline, warehouse, source_name)
        append_first_loads(source, warehouse, source_name)
        load_ids.extend(
            run_setting_aside(pipeline, warehouse, source_name, source, loader_file_format, result)
        )
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


# The comment on the empty tables dbt creates for a source that has not loaded (macro
# create_absent_source_tables), so that the models build with any subset of sources.
STAND_IN_COMMENT = "ciw stand-in:"


def drop_stand_ins(warehouse: Any, schema: str) -> list[str]:
    """Drop the empty stand-ins of ``schema``'s tables before its source loads, so that dlt
    creates the real tables (its types, keys and hints); the staging views on them go too and
    come back with the next build. A stand-in that holds rows (someone wrote to it) is kept."""
    dropped = []
    with warehouse.cursor() as cur:
        cur.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relkind = 'r' "
            "and obj_description(c.oid, 'pg_class') like %s order by 1",
            (schema, STAND_IN_COMMENT + "%"),
        )
        for (table,) in cur.fetchall():
            relation = f'"{schema}"."{table}"'
            cur.execute(f"lock table {relation} in access exclusive mode")
            cur.execute(f"select exists (select 1 from {relation})")
            if not cur.fetchone()[0]:
                cur.execute(f"drop table {relation} cascade")
                dropped.append(table)
    return dropped


# Sources whose tables come from a database with primary keys: one extract reads a key once,
# so a first load into an empty table has nothing to merge with and appends (COPY straight into
# the table instead of into staging, then a delete and an insert). The later loads merge. Files
# and APIs may send a key twice in one run (a re-dropped file, a record changed while paging):
# they always merge.
FIRST_LOAD_APPENDS = {"shop"}


def append_first_loads(source: Any, warehouse: Any, dataset: str) -> list[str]:
    """Switch the merged tables of ``source`` that are absent or empty in ``dataset`` to
    append for this run (see FIRST_LOAD_APPENDS). A killed first load is rolled back by load
    id like any other (recover_interrupted_run). Returns the tables switched."""
    if getattr(source, "name", None) not in FIRST_LOAD_APPENDS:
        return []
    existing = _columns(warehouse, dataset)
    switched = []
    for name, resource in source.selected_resources.items():
        disposition = resource.write_disposition
        if isinstance(disposition, dict):
            disposition = disposition.get("disposition")
        if disposition != "merge" or name == QUARANTINE_TABLE or "__" in name:
            continue
        if (
            name in existing
            and warehouse.query(f'select exists (select 1 from "{dataset}"."{name}")')[0][0]
        ):
            continue
        resource.apply_hints(write_disposition="append")
        switched.append(name)
    return switched


# a file is probed and rewritten at most this often before the source is reported failed
MAX_SET_ASIDE_ROUNDS = 3


def run_setting_aside(
    pipeline: Any,
    warehouse: Any,
    source_name: str,
    source: Any,
    loader_file_format: str,
    result: LoadResult,
) -> list[str]:
    """``pipeline.run``, returning the ids of the loads it made. When the warehouse refuses a
    load file's data, set the file aside (``ingestion.set_aside``: refused rows quarantined,
    the others loaded) and finish the package. A failure that is not about the data (a lost
    connection) is raised: the package stays pending and the next run rolls it back and reads
    it again."""
    from dlt.pipeline.exceptions import PipelineStepFailed

    from ingestion.set_aside import set_aside_failed_jobs

    try:
        return list(pipeline.run(source, loader_file_format=loader_file_format).loads_ids)
    except PipelineStepFailed as exc:
        if exc.step != "load":
            raise
        failure = exc
    for _ in range(MAX_SET_ASIDE_ROUNDS):
        outcomes = set_aside_failed_jobs(pipeline, warehouse, source_name)
        if not outcomes:
            raise failure
        result.set_aside.extend(outcome.describe(pipeline.dataset_name) for outcome in outcomes)
        try:
            info = pipeline.load()
        except PipelineStepFailed as exc:
            failure = exc
            continue
        return list(info.loads_ids) if info is not None else []
    raise failure


def recover_interrupted_run(pipeline: Any, warehouse: Any, dataset: str) -> list[str]:
    """Put a source back to where its last complete load left it, so that this run extracts
    again what an interrupted run (killed, crashed, the machine lost) had in flight.

    dlt saves the pipeline state, and with it every incremental cursor, when the extract ends,
    before its package is loaded; the package carries the data those cursors moved past. A run
    killed between that moment and the end of the load leaves the package pending, and only
    partly in the warehouse: COPYs that were committed but not yet recorded as done, a merge
    that ran, a load recorded in ``_dlt_loads`` but not moved to the loaded packages. Loading
    such a package again writes some of its rows twice (``UniqueViolation`` on ``_dlt_id`` for
    append tables, the state table included); throwing it away loses its rows for good, because
    the cursor has already moved past them.

    So a pending package is never resumed:

    1. every row it may have written is deleted (``rollback_loads``: one transaction, by
       ``_dlt_load_id``, in the dataset and its staging dataset, with its ``_dlt_loads`` row);
    2. the local working folder (pending packages, state, schemas) is dropped and the state and
       schemas are restored from the warehouse, where dlt keeps the state of every load and
       reads back that of the newest complete one: the cursors are where the last complete load
       left them. (dlt's ``abort_packages`` rewinds from a snapshot too, but in two steps: a run
       killed between them keeps the moved cursors with the package gone.)

    The extract that follows reads the same rows again. Each step is idempotent and the
    package stays pending until step 2: a run killed during the recovery is recovered by the
    next one (and one killed during step 2 leaves no local state, which dlt restores from the
    warehouse by itself). Returns one line per package for the summary.
    """
    extracted = list(pipeline.list_extracted_load_packages())
    normalized = list(pipeline.list_normalized_load_packages())
    if not extracted and not normalized:
        return []
    deleted = rollback_loads(warehouse, dataset, normalized) if normalized else {}
    pipeline.drop()  # the same instance, re-initialised on an empty working folder
    pipeline.sync_destination()
    notes = []
    for load_id in sorted({*extracted, *normalized}):
        rows = sum(deleted.get(load_id, {}).values())
        stage = "loaded in part" if load_id in normalized else "extracted, not loaded"
        notes.append(
            f"interrupted load {load_id} ({stage}): {rows:,} partly loaded row(s) removed, "
            "cursors back at the last complete load, read again"
        )
    return notes


def rollback_loads(warehouse: Any, dataset: str, load_ids: list[str]) -> dict[str, dict[str, int]]:
    """Delete every row the loads ``load_ids`` wrote to ``dataset`` and its staging dataset
    (``<dataset>_staging``), and their ``_dlt_loads`` rows, in one transaction. Returns rows
    deleted per load id and table. Root tables only: the sources load no nested tables
    (``max_table_nesting=0``)."""
    tables = warehouse.query(
        "select table_schema, table_name from information_schema.columns "
        "where table_schema in (%s, %s) and column_name = '_dlt_load_id' "
        "order by 1, 2",
        (dataset, f"{dataset}_staging"),
    )
    loads_table = warehouse.query("select to_regclass(%s)", (f'"{dataset}"._dlt_loads',))[0][0]
    deleted: dict[str, dict[str, int]] = {}
    with warehouse.cursor() as cur:
        for schema, table in tables:
            # the range on the load time lets the index (index_loaded_tables) find the rows
            cur.execute(
                f'with gone as (delete from "{schema}"."{table}" '
                f"where {LOADED_AT_EXPRESSION} >= to_timestamp(%s::numeric) "
                "and _dlt_load_id = any(%s) returning _dlt_load_id) "
                "select _dlt_load_id, count(*) from gone group by 1",
                (min(load_ids, key=float), load_ids),
            )
            for load_id, rows in cur.fetchall():
                deleted.setdefault(load_id, {})[f"{schema}.{table}"] = rows
        if loads_table:
            cur.execute(f'delete from "{dataset}"._dlt_loads where load_id = any(%s)', (load_ids,))
    return deleted


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


class OneLineProgress(LogCollector):
    """dlt's progress log, one line per report instead of a block (a header, a line per
    counter, memory): `  pos extract: transactions 12,000, transaction_lines 30,500 (4s)`.
    dlt reports at each step's end (extract, normalize, load) and every ``log_period``."""

    def _start(self, step: str) -> None:
        super()._start(step)
        self.last_log_time = self._clock()  # the first report after a period, not at once

    def dump_counters(self) -> None:
        if set(self.counters) <= {"Resources", "_dlt_pipeline_state"}:
            return  # nothing of the source's own yet, or dlt extracting its state
        step = re.sub(r" in [0-9.]+$", "", self.step or "").lower()
        now = self._clock()
        counts = ", ".join(
            f"{name.split('_', 1)[-1] if name.startswith('Resource_') else name} "
            + (f"{count:,}/{info.total:,}" if info.total else f"{count:,}")
            for name, count in self.counters.items()
            for info in [self.counter_info[name]]
            if name != "_dlt_pipeline_state"
        )
        started = min((info.start_time for info in self.counter_info.values()), default=now)
        self._log(self.log_level, f"  {step}: {counts or 'nothing yet'} ({now - started:.0f}s)")


def log_progress(stream: Any, period_s: float = 5.0) -> Collector:
    """dlt's periodic progress (items per resource and table), one line each, on ``stream``."""
    return OneLineProgress(log_period=period_s, logger=stream, dump_system_stats=False)


ProgressFactory = Callable[[str], Collector | None]
