with

orders as (

    select
        customer_id,
        sales_channel,
        revenue_amount,
        gross_margin_amount,
        return_count,
        refunded_amount,
        ordered_at
    from {{ ref('fct_orders') }}
    where customer_id is not null and not is_cancelled

),

store_returns as (

    select
        customer_id,
        refunded_amount
    from {{ ref('int_returns_attributed') }}
    where sales_channel = 'store' and customer_id is not null

),

store_returns_by_customer as (

    select
        customer_id,
        count(*) as store_return_count,
        sum(refunded_amount) as store_refunded_amount
    from store_returns
    group by customer_id

),

order_totals as (

    select
        customer_id,
        count(*) as order_count,
        count(*) filter (where sales_channel = 'web') as web_order_count,
        count(*) filter (where sales_channel = 'phone') as phone_order_count,
        count(*) filter (where sales_channel = 'store') as store_order_count,
        sum(revenue_amount) as revenue_amount,
        sum(gross_margin_amount) as gross_margin_amount,
        sum(return_count) filter (where sales_channel = 'web') as web_return_count,
        sum(return_count) filter (where sales_channel = 'phone') as phone_return_count,
        sum(refunded_amount) as shop_refunded_amount,
        min(ordered_at) as first_purchase_at,
        max(ordered_at) as last_purchase_at,
        min(ordered_at) filter (where sales_channel = 'web') as first_web_purchase_at,
        max(ordered_at) filter (where sales_channel = 'web') as last_web_purchase_at,
        min(ordered_at) filter (where sales_channel = 'phone') as first_phone_purchase_at,
        max(ordered_at) filter (where sales_channel = 'phone') as last_phone_purchase_at,
        min(ordered_at) filter (where sales_channel = 'store') as first_store_purchase_at,
        max(ordered_at) filter (where sales_channel = 'store') as last_store_purchase_at
    from orders
    group by customer_id

),

final as (

    select
        order_totals.customer_id,
        order_totals.order_count,
        order_totals.web_order_count,
        order_totals.phone_order_count,
        order_totals.store_order_count,
        order_totals.revenue_amount,
        order_totals.gross_margin_amount,
        coalesce(order_totals.web_return_count, 0) as web_return_count,
        coalesce(order_totals.phone_return_count, 0) as phone_return_count,
        coalesce(store_returns_by_customer.store_return_count, 0) as store_return_count,
        order_totals.shop_refunded_amount
        + coalesce(store_returns_by_customer.store_refunded_amount, 0) as refunded_amount,
        order_totals.first_purchase_at,
        order_totals.last_purchase_at,
        order_totals.first_web_purchase_at,
        order_totals.last_web_purchase_at,
        order_totals.first_phone_purchase_at,
        order_totals.last_phone_purchase_at,
        order_totals.first_store_purchase_at,
        order_totals.last_store_purchase_at
    from order_totals
    left join store_returns_by_customer
        on order_totals.customer_id = store_returns_by_customer.customer_id

)

select * from final
