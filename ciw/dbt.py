"""Running dbt against the warehouse the CLI resolved (same DSN as dlt)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ciw.config import Paths
from ciw.warehouse import Warehouse


@dataclass
class DbtResult:
    command: list[str]
    returncode: int
    counts: Counter = field(default_factory=Counter)  # "model:success", "test:fail", ...
    failures: list[str] = field(default_factory=list)  # "test_name: message"

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if not found:
        raise FileNotFoundError("dbt is not installed in this environment: run `make venv`")
    return found


def prepare_profiles(paths: Paths) -> Path:
    """The project's dbt profile (profiles.yml.example) in .warehouse/dbt/profiles.yml."""
    folder = paths.home / "dbt"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(paths.project / "profiles.yml.example", folder / "profiles.yml")
    return folder


def dbt_env(warehouse: Warehouse, paths: Paths) -> dict[str, str]:
    env = dict(os.environ)
    env.update(warehouse.dbt_env())
    env.setdefault("DBT_PROFILES_DIR", str(prepare_profiles(paths)))
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


def run_dbt(
    args: Sequence[str], warehouse: Warehouse, paths: Paths, capture: bool = False
) -> DbtResult:
    """Run ``dbt <args>`` in the project folder; results from target/run_results.json."""
    command = [dbt_executable(), *args]
    target = Path(os.environ.get("DBT_TARGET_PATH", paths.project / "target"))
    results_file = (target if target.is_absolute() else paths.project / target) / "run_results.json"
    before = results_file.stat().st_mtime if results_file.exists() else None
    completed = subprocess.run(
        command,
        cwd=paths.project,
        env=dbt_env(warehouse, paths),
        capture_output=capture,
        text=True,
        check=False,
    )
    result = DbtResult(command=command, returncode=completed.returncode)
    if results_file.exists() and results_file.stat().st_mtime != before:
        data = json.loads(results_file.read_text())
        for node in data.get("results", []):
            kind = node["unique_id"].split(".")[0]
            status = node.get("status", "unknown")
            result.counts[f"{kind}:{status}"] += 1
            if status in ("fail", "error", "warn"):
                name = node["unique_id"].split(".", 2)[-1]
                message = (node.get("message") or "").strip().splitlines()
                result.failures.append(f"{status}: {name}: {message[0] if message else ''}")
    return result


def model_relation(project: Path, name: str, default_schema: str = "marts") -> str:
    """The relation (schema.table) dbt builds a model into, from the manifest of the last
    dbt invocation when there is one, else ``<default_schema>.<name>``. The database is left
    out: the manifest may come from a run against another database of the same project."""
    target = Path(os.environ.get("DBT_TARGET_PATH", project / "target"))
    manifest = (target if target.is_absolute() else project / target) / "manifest.json"
    if manifest.exists():
        for node in json.loads(manifest.read_text()).get("nodes", {}).values():
            is_model = node.get("resource_type") == "model" and node.get("name") == name
            if is_model and node.get("schema"):
                return f'"{node["schema"]}"."{node.get("alias") or name}"'
    return f"{default_schema}.{name}"
