{#- Namesakes at one address with different birth dates (a father and son of the same name):
    one row per (postcode, address, first name, last name) group that is, or once was, held by
    several birth dates. Where is_ambiguous, the fuzzy address rule cannot tell the two apart
    and does not apply. flipped_at says when a group last became ambiguous or stopped being
    so: only then do the address links of its members change, so only then does
    int_identity_records_touched re-match them.
    Incremental: only the groups at addresses whose members changed (int_identity_block_keys
    rows written since this model last did) are counted again. -#}
{{ config(
    materialized='incremental',
    unique_key=['postcode', 'address_normalized', 'first_name_canonical', 'last_name_normalized'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
        {'columns': ['postcode', 'address_normalized', 'first_name_canonical', 'last_name_normalized'], 'unique': True},
        {'columns': ['flipped_at']},
    ],
) }}

-- depends_on: {{ ref('int_identity_block_keys') }}

with

{% if is_incremental() %}

    changed_addresses as materialized (

        select distinct block_key
        from {{ ref('int_identity_block_keys') }}
        where changed_at > {{ matching_watermark('computed_at') }} and block_key like 'address:%'

    ),

    members as (

        select
            records.postcode,
            records.address_normalized,
            records.first_name_canonical,
            records.last_name_normalized,
            records.birth_date
        from changed_addresses
        inner join {{ ref('int_identity_block_keys') }} as block_keys
            on changed_addresses.block_key = block_keys.block_key
        inner join {{ ref('int_identity_records_unioned') }} as records
            on block_keys.record_key = records.record_key
        where block_keys.is_current

    ),

    previous as (

        select
            previous.postcode,
            previous.address_normalized,
            previous.first_name_canonical,
            previous.last_name_normalized,
            previous.is_ambiguous,
            previous.flipped_at
        from {{ this }} as previous
        inner join changed_addresses
            on
                'address:' || previous.postcode || ':' || previous.address_normalized
                = changed_addresses.block_key

    ),

{% else %}

    members as (

        select
            postcode,
            address_normalized,
            first_name_canonical,
            last_name_normalized,
            birth_date
        from {{ ref('int_identity_records_unioned') }}
        where
            first_name_canonical is not null
            and last_name_normalized is not null
            and postcode is not null
            and address_normalized is not null

    ),

    previous as (

        select
            null::text as postcode,
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
        postcode,
        address_normalized,
        first_name_canonical,
        last_name_normalized,
        count(distinct birth_date) > 1 as is_ambiguous
    from members
    group by postcode, address_normalized, first_name_canonical, last_name_normalized
    having count(distinct birth_date) > 1

),

compared as (

    select
        coalesce(groups.postcode, previous.postcode) as postcode,
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
            groups.postcode = previous.postcode
            and groups.address_normalized = previous.address_normalized
            and groups.first_name_canonical = previous.first_name_canonical
            and groups.last_name_normalized = previous.last_name_normalized

)

select * from compared
