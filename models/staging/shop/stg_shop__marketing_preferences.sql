with

source as (

    select * from {{ source('shop', 'marketing_preferences') }}

),

renamed as (

    select
        account_id || ':' || lower(btrim(regexp_replace(channel, '\s+', ' ', 'g')))
            as marketing_preference_id,
        account_id,
        lower(btrim(regexp_replace(channel, '\s+', ' ', 'g'))) as consent_channel,
        is_opted_in::integer = 1 as is_opted_in,
        -- the shop database stores naive timestamps, in UTC
        updated_at at time zone 'utc' as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
