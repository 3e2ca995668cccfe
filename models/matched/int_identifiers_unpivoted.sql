{#- One row per (record, identifier): the strong identifiers deterministic rules match on.
    Blocklisted junk values are dropped here. A web cookie identifies an account only when it
    logged into exactly one; a payment card identifies a loyalty card only when it was used
    with exactly one (else both go to review, see int_identity_review). -#}
with

records as (

    select
        record_key,
        source_system,
        source_table,
        source_record_id,
        email_normalized,
        phone_e164
    from {{ ref('int_identity_records_unioned') }}

),

blocklist as (

    select
        identifier_type,
        lower(identifier_value) as identifier_value
    from {{ ref('identifier_blocklist') }}

),

web_logins as (

    select
        cookie_id,
        account_id
    from {{ ref('stg_web__events') }}
    where account_id is not null

),

card_payments as (

    select
        card_token_hash,
        loyalty_card_id
    from {{ ref('stg_pos__transactions') }}
    where card_token_hash is not null and loyalty_card_id is not null

),

cookie_accounts as (

    select
        cookie_id,
        min(account_id) as account_id
    from web_logins
    group by cookie_id
    having count(distinct account_id) = 1

),

card_loyalty_cards as (

    select
        card_token_hash,
        min(loyalty_card_id) as loyalty_card_id
    from card_payments
    group by card_token_hash
    having count(distinct loyalty_card_id) = 1

),

identifiers as (

    select
        record_key,
        'email' as identifier_type,
        email_normalized as identifier_value
    from records
    where email_normalized is not null

    union all

    select
        record_key,
        'phone' as identifier_type,
        phone_e164 as identifier_value
    from records
    where phone_e164 is not null

    union all

    select
        record_key,
        'account' as identifier_type,
        source_record_id as identifier_value
    from records
    where source_system = 'shop' and source_table = 'accounts'

    union all

    select
        record_key,
        'loyalty_card' as identifier_type,
        source_record_id as identifier_value
    from records
    where source_system = 'pos' and source_table = 'loyalty_signups'

    union all

    select
        record_key,
        'card_token' as identifier_type,
        source_record_id as identifier_value
    from records
    where source_system = 'pos' and source_table = 'card_tokens'

    union all

    select
        'pos:card_tokens:' || card_token_hash as record_key,
        'loyalty_card' as identifier_type,
        loyalty_card_id as identifier_value
    from card_loyalty_cards

    union all

    select
        'web:cookies:' || cookie_id as record_key,
        'account' as identifier_type,
        account_id::text as identifier_value
    from cookie_accounts

),

not_blocklisted as (

    select identifiers.*
    from identifiers
    left join blocklist
        on
            identifiers.identifier_type = blocklist.identifier_type
            and lower(identifiers.identifier_value) = blocklist.identifier_value
    where blocklist.identifier_value is null

)

select * from not_blocklisted
