with

source as (

    select * from {{ source('esp', 'events') }}

),

renamed as (

    select
        event_id,
        contact_id,
        nullif(btrim(campaign_id), '') as campaign_id,
        lower(event_type) as event_type,
        nullif(btrim(email), '') as email,
        {{ normalize_email('email') }} as email_normalized,
        nullif(btrim(campaign_name), '') as campaign_name,
        nullif(btrim(url), '') as url,
        occurred_at::timestamptz as occurred_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
