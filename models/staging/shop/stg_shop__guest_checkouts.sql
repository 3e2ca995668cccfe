with

source as (

    select * from {{ source('shop', 'guest_checkouts') }}

),

renamed as (

    select
        guest_checkout_id,
        nullif(btrim(email), '') as email,
        {{ normalize_email('email') }} as email_normalized,
        nullif(btrim(first_name), '') as first_name,
        nullif(btrim(last_name), '') as last_name,
        {{ normalize_name('first_name') }} as first_name_normalized,
        {{ normalize_name('last_name') }} as last_name_normalized,
        nullif(btrim(phone), '') as phone,
        {{ normalize_phone('phone') }} as phone_e164,
        nullif(btrim(address_line1), '') as address_line1,
        {{ normalize_address('address_line1') }} as address_normalized,
        nullif(btrim(city), '') as city,
        {{ normalize_postcode('postcode') }} as postcode,
        upper(nullif(btrim(country_code), '')) as country_code,
        created_at::timestamptz as created_at,
        updated_at::timestamptz as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
