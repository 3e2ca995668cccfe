"""Running dbt against the warehouse the CLI resolved (same DSN as dlt).

dbt runs in this process (dbt's programmatic entry point, dbtRunner): importing dbt costs
about 3 s, which a dbt process per command would pay every time. A DbtSession that has parsed
once hands that manifest to every later command, so the builds of one pipeline run (before
and after the lifetime-value fit) do not parse again.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ciw.config import Paths
from ciw.warehouse import Warehouse, redact

# work_mem of every dbt session (libpq's PGOPTIONS), for what runs outside the models' own
# pre-hook (tune_session, var model_work_mem): the data tests. At PostgreSQL's 4MB, a test's
# hash aggregate over a million keys spills, and over a table written in hash order (from
# another hash aggregate) the spilled batches degenerate: one `unique` test ran for over ten
# minutes on PostgreSQL 16.2 instead of a second (reproduced at 3-6MB, not at 2MB or 8MB+).
# The options of the warehouse DSN (?options=...) and then a PGOPTIONS of the caller's own come
# after this one, so their settings win.
DBT_SESSION_OPTIONS = "-c work_mem=64MB"


def _session_options(warehouse: Warehouse) -> str:
    dsn_options = dict(warehouse.dsn.params).get("options")
    return " ".join(filter(None, [DBT_SESSION_OPTIONS, dsn_options, os.environ.get("PGOPTIONS")]))


@dataclass
class DbtResult:
    command: list[str]
    returncode: int
    counts: Counter = field(default_factory=Counter)  # "model:success", "test:fail", ...
    failures: list[str] = field(default_factory=list)  # "test_name: message"
    output: str = ""  # dbt's console output, when captured

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def dbt_executable() -> str:
    """The dbt command line of this environment, for what must run dbt in a process of its
    own (the CLI itself runs dbt in-process)."""
    candidate = Path(sys.executable).with_name("dbt")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if not found:
        raise FileNotFoundError("dbt is not installed in this environment: run `make venv`")
    return found


# A child that must not outlive this process: on Linux it asks the kernel for SIGKILL when
# its parent dies (prctl PR_SET_PDEATHSIG, kept across exec), then becomes the command. A
# `kill -9` of `ciw run` would otherwise leave its `dbt parse` writing the target folder beside
# the next run's dbt. Elsewhere (no prctl) the command just runs.
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)\n"
    "except AttributeError:\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(1)  # the parent died before the request\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def child_process(argv: Sequence[str], **popen_kwargs) -> subprocess.Popen:
    """subprocess.Popen(argv, ...) of a child killed when this process dies, even by SIGKILL
    (Linux; elsewhere a plain child). argv[0] must be a path (no PATH search)."""
    if sys.platform != "linux":
        return subprocess.Popen(list(argv), **popen_kwargs)
    guard = [sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()), *argv]
    return subprocess.Popen(guard, **popen_kwargs)


@contextlib.contextmanager
def parsing_ahead(warehouse: Warehouse, paths: Paths) -> Iterator[None]:
    """`dbt parse` in a process of its own while the body runs (the loads, which wait on the
    sources and the database): a project's first parse costs 9-16 s, which then overlaps them,
    and the pipeline's own parse afterwards reads the parsed files back (dbt's partial
    parsing). Nothing depends on it: the child is waited for before the body's end returns
    (so that two dbt never write the target folder at once), stopped if the body fails or this
    process dies (child_process), and whatever it did not do the pipeline's own parse does."""
    try:
        process = child_process(
            [dbt_executable(), *with_vars(["parse", "--quiet"], paths)],
            cwd=paths.project,
            env=dbt_env(warehouse, paths),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:  # no dbt to start (FileNotFoundError): the build says so itself
        yield
        return
    try:
        yield
    except BaseException:
        process.kill()
        raise
    finally:
        process.wait()
    _restrict_logs(paths.project)


def prepare_profiles(paths: Paths) -> Path:
    """The project's dbt profile (profiles.yml.example) in .warehouse/dbt/profiles.yml."""
    folder = paths.home / "dbt"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(paths.project / "profiles.yml.example", folder / "profiles.yml")
    return folder


def _dbt_settings(warehouse: Warehouse, paths: Paths) -> dict[str, str]:
    """What dbt needs in its environment, over the caller's: the warehouse (CIW_PG_*), the
    profile folder and the session options; the caller's DBT_PROFILES_DIR and usage-stats
    choice win."""
    return {
        **warehouse.dbt_env(),
        "DBT_PROFILES_DIR": os.environ.get("DBT_PROFILES_DIR", str(prepare_profiles(paths))),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": os.environ.get("DBT_SEND_ANONYMOUS_USAGE_STATS", "false"),
        "PGOPTIONS": _session_options(warehouse),
    }


def dbt_env(warehouse: Warehouse, paths: Paths) -> dict[str, str]:
    """The environment of a dbt process (or of a dbt-templating tool such as sqlfluff)."""
    return {**os.environ, **_dbt_settings(warehouse, paths)}


@contextlib.contextmanager
def _environment(env: dict[str, str], cwd: Path) -> Iterator[None]:
    """os.environ, the working directory and sys.argv as a dbt process would have them,
    restored after. dbt logs the command line it finds in sys.argv (its invocation_command):
    this process's, as `ciw dbt --dsn postgresql://user:password@...`, so without passwords."""
    saved_env, saved_cwd, saved_argv = dict(os.environ), os.getcwd(), sys.argv
    os.environ.update(env)
    os.chdir(cwd)
    sys.argv = [redact(arg) for arg in sys.argv]
    try:
        yield
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def _log_dir(project: Path) -> Path:
    """dbt's log folder: $DBT_LOG_PATH (relative to the project), else logs/."""
    folder = Path(os.environ.get("DBT_LOG_PATH", project / "logs"))
    return folder if folder.is_absolute() else project / folder


def _restrict_logs(project: Path) -> None:
    """dbt.log holds SQL, data-test failures and the values in their messages: owner only,
    as the files of the warehouse home (a log written before this rule included)."""
    log = _log_dir(project) / "dbt.log"
    if log.exists():
        log.chmod(0o600)


def _target_dir(project: Path) -> Path:
    """dbt's target folder: $DBT_TARGET_PATH (relative to the project), else target/."""
    target = Path(os.environ.get("DBT_TARGET_PATH", project / "target"))
    return target if target.is_absolute() else project / target


def _mtime(path: Path) -> float | None:
    """When ``path`` was last written (None: it does not exist)."""
    return path.stat().st_mtime if path.exists() else None


def _rewritten(path: Path, before: float | None) -> bool:
    """Whether ``path`` was written since ``_mtime`` said ``before``: dbt leaves the file of an
    earlier command in place when a command fails before writing its own."""
    return path.exists() and path.stat().st_mtime != before


def _read_results(results_file: Path, before: float | None, result: DbtResult) -> None:
    """Counts and failures from target/run_results.json, when the command wrote one."""
    if not _rewritten(results_file, before):
        return
    data = json.loads(results_file.read_text())
    for node in data.get("results", []):
        kind = node["unique_id"].split(".")[0]
        status = node.get("status", "unknown")
        result.counts[f"{kind}:{status}"] += 1
        if status in ("fail", "error", "warn"):
            name = node["unique_id"].split(".", 2)[-1]
            message = (node.get("message") or "").strip().splitlines()
            result.failures.append(f"{status}: {name}: {message[0] if message else ''}")


def with_vars(args: Sequence[str], paths: Paths) -> list[str]:
    """dbt arguments with this invocation's vars (Paths.vars: `ciw run --vars / --as-of`),
    unless the arguments bring their own --vars."""
    if not paths.vars or "--vars" in args:
        return list(args)
    return [*args, "--vars", json.dumps(dict(paths.vars), default=str)]


class _NodeProgress:
    """A quiet dbt's progress: one line on stderr every ``period_s`` while nodes finish
    (`  dbt: 120 of 307 nodes done, 1 failed (42s)`), from dbt's events (dbtRunner callbacks),
    instead of dbt's line per node."""

    def __init__(self, period_s: float = 10.0) -> None:
        self.period_s = period_s
        self.started = self.last = time.monotonic()
        self.total = self.done = self.failed = 0

    def __call__(self, event) -> None:
        name = event.info.name
        if name == "LogStartLine":
            self.total = max(self.total, event.data.total)
        elif name == "NodeFinished":
            self.done += 1
            if event.data.node_info.node_status in ("error", "fail"):
                self.failed += 1
            now = time.monotonic()
            if now - self.last >= self.period_s:
                self.last = now
                failed = f", {self.failed} failed" if self.failed else ""
                print(
                    f"  dbt: {self.done:,} of {self.total:,} nodes done{failed} "
                    f"({now - self.started:.0f}s)",
                    file=sys.stderr,
                    flush=True,
                )


class DbtSession:
    """dbt commands in this process, against one warehouse. After parse() succeeded, later
    commands use its manifest instead of parsing again: parse with the --vars the commands
    will use, and only when the project files do not change in between. Not ``verbose``:
    dbt prints only its errors, and (``progress``) a line every 10 s (`ciw run` without -v)."""

    def __init__(
        self, warehouse: Warehouse, paths: Paths, verbose: bool = True, progress: bool = True
    ) -> None:
        self.warehouse = warehouse
        self.paths = paths
        self.verbose = verbose
        self.progress = progress
        self.manifest = None

    def parse(self, args: Sequence[str] = (), capture: bool = False) -> DbtResult:
        result, manifest = self._invoke(["parse", *args], capture)
        if result.ok:
            self.manifest = manifest
        return result

    def run(self, args: Sequence[str], capture: bool = False) -> DbtResult:
        """``dbt <args>``: exit code 0 when it succeeded, 1 when a node failed, 2 when dbt
        could not run (as the dbt command line); results from target/run_results.json."""
        return self._invoke(list(args), capture)[0]

    def _invoke(self, args: list[str], capture: bool) -> tuple[DbtResult, object]:
        from dbt.cli.main import dbtRunner  # about 3 s: only when dbt is needed

        args = with_vars(args, self.paths)

        output = io.StringIO()
        with _environment(_dbt_settings(self.warehouse, self.paths), self.paths.project):
            results_file = _target_dir(self.paths.project) / "run_results.json"
            before = _mtime(results_file)
            quiet = {} if self.verbose else {"quiet": True}
            callbacks = [_NodeProgress()] if self.progress and not self.verbose else []
            with contextlib.redirect_stdout(output) if capture else contextlib.nullcontext():
                runner = dbtRunner(manifest=self.manifest, callbacks=callbacks)
                invoked = runner.invoke(args, **quiet)
            if isinstance(invoked.exception, KeyboardInterrupt):
                raise invoked.exception  # dbtRunner catches it: stop as the command line does
            if invoked.success:
                returncode = 0
            elif invoked.exception is not None:
                returncode = 2
                print(f"dbt could not run: {redact(str(invoked.exception))}", file=sys.stderr)
            else:
                returncode = 1
            result = DbtResult(
                command=["dbt", *args], returncode=returncode, output=output.getvalue()
            )
            _read_results(results_file, before, result)
        _restrict_logs(self.paths.project)
        return result, invoked.result


def run_dbt(
    args: Sequence[str], warehouse: Warehouse, paths: Paths, capture: bool = False
) -> DbtResult:
    """Run ``dbt <args>`` once, in the project folder (it parses, partially when it can)."""
    return DbtSession(warehouse, paths).run(args, capture)


def _manifest(project: Path) -> dict:
    """The manifest of the last dbt invocation ({} when there is none); read again only when
    the file changed (a step asks for several relations: each read parsed megabytes)."""
    manifest = _target_dir(project) / "manifest.json"
    if not manifest.exists():
        return {}
    stat = manifest.stat()
    return _parsed_manifest(manifest, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=2)
def _parsed_manifest(path: Path, mtime_ns: int, size: int) -> dict:
    return json.loads(path.read_text())


def model_relation(project: Path, name: str, default_schema: str = "marts") -> str:
    """The relation (schema.table) dbt builds a model into, from the manifest of the last
    dbt invocation when there is one, else ``<default_schema>.<name>``. The database is left
    out: the manifest may come from a run against another database of the same project."""
    for node in _manifest(project).get("nodes", {}).values():
        is_model = node.get("resource_type") == "model" and node.get("name") == name
        if is_model and node.get("schema"):
            return f'"{node["schema"]}"."{node.get("alias") or name}"'
    return f"{default_schema}.{name}"


def model_descendants(project: Path, name: str, under: str = "models") -> set[str]:
    """The models downstream of model `name` whose files are under folder `under` (dbt's
    `name+,path:under` less the model itself), from the last invocation's manifest: empty
    without one."""
    manifest = _manifest(project)
    nodes, children = manifest.get("nodes", {}), manifest.get("child_map", {})
    found: set[str] = set()
    pending = [uid for uid, node in nodes.items() if node.get("name") == name]
    seen = set(pending)
    while pending:
        for child in children.get(pending.pop(), []):
            node = nodes.get(child, {})
            if child in seen or node.get("resource_type") != "model":
                continue
            seen.add(child)
            pending.append(child)
            if node.get("original_file_path", "").startswith(under.rstrip("/") + "/"):
                found.add(node["name"])
    return found


@dataclass
class SourceFreshness:
    """How old the newest rows of a source are (its freshest table: a source whose tables
    mostly stand still, as returns, is alive while any of them gets rows)."""

    source: str
    age_s: float | None  # None: no rows yet
    status: str  # pass, warn, error (dbt's criteria of the freshest table), or empty

    def describe(self) -> str:
        if self.age_s is None:
            return f"{self.source}: no rows yet"
        hours = self.age_s / 3600
        if hours < 1:
            age = f"{self.age_s / 60:.0f} min"
        else:
            age = f"{hours:.0f} h" if hours < 72 else f"{hours / 24:.0f} days"
        return f"{self.source}: newest rows loaded {age} ago ({self.status})"


def source_freshness(session: DbtSession, sources: Sequence[str]) -> list[SourceFreshness]:
    """`dbt source freshness` of these sources (their declared warn_after / error_after, on
    the load time of their rows): one verdict per source, from target/sources.json."""
    if not sources:
        return []
    results_file = _target_dir(session.paths.project) / "sources.json"
    before = _mtime(results_file)
    # captured: dbt prints a stale table as an error, this step reports it as news
    session.run(
        ["source", "freshness", "--select", *(f"source:{s}" for s in sources)], capture=True
    )
    if not _rewritten(results_file, before):
        return []
    freshest: dict[str, dict] = {}
    for table in json.loads(results_file.read_text()).get("results", []):
        source = table["unique_id"].split(".")[2]
        age = table.get("max_loaded_at_time_ago_in_s")
        if age is None or table.get("status") not in ("pass", "warn", "error"):
            freshest.setdefault(source, {})
            continue
        if "age" not in freshest.get(source, {}) or age < freshest[source]["age"]:
            freshest[source] = {"age": age, "status": table["status"]}
    return [
        SourceFreshness(s, freshest[s].get("age"), freshest[s].get("status", "empty"))
        for s in sources
        if s in freshest
    ]
