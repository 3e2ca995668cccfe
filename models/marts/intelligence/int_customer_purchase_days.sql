{#- One row per customer and day with a purchase (any channel), up to the as-of date: the
    unit of repeat buying for RFM and lifetime value (several orders on one day are one
    purchase). -#}
with

orders as (

    select
        customer_id,
        revenue_amount,
        gross_margin_amount,
        ordered_at
    from {{ ref('fct_orders') }}
    where
        customer_id is not null
        and not is_cancelled

),

purchase_days as (

    select
        customer_id,
        {{ utc_date('ordered_at') }} as purchase_date,
        count(*) as order_count,
        sum(revenue_amount)::numeric(18, 2) as revenue_amount,
        sum(gross_margin_amount)::numeric(18, 2) as gross_margin_amount
    from orders
    where {{ utc_date('ordered_at') }} <= {{ as_of_date() }}
    group by customer_id, {{ utc_date('ordered_at') }}

),

with_previous as (

    select
        customer_id,
        order_count,
        revenue_amount,
        gross_margin_amount,
        purchase_date,
        lag(purchase_date) over (
            partition by customer_id order by purchase_date
        ) as previous_purchase_date
    from purchase_days

)

select * from with_previous
