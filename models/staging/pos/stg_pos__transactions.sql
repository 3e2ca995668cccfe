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
        -- categories: lower case, whitespace (a quoted newline included) collapsed and trimmed
        nullif(lower(btrim(regexp_replace(transaction_type, '\s+', ' ', 'g'))), '')
            as transaction_type,
        nullif(lower(btrim(regexp_replace(payment_method, '\s+', ' ', 'g'))), '')
            as payment_method,
        total_amount::numeric(18, 2) as total_amount,
        lower(btrim(transaction_type)) = 'return' as is_return,
        transacted_at::timestamptz as transacted_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from renamed
