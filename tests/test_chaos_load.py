"""Chaos: ``ciw load --demo`` killed (SIGKILL) at random moments, then run to completion.

Whatever the moment (extract, normalise, load, between a load and its cursor's commit), the
run that follows must finish the work: every raw table then holds each source row exactly once
(rows = distinct keys) or has it in the source's ``_quarantine``, and nothing is lost.
The test prints its figures: kills, rows lost, rows duplicated.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from ingestion.sources.esp.settings import CONTACTS, EVENTS
from ingestion.sources.helpdesk.settings import TICKETS
from ingestion.sources.pos.settings import POS_TABLES
from ingestion.sources.shop.settings import SHOP_TABLES
from ingestion.sources.web.settings import EVENTS as WEB_EVENTS

pytestmark = pytest.mark.serverpath

MAX_KILLS = int(os.environ.get("CIW_CHAOS_KILLS", "15"))
# kills in a row aimed at one source: one that leaves a package pending, one in the run that
# recovers it (a kill during the recovery itself once lost rows), one anywhere
KILLS_PER_SOURCE = 3
TIME_BUDGET_S = float(os.environ.get("CIW_CHAOS_SECONDS", "75"))
SEED = int(os.environ.get("CIW_CHAOS_SEED", "20261207"))


def source_tables(demo: Path) -> dict[tuple[str, str], tuple[int, str]]:
    """(schema, table) -> (records in the demo's source systems, key expression)."""
    out: dict[tuple[str, str], tuple[int, str]] = {}
    shop = sqlite3.connect(demo / "shop.sqlite")
    for name, table in SHOP_TABLES.items():
        rows = shop.execute(f"select count(*) from {name}").fetchone()[0]
        out[("shop", name)] = (rows, ", ".join(table.primary_key))
    shop.close()
    for name, (spec, glob, _) in POS_TABLES.items():
        rows = 0
        for path in sorted((demo / "pos").glob(glob)):
            with path.open(newline="", encoding="utf-8") as f:
                rows += sum(1 for _ in csv.reader(f)) - 1
        out[("pos", name)] = (rows, ", ".join(spec.primary_key))
    web_rows = sum(
        1
        for path in (demo / "web" / "events").glob("*.jsonl")
        for line in path.open(encoding="utf-8")
        if line.strip()
    )
    out[("web", "events")] = (web_rows, ", ".join(WEB_EVENTS.primary_key))
    tickets = json.loads((demo / "helpdesk" / "tickets.json").read_text())
    out[("helpdesk", "tickets")] = (len(tickets), ", ".join(TICKETS.primary_key))
    for spec, file in ((CONTACTS, "contacts.json"), (EVENTS, "events.json")):
        records = json.loads((demo / "esp" / file).read_text())
        out[("esp", spec.table)] = (len(records), ", ".join(spec.primary_key))
    return out


def audit(warehouse, demo: Path) -> dict[str, dict[str, int]]:
    """Per raw table: source records, rows loaded, distinct keys, rows quarantined, rows lost
    (source records neither loaded nor quarantined) and rows duplicated."""
    report: dict[str, dict[str, int]] = {}
    for (schema, table), (source_rows, key) in source_tables(demo).items():
        if warehouse.query("select to_regclass(%s)", (f"{schema}.{table}",))[0][0]:
            rows, keys = warehouse.query(
                f"select count(*), count(distinct ({key})) from {schema}.{table}"
            )[0]
        else:
            rows = keys = 0
        quarantined = 0
        if warehouse.query("select to_regclass(%s)", (f"{schema}._quarantine",))[0][0]:
            quarantined = warehouse.query(
                f"select count(distinct quarantine_id) from {schema}._quarantine "
                "where target_table = %s",
                (table,),
            )[0][0]
        report[f"{schema}.{table}"] = {
            "source": source_rows,
            "loaded": rows,
            "keys": keys,
            "quarantined": quarantined,
            "lost": max(0, source_rows - keys - quarantined),
            "duplicated": rows - keys,
        }
    for schema in ("shop", "pos", "helpdesk", "web", "esp"):
        if warehouse.query("select to_regclass(%s)", (f"{schema}._quarantine",))[0][0]:
            rows, keys = warehouse.query(
                f"select count(*), count(distinct quarantine_id) from {schema}._quarantine"
            )[0]
            report[f"{schema}._quarantine"] = {"duplicated": rows - keys}
    return report


# Named moments at which the armed child process kills itself (SIGKILL, no clean-up) the n-th
# time it gets there while loading one source: (module, class, method, before or after the
# call). Random kill times alone rarely hit the short windows (a COPY committed but not yet
# recorded as done), so most kills aim at one of these; "timed" kills after a random delay.
KILL_POINTS = {
    "extract": (
        "dlt.common.data_writers.buffered",
        "BufferedDataWriter",
        "write_data_item",
        "before",
    ),
    "extract-committed": ("dlt.pipeline.pipeline", "Pipeline", "normalize", "before"),
    "normalize": (
        "dlt.common.storages.load_storage",
        "LoadStorage",
        "commit_new_load_package",
        "before",
    ),
    "copy-committed": (
        "dlt.destinations.impl.postgres.postgres",
        "PostgresCsvCopyJob",
        "run",
        "after",
    ),
    "sql-committed": ("dlt.destinations.job_client_impl", "SqlLoadJob", "run", "after"),
    "load-recorded": (
        "dlt.destinations.job_client_impl",
        "SqlJobClientBase",
        "complete_load",
        "after",
    ),
    "package-done": (
        "dlt.common.storages.load_storage",
        "LoadStorage",
        "complete_load_package",
        "after",
    ),
    "state-saved": ("dlt.pipeline.pipeline", "Pipeline", "_save_state", "after"),
    # inside the recovery of an interrupted run (ingestion.runner.recover_interrupted_run)
    "recovery-rolled-back": ("ingestion.runner", None, "rollback_loads", "after"),
    "recovery-dropped": ("dlt.pipeline.pipeline", "Pipeline", "drop", "after"),
    "timed": None,
}
# kills that leave a package pending, partly in the warehouse ...
LEAVES_PENDING = ("copy-committed", "sql-committed", "load-recorded")
# ... and kills that then hit the next run while it recovers (or, on an older recovery by dlt's
# abort_packages, between its two steps)
DURING_RECOVERY = ("package-done", "recovery-rolled-back", "recovery-dropped", "state-saved")
# reached several times per load of a source (the others once per package)
REPEATED_POINTS = {"extract", "copy-committed", "sql-committed", "state-saved"}
SOURCES = ("shop", "pos", "helpdesk", "web", "esp")


def arm(source: str, point: str, nth: int, delay_s: float = 0.0) -> None:
    """Make this process kill itself the ``nth`` time it reaches ``point`` (KILL_POINTS) while
    it loads ``source`` ("timed": ``delay_s`` after it starts loading ``source``)."""
    import functools
    import importlib
    import threading

    import ingestion.runner

    loading = {"source": None}
    hits = [0]
    lock = threading.Lock()

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    run_source = ingestion.runner.run_source

    @functools.wraps(run_source)
    def run_source_watched(name, *args, **kwargs):
        loading["source"] = name
        if point == "timed" and name == source:
            threading.Timer(delay_s, die).start()
        try:
            return run_source(name, *args, **kwargs)
        finally:
            loading["source"] = None

    ingestion.runner.run_source = run_source_watched
    if point == "timed":
        return
    module, cls_name, method, when = KILL_POINTS[point]
    owner = importlib.import_module(module)
    cls = getattr(owner, cls_name) if cls_name else owner
    original = getattr(cls, method)

    def count() -> None:
        if loading["source"] != source:
            return
        with lock:
            hits[0] += 1
            if hits[0] == nth:
                die()

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if when == "before":
            count()
        out = original(*args, **kwargs)
        if when == "after":
            count()
        return out

    setattr(cls, method, wrapper)


def ciw_load(
    env: dict[str, str],
    log: Path,
    source: str = "",
    point: str = "",
    nth: int = 1,
    delay_s: float = 0.0,
) -> int:
    """``ciw load --demo`` in a child process (forked from this one, which has imported
    everything already: a fresh interpreter spends seconds on imports); with ``source``, of
    that source only and armed to die while loading it (see ``arm``). Returns the exit status
    as ``subprocess`` does (-9: killed); the child's output is appended to ``log``."""
    from ciw.cli import main

    pid = os.fork()
    if pid == 0:  # the child: never returns to pytest
        code = 70
        try:
            with log.open("a") as out:
                out.write(f"\n=== ciw load {source} {point} {nth} {delay_s}\n")
            fd = os.open(log, os.O_WRONLY | os.O_APPEND)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.environ.update(env)
            if source:
                arm(source, point, nth, delay_s)
            code = main(["load", "--demo", "--quiet", *([source] if source else [])])
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def grow_sources(demo: Path, round_: int) -> None:
    """New and changed records in every source system, so that later kills hit incremental
    loads (the cursors have moved) and merges, not just first loads."""
    stamp = f"2099-01-{round_:02d}"
    shop = sqlite3.connect(demo / "shop.sqlite")
    for name, table in SHOP_TABLES.items():
        columns = [row[1] for row in shop.execute(f"pragma table_info({name})")]
        first_key = table.primary_key[0]
        rows = shop.execute(  # copies of the generated rows only
            f"select * from {name} where rowid % 5 = 0 and {first_key} < 10000000 "
            "order by rowid limit 30"
        ).fetchall()
        for row in rows:
            record = dict(zip(columns, row, strict=True))
            if isinstance(record[first_key], int):
                record[first_key] += 10_000_000 * round_
            record[table.cursor] = f"{stamp} 00:00:00"
            marks = ", ".join("?" * len(columns))
            shop.execute(
                f"insert into {name} ({', '.join(columns)}) values ({marks})",
                list(record.values()),
            )
        # changed rows: merged over the loaded ones
        shop.execute(
            f"update {name} set {table.cursor} = ? where rowid % 7 = 1", (f"{stamp} 00:00:01",)
        )
    shop.commit()
    shop.close()
    for name, (_, glob, _) in POS_TABLES.items():
        first = sorted((demo / "pos").glob(glob))[0]
        header, *lines = first.read_text(encoding="utf-8").splitlines()
        # a new key for each row (a row without one stays malformed)
        renamed = [
            line.replace(",", f"-r{round_},", 1) if not line.startswith(",") else line
            for line in lines
        ]
        (first.parent / f"{name}_{stamp}.csv").write_text(
            "\n".join([header, *renamed]) + "\n", encoding="utf-8"
        )
    first = sorted((demo / "web" / "events").glob("*.jsonl"))[0]
    out = []
    for line in first.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            record["event_id"] = f"{record.get('event_id')}-r{round_}"
            out.append(json.dumps(record))
        except (json.JSONDecodeError, AttributeError, TypeError):
            out.append(f"{line} r{round_}")
    (first.parent / f"events_{stamp}.jsonl").write_text("\n".join(out) + "\n", encoding="utf-8")
    for path, key, cursor in (
        (demo / "helpdesk" / "tickets.json", "ticket_id", "updated_at"),
        (demo / "esp" / "contacts.json", "contact_id", "updated_at"),
        (demo / "esp" / "events.json", "event_id", "occurred_at"),
    ):
        records = json.loads(path.read_text(encoding="utf-8"))
        new = []
        for record in records[:120:4]:
            if not isinstance(record, dict) or record.get(key) in (None, ""):
                continue
            copy = dict(record)
            value = copy[key]
            copy[key] = (
                value + 10_000_000 * round_ if isinstance(value, int) else f"{value}-r{round_}"
            )
            copy[cursor] = f"{stamp}T00:00:00Z"
            new.append(copy)
        for record in records[1:120:9]:  # changed (events are immutable: re-sent, not changed)
            if isinstance(record, dict) and cursor == "updated_at" and record.get(cursor):
                record[cursor] = f"{stamp}T00:00:01Z"
        path.write_text(json.dumps(records + new), encoding="utf-8")


def test_load_killed_at_random_moments_loses_and_duplicates_nothing(warehouse, demo_data, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(demo_data, home / "demo")
    log = tmp_path / "ciw-load.log"
    env = {
        "CIW_HOME": str(home),
        "CIW_DSN": warehouse.dsn.url(),
        "CIW_PROJECT_DIR": str(Path(__file__).parent.parent),
        "RUNTIME__LOG_LEVEL": "ERROR",
    }
    rng = random.Random(SEED)
    started = time.monotonic()
    kills: list[str] = []
    survived: list[str] = []
    for index in range(MAX_KILLS):
        if time.monotonic() - started > TIME_BUDGET_S:
            break
        if index:  # new and changed records: later kills hit incremental loads and merges
            grow_sources(home / "demo", index)
        round_, step = divmod(index, KILLS_PER_SOURCE)
        source = SOURCES[round_ % len(SOURCES)]
        point = (
            rng.choice(LEAVES_PENDING),
            DURING_RECOVERY[round_ % len(DURING_RECOVERY)],
            rng.choice(sorted(KILL_POINTS)),
        )[min(step, 2)]
        nth = rng.randint(1, 3) if point in REPEATED_POINTS else 1
        delay_s = round(rng.uniform(0.05, 1.0), 2)
        status = ciw_load(env, log, source, point, nth, delay_s)
        what = f"{source}:{point}" + (f"@{delay_s}s" if point == "timed" else f"#{nth}")
        if status == -signal.SIGKILL:
            kills.append(what)
        else:
            survived.append(f"{what} (exit {status})")
    final = ciw_load(env, log)
    report = audit(warehouse, home / "demo")
    lost = sum(table.get("lost", 0) for table in report.values())
    duplicated = sum(table.get("duplicated", 0) for table in report.values())
    print(
        f"\nchaos: {len(kills)} kills ({', '.join(kills)}); runs not killed: "
        f"{', '.join(survived) or 'none'}; rows lost: {lost}; rows duplicated: {duplicated}; "
        f"{time.monotonic() - started:.0f}s"
    )
    for name, figures in report.items():
        if figures.get("lost") or figures.get("duplicated"):
            print(f"  {name}: {figures}")
    assert final == 0, log.read_text()[-5000:]
    assert len(kills) >= MAX_KILLS // 2, "most runs should have been killed"
    assert lost == 0 and duplicated == 0, report
