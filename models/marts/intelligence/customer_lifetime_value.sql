with

rfm as (

    select
        customer_id,
        frequency,
        recency_weeks,
        age_weeks,
        revenue_amount,
        gross_margin_rate,
        first_purchase_date,
        as_of_date
    from {{ ref('customer_rfm_summary') }}

),

predictions as (

    select
        customer_id,
        fit_id,
        probability_alive,
        expected_purchases,
        discounted_expected_purchases,
        expected_purchase_value
    from {{ ref('stg_clv__customer_predictions') }}

),

profitability as (

    select
        customer_id,
        cost_to_serve,
        cost_to_serve_12m
    from {{ ref('customer_profitability') }}

),

overall_margin as (

    select sum(revenue_amount * gross_margin_rate) / nullif(sum(revenue_amount), 0) as margin_rate
    from rfm
    where revenue_amount > 0

),

valued as (

    select
        rfm.customer_id,
        predictions.fit_id,
        rfm.frequency,
        predictions.probability_alive,
        predictions.expected_purchases,
        predictions.expected_purchase_value,
        coalesce(rfm.gross_margin_rate, overall_margin.margin_rate) as gross_margin_rate,
        predictions.expected_purchases * predictions.expected_purchase_value
            as expected_revenue_amount,
        predictions.discounted_expected_purchases * predictions.expected_purchase_value
        * coalesce(rfm.gross_margin_rate, overall_margin.margin_rate)
            as discounted_margin_amount,
        -- the customer's own cost to serve per year (the last 12 months once they have been a
        -- customer that long, their whole history scaled to a year before, at least a month)
        -- continues while they are active, paid on average mid-horizon
        case
            when rfm.as_of_date - rfm.first_purchase_date >= 365
                then coalesce(profitability.cost_to_serve_12m, 0)
            else
                coalesce(profitability.cost_to_serve, 0) * 365.0
                / greatest(rfm.as_of_date - rfm.first_purchase_date, 30)
        end
        * {{ var('clv_horizon_months') }} / 12.0
        * predictions.probability_alive
        / power(
            1 + {{ var('clv_annual_discount_rate') }}, {{ var('clv_horizon_months') }} / 24.0
        ) as discounted_cost_to_serve_amount,
        predictions.fit_id is not null as is_predicted
    from rfm
    cross join overall_margin
    left join predictions on rfm.customer_id = predictions.customer_id
    left join profitability on rfm.customer_id = profitability.customer_id

),

final as (

    select
        customer_id,
        fit_id,
        frequency as repeat_purchase_count,
        {{ var('clv_horizon_months') }} as horizon_months,
        probability_alive,
        expected_purchases,
        expected_purchase_value,
        gross_margin_rate::numeric(8, 4) as gross_margin_rate,
        expected_revenue_amount::numeric(14, 2) as expected_revenue_amount,
        (expected_revenue_amount * gross_margin_rate)::numeric(14, 2) as expected_margin_amount,
        discounted_margin_amount::numeric(14, 2) as discounted_margin_amount,
        discounted_cost_to_serve_amount::numeric(14, 2) as discounted_cost_to_serve_amount,
        (discounted_margin_amount - discounted_cost_to_serve_amount)::numeric(14, 2)
            as clv_amount,
        is_predicted
    from valued

)

select * from final
