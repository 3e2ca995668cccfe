with

source as (

    select * from {{ source('esp', 'contacts') }}

),

renamed as (

    select
        contact_id,
        {{ person_columns('esp', with_address=false, with_phone=false) }}
        lower(status) as subscription_status,
        lower(status) = 'subscribed' as is_subscribed,
        created_at::timestamptz as created_at,
        updated_at::timestamptz as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
