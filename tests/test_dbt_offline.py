"""`dbt compile` and `dbt docs generate` work with no database to reach
(docs/incremental-matching.md): every model compiles as its full build, and the lineage of the
materialisation's steps is in the manifest."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).absolute().parent.parent
BATCH_MODELS = [
    "int_identity_records_unioned",
    "int_identifiers_assessed",
    "int_identity_pairs_compared",
    "int_identity_links_deterministic",
    "int_identity_links_fuzzy",
    "int_identity_links_unioned",
    "int_identity_records_clustered",
    "int_identity_review",
    "identity_map",
    "dim_customers",
    "int_customer_purchase_days",
    "int_customer_purchase_states",
    "customer_cost_to_serve",
]


def _closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory):
    """A dbt command runner whose profile points at a PostgreSQL that is not there."""
    folder = tmp_path_factory.mktemp("offline")
    shutil.copyfile(ROOT / "profiles.yml.example", folder / "profiles.yml")
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(folder),
        "DBT_TARGET_PATH": str(folder / "target"),
        "DBT_LOG_PATH": str(folder / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "CIW_PG_HOST": "127.0.0.1",
        "CIW_PG_PORT": str(_closed_port()),
        "PYTHONWARNINGS": "ignore",
    }
    dbt = Path(sys.executable).with_name("dbt")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(dbt), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    return run, folder / "target"


def test_compile_and_docs_need_no_database(offline):
    run, target = offline
    compiled = run("compile", "--no-introspect", "--no-populate-cache")
    assert compiled.returncode == 0, compiled.stdout[-6000:] + compiled.stderr[-2000:]
    docs = run("docs", "generate", "--no-compile", "--empty-catalog", "--no-populate-cache")
    assert docs.returncode == 0, docs.stdout[-6000:] + docs.stderr[-2000:]
    assert (target / "index.html").exists() and (target / "catalog.json").exists()

    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    models = {node["name"]: node for node in nodes.values() if node["resource_type"] == "model"}
    for name in BATCH_MODELS:
        node = models[name]
        assert node["config"]["materialized"] == "incremental_batch", name
        # the file is its select: its hooks only set the session (no hook does its work)
        hooks = [hook["sql"].strip() for hook in node["config"]["pre-hook"]]
        assert all(h == "{{ tune_session() }}" or h.startswith("set local") for h in hooks), name
        # compiled as its full build: not reading a batch staged by an incremental run
        assert "pg_temp.touched_records" not in node["compiled_code"], name
        assert "select" in node["compiled_code"], name
    # every model says what it is, in the docs dbt docs shows (a docs block where the text is
    # long: the model file is its select)
    undocumented = sorted(name for name, node in models.items() if not node["description"].strip())
    assert undocumented == []
    assert "Fellegi-Sunter" in models["int_identity_links_fuzzy"]["description"]
    # the touched records a link model's stage reads are in its lineage
    for name in ["int_identity_links_deterministic", "int_identity_records_clustered"]:
        assert (
            "model.customer_intelligence.int_identity_records_touched"
            in (models[name]["depends_on"]["nodes"])
        ), name


def test_the_parse_beside_the_loads_leaves_a_parsed_project(tmp_path, monkeypatch):
    """ciw.dbt.parsing_ahead: dbt parses in a child process while the body runs (the loads of
    `ciw run`), and is done when the body's end returns: the build then finds the parsed
    project (dbt's partial parsing). Without a dbt to start, the body runs all the same."""
    from unittest import mock

    from ciw import dbt
    from ciw.config import Paths
    from ciw.warehouse import Dsn, Warehouse

    target = tmp_path / "target"
    monkeypatch.setenv("DBT_TARGET_PATH", str(target))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path))
    shutil.copyfile(ROOT / "profiles.yml.example", tmp_path / "profiles.yml")
    warehouse = Warehouse(Dsn.parse(f"postgresql://postgres@127.0.0.1:{_closed_port()}/none"))
    paths = Paths(project=ROOT, home=tmp_path / "home")
    ran = []
    with dbt.parsing_ahead(warehouse, paths):
        ran.append("loads")
        assert not (target / "partial_parse.msgpack").exists()  # still parsing
    assert ran == ["loads"]
    assert (target / "partial_parse.msgpack").exists() and (target / "manifest.json").exists()

    with (
        mock.patch.object(dbt, "dbt_executable", side_effect=FileNotFoundError("no dbt")),
        dbt.parsing_ahead(warehouse, paths),
    ):
        ran.append("loads without dbt")
    assert ran == ["loads", "loads without dbt"]


def _gone(pid: int) -> bool:
    """No such process, or a zombie (dead, waiting for a parent that does not reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_the_parse_child_dies_with_a_killed_run():
    """A `kill -9` of `ciw run` takes its `dbt parse` child with it (ciw.dbt.child_process),
    which would otherwise write the target folder beside the next run's dbt."""
    import time

    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\n"
            "from ciw.dbt import child_process\n"
            "print(child_process(['/bin/sleep', '120']).pid, flush=True)\n"
            "time.sleep(120)\n",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    child = int(parent.stdout.readline())
    time.sleep(0.5)  # the guard asked for its signal and became `sleep`
    assert not _gone(child)
    assert Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0] == b"/bin/sleep"
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child), "the child outlived its killed parent"


def test_the_dev_target_builds_into_schemas_of_its_own(offline):
    """profiles.yml.example's `dev` target: every model in dev_<schema>, the sources as they
    are; the default target keeps the plain schema names the marts are read from."""
    run, target = offline
    schemas = {}
    for name in ("warehouse", "dev"):
        parsed = run("parse", "--target", name, "--no-partial-parse")
        assert parsed.returncode == 0, parsed.stdout[-3000:]
        manifest = json.loads((target / "manifest.json").read_text())
        schemas[name] = {
            node["name"]: node["schema"]
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model"
        }
        sources = {node["schema"] for node in manifest["sources"].values()}
        assert {"shop", "pos"} <= sources
    assert schemas["warehouse"]["identity_map"] == "marts"
    assert schemas["dev"]["identity_map"] == "dev_marts"
    assert schemas["dev"]["stg_shop__orders"] == "dev_staging"
    assert all(schemas["dev"][m] == f"dev_{s}" for m, s in schemas["warehouse"].items())
