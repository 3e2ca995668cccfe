-- depends_on: {{ ref('int_customer_order_changes') }}
{{
    config(
        materialized='incremental_batch',
        stages=['changed_order_customers'],
        incremental_strategy='sync_staged_customers',
        sync_key=['customer_id', 'purchase_date'],
        on_schema_change='fail',
        indexes=[{'columns': ['customer_id']}, {'columns': ['computed_at']}],
    )
}}

with

orders as (

    select
        customer_id,
        sales_channel,
        revenue_amount,
        gross_margin_amount,
        ordered_at
    from {{ ref('fct_orders') }}
    where
        customer_id is not null
        and not is_cancelled
        and {{ is_staged_customer() }}

),

purchase_days as (

    select
        customer_id,
        {{ utc_date('ordered_at') }} as purchase_date,
        count(*) as order_count,
        -- per sales channel, for the scorecard's orders, revenue and repeat-purchase rate by
        -- channel
        count(*) filter (where sales_channel = 'web') as web_order_count,
        count(*) filter (where sales_channel = 'phone') as phone_order_count,
        count(*) filter (where sales_channel = 'store') as store_order_count,
        sum(revenue_amount)::numeric(18, 2) as revenue_amount,
        sum(revenue_amount) filter (where sales_channel = 'web')::numeric(18, 2)
            as web_revenue_amount,
        sum(revenue_amount) filter (where sales_channel = 'phone')::numeric(18, 2)
            as phone_revenue_amount,
        sum(revenue_amount) filter (where sales_channel = 'store')::numeric(18, 2)
            as store_revenue_amount,
        sum(gross_margin_amount)::numeric(18, 2) as gross_margin_amount
    from orders
    group by customer_id, {{ utc_date('ordered_at') }}

),

with_previous as (

    select
        customer_id,
        order_count,
        web_order_count,
        phone_order_count,
        store_order_count,
        revenue_amount,
        web_revenue_amount,
        phone_revenue_amount,
        store_revenue_amount,
        gross_margin_amount,
        purchase_date,
        lag(purchase_date) over (
            partition by customer_id order by purchase_date
        ) as previous_purchase_date,
        current_timestamp as computed_at
    from purchase_days

)

select * from with_previous
