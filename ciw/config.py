"""Where things live, and the dbt vars of this invocation. Everything defaults to folders
inside the project; environment variables override (CIW_HOME, CIW_DSN, CIW_PROJECT_DIR)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


def find_project_dir(start: Path | None = None) -> Path:
    """The folder holding dbt_project.yml: $CIW_PROJECT_DIR, else the nearest parent of the
    working directory, else the source checkout this package was installed from."""
    env = os.environ.get("CIW_PROJECT_DIR")
    if env:
        return Path(env).absolute()
    here = (start or Path.cwd()).absolute()
    for candidate in (here, *here.parents):
        if (candidate / "dbt_project.yml").exists():
            return candidate
    checkout = Path(__file__).absolute().parent.parent
    if (checkout / "dbt_project.yml").exists():
        return checkout
    return here


def project_vars(project: Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """dbt_project.yml's ``vars`` with this invocation's overrides (`--vars`, `--as-of`) on
    top: what dbt sees, for the Python steps (match-model and lifetime-value fits) to agree."""
    data = yaml.safe_load((project / "dbt_project.yml").read_text()) or {}
    return {**(data.get("vars") or {}), **(overrides or {})}


@dataclass(frozen=True)
class Paths:
    """The project, the warehouse home and the dbt ``vars`` overrides of this invocation,
    which every dbt command (DbtSession) and every Python step (project_vars) receives."""

    project: Path
    home: Path
    vars: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def project_vars(self) -> dict[str, Any]:
        return project_vars(self.project, self.vars)

    @classmethod
    def discover(cls) -> Paths:
        project = find_project_dir()
        home = Path(os.environ.get("CIW_HOME", project / ".warehouse")).absolute()
        return cls(project=project, home=home)

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def pipelines(self) -> Path:
        return self.home / "dlt_pipelines"

    @property
    def demo(self) -> Path:
        return self.home / "demo"

    @property
    def dbt_profiles(self) -> Path:
        return self.project
