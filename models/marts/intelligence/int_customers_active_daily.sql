with

purchase_days as (

    select
        purchase_date,
        previous_purchase_date
    from {{ ref('int_customer_purchase_days') }}
    where purchase_date <= {{ as_of_date() }}

),

pairs as (

    -- customers only matter through (purchase day, previous purchase day): one hash aggregate,
    -- a few hundred thousand pairs at most, instead of a sort of every purchase day
    select
        purchase_date,
        previous_purchase_date,
        count(*) as customer_count
    from purchase_days
    group by purchase_date, previous_purchase_date

),

changes as (

    -- a purchase day keeps its customer active for 365 days, cut short by the next purchase;
    -- each row starts its own span and cuts the previous span short when it came within 365
    -- days (the -1/+1 pairs cancel when it did not). Retention base = active a year earlier;
    -- retained = in the base and bought again since the base day.
    select
        purchase_date as change_date,
        customer_count as active_change,
        0::bigint as base_change,
        0::bigint as retained_change
    from pairs
    union all
    select
        purchase_date + 365 as change_date,
        -customer_count as active_change,
        customer_count as base_change,
        0::bigint as retained_change
    from pairs
    union all
    select
        purchase_date + 730 as change_date,
        0::bigint as active_change,
        -customer_count as base_change,
        0::bigint as retained_change
    from pairs
    union all
    select
        least(purchase_date, previous_purchase_date + 365) as change_date,
        -customer_count as active_change,
        0::bigint as base_change,
        0::bigint as retained_change
    from pairs
    where previous_purchase_date is not null
    union all
    select
        previous_purchase_date + 365 as change_date,
        customer_count as active_change,
        0::bigint as base_change,
        0::bigint as retained_change
    from pairs
    where previous_purchase_date is not null
    union all
    select
        least(purchase_date, previous_purchase_date + 365) + 365 as change_date,
        0::bigint as active_change,
        -customer_count as base_change,
        -customer_count as retained_change
    from pairs
    where previous_purchase_date is not null
    union all
    select
        previous_purchase_date + 730 as change_date,
        0::bigint as active_change,
        customer_count as base_change,
        0::bigint as retained_change
    from pairs
    where previous_purchase_date is not null
    union all
    select
        greatest(previous_purchase_date + 365, purchase_date) as change_date,
        0::bigint as active_change,
        0::bigint as base_change,
        customer_count as retained_change
    from pairs
    where previous_purchase_date is not null

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
        (select min(purchase_date) from pairs),
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
