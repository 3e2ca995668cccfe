{{ config(
    materialized='incremental',
    unique_key=['place', 'address_normalized', 'first_name_canonical', 'last_name_normalized'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
        {'columns': ['place', 'address_normalized', 'first_name_canonical', 'last_name_normalized'], 'unique': True},
        {'columns': ['flipped_at']},
    ],
) }}

-- depends_on: {{ ref('int_identity_block_keys') }}

with

{% if is_incremental() %}

    -- the address of an 'address:<postcode>:<address>' block key: a member moved in or out
    changed_addresses as materialized (

        select substring(block_key from '^address:[^:]*:(.*)$') as address_normalized
        from {{ ref('int_identity_block_keys') }}
        where changed_at > {{ matching_watermark('computed_at') }} and block_key like 'address:%'

        union

        -- a member's town or name changed at the same address
        select address_normalized
        from {{ ref('int_identity_records_unioned') }}
        where
            identity_changed_at > {{ matching_watermark('computed_at') }}
            and address_normalized is not null

    ),

    members as (

        select
            coalesce(records.town_normalized, records.postcode) as place,
            records.address_normalized,
            records.first_name_canonical,
            records.last_name_normalized,
            records.birth_date
        from changed_addresses
        inner join {{ ref('int_identity_records_unioned') }} as records
            on changed_addresses.address_normalized = records.address_normalized
        where
            records.first_name_canonical is not null
            and records.last_name_normalized is not null
            and coalesce(records.town_normalized, records.postcode) is not null

    ),

    previous as (

        select
            previous.place,
            previous.address_normalized,
            previous.first_name_canonical,
            previous.last_name_normalized,
            previous.is_ambiguous,
            previous.flipped_at
        from {{ this }} as previous
        inner join changed_addresses
            on previous.address_normalized = changed_addresses.address_normalized

    ),

{% else %}

    members as (

        select
            coalesce(town_normalized, postcode) as place,
            address_normalized,
            first_name_canonical,
            last_name_normalized,
            birth_date
        from {{ ref('int_identity_records_unioned') }}
        where
            first_name_canonical is not null
            and last_name_normalized is not null
            and coalesce(town_normalized, postcode) is not null
            and address_normalized is not null

    ),

    previous as (

        select
            null::text as place,
            null::text as address_normalized,
            null::text as first_name_canonical,
            null::text as last_name_normalized,
            null::boolean as is_ambiguous,
            null::timestamptz as flipped_at
        where false

    ),

{% endif %}

groups as (

    select
        place,
        address_normalized,
        first_name_canonical,
        last_name_normalized,
        count(distinct birth_date) > 1 as is_ambiguous
    from members
    group by place, address_normalized, first_name_canonical, last_name_normalized
    having count(distinct birth_date) > 1

),

compared as (

    select
        coalesce(groups.place, previous.place) as place,
        coalesce(groups.address_normalized, previous.address_normalized) as address_normalized,
        coalesce(groups.first_name_canonical, previous.first_name_canonical)
            as first_name_canonical,
        coalesce(groups.last_name_normalized, previous.last_name_normalized)
            as last_name_normalized,
        coalesce(groups.is_ambiguous, false) as is_ambiguous,
        case
            -- no previous row: a null comparison, so the group is new and flips now
            when previous.is_ambiguous = coalesce(groups.is_ambiguous, false)
                then previous.flipped_at
            else {{ dbt.current_timestamp() }}
        end as flipped_at,
        {{ dbt.current_timestamp() }} as computed_at
    from groups
    full outer join previous
        on
            groups.place = previous.place
            and groups.address_normalized = previous.address_normalized
            and groups.first_name_canonical = previous.first_name_canonical
            and groups.last_name_normalized = previous.last_name_normalized

)

select * from compared
