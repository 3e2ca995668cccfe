with

source as (

    select * from {{ source('pos', 'transaction_lines') }}

),

renamed as (

    select
        transaction_line_id,
        transaction_id,
        upper(btrim(sku)) as sku,
        quantity::integer as quantity,
        unit_price::numeric(18, 2) as unit_price,
        coalesce(discount_amount, 0)::numeric(18, 2) as discount_amount,
        (quantity * unit_price - coalesce(discount_amount, 0))::numeric(18, 2) as line_amount,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
