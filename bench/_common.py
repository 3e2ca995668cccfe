"""Shared set-up of the benchmarks: a scratch folder and a warehouse (the given DSN, or a
temporary embedded PostgreSQL), with dbt's target and logs kept out of the project."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).absolute().parent.parent
sys.path.insert(0, str(ROOT))


@contextlib.contextmanager
def bench_warehouse(
    dsn: str | None, prefix: str, keep: Path | None = None
) -> Iterator[tuple[object, Path]]:
    """(warehouse, work folder); everything is removed afterwards, unless `keep` names the
    work folder (created if missing), whose embedded server (keep/pgdata) is then kept too."""
    from ciw.warehouse import Dsn, EmbeddedPostgres, Warehouse

    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        work = keep.absolute()
    else:
        work = Path(tempfile.mkdtemp(prefix=prefix))
    work.chmod(0o755)  # pgserver runs postgres as an unprivileged user when we are root
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
    os.environ["DBT_TARGET_PATH"] = str(work / "target")  # leave the project's target/ alone
    os.environ["DBT_LOG_PATH"] = str(work / "logs")
    embedded = None
    try:
        if dsn:
            warehouse = Warehouse(Dsn.parse(dsn))
        else:
            embedded = EmbeddedPostgres(work / "pgdata")
            warehouse = embedded.start(stop_on_exit=True)
        yield warehouse, work
    finally:
        if keep is None:
            if embedded is not None:
                embedded.stop()
            shutil.rmtree(work, ignore_errors=True)
        # a kept embedded server is stopped when this process exits (start(stop_on_exit=True))


def run_child(args: list[str], what: str, **kwargs) -> dict:
    """Run a bench's child process (its own peak memory, or another interpreter); the JSON
    object its last output line holds. Exits with the child's error output if it fails."""
    out = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if out.returncode != 0:
        sys.exit(f"{what} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
