{{ config(
    materialized='incremental_batch',
    stages=['changed_cards_and_cookies'],
    unique_key='record_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
        {'columns': ['record_key'], 'unique': True},
        {'columns': ['source_table', 'record_loaded_at']},
        {'columns': ['identity_changed_at']},
        {'columns': ['computed_at']},
    ],
) }}

with

accounts as (

    select
        account_id,
        email_normalized,
        first_name_normalized,
        last_name_normalized,
        phone_e164,
        address_normalized,
        city,
        postcode,
        country_code,
        birth_date,
        updated_at,
        loaded_at
    from {{ ref('stg_shop__accounts') }}
    where {{ is_loaded_after_watermark('shop', 'accounts') }}

),

guest_checkouts as (

    select
        guest_checkout_id,
        email_normalized,
        first_name_normalized,
        last_name_normalized,
        phone_e164,
        address_normalized,
        city,
        postcode,
        country_code,
        updated_at,
        loaded_at
    from {{ ref('stg_shop__guest_checkouts') }}
    where {{ is_loaded_after_watermark('shop', 'guest_checkouts') }}

),

loyalty_signups as (

    select
        loyalty_card_id,
        email_normalized,
        first_name_normalized,
        last_name_normalized,
        phone_e164,
        address_normalized,
        address_line2,
        city,
        postcode,
        country_code,
        birth_date,
        signed_up_at,
        loaded_at
    from {{ ref('stg_pos__loyalty_signups') }}
    where {{ is_loaded_after_watermark('pos', 'loyalty_signups') }}

),

pos_transactions as (

    select
        card_token_hash,
        loyalty_card_id,
        transacted_at,
        loaded_at
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
        country_code,
        updated_at,
        loaded_at
    from {{ ref('stg_helpdesk__tickets') }}
    where {{ is_loaded_after_watermark('helpdesk', 'tickets') }}

),

esp_contacts as (

    select
        contact_id,
        email_normalized,
        first_name_normalized,
        last_name_normalized,
        country_code,
        updated_at,
        loaded_at
    from {{ ref('stg_esp__contacts') }}
    where {{ is_loaded_after_watermark('esp', 'contacts') }}

),

web_logins as (

    select
        cookie_id,
        account_id,
        occurred_at,
        loaded_at
    from {{ ref('stg_web__events') }}
    where account_id is not null

),

{% if is_incremental() %}

    -- cards and cookies with a new transaction or login (stage changed_cards_and_cookies): all of
    -- their transactions and logins are read again
    changed_card_tokens as (

        select card_token_hash from pg_temp.changed_card_tokens

    ),

    changed_web_cookies as (

        select cookie_id from pg_temp.changed_web_cookies

    ),

{% endif %}

-- a payment card names a loyalty card when it was used with exactly one, a cookie an account
-- when it logged into exactly one (else neither identifies anybody)
card_tokens as (

    select
        card_token_hash,
        case
            when count(distinct loyalty_card_id) = 1 then min(loyalty_card_id)
        end as linked_loyalty_card_id,
        max(transacted_at) as last_seen_at,
        max(loaded_at) as loaded_at
    from pos_transactions
    {% if is_incremental() -%}
        where card_token_hash in (select changed_card_tokens.card_token_hash from changed_card_tokens)
    {%- endif %}
    group by card_token_hash

),

