"""``ciw``: the one command-line entry point of the customer-intelligence warehouse."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ciw.config import Paths
from ciw.warehouse import (
    DSN_ENV,
    Dsn,
    EmbeddedPostgres,
    Warehouse,
    WarehouseError,
    redact,
    resolve_warehouse,
)


class _Redacted:
    """sys.stdout or sys.stderr (whichever is current when written to) with every password
    redacted (ciw.warehouse.redact): a net under what the CLI prints, errors of dlt, dbt and
    drivers included."""

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        return getattr(sys, self.name).write(redact(text))

    def __getattr__(self, attribute: str):
        return getattr(getattr(sys, self.name), attribute)


console = Console(
    file=_Redacted("stdout"), highlight=False, width=None if sys.stdout.isatty() else 120
)
err_console = Console(file=_Redacted("stderr"), highlight=False)

DEMO_TOKEN = "demo-token"
WEBHOOK_SECRET_ENV = "CIW_WEBHOOK_SECRET"


class CliError(Exception):
    """An error the user can act on; printed without a traceback."""


# --------------------------------------------------------------------------- helpers


# exit code of a command refused because another one holds the warehouse lock
EXIT_LOCKED = 3
# the commands that write to the warehouse: each holds its lock from opening it to its end
WRITING_COMMANDS = frozenset({"run", "load", "match", "dbt", "clv", "forget", "sync"})
# dbt commands that write nothing to the warehouse: `ciw dbt` runs them without the lock
DBT_READ_ONLY = frozenset({"ls", "list", "parse", "compile", "show", "debug", "docs", "deps"})


def secure_home(paths: Paths, embedded: bool = False) -> None:
    """The warehouse home (demo source files, dlt's load packages, outbox files: personal data)
    is the owner's alone: 0700. The embedded server runs as a user of its own when we are root
    (pgserver), which needs to pass through the home to its data folder: 0711 then."""
    paths.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if paths.home.stat().st_uid == os.geteuid():
        paths.home.chmod(0o711 if embedded and os.geteuid() == 0 else 0o700)


def lock_name(args: argparse.Namespace) -> str | None:
    """The name under which the command holds the warehouse lock, None when it writes nothing
    to the warehouse (and so takes no lock)."""
    if args.command == "dbt":
        dbt_args = [a for a in args.dbt_args if a != "--"]
        subcommand = next((a for a in dbt_args if not a.startswith("-")), "build")
        return None if subcommand in DBT_READ_ONLY else f"dbt {subcommand}"
    return args.command if args.command in WRITING_COMMANDS else None


def open_warehouse(args: argparse.Namespace, paths: Paths) -> Warehouse:
    """The warehouse of the command, its home made private and, for a command that writes,
    the warehouse lock taken (ciw.lock): held until main() returns."""
    from ciw.lock import warehouse_lock

    secure_home(paths)
    try:
        warehouse, embedded = resolve_warehouse(
            getattr(args, "dsn", None), paths.pgdata, stop_on_exit=True
        )
    except WarehouseError as exc:
        raise CliError(str(exc)) from exc
    if embedded is not None:
        secure_home(paths, embedded=True)  # pgserver opens the path to its data folder up
    where = f"embedded PostgreSQL in {paths.pgdata}" if embedded else warehouse.dsn.redacted()
    err_console.print(f"[bold]warehouse[/]: {where}")
    name = lock_name(args)
    held = getattr(args, "held", None)
    if name is not None and held is not None and not getattr(args, "locked", False):
        held.enter_context(warehouse_lock(warehouse, name))
        args.locked = True  # a command that opens the warehouse twice takes the lock once
    return warehouse


def demo_as_of(value: str | None, flag: str = "--as-of") -> dt.date:
    """The day the demo's history ends (exclusive): the flag's value, else $CIW_DEMO_AS_OF,
    else today (UTC), so that the marts, computed as of today, find recent first purchases to
    welcome and thank."""
    value = value or os.environ.get(DEMO_AS_OF_ENV) or None
    if value is None:
        return dt.datetime.now(dt.UTC).date()
    return _date(value, flag)


def _date(value: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CliError(f"{flag} must be a date like 2026-11-01 (got {value!r})") from exc


def invocation_vars(args: argparse.Namespace) -> dict:
    """The dbt vars this command sets (--vars, a YAML or JSON mapping as dbt takes it, and
    `ciw run --as-of`): every dbt command and Python step of the command gets them."""
    import yaml

    found: dict = {}
    text = getattr(args, "vars", None)
    if text:
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CliError(f"--vars is not YAML or JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise CliError("--vars must be a mapping, like '{clv_horizon_months: 24}'")
        found.update(parsed)
    marts_as_of = getattr(args, "marts_as_of", None)
    if marts_as_of:
        found["intelligence_as_of_date"] = _date(marts_as_of, "--as-of").isoformat()
    return found


def ensure_demo_data(
    paths: Paths, customers: int, seed: int, regenerate: bool = False, as_of: dt.date | None = None
) -> Path:
    """Generate the demo source systems unless the same scale and seed are already there (a
    demo is a snapshot: kept as it was generated, its as-of date included, until
    --regenerate)."""
    import json

    from ciw.demo.generator import generate

    manifest = paths.demo / "manifest.json"
    if manifest.exists() and not regenerate:
        meta = json.loads(manifest.read_text())
        if meta.get("customers") == customers and meta.get("seed") == seed:
            return paths.demo
        err_console.print(
            f"demo data in {paths.demo} is for {meta.get('customers')} customers, seed "
            f"{meta.get('seed')}; regenerating for {customers}, seed {seed}"
        )
    started = time.monotonic()
    with err_console.status(f"generating demo source systems for {customers:,} customers"):
        result = generate(
            paths.demo, customers=customers, seed=seed, as_of=as_of or demo_as_of(None)
        )
    err_console.print(
        f"demo data: {sum(result.counts.values()):,} records in {paths.demo} "
        f"({time.monotonic() - started:.1f}s)"
    )
    return paths.demo


# the file format the demo writes its POS exports in (a user's [sources.pos] settings are for
# their own files)
DEMO_FILE_FORMAT = {
    "encoding": "utf-8",
    "delimiter": ",",
    "date_formats": [],
    "timestamp_formats": [],
    "timezone": "UTC",
    "column_names": {},
}


def build_sources(names: Sequence[str], demo_dir: Path | None, api_url: str | None) -> dict:
    """dlt sources by name. In demo mode they point at the generated files and local APIs;
    otherwise their settings come from .dlt/config.toml, .dlt/secrets.toml or environment
    variables (SOURCES__SHOP__CREDENTIALS, SOURCES__HELPDESK__BASE_URL, ...)."""
    from ingestion.sources.esp import esp_source
    from ingestion.sources.helpdesk import helpdesk_source
    from ingestion.sources.pos import pos_source
    from ingestion.sources.shop import shop_source
    from ingestion.sources.web import web_source

    sources = {}
    for name in names:
        if demo_dir is not None:
            if name == "shop":
                sources[name] = shop_source(credentials=f"sqlite:///{demo_dir / 'shop.sqlite'}")
            elif name == "pos":  # the demo's files in the demo's format, whatever is set
                sources[name] = pos_source(bucket_url=str(demo_dir / "pos"), **DEMO_FILE_FORMAT)
            elif name == "web":
                sources[name] = web_source(
                    bucket_url=str(demo_dir / "web"),
                    encoding="utf-8",
                    timestamp_formats=[],
                    timezone="UTC",
                    column_names={},
                )
            elif name == "helpdesk":
                sources[name] = helpdesk_source(
                    base_url=f"{api_url}/helpdesk/api/v2", token=DEMO_TOKEN
                )
            elif name == "esp":
                sources[name] = esp_source(base_url=f"{api_url}/esp/v1", token=DEMO_TOKEN)
        else:
            factory = {
                "shop": shop_source,
                "pos": pos_source,
                "web": web_source,
                "helpdesk": helpdesk_source,
                "esp": esp_source,
            }[name]
            try:
                sources[name] = factory()
            except ValueError as exc:  # a setting of the source that cannot be (FileFormat)
                raise CliError(f"source {name}: {exc}") from exc
    return sources


def load_sources(
    warehouse: Warehouse,
    paths: Paths,
    names: Sequence[str],
    demo_dir: Path | None,
    quiet: bool = False,
) -> list:
    from ingestion.runner import log_progress, run_source

    results = []
    server = None
    if demo_dir is not None and {"helpdesk", "esp"} & set(names):
        from ciw.demo.servers import DemoApiServer

        server = DemoApiServer(demo_dir, token=DEMO_TOKEN).start()
    try:
        sources = build_sources(names, demo_dir, server.url if server else None)
        for name in names:
            err_console.print(f"[bold]loading[/] {name} ...")
            progress = None if quiet else log_progress(sys.stderr, period_s=10.0)
            result = run_source(name, sources[name], warehouse, paths.pipelines, progress)
            status = "[green]ok[/]" if result.ok else f"[red]failed[/]: {result.error}"
            err_console.print(f"  {name}: {status} ({result.duration_s:.1f}s)")
            results.append(result)
    finally:
        if server is not None:
            server.stop()
    return results


def summary_table(results: Sequence, warehouse: Warehouse, total_s: float) -> Table:
    table = Table(title=f"load summary ({total_s:.1f}s)")
    for column, justify in (
        ("source", "left"),
        ("table", "left"),
        ("rows this run", "right"),
        ("rows in warehouse", "right"),
        ("quarantined (new / total)", "right"),
        ("duration", "right"),
        ("status", "left"),
    ):
        table.add_column(column, justify=justify)
    from ingestion.runner import _count

    for result in results:
        tables = sorted(result.rows) or ["-"]
        for index, name in enumerate(tables):
            first = index == 0
            in_wh = _count(warehouse, result.source, name) if name != "-" else 0
            table.add_row(
                result.source if first else "",
                name,
                f"{result.rows.get(name, 0):,}",
                f"{in_wh:,}",
                f"{result.quarantined_new:,} / {result.quarantined_total:,}" if first else "",
                f"{result.duration_s:.1f}s" if first else "",
                _status(result) if first else "",
            )
    return table


def _status(result) -> str:
    """ok / FAILED, and whether the run finished an interrupted one or set files aside."""
    notes = [
        label
        for label, happened in (("recovered", result.recovered), ("set aside", result.set_aside))
        if happened
    ]
    return ("ok" if result.ok else "FAILED") + (f" ({', '.join(notes)})" if notes else "")


def report(results: Sequence, warehouse: Warehouse, total_s: float) -> int:
    console.print(summary_table(results, warehouse, total_s))
    for result in results:
        if result.drift:
            console.print(
                f"[yellow]schema drift[/] in {result.source}: new columns "
                + ", ".join(result.drift)
            )
        if result.quarantined_new:
            console.print(
                f"[yellow]{result.quarantined_new} malformed row(s)[/] from {result.source} "
                f"quarantined in {result.source}._quarantine"
            )
        for note in result.recovered:
            console.print(f"[yellow]recovered[/] {result.source}: {note}")
        for note in result.set_aside:
            console.print(f"[yellow]set aside[/] {result.source}.{note}")
    failed = [r for r in results if not r.ok]
    for result in failed:
        console.print(f"[red]{result.source} failed[/]: {result.error}")
        console.print("  the next run resumes from the last successful load of this source")
    return 1 if failed else 0


def _source_list(value: str | None) -> list[str]:
    """The sources named on the command line, else the configured ones (`sources` in the
    [ciw] section of .dlt/config.toml, or CIW__SOURCES='["pos"]'), else all. The models of
    the others build on empty stand-ins (docs/bring-your-own-data.md)."""
    import dlt

    from ingestion.runner import SOURCE_NAMES

    if value:
        names, where = [v.strip() for v in value.split(",") if v.strip()], "--sources"
    else:
        configured = dlt.config.get("ciw.sources")
        if configured is None:
            return list(SOURCE_NAMES)
        if isinstance(configured, str):  # CIW__SOURCES=pos,shop or '["pos", "shop"]'
            configured = configured.strip().strip("[]").replace('"', "").split(",")
        names = [str(n).strip() for n in configured if str(n).strip()]
        where = "ciw.sources (.dlt/config.toml or CIW__SOURCES)"
    unknown = [n for n in names if n not in SOURCE_NAMES]
    if unknown or not names:
        problem = f"unknown source(s) {', '.join(unknown)}" if unknown else "no source named"
        raise CliError(f"{where}: {problem}; known: {', '.join(SOURCE_NAMES)}")
    return names


# --------------------------------------------------------------------------- commands

DEMO_AS_OF_ENV = "CIW_DEMO_AS_OF"
AS_OF_HELP = (
    "a new demo's history ends the day before this date "
    f"(YYYY-MM-DD; default ${DEMO_AS_OF_ENV}, else today in UTC)"
)


def cmd_run(args: argparse.Namespace, paths: Paths) -> int:
    """The main job: (demo data) -> load every source -> build -> syncs. With --json the
    human output goes to stderr and stdout gets one JSON object of what happened (loads,
    stale sources, build counts, failures and fired alerts, syncs, exit status)."""
    if not args.json:
        return _run(args, paths, None)
    started = time.monotonic()
    summary: dict = {"command": "run", "loads": [], "build": None, "syncs": []}
    stdout = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            summary["status"] = _run(args, paths, summary)
    except (CliError, WarehouseError) as exc:
        summary["status"], summary["error"] = 2, redact(str(exc))
        raise
    finally:
        summary.setdefault("status", 1)  # an unexpected error: its traceback is on stderr
        summary["seconds"] = round(time.monotonic() - started, 1)
        print(json.dumps(summary, default=str), file=stdout, flush=True)
    return summary["status"]


def _run(args: argparse.Namespace, paths: Paths, summary: dict | None) -> int:
    started = time.monotonic()
    names = _source_list(args.sources)
    warehouse = open_warehouse(args, paths)  # and the lock, before the demo files are touched
    demo_dir = None
    if not args.no_demo:
        demo_dir = ensure_demo_data(
            paths,
            args.customers,
            args.seed,
            args.regenerate,
            demo_as_of(args.as_of, "--demo-as-of"),
        )
    from ciw.dbt import parsing_ahead

    # the build's parse, while the sources load
    ahead = contextlib.nullcontext() if args.skip_build else parsing_ahead(warehouse, paths)
    with ahead:
        results = load_sources(warehouse, paths, names, demo_dir, quiet=args.quiet)
    status = report(results, warehouse, time.monotonic() - started)
    if summary is not None:
        summary["loads"] = [dataclasses.asdict(r) for r in results]
    if args.skip_build:
        return status
    if status != 0:
        console.print("[red]not building the models: a source failed to load[/]")
        return status
    status = build_models(
        warehouse,
        paths,
        verbose=args.verbose,
        progress=not args.quiet,
        check_fresh=names,
        summary=summary,
    )
    if status != 0 or args.skip_sync:
        return status
    return sync_audiences(warehouse, paths, demo=not args.no_demo, summary=summary)


# The models downstream of the lifetime-value fit build after it (phase 2); everything else
# first (phase 1), including customer_rfm_summary that the fit reads.
AFTER_FIT = "source:clv+"
# dbt's unit tests check the models' logic on fixed rows: they belong to development and CI
# (`make test` runs them: tests/test_dbt_unit_tests.py), not to every production build, as
# dbt recommends
PRODUCTION_BUILD = ["build", "--exclude-resource-type", "unit_test"]


def build_models(
    warehouse: Warehouse,
    paths: Paths,
    verbose: bool = True,
    progress: bool = True,
    check_fresh: Sequence[str] = (),
    summary: dict | None = None,
) -> int:
    """(freshness of the ``check_fresh`` sources) -> dbt build (phase 1) -> lifetime-value fit
    -> dbt build of what reads the fit (phase 2), then one summary of the results. dbt runs
    in this process and parses once for all."""
    from collections import Counter

    from ciw.dbt import DbtSession, source_freshness

    started = time.monotonic()
    counts: Counter = Counter()
    failures: list[str] = []
    stale: list[dict] = []
    dbt = DbtSession(warehouse, paths, verbose=verbose, progress=progress)
    parsed = dbt.parse()
    if parsed.ok and check_fresh:
        # a source whose newest rows are old: its export or API may have stopped (news, not
        # a failure: the build goes on with what there is)
        for verdict in source_freshness(dbt, check_fresh):
            if verdict.status != "pass":
                console.print(f"[yellow]stale source[/] {verdict.describe()}")
                stale.append(dataclasses.asdict(verdict))
    if parsed.ok and fit_match_model_step(warehouse, paths, dbt) != 0:
        return 1
    err_console.print("[bold]building[/] the models (dbt build, before the lifetime-value fit) ...")
    first = dbt.run([*PRODUCTION_BUILD, "--exclude", AFTER_FIT]) if parsed.ok else parsed
    counts.update(first.counts)
    failures.extend(first.failures)
    status = 0 if first.ok else 1
    if first.ok:
        status = fit_lifetime_value(warehouse, paths, in_run=True)
    if status == 0:
        err_console.print("[bold]building[/] the models that read the fit (dbt build) ...")
        second = dbt.run([*PRODUCTION_BUILD, "--select", AFTER_FIT])
        counts.update(second.counts)
        failures.extend(second.failures)
        status = 0 if second.ok else 1
    table = Table(title=f"dbt build ({time.monotonic() - started:.1f}s)")
    table.add_column("resource")
    table.add_column("status")
    table.add_column("count", justify="right")
    for key, count in sorted(counts.items()):
        kind, result = key.split(":", 1)
        table.add_row(kind, result, f"{count:,}")
    console.print(table)
    for failure in failures:
        if failure.startswith("warn: alert_"):
            console.print(f"  [magenta]KPI alert fired[/]: {failure.removeprefix('warn: ')}")
        else:
            console.print(f"  [yellow]{failure}[/]")
    if status != 0:
        console.print("[red]the build failed[/]: see the lines above and logs/dbt.log")
    if summary is not None:
        summary["build"] = {
            "status": status,
            "seconds": round(time.monotonic() - started, 1),
            "counts": dict(counts),
            "alerts": [f.removeprefix("warn: ") for f in failures if f.startswith("warn: alert_")],
            "failures": [f for f in failures if not f.startswith("warn: alert_")],
            "stale_sources": stale,
        }
    return status


def fit_match_model_step(
    warehouse: Warehouse, paths: Paths, dbt=None, refit: bool | None = None
) -> int:
    """The match-model step: fit the Fellegi-Sunter weights when there is no model or the
    latest is var match_refit_days old (refit None), or now (refit True)."""
    from ciw.dbt import DbtSession
    from ciw.matching.fit import MatchFitError
    from ciw.matching.step import run_match_step

    dbt = dbt or DbtSession(warehouse, paths)
    err_console.print("[bold]matching[/]: checking the match model ...")
    try:
        result = run_match_step(dbt, warehouse, paths.project, refit=refit)
    except MatchFitError as exc:
        console.print(f"[red]match-model fit failed[/]: {exc}")
        return 1
    if not result.refitted:
        how = (
            "weighed every pair again with (its re-weighing had not finished)"
            if result.reweighed
            else "re-used"
        )
        console.print(f"match model: {how} the fit of {result.fitted_at:%Y-%m-%d %H:%M} UTC")
        return 0
    model = result.model
    console.print(
        f"match model: fit {model.model_id} on {model.candidate_pair_count:,} candidate pairs "
        f"and {model.sampled_pair_count:,} random pairs of {model.record_count:,} records "
        f"({model.em_iterations} EM iterations, {model.fit_seconds:.1f}s); prior "
        f"{model.prior_match_probability:.3g}; "
        + ("every pair weighed again" if result.reweighed else "the build weighs the pairs")
    )
    return 0


def cmd_match(args: argparse.Namespace, paths: Paths) -> int:
    """Fit the match model (Fellegi-Sunter weights) and weigh every candidate pair again."""
    warehouse = open_warehouse(args, paths)
    return fit_match_model_step(warehouse, paths, refit=True if args.refit else None)


def fit_lifetime_value(
    warehouse: Warehouse, paths: Paths, refit: bool | None = None, in_run: bool = False
) -> int:
    """The lifetime-value step: fit (or re-use a recent fit), score, write clv.*; loud on
    degenerate input. Inside a run (``in_run``) data that cannot be fitted (too few customers
    or repeat buyers: a new business, a single small source) is news, not a failure: the run
    goes on, the lifetime values stay as the last fit left them (null before the first)."""
    from ciw.clv.models import ClvFitError
    from ciw.clv.step import run_clv_step

    err_console.print("[bold]fitting[/] the lifetime-value models (BG/NBD + Gamma-Gamma) ...")
    try:
        result = run_clv_step(warehouse, paths.project, refit=refit, overrides=paths.vars)
    except ClvFitError as exc:
        if in_run:
            console.print(
                f"[yellow]lifetime values not fitted[/]: {exc}; they stay as the last fit left "
                "them (none before the first fit)"
            )
            return 0
        console.print(f"[red]lifetime-value fit failed[/]: {exc}")
        return 1
    bgnbd = ", ".join(f"{k}={v:.4g}" for k, v in result.bgnbd.items())
    spend = ", ".join(f"{k}={v:.4g}" for k, v in result.gamma_gamma.items())
    how = "fit" if result.refitted else "re-used fit (var clv_refit_days)"
    console.print(
        f"lifetime value: {how} {result.fit_id} on {result.fitted_customers:,} customers "
        f"({result.repeat_customers:,} repeat buyers), {result.customers:,} scored in "
        f"{result.read_seconds + result.fit_seconds + result.write_seconds:.1f}s; "
        f"BG/NBD {bgnbd}; Gamma-Gamma {spend}"
    )
    return 0


def sync_audiences(
    warehouse: Warehouse,
    paths: Paths,
    demo: bool = False,
    dry_run: bool = False,
    only: Sequence[str] | None = None,
    force: bool = False,
    config: str | None = None,
    summary: dict | None = None,
) -> int:
    """The reverse-ETL syncs (reverse_etl/syncs.yml), with a summary table. In the demo, local
    channel receivers stand in for the email service, SMS API, webhook and ad platform."""
    from ciw.demo.receivers import ChannelReceivers
    from reverse_etl.connectors import ConfigError, ConnectorError
    from reverse_etl.runner import run_syncs

    receivers = None
    names = ("CIW_CHANNEL_URL", "CIW_OUTBOX", "CIW_CRM_URL", WEBHOOK_SECRET_ENV)
    previous = {k: os.environ.get(k) for k in names}
    try:
        if demo:
            # the demo's receivers and its webhook sync share a secret of this run's own (or
            # yours); outside the demo the webhook has no secret unless you set one
            secret = os.environ.get(WEBHOOK_SECRET_ENV) or secrets.token_urlsafe(32)
            receivers = ChannelReceivers(secret=secret).start()
            os.environ[WEBHOOK_SECRET_ENV] = secret
            outbox = paths.home / "outbox"
            outbox.mkdir(parents=True, exist_ok=True)
            os.environ["CIW_CHANNEL_URL"] = receivers.url
            os.environ.setdefault("CIW_OUTBOX", str(outbox))
            os.environ.setdefault("CIW_CRM_URL", f"sqlite:///{outbox / 'crm.sqlite'}")
            err_console.print(
                f"[bold]syncing[/] audiences (demo channel receivers on {receivers.url})"
            )
        else:
            err_console.print("[bold]syncing[/] audiences" + (" (dry run)" if dry_run else ""))
        try:
            results = run_syncs(
                warehouse, paths.project, dry_run=dry_run, only=only, force=force, config=config
            )
        except (ConfigError, ConnectorError) as exc:
            raise CliError(str(exc)) from exc
    finally:
        if receivers is not None:
            receivers.stop()
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    table = Table(title="reverse-ETL syncs" + (" (dry run: nothing sent)" if dry_run else ""))
    for column in (
        "sync",
        "status",
        "adds",
        "updates",
        "removes",
        "held back",
        "sent",
        "failed",
        "dead",
        "retries",
        "seconds",
    ):
        table.add_column(column, justify="left" if column in ("sync", "status") else "right")
    for r in results:
        table.add_row(
            r.sync,
            r.status,
            f"{r.planned_adds:,}",
            f"{r.planned_updates:,}",
            f"{r.planned_removes:,}",
            f"{sum(r.suppressed.values()):,}",
            f"{r.sent:,}",
            f"{r.failed:,}",
            f"{r.dead:,}",
            f"{r.retries:,}",
            f"{r.seconds:.1f}",
        )
    console.print(table)
    if receivers is not None:
        counts = {}
        for delivery in receivers.delivered():
            counts[delivery.channel] = counts.get(delivery.channel, 0) + 1
        got = ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items())) or "nothing new"
        console.print(f"demo receivers got: {got}")
    failing = [r for r in results if r.status in ("error", "refused")]
    if summary is not None:
        summary["syncs"] = [dataclasses.asdict(r) for r in results]
    for r in results:
        if r.suppressed:  # erased, blocklisted or bounced since the build: checked at send time
            reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(r.suppressed.items()))
            console.print(f"  {r.sync}: held back at send time: {reasons}")
        if r.error or r.errors:
            console.print(f"  [yellow]{r.sync}[/]: {r.error or '; '.join(r.errors[:3])}")
    return 1 if failing else 0


def cmd_sync(args: argparse.Namespace, paths: Paths) -> int:
    """Run the reverse-ETL syncs (after a build)."""
    warehouse = open_warehouse(args, paths)
    return sync_audiences(
        warehouse,
        paths,
        demo=args.demo,
        dry_run=args.dry_run,
        only=args.only,
        force=args.force,
        config=args.config,
    )


def cmd_forget(args: argparse.Namespace, paths: Paths) -> int:
    """Right to erasure: find the person by any identifier of any of their records, suppress
    them at once (audiences and the sync engine) and, with --erase, delete their personal data
    everywhere (docs/erasure.md). A value that matches nobody is refused (exit 1)."""
    from ciw.erasure import ErasureError, find_person, forget

    identifiers = {
        kind: value
        for kind, value in (
            ("account", args.account),
            ("loyalty_card", args.loyalty_card),
            ("card_token", args.card_token),
        )
        if value
    }
    if not (args.email or args.phone or args.customer_id is not None or identifiers):
        raise CliError(
            "give --email, --phone, --customer-id, --account, --loyalty-card or --card-token"
        )
    warehouse = open_warehouse(args, paths)
    try:
        person = find_person(
            warehouse,
            paths.project,
            email=args.email,
            phone=args.phone,
            customer_id=args.customer_id,
            identifiers=identifiers,
        )
    except ErasureError as exc:
        raise CliError(str(exc)) from exc
    if not person.customer_ids:
        console.print(
            f"[red]nobody matched[/] ({person.given_type}): nothing recorded. Check the value, "
            "or build the models if the person was loaded since the last build"
        )
        return 1
    customers = ", ".join(str(c) for c in person.customer_ids)
    console.print(
        f"matched customer(s) {customers}: {len(person.record_keys)} source record(s), "
        f"{len(person.identifiers)} identifier(s)"
    )
    if len(person.customer_ids) > 1 and not args.all_matched:
        console.print(
            "[red]the value is held by more than one customer[/]: nothing recorded; narrow it "
            "(--customer-id) or pass --all-matched to forget them all"
        )
        return 1
    outbox = os.environ.get("CIW_OUTBOX")
    # the warehouse lock (taken by open_warehouse) is held until the command returns
    result = forget(
        warehouse,
        paths.project,
        paths.home,
        person,
        erase=args.erase,
        outbox=Path(outbox) if outbox else None,
    )
    console.print(
        f"erasure {result.erasure_id} recorded ({result.tombstones} hashed tombstones): never "
        "contacted again; the syncs check it at send time"
    )
    if args.erase:
        console.print(
            f"erased: {sum(result.rows_deleted.values()):,} row(s) deleted or pseudonymised in "
            f"{len(result.rows_deleted)} table(s), {len(result.files_changed)} file(s) changed; "
            "the same rows loaded again are deleted on arrival"
        )
    return 0


def cmd_clv(args: argparse.Namespace, paths: Paths) -> int:
    """Re-fit the lifetime-value models on the current RFM summary (then `ciw dbt`)."""
    warehouse = open_warehouse(args, paths)
    return fit_lifetime_value(warehouse, paths, refit=True if args.refit else None)


def cmd_dbt(args: argparse.Namespace, paths: Paths) -> int:
    """Any dbt command against the resolved warehouse: ``ciw dbt -- test --select x``."""
    from ciw.dbt import run_dbt

    warehouse = open_warehouse(args, paths)
    dbt_args = [a for a in args.dbt_args if a != "--"]
    return run_dbt(dbt_args or ["build"], warehouse, paths).returncode


def cmd_load(args: argparse.Namespace, paths: Paths) -> int:
    started = time.monotonic()
    demo_dir = paths.demo if args.demo else None
    if demo_dir is not None and not (demo_dir / "manifest.json").exists():
        raise CliError(f"no demo data in {demo_dir}: run `ciw demo generate` first")
    names = _source_list(",".join(args.sources) if args.sources else None)
    warehouse = open_warehouse(args, paths)
    results = load_sources(warehouse, paths, names, demo_dir, quiet=args.quiet)
    return report(results, warehouse, time.monotonic() - started)


def cmd_check(args: argparse.Namespace, paths: Paths) -> int:
    """Each configured source's settings checked before a load (ingestion.check): exit 1 when
    a check fails, 0 otherwise (warnings included)."""
    from ingestion.check import check_sources

    names = _source_list(",".join(args.sources) if args.sources else None)
    findings = check_sources(names)
    if args.json:
        print(json.dumps([finding.as_dict() for finding in findings], indent=2))
    else:
        table = Table(title="source checks", show_lines=False)
        for column in ("source", "check", "status", "detail"):
            table.add_column(column, overflow="fold")
        colour = {"ok": "green", "warn": "yellow", "fail": "red"}
        for finding in findings:
            status = f"[{colour[finding.status]}]{finding.status}[/]"
            table.add_row(finding.source, finding.check, status, escape(redact(finding.detail)))
        console.print(table)
    failed = [finding for finding in findings if finding.status == "fail"]
    if failed:
        err_console.print(f"[red]{len(failed)} check(s) failed[/]: fix them before `ciw load`")
        return 1
    return 0


def cmd_init(args: argparse.Namespace, paths: Paths) -> int:
    """A commented configuration for the sources named on the command line, their files'
    format read from the files (ingestion.init), written to --out (default .dlt/config.toml;
    an existing file only with --force, kept as .bak) or printed (--out -)."""
    from ingestion.init import propose, render

    locations = {
        name: getattr(args, name)
        for name in ("shop", "pos", "web", "helpdesk", "esp")
        if getattr(args, name)
    }
    if not locations:
        raise CliError(
            "name where your sources are: ciw init --pos DIR --shop URL --web DIR "
            "--helpdesk URL --esp URL (any of them)"
        )
    try:
        text = render(propose(locations), dt.date.today())
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read the sources: {exc}") from exc
    if args.out == "-":
        print(text, end="")
        return 0
    out = Path(args.out) if args.out else paths.project / ".dlt" / "config.toml"
    if out.exists():
        if not args.force:
            raise CliError(
                f"{out} exists: --force replaces it (kept as {out.name}.bak), --out - prints"
            )
        out.with_name(out.name + ".bak").write_text(out.read_text())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    err_console.print(f"wrote {out}: read it, answer its questions (# ?), then `ciw check`")
    return 0


def cmd_demo(args: argparse.Namespace, paths: Paths) -> int:
    if args.demo_command == "generate":
        out = Path(args.out) if args.out else paths.demo
        from ciw.demo.generator import generate

        started = time.monotonic()
        result = generate(
            out, customers=args.customers, seed=args.seed, as_of=demo_as_of(args.as_of)
        )
        table = Table(title=f"demo data in {out} ({time.monotonic() - started:.1f}s)")
        table.add_column("file / table")
        table.add_column("records", justify="right")
        for key, count in sorted(result.counts.items()):
            table.add_row(key, f"{count:,}")
        console.print(table)
        return 0
    if args.demo_command == "serve":
        from ciw.demo.servers import DemoApiServer

        with DemoApiServer(Path(args.data or paths.demo), port=args.port, token=args.token) as srv:
            console.print(f"serving the demo helpdesk and ESP APIs on {srv.url} (Ctrl-C stops)")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
        return 0
    raise CliError("usage: ciw demo {generate,serve}")


def cmd_db(args: argparse.Namespace, paths: Paths) -> int:
    embedded = EmbeddedPostgres(paths.pgdata)
    if args.db_command == "start":
        secure_home(paths)
        warehouse = embedded.start(stop_on_exit=False)
        secure_home(paths, embedded=True)
        console.print(f"embedded PostgreSQL running; DSN: {warehouse.dsn.url()}")
        console.print(f"  export {DSN_ENV}='{warehouse.dsn.url()}'  # to reuse it elsewhere")
        return 0
    if args.db_command == "stop":
        stopped = embedded.stop()
        console.print("stopped" if stopped else "embedded PostgreSQL was not running")
        return 0
    if args.db_command == "status":
        dsn = args.dsn or os.environ.get(DSN_ENV)
        if dsn:
            shown = Dsn.parse(dsn).redacted()  # a bad DSN: exit 2 with what is wrong with it
            console.print(f"warehouse DSN from {'--dsn' if args.dsn else DSN_ENV}: {shown}")
        state = "running" if embedded.is_running() else "stopped"
        console.print(f"embedded PostgreSQL ({paths.pgdata}): {state}")
        return 0
    raise CliError("usage: ciw db {start,stop,status}")


def cmd_quarantine(args: argparse.Namespace, paths: Paths) -> int:
    from ingestion.quarantine import QUARANTINE_TABLE
    from ingestion.runner import SOURCE_NAMES

    warehouse = open_warehouse(args, paths)
    table = Table(title="quarantined rows")
    for column in ("source", "table", "reason", "rows"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for source in SOURCE_NAMES:
        if not warehouse.exists(f"{source}.{QUARANTINE_TABLE}"):
            continue
        rows = warehouse.query(
            f"select target_table, split_part(reason, ':', 1), count(*) "
            f"from {source}.{QUARANTINE_TABLE} group by 1, 2 order by 1, 2"
        )
        for target, reason, count in rows:
            table.add_row(source, target, reason, f"{count:,}")
    console.print(table)
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ciw",
        description="Customer-intelligence warehouse: load sources, build models, sync audiences.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add_vars(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--vars",
            help="dbt vars over dbt_project.yml's, as YAML or JSON ('{clv_horizon_months: 24}'):"
            " for every dbt command and Python step of this command",
        )

    def add_dsn(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--dsn",
            help=f"warehouse PostgreSQL DSN (default ${DSN_ENV}; unset = embedded PostgreSQL)",
        )

    run = sub.add_parser(
        "run", help="main job: demo sources -> load -> build (dbt, lifetime-value fit) -> syncs"
    )
    add_dsn(run)
    run.add_argument("--customers", type=int, default=10_000, help="demo scale (persons)")
    run.add_argument("--seed", type=int, default=42, help="demo generator seed")
    run.add_argument("--regenerate", action="store_true", help="regenerate the demo data")
    run.add_argument(
        "--as-of",
        dest="marts_as_of",
        help="compute the marts as of this day (YYYY-MM-DD; var intelligence_as_of_date; "
        "default today): a replay of a past day",
    )
    run.add_argument("--demo-as-of", dest="as_of", help=AS_OF_HELP)
    add_vars(run)
    run.add_argument(
        "--no-demo", action="store_true", help="load the configured sources, not the demo"
    )
    run.add_argument("--sources", help="comma-separated subset of sources to load")
    run.add_argument("--quiet", action="store_true", help="no periodic progress lines")
    run.add_argument(
        "-v", "--verbose", action="store_true", help="dbt's line per node (default: errors only)"
    )
    run.add_argument(
        "--json", action="store_true", help="one JSON summary on stdout (the rest on stderr)"
    )
    run.add_argument("--skip-build", action="store_true", help="load only, no dbt build")
    run.add_argument("--skip-sync", action="store_true", help="no reverse-ETL syncs")
    run.set_defaults(func=cmd_run)

    dbt = sub.add_parser("dbt", help="run dbt against the warehouse (default: build)")
    add_dsn(dbt)
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER, help="arguments for dbt")
    dbt.set_defaults(func=cmd_dbt)

    load = sub.add_parser("load", help="load sources (configured in .dlt/ or the environment)")
    add_dsn(load)
    load.add_argument("sources", nargs="*", help="sources to load (default: all)")
    load.add_argument("--demo", action="store_true", help="load the generated demo data")
    load.add_argument("--quiet", action="store_true")
    load.set_defaults(func=cmd_load)

    check = sub.add_parser(
        "check", help="check the configured sources before loading: settings, reach, columns"
    )
    check.add_argument("sources", nargs="*", help="sources to check (default: the configured)")
    check.add_argument("--json", action="store_true", help="the findings as JSON")
    check.set_defaults(func=cmd_check)

    init = sub.add_parser(
        "init", help="write a commented configuration for your sources (formats read from files)"
    )
    init.add_argument("--pos", metavar="DIR", help="folder or fsspec URL of the POS exports")
    init.add_argument("--web", metavar="DIR", help="folder or fsspec URL of the web events")
    init.add_argument("--shop", metavar="URL", help="the shop database (SQLAlchemy URL)")
    init.add_argument("--helpdesk", metavar="URL", help="base URL of the helpdesk API")
    init.add_argument("--esp", metavar="URL", help="base URL of the email-service API")
    init.add_argument("--out", help="where to write (default .dlt/config.toml; - prints)")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    init.set_defaults(func=cmd_init)

    demo = sub.add_parser("demo", help="demo source systems")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True)
    gen = demo_sub.add_parser("generate", help="write deterministic demo source data")
    gen.add_argument("--customers", type=int, default=10_000)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--out", help="output folder (default .warehouse/demo)")
    gen.add_argument("--as-of", help=AS_OF_HELP)
    serve = demo_sub.add_parser("serve", help="serve the demo helpdesk and ESP APIs")
    serve.add_argument("--data", help="demo data folder (default .warehouse/demo)")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--token", default=DEMO_TOKEN)
    demo.set_defaults(func=cmd_demo)

    db = sub.add_parser("db", help="the embedded PostgreSQL")
    add_dsn(db)
    db.add_argument("db_command", choices=["start", "stop", "status"])
    db.set_defaults(func=cmd_db)

    clv = sub.add_parser(
        "clv", help="fit the lifetime-value models and score customers (part of `run`)"
    )
    add_dsn(clv)
    add_vars(clv)
    clv.add_argument(
        "--refit",
        action="store_true",
        help="fit even when the latest fit is recent (default: refit every clv_refit_days)",
    )
    clv.set_defaults(func=cmd_clv)

    match = sub.add_parser(
        "match",
        help="fit the match model (Fellegi-Sunter weights) and weigh every pair again "
        "(part of `run`)",
    )
    add_dsn(match)
    add_vars(match)
    match.add_argument(
        "--refit",
        action="store_true",
        help="fit even when the latest fit is recent (default: refit every match_refit_days)",
    )
    match.set_defaults(func=cmd_match)

    sync = sub.add_parser("sync", help="sync the audience marts to their channels")
    add_dsn(sync)
    sync.add_argument("--dry-run", action="store_true", help="print the plan, send nothing")
    sync.add_argument("--only", nargs="+", metavar="SYNC", help="these syncs only")
    sync.add_argument("--force", action="store_true", help="override the mirror delete guard")
    sync.add_argument("--config", help="sync configuration (default reverse_etl/syncs.yml)")
    sync.add_argument(
        "--demo", action="store_true", help="send to local demo receivers (what `run` does)"
    )
    sync.set_defaults(func=cmd_sync)

    forget = sub.add_parser("forget", help="right to erasure: never contact this person again")
    add_dsn(forget)
    forget.add_argument("--email", help="any email of any of the person's records")
    forget.add_argument("--phone", help="any phone of any of the person's records")
    forget.add_argument("--customer-id", type=int)
    forget.add_argument("--account", help="a shop account id")
    forget.add_argument("--loyalty-card", help="a POS loyalty card id")
    forget.add_argument("--card-token", help="a POS payment card token")
    forget.add_argument(
        "--erase",
        action="store_true",
        help="also delete the person's data from every table and file (default: suppress only)",
    )
    forget.add_argument(
        "--all-matched", action="store_true", help="forget every customer the value matched"
    )
    forget.set_defaults(func=cmd_forget)

    quarantine = sub.add_parser("quarantine", help="malformed rows held back, by source")
    add_dsn(quarantine)
    quarantine.set_defaults(func=cmd_quarantine)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: 0 success, 1 a step failed (a source, the build, a sync), 2 bad usage or a
    warehouse that cannot be reached, 3 another command holds the warehouse lock."""
    from ciw.lock import WarehouseLocked

    args = build_parser().parse_args(argv)
    paths = Paths.discover()
    # every file this command writes (demo sources, dlt's load packages, outbox files, dbt's
    # logs) is the owner's alone: they hold personal data
    umask = os.umask(0o077)
    try:
        paths = dataclasses.replace(paths, vars=invocation_vars(args))
        with contextlib.ExitStack() as args.held:
            return args.func(args, paths)
    except WarehouseLocked as exc:
        err_console.print(f"[red]error[/]: {redact(str(exc))}")
        return EXIT_LOCKED
    except (CliError, WarehouseError) as exc:
        err_console.print(f"[red]error[/]: {redact(str(exc))}")
        return 2
    finally:
        os.umask(umask)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
