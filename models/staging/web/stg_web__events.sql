with

source as (

    select * from {{ source('web', 'events') }}

),

renamed as (

    select
        event_id,
        cookie_id,
        account_id,
        lower(event_type) as event_type,
        page_url,
        upper(nullif(btrim(product_sku), '')) as product_sku,
        occurred_at::timestamptz as occurred_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
