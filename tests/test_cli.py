"""The CLI end to end at a small scale: run, idempotent re-run, summary, lock, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ciw import cli


@pytest.fixture
def ciw_env(monkeypatch, tmp_path, warehouse):
    monkeypatch.setenv("CIW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CIW_DSN", warehouse.dsn.url())
    return warehouse


def test_run_loads_all_sources_then_rerun_adds_nothing(ciw_env, capsys):
    assert cli.main(["run", "--customers", "150", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "load summary" in out and "quarantined" in out
    # a summary, not dbt's line per node (those come with -v)
    assert "dbt build" in out and "OK created" not in out and "START sql" not in out
    for schema, table in (
        ("shop", "orders"),
        ("pos", "transactions"),
        ("helpdesk", "tickets"),
        ("web", "events"),
        ("esp", "events"),
    ):
        assert ciw_env.query(f"select count(*) from {schema}.{table}")[0][0] > 0
    before = ciw_env.query("select count(*) from web.events")[0][0]
    assert cli.main(["run", "--customers", "150", "--quiet", "--json"]) == 0
    assert ciw_env.query("select count(*) from web.events")[0][0] == before
    # --json: stdout is one JSON object for a scheduler, the rest went to stderr
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["status"] == 0 and "load summary" in captured.err
    assert [load["source"] for load in summary["loads"]] == [
        "shop",
        "pos",
        "helpdesk",
        "web",
        "esp",
    ]
    assert all(sum(load["rows"].values()) == 0 for load in summary["loads"])  # nothing new
    assert summary["build"]["counts"]["model:success"] > 50 and summary["build"]["status"] == 0
    assert {s["sync"] for s in summary["syncs"]} >= {"welcome_email", "win_back_sms"}
    assert cli.main(["quarantine"]) == 0
    assert "required value is missing" in capsys.readouterr().out


def test_overlapping_run_is_refused(ciw_env, capsys):
    from ciw.lock import warehouse_lock

    with warehouse_lock(ciw_env, "run"):
        assert cli.main(["run", "--customers", "50", "--quiet"]) == cli.EXIT_LOCKED
    assert "is locked by 'ciw run pid" in capsys.readouterr().err


def test_unknown_source_and_bad_dsn_are_clear_errors(ciw_env, capsys, monkeypatch):
    assert cli.main(["load", "nosuch"]) == 2
    assert "unknown source" in capsys.readouterr().err
    monkeypatch.setenv("SOURCES__POS__BUCKET_URL", "/nowhere")
    monkeypatch.setenv("SOURCES__POS__DATE_FORMATS", '["DD/MM/YYYY"]')
    assert cli.main(["load", "pos"]) == 2
    assert "source pos: date_formats: 'DD/MM/YYYY' is not a strptime pattern" in (
        capsys.readouterr().err.replace("\n", "")
    )
    # the demo's files are read in the demo's format, whatever the user's files need
    assert cli.build_sources(["pos"], Path("/demo"), None)["pos"] is not None
    monkeypatch.setenv("CIW_DSN", "mysql://nope")
    assert cli.main(["load", "--demo"]) == 2


def test_configured_sources_come_from_dlt_config(ciw_env, demo_data, monkeypatch, capsys):
    monkeypatch.setenv("SOURCES__POS__BUCKET_URL", str(demo_data / "pos"))
    assert cli.main(["load", "pos", "--quiet"]) == 0
    assert ciw_env.query("select count(*) from pos.transactions")[0][0] > 0


def test_dbt_runs_in_process_with_session_settings_and_restores_the_environment(
    warehouse, tmp_path, monkeypatch
):
    """dbt commands run in this process: each session gets work_mem from
    DBT_SESSION_OPTIONS unless the caller's PGOPTIONS says otherwise, a parsed session hands
    its manifest on, bad commands exit 2, and os.environ and the working directory are as
    they were afterwards."""
    import os
    from pathlib import Path

    from ciw.config import Paths
    from ciw.dbt import DbtSession

    root = Path(cli.__file__).absolute().parent.parent
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.delenv("PGOPTIONS", raising=False)
    before_env, before_cwd = dict(os.environ), os.getcwd()
    session = DbtSession(warehouse, Paths(project=root, home=tmp_path / "home"))
    show = ["show", "--inline", "select current_setting('work_mem') as work_mem_setting"]

    result = session.run(show, capture=True)
    assert result.ok and "64MB" in result.output, result.output[-2000:]
    assert dict(os.environ) == before_env and os.getcwd() == before_cwd

    monkeypatch.setenv("PGOPTIONS", "-c work_mem=7MB")
    result = session.run(show, capture=True)
    assert result.ok and "7MB" in result.output and "64MB" not in result.output

    assert session.manifest is None
    assert session.parse(capture=True).ok and session.manifest is not None
    assert session.run(show, capture=True).ok  # on the parsed manifest

    assert session.run(["no-such-command"], capture=True).returncode == 2
    assert session.run(["build", "--select", "no_such_model+"], capture=True).ok


def test_demo_history_ends_at_its_as_of_date_today_by_default(tmp_path, capsys, monkeypatch):
    import datetime as dt
    import json
    import sqlite3

    out = tmp_path / "demo"

    def generate(*extra: str) -> tuple[str, str]:
        args = ["demo", "generate", "--customers", "40", "--out", str(out), *extra]
        assert cli.main(args) == 0
        with sqlite3.connect(out / "shop.sqlite") as shop:
            last_order = shop.execute("select max(ordered_at) from orders").fetchone()[0]
        return json.loads((out / "manifest.json").read_text())["as_of"], last_order

    as_of, last_order = generate("--as-of", "2025-03-01")
    assert as_of == "2025-03-01" and "2025-02-01" < last_order < "2025-03-01"
    monkeypatch.setenv("CIW_DEMO_AS_OF", "2024-07-01")
    assert generate()[0] == "2024-07-01"
    monkeypatch.delenv("CIW_DEMO_AS_OF")
    as_of, last_order = generate()  # the marts are computed as of today: so is the demo
    today = dt.datetime.now(dt.UTC).date()
    assert as_of == today.isoformat() and last_order < as_of
    assert cli.main(["demo", "generate", "--out", str(out), "--as-of", "yesterday"]) == 2
    assert "--as-of must be a date" in capsys.readouterr().err


def test_progress_is_one_line_per_report(capsys):
    """dlt's progress (a block per report) and dbt's (a line per node) become one line each."""
    import io
    import time
    from types import SimpleNamespace

    from ciw.dbt import _NodeProgress
    from ingestion.runner import log_progress

    stream = io.StringIO()
    collector = log_progress(stream, period_s=0.0)
    with collector("Extract pos"):
        collector.update("Resources", 0, total=2)
        collector.update("transactions", 1200)
        collector.update("_dlt_pipeline_state", 1)
        collector.update("loyalty_signups", 30)
    lines = stream.getvalue().splitlines()
    assert lines and all(line.startswith("  extract pos: ") for line in lines)
    assert "transactions 1,200" in lines[-1] and "loyalty_signups 30" in lines[-1]
    assert "_dlt_pipeline_state" not in stream.getvalue()

    progress = _NodeProgress(period_s=0.0)

    def event(name, **data):
        return SimpleNamespace(info=SimpleNamespace(name=name), data=SimpleNamespace(**data))

    progress(event("LogStartLine", total=3))
    progress(event("NodeFinished", node_info=SimpleNamespace(node_status="success")))
    time.sleep(0.01)
    progress(event("NodeFinished", node_info=SimpleNamespace(node_status="error")))
    assert capsys.readouterr().err.splitlines()[-1].startswith("  dbt: 2 of 3 nodes done, 1 failed")


def test_product_code_does_not_import_the_demo():
    """The demo (generator, demo APIs, channel receivers) is one package, ciw.demo; only the
    command line wires it in (and the evaluation tooling, which loads demo data around the
    public sets). Loaders, matching, lifetime value and syncs never import it."""
    import ast

    root = Path(__file__).absolute().parent.parent
    product = [
        *root.joinpath("ingestion").rglob("*.py"),
        *root.joinpath("reverse_etl").rglob("*.py"),
        *(
            p
            for p in root.joinpath("ciw").rglob("*.py")
            if p.parts[-2] not in ("demo", "evaluation")
        ),
    ]
    offenders = []
    for path in product:
        if path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            offenders += [
                f"{path.relative_to(root)}: {n}" for n in names if n.startswith("ciw.demo")
            ]
    assert len(product) > 20
    assert offenders == []
