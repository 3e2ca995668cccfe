"""One lock per warehouse (ciw/lock.py): a PostgreSQL advisory lock, so two ciw commands that
write never run on one database at once, whichever hosts (here: homes) they run from."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ciw import cli
from ciw.lock import LOCK_KEY, lock_holders, warehouse_lock

ROOT = Path(__file__).absolute().parent.parent
HOLDER = """
import sys
from ciw.lock import warehouse_lock
from ciw.warehouse import Dsn, Warehouse

with warehouse_lock(Warehouse(Dsn.parse(sys.argv[1])), "run"):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes stdin, or kills us
"""


@pytest.fixture
def other_host(warehouse, tmp_path) -> Iterator[subprocess.Popen]:
    """A ciw process of another host (its own home) holding the lock of the test's warehouse."""
    env = {**os.environ, "CIW_HOME": str(tmp_path / "other-host")}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, warehouse.dsn.url()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(timeout=30)


def _holders(warehouse) -> list:
    conn = warehouse.connect()
    try:
        return lock_holders(conn, LOCK_KEY)
    finally:
        conn.close()


WRITING = [
    ["run", "--customers", "40", "--quiet"],
    ["load", "pos", "--quiet"],
    ["match"],
    ["dbt", "run", "--select", "stg_pos__transactions"],
    ["dbt", "--", "build"],
    ["clv", "--refit"],
    ["forget", "--email", "someone@example.org"],
    ["sync", "--dry-run"],
]


def test_every_writing_command_is_refused_while_another_host_holds_the_lock(
    warehouse, other_host, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("CIW_HOME", str(tmp_path / "this-host"))
    monkeypatch.setenv("CIW_DSN", warehouse.dsn.url())
    (holder,) = _holders(warehouse)
    assert holder.application == f"ciw run pid {other_host.pid} on {os.uname().nodename}"[:63]
    for argv in WRITING:
        assert cli.main(argv) == cli.EXIT_LOCKED, argv
        err = capsys.readouterr().err
        assert "is locked by 'ciw run pid" in err and "Nothing was done" in err, (argv, err)
    # nothing of the refused commands reached the warehouse (no schema, no demo files)
    assert warehouse.query(
        "select count(*) from information_schema.schemata where schema_name in "
        "('pos', 'marts', 'reverse_etl', 'clv', 'staging')"
    ) == [(0,)]
    assert not (tmp_path / "this-host" / "demo").exists()
    # a command that only reads runs
    assert cli.main(["quarantine"]) == 0
    # the lock goes with its process, however it ends
    os.kill(other_host.pid, signal.SIGKILL)
    other_host.wait(timeout=30)
    deadline = time.monotonic() + 20
    while _holders(warehouse) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cli.main(["forget", "--email", "someone@example.org"]) == 2
    assert "is locked" not in capsys.readouterr().err  # refused for its own reason
    assert _holders(warehouse) == []  # released when the command ended


def test_two_ciw_processes_on_one_warehouse_from_two_homes(
    warehouse, tmp_path, monkeypatch, capsys
):
    """Two ciw processes, as from two hosts: a `ciw load` in a process of its own and, while it
    loads, a `ciw dbt run` in this one (called the moment the load holds the lock: no start-up
    time to race), which exits 3 naming the load; the load is whole."""
    env = {**os.environ, "CIW_DSN": warehouse.dsn.url()}
    first_home, second_home = tmp_path / "host-a", tmp_path / "host-b"
    ciw = [sys.executable, "-m", "ciw.cli"]
    subprocess.run(
        [*ciw, "demo", "generate", "--customers", "60", "--out", str(first_home / "demo")],
        env={**env, "CIW_HOME": str(first_home)},
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    first = subprocess.Popen(
        [*ciw, "load", "--demo", "--quiet"],
        env={**env, "CIW_HOME": str(first_home)},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    monkeypatch.setenv("CIW_HOME", str(second_home))
    monkeypatch.setenv("CIW_DSN", warehouse.dsn.url())
    try:
        deadline = time.monotonic() + 60
        while not _holders(warehouse):
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.02)
        second = cli.main(["dbt", "run", "--select", "stg_pos__transactions"])
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err[-3000:]
    assert second == cli.EXIT_LOCKED
    assert f"is locked by 'ciw load pid {first.pid}" in " ".join(capsys.readouterr().err.split())
    assert warehouse.query("select count(*) from pos.transactions")[0][0] > 0


def test_the_lock_is_per_database_and_released_after_the_block(warehouse, pg_admin):
    with warehouse_lock(warehouse, "run"):
        assert len(_holders(warehouse)) == 1
        with warehouse_lock(pg_admin, "run"):  # another database of the same server
            pass
    assert _holders(warehouse) == []
    with warehouse_lock(warehouse, "run"):  # and can be taken again
        pass


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["dbt"], "dbt build"),
        (["dbt", "--", "test", "--select", "x"], "dbt test"),
        (["dbt", "run-operation", "m"], "dbt run-operation"),
        (["dbt", "ls"], None),
        (["dbt", "--", "show", "--inline", "select 1"], None),
        (["dbt", "docs", "generate"], None),
        (["quarantine"], None),
        (["db", "status"], None),
        (["forget", "--email", "a@b.c"], "forget"),
        (["sync", "--dry-run"], "sync"),
        (["clv"], "clv"),
    ],
)
def test_which_commands_take_the_lock(argv, name):
    assert cli.lock_name(cli.build_parser().parse_args(argv)) == name


def test_a_command_that_opens_the_warehouse_twice_takes_the_lock_once(
    warehouse, tmp_path, monkeypatch
):
    monkeypatch.setenv("CIW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CIW_DSN", warehouse.dsn.url())
    original = cli.cmd_clv

    def twice(args, paths):
        cli.open_warehouse(args, paths)
        assert len(_holders(warehouse)) == 1
        return original(args, paths)

    monkeypatch.setattr(cli, "cmd_clv", twice)
    # clv fails for its own reason (no RFM summary to fit), never on our own lock
    assert cli.main(["clv"]) != cli.EXIT_LOCKED
    assert _holders(warehouse) == []
