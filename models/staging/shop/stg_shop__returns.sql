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
        returned_at::timestamptz as returned_at,
        refunded_at::timestamptz as refunded_at,
        updated_at::timestamptz as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
