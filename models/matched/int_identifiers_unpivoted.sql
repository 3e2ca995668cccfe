{{ config(
    materialized='incremental',
    unique_key=['record_key', 'identifier_type', 'identifier_value'],
    incremental_strategy='delete_insert_by_record',
    on_schema_change='fail',
    indexes=[
        {'columns': ['identifier_type', 'identifier_value']},
        {'columns': ['record_key']},
        {'columns': ['changed_at']},
    ],
) }}

with

records as (

    select
        record_key,
        source_system,
        source_table,
        source_record_id,
        linked_loyalty_card_id,
        linked_account_id,
        email_normalized,
        phone_e164
    from {{ ref('int_identity_records_unioned') }}
    {% if is_incremental() -%}
        where identity_changed_at > {{ matching_watermark('changed_at') }}
    {%- endif %}

),

blocklist as (

    select
        identifier_type,
        lower(identifier_value) as identifier_value
    from {{ ref('identifier_blocklist') }}

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
        'account' as identifier_type,
        linked_account_id as identifier_value
    from records
    where linked_account_id is not null

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
        'loyalty_card' as identifier_type,
        linked_loyalty_card_id as identifier_value
    from records
    where linked_loyalty_card_id is not null

    union all

    select
        record_key,
        'card_token' as identifier_type,
        source_record_id as identifier_value
    from records
    where source_system = 'pos' and source_table = 'card_tokens'

),

not_blocklisted as (

    select
        identifiers.record_key,
        identifiers.identifier_type,
        identifiers.identifier_value,
        true as is_current
    from identifiers
    left join blocklist
        on
            identifiers.identifier_type = blocklist.identifier_type
            and lower(identifiers.identifier_value) = blocklist.identifier_value
    where blocklist.identifier_value is null

),

{% if is_incremental() %}

    -- identifiers the changed records held before and hold no longer
    dropped as (

        select
            previous.record_key,
            previous.identifier_type,
            previous.identifier_value,
            false as is_current
        from {{ this }} as previous
        inner join records on previous.record_key = records.record_key
        left join not_blocklisted
            on
                previous.record_key = not_blocklisted.record_key
                and previous.identifier_type = not_blocklisted.identifier_type
                and previous.identifier_value = not_blocklisted.identifier_value
        where previous.is_current and not_blocklisted.record_key is null

    ),

    final as (

        select * from not_blocklisted
        union all
        select * from dropped

    )

{% else %}

    final as (

        select * from not_blocklisted

    )

{% endif %}

select
    *,
    current_timestamp as changed_at
from final
