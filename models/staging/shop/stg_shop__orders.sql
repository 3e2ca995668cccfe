with

source as (

    select * from {{ source('shop', 'orders') }}

),

renamed as (

    select
        order_id,
        account_id,
        guest_checkout_id,
        lower(sales_channel) as sales_channel,
        lower(order_status) as order_status,
        upper(currency) as currency_code,
        shipping_amount::numeric(18, 2) as shipping_amount,
        total_amount::numeric(18, 2) as total_amount,
        lower(order_status) = 'cancelled' as is_cancelled,
        -- the shop database stores naive timestamps, in UTC
        ordered_at at time zone 'utc' as ordered_at,
        updated_at at time zone 'utc' as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
