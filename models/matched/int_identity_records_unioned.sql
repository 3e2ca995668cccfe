{#- Every person-bearing record of every source, one row each, with its normalised identity
    attributes. record_key = <source_system>:<source_table>:<source_record_id>. -#}
with

accounts as (

    select
        account_id,
        email_normalized,
        first_name_normalized,
        last_name_normalized,
        phone_e164,
        address_normalized,
        postcode,
        birth_date,
        updated_at
    from {{ ref('stg_shop__accounts') }}

),

guest_checkouts as (

    select
        guest_checkout_id,
        email_normalized,
        first_name_normalized,
        last_name_normalized,
        phone_e164,
        address_normalized,
        postcode,
        updated_at
    from {{ ref('stg_shop__guest_checkouts') }}

),

loyalty_signups as (

    select
        loyalty_card_id,
        email_normalized,
        first_name_normalized,
        last_name_normalized,
        phone_e164,
        address_normalized,
        postcode,
        birth_date,
        signed_up_at
    from {{ ref('stg_pos__loyalty_signups') }}

),

pos_transactions as (

    select
        card_token_hash,
        transacted_at
    from {{ ref('stg_pos__transactions') }}
    where card_token_hash is not null

),

tickets as (

    select
        ticket_id,
        email_normalized,
        requester_first_name_normalized,
        requester_last_name_normalized,
        phone_e164,
        updated_at
    from {{ ref('stg_helpdesk__tickets') }}

),

esp_contacts as (

    select
        contact_id,
        email_normalized,
        first_name_normalized,
        last_name_normalized,
        updated_at
    from {{ ref('stg_esp__contacts') }}

),

web_logins as (

    select
        cookie_id,
        occurred_at
    from {{ ref('stg_web__events') }}
    where account_id is not null

),

card_tokens as (

    select
        card_token_hash,
        max(transacted_at) as last_seen_at
    from pos_transactions
    group by card_token_hash

),

web_cookies as (

    select
        cookie_id,
        max(occurred_at) as last_seen_at
    from web_logins
    group by cookie_id

),

unioned as (

    select
        'shop' as source_system,
        'accounts' as source_table,
        account_id::text as source_record_id,
        first_name_normalized,
        last_name_normalized,
        email_normalized,
        phone_e164,
        address_normalized,
        postcode,
        birth_date,
        updated_at as record_updated_at
    from accounts

    union all

    select
        'shop' as source_system,
        'guest_checkouts' as source_table,
        guest_checkout_id::text as source_record_id,
        first_name_normalized,
        last_name_normalized,
        email_normalized,
        phone_e164,
        address_normalized,
        postcode,
        null::date as birth_date,
        updated_at as record_updated_at
    from guest_checkouts

    union all

    select
        'pos' as source_system,
        'loyalty_signups' as source_table,
        loyalty_card_id as source_record_id,
        first_name_normalized,
        last_name_normalized,
        email_normalized,
        phone_e164,
        address_normalized,
        postcode,
        birth_date,
        signed_up_at as record_updated_at
    from loyalty_signups

    union all

    select
        'pos' as source_system,
        'card_tokens' as source_table,
        card_token_hash as source_record_id,
        null as first_name_normalized,
        null as last_name_normalized,
        null as email_normalized,
        null as phone_e164,
        null as address_normalized,
        null as postcode,
        null::date as birth_date,
        last_seen_at as record_updated_at
    from card_tokens

    union all

    select
        'helpdesk' as source_system,
        'tickets' as source_table,
        ticket_id::text as source_record_id,
        requester_first_name_normalized as first_name_normalized,
        requester_last_name_normalized as last_name_normalized,
        email_normalized,
        phone_e164,
        null as address_normalized,
        null as postcode,
        null::date as birth_date,
        updated_at as record_updated_at
    from tickets

    union all

    select
        'esp' as source_system,
        'contacts' as source_table,
        contact_id as source_record_id,
        first_name_normalized,
        last_name_normalized,
        email_normalized,
        null as phone_e164,
        null as address_normalized,
        null as postcode,
        null::date as birth_date,
        updated_at as record_updated_at
    from esp_contacts

    union all

    select
        'web' as source_system,
        'cookies' as source_table,
        cookie_id as source_record_id,
        null as first_name_normalized,
        null as last_name_normalized,
        null as email_normalized,
        null as phone_e164,
        null as address_normalized,
        null as postcode,
        null::date as birth_date,
        last_seen_at as record_updated_at
    from web_cookies

),

nicknames as (

    -- an ambiguous nickname (sam: samuel or samantha) keeps both readings
    select
        nickname,
        min(canonical_name) as canonical_name,
        max(canonical_name) as alternative_canonical_name
    from {{ ref('nicknames') }}
    group by nickname

),

canonicalised as (

    select
        unioned.source_system,
        unioned.source_table,
        unioned.source_record_id,
        unioned.first_name_normalized,
        unioned.last_name_normalized,
        unioned.email_normalized,
        unioned.phone_e164,
        unioned.address_normalized,
        unioned.postcode,
        unioned.birth_date,
        unioned.record_updated_at,
        unioned.source_system || ':' || unioned.source_table || ':' || unioned.source_record_id
            as record_key,
        coalesce(nicknames.canonical_name, unioned.first_name_normalized) as first_name_canonical,
        coalesce(nicknames.alternative_canonical_name, unioned.first_name_normalized)
            as first_name_alternative,
        coalesce(last_nicknames.canonical_name, unioned.last_name_normalized)
            as last_name_canonical
    from unioned
    left join nicknames
        on split_part(unioned.first_name_normalized, ' ', 1) = nicknames.nickname
    -- a first name typed in the last-name field still folds its nickname (swapped fields)
    left join nicknames as last_nicknames
        on unioned.last_name_normalized = last_nicknames.nickname

)

select * from canonicalised
