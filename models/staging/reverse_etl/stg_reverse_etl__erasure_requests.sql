with

source as (

    select * from {{ source('reverse_etl', 'erasure_requests') }}

),

renamed as (

    select
        customer_id,
        {{ normalize_email('email') }} as email_normalized,
        {{ normalize_phone('phone', source_country('reverse_etl')) }} as phone_e164,
        {{ source_country('reverse_etl') }} as country_code,
        requested_at
    from source

)

select * from renamed
