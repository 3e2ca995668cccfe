with

history as (

    select
        customer_id,
        lifecycle_stage,
        rfm_segment,
        value_tier,
        gross_margin_amount_12m,
        period_end_date
    from {{ ref('customer_segment_history') }}

),

long_history as (

    select
        customer_id,
        'lifecycle_stage' as segment_scheme,
        lifecycle_stage as segment,
        gross_margin_amount_12m,
        period_end_date
    from history
    union all
    select
        customer_id,
        'rfm_segment' as segment_scheme,
        rfm_segment as segment,
        gross_margin_amount_12m,
        period_end_date
    from history
    union all
    select
        customer_id,
        'value_tier' as segment_scheme,
        value_tier as segment,
        gross_margin_amount_12m,
        period_end_date
    from history

),

distinct_periods as (

    select distinct period_end_date
    from history

),

periods as (

    select
        period_end_date,
        lag(period_end_date) over (order by period_end_date) as previous_period_end_date
    from distinct_periods

),

moves as (

    select
        current_period.segment_scheme,
        coalesce(previous_period.segment, '(none)') as from_segment,
        current_period.segment as to_segment,
        current_period.customer_id,
        coalesce(previous_period.gross_margin_amount_12m, 0) as from_margin_amount,
        current_period.gross_margin_amount_12m as to_margin_amount,
        periods.previous_period_end_date as from_period_end_date,
        current_period.period_end_date as to_period_end_date
    from long_history as current_period
    inner join periods on current_period.period_end_date = periods.period_end_date
    left join long_history as previous_period
        on
            current_period.customer_id = previous_period.customer_id
            and current_period.segment_scheme = previous_period.segment_scheme
            and periods.previous_period_end_date = previous_period.period_end_date
    where periods.previous_period_end_date is not null

),

matrix as (

    select
        segment_scheme,
        from_segment,
        to_segment,
        count(*) as customer_count,
        sum(from_margin_amount)::numeric(16, 2) as from_margin_amount,
        sum(to_margin_amount)::numeric(16, 2) as to_margin_amount,
        (sum(to_margin_amount) - sum(from_margin_amount))::numeric(16, 2)
            as margin_moved_amount,
        from_period_end_date,
        to_period_end_date
    from moves
    group by segment_scheme, from_segment, to_segment, from_period_end_date, to_period_end_date

)

select * from matrix
