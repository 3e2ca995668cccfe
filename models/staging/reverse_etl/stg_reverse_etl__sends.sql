with

source as (

    select * from {{ source('reverse_etl', 'send_ledger') }}

),

renamed as (

    select
        idempotency_key,
        customer_id,
        audience,
        channel,
        reason,
        lower(status) as send_status,
        last_error,
        attempt_count,
        lower(status) = 'sent' as is_sent,
        planned_at,
        sent_at
    from source

)

select * from renamed
