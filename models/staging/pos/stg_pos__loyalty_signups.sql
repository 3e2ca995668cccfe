with

source as (

    select * from {{ source('pos', 'loyalty_signups') }}

),

renamed as (

    select
        loyalty_card_id,
        store_id,
        nullif(btrim(first_name), '') as first_name,
        nullif(btrim(last_name), '') as last_name,
        {{ normalize_name('first_name') }} as first_name_normalized,
        {{ normalize_name('last_name') }} as last_name_normalized,
        nullif(btrim(email), '') as email,
        {{ normalize_email('email') }} as email_normalized,
        nullif(btrim(phone), '') as phone,
        {{ normalize_phone('phone') }} as phone_e164,
        nullif(btrim(address_line1), '') as address_line1,
        {{ normalize_address('address_line1') }} as address_normalized,
        nullif(btrim(city), '') as city,
        {{ normalize_postcode('postcode') }} as postcode,
        date_of_birth::date as birth_date,
        signed_up_at::timestamptz as signed_up_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
