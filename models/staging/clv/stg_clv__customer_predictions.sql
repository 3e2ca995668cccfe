with

source as (

    select * from {{ source('clv', 'customer_predictions') }}

),

renamed as (

    select
        customer_id,
        fit_id,
        probability_alive::numeric(8, 6) as probability_alive,
        expected_purchases::numeric(12, 4) as expected_purchases,
        discounted_expected_purchases::numeric(12, 4) as discounted_expected_purchases,
        expected_purchase_value::numeric(14, 2) as expected_purchase_value
    from source

)

select * from renamed
