with

source as (

    select * from {{ source('esp', 'events') }}

),

renamed as (

    select
        event_id,
        contact_id,
        lower(event_type) as event_type,
        nullif(btrim(email), '') as email,
        {{ normalize_email('email') }} as email_normalized,
        campaign_id,
        campaign_name,
        url,
        occurred_at::timestamptz as occurred_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
