{#- Incremental: a customer's row changes only when their purchase days change or when a move
    of the as-of date takes one of their purchase days into or out of a window below (the
    as-of date itself, 12 months, 365 days, var lifecycle_active_days). So each run computes
    again only the customers whose orders changed since it last wrote and those with a
    purchase day between the window edges of the previous run's as-of date and this one's
    (macro stage_purchase_state_customers); every other row already holds for the new as-of
    date. A new lifecycle_active_days computes every customer again. -#}
{#- the window starts (12 months, 365 days, lifecycle_active_days): one list, so the stage
    purchase_state_customers knows every window a move of the as-of date can change -#}
{%- set twelve_months, one_year, active_days = purchase_state_window_starts() %}
-- depends_on: {{ ref('int_customer_order_changes') }}
{{
    config(
        materialized='incremental_batch',
        stages=['purchase_state_customers'],
        replaces='purchase_state_customers',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[{'columns': ['customer_id'], 'unique': true}, {'columns': ['computed_at']}],
    )
}}

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
    where
        purchase_date <= {{ as_of_date() }}
        and {{ is_staged_customer('purchase_state_customers') }}

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
            where purchase_date > {{ as_of_date() }} - {{ twelve_months }}
        ), 0)::numeric(18, 2) as revenue_amount_12m,
        coalesce(sum(gross_margin_amount) filter (
            where purchase_date > {{ as_of_date() }} - {{ twelve_months }}
        ), 0)::numeric(18, 2) as gross_margin_amount_12m,
        -- the segments' margin window is 365 days (percentiles of the last year's margin)
        coalesce(sum(gross_margin_amount) filter (
            where purchase_date > {{ as_of_date() }} - {{ one_year }}
        ), 0)::numeric(18, 2) as gross_margin_amount_365d,
        -- the longest gap before a purchase inside the active window: a comeback
        max(purchase_date - previous_purchase_date) filter (
            where purchase_date > {{ as_of_date() }} - {{ active_days }}
        ) as recent_return_gap_days,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        {{ as_of_date() }} as computed_as_of_date,
        {{ var('lifecycle_active_days') }} as active_window_days,
        current_timestamp as computed_at
    from purchase_days
    group by customer_id

)

select * from states
