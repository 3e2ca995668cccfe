"""Any subset of sources (docs/bring-your-own-data.md): the models of a source that is not
loaded build on empty stand-ins of its raw tables (macro create_absent_source_tables), and the
loader replaces the stand-ins with the real tables when the source arrives."""

from __future__ import annotations

import pytest
from conftest import DEMO_CUSTOMERS

from ciw import cli
from ingestion.runner import STAND_IN_COMMENT, drop_stand_ins


def _stand_ins(warehouse) -> set[str]:
    rows = warehouse.query(
        "select n.nspname || '.' || c.relname from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace "
        "where c.relkind = 'r' and obj_description(c.oid, 'pg_class') like %s",
        (STAND_IN_COMMENT + "%",),
    )
    return {r[0] for r in rows}


@pytest.mark.slow
@pytest.mark.serverpath
def test_only_the_pos_source_builds_every_layer_then_the_shop_joins(
    warehouse, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("CIW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CIW_DSN", warehouse.dsn.url())
    assert cli.main(["run", "--customers", DEMO_CUSTOMERS, "--sources", "pos", "--quiet"]) == 0

    # every raw table of the four sources not loaded is an empty stand-in; POS has none
    stand_ins = _stand_ins(warehouse)
    assert {"shop.orders", "shop.accounts", "helpdesk.tickets", "web.events", "esp.contacts"} <= (
        stand_ins
    )
    assert not any(name.startswith("pos.") for name in stand_ins)
    assert all(warehouse.query(f"select count(*) from {name}") == [(0,)] for name in stand_ins)
    # identity, first purchases and segments come from the POS alone
    systems = warehouse.query("select distinct source_system from marts.identity_map")
    assert systems == [("pos",)]
    customers = warehouse.query("select count(*) from marts.dim_customers")[0][0]
    assert customers > 50
    first = warehouse.query(
        "select count(*), count(distinct sales_channel) from marts.first_purchase_events "
        "where event_type = 'first_purchase'"
    )
    assert first[0][0] > 50 and first[0][1] == 1
    assert warehouse.query("select count(*) from marts.customer_segments")[0][0] > 50
    # no consent is known without the shop or the ESP: nobody is messaged
    assert warehouse.query("select count(*) from marts.audience_welcome") == [(0,)]

    # the shop arrives: its stand-ins give way to dlt's tables, the build links its records
    assert cli.main(["run", "--customers", DEMO_CUSTOMERS, "--sources", "shop", "--quiet"]) == 0
    after = _stand_ins(warehouse)
    assert not any(name.startswith("shop.") for name in after)
    assert {n for n in stand_ins if not n.startswith("shop.")} == after
    assert warehouse.query("select count(*) from shop.orders")[0][0] > 100
    systems = dict(
        warehouse.query("select source_system, count(*) from marts.identity_map group by 1")
    )
    assert set(systems) == {"pos", "shop"}
    # a shop customer who also has a loyalty card is one customer
    assert (
        warehouse.query(
            "select count(*) from (select customer_id from marts.identity_map group by 1 "
            "having count(distinct source_system) = 2) both_channels"
        )[0][0]
        > 0
    )
    assert "a source failed" not in capsys.readouterr().out


def test_a_stand_in_that_holds_rows_is_kept(warehouse):
    """Only empty stand-ins are dropped: rows someone wrote into one are never lost."""
    with warehouse.cursor() as cur:
        cur.execute("create schema shop")
        for table in ("orders", "products", "accounts"):
            cur.execute(f"create table shop.{table} (id bigint)")
        for table in ("orders", "products"):
            cur.execute(f"comment on table shop.{table} is '{STAND_IN_COMMENT} test'")
        cur.execute("insert into shop.products values (1)")
    assert drop_stand_ins(warehouse, "shop") == ["orders"]
    assert not warehouse.exists("shop.orders")
    assert warehouse.exists("shop.products") and warehouse.exists("shop.accounts")


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (None, ["shop", "pos", "helpdesk", "web", "esp"]),
        ('["pos", "shop"]', ["pos", "shop"]),
        ("pos, shop", ["pos", "shop"]),
        ("pos,nope", "unknown source(s) nope"),
        ("[]", "no source named"),
    ],
)
def test_which_sources_exist_is_configuration(monkeypatch, configured, expected):
    """`ciw run` and `ciw load` load the configured sources (ciw.sources), unless named."""
    monkeypatch.delenv("CIW__SOURCES", raising=False)
    if configured is not None:
        monkeypatch.setenv("CIW__SOURCES", configured)
    if isinstance(expected, list):
        assert cli._source_list(None) == expected
        assert cli._source_list("web") == ["web"]  # the command line wins
    else:
        with pytest.raises(cli.CliError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            cli._source_list(None)
