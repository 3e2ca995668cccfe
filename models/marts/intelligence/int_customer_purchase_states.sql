{#- One row per buying customer as of the as-of date: the purchase-day totals the RFM summary,
    the segments and the profitability mart all need, in one pass over the purchase days
    (three marts reading 1 row per customer instead of each reading every purchase day). -#}
with

purchase_days as (

    select
        customer_id,
        purchase_date,
        previous_purchase_date,
        order_count,
        revenue_amount,
        gross_margin_amount
    from {{ ref('int_customer_purchase_days') }}
    where purchase_date <= {{ as_of_date() }}

),

states as (

    select
        customer_id,
        count(*) as purchase_day_count,
        sum(order_count)::bigint as order_count,
        sum(revenue_amount)::numeric(18, 2) as revenue_amount,
        sum(gross_margin_amount)::numeric(18, 2) as gross_margin_amount,
        -- a repeat purchase day is one with a previous purchase day
        avg(revenue_amount) filter (
            where previous_purchase_date is not null
        )::numeric(18, 2) as repeat_purchase_value,
        coalesce(sum(revenue_amount) filter (
            where purchase_date > {{ as_of_date() }} - interval '12 months'
        ), 0)::numeric(18, 2) as revenue_amount_12m,
        coalesce(sum(gross_margin_amount) filter (
            where purchase_date > {{ as_of_date() }} - interval '12 months'
        ), 0)::numeric(18, 2) as gross_margin_amount_12m,
        -- the segments' margin window is 365 days (percentiles of the last year's margin)
        coalesce(sum(gross_margin_amount) filter (
            where purchase_date > {{ as_of_date() }} - 365
        ), 0)::numeric(18, 2) as gross_margin_amount_365d,
        -- the longest gap before a purchase inside the active window: a comeback
        max(purchase_date - previous_purchase_date) filter (
            where purchase_date > {{ as_of_date() }} - {{ var('lifecycle_active_days') }}
        ) as recent_return_gap_days,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date
    from purchase_days
    group by customer_id

)

select * from states
