{#- Per day: customers active (a purchase in the last 365 days), customers who were active a
    year earlier (the retention base) and how many of those bought again since (retained).
    Computed with difference arrays over purchase days, not by expanding customers x days. -#}
with

purchase_days as (

    select
        customer_id,
        purchase_date
    from {{ ref('int_customer_purchase_days') }}

),

spans as (

    -- a purchase day keeps its customer active until the next purchase or for 365 days
    select
        purchase_date,
        lead(purchase_date) over (
            partition by customer_id order by purchase_date
        ) as next_purchase_date,
        least(
            lead(purchase_date) over (partition by customer_id order by purchase_date),
            purchase_date + 365
        ) as active_until_date
    from purchase_days

),

changes as (

    select
        purchase_date as change_date,
        1 as active_change,
        0 as base_change,
        0 as retained_change
    from spans
    union all
    select
        active_until_date as change_date,
        -1 as active_change,
        0 as base_change,
        0 as retained_change
    from spans
    union all
    select
        purchase_date + 365 as change_date,
        0 as active_change,
        1 as base_change,
        0 as retained_change
    from spans
    union all
    select
        active_until_date + 365 as change_date,
        0 as active_change,
        -1 as base_change,
        0 as retained_change
    from spans
    union all
    select
        greatest(purchase_date + 365, next_purchase_date) as change_date,
        0 as active_change,
        0 as base_change,
        1 as retained_change
    from spans
    where next_purchase_date is not null
    union all
    select
        active_until_date + 365 as change_date,
        0 as active_change,
        0 as base_change,
        -1 as retained_change
    from spans
    where next_purchase_date is not null

),

daily_changes as (

    select
        change_date,
        sum(active_change) as active_change,
        sum(base_change) as base_change,
        sum(retained_change) as retained_change
    from changes
    group by change_date

),

days as (

    select calendar_day::date as kpi_date
    from generate_series(
        (select min(purchase_date) from purchase_days),
        {{ as_of_date() }},
        interval '1 day'
    ) as calendar_day

),

running as (

    select
        days.kpi_date,
        (
            sum(coalesce(daily_changes.active_change, 0)) over (order by days.kpi_date)
        )::bigint as active_customer_count,
        (
            sum(coalesce(daily_changes.base_change, 0)) over (order by days.kpi_date)
        )::bigint as retention_base_count,
        (
            sum(coalesce(daily_changes.retained_change, 0)) over (order by days.kpi_date)
        )::bigint as retained_customer_count
    from days
    left join daily_changes on days.kpi_date = daily_changes.change_date

)

select * from running
