with

source as (

    select * from {{ source('shop', 'guest_checkouts') }}

),

renamed as (

    select
        guest_checkout_id,
        {{ person_columns('shop', country_column='country_code') }}
        -- the shop database stores naive timestamps, in UTC
        created_at at time zone 'utc' as created_at,
        updated_at at time zone 'utc' as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
