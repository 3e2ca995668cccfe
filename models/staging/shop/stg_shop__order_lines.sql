with

source as (

    select * from {{ source('shop', 'order_lines') }}

),

renamed as (

    select
        order_line_id,
        order_id,
        product_id,
        quantity::integer as quantity,
        unit_price::numeric(18, 2) as unit_price,
        coalesce(discount_amount, 0)::numeric(18, 2) as discount_amount,
        (quantity * unit_price - coalesce(discount_amount, 0))::numeric(18, 2) as line_amount,
        -- the shop database stores naive timestamps, in UTC
        updated_at at time zone 'utc' as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
