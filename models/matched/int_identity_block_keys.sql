{#- The blocking keys of the fuzzy rules, one row per (record, key): only records sharing a key
    are compared (birth date + postcode, birth date + a name prefix, postcode + address), so
    the cost grows near-linearly. Records need a first and a last name to be compared.
    Incremental like int_identifiers_unpivoted: the keys of records whose identity changed are
    written again, and a key a record lost stays as a tombstone (is_current = false), so
    int_identity_records_touched sees whose household (address block) changed. -#}
{{ config(
    materialized='incremental',
    unique_key=['record_key', 'block_key'],
    incremental_strategy='delete_insert_by_record',
    on_schema_change='fail',
    indexes=[
        {'columns': ['block_key']},
        {'columns': ['record_key']},
        {'columns': ['changed_at']},
    ],
) }}

with

records as (

    select
        record_key,
        first_name_canonical,
        last_name_normalized,
        address_normalized,
        postcode,
        birth_date
    from {{ ref('int_identity_records_unioned') }}
    {% if is_incremental() -%}
        where identity_changed_at > {{ matching_watermark('changed_at') }}
    {%- endif %}

),

comparable as (

    select *
    from records
    where first_name_canonical is not null and last_name_normalized is not null

),

block_keys as (

    select
        record_key,
        'dob_postcode:' || birth_date || ':' || postcode as block_key
    from comparable
    where birth_date is not null and postcode is not null

    union

    -- birth date + first three letters of either name: catches typos in one name and swapped
    -- first / last names, since both records emit a key for each of their names
    select
        record_key,
        'dob_name:' || birth_date || ':' || left(last_name_normalized, 3) as block_key
    from comparable
    where birth_date is not null

    union

    select
        record_key,
        'dob_name:' || birth_date || ':' || left(first_name_canonical, 3) as block_key
    from comparable
    where birth_date is not null

    union

    select
        record_key,
        'address:' || postcode || ':' || address_normalized as block_key
    from comparable
    where postcode is not null and address_normalized is not null

),

current_keys as (

    select
        record_key,
        block_key,
        true as is_current
    from block_keys

),

{% if is_incremental() %}

    dropped as (

        select
            previous.record_key,
            previous.block_key,
            false as is_current
        from {{ this }} as previous
        inner join records on previous.record_key = records.record_key
        left join current_keys
            on
                previous.record_key = current_keys.record_key
                and previous.block_key = current_keys.block_key
        where previous.is_current and current_keys.record_key is null

    ),

    final as (

        select * from current_keys
        union all
        select * from dropped

    )

{% else %}

    final as (

        select * from current_keys

    )

{% endif %}

select
    *,
    current_timestamp as changed_at
from final
