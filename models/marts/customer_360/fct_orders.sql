{#- Statistics on the order date (UTC), so that the planner knows there are hundreds of days,
    not millions: the scorecard's daily aggregates then hash instead of sorting every order.
    (Re-created on each build: the statistics object belongs to the table dbt swaps in.) -#}
{#- A partial index on the order date of the anonymous orders (no customer: a store sale
    without a card): the scorecard reads only those from here. No index on customer_id: with
    one, the planner probes it for every customer when all of them changed (a first run, a
    backfill), which costs far more than one scan of the orders. -#}
{{
    config(
        post_hook=[
            "drop statistics if exists {{ this.schema }}.fct_orders_order_date_stats",
            "create statistics {{ this.schema }}.fct_orders_order_date_stats
                on ((ordered_at at time zone 'utc')::date) from {{ this }}",
            "create index on {{ this }} (({{ utc_date('ordered_at') }}))
                where customer_id is null",
            "analyze {{ this }}",
        ]
    )
}}
with

shop_orders as (

    select
        order_id,
        account_id,
        guest_checkout_id,
        sales_channel,
        order_status,
        shipping_amount,
        is_cancelled,
        ordered_at,
        loaded_at
    from {{ ref('stg_shop__orders') }}

),

shop_order_lines as (

    select
        order_line_id,
        order_id,
        product_id,
        quantity,
        line_amount
    from {{ ref('stg_shop__order_lines') }}

),

shop_returns as (

    select
        order_id,
        refund_amount
    from {{ ref('stg_shop__returns') }}

),

pos_transactions as (

    select
        transaction_id,
        loyalty_card_id,
        card_token_hash,
        transacted_at,
        loaded_at
    from {{ ref('stg_pos__transactions') }}
    where not is_return

),

pos_lines as (

    select
        transaction_id,
        sku,
        quantity,
        line_amount
    from {{ ref('stg_pos__transaction_lines') }}

),

products as (

    select
        product_id,
        sku,
        unit_cost
    from {{ ref('stg_shop__products') }}

),

identity_map as (

    select
        source_system,
        source_table,
        source_record_id,
        customer_id
    from {{ ref('identity_map') }}

),

shop_line_totals as (

    select
        shop_order_lines.order_id,
        sum(shop_order_lines.quantity) as item_count,
        sum(shop_order_lines.line_amount) as revenue_amount,
        sum(shop_order_lines.quantity * products.unit_cost) as cost_amount
    from shop_order_lines
    left join products on shop_order_lines.product_id = products.product_id
    group by shop_order_lines.order_id

),

shop_refunds as (

    select
        order_id,
        count(*) as return_count,
        sum(refund_amount) as refunded_amount
    from shop_returns
    group by order_id

),

pos_line_totals as (

    select
        pos_lines.transaction_id,
        sum(pos_lines.quantity) as item_count,
        sum(pos_lines.line_amount) as revenue_amount,
        sum(pos_lines.quantity * products.unit_cost) as cost_amount
    from pos_lines
    left join products on pos_lines.sku = products.sku
    group by pos_lines.transaction_id

),

shop_unified as (

    select
        'shop:' || shop_orders.order_id as order_key,
        shop_orders.order_id::text as source_order_id,
        coalesce(shop_accounts.customer_id, guest_checkouts.customer_id) as customer_id,
        shop_orders.sales_channel,
        shop_orders.order_status,
        coalesce(shop_line_totals.item_count, 0) as item_count,
        coalesce(shop_line_totals.revenue_amount, 0) as revenue_amount,
        coalesce(shop_line_totals.cost_amount, 0) as cost_amount,
        coalesce(shop_refunds.return_count, 0) as return_count,
        coalesce(shop_refunds.refunded_amount, 0) as refunded_amount,
        shop_orders.is_cancelled,
        shop_orders.ordered_at,
        shop_orders.loaded_at
    from shop_orders
    left join shop_line_totals on shop_orders.order_id = shop_line_totals.order_id
    left join shop_refunds on shop_orders.order_id = shop_refunds.order_id
    left join identity_map as shop_accounts
        on
            shop_accounts.source_system = 'shop'
            and shop_accounts.source_table = 'accounts'
            and shop_orders.account_id::text = shop_accounts.source_record_id
    left join identity_map as guest_checkouts
        on
            guest_checkouts.source_system = 'shop'
            and guest_checkouts.source_table = 'guest_checkouts'
            and shop_orders.guest_checkout_id::text = guest_checkouts.source_record_id

),

pos_unified as (

    select
        'pos:' || pos_transactions.transaction_id as order_key,
        pos_transactions.transaction_id as source_order_id,
        coalesce(loyalty.customer_id, cards.customer_id) as customer_id,
        'store' as sales_channel,
        'completed' as order_status,
        coalesce(pos_line_totals.item_count, 0) as item_count,
        coalesce(pos_line_totals.revenue_amount, 0) as revenue_amount,
        coalesce(pos_line_totals.cost_amount, 0) as cost_amount,
        0 as return_count,
        0 as refunded_amount,
        false as is_cancelled,
        pos_transactions.transacted_at as ordered_at,
        pos_transactions.loaded_at
    from pos_transactions
    left join pos_line_totals on pos_transactions.transaction_id = pos_line_totals.transaction_id
    left join identity_map as loyalty
        on
            loyalty.source_system = 'pos'
            and loyalty.source_table = 'loyalty_signups'
            and pos_transactions.loyalty_card_id = loyalty.source_record_id
    left join identity_map as cards
        on
            cards.source_system = 'pos'
            and cards.source_table = 'card_tokens'
            and pos_transactions.card_token_hash = cards.source_record_id

),

unioned as (

    select * from shop_unified
    union all
    select * from pos_unified

),

final as (

    select
        order_key,
        source_order_id,
        customer_id,
        sales_channel,
        order_status,
        item_count::bigint as item_count,
        revenue_amount::numeric(18, 2) as revenue_amount,
        cost_amount::numeric(18, 2) as cost_amount,
        (revenue_amount - cost_amount)::numeric(18, 2) as gross_margin_amount,
        return_count::bigint as return_count,
        refunded_amount::numeric(18, 2) as refunded_amount,
        is_cancelled,
        ordered_at,
        loaded_at
    from unioned

)

select * from final
