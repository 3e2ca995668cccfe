{%- set history_months = var("segment_history_months") %}
{%- set has_new_month_end = true %}
{%- if execute and is_incremental() %}
    {%- set check %}
        select count(*)
        from generate_series(
            date_trunc('month', {{ as_of_date() }}) - interval '{{ history_months }} months',
            date_trunc('month', {{ as_of_date() }}) - interval '1 month',
            interval '1 month'
        ) as month_start
        where (month_start + interval '1 month' - interval '1 day')::date > (
            select coalesce(max(period_end_date), date '1900-01-01') from {{ this }}
        )
    {%- endset %}
    {%- set has_new_month_end = run_query(check).columns[0].values()[0] > 0 %}
{%- endif %}
{{
    config(
        materialized='incremental',
        unique_key=['customer_id', 'period_end_date'],
        incremental_strategy='delete+insert',
        full_refresh=false,
        on_schema_change='append_new_columns',
    )
}}

with

purchase_days as (

    select
        customer_id,
        revenue_amount,
        gross_margin_amount,
        purchase_date,
        previous_purchase_date
    from {{ ref('int_customer_purchase_days') }}
    {%- if not has_new_month_end %}
        where false
    {%- endif %}

),

month_ends as (

    select (month_start + interval '1 month' - interval '1 day')::date as as_of_date
    from generate_series(
        date_trunc('month', {{ as_of_date() }})
        - interval '{{ var("segment_history_months") }} months',
        date_trunc('month', {{ as_of_date() }}) - interval '1 month',
        interval '1 month'
    ) as month_start

),

as_of_dates as (

    select as_of_date
    from month_ends
    {% if is_incremental() %}
        where as_of_date > (
            select coalesce(max(history_so_far.period_end_date), date '1900-01-01')
            from {{ this }} as history_so_far
        )
    {% endif %}

),

{{ segment_customers() }},

final as (

    select
        customer_id,
        lifecycle_stage,
        rfm_segment,
        value_tier,
        recency_score,
        frequency_score,
        monetary_score,
        purchase_day_count,
        revenue_amount::numeric(14, 2) as revenue_amount,
        gross_margin_amount_12m::numeric(14, 2) as gross_margin_amount_12m,
        as_of_date as period_end_date,
        current_timestamp as computed_at
    from segmented

)

select * from final
