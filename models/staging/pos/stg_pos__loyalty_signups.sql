with

source as (

    select * from {{ source('pos', 'loyalty_signups') }}

),

renamed as (

    select
        nullif(btrim(loyalty_card_id), '') as loyalty_card_id,
        store_id,
        {{ person_columns('pos', country_column='country_code') }}
        nullif(btrim(address_line2), '') as address_line2,
        date_of_birth::date as birth_date,
        signed_up_at::timestamptz as signed_up_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
