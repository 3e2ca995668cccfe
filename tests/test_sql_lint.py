"""sqlfluff (postgres dialect) keeps the models and macros clean: part of the test suite. Models
and analyses through the dbt templater (it needs the warehouse); macros through the jinja
templater (the dbt templater skips macro files: macros/.sqlfluff)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ciw.config import Paths
from ciw.dbt import dbt_env

ROOT = Path(__file__).absolute().parent.parent


@pytest.mark.serverpath
def test_models_pass_sqlfluff(warehouse, tmp_path):
    paths = Paths(project=ROOT, home=tmp_path)
    env = dbt_env(warehouse, paths)
    sqlfluff = Path(sys.executable).with_name("sqlfluff")
    result = subprocess.run(
        [str(sqlfluff), "lint", "models", "analyses", "--processes", "2", "--nocolor"],
        cwd=ROOT,
        env={**env, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert os.path.exists(ROOT / ".sqlfluff")


def test_macros_pass_sqlfluff():
    sqlfluff = Path(sys.executable).with_name("sqlfluff")
    result = subprocess.run(
        [str(sqlfluff), "lint", "macros", "--templater", "jinja", "--nocolor"],
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    # every macro file but the materialisations (sqlfluff cannot parse their tag) is linted
    ignored = (ROOT / ".sqlfluffignore").read_text().split()
    assert "macros/" not in ignored
