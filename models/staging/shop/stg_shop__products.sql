with

source as (

    select * from {{ source('shop', 'products') }}

),

renamed as (

    select
        product_id,
        upper(btrim(sku)) as sku,
        product_name,
        coalesce(nullif(btrim(category), ''), 'Uncategorised') as product_category,
        unit_cost::numeric(18, 2) as unit_cost,
        unit_price::numeric(18, 2) as unit_price,
        -- the shop database stores naive timestamps, in UTC
        updated_at at time zone 'utc' as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
