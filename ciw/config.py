"""Where things live. Everything defaults to folders inside the project; environment
variables override (CIW_HOME, CIW_DSN, CIW_PROJECT_DIR)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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


@dataclass(frozen=True)
class Paths:
    project: Path
    home: Path

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
