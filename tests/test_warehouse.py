"""The single warehouse setting: DSN parsing, URL forms for dlt and dbt."""

from __future__ import annotations

import pytest

from ciw.warehouse import Dsn, WarehouseError


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
    assert url.startswith("postgresql://postgres:x@localhost/postgres?host=")
    assert Dsn.parse(url).host == "/tmp/pg data"


def test_bad_scheme_is_a_clear_error():
    with pytest.raises(WarehouseError, match="unsupported warehouse DSN scheme 'mysql'"):
        Dsn.parse("mysql://root@localhost/db")


def test_unreachable_server_is_a_clear_error(tmp_path):
    from ciw.warehouse import Warehouse

    wh = Warehouse(Dsn.parse(f"postgresql://postgres@/postgres?host={tmp_path}"))
    with pytest.raises(WarehouseError, match="cannot connect to the warehouse"):
        wh.connect()


def test_new_embedded_warehouse_collates_bytewise_but_folds_case_by_unicode(tmp_path):
    import os

    from ciw.warehouse import EmbeddedPostgres

    tmp_path.chmod(0o755)  # pgserver runs postgres as an unprivileged user when we are root
    before = {name: os.environ.get(name) for name in ("LC_ALL", "LC_COLLATE", "LC_CTYPE")}
    embedded = EmbeddedPostgres(tmp_path / "pgdata")
    warehouse = embedded.start(stop_on_exit=True)
    try:
        collate, is_bytewise, folded = warehouse.query(
            "select datcollate, 'B' < 'a', lower('ÓÉ') from pg_database "
            "where datname = current_database()"
        )[0]
    finally:
        embedded.stop()
    assert collate == "C" and is_bytewise
    assert folded == "óé"  # the normalisation macros rely on lower() knowing accents
    assert {name: os.environ.get(name) for name in before} == before
