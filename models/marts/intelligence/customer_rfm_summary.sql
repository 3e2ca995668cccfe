with

summarised as (

    select
        customer_id,
        purchase_day_count,
        revenue_amount,
        gross_margin_amount,
        repeat_purchase_value,
        first_purchase_date,
        last_purchase_date
    from {{ ref('int_customer_purchase_states') }}

),

final as (

    select
        customer_id,
        purchase_day_count,
        (purchase_day_count - 1)::integer as frequency,
        round((last_purchase_date - first_purchase_date) / 7.0, 4)::numeric(10, 4)
            as recency_weeks,
        round(({{ as_of_date() }} - first_purchase_date) / 7.0, 4)::numeric(10, 4) as age_weeks,
        repeat_purchase_value::numeric(18, 2) as monetary_value,
        revenue_amount::numeric(18, 2) as revenue_amount,
        gross_margin_amount::numeric(18, 2) as gross_margin_amount,
        case
            when revenue_amount > 0
                then round(gross_margin_amount / revenue_amount, 4)
        end::numeric(8, 4) as gross_margin_rate,
        first_purchase_date,
        last_purchase_date,
        {{ as_of_date() }} as as_of_date
    from summarised

)

select * from final
