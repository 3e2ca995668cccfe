-- Where did last month's customers go? The lifecycle migration between the two latest month
-- ends, with the share of each starting segment and the 12-month margin that moved.
with

migrations as (

    select
        from_segment,
        to_segment,
        customer_count,
        margin_moved_amount,
        to_period_end_date
    from {{ ref('segment_migrations') }}
    where segment_scheme = 'lifecycle_stage'

),

latest as (

    select max(to_period_end_date) as to_period_end_date
    from migrations

),

last_month as (

    select
        migrations.from_segment,
        migrations.to_segment,
        migrations.customer_count,
        migrations.margin_moved_amount
    from migrations
    inner join latest on migrations.to_period_end_date = latest.to_period_end_date

)

select
    from_segment,
    to_segment,
    customer_count,
    margin_moved_amount,
    round(
        100.0 * customer_count / sum(customer_count) over (partition by from_segment), 1
    ) as percent_of_from_segment
from last_month
order by from_segment asc, customer_count desc
