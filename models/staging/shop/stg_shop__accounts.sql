with

source as (

    select * from {{ source('shop', 'accounts') }}

),

renamed as (

    select
        account_id,
        {{ person_columns('shop', country_column='country_code') }}
        date_of_birth::date as birth_date,
        -- the shop database stores naive timestamps, in UTC
        created_at at time zone 'utc' as created_at,
        updated_at at time zone 'utc' as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