web_cookies as (

    select
        cookie_id,
        case when count(distinct account_id) = 1 then min(account_id)::text end
            as linked_account_id,
        max(occurred_at) as last_seen_at,
        max(loaded_at) as loaded_at
    from web_logins
    {% if is_incremental() -%}
        where cookie_id in (select changed_web_cookies.cookie_id from changed_web_cookies)
    {%- endif %}
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
        null as address_line2,
        city,
        postcode,
        birth_date,
        country_code,
        updated_at as record_updated_at,
        null as linked_loyalty_card_id,
        null as linked_account_id,
        loaded_at as record_loaded_at
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
        null as address_line2,
        city,
        postcode,
        null::date as birth_date,
        country_code,
        updated_at as record_updated_at,
        null as linked_loyalty_card_id,
        null as linked_account_id,
        loaded_at as record_loaded_at
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
        address_line2,
        city,
        postcode,
        birth_date,
        country_code,
        signed_up_at as record_updated_at,
        null as linked_loyalty_card_id,
        null as linked_account_id,
        loaded_at as record_loaded_at
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
        null as address_line2,
        null as city,
        null as postcode,
        null::date as birth_date,
        null as country_code,
        last_seen_at as record_updated_at,
        linked_loyalty_card_id,
        null as linked_account_id,
        loaded_at as record_loaded_at
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
        null as address_line2,
        null as city,
        null as postcode,
        null::date as birth_date,
        country_code,
        updated_at as record_updated_at,
        null as linked_loyalty_card_id,
        null as linked_account_id,
        loaded_at as record_loaded_at
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
        null as address_line2,
        null as city,
        null as postcode,
        null::date as birth_date,
        country_code,
        updated_at as record_updated_at,
        null as linked_loyalty_card_id,
        null as linked_account_id,
        loaded_at as record_loaded_at
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
        null as address_line2,
        null as city,
        null as postcode,
        null::date as birth_date,
        null as country_code,
        last_seen_at as record_updated_at,
        null as linked_loyalty_card_id,
        linked_account_id,
        loaded_at as record_loaded_at
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
        unioned.source_system || ':' || unioned.source_table || ':' || unioned.source_record_id
            as record_key,
        unioned.source_system,
        unioned.source_table,
        unioned.source_record_id,
        unioned.linked_loyalty_card_id,
        unioned.linked_account_id,
        unioned.first_name_normalized,
        unioned.last_name_normalized,
        coalesce(nicknames.canonical_name, unioned.first_name_normalized) as first_name_canonical,
        coalesce(nicknames.alternative_canonical_name, unioned.first_name_normalized)
            as first_name_alternative,
        coalesce(last_nicknames.canonical_name, unioned.last_name_normalized)
            as last_name_canonical,
        unioned.email_normalized,
        unioned.phone_e164,
        unioned.address_normalized,
        {{ house_number('unioned.address_normalized') }} as house_number,
        {{ street_name('unioned.address_normalized') }} as street_normalized,
        {{ normalize_address('unioned.address_line2') }} as locality_normalized,
        {{ normalize_name('unioned.city') }} as town_normalized,
        unioned.postcode,
        unioned.country_code,
        unioned.birth_date,
        unioned.record_updated_at,
        unioned.record_loaded_at
    from unioned
    left join nicknames
        on split_part(unioned.first_name_normalized, ' ', 1) = nicknames.nickname
    -- a first name typed in the last-name field still folds its nickname (swapped fields)
    left join nicknames as last_nicknames
        on unioned.last_name_normalized = last_nicknames.nickname

),

hashed as (

    select
        *,
        -- what matching reads: a record whose hash is unchanged is not re-matched
        md5(row(
            linked_loyalty_card_id, linked_account_id, first_name_normalized,
            last_name_normalized, first_name_canonical, first_name_alternative,
            last_name_canonical, email_normalized, phone_e164, address_normalized,
            locality_normalized, town_normalized, postcode, country_code, birth_date
        )::text) as identity_hash
    from canonicalised

),

{% if is_incremental() %}

    previous as (

        select
            record_key,
            identity_hash,
            record_updated_at,
            record_loaded_at,
            identity_changed_at
        from {{ this }}
        where record_key in (select hashed.record_key from hashed)

    ),

    final as (

        select
            hashed.*,
            case
                when hashed.identity_hash = previous.identity_hash
                    then previous.identity_changed_at
                else current_timestamp
            end as identity_changed_at,
            current_timestamp as computed_at
        from hashed
        left join previous on hashed.record_key = previous.record_key
        where
            previous.record_key is null
            or hashed.identity_hash <> previous.identity_hash
            or hashed.record_updated_at is distinct from previous.record_updated_at
            or hashed.record_loaded_at > previous.record_loaded_at

    )

{% else %}

    final as (

        select
            *,
            current_timestamp as identity_changed_at,
            current_timestamp as computed_at
        from hashed

    )

{% endif %}

select * from final
