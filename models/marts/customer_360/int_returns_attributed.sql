with

shop_returns as (

    select
        return_id,
        order_id,
        refund_amount,
        returned_at
    from {{ ref('stg_shop__returns') }}

),

orders as (

    select
        source_order_id,
        customer_id,
        sales_channel
    from {{ ref('fct_orders') }}
    where sales_channel in ('web', 'phone')

),

store_returns as (

    select
        transaction_id,
        loyalty_card_id,
        card_token_hash,
        total_amount,
        transacted_at
    from {{ ref('stg_pos__transactions') }}
    where is_return

),

identity_map as (

    select
        source_table,
        source_record_id,
        customer_id
    from {{ ref('identity_map') }}
    where source_system = 'pos'

),

shop_attributed as (

    select
        'shop:' || shop_returns.return_id as return_key,
        orders.customer_id,
        orders.sales_channel,
        shop_returns.refund_amount as refunded_amount,
        shop_returns.returned_at
    from shop_returns
    left join orders on shop_returns.order_id::text = orders.source_order_id

),

store_attributed as (

    select
        'pos:' || store_returns.transaction_id as return_key,
        coalesce(loyalty.customer_id, cards.customer_id) as customer_id,
        'store' as sales_channel,
        -store_returns.total_amount as refunded_amount,
        store_returns.transacted_at as returned_at
    from store_returns
    left join identity_map as loyalty
        on
            loyalty.source_table = 'loyalty_signups'
            and store_returns.loyalty_card_id = loyalty.source_record_id
    left join identity_map as cards
        on
            cards.source_table = 'card_tokens'
            and store_returns.card_token_hash = cards.source_record_id

),

unioned as (

    select * from shop_attributed
    union all
    select * from store_attributed

)

select * from unioned
