{{ config(
    materialized='incremental',
    unique_key='record_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
        {'columns': ['record_key'], 'unique': True},
        {'columns': ['touched_at']},
    ],
) }}

-- depends_on: {{ ref('int_identifiers_unpivoted') }}
-- depends_on: {{ ref('int_identity_block_keys') }}
-- depends_on: {{ ref('int_identifiers_assessed') }}
-- depends_on: {{ ref('int_address_namesakes') }}

with

records as (

    select
        record_key,
        identity_changed_at
    from {{ ref('int_identity_records_unioned') }}

),

{% if is_incremental() %}

    changed_records as (

        select record_key
        from records
        where identity_changed_at > {{ matching_watermark('touched_at') }}

    ),

    -- values that went from usable to unusable or back: the links between all their holders
    -- change (a value that stays usable, or stays unusable, changes only the links of its
    -- changed holders, which are touched anyway)
    flipped_values as (

        select
            identifier_type,
            identifier_value
        from {{ ref('int_identifiers_assessed') }}
        where usability_flipped_at > {{ matching_watermark('touched_at') }}

    ),

    value_holders as (

        select identifiers.record_key
        from flipped_values
        inner join {{ ref('int_identifiers_unpivoted') }} as identifiers
            on
                flipped_values.identifier_type = identifiers.identifier_type
                and flipped_values.identifier_value = identifiers.identifier_value
        where identifiers.is_current

    ),

    -- household name groups that became ambiguous (a namesake with another birth date moved
    -- in) or stopped being so: the address links of their members change
    flipped_households as (

        select
            place,
            address_normalized,
            first_name_canonical,
            last_name_normalized
        from {{ ref('int_address_namesakes') }}
        where flipped_at > {{ matching_watermark('touched_at') }}

    ),

    household_members as (

        select members.record_key
        from flipped_households
        inner join {{ ref('int_identity_records_unioned') }} as members
            on
                flipped_households.place = coalesce(members.town_normalized, members.postcode)
                and flipped_households.address_normalized = members.address_normalized
                and flipped_households.first_name_canonical = members.first_name_canonical
                and flipped_households.last_name_normalized = members.last_name_normalized

    ),

    touched as (

        select record_key from changed_records
        union
        select record_key from value_holders
        union
        select record_key from household_members

    )

{% else %}

    touched as (

        select record_key from records

    )

{% endif %}

select
    record_key,
    current_timestamp as touched_at
from touched
