{#- CTEs that put every buying customer into a lifecycle stage, an RFM segment and a value
    tier as of each date in `as_of_dates` (a CTE with one column, as_of_date), from
    `purchase_days` (a CTE: customer_id, purchase_date, previous_purchase_date,
    revenue_amount, gross_margin_amount). The last CTE is `segmented`. Rules:
    docs/marts.md "Segments", vars lifecycle_*, rfm_frequency_score_thresholds, seeds
    rfm_segments and value_tiers. With `from_states=true` the caller provides the `customer_states` CTE
    itself (as_of_date, customer_id, purchase_day_count, revenue_amount,
    gross_margin_amount_12m, recent_return_gap_days, first_purchase_date, last_purchase_date:
    int_customer_purchase_states has them for the as-of date). -#}
{% macro segment_customers(
    purchase_days='purchase_days', as_of_dates='as_of_dates', from_states=false
) %}

{% if not from_states -%}
customer_states as (

    select
        {{ as_of_dates }}.as_of_date,
        {{ purchase_days }}.customer_id,
        count(*) as purchase_day_count,
        sum({{ purchase_days }}.revenue_amount) as revenue_amount,
        coalesce(sum({{ purchase_days }}.gross_margin_amount) filter (
            where {{ purchase_days }}.purchase_date > {{ as_of_dates }}.as_of_date - 365
        ), 0) as gross_margin_amount_12m,
        -- the longest gap before a purchase inside the active window: a comeback
        max({{ purchase_days }}.purchase_date - {{ purchase_days }}.previous_purchase_date)
            filter (
                where {{ purchase_days }}.purchase_date
                > {{ as_of_dates }}.as_of_date - {{ var('lifecycle_active_days') }}
            ) as recent_return_gap_days,
        min({{ purchase_days }}.purchase_date) as first_purchase_date,
        max({{ purchase_days }}.purchase_date) as last_purchase_date
    from {{ as_of_dates }}
    inner join {{ purchase_days }}
        on {{ purchase_days }}.purchase_date <= {{ as_of_dates }}.as_of_date
    group by {{ as_of_dates }}.as_of_date, {{ purchase_days }}.customer_id

),
{%- endif %}

scored as (

    select
        *,
        -- quintiles that keep ties together: percent_rank 0 -> 1, 1 -> 5
        least(5, 1 + floor(5 * percent_rank() over (
            partition by as_of_date order by last_purchase_date
        )))::integer as recency_score,
        (
            {%- for threshold in var('rfm_frequency_score_thresholds') %}
            (purchase_day_count >= {{ threshold }})::integer
            {%- if not loop.last %} + {% endif %}
            {%- endfor %}
        ) as frequency_score,
        -- ranked on the amounts as float8: the same order and ties as the numeric amounts
        -- (two decimals, under 15 significant digits: distinct amounts stay distinct), and a
        -- million-row sort on float8 takes a fraction of one on numeric
        least(5, 1 + floor(5 * percent_rank() over (
            partition by as_of_date order by revenue_amount::float8
        )))::integer as monetary_score,
        case
            when gross_margin_amount_12m > 0
                then percent_rank() over (
                    partition by as_of_date, gross_margin_amount_12m > 0
                    order by gross_margin_amount_12m::float8
                )
        end as margin_percentile
    from customer_states

),

value_tiers as materialized (

    -- the tiers as arrays ordered by lower bound (float8, cast once): each customer finds
    -- theirs by one binary search (width_bucket) instead of a join filter over every tier
    select
        array_agg(value_tier order by min_margin_percentile) as value_tiers,
        array_agg(min_margin_percentile::float8 order by min_margin_percentile) as lower_bounds,
        array_agg(max_margin_percentile::float8 order by min_margin_percentile) as upper_bounds
    from {{ ref('value_tiers') }}

),

tier_positions as (

    -- the tier with the greatest lower bound at or below the percentile (none below the
    -- lowest bound, or without a percentile)
    select
        scored.*,
        width_bucket(scored.margin_percentile, value_tiers.lower_bounds) as tier_position
    from scored
    cross join value_tiers

),

segmented as (

    select
        scored.as_of_date,
        scored.customer_id,
        case
            when scored.first_purchase_date > scored.as_of_date - {{ var('lifecycle_new_days') }}
                then 'new'
            when
                scored.last_purchase_date > scored.as_of_date - {{ var('lifecycle_active_days') }}
                and scored.recent_return_gap_days > {{ var('lifecycle_lapsed_days') }}
                then 'won_back'
            when scored.last_purchase_date > scored.as_of_date - {{ var('lifecycle_active_days') }}
                then 'active'
            when scored.last_purchase_date > scored.as_of_date - {{ var('lifecycle_lapsed_days') }}
                then 'at_risk'
            else 'lapsed'
        end as lifecycle_stage,
        rfm_segments.rfm_segment,
        -- lower bound inclusive, upper bound exclusive except at 1 (seeds/value_tiers.csv),
        -- so a percentile in a gap between two tiers has none
        coalesce(
            case
                when
                    scored.margin_percentile < value_tiers.upper_bounds[scored.tier_position]
                    or value_tiers.upper_bounds[scored.tier_position] = 1
                    then value_tiers.value_tiers[scored.tier_position]
            end,
            'no_recent_value'
        ) as value_tier,
        scored.recency_score,
        scored.frequency_score,
        scored.monetary_score,
        scored.purchase_day_count,
        scored.revenue_amount,
        scored.gross_margin_amount_12m,
        scored.first_purchase_date,
        scored.last_purchase_date
    from tier_positions as scored
    cross join value_tiers
    left join {{ ref('rfm_segments') }} as rfm_segments
        on
            scored.recency_score = rfm_segments.recency_score
            and scored.frequency_score = rfm_segments.frequency_score

)

{% endmacro %}
