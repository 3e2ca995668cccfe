"""Tables of the web shop database: primary keys, cursors and what makes a row malformed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ShopTable:
    name: str
    primary_key: tuple[str, ...]
    cursor: str = "updated_at"
    required: tuple[str, ...] = ()


SHOP_TABLES: dict[str, ShopTable] = {
    t.name: t
    for t in (
        ShopTable("products", ("product_id",), required=("sku",)),
        ShopTable("accounts", ("account_id",)),
        ShopTable("guest_checkouts", ("guest_checkout_id",)),
        ShopTable("orders", ("order_id",), required=("ordered_at",)),
        ShopTable("order_lines", ("order_line_id",), required=("order_id", "product_id")),
        ShopTable("returns", ("return_id",), required=("order_line_id",)),
        ShopTable("marketing_preferences", ("account_id", "channel"), required=("is_opted_in",)),
    )
}

DEFAULT_CHUNK_SIZE = 50_000
