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
