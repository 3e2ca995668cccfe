with

states as (

    select
        customer_id,
        purchase_day_count,
        revenue_amount,
        gross_margin_amount_365d,
        recent_return_gap_days,
        first_purchase_date,
        last_purchase_date
    from {{ ref('int_customer_purchase_states') }}

),

customers as (

    select customer_id
    from {{ ref('dim_customers') }}

),

customer_states as (

    select
        {{ as_of_date() }} as as_of_date,
        customer_id,
        purchase_day_count,
        revenue_amount,
        gross_margin_amount_365d as gross_margin_amount_12m,
        recent_return_gap_days,
        first_purchase_date,
        last_purchase_date
    from states

),

{{ segment_customers(from_states=true) }},

final as (

    select
        customers.customer_id,
        coalesce(segmented.lifecycle_stage, 'prospect') as lifecycle_stage,
        segmented.rfm_segment,
        coalesce(segmented.value_tier, 'no_recent_value') as value_tier,
        segmented.recency_score,
        segmented.frequency_score,
        segmented.monetary_score,
        coalesce(segmented.purchase_day_count, 0) as purchase_day_count,
        coalesce(segmented.revenue_amount, 0)::numeric(14, 2) as revenue_amount,
        coalesce(segmented.gross_margin_amount_12m, 0)::numeric(14, 2)
            as gross_margin_amount_12m,
        segmented.first_purchase_date,
        segmented.last_purchase_date,
        {{ as_of_date() }} as as_of_date
    from customers
    left join segmented on customers.customer_id = segmented.customer_id

)

select * from final
