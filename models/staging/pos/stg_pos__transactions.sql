with

source as (

    select * from {{ source('pos', 'transactions') }}

),

renamed as (

    select
        transaction_id,
        store_id,
        nullif(btrim(loyalty_card_id), '') as loyalty_card_id,
        nullif(lower(btrim(card_token_hash)), '') as card_token_hash,
        lower(transaction_type) as transaction_type,
        lower(payment_method) as payment_method,
        total_amount::numeric(18, 2) as total_amount,
        lower(transaction_type) = 'return' as is_return,
        transacted_at::timestamptz as transacted_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
