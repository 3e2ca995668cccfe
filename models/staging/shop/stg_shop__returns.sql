with

source as (

    select * from {{ source('shop', 'returns') }}

),

renamed as (

    select
        return_id,
        order_id,
        order_line_id,
        lower(reason) as return_reason,
        lower(return_status) as return_status,
        quantity::integer as quantity,
        coalesce(refund_amount, 0)::numeric(18, 2) as refund_amount,
        lower(return_status) = 'refunded' as is_refunded,
        -- the shop database stores naive timestamps, in UTC
        returned_at at time zone 'utc' as returned_at,
        refunded_at at time zone 'utc' as refunded_at,
        updated_at at time zone 'utc' as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
