with

source as (

    select * from {{ source('reverse_etl', 'erasure_requests') }}

),

renamed as (

    select
        customer_id,
        {{ normalize_email('email') }} as email_normalized,
        {{ normalize_phone('phone') }} as phone_e164,
        requested_at
    from source

)

select * from renamed
