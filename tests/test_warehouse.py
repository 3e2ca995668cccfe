"""The single warehouse setting: DSN parsing, URL forms for dlt and dbt."""

from __future__ import annotations

import pytest

from ciw.warehouse import DUMMY_PASSWORD, Dsn, WarehouseError


def test_tcp_dsn_round_trip():
    dsn = Dsn.parse("postgresql://alice:s%40cret@db.example:6543/wh")
    assert (dsn.user, dsn.password, dsn.host, dsn.port, dsn.database) == (
        "alice",
        "s@cret",
        "db.example",
        6543,
        "wh",
    )
    assert Dsn.parse(dsn.url()) == dsn
    assert "s@cret" not in dsn.redacted()


def test_socket_dsn_gets_dummy_password_for_dlt():
    dsn = Dsn.parse("postgresql://postgres:@/postgres?host=/tmp/pg data")
    assert dsn.is_socket and dsn.host == "/tmp/pg data"
    url = dsn.url()
    assert url.startswith(f"postgresql://postgres:{DUMMY_PASSWORD}@localhost/postgres?host=")
    assert Dsn.parse(url).host == "/tmp/pg data"


def test_bad_scheme_is_a_clear_error():
    with pytest.raises(WarehouseError, match="unsupported warehouse DSN scheme 'mysql'"):
        Dsn.parse("mysql://root@localhost/db")


def test_unreachable_server_is_a_clear_error(tmp_path):
    from ciw.warehouse import Warehouse

    wh = Warehouse(Dsn.parse(f"postgresql://postgres@/postgres?host={tmp_path}"))
    with pytest.raises(WarehouseError, match="cannot connect to the warehouse"):
        wh.connect()


def test_new_embedded_warehouse_collates_bytewise_folds_by_unicode_and_is_tuned(tmp_path):
    import os

    from ciw.warehouse import EmbeddedPostgres, server_settings

    tmp_path.chmod(0o755)  # pgserver runs postgres as an unprivileged user when we are root
    before = {name: os.environ.get(name) for name in ("LC_ALL", "LC_COLLATE", "LC_CTYPE")}
    embedded = EmbeddedPostgres(tmp_path / "pgdata")
    warehouse = embedded.start(stop_on_exit=True)
    try:
        collate, is_bytewise, folded = warehouse.query(
            "select datcollate, 'B' < 'a', lower('ÓÉ') from pg_database "
            "where datname = current_database()"
        )[0]
        # the first start of a new cluster already runs with our settings (no restart)
        shared_bytes = warehouse.query("select pg_size_bytes(current_setting('shared_buffers'))")
    finally:
        embedded.stop()
    assert shared_bytes[0][0] == int(server_settings()["shared_buffers"][: -len("MB")]) * 1024**2
    assert collate == "C" and is_bytewise
    assert folded == "óé"  # the normalisation macros rely on lower() knowing accents
    assert {name: os.environ.get(name) for name in before} == before


def test_embedded_server_settings_scale_with_memory():
    from ciw.warehouse import server_settings

    gib = 1024**3
    assert server_settings(8 * gib)["shared_buffers"] == "1024MB"  # an eighth of memory
    assert server_settings(24 * gib)["shared_buffers"] == "2048MB"  # capped at 2 GB
    assert server_settings(512 * 1024**2)["shared_buffers"] == "128MB"  # PostgreSQL's default


def test_embedded_server_settings_file_is_included_once(tmp_path):
    from ciw.warehouse import SETTINGS_FILE, write_server_settings

    conf = tmp_path / "postgresql.conf"
    conf.write_text("max_connections = 100\n")
    write_server_settings(tmp_path)
    write_server_settings(tmp_path)  # every start writes it again
    lines = conf.read_text().splitlines()
    assert lines == ["max_connections = 100", f"include_if_exists = '{SETTINGS_FILE}'"]
    assert "shared_buffers = '" in (tmp_path / SETTINGS_FILE).read_text()


def test_the_embedded_server_starts_without_a_runtime_dir_warning():
    """Without XDG_RUNTIME_DIR (root, containers, CI) importing pgserver made platformdirs warn
    on every `ciw` command that used the embedded server."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    out = subprocess.run(
        [sys.executable, "-W", "default", "-c", "from ciw.warehouse import _pgserver; _pgserver()"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Warning" not in out.stderr, out.stderr
