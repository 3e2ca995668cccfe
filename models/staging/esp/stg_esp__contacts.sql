with

source as (

    select * from {{ source('esp', 'contacts') }}

),

renamed as (

    select
        contact_id,
        nullif(btrim(email), '') as email,
        {{ normalize_email('email') }} as email_normalized,
        nullif(btrim(first_name), '') as first_name,
        nullif(btrim(last_name), '') as last_name,
        {{ normalize_name('first_name') }} as first_name_normalized,
        {{ normalize_name('last_name') }} as last_name_normalized,
        lower(status) as subscription_status,
        lower(status) = 'subscribed' as is_subscribed,
        created_at::timestamptz as created_at,
        updated_at::timestamptz as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
